#!/usr/bin/python3
"""Independent plain-PyTorch reference of the Spiking LMUFormer ``slmu_rnn_ms_conv1d``.

Float32, eval mode, no spikingjelly, no timm.  Section numbers ("§") refer to
``docs/lmuformer.md`` (the model's facts); "numerics" refers to
``docs/numerics.md``.

What is in here
---------------
* :func:`lmu_matrices`, :func:`lmu_H`, :func:`lmu_fft_H`: the LMU buffers of §4.2 / §4.4.
* :func:`make_state_dict`: a random, *calibrated* checkpoint with exactly the upstream keys and
  shapes of §6 (``module.`` prefix by default), whose LIF layers fire at realistic rates.
* :func:`random_features`: plausible normalised log-mel clips (§1.2) incl. the 0.6150423 pad frames.
* :class:`SpikingLMUFormerRef`: the eval-mode forward (§2.2-§2.6, §3) returning logits,
  all_seq frame logits, every LIF's spikes and the block-0 LMU memory.
* :func:`firing_rates`.
* A small CLI (``make-checkpoint``, ``rates``); see ``python3 slmu_reference.py -h``.

How the arithmetic is made to match upstream
--------------------------------------------
The forward replays the upstream code path op for op with the same torch functions *and the same
memory layouts* (``src/blocks/*.py`` at 5debadd), so that PyTorch dispatches to the same kernels:

* convolutions / linears: ``F.conv1d`` / ``F.linear`` on the same contiguous tensors as
  ``nn.Conv1d`` / ``nn.Linear`` upstream;
* BatchNorm (eval): ``F.batch_norm(training=False, eps=1e-5)`` -- the function ``nn.BatchNorm1d``
  calls -- on tensors with upstream's layout.  On the CPU this means (numerics, "Where rounding
  happens") contiguous inputs take ``y = fma(x, a, b')`` with ``a = gamma*invstd``,
  ``b' = fma(-mean, a, beta)``, while ``bn_m`` (input: a slice of the irfft output) and ``bn_h``
  (input: a transposed Linear output) are non-contiguous and take
  ``y = ((x - mean)*invstd)*gamma + beta``.  We do not re-derive these formulas; we make torch take
  the same path.  :func:`bn_eval_explicit` spells both formulas out (FMA emulated in float64) for
  comparison with other implementations;
* LIF (§3.1): ``h = v + (x - v)/2``; ``s = h >= theta``; ``v = s ? 0 : h``, v0 = 0 per clip;
  identical in float32 to spikingjelly's torch and cupy backends for tau = 2, v_reset = 0;
* LMU memory (§4.3): ``rfft(u, n=2N) * fft_H`` -> ``irfft(n=2N)`` -> first N samples, exactly as
  upstream (``memory_mode="fft"``, default).  ``memory_mode="direct"`` computes the causal sum
  ``m[:, t] = sum_{j<=t, u_j=1} H[:, t-j]`` in float64 and rounds to float32 (§4.3, the form that
  numerics found spike-exact against the FFT); ``memory_mode="recurrent"`` is the float32
  recurrence ``m[t] = A m[t-1] + B u[t]`` (§4.3; not spike-exact, numerics).

Validation: on the development machine (torch 1.13.1 CPU, AVX2, OpenBLAS) this reference was run
side by side with the upstream source at 5debadd (``slmu_rnn_ms_conv1d`` under DataParallel,
spikingjelly 0.0.0.0.12 ``MultiStepLIFNode(backend='torch')``, ``functional.reset_net`` between
batches) on checkpoints from :func:`make_state_dict` (dim 256/depth 1 and dim 64/depth 2, 32 clips
each, with and without pad frames): normal-mode logits, all_seq logits and every LIF's spikes
were bit-identical, the state-dict key order/shapes/dtypes equalled upstream's ``state_dict()``
and ``load_state_dict(strict=True)`` accepted them, and A, B, H, fft_H equalled the buffers the
upstream constructor computes.

LIF naming: spikes are keyed by the names used in lmusim (``lmu.u_lif``, ``lmu.m_lif``,
``lmu.h_lif``); upstream's ``SpikingLMUFFTCell`` calls these modules ``f_u``, ``f_m``, ``f_h``
(see :data:`UPSTREAM_LIF_MODULE`).
"""
from __future__ import annotations

import argparse
import math
import re
import sys
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "PAD_VALUE", "BN_EPS", "TARGET_RATES", "lmu_matrices", "lmu_H", "lmu_fft_H", "lif_multistep",
    "bn_eval_explicit", "make_state_dict", "random_features", "SpikingLMUFormerRef",
    "firing_rates", "count_trainable", "lif_layer_names", "UPSTREAM_LIF_MODULE", "main",
]

#: Normalised value of a zero log-mel row, i.e. of every pad frame (§1.2 step 4), as float32.
PAD_VALUE = float(np.float32(0.6150423))
#: BatchNorm epsilon (§3.2).
BN_EPS = 1e-5
#: LIF membrane time constant (§3.1).
LIF_TAU = 2.0
#: Real frames of a full 1 s clip (§1.2 step 2); the remaining frames up to 128 are padding.
CLIP_FRAMES = 98
#: The number of trained steps (200 epochs x 663 batches, §7) used for num_batches_tracked.
NUM_BATCHES_TRACKED = 200 * 663

#: Target fraction of neuron-steps that spike, per LIF (numerics, "Random test checkpoints").  Keys are
#: upstream module paths with the block index replaced by ``{i}``.
TARGET_RATES = OrderedDict([
    ("patch_embed.proj_lif", 0.15),
    ("patch_embed.proj_lif1", 0.12),
    ("patch_embed.proj_lif2", 0.10),
    ("patch_embed.proj_lif3", 0.12),
    ("block.{i}.attn.prev_lif", 0.20),
    ("block.{i}.attn.lmu.u_lif", 0.25),
    ("block.{i}.attn.lmu.m_lif", 0.08),
    ("block.{i}.attn.lmu.h_lif", 0.10),
    ("block.{i}.mlp.fc1_lif", 0.15),
    ("block.{i}.mlp.fc2_lif", 0.06),
    ("head_lif", 0.20),
])

