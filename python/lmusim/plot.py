"""Plots of an lmusim report: firing rate per layer, energy per layer, activity over time.

    python3 -m lmusim.plot REPORT.json FILE.h5 OUT.png [--clip K] [--overwrite]

REPORT.json is `lmusim report FILE.h5 --json` (the CLI's `--plot` runs this for you); FILE.h5 is
the recording or clip output it describes, used for the activity panel: spikes per frame of one
clip (clip outputs written with --per-frame-counts or --record-spikes) or a spike raster
(recordings). Needs matplotlib.
"""
import argparse
import json
import os
import sys

import numpy as np

from . import Error
from ._outputs import claim


def _short(name, width=28):
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _activity(ax, path, clip, report):
    import h5py
    with h5py.File(path, "r") as f:
        frame_ms = float(f.attrs.get("frame_ms", f.attrs.get("dt_ms", 1.0)))
        pops = [p["name"] for p in report.get("populations", [])]
        sizes = {p["name"]: p["size"] for p in report.get("populations", [])}
        if "spike_counts" in f and "per_frame" in f["spike_counts"]:
            g = f["spike_counts/per_frame"]
            for name in pops:
                if name in g and sizes[name] > 1:
                    y = g[name][clip] / sizes[name]
                    ax.plot(np.arange(len(y)), 100 * y, lw=1, label=_short(name, 22))
            ax.set_xlabel("frame")
            ax.set_ylabel("neurons firing [%]")
            ax.set_title(f"activity per frame, clip {clip}")
            ax.legend(fontsize=6, ncol=2, loc="upper right")
            return
        if "spikes" in f:
            offset = 0
            for name in pops:
                if name not in f["spikes"]:
                    continue
                g = f["spikes"][name]
                t, ids = g["timestamps"][:], g["node_ids"][:].astype(np.int64)
                if "stream_ids" in g:
                    keep = g["stream_ids"][:] == clip
                    t, ids = t[keep], ids[keep]
                step = max(1, sizes[name] // 400)
                keep = ids % step == 0
                ax.scatter(t[keep] / frame_ms, offset + ids[keep] // step, s=0.5)
                offset += sizes[name] // step + 5
            ax.set_xlabel("frame / step")
            ax.set_ylabel("neuron (subsampled, stacked by population)")
            ax.set_title(f"spike raster, clip/stream {clip}")
            return
    ax.text(0.5, 0.5, "no per-frame data: run with --per-frame-counts or --record-spikes",
            ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot(report_json, data_path, out_png, clip=0, overwrite=False):
    """Draw the report to ``out_png`` (written whole under a lock, lmusim._outputs.claim; never
    over the report or the data file; an existing file only with ``overwrite``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(report_json) as fh:
        r = json.load(fh)
    pops = r.get("populations", [])
    layers = [x for x in r.get("layers", []) if x["snn_pj"] > 0 or x["ann_pj"] > 0]
    fig = plt.figure(figsize=(12, 10))
    gs = fig.add_gridspec(2, 2, height_ratios=[1, 1.1])

    ax = fig.add_subplot(gs[0, 0])
    ax.barh([_short(p["name"]) for p in pops], [100 * p["firing_rate"] for p in pops], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel("firing rate [% of neuron-steps]")
    ax.set_title("firing rate per population")
    ax.tick_params(axis="y", labelsize=7)

    ax = fig.add_subplot(gs[0, 1])
    names = [_short(x["name"]) for x in layers]
    m = r["energy_model"]
    mac = np.array([x["macs"] * m["mac_pj"] for x in layers]) * 1e-6
    ac = np.array([x["sops"] * m["ac_pj"] for x in layers]) * 1e-6
    el = np.array([x["elementwise"] * m["elementwise_pj"] for x in layers]) * 1e-6 if r["include_elementwise"] else 0 * mac
    ann = np.array([x["ann_pj"] for x in layers]) * 1e-6
    y = np.arange(len(layers))
    ax.barh(y, mac, color="tab:red", label="SNN: MACs (real input)")
    ax.barh(y, ac, left=mac, color="tab:green", label="SNN: ACs (spikes)")
    if r["include_elementwise"]:
        ax.barh(y, el, left=mac + ac, color="tab:gray", label="SNN: element-wise")
    ax.scatter(ann, y, marker="|", s=120, color="black", label="ANN equivalent")
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("symlog", linthresh=1e-3)
    top = max(float(np.max(ann)) if len(ann) else 0.0, float(np.max(mac + ac + el)) if len(mac) else 0.0, 1e-3)
    ax.set_xlim(0, top * 4)
    ax.set_xlabel("energy per clip [uJ]")
    t = r["total"]
    ax.set_title(f"energy per layer ({m['name']})\nSNN {t['snn_pj'] * 1e-6:.1f} uJ, "
                 f"ANN {t['ann_pj'] * 1e-6:.1f} uJ per clip: ANN/SNN {t['ann_over_snn']:.1f}x", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)

    _activity(fig.add_subplot(gs[1, :]), data_path, clip, r)
    fig.suptitle(f"{r['network']}: {r['clips']} clip(s), {r['frames_per_clip']} frames each; "
                 f"{r['formula']['snn']}", fontsize=9)
    fig.tight_layout()
    fmt = os.path.splitext(os.fspath(out_png))[1].lstrip(".").lower() or "png"
    with claim(out_png, overwrite, inputs=[report_json, data_path]) as partial:
        fig.savefig(partial, dpi=110, format=fmt)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--clip", type=int, default=0)
    ap.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                    help="replace OUT if it exists")
    a = ap.parse_args(argv)
    try:
        plot(a.report, a.data, a.out, a.clip, overwrite=a.overwrite)
    except Error as e:
        print(f"lmusim: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
