"""Convert an upstream Spiking LMUFormer checkpoint into an lmusim model file.

Usage::

    python3 -m lmusim.convert CKPT.pth MODEL.h5 [--memory-mode impulse|recurrence]

or, from Python, :func:`convert`.  The input is a PyTorch ``state_dict`` of the timm model
``slmu_rnn_ms_conv1d`` (github.com/zeyuliu1037/LMUFormer), optionally saved from
``DataParallel`` (``module.`` key prefix) and optionally wrapped in a dict under ``"state_dict"``
or ``"model"``.  The output is the HDF5 model file of ``docs/model_format.md`` (a network file,
``docs/network_format.md``, with the LMUFormer node and projection kinds and a ``/meta`` group).
``docs/converter.md`` describes the checks and the error messages.

Safety: the checkpoint is read with :func:`lmusim.safe_load.load`, lmusim's own reader of
``torch.save`` files, which only rebuilds tensors and plain containers (and Lightning's
``AttributeDict``, as a dict); a pickle that names any other class or function is refused before
anything in it runs (docs/converter.md, "Reading checkpoints safely").

This module needs torch, numpy and h5py, but none of lmusim's compiled code.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import Error, __version__
from ._outputs import check_outputs, claim

__all__ = [
    "ConversionError", "ModelConfig", "CLASS_NAMES_35", "MEMORY_MODES", "convert",
    "load_state_dict", "infer_config", "check_state_dict", "main",
]

#: Upstream model name; also the network ``name`` and the ``model`` attribute of the file.
MODEL_NAME = "slmu_rnn_ms_conv1d"
#: One step is one 10 ms feature frame.
DT_MS = 10.0
#: BatchNorm epsilon of every upstream BatchNorm1d (PyTorch's default; not stored in checkpoints).
BN_EPS = 1e-5
#: spikingjelly LIF of the model: tau = 2, v_reset = 0, threshold 1 (0.5 for ``prev_lif``).
LIF_TAU = 2.0
LIF_V_RESET = 0.0
#: Feature normalisation x = (fbank - mean) / std2 (docs/lmuformer.md §1.2 step 4; std2 = 2 * 5.5654526).
FEATURE_MEAN = -6.845978
FEATURE_STD2 = 11.1309052
#: The PCEN front-end (docs/frontend.md): its parameters, and the normalisation of its output
#: (about the mean and twice the std of the clean and noisy training clips' PCEN cells).
PCEN_PARAMS = dict(smooth=0.025, alpha=0.98, delta=2.0, root=0.5, eps=1e-6)
PCEN_FEATURE_MEAN = 0.33
PCEN_FEATURE_STD2 = 1.2
FRONTENDS = ("logmel", "pcen")
#: Network file format written (docs/network_format.md).
FORMAT = "lmusim-network"
FORMAT_VERSION = 1
#: Datasets with more elements than this are chunked and deflate-compressed.
COMPRESS_ABOVE = 4096
#: Accepted values of ``memory_mode`` (the ``mode`` attribute of each ``lmu_memory`` node).
MEMORY_MODES = ("impulse", "recurrence")

#: Speech Commands V2 label of each output index (docs/lmuformer.md §1.1), used when n_class == 35.
CLASS_NAMES_35 = (
    "backward", "follow", "five", "bed", "zero", "on", "learn", "two", "house", "tree", "dog",
    "stop", "seven", "eight", "down", "six", "forward", "cat", "right", "visual", "four", "wow",
    "no", "nine", "off", "three", "left", "marvin", "yes", "up", "sheila", "happy", "bird", "go",
    "one",
)

_BN_PARAMS = ("weight", "bias", "running_mean", "running_var")
_MAX_LISTED = 12  # problems listed in one error message


class ConversionError(ValueError):
    """The checkpoint cannot be converted: unreadable, unsafe, or not an ``slmu_rnn_ms_conv1d``
    state dict (the message names the key, the shape found and the shape expected)."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def _fmt_shape(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("k" if s is None else str(s) for s in shape) + "]"


def file_sha256(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _unwrap(obj: Any, path: str) -> Mapping:
    """The state dict inside what ``torch.load`` returned (raw, or under "state_dict"/"model")."""
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path}: the checkpoint holds a {type(obj).__name__}, expected a "
                              f"state dict (a mapping of parameter names to tensors)")
    for entry in ("state_dict", "model"):
        inner = obj.get(entry)
        if inner is not None:
            if not isinstance(inner, Mapping):
                raise ConversionError(f"{path}: checkpoint entry '{entry}' is a "
                                      f"{type(inner).__name__}, expected a state dict")
            return inner
    return obj


def load_state_dict(path: str) -> "Tuple[OrderedDict[str, Any], Dict[str, str]]":
    """Read ``path`` safely and return ``(state_dict, original_names)``.

    The state dict has any ``module.`` prefix removed; ``original_names`` maps each returned key
    to the key as spelled in the file (for error messages).
    """
    sd, original, _ = load_checkpoint(path)
    return sd, original