#: lmusim LIF name suffix -> upstream module attribute in ``SpikingLMUFFTCell``.
UPSTREAM_LIF_MODULE = {"lmu.u_lif": "lmu.f_u", "lmu.m_lif": "lmu.f_m", "lmu.h_lif": "lmu.f_h"}

# The LMU constructor hard-codes theta = seq_len = 128 (§2.1, §4.1).
LMU_THETA = 128.0
LMU_SEQ_LEN = 128

_LMU_BUFFERS = ("A", "B", "H", "fft_H")
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


# ---------------------------------------------------------------------------------------------
# LMU matrices (§4.1, §4.2, §4.4)
# ---------------------------------------------------------------------------------------------

def _lmu_continuous(memory_size: int, theta: float) -> Tuple[np.ndarray, np.ndarray]:
    """Continuous-time LMU (A, B) of §4.1 (Voelker 2019 with 1/theta folded in), float64."""
    q = np.arange(memory_size, dtype=np.float64).reshape(-1, 1)
    r = (2 * q + 1) / theta
    i, j = np.meshgrid(q, q, indexing="ij")
    a = r * np.where(i < j, -1, (-1.0) ** (i - j + 1))
    b = r * ((-1.0) ** q)
    return a, b


def lmu_matrices(memory_size: int, theta: float = LMU_THETA, method: str = "auto",
                 dtype: torch.dtype = torch.float32) -> Tuple[torch.Tensor, torch.Tensor]:
    """Discretised LMU matrices (Abar [d, d], Bbar [d, 1]) as float32, §4.2.

    Zero-order hold with dt = 1: the blocks of ``expm([[A, B], [0, 0]])`` computed in float64,
    then cast to float32 (upstream ``LMUFFTCell.stateSpaceMatrices``).

    ``method``: ``"scipy"`` uses ``scipy.signal.cont2discrete(..., method="zoh")`` exactly as
    upstream; ``"torch"`` uses ``torch.linalg.matrix_exp`` on the float64 augmented matrix (the
    same algorithm family; here the float32 results agree to <= 1 ulp); ``"auto"`` prefers scipy
    when importable.  ``dtype=torch.float64`` returns the un-rounded matrices (e.g. for the
    spectral radius check of §4.4, which is ill-conditioned in float32, numerics "Traps").
    """
    a, b = _lmu_continuous(memory_size, theta)
    if method not in ("auto", "scipy", "torch"):
        raise ValueError(f"unknown method {method!r}")
    ad = bd = None
    if method in ("auto", "scipy"):
        try:
            from scipy.signal import cont2discrete  # type: ignore
        except ImportError:
            if method == "scipy":
                raise
        else:
            c = np.ones((1, memory_size))
            d = np.zeros((1,))
            ad, bd, _, _, _ = cont2discrete((a, b, c, d), dt=1.0, method="zoh")
    if ad is None:
        n = memory_size
        em = torch.zeros(n + 1, n + 1, dtype=torch.float64)
        em[:n, :n] = torch.from_numpy(a)
        em[:n, n:] = torch.from_numpy(b)
        ms = torch.linalg.matrix_exp(em)
        ad, bd = ms[:n, :n].numpy(), ms[:n, n:].numpy()
    return (torch.from_numpy(np.ascontiguousarray(ad)).to(dtype),
            torch.from_numpy(np.ascontiguousarray(bd)).to(dtype))


def lmu_H(Abar: torch.Tensor, Bbar: torch.Tensor, n: int = LMU_SEQ_LEN) -> torch.Tensor:
    """Impulse response H [d, n] (H[:, k] = Abar^k Bbar), float32, by upstream's loop (§4.2).

    ``A_i <- I; for t: H_t = A_i @ Bbar; A_i <- Abar @ A_i`` -- float32 matmuls, as in
    ``LMUFFTCell.impulse``.  (BLAS-dependent in the last ulps, §4.2.)
    """
    Abar = Abar.float()
    Bbar = Bbar.float()
    cols = []
    a_i = torch.eye(Abar.shape[0], dtype=torch.float32)
    for _ in range(n):
        cols.append(a_i @ Bbar)
        a_i = Abar @ a_i
    return torch.cat(cols, dim=-1)


def lmu_fft_H(H: torch.Tensor) -> torch.Tensor:
    """``fft_H = rfft(H, n=2*seq_len)`` -> complex64 [d, seq_len+1] (§4.2)."""
    return torch.fft.rfft(H, n=2 * H.shape[-1], dim=-1)


# ---------------------------------------------------------------------------------------------
# Neurons and BatchNorm
# ---------------------------------------------------------------------------------------------

def lif_multistep(x_seq: torch.Tensor, v_threshold: float = 1.0, tau: float = LIF_TAU,
                  return_h: bool = False):
    """Multi-step LIF of §3.1 over a time-first tensor ``x_seq`` [T, ...] (float32).

    ``h[t] = v[t-1] + (x[t] - v[t-1]) / tau``; ``s[t] = h[t] >= v_threshold``;
    ``v[t] = 0 if s[t] else h[t]``; ``v[-1] = 0``.  Returns float32 spikes {0., 1.} shaped like
    ``x_seq`` (and the charged potentials h if ``return_h``).
    """
    v = torch.zeros_like(x_seq[0])
    zero = torch.zeros_like(v)
    spikes = torch.empty_like(x_seq)
    hs = torch.empty_like(x_seq) if return_h else None
    for t in range(x_seq.shape[0]):
        h = v + (x_seq[t] - v) / tau
        s = h >= v_threshold
        spikes[t] = s
        if return_h:
            hs[t] = h
        v = torch.where(s, zero, h)
    return (spikes, hs) if return_h else spikes


