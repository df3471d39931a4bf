#!/usr/bin/python3
"""The model-zoo table (docs/model_zoo.md): every shipped keyword spotter measured by lmusim on the
same test split of ``scripts/gen_keywords.py`` data.

For each MODEL.h5 (optionally ``MODEL.h5:CHECKPOINT`` for the PyTorch agreement check) it runs
``scripts/eval_kws.py`` (lmusim streaming the test WAVs; accuracy, report, NeuroBench figures) and
times streaming alone (``lmusim run MODEL --input <first --timing-clips WAVs> --stream --json
--threads 1 --batch 1``: wall time per frame, front-end included; the median of ``--timing-repeats``
rounds that time every model in turn), then prints the Markdown table
and writes ``OUT/model_zoo.json``.

Usage: ``scripts/model_zoo.py models/slmu_kws.h5:models/slmu_kws.pth models/l2mu_kws.h5:models/l2mu_kws.pt
[--data build/data/keywords] [--out build/zoo]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LMUSIM_BUILD_DIR", os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(BUILD, "python"))


def measure(model: str, ckpt: str, args) -> dict:
    import lmusim
    name = os.path.splitext(os.path.basename(model))[0]
    out = os.path.join(args.out, name)
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "eval_kws.py"), model, "--data", args.data, "--out", out,
           "--lmusim", args.lmusim, "--threads", str(args.threads)]
    if ckpt:
        cmd += ["--checkpoint", ckpt]
    if not args.reuse or not os.path.exists(os.path.join(out, "eval_test.json")):
        subprocess.run(cmd, check=True)
    with open(os.path.join(out, "eval_test.json")) as f:
        ev = json.load(f)
    rep = ev["report"]
    net = lmusim.load_model(model).network
    spikes = sum(p["spikes_per_clip"] for p in rep["populations"])
    neurons = sum(p["size"] for p in rep["populations"])
    return dict(model=os.path.relpath(model, ROOT), network=rep["network"], accuracy=ev["lmusim_accuracy"],
                agreement=ev.get("agreement"), clips=ev["clips"], parameters=net.parameter_count(), neurons=neurons,
                spikes_per_clip=spikes, sops=rep["total"]["sops"], macs=rep["total"]["macs"],
                dense_macs=rep["total"]["dense_macs"], energy_pj=rep["total"]["snn_pj"], ann_pj=rep["total"]["ann_pj"],
                energy_model=rep["energy_model"]["name"], neurobench=rep["neurobench"],
                latency=ev.get("latency"), frames_needed=ev.get("frames_needed"))


def time_streaming(rows, args) -> None:
    """Adds us_per_frame (the median) and us_per_frame_runs to each row: ``--timing-repeats`` rounds,
    each timing every model once in turn, so that a slow phase of a shared machine (one run's time
    moves by a third on the build VM) hits all models alike."""
    with open(os.path.join(args.data, "manifest.json")) as f:
        recs = [r for r in json.load(f)["clips"] if r["split"] == "test"][: args.timing_clips]
    wavs = [os.path.join(args.data, r["path"]) for r in recs]
    runs = {r["model"]: [] for r in rows}
    for _ in range(args.timing_repeats):
        for r in rows:
            out = subprocess.run([args.lmusim, "run", os.path.join(ROOT, r["model"]), "--input", *wavs, "--stream",
                                  "--json", "--threads", "1", "--batch", "1"], check=True, capture_output=True, text=True)
            runs[r["model"]].append(json.loads(out.stdout)["us_per_step"])
    for r in rows:
        us = sorted(runs[r["model"]])
        r.update(us_per_frame=us[len(us) // 2], us_per_frame_runs=us, timing_clips=len(wavs))


def table(rows) -> str:
    def col(f, fmt):
        return [fmt(r[f]) if callable(fmt) else fmt.format(r[f]) for r in rows]

    lines = [("", [r["model"] for r in rows]),
             ("architecture", [r["network"] for r in rows]),
             ("test accuracy (lmusim, streaming audio)", [f"{100 * r['accuracy']:.2f} % ({r['clips']} clips)" for r in rows]),
             ("PyTorch agrees on", [f"{r['agreement']}/{r['clips']}" if r["agreement"] is not None else "-" for r in rows]),
             ("trainable parameters", col("parameters", "{:,}")),
             ("spiking neurons", col("neurons", "{:,}")),
             ("spikes per clip", col("spikes_per_clip", "{:,.0f}")),
             ("SOPs per clip", col("sops", "{:,.0f}")),
             ("MACs per clip", col("macs", "{:,.0f}")),
             ("dense-equivalent MACs per clip", col("dense_macs", "{:,.0f}")),
             ("energy per clip (45 nm preset)", [f"{r['energy_pj'] / 1e6:.2f} uJ (ANN {r['ann_pj'] / 1e6:.2f} uJ)" for r in rows]),
             ("NeuroBench Footprint", [f"{r['neurobench']['Footprint']:,.0f} B" for r in rows]),
             ("NeuroBench ConnectionSparsity", [f"{r['neurobench']['ConnectionSparsity']:.3f}" for r in rows]),
             ("NeuroBench ActivationSparsity", [f"{r['neurobench']['ActivationSparsity']:.3f}" for r in rows]),
             ("NeuroBench MembraneUpdates", [f"{r['neurobench']['MembraneUpdates']:,.0f}" for r in rows]),
             ("NeuroBench Effective_ACs", [f"{r['neurobench']['SynapticOperations']['Effective_ACs']:,.0f}" for r in rows]),
             ("NeuroBench Effective_MACs", [f"{r['neurobench']['SynapticOperations']['Effective_MACs']:,.0f}" for r in rows]),
             ("NeuroBench Dense", [f"{r['neurobench']['SynapticOperations']['Dense']:,.0f}" for r in rows]),
             ("streaming time per frame (1 thread, median)",
              [f"{r['us_per_frame']:.1f} us ({min(r['us_per_frame_runs']):.1f}-{max(r['us_per_frame_runs']):.1f})"
               for r in rows]),
             ("decision ready after input frame", [f"n + {r['latency']}" for r in rows]),
             ]
    out = ["| " + " | ".join([k] + v) + " |" for k, v in lines[:1]]
    out.append("|" + "---|" * (len(rows) + 1))
    out += ["| " + " | ".join([k] + v) + " |" for k, v in lines[1:]]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="MODEL.h5 or MODEL.h5:CHECKPOINT")
    ap.add_argument("--data", default=os.path.join(ROOT, "build/data/keywords"))
    ap.add_argument("--out", default=os.path.join(BUILD, "zoo"))
    ap.add_argument("--lmusim", default=os.environ.get("LMUSIM_BIN", os.path.join(BUILD, "apps/lmusim")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--timing-clips", type=int, default=100)
    ap.add_argument("--timing-repeats", type=int, default=5,
                    help="timing rounds (each runs every model once); the median per model is reported")
    ap.add_argument("--reuse", action="store_true", help="reuse OUT/<model>/eval_test.json when present")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for spec in args.models:
        model, _, ckpt = spec.partition(":")
        rows.append(measure(model, ckpt, args))
    time_streaming(rows, args)
    with open(os.path.join(args.out, "model_zoo.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
