#!/usr/bin/env python3
"""CUBA benchmark: lmusim vs Brian2 C++ standalone (no OpenMP), run side by side.

Question: how does lmusim's run phase compare with Brian2's on the Vogels-Abbott CUBA network
(docs/cuba.md)? Method: for each workload, alternate lmusim and Brian2 runs
(`--repeats` each, after one warm-up of lmusim) on the same machine, and report the median run
phase (Brian2: `device._last_run_time`; lmusim: `run_s` from `lmusim cuba --json`, which excludes
building the network), total wall time including Brian2's code generation and compilation,
spikes and rate. Prints a table, writes JSON lines to --out, and prints one JSON summary line
per workload (``"row": true``) on stdout for scripts/bench.sh.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lmusim(binary, neurons, duration_ms, threads, seed):
    t0 = time.perf_counter()
    out = subprocess.run([binary, "cuba", "--neurons", str(neurons), "--duration", f"{duration_ms}ms",
                          "--threads", str(threads), "--seed", str(seed), "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    r["wall_s"] = time.perf_counter() - t0
    return r


def brian2(neurons, duration_ms, seed):
    out = subprocess.run(["/usr/bin/python3", str(ROOT / "benchmarks" / "brian2_cuba.py"), "--neurons", str(neurons),
                          "--duration-ms", str(duration_ms), "--seed", str(seed)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build = Path(os.environ.get("LMUSIM_BUILD_DIR", ROOT / "build"))
    ap.add_argument("--lmusim", default=str(build / "apps" / "lmusim"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3, help="network seed (each engine draws its own network)")
    ap.add_argument("--quick", action="store_true", help="only the 4000-neuron, 10 s workload, 1 repeat")
    ap.add_argument("--out", default=str(build / "bench_cuba.jsonl"))
    a = ap.parse_args()
    workloads = [(4000, 10000), (32000, 2000)]
    if a.quick:
        workloads, a.repeats = workloads[:1], 1
    rows = []
    with open(a.out, "w") as log:
        for neurons, dur in workloads:
            lmusim(a.lmusim, neurons, min(dur, 1000), 1, a.seed)  # warm-up
            lm, br = [], []
            for _ in range(a.repeats):
                lm.append(lmusim(a.lmusim, neurons, dur, 1, a.seed))
                br.append(brian2(neurons, dur, a.seed))
                for r in (lm[-1], br[-1]):
                    log.write(json.dumps(r) + "\n")
                print(f"  N={neurons} T={dur} ms: lmusim run {lm[-1]['run_s']:.3f} s, brian2 run {br[-1]['run_s']:.3f} s",
                      file=sys.stderr)
            lm_run = statistics.median(r["run_s"] for r in lm)
            br_run = statistics.median(r["run_s"] for r in br)
            rows.append(dict(workload=f"CUBA N={neurons}, {dur / 1000:g} s, 1 thread",
                             lmusim_run_s=lm_run, brian2_run_s=br_run, ratio=br_run / lm_run,
                             lmusim_wall_s=statistics.median(r["wall_s"] for r in lm),
                             brian2_wall_s=statistics.median(r["wall_s"] for r in br),
                             lmusim_rate=lm[0]["rate_hz"], brian2_rate=br[0]["rate_hz"]))
    print(f"{'workload':34} {'lmusim run':>11} {'brian2 run':>11} {'ratio':>6} {'lmusim wall':>12} "
          f"{'brian2 wall':>12} {'rate lm/br [Hz]':>16}")
    for r in rows:
        print(f"{r['workload']:34} {r['lmusim_run_s']:10.3f}s {r['brian2_run_s']:10.3f}s {r['ratio']:5.2f}x "
              f"{r['lmusim_wall_s']:11.3f}s {r['brian2_wall_s']:11.3f}s {r['lmusim_rate']:7.2f}/{r['brian2_rate']:.2f}")
    for r in rows:
        print(json.dumps(dict(row=True, workload=r["workload"] + " [s, run phase]", lmusim=round(r["lmusim_run_s"], 3),
                              peer=round(r["brian2_run_s"], 3), peer_name="Brian2 C++ standalone", ratio=r["ratio"],
                              target=">=3x", met=bool(r["ratio"] >= 3),
                              detail=f"wall incl. build: lmusim {r['lmusim_wall_s']:.2f} s, Brian2 {r['brian2_wall_s']:.1f} s; "
                                     f"rate {r['lmusim_rate']:.2f}/{r['brian2_rate']:.2f} Hz")), flush=True)


if __name__ == "__main__":
    main()
