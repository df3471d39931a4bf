"""The keyword data generator (scripts/gen_keywords.py): voices really load, a re-run and a
--reuse run are byte-identical, demo clips are written as documented; the noisy splits'
conditions are deterministic and really applied (SNR, level, spectrum, tempo, reverberation,
offset measured back from the written WAVs) and the noisy test split shares no speaker or
babble talker with training."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys

import numpy as np
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
             "--random-voices", "3", "--random-per-word", "1", "--workers", "2",
             "--noisy-train-per-word", "2", "--noisy-val-per-word", "0", "--noisy-test-per-word", "1"]
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    def gen(*args):  # a child process: the generator's worker pool needs an importable module
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_keywords.py"), *small, *args],
                       check=True, capture_output=True)
    gen("--out", str(a), "--demo", str(tmp_path / "demo"))
    gen("--out", str(b))
    gen("--out", str(c), "--reuse", str(a))
    da = digest(a)
    assert len(da) == 35 * (1 + 1 + 1 + 2 + 2 + 1)   # clean (train + random, val, test), noisy
    assert digest(b) == da and digest(c) == da       # noisy clips too: same seed, same bytes
    ma, mc = (json.loads((d / "manifest.json").read_text()) for d in (a, c))
    assert ma["clips"] == mc["clips"]
    check_noisy_splits(ma)
    # demo: the first 2 test clips per word, labelled, byte-identical copies
    demo = json.loads((tmp_path / "demo" / "labels.json").read_text())
    assert [c["file"] for c in demo["clips"][:2]] == ["backward_0.wav", "backward_1.wav"]
    assert len(demo["clips"]) == 70
    for clip in demo["clips"]:
        assert clip["word"] == G.WORDS[clip["label"]]
        assert (tmp_path / "demo" / clip["file"]).read_bytes() == (a / clip["source"]).read_bytes()
    # noisy demo clips (data/demo_noisy): copies of test_noisy clips with their conditions
    G.write_demo(str(a), ma["clips"], str(tmp_path / "demo_noisy"), per_word=1, split="test_noisy")
    noisy = json.loads((tmp_path / "demo_noisy" / "labels.json").read_text())
    assert len(noisy["clips"]) == 35
    by_path = {r["path"]: r for r in ma["clips"]}
    for clip in noisy["clips"]:
        assert clip["source"].startswith("test_noisy/") and clip["split"] == "test_noisy"
        assert clip["conditions"] == by_path[clip["source"]]["conditions"]
        assert (tmp_path / "demo_noisy" / clip["file"]).read_bytes() == (a / clip["source"]).read_bytes()


def check_noisy_splits(m):
    """The noisy splits' speakers and babble talkers stay inside their clean split."""
    spk = m["speakers"]
    train_voices = set(spk["train"]) | set(m["random_voices"])
    by = {}
    for r in m["clips"]:
        by.setdefault(r["split"], []).append(r)
    assert len(by["test_noisy"]) == 35 and len(by["train_noisy"]) == 70
    assert "validation_noisy" not in by
    # half of the noisy training clips are spoken by random (training) voices
    assert sum(r["variant"] in m["random_voices"] for r in by["train_noisy"]) == 35
    babble_talkers = {"train_noisy": set(), "test_noisy": set()}
    for s, base in (("train_noisy", "train"), ("test_noisy", "test")):
        allowed = train_voices if base == "train" else set(spk["test"])
        for r in by[s]:
            c = r["conditions"]
            assert r["variant"] in allowed, (s, r["variant"])
            assert c["noise"] in ("white", "pink", "babble")
            assert 0 <= c["snr_db"] <= 25 and -35 <= c["level_dbfs"] <= -3
            assert 0.85 <= c["tempo"] <= 1.2 and c["channel"] in G.CHANNELS
            assert 0 <= c["offset"] <= G.CLIP - c["speech_samples"]
            if c["noise"] == "babble":
                assert 2 <= len(c["babble"]) <= 4
                for t in c["babble"]:
                    # other speakers of the same (clean) split, never the clip's own speaker
                    assert t["variant"] in spk[base] and t["variant"] != r["variant"]
                    assert not set(t["text"].split()) & set(G.WORDS)
                    babble_talkers[s].add(t["variant"])
    # the noisy test split: no speaker, babble talker or voice shared with training
    test_side = {r["variant"] for r in by["test_noisy"]} | babble_talkers["test_noisy"]
    assert babble_talkers["test_noisy"], "no babble clip drawn"
    assert not test_side & (train_voices | {r["variant"] for r in by["train_noisy"]}
                            | babble_talkers["train_noisy"])
    assert not {r["voice"] for r in by["test_noisy"]} & {r["voice"] for r in by["train"] + by["train_noisy"]}
    # and no clip (word instance) appears in both
    paths = {r["path"] for r in by["test_noisy"]}
    assert all(p.startswith("test_noisy/") for p in paths)


# ---------------------------------------------------------------------------------------------
# Noisy conditions, measured back from the written clips
# ---------------------------------------------------------------------------------------------

POOL = [(v, None) for v in ("m6", "grandma", "benjamin", "f3", "quincy")]


