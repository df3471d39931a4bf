"""Clip-parallel evaluation from Python with mpi4py (docs/distributed.md).

``run_clips(model, x, comm)`` runs on every rank of an MPI job (``mpirun -n R python3 script.py``):
batch b of ``batch`` clips runs on rank b mod R (the same batches one process would form, so every
clip's result is exactly what one process computes), and rank 0 receives every clip's results in
input order as one :class:`lmusim.RunResult`; the other ranks get None. ``model`` is a
:class:`lmusim.Model` or :class:`lmusim.NirModel`; ``x`` the whole input on every rank (a rank only
runs its share). Without mpi4py or with one rank it is ``model.run(x)``.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import Error, RunResult


def owned_clips(clips: int, batch: int, rank: int, ranks: int) -> np.ndarray:
    """The clip indices rank ``rank`` of ``ranks`` runs: whole batches b with b mod ranks == rank."""
    if batch < 1:
        raise Error(f"batch {batch}, expected at least 1")
    idx = np.arange(clips)
    return idx[(idx // batch) % ranks == rank]


def _merge(parts, order, clips):
    """Joins per-rank RunResults (clips ``order[r]`` each) into one in clip order."""
    first = next(p for p in parts if p is not None)
    live = [(p, o) for p, o in zip(parts, order) if len(o)]
    ps, os_ = [p for p, _ in live], [o for _, o in live]

    def join_list(getter):
        arrays = [getter(p) for p in ps]
        out = np.empty((clips,) + arrays[0].shape[1:], dtype=arrays[0].dtype)
        for a, idx in zip(arrays, os_):
            out[idx] = a
        return out

    return RunResult(
        logits=join_list(lambda p: p.logits),
        frame_logits=join_list(lambda p: p.frame_logits),
        spike_counts={k: join_list(lambda p, k=k: p.spike_counts[k]) for k in first.spike_counts},
        ops={k: {f: join_list(lambda p, k=k, f=f: p.ops[k][f]) for f in first.ops[k]} for k in first.ops},
        node_ops={k: {f: join_list(lambda p, k=k, f=f: p.node_ops[k][f]) for f in first.node_ops[k]}
                  for k in first.node_ops},
        latency=first.latency,
        seconds=max(p.seconds for p in ps),
        class_names=first.class_names,
        outputs={k: join_list(lambda p, k=k: p.outputs[k]) for k in first.outputs},
    )


def run_clips(model, x, comm=None, batch: int = 16, threads: int = 0, stream: bool = False) -> Optional[RunResult]:
    """Runs clips ``x`` ([clips, frames, ...], or a list of WAV paths for a Model) over the ranks of
    ``comm`` (default: mpi4py's COMM_WORLD); returns the merged result on rank 0, None elsewhere."""
    if comm is None:
        try:
            from mpi4py import MPI
        except ImportError:
            return model.run(x, batch=batch, threads=threads, stream=stream)
        comm = MPI.COMM_WORLD
    rank, ranks = comm.Get_rank(), comm.Get_size()
    if ranks == 1:
        return model.run(x, batch=batch, threads=threads, stream=stream)
    paths = isinstance(x, (list, tuple))
    clips = len(x)
    mine = owned_clips(clips, batch, rank, ranks)
    part = None
    if len(mine):
        sub = [x[i] for i in mine] if paths else np.asarray(x)[mine]
        part = model.run(sub, batch=batch, threads=threads, stream=stream)
    parts = comm.gather(part, root=0)
    if rank != 0:
        return None
    order = [owned_clips(clips, batch, r, ranks) for r in range(ranks)]
    return _merge(parts, order, clips)
