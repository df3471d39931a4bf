"""Runs the corpus of broken inputs (tests/corpus/make_corpus.py): every case must end in a clear
error (exit 2, one line naming the file) or, for random bit flips, in success or a clear error;
never a crash, a hang, unbounded memory, or executed code."""
import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LMUSIM_BUILD_DIR", ROOT / "build"))
LMUSIM = os.environ.get("LMUSIM_BIN", str(BUILD / "apps" / "lmusim"))
pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")


def limits():
    # Unbounded memory would fail here. A sanitized binary reserves terabytes of address space
    # for its shadow memory; scripts/sanitize.sh bounds it with ASAN_OPTIONS=hard_rss_limit_mb.
    if not os.environ.get("LMUSIM_SANITIZED"):
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus")
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'python'}:{os.environ.get('PYTHONPATH', '')}")
    subprocess.run(["/usr/bin/python3", str(ROOT / "tests" / "corpus" / "make_corpus.py"), str(d)], check=True, env=env,
                   capture_output=True)
    return d, json.loads((d / "cases.json").read_text()), env


def test_every_broken_input_is_a_clear_error(corpus):
    d, cases, env = corpus
    failures, counts = [], {"error": 0, "ok": 0}
    for c in cases:
        argv = [LMUSIM if a == "{lmusim}" else "/usr/bin/python3" if a == "{python}" else a for a in c["argv"]]
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60, preexec_fn=limits, env=env)
        except subprocess.TimeoutExpired:
            failures.append(f"{c['name']}: hung (> 60 s)")
            continue
        lines = [line for line in r.stderr.strip().splitlines() if line]
        if r.returncode == 0 and c["expect"] == "any":
            counts["ok"] += 1
            continue
        if r.returncode != 2:
            failures.append(f"{c['name']}: exit {r.returncode}, stderr {r.stderr[-300:]!r}")
        elif len(lines) != 1:
            failures.append(f"{c['name']}: {len(lines)} lines on stderr: {r.stderr[-300:]!r}")
        else:
            counts["error"] += 1
    assert not (d / "PWNED").exists(), "a checkpoint pickle executed code"
    print(f"\n{len(cases)} broken inputs: {counts['error']} clear errors, {counts['ok']} accepted (bit flips in unused bytes)")
    assert not failures, "\n".join(failures)