def load_checkpoint(path: str) -> "Tuple[OrderedDict[str, Any], Dict[str, str], Any]":
    """:func:`load_state_dict` plus the checkpoint's ``hyper_parameters`` (a Lightning file's;
    None otherwise), from one read of the file."""
    import torch  # local: importing lmusim must not need torch

    from .safe_load import LoadError, RefusedError, load

    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    try:
        obj = load(path, what="checkpoint")
    except RefusedError as e:
        raise ConversionError(
            f"{path}: not a plain state dict / unsafe pickle: it refers to {e.name}. lmusim reads "
            f"only tensors and plain containers; nothing in it was run. Re-save just the weights, "
            f"e.g. torch.save(model.state_dict(), path).") from None
    except LoadError as e:  # corrupt or foreign file; the message starts with the path
        detail = str(e)
        for prefix in (f"{path}: ", "cannot read as a PyTorch file: "):
            if detail.startswith(prefix):
                detail = detail[len(prefix):]
        raise ConversionError(f"{path}: cannot read as a PyTorch checkpoint: {detail}") from None
    raw = _unwrap(obj, path)

    sd: "OrderedDict[str, Any]" = OrderedDict()
    original: Dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConversionError(f"{path}: state-dict key {key!r} is not a string")
        name = key[len("module."):] if key.startswith("module.") else key
        if name in sd:
            raise ConversionError(f"{path}: keys '{original[name]}' and '{key}' both name "
                                  f"'{name}' once the 'module.' prefix is removed")
        if not isinstance(value, torch.Tensor):
            raise ConversionError(f"{path}: key '{key}' holds a {type(value).__name__}, "
                                  f"expected a tensor")
        sd[name] = value
        original[name] = key
    if not sd:
        raise ConversionError(f"{path}: the state dict is empty")
    return sd, original, obj.get("hyper_parameters") if isinstance(obj, Mapping) else None


# ---------------------------------------------------------------------------------------------
# Configuration and checks
# ---------------------------------------------------------------------------------------------

@dataclass
class ModelConfig:
    """Dimensions read from the checkpoint's shapes."""
    dim: int
    memory_size: int
    mlp_hidden: int
    n_class: int
    depth: int
    in_channels: int
    seq_len: int  # columns of the LMU impulse response H
    #: conv name (without ".weight") -> kernel size, for the k-wide patch-embedding convolutions
    kernel_sizes: Dict[str, int] = field(default_factory=dict)
    #: spike trains into each block's memory (rows of W_u), each with a memory of its own;
    #: upstream's model has 1 (``scripts/train_slmu.py --u-channels``)
    u_channels: int = 1

    def describe(self) -> str:
        return (f"dim {self.dim}, memory_size {self.memory_size}, mlp_hidden {self.mlp_hidden}, "
                f"n_class {self.n_class}, depth {self.depth}, in_channels {self.in_channels}"
                + (f", u_channels {self.u_channels}" if self.u_channels != 1 else ""))


_PE_CONVS = ("patch_embed.proj_conv", "patch_embed.proj_conv1", "patch_embed.proj_conv2",
             "patch_embed.proj_conv3", "patch_embed.rpe_conv")


def _shape(sd: Mapping, key: str, names: Mapping[str, str], ndim: int, expected: str) -> tuple:
    """Shape of a key used to infer dimensions; it must exist and have ``ndim`` dimensions."""
    if key not in sd:
        prefix = "module." if any(v.startswith("module.") for v in names.values()) else ""
        raise ConversionError(f"missing key '{prefix}{key}' (expected shape {expected}); "
                              f"needed to infer the model's dimensions")
    shape = tuple(int(s) for s in sd[key].shape)
    if len(shape) != ndim or any(s <= 0 for s in shape):
        raise ConversionError(f"key '{names.get(key, key)}': shape {_fmt_shape(shape)}, "
                              f"expected {expected}")
    return shape


def infer_config(sd: Mapping, names: Optional[Mapping[str, str]] = None) -> ModelConfig:
    """Read the dimensions from the shapes (``sd`` without the ``module.`` prefix).

    dim, in_channels: ``patch_embed.proj_conv.weight`` [dim, in_channels, k];
    depth: the ``block.N.`` indices (0 .. depth-1); memory_size, seq_len:
    ``block.0.attn.lmu.H`` [M, L]; mlp_hidden: ``block.0.mlp.fc1_conv.weight`` [hidden, dim, 1];
    n_class: ``head.weight`` [n_class, dim]; each patch-embedding kernel size from its own
    weight (must be odd); u_channels: ``block.0.attn.lmu.W_u.weight`` [u_channels, dim].
    """
    names = names or {}
    dim, in_channels, _ = _shape(sd, "patch_embed.proj_conv.weight", names, 3,
                                 "[dim, in_channels, k]")
    blocks = set()
    for key in sd:
        m = re.match(r"block\.(\d+)\.", key)
        if m:
            blocks.add(int(m.group(1)))
    if not blocks:
        raise ConversionError("no 'block.N.' keys: the checkpoint has no LMU block (is it an "
                              f"{MODEL_NAME} state dict?)")
    depth = max(blocks) + 1
    missing = sorted(set(range(depth)) - blocks)
    if missing:
        raise ConversionError(f"block indices {sorted(blocks)} are not contiguous from 0: no keys "
                              f"for block.{missing[0]}")
    memory_size, seq_len = _shape(sd, "block.0.attn.lmu.H", names, 2, "[memory_size, seq_len]")
    mlp_hidden = _shape(sd, "block.0.mlp.fc1_conv.weight", names, 3, f"[mlp_hidden, {dim}, 1]")[0]
    n_class = _shape(sd, "head.weight", names, 2, f"[n_class, {dim}]")[0]
    u_channels = _shape(sd, "block.0.attn.lmu.W_u.weight", names, 2, f"[u_channels, {dim}]")[0]
    kernel_sizes = {}
    for conv in _PE_CONVS:
        w = sd.get(conv + ".weight")
        k = int(w.shape[2]) if w is not None and w.dim() == 3 else None
        kernel_sizes[conv] = k if k is not None and k % 2 == 1 else None
    return ModelConfig(dim=int(dim), memory_size=int(memory_size), mlp_hidden=int(mlp_hidden),
                       n_class=int(n_class), depth=depth, in_channels=int(in_channels),
                       seq_len=int(seq_len), kernel_sizes=kernel_sizes, u_channels=int(u_channels))


def _bn_keys(lay: "OrderedDict[str, tuple]", name: str, size: int) -> None:
    for p in _BN_PARAMS:
        lay[f"{name}.{p}"] = (size,)


