#!/usr/bin/python3
"""Train the Spiking LMUFormer (``slmu_rnn_ms_conv1d``) on the keyword data of
``scripts/gen_keywords.py``.

The loop, data, augmentation and checkpointing are :mod:`lmusim.training.kws` (shared with
``scripts/train_l2mu.py``); this script adds the model.

* Features (docs/lmuformer.md §1.2, :mod:`lmusim.training.features`) are computed once per
  split and cached under ``--cache`` (``feats_<split>.npy`` float32 [clips, 128, 128]
  + ``labels_<split>.npy`` + ``paths_<split>.json``).
  ``--frontend pcen`` trains on PCEN features instead (docs/frontend.md), computed from the
  cached log-mel ones (``feats_pcen_<split>.npy``); the checkpoints then state the front-end.
* Model: :class:`lmusim.training.slmu.SpikingLMUFormer` (``--dim``, ``--depth``,
  ``--memory-size``), CPU float32, ``torch.set_num_threads(--threads)``. ``--init CKPT --grow``
  starts a deeper model from a shallower checkpoint, the new blocks as identities.
* Loss: cross-entropy on the clip logits (``--loss ce``, default; mean over frames of the
  per-frame head outputs, as upstream) or upstream's BCEWithLogits on one-hot targets
  (``--loss bce``); ``--frame-loss W`` adds W times a per-frame loss from the manifest's word
  positions (see :func:`lmusim.training.kws.frame_loss`).
* Optimiser: Adam(lr 2.5e-3, betas (0.95, 0.999), weight_decay 0) as upstream
  (docs/lmuformer.md §7); MultiStepLR stepped once per epoch (``--milestones``, ``--gamma``);
  no warm-up, no clipping.
* Training augmentation on the cached features (upstream's, docs/lmuformer.md §1.3, minus mixup): one
  frequency and one time mask (SpecAugment; masked cells take the normalised value of a zero
  log-mel cell, 0.6150423, as upstream masks before normalising), additive U[0,1)*r/10 noise
  (r ~ U[0,1) per clip), and a circular time roll by randint(-10, 10) frames; optionally
  (``--warp``) a formant scaling (vocal tract length perturbation) by re-sampling the mel axis.
* Every epoch: validation accuracy (eval mode), a checkpoint ``checkpoints/epoch_NNN.pth`` in
  upstream format (``state_dict()`` with the DataParallel ``module.`` prefix: a plain tensor
  dict that ``python -m lmusim.convert`` reads; with ``--frontend pcen`` wrapped as
  ``{"state_dict": ..., "hyper_parameters": {"frontend": "pcen", ...}}`` so that the converter
  knows the front-end), ``best_model.pth`` when validation improves,
  and ``resume.pt`` (model, optimiser, scheduler, RNG states, history) for ``--resume``.
* At the end: the best checkpoint's validation and test accuracy, per-class test accuracy and
  per-LIF firing rates on the test set, written to ``results.json``.

Logs go to stdout and ``OUT/log.txt``.  ``--time-batches N`` only times N training batches
(and one validation pass) and prints the projected epoch / run time.
"""
from __future__ import annotations

import os
import sys

# OpenMP threads that spin while waiting are ruinous on a shared, oversubscribed CPU (measured:
# 2.6 s instead of 0.65 s per batch); must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import torch  # noqa: E402

from lmusim.training import kws  # noqa: E402
from lmusim.training.slmu import (SpikingLMUFormer, firing_rates, load_upstream,  # noqa: E402
                                  upstream_state_dict)


def widen_memory_inputs(model, sd):
    """A checkpoint's state dict with each block's memory input widened to the model's u channels
    (``--grow``): the old channel stays channel 0 (W_u row, bn_u, the first M of bn_m, W_h's memory
    columns), the new channels keep the model's initial values except W_h's columns that read their
    memories, which are zero."""
    own = model.state_dict()
    out = {}
    for k, v in sd.items():
        name = k[len("module."):] if k.startswith("module.") else k
        if name not in own or own[name].shape == v.shape or ".attn.lmu." not in name:
            out[k] = v
            continue
        new = own[name].clone()
        if name.endswith("W_h.weight"):  # [hidden, K*M + D] from [hidden, M + D]
            d = model.config["dim"]
            m = v.shape[1] - d
            new[:, :m] = v[:, :m]
            new[:, m:new.shape[1] - d] = 0
            new[:, new.shape[1] - d:] = v[:, m:]
        else:  # W_u rows, bn_u / bn_m channels: the old ones first
            new[:v.shape[0]] = v
        out[k] = new
    return out


class SLMU(kws.Arch):
    name = "slmu"

    def add_arguments(self, ap):
        ap.add_argument("--dim", type=int, default=256)
        ap.add_argument("--depth", type=int, default=1)
        ap.add_argument("--memory-size", type=int, default=None, help="default 2*dim (upstream)")
        ap.add_argument("--u-channels", type=int, default=1,
                        help="spike trains into each block's memory, each with a Legendre memory of its own "
                             "(default 1, upstream's model)")
        ap.add_argument("--grow", action="store_true",
                        help="with --init from a checkpoint with fewer blocks than --depth or fewer --u-channels: "
                             "load what it has and start the new blocks as identities (their last BatchNorm / "
                             "conv zero) and the new memories unread (their W_h columns zero), so the grown "
                             "model computes exactly what the checkpoint did before training")

    def build(self, args):
        self.grow = args.grow
        return SpikingLMUFormer(dim=args.dim, depth=args.depth, memory_size=args.memory_size,
                                u_channels=args.u_channels)

    def describe(self, model):
        return "slmu_rnn_ms_conv1d " + super().describe(model)

    def checkpoint(self, model, args):
        sd = upstream_state_dict(model)
        if args.frontend == "logmel":
            return sd  # upstream's format: the plain state dict
        # otherwise the front-end travels with the weights (python3 -m lmusim.convert reads it)
        return {"state_dict": sd, "hyper_parameters": kws.feat.frontend_hparams(args.frontend)}

    def load(self, model, obj):
        if "state_dict" in obj:  # a checkpoint with hyper_parameters (see checkpoint())
            obj = obj["state_dict"]
        if not getattr(self, "grow", False):
            load_upstream(model, obj)
            return
        obj = widen_memory_inputs(model, obj)
        missing, unexpected = load_upstream(model, obj, strict=False)
        new = sorted({int(k.split(".")[1]) for k in missing if k.startswith("block.")})
        if unexpected or any(not k.startswith(tuple(f"block.{i}." for i in new)) for k in missing):
            raise SystemExit(f"--grow: the checkpoint does not fit the model (missing {missing[:4]}..., "
                             f"unexpected {unexpected[:4]}...)")
        with torch.no_grad():
            for i in new:  # x + attn(x) and x + mlp(x) with zero branches: the block is an identity
                blk = model.block[i]
                blk.attn.proj_bn.weight.zero_()
                blk.attn.proj_bn.bias.zero_()
                blk.mlp.fc2_conv.weight.zero_()
                blk.mlp.fc2_conv.bias.zero_()
        print(f"grown: blocks {new} start as identities", flush=True)

    def frame_logits(self, model, x):
        return model(x, mode="frames")

    def firing_rates(self, model, feats):
        return firing_rates(model, feats)


if __name__ == "__main__":
    sys.exit(kws.main(SLMU(), description=__doc__.split("\n")[0]))
