#!/usr/bin/env python3
"""MPI scaling of lmusim (docs/distributed.md), measured and projected.

1. weak scaling: CUBA with --neurons-per-rank x R neurons and a fixed in-degree (--fan-in), for
   R = 1, 2 (real cores) and 4 (oversubscribed), 1 thread per rank;
2. strong scaling: CUBA of --strong-neurons neurons for R = 1, 2, 4;
   both with the per-phase times beNNch reports (update, delivery, exchange: the slowest rank's)
   and the spike-exchange epoch (the synaptic delay, --delay steps);
3. dry run: one process standing in for R = 8 ... 1024 ranks (lmusim cuba --dry-run-ranks R, the
   network scaled with R), measuring per rank the bytes received per exchange and the time to
   unpack and deliver them; from which the weak-scaling efficiency is projected for a cluster
   interconnect of latency --alpha-us and bandwidth --beta-gbs (the method: benchmarks/README.md);
4. clip-parallel throughput: the shipped keyword model on --clips clips of features, R = 1, 2.

Prints a table per part and one JSON line per run (name "mpi_*"), for scripts/bench.sh.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]


def lmusim_bin(build):
    return str(Path(build) / "apps" / "lmusim")


def run_json(cmd):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")][-1]
    d = json.loads(line)
    d["wall_s"] = time.perf_counter() - t0
    return d


def cuba(binary, ranks, neurons, args, extra=()):
    cmd = [binary, "cuba", "--neurons", str(neurons), "--fan-in", str(args.fan_in), "--delay", str(args.delay),
           "--duration", args.duration, "--threads", "1", "--json", "--quiet", *extra]
    if ranks > 0:
        cmd = [*MPIRUN, "-n", str(ranks), *cmd]
    best = None
    for _ in range(args.repeats):
        d = run_json(cmd)
        if best is None or d["run_s"] < best["run_s"]:
            best = d
    return best


def emit(name, d, **extra):
    rec = {"name": name, **extra, **{k: d.get(k) for k in (
        "neurons", "ranks", "spikes", "run_s", "update_s", "deliver_s", "exchange_s", "io_s", "exchanges", "bytes_sent",
        "bytes_received", "epoch_steps", "dry_run")}}
    print(json.dumps(rec))
    return rec


def table(title, rows, cols):
    print(f"\n{title}", file=sys.stderr)
    print("  " + "  ".join(f"{c:>12}" for c in cols), file=sys.stderr)
    for r in rows:
        print("  " + "  ".join(f"{r[c]:>12.4g}" if isinstance(r[c], float) else f"{str(r[c]):>12}" for c in cols),
              file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("LMUSIM_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--neurons-per-rank", type=int, default=20000)
    ap.add_argument("--strong-neurons", type=int, default=40000)
    ap.add_argument("--fan-in", type=float, default=100.0)
    ap.add_argument("--delay", type=int, default=15, help="synaptic delay in steps of 0.1 ms (15: 1.5 ms, as NEST's "
                    "hpc_benchmark); also the exchange epoch")
    ap.add_argument("--duration", default="1s")
    ap.add_argument("--repeats", type=int, default=2, help="runs per point; the fastest counts")
    ap.add_argument("--ranks", default="1,2,4")
    ap.add_argument("--dry-ranks", default="8,32,128,512,1024")
    ap.add_argument("--dry-neurons-per-rank", default="1000,10000", help="comma-separated per-rank sizes")
    ap.add_argument("--dry-max-neurons", type=int, default=1_500_000, help="skip dry runs of larger networks")
    ap.add_argument("--alpha-us", type=float, default=2.0, help="projection: per-message latency of the interconnect")
    ap.add_argument("--beta-gbs", type=float, default=10.0, help="projection: bandwidth per rank, GB/s")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.neurons_per_rank, args.strong_neurons, args.duration, args.repeats = 5000, 10000, "200ms", 1
        args.dry_ranks, args.clips, args.dry_neurons_per_rank = "8,64", 32, "1000"
    if shutil.which("mpirun") is None:
        raise SystemExit("mpirun not found (scripts/deps.sh installs openmpi-bin)")
    binary = lmusim_bin(args.build)
    ranks = [int(v) for v in args.ranks.split(",")]

    # 1. weak scaling
    rows = []
    base = None
    for R in ranks:
        d = cuba(binary, R, args.neurons_per_rank * R, args)
        base = base or d["run_s"]
        rec = emit("mpi_weak", d, fan_in=args.fan_in, delay=args.delay, duration=args.duration)
        rec["efficiency"] = base / d["run_s"]
        rows.append(rec)
    for rec in rows[1:]:
        print(json.dumps({"row": True, "workload": f"MPI weak scaling, CUBA {args.neurons_per_rank}/rank, R={rec['ranks']}",
                          "lmusim": round(rec["run_s"], 4), "peer": round(rows[0]["run_s"], 4), "peer_name": "R=1",
                          "ratio": rec["efficiency"], "target": "efficiency"}))
    table(f"weak scaling: {args.neurons_per_rank} neurons per rank, fan-in {args.fan_in:g}, delay {args.delay} steps, "
          f"{args.duration} (R > {os.cpu_count()} oversubscribed)", rows,
          ["ranks", "neurons", "spikes", "run_s", "update_s", "deliver_s", "exchange_s", "efficiency"])

    # 2. strong scaling, with the delay of the benchmark, with a one-step delay (exchange every
    #    step) and with every spike recorded (exchange every step; rank 0 writes: the I/O phase)
    for delay, record in ((args.delay, False), (1, False), (args.delay, True)):
        rows = []
        base = None
        a = argparse.Namespace(**{**vars(args), "delay": delay})
        with tempfile.TemporaryDirectory() as tmp:
            for R in ranks:
                extra = ("--record", f"{tmp}/rec{R}.h5", "--overwrite") if record else ()
                d = cuba(binary, R, args.strong_neurons, a, extra=extra)
                if record:
                    for f in Path(tmp).glob("rec*.h5"):
                        f.unlink()
                base = base or d["run_s"]
                rec = emit("mpi_strong", d, fan_in=args.fan_in, delay=delay, duration=args.duration, record=record)
                rec["speedup"] = base / d["run_s"]
                rows.append(rec)
        table(f"strong scaling: {args.strong_neurons} neurons, delay {delay} step(s){', recording' if record else ''}",
              rows, ["ranks", "spikes", "run_s", "update_s", "deliver_s", "exchange_s", "io_s", "exchanges", "speedup"])

    # 3. dry run and projection, for each per-rank size (networks above --dry-max-neurons skipped)
    for per_rank in [int(v) for v in str(args.dry_neurons_per_rank).split(",")]:
        rows = []
        one = cuba(binary, 0, per_rank, args)
        for R in [int(v) for v in args.dry_ranks.split(",")]:
            if per_rank * R > args.dry_max_neurons:
                continue
            d = cuba(binary, 0, per_rank * R, args, extra=("--dry-run-ranks", str(R)))
            ex = max(d["exchanges"], 1)
            recv = d["bytes_received"] / ex
            # Projection (benchmarks/README.md): per exchange, an Allgather of the sizes and an
            # Allgatherv of the spikes, each ~ alpha * ceil(log2 R) latency, plus every received byte
            # at beta; the rest (update, delivery of R ranks' spikes, unpacking) is measured here.
            wire = ex * (2 * args.alpha_us * 1e-6 * math.ceil(math.log2(R)) + recv / (args.beta_gbs * 1e9))
            projected = d["run_s"] + wire
            rec = emit("mpi_dry_run", d, fan_in=args.fan_in, delay=args.delay, duration=args.duration,
                       neurons_per_rank=per_rank, bytes_per_exchange=recv, wire_s=wire, projected_s=projected,
                       efficiency=one["run_s"] / projected)
            rows.append(rec)
        table(f"dry run: {per_rank} neurons per rank (rank 0 simulated, the others replayed); projected with alpha "
              f"{args.alpha_us} us, {args.beta_gbs} GB/s; one rank alone: {one['run_s']:.4f} s", rows,
              ["ranks", "neurons", "run_s", "update_s", "deliver_s", "exchange_s", "bytes_per_exchange", "wire_s",
               "projected_s", "efficiency"])

    # 4. clip-parallel throughput
    import numpy as np
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        x = np.random.default_rng(1).normal(size=(args.clips, 128, 128)).astype(np.float32)
        np.save(f"{tmp}/x.npy", x)
        for R in [r for r in ranks if r <= 2]:
            cmd = [binary, "run", str(ROOT / "models" / "slmu_kws.h5"), "--input", f"{tmp}/x.npy", "--batch", "16",
                   "--threads", "1", "--json", "--quiet"]
            if R > 0:
                cmd = [*MPIRUN, "-n", str(R), *cmd]
            d = run_json(cmd)
            rec = {"name": "mpi_clips", "ranks": R, "clips": args.clips, "seconds": d["seconds"],
                   "clips_per_s": args.clips / d["seconds"]}
            print(json.dumps(rec))
            rows.append(rec)
    if len(rows) > 1:
        print(json.dumps({"row": True, "workload": f"MPI clip-parallel, {args.clips} clips, R={rows[-1]['ranks']}",
                          "lmusim": round(rows[-1]["clips_per_s"], 1), "peer": round(rows[0]["clips_per_s"], 1),
                          "peer_name": "R=1 clips/s", "ratio": rows[-1]["clips_per_s"] / rows[0]["clips_per_s"],
                          "target": "speedup"}))
    table(f"clip-parallel: models/slmu_kws.h5, {args.clips} clips of 128 frames, batch 16, 1 thread per rank", rows,
          ["ranks", "clips", "seconds", "clips_per_s"])


if __name__ == "__main__":
    main()