def bn_eval_explicit(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, gamma: torch.Tensor,
                     beta: torch.Tensor, path: str = "contiguous", fma: bool = True) -> torch.Tensor:
    """Eval BatchNorm written out in float32 (numerics, "Where rounding happens"), channel dim 1.

    ``path="contiguous"``: ``a = invstd*gamma``, ``b' = fma(-mean, a, beta)``,
    ``y = fma(x, a, b')`` (``fma=False``: separately rounded products/sums).
    ``path="noncontiguous"``: ``y = ((x - mean)*invstd)*gamma + beta``.
    ``invstd = 1/sqrt(var + eps)`` in float32.  An fma is emulated in float64 (the float32
    product is exact in float64; the double rounding that follows is ~never visible).
    """
    shape = [1, -1] + [1] * (x.dim() - 2)
    f32 = torch.float32
    invstd = (1.0 / torch.sqrt(var.to(f32) + torch.tensor(BN_EPS, dtype=f32))).to(f32)
    m, g, b = mean.to(f32), gamma.to(f32), beta.to(f32)
    if path == "noncontiguous":
        return ((x - m.view(shape)) * invstd.view(shape)) * g.view(shape) + b.view(shape)
    if path != "contiguous":
        raise ValueError(path)
    a = invstd * g
    if fma:
        bp = (b.double() - m.double() * a.double()).to(f32)
        return (x.double() * a.double().view(shape) + bp.double().view(shape)).to(f32)
    bp = b - m * a
    return x * a.view(shape) + bp.view(shape)


def lif_layer_names(depth: int = 1) -> List[str]:
    """Upstream module paths of all LIF layers, in forward order."""
    names = []
    for key in TARGET_RATES:
        if "{i}" in key:
            continue
        if key.startswith("patch_embed"):
            names.append(key)
    for i in range(depth):
        names += [k.format(i=i) for k in TARGET_RATES if "{i}" in k]
    names.append("head_lif")
    return names


def _lif_threshold(name: str) -> float:
    """v_threshold of a LIF by module path: 0.5 for prev_lif, else 1.0 (§3.1)."""
    return 0.5 if name.endswith("attn.prev_lif") else 1.0


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

class _Stop(Exception):
    """Raised inside the forward to stop at a given BatchNorm (used by the calibration)."""


