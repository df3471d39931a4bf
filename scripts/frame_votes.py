#!/usr/bin/python3
"""Where a trained keyword model's decision comes from: the clip's prediction is the mean over its
128 frames of the head's per-frame outputs, and this script splits the frames of each clip by the
word's position (the manifest's ``offset`` and ``speech_samples``, :func:`lmusim.training.kws.word_frame_codes`)
into frames *before* the word (the model cannot know it yet), *during* it and *after* it (the
model has heard all of it), then reports per noise kind

* the accuracy of the mean over all frames (the model's real decision),
* the accuracy if the frames before the word were left out (an oracle that knows where the
  word starts: what teaching those frames to abstain could gain at most),
* the accuracy of the mean over only the frames during / only the frames after the word,
* the fraction of single frames of each kind whose own output names the right word.

Usage::

    scripts/frame_votes.py CKPT --data DATA --cache CACHE [--split validation_noisy] [--frontend pcen]

PyTorch, eval mode, on the training cache's features (``scripts/train_slmu.py --cache``).
``--json OUT`` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np


def frame_vote_table(z: np.ndarray, y: np.ndarray, codes: np.ndarray, groups: np.ndarray) -> "OrderedDict":
    """z: per-frame outputs [clips, frames, classes]; y: labels; codes: word_frame_codes; groups: a
    name per clip.  Returns {group: {clips, all, without_before, only_during, only_after,
    frame_acc_before, frame_acc_during, frame_acc_after}} plus "all" over every clip."""
    from lmusim.training import kws

    def decide(weight, sel):
        w = weight[sel]
        zz = (z[sel] * w[..., None]).sum(1) / np.maximum(w.sum(1), 1)[:, None]
        return float((zz.argmax(1) == y[sel]).mean())

    frames_right = z.argmax(-1) == y[:, None]
    masks = OrderedDict(all=np.ones(codes.shape), without_before=(codes != kws.FRAME_BEFORE) * 1.0,
                        only_during=(codes == kws.FRAME_FREE) * 1.0, only_after=(codes == kws.FRAME_AFTER) * 1.0)
    out = OrderedDict()
    names = list(OrderedDict.fromkeys(groups.tolist())) + ["all"]
    for g in names:
        sel = np.ones(len(y), bool) if g == "all" else groups == g
        row = OrderedDict(clips=int(sel.sum()))
        for k, m in masks.items():
            row[k] = decide(m, sel)
        for k, code in (("before", kws.FRAME_BEFORE), ("during", kws.FRAME_FREE), ("after", kws.FRAME_AFTER)):
            mk = (codes == code) & sel[:, None]
            row[f"frame_acc_{k}"] = float(frames_right[mk].mean()) if mk.any() else float("nan")
        out[g] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--split", default="validation_noisy")
    ap.add_argument("--frontend", choices=("logmel", "pcen"), default=None,
                    help="default: the checkpoint's hyper_parameters, else logmel")
    ap.add_argument("--margin", type=int, default=8, help="look-ahead frames (word_frame_codes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import torch
    from lmusim.safe_load import load as safe_load
    from lmusim.training import kws
    from lmusim.training.slmu import from_state_dict
    torch.set_num_threads(args.threads)
    ck = safe_load(args.checkpoint, what="checkpoint")
    frontend = args.frontend or (ck.get("hyper_parameters", {}).get("frontend", "logmel") if isinstance(ck, dict)
                                 else "logmel")
    net = from_state_dict(ck)
    net.eval()
    x, y, recs = kws.load_split(args.data, args.cache, args.split, print, frontend=frontend)
    codes = kws.word_frame_codes(recs, frames=x.shape[1], margin=args.margin)
    outs = []
    with torch.no_grad():
        for i in range(0, len(y), 256):
            outs.append(net(torch.from_numpy(np.array(x[i:i + 256])), mode="frames").numpy())
    z = np.concatenate(outs)
    groups = np.array([(r.get("conditions") or {}).get("noise", "none") for r in recs])
    table = frame_vote_table(z, y, codes, groups)
    print(f"{args.checkpoint} on {args.split} ({frontend}): accuracy of the mean over frames")
    print(f"{'noise':8s} {'clips':>5s} {'all':>6s} {'-before':>7s} {'during':>6s} {'after':>6s}"
          f"   single frames right: before / during / after")
    for g, r in table.items():
        print(f"{g:8s} {r['clips']:5d} {r['all']:6.1%} {r['without_before']:7.1%} {r['only_during']:6.1%} "
              f"{r['only_after']:6.1%}   {r['frame_acc_before']:.1%} / {r['frame_acc_during']:.1%} / "
              f"{r['frame_acc_after']:.1%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(table, f, indent=1)
    return 0


if __name__ == "__main__":
    # the source package, when run as a script (importing this file leaves sys.path alone)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    sys.exit(main())
