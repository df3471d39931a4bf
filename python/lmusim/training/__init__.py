"""Training-side Python for lmusim: a trainable PyTorch Spiking LMUFormer
(:mod:`lmusim.training.slmu`) and the feature front-end of docs/lmuformer.md §1.2
(:mod:`lmusim.training.features`).

Needs torch (and torchaudio for the features); nothing here uses lmusim's compiled code.
Import the submodules directly, e.g. ``from lmusim.training.slmu import SpikingLMUFormer``.
"""

__all__ = ["slmu", "features"]