class SpikingLMUFormerRef:
    """Eval-mode float32 reference of ``slmu_rnn_ms_conv1d`` (§2), built from a state dict.

    The state dict may carry the DataParallel ``module.`` prefix or not (§6).
    Dimensions are inferred from tensor shapes: ``dim`` and ``in_channels`` from
    ``patch_embed.proj_conv.weight``, ``depth`` from the ``block.{i}`` keys, the memory size and
    ``seq_len`` from ``block.0.attn.lmu.H``, the MLP hidden size from ``fc1_conv`` and ``n_class``
    from ``head.weight``.  The LMU buffers (A, B, H, fft_H) are taken from the state dict, never
    recomputed (§4.2).
    """

    def __init__(self, state_dict: Dict[str, torch.Tensor]):
        sd = OrderedDict()
        for k, v in state_dict.items():
            sd[k[len("module."):] if k.startswith("module.") else k] = v.detach().clone()
        self.sd = sd
        w = sd["patch_embed.proj_conv.weight"]
        self.dim, self.in_channels = int(w.shape[0]), int(w.shape[1])
        blocks = {int(m.group(1)) for k in sd for m in [re.match(r"block\.(\d+)\.", k)] if m}
        self.depth = len(blocks)
        if blocks != set(range(self.depth)):
            raise ValueError(f"non-contiguous block indices {sorted(blocks)}")
        self.memory_size = int(sd["block.0.attn.lmu.H"].shape[0])
        self.seq_len = int(sd["block.0.attn.lmu.H"].shape[1])
        self.hidden = int(sd["block.0.mlp.fc1_conv.weight"].shape[0])
        self.n_class = int(sd["head.weight"].shape[0])
        self.lif_names = lif_layer_names(self.depth)

    # -- small helpers ----------------------------------------------------------------------
    def _bn(self, name: str, x: torch.Tensor, capture: Optional[dict], stop_at: Optional[str]):
        """Eval BatchNorm ``name`` on ``x`` *in the layout given* (see module docstring)."""
        if capture is not None:
            capture[name] = x
        if stop_at == name:
            raise _Stop()
        p = self.sd
        return F.batch_norm(x, p[name + ".running_mean"], p[name + ".running_var"],
                            p[name + ".weight"], p[name + ".bias"], False, 0.0, BN_EPS)

    def _lif(self, name: str, x_seq: torch.Tensor, out: dict, capture: Optional[dict]):
        """Run LIF ``name`` on a time-first tensor; record spikes as uint8 [B, N, C]."""
        if capture is not None:
            capture[name] = x_seq
        s = lif_multistep(x_seq, _lif_threshold(name))
        out[name] = s
        return s

    def _conv(self, name: str, x: torch.Tensor, padding: int) -> torch.Tensor:
        return F.conv1d(x, self.sd[name + ".weight"], self.sd.get(name + ".bias"), 1, padding)

    def _linear(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sd[name + ".weight"], self.sd.get(name + ".bias"))

    # -- LMU memory (§4.3) --------------------------------------------------------------------
    def _memory(self, p: str, u: torch.Tensor, mode: str) -> torch.Tensor:
        """Memory for u [B, N, 1] (binary); returns the upstream-layout slice [B, M, N] of a
        [B, M, 2N] tensor (so ``bn_m`` sees the same non-contiguous input as upstream)."""
        b, n, _ = u.shape
        if mode == "fft":
            fft_H = self.sd[p + "fft_H"]
            if fft_H.shape[-1] != n + 1:
                raise ValueError(f"FFT memory needs N = {fft_H.shape[-1] - 1} frames, got {n} (§5.3)")
            fft_input = u.permute(0, 2, 1)
            fft_u = torch.fft.rfft(fft_input, n=2 * n, dim=-1)
            temp = fft_u * fft_H.unsqueeze(0)
            m = torch.fft.irfft(temp, n=2 * n, dim=-1)
            return m[:, :, :n]
        H = self.sd[p + "H"]
        mdim = H.shape[0]
        if n > H.shape[1]:
            raise ValueError(f"H has only {H.shape[1]} columns for {n} frames")
        full = torch.zeros(b, mdim, 2 * n, dtype=torch.float32)
        if mode == "direct":
            hd = H.double()
            acc = torch.zeros(b, mdim, n, dtype=torch.float64)
            us = u[:, :, 0]
            for bi in range(b):
                for j in torch.nonzero(us[bi] != 0).flatten().tolist():
                    acc[bi, :, j:] += hd[:, : n - j]
            full[:, :, :n] = acc.float()
        elif mode == "recurrent":
            A, Bm = self.sd[p + "A"], self.sd[p + "B"]
            m = torch.zeros(b, mdim, dtype=torch.float32)
            for t in range(n):
                m = m @ A.T + u[:, t, :] @ Bm.T
                full[:, :, t] = m
        else:
            raise ValueError(f"unknown memory_mode {mode!r}")
        return full[:, :, :n]

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x, memory_mode: str = "fft", capture: Optional[dict] = None,
                stop_at: Optional[str] = None) -> dict:
        """Eval forward for features ``x`` [B, N, in_channels] (float32, N = 128 for FFT mode).

        Returns a dict with
          ``logits`` [B, n_class]: Linear per frame, then mean over frames (upstream normal mode,
          §2.6);
          ``frame_logits`` [B, N, n_class]: cumulative mean of head spikes, then Linear (all_seq,
          §2.6); ``frame_logits[:, -1]`` equals ``logits`` up to rounding;
          ``spikes``: LIF module path -> uint8 [B, N, C];
          ``memory`` [B, N, M]: block 0's LMU memory m before ``bn_m``; ``memories``: per block.

        ``capture`` (optional dict) receives every BN input (key: BN path) and LIF input (key:
        LIF path) as used; ``stop_at`` (a BN path) aborts the forward right before that BN and
        returns ``None`` (both used by :func:`make_state_dict`'s calibration).
        """
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.dim() == 4:  # upstream squeezes a singleton channel dim (Conv1d4EBMs.forward)
            x = x.squeeze(1)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"expected [B, N, {self.in_channels}], got {tuple(x.shape)}")
        sp: Dict[str, torch.Tensor] = {}
        memories: Dict[str, torch.Tensor] = {}
        try:
            with torch.no_grad():
                feats = self._features(x, memory_mode, sp, memories, capture, stop_at)
                head_in = self._bn("head_bn", feats, capture, stop_at)
                s_o = self._lif("head_lif", head_in.permute(2, 1, 0).contiguous(), sp, capture)
                s_o = s_o.permute(2, 1, 0).contiguous()  # B, C, N
                # normal mode: Linear per frame, then mean over frames
                logits = self._linear("head", s_o.permute(0, 2, 1).contiguous()).mean(dim=1)
                # all_seq mode (§2.6): cumulative mean of spikes, then Linear
                c = torch.cumsum(s_o.permute(2, 0, 1).contiguous(), dim=0)
                n = c.shape[0]
                c = c / torch.arange(1, n + 1).view(n, 1, 1).float()
                frame_logits = self._linear("head", c).permute(1, 0, 2).contiguous()
        except _Stop:
            return None
        spikes = OrderedDict()
        for name in self.lif_names:
            spikes[name] = sp[name].permute(*self._to_bnc[name]).to(torch.uint8).contiguous()
        return {
            "logits": logits,
            "frame_logits": frame_logits,
            "spikes": spikes,
            "memory": memories["block.0"],
            "memories": memories,
        }

    __call__ = forward

    # time-first layout of each LIF's input -> permutation to [B, N, C]
    @property
    def _to_bnc(self) -> Dict[str, Tuple[int, int, int]]:
        perm = {}
        for name in self.lif_names:
            if name.endswith(("u_lif", "h_lif", "prev_lif")):
                # prev_lif: [N, C, B]; u_lif/h_lif: [N, B, C]
                perm[name] = (2, 0, 1) if name.endswith("prev_lif") else (1, 0, 2)
            else:
                perm[name] = (2, 0, 1)  # [N, C, B]
        return perm

    def _features(self, x, memory_mode, sp, memories, capture, stop_at):
        """Patch embedding (§2.3) and the blocks (§2.4-§2.6) -> residual stream [B, C, N]."""
        bn, lif = (lambda n, t: self._bn(n, t, capture, stop_at)), \
                  (lambda n, t: self._lif(n, t, sp, capture))
        pe = "patch_embed."
        # Conv1d4EBMs.forward
        x = x.permute(0, 2, 1).contiguous()  # B, N, F -> B, F, N
        x = self._conv(pe + "proj_conv", x, 1)
        x = bn(pe + "proj_bn", x).permute(2, 1, 0).contiguous()
        x = lif(pe + "proj_lif", x).permute(2, 1, 0).contiguous()
        x = self._conv(pe + "proj_conv1", x, 1)
        x = bn(pe + "proj_bn1", x).permute(2, 1, 0).contiguous()
        x = lif(pe + "proj_lif1", x).permute(2, 1, 0).contiguous()
        x = self._conv(pe + "proj_conv2", x, 1)
        x = bn(pe + "proj_bn2", x).permute(2, 1, 0).contiguous()
        x = lif(pe + "proj_lif2", x).permute(2, 1, 0).contiguous()
        x = self._conv(pe + "proj_conv3", x, 1)
        x_rpe = x.clone()
        x_rpe = bn(pe + "proj_bn3", x_rpe).permute(2, 1, 0).contiguous()
        x_rpe = lif(pe + "proj_lif3", x_rpe).permute(2, 1, 0).contiguous()
        x_rpe = self._conv(pe + "rpe_conv", x_rpe, 1)
        x = x + x_rpe
        for i in range(self.depth):
            blk = f"block.{i}."
            # Block.forward: x = x + attn(x); x = x + mlp(x)
            x = x + self._slmums(blk + "attn.", x, memory_mode, sp, memories, bn, lif, blk[:-1])
            x = x + self._convffnms(blk + "mlp.", x, bn, lif)
        return x

    def _slmums(self, p, x, memory_mode, sp, memories, bn, lif, blk_name):
        """``SLMUMs.forward`` + ``SpikingLMUFFTCell.forward`` (§2.4)."""
        x = bn(p + "prev_bn", x).permute(2, 1, 0).contiguous()  # B, C, N -> N, C, B
        x = lif(p + "prev_lif", x).permute(2, 0, 1).contiguous()  # N, C, B -> B, N, C
        lp = p + "lmu."
        u_spike = lif(lp + "u_lif", bn(lp + "bn_u", self._linear(lp + "W_u", x).transpose(-1, -2))
                      .permute(2, 0, 1).contiguous())  # [B,N,1]->[B,1,N]->[N,B,1]
        u = u_spike.permute(1, 0, 2).contiguous()  # [B, N, 1]
        m = self._memory(lp, u, memory_mode)  # [B, M, N] slice of [B, M, 2N]
        memories[blk_name] = m.permute(0, 2, 1).contiguous()
        m = lif(lp + "m_lif", bn(lp + "bn_m", m).permute(2, 1, 0).contiguous()).permute(2, 1, 0) \
            .contiguous()
        m = m.permute(0, 2, 1)  # [B, N, M]
        input_h = torch.cat((m, x), dim=-1)
        h = lif(lp + "h_lif", bn(lp + "bn_h", self._linear(lp + "W_h", input_h).transpose(-1, -2))
                .permute(2, 0, 1).contiguous())  # [B,N,H]->[B,H,N]->[N,B,H]
        h = h.permute(1, 0, 2).contiguous()  # [B, N, H]
        x = h.transpose(-1, -2).contiguous()
        x = self._conv(p + "proj_conv", x, 0)
        return bn(p + "proj_bn", x)

    def _convffnms(self, p, x, bn, lif):
        """``ConvFFNMs.forward`` (§2.5)."""
        x = bn(p + "fc1_bn", x).permute(2, 1, 0).contiguous()
        x = lif(p + "fc1_lif", x).permute(2, 1, 0).contiguous()
        x = self._conv(p + "fc1_conv", x, 0)
        x = bn(p + "fc2_bn", x).permute(2, 1, 0).contiguous()
        x = lif(p + "fc2_lif", x).permute(2, 1, 0).contiguous()
        return self._conv(p + "fc2_conv", x, 0)


