"""lmusim: an event-driven spiking-network simulator (C++), and its Python tools.

Pure-Python parts available without the compiled extension:

* :mod:`lmusim.convert` -- turn an upstream Spiking LMUFormer (``slmu_rnn_ms_conv1d``) PyTorch
  checkpoint into an lmusim model file (docs/model_format.md, docs/converter.md).
"""

__version__ = "0.1.0"