def expected_layout(cfg: ModelConfig) -> "Tuple[OrderedDict[str, tuple], Dict[str, str]]":
    """Required key -> expected shape (``None`` = any odd kernel size), and the optional keys
    (``num_batches_tracked`` of each BatchNorm, ``fft_H`` of each LMU) -> kind."""
    d, m, hid, l, uc = cfg.dim, cfg.memory_size, cfg.mlp_hidden, cfg.seq_len, cfg.u_channels
    lay: "OrderedDict[str, tuple]" = OrderedDict()
    optional: Dict[str, str] = {}
    pe = "patch_embed."
    ks = cfg.kernel_sizes
    lay[pe + "proj_conv.weight"] = (d, cfg.in_channels, ks.get(pe + "proj_conv"))
    _bn_keys(lay, pe + "proj_bn", d)
    for k in (1, 2, 3):
        lay[pe + f"proj_conv{k}.weight"] = (d, d, ks.get(pe + f"proj_conv{k}"))
        _bn_keys(lay, pe + f"proj_bn{k}", d)
    lay[pe + "rpe_conv.weight"] = (d, d, ks.get(pe + "rpe_conv"))
    for i in range(cfg.depth):
        a, lp, mp = f"block.{i}.attn.", f"block.{i}.attn.lmu.", f"block.{i}.mlp."
        lay[lp + "A"] = (m, m)
        lay[lp + "B"] = (m, 1)
        lay[lp + "H"] = (m, l)
        optional[lp + "fft_H"] = "buffer"
        lay[lp + "W_u.weight"] = (uc, d)
        lay[lp + "W_u.bias"] = (uc,)
        lay[lp + "W_h.weight"] = (d, uc * m + d)
        lay[lp + "W_h.bias"] = (d,)
        _bn_keys(lay, lp + "bn_u", uc)
        _bn_keys(lay, lp + "bn_m", uc * m)
        _bn_keys(lay, lp + "bn_h", d)
        _bn_keys(lay, a + "prev_bn", d)
        lay[a + "proj_conv.weight"] = (d, d, 1)
        lay[a + "proj_conv.bias"] = (d,)
        _bn_keys(lay, a + "proj_bn", d)
        _bn_keys(lay, mp + "fc1_bn", d)
        lay[mp + "fc1_conv.weight"] = (hid, d, 1)
        lay[mp + "fc1_conv.bias"] = (hid,)
        _bn_keys(lay, mp + "fc2_bn", hid)
        lay[mp + "fc2_conv.weight"] = (d, hid, 1)
        lay[mp + "fc2_conv.bias"] = (d,)
    _bn_keys(lay, "head_bn", d)
    lay["head.weight"] = (cfg.n_class, d)
    lay["head.bias"] = (cfg.n_class,)
    for key in list(lay):
        if key.endswith(".running_mean"):
            optional[key[: -len("running_mean")] + "num_batches_tracked"] = "counter"
    return lay, optional


def _shape_matches(found: tuple, expected: tuple) -> bool:
    if len(found) != len(expected):
        return False
    return all((e is None and f % 2 == 1) or f == e for f, e in zip(found, expected))


def check_state_dict(sd: Mapping, cfg: ModelConfig,
                     names: Optional[Mapping[str, str]] = None) -> None:
    """Raise :class:`ConversionError` listing every problem: missing keys, wrong shapes, non-float
    dtypes, NaN/Inf values, negative running variances and unknown keys."""
    import torch

    names = names or {}
    lay, optional = expected_layout(cfg)
    problems: List[str] = []

    prefix = "module." if any(v.startswith("module.") for v in names.values()) else ""

    def nm(key: str) -> str:  # the key as the checkpoint spells (or would spell) it
        return names.get(key, prefix + key)

    for key, expected in lay.items():
        exp = _fmt_shape(expected) + (" with k odd" if None in expected else "")
        if key not in sd:
            problems.append(f"missing key '{nm(key)}' (expected shape {exp})")
            continue
        t = sd[key]
        found = tuple(int(s) for s in t.shape)
        if not _shape_matches(found, expected):
            problems.append(f"key '{nm(key)}': shape {_fmt_shape(found)}, expected {exp}")
            continue
        if not t.is_floating_point():
            problems.append(f"key '{nm(key)}': dtype {str(t.dtype).replace('torch.', '')}, "
                            f"expected a floating-point tensor")
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            bad = int((~finite).sum())
            what = "NaN" if bool(torch.isnan(t).any()) else "Inf"
            problems.append(f"key '{nm(key)}': {bad} non-finite value(s) ({what}), expected "
                            f"finite weights")
            continue
        if key.endswith(".running_var") and bool((t < 0).any()):
            problems.append(f"key '{nm(key)}': negative running variance "
                            f"{float(t.min()):g}, expected >= 0")
    unknown = [k for k in sd if k not in lay and k not in optional]
    if unknown:
        listed = ", ".join(f"'{nm(k)}' {_fmt_shape(tuple(sd[k].shape))}"
                           for k in unknown[:_MAX_LISTED])
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        problems.append(f"unexpected key(s) not part of {MODEL_NAME}: {listed}{more}")
    if problems:
        head = (f"the checkpoint does not match {MODEL_NAME} with {cfg.describe()} "
                f"(inferred from its shapes): {len(problems)} problem(s)")
        lines = problems[:_MAX_LISTED]
        if len(problems) > _MAX_LISTED:
            lines.append(f"... and {len(problems) - _MAX_LISTED} more")
        raise ConversionError(head + "\n  - " + "\n  - ".join(lines))


# ---------------------------------------------------------------------------------------------
# The graph (docs/model_format.md, "The graph the converter writes")
# ---------------------------------------------------------------------------------------------

