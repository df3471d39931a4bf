#!/usr/bin/env python3
"""Clip-parallel evaluation from Python over MPI (mpi4py): the shipped keyword model on the shipped
demo clips, batches shared out over the ranks, results gathered on rank 0 in clip order.

    mpirun -n 2 python3 examples/mpi_clips.py [--model models/slmu_kws.h5] [--clips N] [--check]

(As root add --allow-run-as-root; more ranks than cores need --oversubscribe.) With --check, rank
0 also runs every clip alone and verifies that the gathered results are identical.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

import lmusim
from lmusim.distributed import run_clips

root = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--model", default=str(root / "models" / "slmu_kws.h5"))
ap.add_argument("--clips", type=int, default=0, help="only the first N demo clips (0: all)")
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--check", action="store_true", help="rank 0 compares with a one-process run")
a = ap.parse_args()

from mpi4py import MPI  # noqa: E402

comm = MPI.COMM_WORLD
demo = json.loads((root / "data" / "demo" / "labels.json").read_text())
clips = demo["clips"][:a.clips] if a.clips else demo["clips"]
paths = [str(root / "data" / "demo" / c["file"]) for c in clips]
labels = np.array([c["label"] for c in clips])
model = lmusim.load_model(a.model)

t0 = MPI.Wtime()
result = run_clips(model, paths, comm, batch=a.batch, threads=a.threads)
elapsed = MPI.Wtime() - t0
if comm.Get_rank() == 0:
    right = int((result.predictions == labels).sum())
    sops = sum(o["sops"] for o in result.ops.values()) + sum(o["sops"] for o in result.node_ops.values())
    print(f"{len(paths)} clips on {comm.Get_size()} rank(s): {right}/{len(paths)} keywords right, "
          f"{sops.mean():.0f} SOPs per clip, {elapsed:.2f} s")
    if a.check:
        alone = model.run(paths, batch=a.batch, threads=a.threads)
        np.testing.assert_array_equal(result.frame_logits, alone.frame_logits)
        for k in alone.spike_counts:
            np.testing.assert_array_equal(result.spike_counts[k], alone.spike_counts[k])
        for k in alone.ops:
            for f in alone.ops[k]:
                np.testing.assert_array_equal(result.ops[k][f], alone.ops[k][f])
        print("check: identical to one process")
sys.exit(0)
