#!/usr/bin/env python3
"""Stream feature frames into a model one at a time and print the decision as outputs arrive.

    PYTHONPATH=build/python python3 examples/stream_frames.py MODEL.h5 FEATURES.npy [--chunk 1]

The output for frame t arrives after input frame t + latency (5 for the Spiking LMUFormer).
"""
import argparse

import numpy as np

import lmusim

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("model")
ap.add_argument("features")
ap.add_argument("--chunk", type=int, default=1, help="frames per push")
a = ap.parse_args()

model = lmusim.load_model(a.model)
x = np.load(a.features)
x = x[0] if x.ndim == 3 else x  # one clip
stream = model.stream()
print(f"latency: output for frame t after input frame t+{stream.latency}")


def show(idx, logits, pushed):
    for f, z in zip(idx, logits[:, 0]):
        k = int(z.argmax())
        name = model.class_names[k] if k < len(model.class_names) else str(k)
        print(f"after input frame {pushed:4d}: frame {f:4d} -> {name} ({z[k]:.3f})")


for t in range(0, len(x), a.chunk):
    idx, logits = stream.push(x[t:t + a.chunk])
    show(idx, logits, min(t + a.chunk, len(x)) - 1)
idx, logits = stream.flush()
show(idx, logits, len(x) - 1)