def noisy_job(tmp_path, word="seven", idx=3, name="x.wav"):
    return dict(seed=G._clip_seed(11, "test_noisy", word, idx), word=word,
                label=G.WORDS.index(word), variant="m6", split="test_noisy", out=str(tmp_path),
                rel=name, babble_pool=POOL)


def write(tmp_path, name, **cond):
    """Render one noisy clip with the given conditions, write it, read the WAV back."""
    import wave
    job = noisy_job(tmp_path, name=name)
    rec = G.render_noisy(job, cond)["record"]
    G._write_wav(str(tmp_path / name), G.render_noisy(job, cond)["clip"])
    with wave.open(str(tmp_path / name)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (G.SR, 1, G.CLIP)
        y = np.frombuffer(w.readframes(G.CLIP), dtype="<i2") / 32768.0
    return y, rec["conditions"]


def test_noisy_clip_is_deterministic(tmp_path):
    job = noisy_job(tmp_path)
    a = G.noisy_clip(dict(job, rel="a.wav"))
    b = G.noisy_clip(dict(job, rel="b.wav"))
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert dict(a, path=None) == dict(b, path=None)
    other = G.noisy_clip(dict(job, rel="c.wav", seed=job["seed"] + 1))
    assert (tmp_path / "c.wav").read_bytes() != (tmp_path / "a.wav").read_bytes()
    assert other["conditions"] != a["conditions"]


@pytest.mark.parametrize("noise,snr", [("white", 0.0), ("pink", 7.5), ("babble", 18.0), ("white", 25.0)])
def test_snr_and_level_are_measured_back(tmp_path, noise, snr):
    base = dict(channel="none", reverb=None, level_dbfs=-12.0)
    clean, c0 = write(tmp_path, "clean.wav", noise="none", snr_db=snr, **base)
    noisy, c1 = write(tmp_path, "noisy.wav", noise=noise, snr_db=snr, **base)
    assert c0["offset"] == c1["offset"] and c1["noise"] == noise
    # both peaks at the requested level
    for y in (clean, noisy):
        assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-12.0, abs=0.01)
    # the speech in the noisy clip is the clean clip scaled (least squares); the rest is noise
    a = float(noisy @ clean / (clean @ clean))
    n = noisy - a * clean
    span = slice(c1["offset"], c1["offset"] + c1["speech_samples"])
    measured = 10 * np.log10(np.mean((a * clean[span]) ** 2) / np.mean(n ** 2))
    assert measured == pytest.approx(snr, abs=0.5)


def band_db(y):
    """Power below 200 Hz, above 3600 Hz and above 4200 Hz relative to 300-3400 Hz, in dB."""
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / G.SR)
    inb = p[(f >= 300) & (f <= 3400)].sum()
    return [10 * np.log10(p[m].sum() / inb) for m in (f < 200, f > 3600, f > 4200)]


def test_channels_measured_by_spectrum(tmp_path):
    # white noise at 0 dB SNR makes the input broadband: what the channel removes is visible
    base = dict(noise="white", snr_db=0.0, reverb=None, level_dbfs=-10.0)
    lo, hi, _ = band_db(write(tmp_path, "none.wav", channel="none", **base)[0])
    assert lo > -20 and hi > -10
    for ch in ("bandpass", "telephone"):
        lo, hi, hi4 = band_db(write(tmp_path, f"{ch}.wav", channel=ch, **base)[0])
        assert lo < -35 and hi < -35 and hi4 < -40, (ch, lo, hi, hi4)
    lo, hi, hi4 = band_db(write(tmp_path, "8k.wav", channel="8k", **base)[0])
    assert lo > -20 and hi4 < -40                     # 8 kHz round trip: nothing above 4 kHz
    mu, _ = write(tmp_path, "mulaw.wav", channel="mulaw", **base)
    none, _ = write(tmp_path, "none.wav", channel="none", **base)
    assert len(np.unique(np.round(mu / np.abs(mu).max(), 6))) <= 255  # 8-bit mu-law codes
    assert len(np.unique(none)) > 1000


def test_tempo_reverb_and_offset_applied(tmp_path):
    base = dict(noise="none", snr_db=0.0, channel="none", level_dbfs=-6.0)
    _, slow = write(tmp_path, "slow.wav", tempo=0.85, reverb=None, **base)
    _, fast = write(tmp_path, "fast.wav", tempo=1.2, reverb=None, **base)
    assert slow["speech_samples"] / fast["speech_samples"] == pytest.approx(1.2 / 0.85, rel=0.12)
    dry, c = write(tmp_path, "dry.wav", tempo=1.0, reverb=None, **base)
    room = dict(reverberance=90, hf_damping=20, room_scale=100, pre_delay_ms=0)
    wet, cw = write(tmp_path, "wet.wav", tempo=1.0, reverb=room, **base)
    # the word starts at the recorded offset (silence before it) ...
    s, e = c["offset"], c["offset"] + c["speech_samples"]
    assert np.abs(dry[:s]).max() == 0 and np.abs(dry[s:s + 400]).max() > 0.01
    assert cw["offset"] == s
    # ... and the room adds a tail after its end that the dry clip does not have
    tail = slice(e + 80, min(G.CLIP, e + 2400))
    assert np.abs(dry[tail]).max() == 0
    assert np.sqrt(np.mean(wet[tail] ** 2)) > 1e-3