def firing_rates(spikes: Dict[str, torch.Tensor]) -> "OrderedDict[str, float]":
    """LIF path -> fraction of neuron-steps that spiked (over batch, frames and channels)."""
    return OrderedDict((k, float(v.double().mean())) for k, v in spikes.items())


def count_trainable(state_dict: Dict[str, torch.Tensor]) -> int:
    """Trainable parameter count as in §2.7: everything except BN running statistics,
    ``num_batches_tracked`` and the LMU buffers A, B, H, fft_H."""
    total = 0
    for k, v in state_dict.items():
        leaf = k.rsplit(".", 1)[-1]
        if leaf in ("running_mean", "running_var", "num_batches_tracked"):
            continue
        if ".lmu." in k and leaf in _LMU_BUFFERS:
            continue
        total += v.numel()
    return total


# ---------------------------------------------------------------------------------------------
# Random features (§1.2)
# ---------------------------------------------------------------------------------------------

def _smooth(a: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """Gaussian smoothing along ``axis`` with reflect padding (plain float64 numpy, so the
    result does not depend on a BLAS/FFT library)."""
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    ap = np.pad(a, pad, mode="reflect")
    out = np.zeros_like(a)
    n = a.shape[axis]
    for i, w in enumerate(k):
        out += w * np.take(ap, np.arange(i, i + n), axis=axis)
    return out


def random_features(n_clips: int, frames: int = 128, seed: int = 0, n_mels: int = 128,
                    n_pad: Optional[int] = None) -> torch.Tensor:
    """Plausible normalised log-mel features, float32 [n_clips, frames, n_mels] (§1.2).

    Smooth random values (Gaussian-smoothed noise, sigma 2 frames x 3 mel bins) plus a spectral
    tilt, a per-clip loudness envelope and per-clip offset, scaled to mean ~0 and std ~0.5 over
    the real frames; the last ``n_pad`` frames (default ``frames - 98``: a 1 s clip padded to
    ``frames``, §1.2 step 3) are the pad value 0.6150423.  Deterministic for a given seed.
    """
    if n_pad is None:
        n_pad = max(0, frames - CLIP_FRAMES)
    n_real = frames - n_pad
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_clips, frames, n_mels))
    x = _smooth(_smooth(noise, 1, 2.0), 2, 3.0)
    x /= x.std()
    tilt = np.linspace(0.4, -0.4, n_mels)[None, None, :]
    env = _smooth(rng.standard_normal((n_clips, frames, 1)), 1, 6.0)
    env /= env.std() + 1e-12
    offset = 0.1 * rng.standard_normal((n_clips, 1, 1))
    x = 0.4 * x + tilt + 0.25 * env + offset
    real = x[:, :n_real]
    if n_real > 0:
        x = (x - real.mean()) / (real.std() + 1e-12) * 0.5
    x[:, n_real:, :] = PAD_VALUE
    return torch.from_numpy(x.astype(np.float32))


