#!/usr/bin/env python3
"""Convert an upstream Spiking LMUFormer checkpoint and classify clips of features.

    PYTHONPATH=build/python python3 examples/classify_clip.py CKPT.pth FEATURES.npy [--model model.h5] [--overwrite]

FEATURES.npy: normalised log-mel features [frames, 128] or [clips, frames, 128] (docs/lmuformer.md §1.2).
"""
import argparse

import numpy as np

import lmusim

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("checkpoint")
ap.add_argument("features")
ap.add_argument("--model", default="model.h5", help="where to write the converted model file")
ap.add_argument("--overwrite", action="store_true", help="replace the --model file if it exists")
a = ap.parse_args()

lmusim.convert(a.checkpoint, a.model, overwrite=a.overwrite)
model = lmusim.load_model(a.model)
result = model.run(np.load(a.features))
rates = result.firing_rates()
for clip, k in enumerate(result.predictions):
    name = model.class_names[k] if k < len(model.class_names) else str(k)
    sops = sum(int(o["sops"][clip]) for o in result.ops.values())
    print(f"clip {clip}: {name} (logit {result.logits[clip, k]:.3f}), {sops} SOPs, "
          f"head_lif rate {rates['head_lif'][clip]:.3f}")
