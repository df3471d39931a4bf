#!/usr/bin/python3
"""Train an L2MU keyword spotter (an LMU made of LIF populations, docs/l2mu.md) on the keyword
data of ``scripts/gen_keywords.py``: the same features, the same voice-split train / validation /
test and the same loop as ``scripts/train_slmu.py`` (:mod:`lmusim.training.kws`).

* Model: :class:`lmusim.training.l2mu.L2MU` (``--memory-size`` M, ``--order`` d, ``--hidden`` H,
  ``--theta``), snnTorch-style Leaky neurons with subtractive reset and a learned beta and
  threshold per population, arctan surrogate gradient; the normalised log-mel features (128 per
  10 ms frame, 128 frames) are injected as current; the logits are the output population's spike
  counts over the clip (as the official L2MU), trained with cross-entropy on the counts times
  ``--logit-scale``.
* Checkpoints are Lightning-style dicts (``state_dict`` with ``model.l2mu_cell.*`` keys and
  ``hyper_parameters`` holding the sizes, the class names and the feature normalisation), so
  ``python3 -m lmusim.convert OUT/best_model.pth MODEL.h5 --input values`` makes a model file that
  ``lmusim run MODEL.h5 --input *.wav --stream`` runs on audio.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see scripts/train_slmu.py

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from lmusim.training import features as feat  # noqa: E402
from lmusim.training import kws  # noqa: E402
from lmusim.training import l2mu  # noqa: E402

import torch  # noqa: E402


class L2MUArch(kws.Arch):
    name = "l2mu"
    defaults = dict(batch=64, lr=1e-3, freqm=10, timem=10, clip=1.0)

    def add_arguments(self, ap):
        ap.add_argument("--memory-size", type=int, default=64, help="M: encoder neurons / memory rows")
        ap.add_argument("--order", type=int, default=4, help="d: Legendre orders per memory row")
        ap.add_argument("--hidden", type=int, default=256, help="H: hidden neurons")
        ap.add_argument("--theta", type=float, default=64.0, help="memory window [steps]")
        ap.add_argument("--beta", type=float, default=0.9, help="initial beta of every population")
        ap.add_argument("--threshold", type=float, default=1.0, help="initial threshold of every population")
        ap.add_argument("--surrogate", type=float, nargs=2, default=[0.3183, 1.0], metavar=("HEIGHT", "WIDTH"),
                        help="arctan surrogate gradient HEIGHT / (1 + (pi x / WIDTH)^2)")
        ap.add_argument("--steps", type=int, default=feat.TARGET_LENGTH, help="frames per clip (count_mse)")
        ap.add_argument("--logit-scale", type=float, default=0.5,
                        help="the loss sees the spike counts times this (softmax over counts of up to 128 "
                             "spikes is too sharp to train stably)")

    def build(self, args):
        return l2mu.L2MU(n_in=feat.NUM_MEL_BINS, memory_size=args.memory_size, order=args.order,
                         hidden=args.hidden, classes=len(feat.CLASS_NAMES), theta=args.theta,
                         beta=args.beta, threshold=args.threshold, surrogate=tuple(args.surrogate))

    def checkpoint(self, model, args):
        return l2mu.checkpoint(model, {
            "params": dict(model.config),
            "class_names": list(feat.CLASS_NAMES),
            **feat.frontend_hparams(args.frontend),
        })

    def load(self, model, obj):
        l2mu.load(model, obj)

    def firing_rates(self, model, feats):
        return l2mu.firing_rates(model, feats)

    def loss(self, logits, y, args):
        if args.loss == "count_mse":  # snnTorch's mse_count_loss: rate targets per output neuron
            rate = logits / args.steps
            target = torch.full_like(rate, args.incorrect_rate)
            target[torch.arange(len(y)), y] = args.correct_rate
            return ((rate - target) ** 2).sum(dim=1).mean()
        return super().loss(logits * args.logit_scale, y, args)


if __name__ == "__main__":
    sys.exit(kws.main(L2MUArch(), description=__doc__.split("\n")[0]))
