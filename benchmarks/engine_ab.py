#!/usr/bin/python3
"""Engine A/B: this tree's lmusim against the lmusim of an earlier git revision, side by side
(benchmarks/README.md, "Engine change made here: blocked weight columns ...").

The earlier revision is built into a throwaway git worktree (Release, -march=native, the CLI
only; a few minutes), or given as a binary with ``--old-binary``. Both CLIs then run the same
clips, alternated round by round: whole-clip batches (``lmusim run MODEL --input clips.npy
--batch B --threads T --json``: the run phase) and CLI streaming (``--stream --batch 1 --threads
1``: run phase per frame). Every pair of runs is also checked for identical output files
(``--output``, ``--record-spikes``: every dataset equal), so a speed-up that changed a result
would show. Medians over ``--rounds``.

Usage: engine_ab.py --ref REV [--model PATH.h5] [--rounds 5] [--old-binary PATH]
(default model: the random dim-256 LMUFormer of the benchmarks; default REV: 6e989c1, the last
commit before the blocked-column delivery.) JSON lines on stdout (rows for scripts/bench.sh's
table), progress on stderr.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_bench as B  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def build_old(ref: str, work: Path) -> Path:
    """The CLI of revision `ref`, built in a git worktree under `work`."""
    wt = work / "worktree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(wt), ref], check=True,
                   capture_output=True)
    try:
        bd = work / "build"
        B.log(f"building lmusim at {ref} (the CLI only) ...")
        subprocess.run(["cmake", "-S", str(wt), "-B", str(bd), "-DCMAKE_BUILD_TYPE=Release", "-DLMUSIM_NATIVE=ON",
                        "-DLMUSIM_BUILD_TESTS=OFF", "-DLMUSIM_BUILD_PYTHON=OFF", "-DLMUSIM_MPI=OFF"], check=True,
                       capture_output=True)
        subprocess.run(["cmake", "--build", str(bd), "--target", "lmusim", "-j", str(os.cpu_count() or 2)], check=True,
                       capture_output=True)
        return bd / "apps" / "lmusim"
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)


def run(binary: Path, model: Path, npy: Path, out: Path, args: list) -> float:
    r = subprocess.run([str(binary), "run", str(model), "--input", str(npy), "--json", "--quiet", "--overwrite",
                        "--output", str(out), "--record-spikes", *map(str, args)], check=True, capture_output=True,
                       text=True)
    return float(json.loads(r.stdout.strip().splitlines()[-1])["seconds"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", default="6e989c1", help="the earlier revision (default: before blocked columns)")
    ap.add_argument("--old-binary", default=None, help="its lmusim CLI, already built (skips the build)")
    ap.add_argument("--build", default=str(B.default_build()), help="this tree's build directory")
    ap.add_argument("--model", default=None, help="model .h5 (default: the random dim-256 LMUFormer)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 rounds, 16 clips")
    a = ap.parse_args()
    if a.quick:
        a.rounds = 2
    build = Path(a.build)
    B.setup_lmusim_path(build)
    new = build / "apps" / "lmusim"
    model = Path(a.model) if a.model else Path(B.prepare_model(None, build / "bench")[0])
    B.emit(bench="machine", **B.machine())
    with tempfile.TemporaryDirectory() as td:
        td = Path(td)
        old = Path(a.old_binary) if a.old_binary else build_old(a.ref, td)
        clips = 16 if a.quick else 64
        x = B.features(clips, seed=12)
        npy = td / "clips.npy"
        np.save(npy, x)
        np.save(td / "stream.npy", x[:4])
        cases = [(f"batch {clips}, 2 threads", npy, ["--batch", clips, "--threads", 2], clips, "clips/s"),
                 (f"batch {clips}, 1 thread", npy, ["--batch", clips, "--threads", 1], clips, "clips/s"),
                 ("stream, batch 1, 1 thread", td / "stream.npy", ["--stream", "--batch", 1, "--threads", 1],
                  4 * x.shape[1], "us/frame")]
        for label, inp, args, units, unit in cases:
            t = {"old": [], "new": []}
            identical = True
            for r in range(a.rounds):
                for k, binary in (("old", old), ("new", new)):
                    B.settle(0.2)
                    t[k].append(run(binary, model, inp, td / f"{k}.h5", args))
                identical = identical and B.same_datasets(td / "old.h5", td / "new.h5")
            med = {k: statistics.median(v) for k, v in t.items()}
            if unit == "clips/s":
                val = {k: units / v for k, v in med.items()}
                ratio = val["new"] / val["old"]
            else:
                val = {k: v / units * 1e6 for k, v in med.items()}
                ratio = val["old"] / val["new"]
            B.log(f"  {label}: {a.ref} {val['old']:.1f} {unit}, this tree {val['new']:.1f} {unit}, identical {identical}")
            B.emit(row=True, workload=f"engine A/B vs {a.ref}: {model.name}, {label} [{unit}]",
                   lmusim=round(val["new"], 1), peer=round(val["old"], 1), peer_name=f"lmusim at {a.ref}",
                   ratio=ratio, target="(info) identical outputs", met=bool(identical), identical=identical)
    return 0


if __name__ == "__main__":
    sys.exit(main())
