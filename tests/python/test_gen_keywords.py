"""The keyword data generator (scripts/gen_keywords.py): voices really load, a re-run and a
--reuse run are byte-identical, demo clips are written as documented."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys

import pytest

from testenv import ROOT

if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
    pytest.skip("espeak-ng and sox are needed (scripts/deps.sh test)", allow_module_level=True)

spec = importlib.util.spec_from_file_location("gen_keywords", ROOT / "scripts" / "gen_keywords.py")
G = importlib.util.module_from_spec(spec)
spec.loader.exec_module(G)


def say(voice, text="bird", path=None):
    cmd = ["espeak-ng", "-v", voice, "--stdout", text]
    if path:
        cmd.insert(1, f"--path={path}")
    r = subprocess.run(cmd, capture_output=True, check=True)
    assert r.stderr == b"", r.stderr
    return r.stdout


def test_every_accent_applies_the_variant():
    # espeak-ng ignores a variant after "en-gb"; voice_name must spell it so that it is heard
    for accent in G.ACCENTS:
        assert say(G.voice_name(accent, "Alicia")) != say(accent), accent
    assert G.voice_name("en-gb", "Alicia") == "en+Alicia"
    assert G.voice_name("en-us", "Alicia") == "en-us+Alicia"
    assert G.voice_name("en-gb", G.DEFAULT_VARIANT) == "en-gb"


def test_random_voices_load_across_data_copies(tmp_path, monkeypatch):
    monkeypatch.setattr(G, "VOICES_PER_DATA_DIR", 2)
    borrow = G.variant_attributes(["robosoft", "Storm", "whisper", "klatt3"])
    assert borrow["klatt"] == ["5", "3"]          # robosoft: klatt 5; klatt3: klatt 3 (in order)
    assert borrow["tone"] == ["100 255 600 70 1200 22 2000 66 3000 12", "500 255 1500 255 2500 255"]
    paths, names, texts = G.make_espeak_data(str(tmp_path), 5, 7, borrow)
    assert names == ["rv000", "rv001", "rv002", "rv003", "rv004"]
    assert len(set(paths.values())) == 3            # 2 + 2 + 1 voices per copy
    outs = {say(f"en-us+{n}", path=paths[n]) for n in names}
    assert len(outs) == 5 and say("en-us") not in outs
    # deterministic voice files
    assert texts == G.make_espeak_data(str(tmp_path / "again"), 5, 7, borrow)[2]


def digest(d):
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*.wav")) if ".espeak" not in p.parts}


def test_rerun_and_reuse_are_byte_identical(tmp_path):
    small = ["--train-per-word", "1", "--val-per-word", "1", "--test-per-word", "2",
             "--random-voices", "3", "--random-per-word", "1", "--workers", "2"]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    def gen(*args):  # a child process: the generator's worker pool needs an importable module
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_keywords.py"), *small, *args],
                       check=True, capture_output=True)
    gen("--out", str(a), "--demo", str(tmp_path / "demo"))
    gen("--out", str(b))
    gen("--out", str(c), "--reuse", str(a))
    da = digest(a)
    assert len(da) == 35 * (1 + 1 + 1 + 2)
    assert digest(b) == da and digest(c) == da
    ma, mc = (json.loads((d / "manifest.json").read_text()) for d in (a, c))
    assert ma["clips"] == mc["clips"]
    # demo: the first 2 test clips per word, labelled, byte-identical copies
    demo = json.loads((tmp_path / "demo" / "labels.json").read_text())
    assert [c["file"] for c in demo["clips"][:2]] == ["backward_0.wav", "backward_1.wav"]
    assert len(demo["clips"]) == 70
    for clip in demo["clips"]:
        assert clip["word"] == G.WORDS[clip["label"]]
        assert (tmp_path / "demo" / clip["file"]).read_bytes() == (a / clip["source"]).read_bytes()