@dataclass
class _Obj:
    """A node or projection to write: its attributes and datasets, in order."""
    name: str
    attrs: "OrderedDict[str, Any]"
    data: "OrderedDict[str, np.ndarray]" = field(default_factory=OrderedDict)
    #: wiring, not a trained weight (a channel selector): neither rounded nor counted as trainable
    fixed: bool = False


WEIGHT_FORMATS = ("fp32", "bf16", "int8")
# Where the synaptic weights are (docs/weights.md): projections' "weights" of these kinds and the
# readout's "weight", each with its output channel on the first axis. The LMU memory's A, B, H,
# biases and affines are not synaptic weights and stay fp32.
_SYNAPTIC = {("projection", "dense"), ("projection", "conv1d"), ("projection", "block_diagonal"),
             ("projection", "one_to_one"), ("projection", "conv2d"), ("node", "readout")}


def compress_weights(w: np.ndarray, fmt: str) -> np.ndarray:
    """``w`` float32 with one output channel per row of its first axis, rounded to ``fmt`` and kept
    as float32 (the same rounding as lmusim's C++ pass, core/src/weight_format.cpp, bit for bit):
    bf16 rounds to nearest, ties to even; int8 takes scale s = max|w| / 127 per channel and
    w -> q s with q = round-half-even(w / s), |q| <= 127 (float32 throughout)."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    if fmt == "fp32":
        return w
    if fmt == "bf16":
        u = w.view(np.uint32).astype(np.uint64)
        u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
        r = u.astype(np.uint32).view(np.float32).reshape(w.shape)
        if not np.all(np.isfinite(r)):
            raise ConversionError("a weight overflows bfloat16")
        return r
    if fmt != "int8":
        raise ConversionError(f"weights = {fmt!r}, expected one of {', '.join(WEIGHT_FORMATS)}")
    rows = w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(-1, 1)
    scale = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)[:, None]
    safe = np.where(scale == 0, np.float32(1), scale)
    q = np.clip(np.rint(rows / safe), -127, 127).astype(np.float32)
    out = np.where(scale == 0, rows, q * scale).astype(np.float32)
    return np.ascontiguousarray(out.reshape(w.shape))


def _compress_graph(nodes, projections, fmt: str) -> None:
    """Rounds the synaptic weights of the objects to write (see :func:`compress_weights`)."""
    if fmt == "fp32":
        return
    for what, objs, key in (("node", nodes, "weight"), ("projection", projections, "weights")):
        for obj in objs:
            if (what, obj.attrs.get("kind")) in _SYNAPTIC and key in obj.data and not obj.fixed:
                obj.data[key] = compress_weights(obj.data[key], fmt)


def _f32(t) -> np.ndarray:
    """A tensor as a C-contiguous float32 numpy array (exact for float32 inputs)."""
    return np.ascontiguousarray(t.detach().cpu().to(dtype=_torch().float32).numpy())


def _torch():
    import torch
    return torch


class _GraphBuilder:
    def __init__(self, sd: Mapping, cfg: ModelConfig, memory_mode: str):
        self.sd, self.cfg, self.memory_mode = sd, cfg, memory_mode
        self.nodes: List[_Obj] = []
        self.projections: List[_Obj] = []
        self.sizes: Dict[str, int] = {}
        self.port_sizes: Dict[str, int] = {}  # input port size (input_size where it differs)

    # -- nodes ------------------------------------------------------------------------------
    def _node(self, name: str, kind: str, size: int, **attrs) -> _Obj:
        a = OrderedDict(kind=kind, size=np.uint64(size))
        a.update(attrs)
        obj = _Obj(name, a)
        self.nodes.append(obj)
        self.sizes[name] = size
        self.port_sizes[name] = int(attrs.get("input_size", size))
        return obj

    def input(self, name: str, size: int) -> None:
        self._node(name, "input", size)

    def analog(self, name: str, size: int) -> None:
        self._node(name, "analog", size, affine="none")

    def lif(self, name: str, bn: str, theta: float = 1.0, form: str = "fused",
            channels: Optional[slice] = None) -> None:
        """A discrete LIF whose BatchNorm is ``bn`` (only its ``channels``, if given)."""
        bn_data = self._bn_data(bn, "", channels)
        obj = self._node(name, "discrete_lif", int(bn_data["bn_mean"].shape[0]), tau=np.float32(LIF_TAU),
                         v_threshold=np.float32(theta), v_reset=np.float32(LIF_V_RESET),
                         affine="batch_norm", bn_eps=np.float32(BN_EPS), bn_form=form)
        obj.data.update(bn_data)

    def memory(self, name: str, lmu: str) -> None:
        B = self.sd[lmu + "B"]
        obj = self._node(name, "lmu_memory", int(B.shape[0]),
                         input_size=np.uint64(B.shape[1]), mode=self.memory_mode)
        for k in ("A", "B", "H"):
            obj.data[k] = _f32(self.sd[lmu + k])

    def readout(self, name: str, linear: str) -> None:
        w = self.sd[linear + ".weight"]
        obj = self._node(name, "readout", int(w.shape[0]), input_size=np.uint64(w.shape[1]))
        obj.data["weight"] = _f32(w)
        obj.data["bias"] = _f32(self.sd[linear + ".bias"])

    def _bn_data(self, bn: str, prefix: str, channels: Optional[slice] = None) -> "OrderedDict[str, np.ndarray]":
        sd, c = self.sd, channels if channels is not None else slice(None)
        return OrderedDict([
            (prefix + "bn_mean", _f32(sd[bn + ".running_mean"][c])),
            (prefix + "bn_var", _f32(sd[bn + ".running_var"][c])),
            (prefix + "bn_weight", _f32(sd[bn + ".weight"][c])),
            (prefix + "bn_bias", _f32(sd[bn + ".bias"][c])),
        ])

    # -- projections ------------------------------------------------------------------------
    def _proj(self, name: str, source: str, target: str, kind: str) -> _Obj:
        for node in (source, target):
            if node not in self.sizes:  # a bug in this file, not in the checkpoint
                raise AssertionError(f"projection '{name}': node '{node}' not declared yet")
        obj = _Obj(name, OrderedDict(source=source, target=target, kind=kind,
                                     delay=np.uint32(0), port=np.uint32(0)))
        self.projections.append(obj)
        return obj

    def identity(self, name: str, source: str, target: str) -> None:
        if self.sizes[source] != self.port_sizes[target]:
            raise AssertionError(f"identity '{name}': sizes {self.sizes[source]} and "
                                 f"{self.port_sizes[target]} differ")
        self._proj(name, source, target, "identity")

    def conv1d(self, name: str, source: str, target: str, conv: str) -> None:
        self._proj(name, source, target, "conv1d").data["weights"] = _f32(
            self.sd[conv + ".weight"])

    def dense(self, name: str, source: str, target: str, weight, bias=None) -> _Obj:
        obj = self._proj(name, source, target, "dense")
        w = _f32(weight)
        if w.ndim == 3:  # a 1x1 Conv1d [out, in, 1] is a dense [out, in]
            w = np.ascontiguousarray(w[:, :, 0])
        obj.data["weights"] = w
        if bias is not None:
            obj.data["bias"] = _f32(bias)
        return obj

    # -- the model --------------------------------------------------------------------------
    def build(self) -> None:
        sd, cfg = self.sd, self.cfg
        m = cfg.memory_size
        pe = "patch_embed."
        self.input("input", cfg.in_channels)
        self.lif(pe + "proj_lif", pe + "proj_bn")
        self.conv1d(pe + "proj_conv", "input", pe + "proj_lif", pe + "proj_conv")
        self.lif(pe + "proj_lif1", pe + "proj_bn1")
        self.conv1d(pe + "proj_conv1", pe + "proj_lif", pe + "proj_lif1", pe + "proj_conv1")
        self.lif(pe + "proj_lif2", pe + "proj_bn2")
        self.conv1d(pe + "proj_conv2", pe + "proj_lif1", pe + "proj_lif2", pe + "proj_conv2")
        self.analog(pe + "x_c", cfg.dim)
        self.conv1d(pe + "proj_conv3", pe + "proj_lif2", pe + "x_c", pe + "proj_conv3")
        self.lif(pe + "proj_lif3", pe + "proj_bn3")
        self.identity(pe + "x_c->proj_lif3", pe + "x_c", pe + "proj_lif3")
        self.analog("x0", cfg.dim)
        self.identity(pe + "x_c->x0", pe + "x_c", "x0")
        self.conv1d(pe + "rpe_conv", pe + "proj_lif3", "x0", pe + "rpe_conv")
        for i in range(cfg.depth):
            a, lp, mp = f"block.{i}.attn.", f"block.{i}.attn.lmu.", f"block.{i}.mlp."
            x_in, x_mid, x_out = f"x{2 * i}", f"x{2 * i + 1}", f"x{2 * i + 2}"
            self.lif(a + "prev_lif", a + "prev_bn", theta=0.5)
            self.identity(a + "x->prev_lif", x_in, a + "prev_lif")
            self.lif(lp + "u_lif", lp + "bn_u")
            self.dense(lp + "W_u", a + "prev_lif", lp + "u_lif", sd[lp + "W_u.weight"],
                       sd[lp + "W_u.bias"])
            k = cfg.u_channels
            sfx = [f".{c}" if k > 1 else "" for c in range(k)]
            for c in range(k):
                # upstream (k = 1): one memory; k channels: memory.c / m_lif.c read u_lif's spike c
                mem, mlif = lp + "memory" + sfx[c], lp + "m_lif" + sfx[c]
                self.memory(mem, lp)
                if k == 1:
                    self.identity(lp + "u_lif->memory", lp + "u_lif", mem)
                else:  # picks spike c: weight 1 on it, 0 elsewhere (the sum is exact)
                    self.dense(f"{lp}u_lif->memory{sfx[c]}", lp + "u_lif", mem, _torch().eye(k)[c:c + 1]).fixed = True
                self.lif(mlif, lp + "bn_m", form="unfused", channels=slice(c * m, (c + 1) * m))
                self.identity(f"{lp}memory->m_lif{sfx[c]}", mem, mlif)
            self.lif(lp + "h_lif", lp + "bn_h", form="unfused")
            w_h = sd[lp + "W_h.weight"]
            for c in range(k):
                self.dense(lp + "W_h.m" + sfx[c], lp + "m_lif" + sfx[c], lp + "h_lif", w_h[:, c * m:(c + 1) * m],
                           sd[lp + "W_h.bias"] if c == 0 else None)
            self.dense(lp + "W_h.x", a + "prev_lif", lp + "h_lif", w_h[:, k * m:])
            self.analog(x_mid, cfg.dim)
            self.identity(a + "x->x", x_in, x_mid)
            proj = self.dense(a + "proj_conv", lp + "h_lif", x_mid, sd[a + "proj_conv.weight"],
                              sd[a + "proj_conv.bias"])
            proj.attrs["post_affine"] = "batch_norm"
            proj.attrs["post_bn_eps"] = np.float32(BN_EPS)
            proj.attrs["post_bn_form"] = "fused"
            proj.data.update(self._bn_data(a + "proj_bn", "post_"))
            self.lif(mp + "fc1_lif", mp + "fc1_bn")
            self.identity(mp + "x->fc1_lif", x_mid, mp + "fc1_lif")
            self.lif(mp + "fc2_lif", mp + "fc2_bn")
            self.dense(mp + "fc1_conv", mp + "fc1_lif", mp + "fc2_lif",
                       sd[mp + "fc1_conv.weight"], sd[mp + "fc1_conv.bias"])
            self.analog(x_out, cfg.dim)
            self.identity(mp + "x->x", x_mid, x_out)
            self.dense(mp + "fc2_conv", mp + "fc2_lif", x_out, sd[mp + "fc2_conv.weight"],
                       sd[mp + "fc2_conv.bias"])
        self.lif("head_lif", "head_bn")
        self.identity("head_lif.input", f"x{2 * cfg.depth}", "head_lif")
        self.readout("head", "head")
        self.identity("head.input", "head_lif", "head")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def _write_attrs(h5obj, attrs: Mapping[str, Any]) -> None:
    import h5py
    for k, v in attrs.items():
        if isinstance(v, str):
            h5obj.attrs.create(k, v, dtype=h5py.string_dtype())
        else:
            h5obj.attrs[k] = v


def _write_data(group, name: str, arr: np.ndarray) -> None:
    if arr.dtype != np.float32:
        raise AssertionError(f"{group.name}/{name}: dtype {arr.dtype}")
    if arr.size > COMPRESS_ABOVE:
        group.create_dataset(name, data=arr, chunks=True, compression="gzip",
                             compression_opts=4)
    else:
        group.create_dataset(name, data=arr)


def _write_network(f, builder, model: str, dt_ms: float, sha256: str, weights: str = "fp32"):
    """Root attributes, nodes and projections of a model file (docs/network_format.md); returns
    the /meta group for the caller to fill. ``weights``: bf16 or int8 rounds the synaptic weights
    first and records it (root attribute ``weights``; absent for fp32)."""
    _compress_graph(builder.nodes, builder.projections, weights)
    _write_attrs(f, OrderedDict([
        ("format", FORMAT),
        ("format_version", np.int64(FORMAT_VERSION)),
        ("lmusim_version", __version__),
        ("name", model),
        ("dt_ms", np.float64(dt_ms)),
        ("model", model),
        ("source_checkpoint_sha256", sha256),
    ] + ([("weights", weights)] if weights != "fp32" else [])))
    for top, objs in (("nodes", builder.nodes), ("projections", builder.projections)):
        grp = f.create_group(top)
        for index, obj in enumerate(objs):
            g = grp.create_group(obj.name)
            _write_attrs(g, OrderedDict([("index", np.uint64(index))] + list(obj.attrs.items())))
            for name, arr in obj.data.items():
                _write_data(g, name, arr)
    return f.create_group("meta")


def _write_file(path: str, builder: _GraphBuilder, cfg: ModelConfig, sha256: str, weights: str,
                frontend: Dict[str, Any]) -> None:
    import h5py
    with h5py.File(path, "w") as f:
        meta = _write_network(f, builder, MODEL_NAME, DT_MS, sha256, weights)
        names = list(CLASS_NAMES_35) if cfg.n_class == len(CLASS_NAMES_35) else \
            [f"class_{k}" for k in range(cfg.n_class)]
        meta.create_dataset("class_names", data=names, dtype=h5py.string_dtype())
        config = meta.create_group("config")
        for k in ("dim", "memory_size", "mlp_hidden", "n_class", "depth", "in_channels") \
                + (("u_channels",) if cfg.u_channels != 1 else ()):
            config.attrs[k] = np.uint64(getattr(cfg, k))
        meta.attrs["input_node"] = "input"
        meta.attrs["output_node"] = "head"
        _write_frontend_attrs(meta, frontend)


def _frontend_of(hparams, explicit: Optional[str], where: str) -> Dict[str, Any]:
    """The audio front-end a checkpoint was trained with: its ``hyper_parameters``' ``frontend``
    (``logmel`` or ``pcen``), ``pcen`` (the five parameters) and ``feature_mean`` / ``feature_std2``
    when it states them, else ``explicit`` (the ``--frontend`` option) with this module's defaults;
    a checkpoint and an option that disagree are an error. ``stated``: whether either said anything."""
    hp = hparams if isinstance(hparams, Mapping) else {}
    stated = hp.get("frontend")
    if stated is not None and stated not in FRONTENDS:
        raise ConversionError(f"{where}: hyper_parameters 'frontend' = {stated!r}: expected one of "
                              f"{', '.join(FRONTENDS)}")
    if stated is not None and explicit is not None and stated != explicit:
        raise ConversionError(f"{where}: the checkpoint says it was trained with the {stated} front-end; "
                              f"--frontend {explicit} contradicts it")
    fe = stated or explicit or "logmel"
    pcen = hp.get("pcen", PCEN_PARAMS) if fe == "pcen" else None
    if pcen is not None and (not isinstance(pcen, Mapping) or set(pcen) != set(PCEN_PARAMS) or
                             not all(isinstance(v, (int, float)) and np.isfinite(v) for v in pcen.values())):
        raise ConversionError(f"{where}: PCEN parameters {pcen!r}: expected finite numbers for exactly "
                              f"{', '.join(PCEN_PARAMS)}")
    out = dict(frontend=fe, pcen=None if pcen is None else {k: float(pcen[k]) for k in PCEN_PARAMS},
               stated=stated is not None or explicit is not None or "feature_mean" in hp or "feature_std2" in hp)
    for key, default in (("feature_mean", PCEN_FEATURE_MEAN if fe == "pcen" else FEATURE_MEAN),
                         ("feature_std2", PCEN_FEATURE_STD2 if fe == "pcen" else FEATURE_STD2)):
        v = hp.get(key, default)
        if not isinstance(v, (int, float)) or not np.isfinite(v) or (key == "feature_std2" and v <= 0):
            raise ConversionError(f"{where}: hyper_parameters '{key}' = {v!r}: expected a finite "
                                  f"number{' > 0' if key == 'feature_std2' else ''}")
        out[key] = float(v)
    return out


def _write_frontend_attrs(meta, fe: Dict[str, Any]) -> None:
    """/meta attributes of the front-end ``fe`` (:func:`_frontend_of`; docs/model_format.md):
    feature_mean, feature_std2, and for PCEN frontend = "pcen" and pcen_<name> (the model loader
    checks their ranges)."""
    meta.attrs["feature_mean"] = np.float32(fe["feature_mean"])
    meta.attrs["feature_std2"] = np.float32(fe["feature_std2"])
    if fe["frontend"] == "pcen":
        meta.attrs["frontend"] = "pcen"
        for k in PCEN_PARAMS:
            meta.attrs["pcen_" + k] = np.float64(fe["pcen"][k])


class _Graph:
    """Nodes and projections of a model other than the Spiking LMUFormer, as written to the file."""

    def __init__(self):
        self.nodes: List[_Obj] = []
        self.projections: List[_Obj] = []
        self.f32 = _f32

    def node(self, name: str, kind: str, size: int, **attrs) -> _Obj:
        obj = _Obj(name, OrderedDict([("kind", kind), ("size", np.uint64(size))] + list(attrs.items())))
        self.nodes.append(obj)
        return obj

    def projection(self, name: str, source: str, target: str, kind: str, delay: int = 0, port: int = 0,
                   **attrs) -> _Obj:
        obj = _Obj(name, OrderedDict([("source", source), ("target", target), ("kind", kind),
                                      ("delay", np.uint32(delay)), ("port", np.uint32(port))] + list(attrs.items())))
        self.projections.append(obj)
        return obj


L2MU_DT_MS = 1.0  # one step per input frame; the L2MU's own bins (5 ms for Braille) are the data's


def _convert_l2mu(ckpt_path: str, out_path: str, sd, names, prefix: str, input_kind: str, overwrite: bool,
                  hparams, weights: str, fe: Dict[str, Any]) -> Dict[str, Any]:
    from . import convert_l2mu as L
    import h5py
    try:
        cfg = L.infer(sd, prefix, names, ConversionError)
    except ConversionError as e:
        raise ConversionError(f"{ckpt_path}: {e}") from None
    graph = _Graph()
    L.build(graph, sd, prefix, cfg, input_kind)
    sha = file_sha256(ckpt_path)
    with claim(out_path, overwrite, inputs=[ckpt_path]) as tmp:
        with h5py.File(tmp, "w") as f:
            meta = _write_network(f, graph, "l2mu", L2MU_DT_MS, sha, weights)
            hp = hparams if isinstance(hparams, Mapping) else {}
            names_hp = hp.get("class_names")
            class_names = [f"class_{k}" for k in range(cfg["classes"])]
            if names_hp is not None:
                if not (isinstance(names_hp, (list, tuple)) and all(isinstance(n, str) for n in names_hp)
                        and len(names_hp) == cfg["classes"]):
                    raise ConversionError(f"{ckpt_path}: hyper_parameters 'class_names': expected a list of "
                                          f"{cfg['classes']} strings (one per output neuron)")
                class_names = list(names_hp)
            meta.create_dataset("class_names", data=class_names, dtype=h5py.string_dtype())
            config = meta.create_group("config")
            for k in ("n_in", "memory_size", "order", "hidden", "classes"):
                config.attrs[k] = np.uint64(cfg[k])
            config.attrs["variant"] = cfg["variant"]
            params = hp.get("params", hp)
            if isinstance(params, Mapping) and isinstance(params.get("theta"), (int, float)):
                config.attrs["theta"] = np.float64(params["theta"])
            meta.attrs["input_node"] = "input"
            meta.attrs["output_node"] = "output"
            # audio models (scripts/train_l2mu.py): the front-end, when the checkpoint states it
            if fe["stated"]:
                _write_frontend_attrs(meta, fe)
    return {
        "out_path": out_path,
        "config": cfg,
        "nodes": [n.name for n in graph.nodes],
        "projections": [p.name for p in graph.projections],
        "trainable_parameters": L.trainable(sd, prefix),
        "sha256": sha,
        "model": "l2mu",
        "weights": weights,
        "frontend": fe["frontend"],
    }


def count_trainable(builder: _GraphBuilder) -> int:
    """Trainable parameters in the converted graph (weights, biases, BN gamma/beta;
    docs/lmuformer.md §2.7)."""
    keep = {"weights", "weight", "bias", "bn_weight", "bn_bias", "post_bn_weight",
            "post_bn_bias"}
    return sum(int(a.size) for o in builder.nodes + builder.projections if not o.fixed
               for k, a in o.data.items() if k in keep)


def convert(ckpt_path: str, out_path: str, memory_mode: str = "impulse", overwrite: bool = False,
            input_kind: str = "spikes", weights: str = "fp32", frontend: Optional[str] = None) -> Dict[str, Any]:
    """Convert checkpoint ``ckpt_path`` into the model file ``out_path``.

    ``out_path`` must not be the checkpoint, and must not exist unless ``overwrite`` (checked
    before anything is read, :class:`lmusim.Error`). The file is written to
    ``out_path + ".partial"`` under a lock and renamed when complete, so a failure never leaves
    a half-written ``out_path`` (an existing ``out_path`` is replaced only on success), and a
    second writer of the same path at the same time is refused (docs/hardening.md).  ``weights``:
    fp32 (default, the checkpoint's values), bf16 or int8 (per-output-channel scale) rounds the
    synaptic weights (docs/weights.md).  ``frontend``: the audio front-end the model was trained
    with, ``logmel`` (upstream's) or ``pcen`` (docs/frontend.md; written to /meta); None (default):
    what the checkpoint's ``hyper_parameters`` state (``frontend``, ``pcen``, ``feature_mean``,
    ``feature_std2``; scripts/train_slmu.py and train_l2mu.py write them), else ``logmel``.
    Returns a summary dict (``config``, ``nodes``, ``projections``, ``trainable_parameters``,
    ``sha256``, ``out_path``, ``frontend``).  Raises :class:`ConversionError` for a
    checkpoint that cannot be converted.
    """
    if memory_mode not in MEMORY_MODES:
        raise ConversionError(f"memory_mode = {memory_mode!r}, expected one of "
                              f"{', '.join(MEMORY_MODES)}")
    ckpt_path, out_path = os.fspath(ckpt_path), os.fspath(out_path)
    check_outputs([out_path], [ckpt_path], overwrite)
    if input_kind not in ("spikes", "values"):
        raise ConversionError(f"input_kind = {input_kind!r}, expected 'spikes' or 'values'")
    if weights not in WEIGHT_FORMATS:
        raise ConversionError(f"weights = {weights!r}, expected one of {', '.join(WEIGHT_FORMATS)}")
    if frontend is not None and frontend not in FRONTENDS:
        raise ConversionError(f"frontend = {frontend!r}, expected one of {', '.join(FRONTENDS)}")
    sd, names, hparams = load_checkpoint(ckpt_path)
    fe = _frontend_of(hparams, frontend, ckpt_path)
    from .convert_l2mu import find_prefix
    prefix = find_prefix(sd)
    if prefix is not None:
        return _convert_l2mu(ckpt_path, out_path, sd, names, prefix, input_kind, overwrite, hparams, weights, fe)
    try:
        cfg = infer_config(sd, names)
        check_state_dict(sd, cfg, names)
    except ConversionError as e:
        raise ConversionError(f"{ckpt_path}: {e}") from None
    builder = _GraphBuilder(sd, cfg, memory_mode)
    builder.build()
    sha = file_sha256(ckpt_path)

    with claim(out_path, overwrite, inputs=[ckpt_path]) as tmp:
        _write_file(tmp, builder, cfg, sha, weights, fe)
    return {
        "out_path": out_path,
        "config": cfg,
        "nodes": [n.name for n in builder.nodes],
        "projections": [p.name for p in builder.projections],
        "trainable_parameters": count_trainable(builder),
        "sha256": sha,
        "weights": weights,
        "frontend": fe["frontend"],
    }


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python3 -m lmusim.convert",
        description=f"Convert an upstream {MODEL_NAME} (Spiking LMUFormer) PyTorch checkpoint "
                    f"into an lmusim model file (docs/model_format.md).")
    ap.add_argument("checkpoint", help="the .pth state dict (raw, or under 'state_dict'/'model')")
    ap.add_argument("output", help="the HDF5 model file to write")
    ap.add_argument("--memory-mode", choices=MEMORY_MODES, default="impulse",
                    help="how lmusim evaluates the LMU memory: 'impulse' (bit-exact with "
                         "upstream's FFT for the first H columns, default) or 'recurrence'")
    ap.add_argument("--input", dest="input_kind", choices=("spikes", "values"), default="spikes",
                    help="L2MU checkpoints: the input is spikes (0/1, event-driven; default, as the Braille "
                         "data) or real values injected as current")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace the output file if it exists (never the checkpoint itself)")
    ap.add_argument("--weights", choices=WEIGHT_FORMATS, default="fp32",
                    help="round the synaptic weights: fp32 (default, as trained), bf16, or int8 with one scale per "
                         "output channel (docs/weights.md); counts are unchanged")
    ap.add_argument("--frontend", choices=FRONTENDS, default=None,
                    help="the audio front-end the model was trained with: logmel (upstream's) or pcen (per-channel "
                         "energy normalisation, docs/frontend.md); default: what the checkpoint's hyper_parameters "
                         "say (scripts/train_slmu.py writes it), else logmel")
    args = ap.parse_args(None if argv is None else list(argv))
    try:
        info = convert(args.checkpoint, args.output, args.memory_mode, overwrite=args.overwrite,
                       input_kind=args.input_kind, weights=args.weights, frontend=args.frontend)
    except (ConversionError, Error) as e:
        print("lmusim.convert: error: " + "; ".join(str(e).splitlines()).replace(":;", ":"), file=sys.stderr)
        return 2
    except OSError as e:
        print("lmusim.convert: error: " + "; ".join(str(e).splitlines()).replace(":;", ":"), file=sys.stderr)
        return 2
    cfg = info["config"]
    if info.get("model") == "l2mu":
        c = info["config"]
        print(f"wrote {info['out_path']}: L2MU ({c['variant']}), inputs {c['n_in']}, memory {c['memory_size']} x order "
              f"{c['order']}, hidden {c['hidden']}, classes {c['classes']}; {len(info['nodes'])} nodes, "
              f"{len(info['projections'])} projections, {info['trainable_parameters']:,} trainable parameters"
              + (f", {args.weights} weights" if args.weights != "fp32" else ""))
        return 0
    print(f"wrote {info['out_path']}: {MODEL_NAME}, {cfg.describe()}; "
          f"{len(info['nodes'])} nodes, {len(info['projections'])} projections, "
          f"{info['trainable_parameters']:,} trainable parameters, memory mode {args.memory_mode}"
          + (f", {args.weights} weights" if args.weights != "fp32" else "")
          + (f", {info['frontend']} front-end" if info["frontend"] != "logmel" else ""))
    return 0


class _callable_module(type(sys)):
    """Lets ``lmusim.convert(...)`` call :func:`convert` even after ``import lmusim.convert`` has
    replaced the package attribute with this module."""

    def __call__(self, *args, **kwargs):
        return convert(*args, **kwargs)


sys.modules[__name__].__class__ = _callable_module


if __name__ == "__main__":
    sys.exit(main())
