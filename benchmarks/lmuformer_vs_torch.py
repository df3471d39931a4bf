#!/usr/bin/python3
"""Spiking LMUFormer: lmusim vs PyTorch, side by side in one run (benchmarks/README.md).

Three questions, each answered by alternating the engines on the same clips (the machine is
shared and noisy, so only ratios measured side by side mean anything):

* ``stream``: batch-1 streaming latency per frame. lmusim: ``Model.stream()`` with one frame per
  ``push`` from Python (threads 1), also the CLI ``lmusim run --stream --batch 1 --threads 1``
  and the same Python loop with ``memory_mode="recurrence"`` (the peer's algorithm). PyTorch:
  :class:`slmu_bench.TorchStreamingSLMU`, a per-frame loop of the same model
  (``torch.set_num_threads(1)`` and OpenBLAS's own pool set to 1 thread, inference mode). Targets: >= 20x and < 100 us per frame.
* ``batch``: whole-clip throughput on 64 clips in batches of 16 and of 64 [clips/s]. lmusim
  ``Model.run(x, batch=B, threads=2)`` vs PyTorch's parallel (FFT-memory) forward on the same
  batches, eval, no grad,
  ``torch.set_num_threads(2)`` (and 2 OpenBLAS threads): the reference implementation and the training implementation
  (fused C LIF); the faster one is the peer. Target >= 2x.
* ``tiles``: the CLI on the batch (2 threads) with and without cache-tiled spike delivery
  (``--tile-bytes 0``): clips/s and identical output files.
* ``threads``: lmusim batch evaluation with 1 vs 2 threads: speedup (target >= 1.8x) and
  bit-identical logits, per-frame logits, spike counts and op counts (checked, not assumed).

Every measurement is one JSON line on stdout; rows with ``"row": true`` form the summary table
of scripts/bench.sh. Progress goes to stderr. ``--plot-dir`` writes time-vs-threads.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_bench as B  # noqa: E402


def part_stream(a, model_path, sd, x):
    import torch
    import lmusim
    torch.mv(torch.ones(4, 4), torch.ones(4))  # OpenBLAS is loaded at its first call
    B.emit(bench="stream", **B.set_threads(1))
    clips, frames = x.shape[0], x.shape[1]
    m_imp = lmusim.load_model(model_path)
    m_rec = lmusim.load_model(model_path, memory_mode="recurrence")
    s_imp, s_rec = m_imp.stream(threads=1), m_rec.stream(threads=1)
    peer = B.TorchStreamingSLMU(sd)
    xt = torch.from_numpy(x)

    def run_lmusim(s, c, pushes):
        s.restart()
        out = []
        t0 = time.perf_counter()
        for f in range(frames):
            t1 = time.perf_counter()
            _, lg = s.push(x[c, f])
            pushes.append(time.perf_counter() - t1)
            if len(lg):
                out.append(lg[:, 0])
        _, lg = s.flush()
        dt = time.perf_counter() - t0
        out.append(lg[:, 0])
        return dt / frames, np.concatenate(out)

    def run_torch(c, pushes):
        peer.restart()
        out = []
        with torch.inference_mode():
            t0 = time.perf_counter()
            for f in range(frames):
                t1 = time.perf_counter()
                out += peer.push(xt[c, f])
                pushes.append(time.perf_counter() - t1)
            out += peer.flush()
            dt = time.perf_counter() - t0
        return dt / frames, torch.stack(out).numpy()

    # warm-up
    run_lmusim(s_imp, 0, [])
    run_torch(0, [])
    t = {"lmusim": [], "lmusim_rec": [], "torch": []}
    pushes = {k: [] for k in t}
    dmax_rec = dmax_imp = 0.0
    for rep in range(a.repeats):
        for c in range(clips):
            dt, li = run_lmusim(s_imp, c, pushes["lmusim"])
            t["lmusim"].append(dt)
            dt, lt = run_torch(c, pushes["torch"])
            t["torch"].append(dt)
            dt, lr = run_lmusim(s_rec, c, pushes["lmusim_rec"])
            t["lmusim_rec"].append(dt)
            dmax_rec = max(dmax_rec, float(np.abs(lr - lt).max()))
            dmax_imp = max(dmax_imp, float(np.abs(li - lt).max()))
        B.log(f"  stream rep {rep}: lmusim {statistics.median(t['lmusim']) * 1e6:.1f} us/frame, "
              f"recurrence {statistics.median(t['lmusim_rec']) * 1e6:.1f}, torch {statistics.median(t['torch']) * 1e6:.1f}")

    # CLI, batch 1, streaming (one process per repeat; `seconds` is its run phase)
    np.save(a.tmp / "stream_clips.npy", x)
    cli = []
    for _ in range(a.repeats):
        r = B_cli_json(a.lmusim, "run", model_path, "--input", a.tmp / "stream_clips.npy", "--stream",
                       "--batch", 1, "--threads", 1, "--json")
        cli.append(r["seconds"] / (r["clips"] * r["frames"]))
    med = {k: statistics.median(v) for k, v in t.items()}
    p99 = {k: float(np.percentile(v, 99)) for k, v in pushes.items()}
    cli_med = statistics.median(cli)
    for k in t:
        B.emit(bench="stream", engine=k, us_per_frame=med[k] * 1e6, push_median_us=statistics.median(pushes[k]) * 1e6,
               push_p99_us=p99[k] * 1e6, clips=clips, frames=frames, repeats=a.repeats)
    B.emit(bench="stream", engine="lmusim_cli", us_per_frame=cli_med * 1e6, repeats=a.repeats)
    B.emit(bench="stream", check="torch loop vs lmusim", max_dlogit_recurrence=dmax_rec, max_dlogit_impulse=dmax_imp)
    ratio = med["torch"] / med["lmusim"]
    B.emit(row=True, workload="LMUFormer stream, batch 1 [us/frame] (Python push)",
           lmusim=round(med["lmusim"] * 1e6, 1), peer=round(med["torch"] * 1e6, 1), peer_name="PyTorch per-frame loop",
           ratio=ratio, target=">=20x and <100 us", met=bool(ratio >= 20 and med["lmusim"] * 1e6 < 100))
    B.emit(row=True, workload="LMUFormer stream, batch 1 [us/frame] (CLI --stream)",
           lmusim=round(cli_med * 1e6, 1), peer=round(med["torch"] * 1e6, 1), peer_name="PyTorch per-frame loop",
           ratio=med["torch"] / cli_med, target=">=20x and <100 us", met=bool(med["torch"] / cli_med >= 20 and cli_med * 1e6 < 100))
    B.emit(row=True, workload="LMUFormer stream, same algorithm (recurrence) [us/frame]",
           lmusim=round(med["lmusim_rec"] * 1e6, 1), peer=round(med["torch"] * 1e6, 1), peer_name="PyTorch per-frame loop",
           ratio=med["torch"] / med["lmusim_rec"], target="(info)", met=None)


def B_cli_json(binary, *args):
    import json
    out = subprocess.run([str(binary), *map(str, args)], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def part_batch(a, model_path, sd, x):
    """Clips/s on all clips of x in batches of each size in a.batch_sizes (lmusim and PyTorch get
    the same batches), 2 threads; one summary row per batch size."""
    import torch
    import lmusim
    B.emit(bench="batch", **B.set_threads(2))
    n = x.shape[0]
    m = lmusim.load_model(model_path)
    peers, lif_backend = B.torch_batch_models(sd)
    xt = torch.from_numpy(x)
    # warm-up (first calls allocate, build FFT plans, compile the C LIF kernel)
    m.run(x[:4], batch=4, threads=2)
    for f in peers.values():
        f(xt[:4])
    for bsz in sorted({min(b, n) for b in a.batch_sizes}):
        t = {"lmusim": [], **{k: [] for k in peers}}
        dmax = {k: 0.0 for k in peers}
        agree = {k: 1.0 for k in peers}
        for rep in range(a.repeats):
            B.settle()
            t0 = time.perf_counter()
            r = m.run(x, batch=bsz, threads=2)
            t["lmusim"].append(time.perf_counter() - t0)
            for k, f in peers.items():
                B.settle()
                t0 = time.perf_counter()
                y = torch.cat([f(xt[i:i + bsz]) for i in range(0, n, bsz)])
                t[k].append(time.perf_counter() - t0)
                dmax[k] = max(dmax[k], float(np.abs(r.logits - y.numpy()).max()))
                agree[k] = min(agree[k], float((r.logits.argmax(1) == y.numpy().argmax(1)).mean()))
            B.log(f"  batch {bsz} rep {rep}: " + ", ".join(f"{k} {n / v[-1]:.1f} clips/s" for k, v in t.items()))
        cps = {k: n / statistics.median(v) for k, v in t.items()}
        for k, v in cps.items():
            B.emit(bench="batch", engine=k, clips_per_s=v, batch=bsz, clips=n, threads=2, repeats=a.repeats)
        B.emit(bench="batch", batch=bsz, check="torch FFT forward vs lmusim (impulse)", max_dlogit=dmax,
               argmax_agreement=agree, torch_lif_backend=lif_backend)
        best = max(peers, key=lambda k: cps[k])
        ratio = cps["lmusim"] / cps[best]
        B.emit(row=True, workload=f"LMUFormer batch {bsz}, 2 threads [clips/s]", lmusim=round(cps["lmusim"], 1),
               peer=round(cps[best], 1), peer_name=f"PyTorch FFT forward ({best})", ratio=ratio, target=">=2x",
               met=bool(ratio >= 2), batch=bsz, clips_per_s=cps["lmusim"])
        # The same lmusim call in a process of its own (no PyTorch loaded): what sharing the process
        # with the peer costs (benchmarks/README.md, "Noise").
        alone = run_alone(a, model_path, x, bsz)
        B.emit(bench="batch", engine="lmusim-alone", clips_per_s=alone, batch=bsz, clips=n, threads=2, repeats=a.repeats)
        B.emit(row=True, workload=f"LMUFormer batch {bsz}, 2 threads, lmusim in a process without PyTorch [clips/s]",
               lmusim=round(alone, 1), peer=round(cps[best], 1), peer_name=f"PyTorch FFT forward ({best})",
               ratio=alone / cps[best], target="(info) >=2x", met=None, batch=bsz, in_process=cps["lmusim"])


ALONE = """
import statistics, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import lmusim
m = lmusim.load_model(sys.argv[2])
x = np.load(sys.argv[3])
bsz, repeats = int(sys.argv[4]), int(sys.argv[5])
m.run(x[:4], batch=4, threads=2)
t = []
for _ in range(repeats):
    time.sleep(0.3)
    t0 = time.perf_counter()
    m.run(x, batch=bsz, threads=2)
    t.append(time.perf_counter() - t0)
