#!/usr/bin/python3
"""Does lmusim's cost follow the events? (benchmarks/README.md)

Method: copies of the model with every LIF threshold scaled by a factor f (f < 1: more spikes,
f > 1: fewer; the BatchNorm input affines are untouched, so this is the same as scaling every
LIF's input gain by 1/f), plus one copy with thresholds so high that nothing spikes (the cost of
the dense, spike-independent part: the input convolution, the LMU memory's own work, the LIF
updates and the readout). Each copy runs the same clips (``Model.run``, one thread, batch
``--batch``); the time per clip is the median over ``--repeats``, the copies interleaved in
every repeat. Events = spikes per clip summed over all LIF populations; SOPs = the synaptic
operations they trigger (from lmusim's own op counts). Fit: time = a + b * events (least
squares), with R^2; ``a`` is compared with the measured no-spike time. Plot: time vs events
(``--plot-dir``/cost_vs_events.png). The engine does not time its parts separately, so the
spike-driven part is the fitted slope, the dense part the intercept.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_bench as B  # noqa: E402

FACTORS = [0.5, 0.65, 0.8, 1.0, 1.25, 1.6, 2.2, 3.0]
SILENT = 1e9


def scaled_copy(src: Path, dst: Path, factor: float) -> None:
    import h5py
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        for g in f["nodes"].values():
            kind = g.attrs["kind"]
            kind = kind.decode() if isinstance(kind, bytes) else kind
            if kind == "discrete_lif":
                g.attrs["v_threshold"] = np.float32(g.attrs["v_threshold"] * factor)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(B.default_build()))
    ap.add_argument("--model", default=None, help="model .h5 or checkpoint .pth (default: calibrated random)")
    ap.add_argument("--batch", type=int, default=16, help="clips per run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--plot-dir", default=None)
    ap.add_argument("--quick", action="store_true", help="4 factors, 4 clips, 1 repeat")
    a = ap.parse_args()
    factors = FACTORS
    if a.quick:
        factors, a.batch, a.repeats = [0.6, 1.0, 1.6, 3.0], 4, 1
    build = Path(a.build)
    B.setup_lmusim_path(build)
    import lmusim
    B.emit(bench="machine", **B.machine())
    model_path, _, desc = B.prepare_model(a.model, build / "bench")
    B.emit(bench="model", model=desc, file=Path(model_path).name)
    x = B.features(a.batch, seed=13)
    points = []
    with tempfile.TemporaryDirectory() as td:
        models = {}
        for f in factors + [SILENT]:
            p = Path(td) / f"model_{f:g}.h5"
            scaled_copy(Path(model_path), p, f)
            models[f] = lmusim.load_model(p)
            models[f].run(x[:1], batch=1, threads=a.threads)  # warm-up
        times = {f: [] for f in models}
        result = {}
        for rep in range(a.repeats):
            for f, m in models.items():
                t0 = time.perf_counter()
                result[f] = m.run(x, batch=a.batch, threads=a.threads)
                times[f].append((time.perf_counter() - t0) / a.batch)
            B.log(f"  repeat {rep}: " + ", ".join(f"f={f:g} {times[f][-1] * 1e3:.2f} ms" for f in models))
    for f in models:
        r = result[f]
        events = sum(int(v.sum()) for v in r.spike_counts.values()) / a.batch
        sops = sum(int(o["sops"].sum()) for o in r.ops.values()) + sum(int(o["sops"].sum()) for o in r.node_ops.values())
        macs = sum(int(o["macs"].sum()) for o in r.ops.values()) + sum(int(o["macs"].sum()) for o in r.node_ops.values())
        rates = r.firing_rates()
        mean_rate = float(np.mean([v.mean() for v in rates.values()]))
        pt = dict(bench="cost_vs_events", threshold_factor=f if f != SILENT else "silent", ms_per_clip=statistics.median(times[f]) * 1e3,
                  events_per_clip=events, sops_per_clip=sops / a.batch, macs_per_clip=macs / a.batch,
                  mean_layer_rate=mean_rate)
        points.append(pt)
        B.emit(**pt)
    ev = np.array([p["events_per_clip"] for p in points])
    ms = np.array([p["ms_per_clip"] for p in points])
    so = np.array([p["sops_per_clip"] for p in points])
    A = np.stack([np.ones_like(ev), ev], 1)
    (a0, b0), *_ = np.linalg.lstsq(A, ms, rcond=None)
    pred = a0 + b0 * ev
    r2 = 1 - float(((ms - pred) ** 2).sum() / ((ms - ms.mean()) ** 2).sum())
    As = np.stack([np.ones_like(so), so], 1)
    (a1, b1), *_ = np.linalg.lstsq(As, ms, rcond=None)
    r2s = 1 - float(((ms - (a1 + b1 * so)) ** 2).sum() / ((ms - ms.mean()) ** 2).sum())
    silent = points[-1]["ms_per_clip"]
    B.emit(bench="cost_vs_events", fit="ms = a + b*events", a_ms=a0, b_ns_per_event=b0 * 1e6, r2=r2,
           silent_ms=silent, fit_sops_a_ms=a1, fit_sops_b_ns_per_sop=b1 * 1e6, fit_sops_r2=r2s)
    ref = next(p for p in points if p["threshold_factor"] == 1.0)
    B.emit(row=True, workload="LMUFormer cost vs events: fit ms/clip = a + b*events", lmusim=f"R2={r2:.3f}",
           peer=None, peer_name="", ratio=None,
           target="linear in events", met=bool(r2 >= 0.9),
           detail=f"a={a0:.2f} ms (no spikes: {silent:.2f}), b={b0 * 1e6:.0f} ns/event; at f=1: "
                  f"{ref['events_per_clip']:.0f} events, {ref['ms_per_clip']:.2f} ms/clip, "
                  f"spike-driven share {(ref['ms_per_clip'] - a0) / ref['ms_per_clip']:.0%}")
    if a.plot_dir:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
        ax.plot(ev, ms, "o")
        for p in points:
            lab = p["threshold_factor"]
            if lab != "silent" and p["events_per_clip"] < 0.05 * ev.max():
                continue  # crowded near zero
            txt = f"theta x{lab:g}" if lab != "silent" else "no spikes"
            ax.annotate(txt, (p["events_per_clip"], p["ms_per_clip"]), textcoords="offset points", xytext=(4, -10),
                        fontsize=7)
        xs = np.linspace(0, ev.max() * 1.05, 50)
        ax.plot(xs, a0 + b0 * xs, "-", color="gray",
                label=f"{a0:.2f} ms + {b0 * 1e6:.0f} ns x events (R$^2$ {r2:.3f})")
        ax.set_xlabel("spikes per clip (all LIF layers)")
        ax.set_ylabel(f"ms per clip ({a.threads} thread{'s' if a.threads > 1 else ''})")
        ax.set_title("time vs events", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        rate = np.array([p["mean_layer_rate"] for p in points])
        bx.plot(rate * 100, ms, "o-")
        bx.axvline(ref["mean_layer_rate"] * 100, color="gray", ls=":", label="calibrated model (realistic rates)")
        bx.set_xlabel("mean firing rate over the LIF layers [% of neuron-frames]")
        bx.set_ylabel("ms per clip")
        bx.set_title("time vs firing rate", fontsize=10)
        bx.legend(fontsize=8, loc="upper left")
        bx.set_xlim(left=0)
        bx.set_ylim(bottom=0)
        fig.suptitle(f"lmusim, Spiking LMUFormer ({desc}): cost vs events", fontsize=9)
        fig.tight_layout()
        out = Path(a.plot_dir) / "cost_vs_events.png"
        fig.savefig(out, dpi=120)
        B.emit(bench="cost_vs_events", plot=out.name)


if __name__ == "__main__":
    main()