# ---------------------------------------------------------------------------------------------
# Random calibrated checkpoints (§6)
# ---------------------------------------------------------------------------------------------

def _state_dict_layout(dim: int, hidden: int, memory_size: int, n_class: int, depth: int,
                       in_channels: int, seq_len: int) -> "OrderedDict[str, Tuple]":
    """Key -> (shape, dtype) in upstream ``state_dict()`` order (§6; module registration
    order of ``ConvLMU``/``Conv1d4EBMs``/``SLMUMs``/``SpikingLMUFFTCell``/``ConvFFNMs``)."""
    lay: "OrderedDict[str, Tuple]" = OrderedDict()
    f32, i64, c64 = torch.float32, torch.int64, torch.complex64

    def bn(name, c):
        for f in _BN_FIELDS:
            lay[f"{name}.{f}"] = ((), i64) if f == "num_batches_tracked" else ((c,), f32)

    pe = "patch_embed."
    lay[pe + "proj_conv.weight"] = ((dim, in_channels, 3), f32)
    bn(pe + "proj_bn", dim)
    for k in (1, 2, 3):
        lay[pe + f"proj_conv{k}.weight"] = ((dim, dim, 3), f32)
        bn(pe + f"proj_bn{k}", dim)
    lay[pe + "rpe_conv.weight"] = ((dim, dim, 3), f32)
    for i in range(depth):
        lp = f"block.{i}.attn.lmu."
        lay[lp + "A"] = ((memory_size, memory_size), f32)
        lay[lp + "B"] = ((memory_size, 1), f32)
        lay[lp + "H"] = ((memory_size, seq_len), f32)
        lay[lp + "fft_H"] = ((memory_size, seq_len + 1), c64)
        lay[lp + "W_u.weight"] = ((1, dim), f32)
        lay[lp + "W_u.bias"] = ((1,), f32)
        lay[lp + "W_h.weight"] = ((dim, memory_size + dim), f32)
        lay[lp + "W_h.bias"] = ((dim,), f32)
        bn(lp + "bn_u", 1)
        bn(lp + "bn_m", memory_size)
        bn(lp + "bn_h", dim)
        ap = f"block.{i}.attn."
        bn(ap + "prev_bn", dim)
        lay[ap + "proj_conv.weight"] = ((dim, dim, 1), f32)
        lay[ap + "proj_conv.bias"] = ((dim,), f32)
        bn(ap + "proj_bn", dim)
        mp = f"block.{i}.mlp."
        bn(mp + "fc1_bn", dim)
        lay[mp + "fc1_conv.weight"] = ((hidden, dim, 1), f32)
        lay[mp + "fc1_conv.bias"] = ((hidden,), f32)
        bn(mp + "fc2_bn", hidden)
        lay[mp + "fc2_conv.weight"] = ((dim, hidden, 1), f32)
        lay[mp + "fc2_conv.bias"] = ((dim,), f32)
    bn("head_bn", dim)
    lay["head.weight"] = ((n_class, dim), f32)
    lay["head.bias"] = ((n_class,), f32)
    return lay


def _grid_perturb(x: torch.Tensor, step, g: torch.Generator) -> torch.Tensor:
    """Round to a multiple of ``step`` (scalar or per-channel tensor), then move every value off
    the grid by a random 0.1-0.4 step in a random direction (numerics "Traps": keeps BN-derived
    offsets off exact, e.g. dyadic, firing boundaries while the grid makes the calibration
    insensitive to last-ulp differences of the statistics)."""
    step = torch.as_tensor(step, dtype=torch.float64)
    q = torch.round(x.double() / step) * step
    mag = 0.1 + 0.3 * torch.rand(x.shape, generator=g, dtype=torch.float64)
    sign = torch.where(torch.rand(x.shape, generator=g) < 0.5, -1.0, 1.0).double()
    return (q + sign * mag * step).float()


def _pow2_step(scale: torch.Tensor) -> torch.Tensor:
    """Per-channel grid step 2^floor(log2(scale)) / 64 (a relative 1/64..1/128 grid)."""
    scale = scale.double().clamp_min(1e-12)
    return torch.pow(2.0, torch.floor(torch.log2(scale))) / 64.0


def _lif_rate(z: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, theta: float) -> float:
    """Spike rate of a LIF driven by ``gamma*z + beta`` (z time-first [T, ..., C])."""
    return float(lif_multistep(z * gamma + beta, theta).mean())


