#!/usr/bin/env python3
"""Keyword spotting on audio, streamed: the main demo of lmusim.

    PYTHONPATH=build/python python3 examples/spot_keywords.py [WAV ...] [--model models/slmu_kws.h5]
        [--clips N] [--demo data/demo_noisy] [--chunk-ms 10] [--output out.h5 [--overwrite]]

Each 16 kHz mono WAV is pushed into the model in chunks of ``--chunk-ms`` of audio (true
streaming: every 25 ms analysis frame enters the model as soon as its last sample arrives; the
decision for frame n is ready after input frame n + latency: 5 for the Spiking LMUFormer, whose
convolutions look ahead, 0 for the L2MU). For every clip it prints the keyword,
its confidence (softmax of the final logits) and the frame from which the decision no longer
changed (counted in input frames, look-ahead included; 10 ms each, 98 frames of audio plus 30 of
padding). Without WAV arguments it takes ``--clips`` of the shipped test clips in
``data/demo/`` (speakers never heard in training), whose true words it also checks; ``--demo
data/demo_noisy`` takes them from the noisy shipped clips instead (the same test speakers with noise,
babble, reverberation, channels, tempo and level drawn per clip; each line then says the clip's
conditions).

``--output`` also writes the same clips' logits, spike and op counts (docs/output_format.md) for
``lmusim report``; an existing file is replaced only with ``--overwrite``.
"""
import argparse
import json
import os
import sys

import numpy as np

import lmusim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                             epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("wavs", nargs="*", help="16 kHz mono WAV files (default: shipped test clips)")
ap.add_argument("--model", default=os.path.join(ROOT, "models", "slmu_kws.h5"))
ap.add_argument("--clips", type=int, default=12, help="how many shipped clips (0: all 70)")
ap.add_argument("--demo", default=os.path.join(ROOT, "data", "demo"),
                help="the directory of shipped clips (with labels.json): data/demo or data/demo_noisy")
ap.add_argument("--chunk-ms", type=float, default=10.0, help="audio per push [ms]")
ap.add_argument("--output", help="also write the clips' output file (for lmusim report)")
ap.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
a = ap.parse_args()

model = lmusim.load_model(a.model)
truth, conditions = {}, {}
if a.wavs:
    wavs = a.wavs
else:
    demo = a.demo
    with open(os.path.join(demo, "labels.json")) as f:
        clips = json.load(f)["clips"]
    # spread over the words: every k-th clip
    pick = clips if a.clips <= 0 or a.clips >= len(clips) else \
        [clips[int(i)] for i in np.linspace(0, len(clips) - 1, a.clips).round()]
    wavs = [os.path.join(demo, c["file"]) for c in pick]
    truth = {w: c["word"] for w, c in zip(wavs, pick)}
    for w, c in zip(wavs, pick):
        cond = c.get("conditions")
        if cond:
            parts = [f"{cond['noise']} {cond['snr_db']:.0f} dB" if cond.get("noise") else "no noise"]
            if cond.get("reverb"):
                parts.append("reverb")
            if cond.get("channel") not in (None, "none"):
                parts.append(cond["channel"])
            conditions[w] = ", ".join(parts)

latency = model.stream().latency
print(f"model {os.path.relpath(a.model)}: {len(model.class_names)} keywords; streaming "
      f"{a.chunk_ms:g} ms of audio per push; decision for frame n ready after input frame n+{latency}")
print(f"{'clip':28s} {'keyword':9s} {'conf':>6s}  {'final from frame':>16s}" + ("  truth" if truth else ""))
right = 0
for w in wavs:
    samples, rate = lmusim.read_wav(w)
    step = max(1, int(round(a.chunk_ms * 1e-3 * rate)))
    stream = model.stream()
    idx, out = [], []
    for i in range(0, samples.size, step):
        f_i, lg = stream.push_audio(samples[i:i + step], rate)
        idx.append(f_i)
        out.append(lg)
    f_i, lg = stream.finish_audio()
    idx = np.concatenate(idx + [f_i])
    logits = np.concatenate(out + [lg])[:, 0, :]       # [frames, classes]: decision for frame n
    decision = logits.argmax(axis=1)
    final = int(decision[-1])
    changed = np.nonzero(decision != final)[0]
    n_final = int(changed[-1] + 1) if changed.size else 0  # first frame index of the final decision
    ready_after = n_final + stream.latency + 1              # input frames needed, look-ahead counted
    z = logits[-1] - logits[-1].max()
    conf = float(np.exp(z[final]) / np.exp(z).sum())
    word = model.class_names[final]
    line = f"{os.path.basename(w):28s} {word:9s} {conf:6.1%}  {ready_after:5d} ({ready_after * 10:4d} ms)"
    if truth:
        ok = word == truth[w]
        right += ok
        line += f"  {truth[w]}{'' if ok else '  <- wrong'}"
    if w in conditions:
        line += f"  [{conditions[w]}]"
    print(line, flush=True)
if truth:
    print(f"{right}/{len(wavs)} keywords right ({os.path.relpath(a.demo, ROOT)})")
if a.output:
    model.run(wavs, stream=True, output=a.output, overwrite=a.overwrite)
    print(f"output: {a.output}")