print(x.shape[0] / statistics.median(t))
"""


def run_alone(a, model_path, x, bsz):
    """Clips/s of Model.run(x, batch=bsz, threads=2) in a fresh Python process that never imports
    torch (median of a.repeats calls, each after the same 0.3 s pause as in the process above)."""
    np.save(a.tmp / "alone.npy", x)
    out = subprocess.run([sys.executable, "-c", ALONE, str(a.build / "python"), str(model_path), str(a.tmp / "alone.npy"),
                          str(bsz), str(a.repeats)], check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def part_threads(a, model_path, sd, x):
    import torch
    import lmusim
    n = x.shape[0]
    m = lmusim.load_model(model_path)
    peers, _ = B.torch_batch_models(sd)
    peer = peers["torch-training-impl"]
    xt = torch.from_numpy(x)
    m.run(x[:4], batch=4, threads=2)
    res, t, tt = {}, {1: [], 2: []}, {1: [], 2: []}
    for rep in range(a.repeats):
        for th in (1, 2):
            B.settle()
            t0 = time.perf_counter()
            res[th] = m.run(x, batch=n, threads=th)
            t[th].append(time.perf_counter() - t0)
        if a.torch_threads:
            for th in (1, 2):
                B.set_threads(th)
                B.settle()
                t0 = time.perf_counter()
                peer(xt)
                tt[th].append(time.perf_counter() - t0)
        B.log(f"  threads rep {rep}: lmusim 1 thread {t[1][-1]:.3f} s, 2 threads {t[2][-1]:.3f} s")
    r1, r2 = res[1], res[2]
    identical = bool(np.array_equal(r1.logits, r2.logits) and np.array_equal(r1.frame_logits, r2.frame_logits)
                     and all(np.array_equal(r1.spike_counts[k], r2.spike_counts[k]) for k in r1.spike_counts)
                     and all(np.array_equal(r1.ops[p][c], r2.ops[p][c]) for p in r1.ops for c in r1.ops[p]))
    med = {th: statistics.median(v) for th, v in t.items()}
    speedup = med[1] / med[2]
    for th in (1, 2):
        B.emit(bench="threads", engine="lmusim", threads=th, seconds=med[th], clips=n)
        if tt[th]:
            B.emit(bench="threads", engine="torch-training-impl", threads=th, seconds=statistics.median(tt[th]), clips=n)
    B.emit(bench="threads", check="1 vs 2 threads bit-identical", identical=identical)
    B.emit(row=True, workload=f"LMUFormer batch {n}: 1 -> 2 threads speedup", lmusim=round(speedup, 2),
           peer=None, peer_name="", ratio=None, target=">=1.8x, bit-identical",
           met=bool(speedup >= 1.8 and identical), identical=identical)
    if a.plot_dir:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([1, 2], [n / med[1], n / med[2]], "o-", label="lmusim")
        if tt[1]:
            ax.plot([1, 2], [n / statistics.median(tt[1]), n / statistics.median(tt[2])], "s--",
                    label="PyTorch FFT forward (training impl.)")
        ax.plot([1, 2], [n / med[1], 2 * n / med[1]], ":", color="gray", label="lmusim, ideal")
        ax.set_xticks([1, 2])
        ax.set_xlabel("threads")
        ax.set_ylabel("clips / s")
        ax.set_title(f"Spiking LMUFormer, batch {n}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = Path(a.plot_dir) / "lmuformer_threads.png"
        fig.savefig(out, dpi=120)
        B.emit(bench="threads", plot=out.name)


def part_tiles(a, model_path, sd, x):
    """Cache tiling of batched spike delivery (docs/design.md, "Tiled delivery"): the CLI on the
    batch, 2 threads, with --tile-bytes 0 (each stream delivers alone) and the default, alternated;
    the outputs must be identical."""
    np.save(a.tmp / "tiles.npy", x)
    n = x.shape[0]
    runs = {"untiled": ["--tile-bytes", "0"], "tiled": []}
    t = {k: [] for k in runs}
    outs = {}
    for rep in range(a.repeats):
        for k, extra in runs.items():
            out = a.tmp / f"tiles_{k}.h5"
            d = B_cli_json(a.lmusim, "run", model_path, "--input", a.tmp / "tiles.npy", "--batch", n, "--threads", 2,
                           "--json", "--quiet", "--overwrite", "--output", out, *extra)
            t[k].append(d["seconds"])
            outs[k] = out
    identical = B.same_datasets(outs["untiled"], outs["tiled"])
    med = {k: statistics.median(v) for k, v in t.items()}
    for k in runs:
        B.emit(bench="tiles", engine=k, clips_per_s=n / med[k], batch=n, threads=2, repeats=a.repeats)
    B.emit(row=True, workload=f"LMUFormer batch {n}, 2 threads: tiled vs untiled delivery [clips/s]",
           lmusim=round(n / med["tiled"], 1), peer=round(n / med["untiled"], 1), peer_name="lmusim --tile-bytes 0",
           ratio=med["untiled"] / med["tiled"], target="(info) identical", met=bool(identical), identical=identical)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(B.default_build()), help="build directory (default $LMUSIM_BUILD_DIR or build/)")
    ap.add_argument("--model", default=None, help="model .h5 or upstream checkpoint .pth (default: a random "
                                                  "checkpoint calibrated to realistic firing rates)")
    ap.add_argument("--parts", default="stream,batch,threads,tiles")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--stream-clips", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64, help="clips (and the largest batch; the threads part's batch)")
    ap.add_argument("--batch-sizes", default="16,64", help="batch sizes of the batch part (comma list)")
    ap.add_argument("--no-torch-threads", dest="torch_threads", action="store_false",
                    help="do not time PyTorch at 1 and 2 threads in the threads part")
    ap.add_argument("--plot-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 clip streamed, batch 16, 1 repeat")
    a = ap.parse_args()
    if a.quick:
        a.repeats, a.stream_clips, a.batch = 1, 1, 16
    a.batch_sizes = [int(v) for v in a.batch_sizes.split(",")]
    a.build = Path(a.build)
    a.lmusim = a.build / "apps" / "lmusim"
    B.setup_lmusim_path(a.build)
    import torch
    B.emit(bench="machine", **B.machine())
    B.emit(bench="torch", **B.torch_blas())
    model_path, sd, desc = B.prepare_model(a.model, a.build / "bench")
    B.emit(bench="model", model=desc, file=Path(model_path).name)
    with tempfile.TemporaryDirectory() as td:
        a.tmp = Path(td)
        parts = a.parts.split(",")
        if "stream" in parts:
            B.log("== streaming, batch 1")
            part_stream(a, model_path, sd, B.features(a.stream_clips, seed=11))
        x = B.features(a.batch, seed=12)
        if "batch" in parts:
            B.log(f"== whole clips, {a.batch} clips in batches of {a.batch_sizes}")
            part_batch(a, model_path, sd, x)
        if "threads" in parts:
            B.log("== threads 1 vs 2")
            part_threads(a, model_path, sd, x)
        if "tiles" in parts:
            B.log("== tiled vs untiled spike delivery")
            part_tiles(a, model_path, sd, x)
    del torch


if __name__ == "__main__":
    main()
