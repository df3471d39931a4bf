#!/usr/bin/python3
"""How well `lmusim run MODEL --input FILE --stream --spot` finds keywords and their times
(docs/spotting.md, "Measured").

1. **Seeded recordings**: for each seed, the 30 s recording of ``examples/spot_stream.py``
   (eight shipped test clips of different words at irregular places over -50 dBFS white noise;
   a word's true start is where its clip first comes within 20 dB of its loudest 10 ms). A
   detection matches a placed word when it names it and lies within 0.5 s of its start; reported:
   words found, found within 0.1 s, other detections, mean and largest time error, and the wall
   time lmusim took per second of audio (one thread, the spotter's default; process start included).
2. **Every shipped clip alone** (``--clips``): each of the 70 clips of ``data/demo`` at 2 s in 5 s
   of the same noise; found once / missed / other detections.

Usage: ``benchmarks/spot_timing.py [--model models/slmu_kws.h5] [--seeds 12] [--clips]
[--release R] [--threshold T]`` (extra options go to lmusim as they are).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LMUSIM_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))

import numpy as np  # noqa: E402

_spec = importlib.util.spec_from_file_location("spot_stream", os.path.join(ROOT, "examples", "spot_stream.py"))
spot_stream = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spot_stream)


def spot(lmusim_bin, model, samples, extra, timing=None):
    """Detections [(time, word)] of lmusim spotting `samples` (float32, 16 kHz) from a file;
    appends lmusim's wall time [s] to `timing` if given."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "rec.wav")
        spot_stream.write_wav16(path, samples)
        t0 = time.perf_counter()
        r = subprocess.run([lmusim_bin, "run", model, "--input", path, "--stream", "--spot", "--quiet", *extra],
                           capture_output=True, text=True, check=True)
        if timing is not None:
            timing.append(time.perf_counter() - t0)
    out = []
    for ln in r.stdout.splitlines():
        t, _, word, _ = ln.split()
        out.append((float(t), word))
    return out


def match(found, truth, tolerance=0.5):
    """Pairs each placed word with the nearest unused detection of the same word within tolerance."""
    used, errors = set(), []
    for word, t0 in truth:
        best = None
        for i, (t, w) in enumerate(found):
            if i not in used and w == word and abs(t - t0) <= tolerance and (best is None or abs(t - t0) < abs(found[best][0] - t0)):
                best = i
        if best is not None:
            used.add(best)
            errors.append(found[best][0] - t0)
    return errors, len(found) - len(used)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "slmu_kws.h5"))
    ap.add_argument("--lmusim", default=os.environ.get("LMUSIM_BIN", os.path.join(BUILD, "apps", "lmusim")))
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--clips", action="store_true", help="also spot every shipped clip alone")
    a, extra = ap.parse_known_args(argv)
    errors, other, placed, wall, audio_s = [], 0, 0, [], 0.0
    for seed in range(a.seeds):
        audio, truth = spot_stream.make_stream(seed)
        audio_s += audio.size / 16000
        e, o = match(spot(a.lmusim, a.model, audio, extra, wall), truth)
        placed += len(truth)
        errors += e
        other += o
        print(f"seed {seed}: {len(e)}/{len(truth)} found, errors " + " ".join(f"{x:+.3f}" for x in e)
              + f", {o} other", flush=True)
    e = np.abs(np.array(errors))
    print(f"{a.seeds} recordings: {len(e)} of {placed} words found, {int((e <= 0.1).sum())} within 0.1 s, "
          f"{other} other detection(s); mean |error| {e.mean():.3f} s, mean error {np.mean(errors):+.3f} s, "
          f"largest {e.max():.3f} s; lmusim {sum(wall):.2f} s for {audio_s:.0f} s of audio "
          f"({sum(wall) / audio_s:.3f} s per second)")
    if a.clips:
        rng = np.random.default_rng(7)
        once = missed = others = 0
        for name in sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "data", "demo")) if f.endswith(".wav")):
            s, _ = spot_stream.lmusim.read_wav(os.path.join(ROOT, "data", "demo", name + ".wav"))
            audio = (rng.standard_normal(5 * 16000) * 10 ** (-50 / 20)).astype(np.float32)
            audio[2 * 16000:2 * 16000 + s.size] += s
            found = spot(a.lmusim, a.model, audio, extra)
            hits = sum(1 for _, w in found if w == name.split("_")[0])
            once += hits >= 1
            missed += hits == 0
            others += len(found) - hits
        print(f"shipped clips alone: {once} found, {missed} missed, {others} other detection(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