def _bisect_offset(z, gamma, beta, theta, target, lo=-8.0, hi=8.0, iters=22) -> float:
    """Offset b0 such that the LIF rate of ``gamma*z + beta + b0`` ~= target (rate increases
    with b0)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if _lif_rate(z, gamma, beta + mid, theta) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


#: Smallest allowed |h - theta| (relative to theta) for any LIF neuron-step of an all-pad clip.
PAD_MARGIN = 1e-4


def _pad_margin(x_seq: torch.Tensor, theta: float) -> torch.Tensor:
    """Per-channel min |h - theta| over time for LIF input ``x_seq`` [T, C] (one clip)."""
    _, h = lif_multistep(x_seq, theta, return_h=True)
    return (h - theta).abs().amin(dim=0)


def make_state_dict(dim: int = 256, mlp_ratio: float = 4, memory_size: Optional[int] = None,
                    n_class: int = 35, depth: int = 1, in_channels: int = 128,
                    seq_len: int = LMU_SEQ_LEN, seed: int = 0, prefix: str = "module.",
                    n_calib: int = 8, target_rates: Optional[Dict[str, float]] = None,
                    lmu_cache: Optional[dict] = None) -> "OrderedDict[str, torch.Tensor]":
    """A random upstream-format ``slmu_rnn_ms_conv1d`` state dict whose LIFs fire realistically.

    Keys, order, shapes and dtypes follow §6 (``block.{i}`` for ``depth`` blocks; BN
    ``num_batches_tracked`` int64 scalars; LMU buffers A, B, H, complex64 fft_H computed by
    :func:`lmu_matrices`/:func:`lmu_H` with theta = 128, §4.2).  Every key gets ``prefix``.

    Weights: convs ~ U(+-1/sqrt(fan_in)) (PyTorch's default init, §7), Linear layers ~ N(0, s)
    with small random biases.  BatchNorms are calibrated layer by layer in forward order on
    ``n_calib`` clips of :func:`random_features` (seed ``seed + 1``):

    1. running_mean / running_var := per-channel statistics of the BN input (over clips and
       frames), on a relative 1/64 grid, perturbed off the grid (:func:`_grid_perturb`);
    2. for BNs feeding a LIF: per-channel gamma ~ U(0.7, 1.3) * g_layer, beta = small per-channel
       spread + a layer offset found by bisection so that the layer's spike rate matches
       ``target_rates`` (default :data:`TARGET_RATES`); then gamma and beta are put on the 1/64
       grid and perturbed off it;
    3. pad-frame guard (numerics "Traps"): on an all-pad clip (every frame 0.6150423) no
       neuron-step of that LIF may have |h - theta| < PAD_MARGIN * theta; offending channels get
       their beta nudged.
    The LMU ``proj_bn`` (no LIF) gets gamma so its output is ~0.7x the residual stream's std.

    Deterministic for a given seed (torch CPU generator + numpy features; the grid rounding
    absorbs last-ulp differences in the calibration statistics).  ``lmu_cache`` (a dict) may be
    passed to reuse the (memory_size, seq_len) LMU buffers across calls.
    """
    if memory_size is None:
        memory_size = 2 * dim
    hidden = int(dim * mlp_ratio)
    targets = dict(TARGET_RATES)
    if target_rates:
        targets.update(target_rates)
    g = torch.Generator().manual_seed(int(seed))
    lay = _state_dict_layout(dim, hidden, memory_size, n_class, depth, in_channels, seq_len)

    # LMU buffers (shared by all blocks: same memory size, theta, seq_len)
    key = (memory_size, seq_len)
    if lmu_cache is not None and key in lmu_cache:
        A, B, H, fft_H = lmu_cache[key]
    else:
        A, B = lmu_matrices(memory_size, LMU_THETA)
        H = lmu_H(A, B, seq_len)
        fft_H = lmu_fft_H(H)
        if lmu_cache is not None:
            lmu_cache[key] = (A, B, H, fft_H)

    sd: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k, (shape, dtype) in lay.items():
        leaf = k.rsplit(".", 1)[-1]
        if ".lmu." in k and leaf in _LMU_BUFFERS:
            sd[k] = {"A": A, "B": B, "H": H, "fft_H": fft_H}[leaf].clone()
        elif leaf == "num_batches_tracked":
            sd[k] = torch.tensor(NUM_BATCHES_TRACKED, dtype=torch.int64)
        elif leaf == "running_mean" or leaf == "bias" and _is_bn(k, lay):
            sd[k] = torch.zeros(shape)
        elif leaf == "running_var" or leaf == "weight" and _is_bn(k, lay):
            sd[k] = torch.ones(shape)
        elif k.startswith("head."):
            sd[k] = torch.randn(shape, generator=g) * (0.15 if leaf == "weight" else 0.05)
        elif ".W_u." in k or ".W_h." in k:
            sd[k] = torch.randn(shape, generator=g) * (0.02 if leaf == "weight" else 0.01)
        else:  # conv weight / bias: PyTorch default init bound 1/sqrt(fan_in)
            wshape = lay[k.rsplit(".", 1)[0] + ".weight"][0]
            fan_in = wshape[1] * wshape[2]
            bound = 1.0 / math.sqrt(fan_in)
            sd[k] = (torch.rand(shape, generator=g) * 2 - 1) * bound
    for k in sd:
        if sd[k].dtype == torch.float64:
            sd[k] = sd[k].float()

    feats = random_features(n_calib, seq_len, seed=seed + 1, n_mels=in_channels)
    pad_clip = torch.full((1, seq_len, in_channels), PAD_VALUE, dtype=torch.float32)
    batch = torch.cat([feats, pad_clip], 0)
    model = SpikingLMUFormerRef(sd)  # holds its own copy; we update model.sd in place

    def bn_schedule() -> List[Tuple[str, Optional[str]]]:
        sched = [("patch_embed.proj_bn", "patch_embed.proj_lif")]
        sched += [(f"patch_embed.proj_bn{k}", f"patch_embed.proj_lif{k}") for k in (1, 2, 3)]
        for i in range(depth):
            a = f"block.{i}.attn."
            sched += [(a + "prev_bn", a + "prev_lif"), (a + "lmu.bn_u", a + "lmu.u_lif"),
                      (a + "lmu.bn_m", a + "lmu.m_lif"), (a + "lmu.bn_h", a + "lmu.h_lif"),
                      (a + "proj_bn", None),
                      (f"block.{i}.mlp.fc1_bn", f"block.{i}.mlp.fc1_lif"),
                      (f"block.{i}.mlp.fc2_bn", f"block.{i}.mlp.fc2_lif")]
        sched.append(("head_bn", "head_lif"))
        return sched

    def target_for(lif: str) -> float:
        generic = re.sub(r"block\.\d+\.", "block.{i}.", lif)
        return float(targets.get(lif, targets[generic]))

    for bn_name, lif_name in bn_schedule():
        cap: dict = {}
        model.forward(batch, capture=cap, stop_at=bn_name)
        xin = cap[bn_name].float()  # upstream layout [B, C, N]
        xc_cal = xin[:n_calib].permute(1, 0, 2).reshape(xin.shape[1], -1).double()
        mean, var = xc_cal.mean(dim=1), xc_cal.var(dim=1, unbiased=False)
        std = var.clamp_min(1e-8).sqrt()
        # Channels that never vary (e.g. zero input) get var 1 instead of ~0.
        var = torch.where(var < 1e-10, torch.ones_like(var), var)
        std_step = _pow2_step(std)
        rm = _grid_perturb(mean, std_step, g)
        rv = _grid_perturb(var, _pow2_step(var), g).clamp_min(1e-4)
        C = xin.shape[1]
        P = model.sd
        P[bn_name + ".running_mean"] = rm
        P[bn_name + ".running_var"] = rv
        z = F.batch_norm(xin.contiguous(), rm, rv, None, None, False, 0.0, BN_EPS)  # [B, C, N]
        if lif_name is None:
            # LMU output projection: scale to ~0.7x the residual stream's std (per channel).
            res = cap[bn_name.replace("proj_bn", "prev_bn")]
            res_std = float(res[:n_calib].std())
            gamma = res_std * (0.5 + 0.4 * torch.rand(C, generator=g)).double()
            beta = 0.1 * res_std * torch.randn(C, generator=g).double()
            P[bn_name + ".weight"] = _grid_perturb(gamma, 1 / 64, g)
            P[bn_name + ".bias"] = _grid_perturb(beta, 1 / 64, g)
            continue
        theta = _lif_threshold(lif_name)
        z_cal = z[:n_calib].permute(2, 0, 1).contiguous()  # [N, B, C]
        g_layer = 1.0 * theta
        gamma = (g_layer * (0.7 + 0.6 * torch.rand(C, generator=g))).float()
        spread = (0.25 * theta * torch.randn(C, generator=g)).float() if C > 1 \
            else torch.zeros(1)
        b0 = _bisect_offset(z_cal, gamma, spread, theta, target_for(lif_name))
        wq = _grid_perturb(gamma, 1 / 64, g)
        bq = _grid_perturb(spread + b0, 1 / 64, g)
        # pad-frame guard (numerics "Traps"): all-pad clip, every neuron-step off the threshold
        z_pad = z[n_calib].permute(1, 0).contiguous()  # [N, C]
        for _ in range(20):
            bad = _pad_margin(z_pad * wq + bq, theta) < PAD_MARGIN * theta
            if not bool(bad.any()):
                break
            nudge = torch.where(torch.rand(C, generator=g) < 0.5, -1.0, 1.0) * (3 / 256)
            bq = torch.where(bad, bq + nudge, bq)
        else:  # pragma: no cover - practically unreachable
            raise RuntimeError(f"could not move {lif_name} off the pad-frame thresholds")
        P[bn_name + ".weight"] = wq
        P[bn_name + ".bias"] = bq

    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for k in lay:
        v = model.sd[k]
        shape, dtype = lay[k]
        assert tuple(v.shape) == tuple(shape) and v.dtype == dtype, (k, v.shape, v.dtype)
        out[prefix + k] = v.contiguous()
    return out


def _is_bn(key: str, lay: dict) -> bool:
    """True if ``key``'s module is a BatchNorm (it has running statistics)."""
    return key.rsplit(".", 1)[0] + ".running_mean" in lay


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def _print_rates(rates: Dict[str, float], targets: bool = True) -> None:
    for name, r in rates.items():
        generic = re.sub(r"block\.\d+\.", "block.{i}.", name)
        t = TARGET_RATES.get(generic)
        extra = f"   (target {t:.2f})" if targets and t is not None else ""
        print(f"{name:32s} {r:.4f}{extra}")


def main(argv: Optional[Iterable[str]] = None) -> int:
    """``make-checkpoint OUT.pth [--seed S] [--dim D] [--depth K] [--no-prefix]`` or
    ``rates CKPT.pth [--clips N] [--seed S] [--memory-mode fft|direct|recurrent]``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-checkpoint", help="write a random calibrated checkpoint")
    mk.add_argument("out")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--dim", type=int, default=256)
    mk.add_argument("--depth", type=int, default=1)
    mk.add_argument("--n-class", type=int, default=35)
    mk.add_argument("--no-prefix", action="store_true", help="omit the 'module.' key prefix")
    rt = sub.add_parser("rates", help="per-layer firing rates on random features")
    rt.add_argument("ckpt")
    rt.add_argument("--clips", type=int, default=8)
    rt.add_argument("--seed", type=int, default=1234, help="seed of the random features")
    rt.add_argument("--memory-mode", default="fft", choices=["fft", "direct", "recurrent"])
    args = ap.parse_args(None if argv is None else list(argv))

    if args.cmd == "make-checkpoint":
        sd = make_state_dict(dim=args.dim, depth=args.depth, n_class=args.n_class, seed=args.seed,
                             prefix="" if args.no_prefix else "module.")
        torch.save(sd, args.out)
        print(f"wrote {args.out}: {len(sd)} tensors, {count_trainable(sd):,} trainable parameters")
        return 0
    sd = torch.load(args.ckpt, map_location="cpu", weights_only=True)
    model = SpikingLMUFormerRef(sd)
    feats = random_features(args.clips, model.seq_len, seed=args.seed, n_mels=model.in_channels)
    out = model.forward(feats, memory_mode=args.memory_mode)
    _print_rates(firing_rates(out["spikes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
