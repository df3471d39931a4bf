#!/usr/bin/python3
"""A roofline for lmusim: the least time per frame that this machine's memory bandwidth allows for
a model, from the bytes each frame must move, and how far lmusim's measured times are from it.

Machine. ``lmusim_membw`` (benchmarks/membw.cpp, built on demand) measures the bandwidth of
three access kinds per working-set size, with 1 and 2 threads: ``read`` (s += b[i]), ``rmw``
(a[i] += b[i]) and ``acc`` (a small L1-resident accumulator += one slice of b after another:
the pattern of spike delivery that adds one weight column per spike). The working sets are sized
for L1 (16 KiB), L2 (256 KiB), L3 (8 MiB) and DRAM (512 MiB) per thread; the cache sizes
themselves come from /sys (here L1d 32 KiB and L2 1 MiB per core, L3 32 MiB shared).

Model. The model file is run by lmusim on a few clips (whole clips, all in one batch; only the
op counts are used, never its time) and, from lmusim's own per-projection and per-node counts
averaged per stream and frame (a frame = one step of the input, 10 ms for the LMUFormer):

* spike-weight bytes = 4 x SOPs: every synaptic op reads one fp32 weight (projections with
  weights; the LMU memory's SOPs, one element of its impulse response H per earlier u-spike in
  ``impulse`` mode or of B in ``recurrence`` mode; not the readout's SOPs, which add its input
  spikes to a running sum and read no weight, nor identity projections, which have no weights);
* dense-weight bytes = 4 x MACs: every multiply-accumulate on real-valued input reads one weight
  (the first convolution of the LMUFormer on the features, the readout's linear layer, the LMU
  memory's A m in ``recurrence`` mode, the L2MU's e_x and W_x on its real-valued input);
* state bytes = sum over nodes of size x state floats x 4 B x 2 (read and written each frame),
  with the state per neuron *estimated* per kind from the kinds' code: discrete_lif, leaky,
  analog, spike_count 2 (the membrane or output value, and the input accumulator that is read and
  cleared), synaptic 3, continuous_lif 4, input 1 (the frame's values), lmu_memory 3 in impulse
  mode (m and its float64 accumulator) and 2 in recurrence mode (m and the next m), readout 4
  per *input* (its float64 running sum, the mean, the input); other kinds 2;
* parameter bytes = the per-neuron parameters read once per frame (biases, affines as a scale
  and a shift, per-neuron beta and threshold), counted with the state;
* weight footprint = 4 x (every weight the run reads: projections' weight arrays, the readout's
  weight, the LMU memory's H in impulse mode or A and B in recurrence mode), and the smallest
  cache level that holds it (the whole footprint is needed every frame or every few frames, as
  different neurons spike).

Bounds (seconds per stream-frame; no compute, no overhead: bytes over bandwidth only):

(a) streaming, batch 1, 1 thread. If the footprint exceeds L2, the weights do not stay in L2 from
    one frame to the next, so every weight byte comes from the level that holds the footprint
    (L3, or DRAM); if it fits L2, from L2:
        t = (spike-weight + dense-weight bytes) / read bandwidth of that level, 1 thread
          + (state + parameter bytes) / rmw bandwidth of the level that holds one stream's state.
(b) batch of S streams on T threads, processed node by node (lmusim's schedule: in each step each
    node delivers for all streams before the next node runs). With cache tiling, each
    projection's weights come from L3 (or DRAM) once per step and every stream re-reads them from
    L2, and the two can overlap; per stream-frame (the machine's time per step divided by S):
        t = max((spike-weight + dense-weight bytes) / L2 read bandwidth, T threads,
                footprint / S / read bandwidth of the footprint's level, T threads)
          + (state + parameter bytes) / rmw bandwidth, T threads, of the level that holds the
            S streams' state split over the T cores' private caches (S x state / T).
    If the footprint fits L2 there is no footprint term. The union of the weight columns the S
    streams need in a step is taken to be the whole footprint (at a 14 % rate, S = 16 streams
    need 1 - 0.86^16 = 91 % of the columns, S = 64 all of them).
    clips/s = 1 / (t x frames per clip).

The bandwidths with T threads are the measured aggregate figures (both threads together). The
``read`` figure is the fastest way to consume bytes, so the bounds are floors; with the ``acc``
figure for the spike weights instead (each spike's column added into an accumulator in memory,
not in registers), the ``_acc`` variants of the bounds are the floor for that delivery pattern.
Not modelled: compute (adds, spike detection), spike lists and scheduling, the LMU memory's
strided reads of H (one float per cache line per row: its 4 x SOPs understate the traffic unless
H stays in L1/L2), hardware prefetch limits on short columns, and cache capacity taken by state,
spike lists and other weights.

Measured times (optional) are compared as "fraction of bound" = bound time / measured time
(1.0 = at the roofline): ``--measured-stream-us``, ``--measured-batch16-cps``,
``--measured-batch64-cps``, or ``--results results.jsonl`` (the JSON lines of
lmuformer_vs_torch.py, e.g. build/bench/results.jsonl: its stream ``lmusim_cli`` and ``lmusim``
rows and batch ``lmusim`` rows that follow a ``model`` row naming the same file), or
``--measure`` (times lmusim here: the CLI ``--stream --batch 1 --threads 1`` and
``Model.run(batch=S, threads=2)``; run it on an otherwise idle machine).

Output: the membw JSON lines, then one JSON line per model with its bytes per frame and one per
bound (bench="roofline"), and a summary on stderr. A bound row's ``bound_us_per_frame`` is the
time per stream-frame (for a batch: the machine's time per step divided by S, i.e. per frame of
clips at the batch's throughput; ``bound_us_per_step`` is the step's time), ``bound_clips_per_s``
the clips per second it allows.

Usage:
    benchmarks/roofline.py [MODEL.h5 ...] [--build DIR] [--clips 16] [--input X.npy]
                           [--membw-json FILE...] [--membw-out FILE] [--measure] [--results FILE]
                           [--measured-stream-us US] [--measured-batch16-cps N] [--measured-batch64-cps N]
MODEL defaults to the random dim-256 Spiking LMUFormer of the benchmarks (slmu_bench.prepare_model).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_bench as B  # noqa: E402

F32 = 4  # bytes per weight and per state float

# State floats per neuron and stream, by node kind (see the docstring); readout: per input.
STATE_FLOATS = {"discrete_lif": 2, "leaky": 2, "analog": 2, "spike_count": 2, "synaptic": 3,
                "continuous_lif": 4, "input": 1, "spike_input": 1, "readout": 4}
DEFAULT_STATE_FLOATS = 2

BATCHES = (16, 64)  # the batch sizes of the bounds (on --threads threads)


# ---------------------------------------------------------------------------------------------
# Machine: caches and bandwidths
# ---------------------------------------------------------------------------------------------

def cache_sizes() -> dict:
    """Data cache sizes in bytes, {"L1": .., "L2": .., "L3": ..}, from /sys (cpu0), else this
    machine's (AMD EPYC: 32 KiB, 1 MiB, 32 MiB)."""
    sizes = {"L1": 32 << 10, "L2": 1 << 20, "L3": 32 << 20}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")):
        try:
            kind = (d / "type").read_text().strip()
            lvl = int((d / "level").read_text())
            size = (d / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
        sizes[f"L{lvl}"] = int(size.rstrip("KMG")) * mult
    return sizes


def membw_rows(a) -> list:
    """The membw JSON lines: from --membw-json files (the best figure per level, kind and thread
    count over all of them), else by running the binary (built if missing)."""
    if a.membw_json:
        best = {}
        for path in a.membw_json:
            for line in Path(path).read_text().splitlines():
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("bench") != "membw":
                    continue
                key = (r["level"], r["kind"], int(r["threads"]))
                if key not in best or r["gb_per_s"] > best[key]["gb_per_s"]:
                    best[key] = r
        return list(best.values())
    exe = a.build / "benchmarks" / "lmusim_membw"
    if not exe.exists():
        B.log(f"building {exe.name} ...")
        subprocess.run(["cmake", "--build", str(a.build), "--target", "lmusim_membw"], check=True,
                       stdout=subprocess.DEVNULL)
    args = [str(exe), "--threads", ",".join(sorted({"1", str(a.threads)}, key=int))]
    args += ["--quick"] if a.quick else ["--rounds", "3", "--repeats", "3"]
    B.log("== memory bandwidth: " + " ".join(args))
    out = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    if a.membw_out:
        Path(a.membw_out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


class Bandwidth:
    """Measured bandwidths in bytes/s: bw(level, kind, threads); ``src`` the streamed operand's
    rate (the weights), else all bytes moved (rmw: reads and writes). With T threads: the best
    figure measured with at most T threads (T threads can always do what fewer do; on this
    shared VM the 2-thread L1/L2 figures sometimes come out no better than 1 thread's)."""

    def __init__(self, rows):
        self.rows = {(r["level"], r["kind"], int(r["threads"])): r for r in rows}

    def __call__(self, level: str, kind: str, threads: int, src: bool = True) -> float:
        field = "src_gb_per_s" if src else "gb_per_s"
        got = [r[field] for (lv, k, t), r in self.rows.items() if lv == level and k == kind and t <= threads]
        if (level, kind, threads) not in self.rows or not got:
            raise SystemExit(f"roofline: no membw figure for {level} {kind} with {threads} threads "
                             f"(have {sorted(self.rows)})")
        return max(got) * 1e9


def level_for(nbytes: float, caches: dict) -> str:
    """The smallest level that holds nbytes (L1, L2, L3, else DRAM)."""
    for lvl in ("L1", "L2", "L3"):
        if nbytes <= caches[lvl]:
            return lvl
    return "DRAM"


# ---------------------------------------------------------------------------------------------
# Model: sizes from the file, op counts from a run
# ---------------------------------------------------------------------------------------------

def model_structure(path: Path, memory_mode: str | None) -> dict:
    """Nodes (kind, size, state floats, parameter floats, weights) and projections (kind, weights,
    parameter floats) from the model file (docs/model_format.md)."""
    import h5py

    def count(g, names):
        return sum(int(np.prod(g[n].shape)) for n in names if n in g)

    nodes, projections = {}, {}
    with h5py.File(path, "r") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        config = dict(f["meta/config"].attrs) if "meta/config" in f else {}
        for name, g in f["nodes"].items():
            kind = g.attrs["kind"]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            size = int(g.attrs["size"])
            mode = memory_mode or str(g.attrs.get("mode", "impulse"))
            weights = 0
            params = 0
            if kind == "lmu_memory":
                weights = count(g, ["H"]) if mode == "impulse" and "H" in g else count(g, ["A", "B"])
                state = size * (3 if mode == "impulse" else 2)
            elif kind == "readout":
                weights = count(g, ["weight"])
                params = count(g, ["bias"])
                state = int(g.attrs.get("input_size", size)) * STATE_FLOATS["readout"]
            else:
                weights = count(g, ["weight", "weights"])
                state = size * STATE_FLOATS.get(kind, DEFAULT_STATE_FLOATS)
                if any(k.startswith("bn_") for k in g):
                    params += 2 * size  # an input affine (BatchNorm), applied as a scale and a shift
                # other parameters stored one per neuron (beta, threshold, ...)
                params += sum(g[k].size for k in g
                              if isinstance(g[k], h5py.Dataset) and not k.startswith("bn_")
                              and k not in ("weight", "weights") and size > 1 and g[k].size == size)
            nodes[name] = dict(kind=kind, size=size, state_floats=state, param_floats=params,
                               weights=weights, mode=mode if kind == "lmu_memory" else None)
        for name, g in f["projections"].items():
            kind = g.attrs["kind"]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            params = count(g, ["bias"]) + (2 * count(g, ["post_bn_bias"]) if "post_bn_bias" in g else 0)
            projections[name] = dict(kind=kind, weights=count(g, ["weights"]), param_floats=params)
    return dict(attrs=attrs, config=config, nodes=nodes, projections=projections)


def model_label(path: Path, s: dict) -> str:
    c = s["config"]
    kind = s["attrs"].get("model", s["attrs"].get("name", "?"))
    dims = ", ".join(f"{k} {c[k]}" for k in ("dim", "depth", "hidden", "memory_size") if k in c)
    return f"{path.name} ({kind}{', ' + dims if dims else ''})"


def inputs_for(a, model) -> np.ndarray:
    """The clips to count ops on: --input (.npy [clips, frames, width]), else realistic log-mel
    features (slmu_bench.features) of the model's input width."""
    if a.input:
        x = np.load(a.input).astype(np.float32)
        x = x[None] if x.ndim == 2 else x
    else:
        x = B.features(a.clips, seed=a.seed, width=model.input_width)
    if x.shape[-1] != model.input_width:
        raise SystemExit(f"roofline: input width {x.shape[-1]}, the model expects {model.input_width}")
    return x


def traffic(model_path: Path, s: dict, x: np.ndarray, memory_mode: str | None) -> dict:
    """Bytes per stream and frame, from lmusim's op counts on clips x (averaged over the clips)."""
    import lmusim
    m = lmusim.load_model(model_path, memory_mode=memory_mode)
    r = m.run(x, batch=len(x), threads=2)
    clips, frames = x.shape[0], x.shape[1]
    per = lambda v: float(np.sum(v)) / (clips * frames)  # noqa: E731  (per stream-frame)
    spk = dense = 0.0
    per_proj = {}
    for name, ops in r.ops.items():
        p = s["projections"][name]
        sop_b = F32 * per(ops["sops"]) if p["weights"] else 0.0
        mac_b = F32 * per(ops["macs"])
        spk += sop_b
        dense += mac_b
        if sop_b or mac_b:
            per_proj[name] = dict(kind=p["kind"], weight_bytes=F32 * p["weights"],
                                  spike_bytes_per_frame=round(sop_b, 1), dense_bytes_per_frame=round(mac_b, 1),
                                  # the fraction of the weights a frame reads (a firing rate for spikes)
                                  fraction_read=round((sop_b + mac_b) / (F32 * p["weights"]), 4) if p["weights"] else None)
    for name, ops in r.node_ops.items():
        n = s["nodes"][name]
        sop_b = F32 * per(ops["sops"]) if n["kind"] != "readout" else 0.0
        mac_b = F32 * per(ops["macs"])
        spk += sop_b
        dense += mac_b
        if sop_b or mac_b:
            per_proj[f"node {name}"] = dict(kind=n["kind"], weight_bytes=F32 * n["weights"],
                                            spike_bytes_per_frame=round(sop_b, 1), dense_bytes_per_frame=round(mac_b, 1),
                                            fraction_read=round((sop_b + mac_b) / (F32 * n["weights"]), 4) if n["weights"] else None)
    state_resident = F32 * sum(n["state_floats"] for n in s["nodes"].values())
    params = F32 * (sum(n["param_floats"] for n in s["nodes"].values())
                    + sum(p["param_floats"] for p in s["projections"].values()))
    footprint = F32 * (sum(n["weights"] for n in s["nodes"].values())
                       + sum(p["weights"] for p in s["projections"].values()))
    spikes = sum(float(np.sum(v)) for v in r.spike_counts.values())
    neurons = sum(v.shape[1] for v in r.spike_counts.values())
    sops = sum(per(o["sops"]) for o in r.ops.values()) + sum(per(o["sops"]) for o in r.node_ops.values())
    macs = sum(per(o["macs"]) for o in r.ops.values()) + sum(per(o["macs"]) for o in r.node_ops.values())
    return dict(clips=clips, frames=frames, sops_per_frame=sops, macs_per_frame=macs,
                spike_weight_bytes_per_frame=spk, dense_weight_bytes_per_frame=dense,
                state_bytes_per_frame=2 * state_resident, state_resident_bytes=state_resident,
                param_bytes_per_frame=params, weight_footprint_bytes=footprint,
                mean_firing_rate=spikes / (neurons * clips * frames) if neurons else 0.0,
                per_projection=per_proj)


# ---------------------------------------------------------------------------------------------
# Bounds
# ---------------------------------------------------------------------------------------------

def bounds(t: dict, bw: Bandwidth, caches: dict, threads: int) -> list:
    """The bounds of the docstring, as dicts: case, batch, threads, seconds per stream-frame
    (read and acc variants), their terms and levels."""
    W_spk, W_den = t["spike_weight_bytes_per_frame"], t["dense_weight_bytes_per_frame"]
    F = t["weight_footprint_bytes"]
    state = t["state_bytes_per_frame"] + t["param_bytes_per_frame"]
    wlev = level_for(F, caches)
    out = []

    # (a) streaming, batch 1, 1 thread: every weight byte from the footprint's level
    slev = level_for(t["state_resident_bytes"] + t["param_bytes_per_frame"], caches)
    t_w = (W_spk + W_den) / bw(wlev, "read", 1)
    t_w_acc = W_spk / bw(wlev, "acc", 1) + W_den / bw(wlev, "read", 1)
    t_s = state / bw(slev, "rmw", 1, src=False)
    out.append(dict(case="stream", batch=1, threads=1, seconds=t_w + t_s, seconds_acc=t_w_acc + t_s,
                    weight_level=wlev, state_level=slev, weight_s=t_w, weight_s_acc=t_w_acc, state_s=t_s))

    # (b) batches of S streams on `threads` threads, node by node, weights tiled through L2
    for S in BATCHES:
        reread = wlev if wlev in ("L1", "L2") else "L2"
        t_l2 = (W_spk + W_den) / bw(reread, "read", threads)
        t_l2_acc = W_spk / bw(reread, "acc", threads) + W_den / bw(reread, "read", threads)
        t_fill = F / S / bw(wlev, "read", threads) if wlev not in ("L1", "L2") else 0.0
        # S streams' state, split over the threads' private caches
        slev_b = level_for(S * t["state_resident_bytes"] / threads + t["param_bytes_per_frame"], caches)
        t_sb = state / bw(slev_b, "rmw", threads, src=False)
        out.append(dict(case=f"batch{S}", batch=S, threads=threads, seconds=max(t_l2, t_fill) + t_sb,
                        seconds_acc=max(t_l2_acc, t_fill) + t_sb, weight_level=wlev, reread_level=reread,
                        state_level=slev_b, weight_l2_s=t_l2, weight_l2_s_acc=t_l2_acc, weight_fill_s=t_fill,
                        state_s=t_sb))
    return out


# ---------------------------------------------------------------------------------------------
# Measured times
# ---------------------------------------------------------------------------------------------

def from_results(path: Path, model_path: Path) -> dict:
    """lmuformer_vs_torch.py's measurements of this model file in a results.jsonl: the stream rows
    (engines lmusim_cli and lmusim, us/frame) and the batch rows (engine lmusim, 2 threads,
    clips/s) that follow a `model` row naming the file; the last of each. Returns
    {case: {source: value}}, case "stream" or "batchS"."""
    got, ours = {}, False
    for line in Path(path).read_text().splitlines():
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("bench") == "model":
            ours = r.get("file") == model_path.name
        elif ours and r.get("bench") == "stream" and r.get("engine") in ("lmusim_cli", "lmusim"):
            source = "results, CLI --stream" if r["engine"] == "lmusim_cli" else "results, Python push"
            got.setdefault("stream", {})[source] = float(r["us_per_frame"])
        elif ours and r.get("bench") == "batch" and r.get("engine") == "lmusim" and r.get("threads", 2) == 2:
            got.setdefault(f"batch{int(r['batch'])}", {})["results"] = float(r["clips_per_s"])
    return got


def measure(a, model_path: Path, x: np.ndarray, threads: int) -> dict:
    """Times lmusim here: the CLI streaming (batch 1, 1 thread; its run phase, us/frame) and
    Model.run on batches of BATCHES clips (`threads` threads, clips/s); best of --repeats.
    Returns {case: {source: value}} as from_results."""
    import lmusim
    got = {}
    with tempfile.TemporaryDirectory() as td:
        npy = Path(td) / "clips.npy"
        np.save(npy, x)
        best = None
        for _ in range(a.repeats):
            out = subprocess.run([str(a.build / "apps" / "lmusim"), "run", str(model_path), "--input", str(npy),
                                  "--stream", "--batch", "1", "--threads", "1", "--json", "--quiet"],
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            us = r["seconds"] / (r["clips"] * r["frames"]) * 1e6
            best = us if best is None else min(best, us)
        got["stream"] = {"measured, CLI --stream": best}
    m = lmusim.load_model(model_path)
    m.run(x[:2], batch=2, threads=threads)  # warm-up
    for S in BATCHES:
        xs = np.concatenate([x] * (-(-S // len(x))))[:S]
        ts = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            m.run(xs, batch=S, threads=threads)
            ts.append(time.perf_counter() - t0)
        got[f"batch{S}"] = {"measured, Model.run": S / min(ts)}
    return got


# ---------------------------------------------------------------------------------------------

def fmt_bytes(n: float) -> str:
    for unit, div in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n:.0f} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="model files .h5 or upstream .pth, or 'random' (default): the random dim-256 LMUFormer")
    ap.add_argument("--build", default=str(B.default_build()), help="build directory (default $LMUSIM_BUILD_DIR or build/)")
    ap.add_argument("--clips", type=int, default=16, help="clips to count ops on (default 16)")
    ap.add_argument("--seed", type=int, default=7, help="seed of the features (slmu_bench.features)")
    ap.add_argument("--input", default=None, help="clips .npy [clips, frames, width] instead of random features")
    ap.add_argument("--memory-mode", default=None, choices=("impulse", "recurrence"), help="LMU memory mode (default: the file's)")
    ap.add_argument("--threads", type=int, default=2, help="threads of the batch bounds (default 2)")
    ap.add_argument("--membw-json", nargs="+", default=None, metavar="FILE",
                    help="read the bandwidths from these files of membw JSON lines (the best per figure) instead of measuring")
    ap.add_argument("--membw-out", default=None, help="also write the measured bandwidth JSON lines here")
    ap.add_argument("--quick", action="store_true", help="short bandwidth measurement (lmusim_membw --quick)")
    ap.add_argument("--results", default=None, help="results.jsonl of lmuformer_vs_torch.py to compare with")
    ap.add_argument("--measure", action="store_true", help="time lmusim here (streaming CLI, batches 16 and 64)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of --measure (best)")
    ap.add_argument("--measured-stream-us", type=float, default=None, help="measured streaming us/frame (batch 1)")
    ap.add_argument("--measured-batch16-cps", type=float, default=None, help="measured clips/s at batch 16")
    ap.add_argument("--measured-batch64-cps", type=float, default=None, help="measured clips/s at batch 64")
    a = ap.parse_args()
    a.build = Path(a.build)
    B.setup_lmusim_path(a.build)
    import lmusim

    caches = cache_sizes()
    rows = membw_rows(a)
    for r in rows:
        B.emit(**r)
    bw = Bandwidth(rows)
    load = os.getloadavg()
    B.emit(bench="roofline", what="machine", caches=caches, load1=round(load[0], 2),
           procs_running=int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]))

    # "random": the benchmarks' random dim-256 LMUFormer; a .pth is converted (slmu_bench.prepare_model).
    models = [Path(p) if p.endswith(".h5") else Path(B.prepare_model(None if p == "random" else p, a.build / "bench")[0])
              for p in a.models or ["random"]]
    for model_path in models:
        s = model_structure(model_path, a.memory_mode)
        label = model_label(model_path, s)
        model = lmusim.load_model(model_path, memory_mode=a.memory_mode)
        x = inputs_for(a, model)
        t = traffic(model_path, s, x, a.memory_mode)
        per_proj = t.pop("per_projection")
        wlev = level_for(t["weight_footprint_bytes"], caches)
        B.emit(bench="roofline", model=label, file=model_path.name, what="bytes", **t, weight_footprint_level=wlev,
               per_projection=per_proj)
        bs = bounds(t, bw, caches, a.threads)

        measured = {}  # case -> source -> us/frame (stream) or clips/s (batches)

        def merge(d):
            for case, values in d.items():
                measured.setdefault(case, {}).update(values)
        if a.results:
            merge(from_results(Path(a.results), model_path))
        if a.measure:
            B.log(f"== measuring lmusim on {model_path.name} ...")
            merge(measure(a, model_path, x, a.threads))
        merge({case: {"given": v} for case, v in (("stream", a.measured_stream_us), ("batch16", a.measured_batch16_cps),
                                                  ("batch64", a.measured_batch64_cps)) if v is not None})

        frames = t["frames"]
        B.log(f"\n== {label}: {t['clips']} clips x {frames} frames, mean firing rate {t['mean_firing_rate']:.3f}")
        B.log(f"  per stream-frame: {t['sops_per_frame'] / 1e3:.1f}k SOPs, {t['macs_per_frame'] / 1e3:.1f}k MACs; "
              f"spike weights {fmt_bytes(t['spike_weight_bytes_per_frame'])}, dense weights "
              f"{fmt_bytes(t['dense_weight_bytes_per_frame'])}, state {fmt_bytes(t['state_bytes_per_frame'])} "
              f"(r+w), parameters {fmt_bytes(t['param_bytes_per_frame'])}")
        B.log(f"  weight footprint {fmt_bytes(t['weight_footprint_bytes'])}: fits {wlev} "
              f"(L2 {fmt_bytes(caches['L2'])}, L3 {fmt_bytes(caches['L3'])}); one stream's state "
              f"{fmt_bytes(t['state_resident_bytes'])}")
        top = sorted(per_proj.items(), key=lambda kv: -(kv[1]["spike_bytes_per_frame"] + kv[1]["dense_bytes_per_frame"]))
        B.log("  largest readers: " + ", ".join(
            f"{k} {fmt_bytes(v['spike_bytes_per_frame'] + v['dense_bytes_per_frame'])}" for k, v in top[:4]))
        for b in bs:
            us = b["seconds"] * 1e6
            cps = 1.0 / (b["seconds"] * frames)
            row = dict(bench="roofline", model=label, file=model_path.name, what="bound", case=b["case"],
                       batch=b["batch"], threads=b["threads"], frames_per_clip=frames,
                       bound_us_per_frame=us, bound_us_per_step=us * b["batch"],
                       bound_us_per_stream_frame=us, bound_us_per_stream_frame_acc=b["seconds_acc"] * 1e6,
                       bound_clips_per_s=cps, bound_clips_per_s_acc=1.0 / (b["seconds_acc"] * frames),
                       terms_us={k: v * 1e6 for k, v in b.items() if k.endswith("_s") or k.endswith("_s_acc")},
                       levels={k: v for k, v in b.items() if k.endswith("_level")})
            line = (f"  {b['case']:8s} batch {b['batch']:2d}, {b['threads']} thr: bound {us:7.2f} us/stream-frame "
                    f"({row['bound_us_per_stream_frame_acc']:.2f} with acc), {cps:8.0f} clips/s; weights from "
                    f"{b.get('weight_level')}" + (f" (re-read from {b['reread_level']})" if "reread_level" in b else "")
                    + f", state in {b['state_level']}")
            # fraction of bound = bound time / measured time
            for source, v in measured.get(b["case"], {}).items():
                if b["batch"] == 1:
                    frac = us / v
                    row.setdefault("measured_us_per_frame", {})[source] = v
                    line += f"\n      {source}: {v:.1f} us/frame -> fraction of bound {frac:.3f}"
                else:
                    frac = v / cps
                    row.setdefault("measured_clips_per_s", {})[source] = v
                    line += f"\n      {source}: {v:.1f} clips/s -> fraction of bound {frac:.3f}"
                row.setdefault("fraction_of_bound", {})[source] = frac
            B.emit(**row)
            B.log(line)
            # One summary row per case (scripts/bench.sh's table): the benchmark run's own figure
            # when results.jsonl has it, else this script's measurement.
            src = [k for k in measured.get(b["case"], {}) if k.startswith("results")] or list(measured.get(b["case"], {}))
            if src:
                v = measured[b["case"]][src[0]]
                unit = "us/frame" if b["batch"] == 1 else "clips/s"
                B.emit(row=True, workload=f"roofline: {label}, {b['case']} ({b['threads']} thr) [{unit}]",
                       lmusim=round(v, 1), peer=round(us if b["batch"] == 1 else cps, 1),
                       peer_name=f"memory bound ({src[0]})", ratio=row["fraction_of_bound"][src[0]],
                       target="(info) fraction of bound", met=None)


if __name__ == "__main__":
    main()
