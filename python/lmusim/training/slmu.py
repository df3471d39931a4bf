"""Trainable PyTorch Spiking LMUFormer, ``slmu_rnn_ms_conv1d`` (docs/lmuformer.md §2, §3).

Plain PyTorch (no spikingjelly, no timm).  Module and parameter names, buffer names and the
registration order are those of upstream (github.com/zeyuliu1037/LMUFormer at 5debadd), so
``state_dict()`` has exactly the keys of docs/lmuformer.md §6; saved with a ``module.`` prefix
(:func:`upstream_state_dict`) it is an upstream checkpoint that ``lmusim.convert`` accepts.

* Every LIF is a multi-step LIF over the frame axis (docs/lmuformer.md §3.1): tau 2,
  decay_input, hard reset to 0, ``detach_reset=True``, threshold 1 (0.5 for ``prev_lif``),
  Heaviside forward and the sigmoid surrogate gradient
  ``alpha*sig(alpha*(h-theta))*(1-sig(...))`` with alpha 4 in the backward pass.  It is
  implemented as one autograd function per layer (a forward loop over
  the 128 frames and a reverse loop for the gradient), much faster on a CPU than letting
  autograd record 128 steps.  The membrane starts at 0 on every call (each forward is
  one clip: upstream calls ``reset_net`` after every batch).
* The forward feeds every BatchNorm, conv and linear the same tensor layouts as upstream
  (``src/blocks/*.py``), so eval-mode outputs are bit-identical to
  ``tests/python/slmu_reference.py``; only the LIFs run on the [B, C, N] (time-last) layout
  instead of upstream's transposed copies, which does not change any value.
* The LIF runs in a small fused C kernel (compiled on first use with ``cc -fopenmp`` and
  called through ctypes; no torch headers needed), with a pure-PyTorch fallback
  (``LMUSIM_LIF_BACKEND=torch`` forces it).  Both give bit-identical spikes.
* The LMU memory is upstream's: registered buffers ``A``, ``B`` (ZOH discretisation with
  ``scipy.signal.cont2discrete``, cast to float32), ``H`` (float32 impulse loop on the CPU)
  and ``fft_H = rfft(H, n=2*seq_len)``; ``m = irfft(rfft(u, 2N) * fft_H)[:N]``.
* BatchNorm1d everywhere (batch statistics in ``train()``, running statistics in ``eval()``).
* Head: ``head_bn`` -> ``head_lif`` -> Linear per frame -> mean over frames (``mode="normal"``)
  or the running (cumulative) mean of the head spikes -> Linear at every frame
  (``mode="all_seq"``, upstream ``test_mode: all_seq``).
* Init as upstream: ``trunc_normal_(std=0.02)`` for every ``nn.Linear`` (``W_u``, ``W_h``,
  ``head``) with zero bias; PyTorch defaults for convs; BN weight 1, bias 0.
"""
from __future__ import annotations

import os
import re
import warnings
from collections import OrderedDict
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn as nn

__all__ = ["MultiStepLIF", "SpikingLMUFFTCell", "SLMUMs", "Conv1d4EBMs", "ConvFFNMs", "Block",
           "SpikingLMUFormer", "lmu_state_space", "upstream_state_dict", "load_upstream",
           "lif_modules", "firing_rates", "lif_time_last", "lif_backend"]

SURROGATE_ALPHA = 4.0
LIF_TAU = 2.0


# ---------------------------------------------------------------------------------------------
# LIF (docs/lmuformer.md §3.1)
# ---------------------------------------------------------------------------------------------

_LIF_C_SRC = r"""
#include <math.h>
#include <stdint.h>

/* Multi-step LIF (tau 2, v_reset 0, hard reset) over the last dim of a contiguous float32
   [R, T] array; one row = one neuron, rows in parallel.  h = v + (x - v) * 0.5f is
   bit-identical to v + (x - v) / 2 (the halving is exact).  h may be NULL. */
void lif_forward(const float* x, float* s, float* h, int64_t R, int64_t T, float th,
                 int nthreads) {
  #pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t r = 0; r < R; ++r) {
    const float* xr = x + r * T;
    float* sr = s + r * T;
    float* hr = h ? h + r * T : 0;
    float v = 0.0f;
    for (int64_t t = 0; t < T; ++t) {
      const float hh = v + (xr[t] - v) * 0.5f;
      const int f = hh >= th;
      sr[t] = f ? 1.0f : 0.0f;
      if (hr) hr[t] = hh;
      v = f ? 0.0f : hh;
    }
  }
}

/* Backward with the sigmoid surrogate sg(h) = a*sig(a(h-th))*(1-sig(a(h-th))) and
   detach_reset:  g[t] = gs[t]*sg(h[t]) + (s[t] ? 0 : 0.5*g[t+1]);  dx[t] = 0.5*g[t]. */
void lif_backward(const float* gs, const float* h, float* gx, int64_t R, int64_t T, float th,
                  float alpha, int nthreads) {
  #pragma omp parallel for schedule(static) num_threads(nthreads)
  for (int64_t r = 0; r < R; ++r) {
    const float* gr = gs + r * T;
    const float* hr = h + r * T;
    float* orow = gx + r * T;
    float gnext = 0.0f;
    for (int64_t t = T - 1; t >= 0; --t) {
      const float hh = hr[t];
      const float sig = 1.0f / (1.0f + expf(-alpha * (hh - th)));
      const float carry = (hh >= th) ? 0.0f : 0.5f * gnext;
      const float g = gr[t] * (alpha * sig * (1.0f - sig)) + carry;
      orow[t] = 0.5f * g;
      gnext = g;
    }
  }
}
"""

_lif_lib = None
_lif_lib_error: Optional[str] = None


def _load_lif_lib():
    """Compile (once; cached in ``$LMUSIM_CACHE`` or ``~/.cache/lmusim``, keyed by the source's
    hash) and load the fused C LIF kernel with ``cc -O2 -fopenmp``, called through ctypes.
    ``LMUSIM_LIF_BACKEND=torch`` skips it; if it cannot be built the pure-PyTorch path is
    used (``LMUSIM_LIF_BACKEND=c`` makes that an error)."""
    global _lif_lib, _lif_lib_error
    if _lif_lib is not None or _lif_lib_error is not None:
        return _lif_lib
    backend = os.environ.get("LMUSIM_LIF_BACKEND", "auto")
    if backend == "torch":
        _lif_lib_error = "disabled by LMUSIM_LIF_BACKEND=torch"
        return None
    try:
        import ctypes
        import hashlib
        import subprocess
        import tempfile
        cache = os.environ.get("LMUSIM_CACHE",
                               os.path.join(os.path.expanduser("~"), ".cache", "lmusim"))
        os.makedirs(cache, exist_ok=True)
        tag = hashlib.sha256(_LIF_C_SRC.encode()).hexdigest()[:16]
        so = os.path.join(cache, f"lif_{tag}.so")
        if not os.path.exists(so):
            cc = os.environ.get("CC", "cc")
            with tempfile.TemporaryDirectory(dir=cache) as td:
                src = os.path.join(td, "lif.c")
                with open(src, "w") as f:
                    f.write(_LIF_C_SRC)
                tmp = os.path.join(td, "lif.so")
                subprocess.run([cc, "-O2", "-fopenmp", "-ffp-contract=off", "-shared", "-fPIC",
                                "-o", tmp, src, "-lm"], check=True, capture_output=True)
                os.replace(tmp, so)
        lib = ctypes.CDLL(so)
        f32p, i64 = ctypes.c_void_p, ctypes.c_int64
        lib.lif_forward.argtypes = [f32p, f32p, f32p, i64, i64, ctypes.c_float, ctypes.c_int]
        lib.lif_forward.restype = None
        lib.lif_backward.argtypes = [f32p, f32p, f32p, i64, i64, ctypes.c_float, ctypes.c_float,
                                     ctypes.c_int]
        lib.lif_backward.restype = None
        _lif_lib = lib
    except Exception as e:  # pragma: no cover - no C compiler
        _lif_lib_error = f"{type(e).__name__}: {e}"
        if backend == "c":
            raise
        warnings.warn(f"lmusim.training.slmu: C LIF kernel unavailable ({_lif_lib_error}); "
                      "using the slower pure-PyTorch LIF")
    return _lif_lib


def lif_backend() -> str:
    """``"c"`` (fused C kernel through ctypes) or ``"torch"`` (pure PyTorch loop)."""
    return "c" if _load_lif_lib() is not None else "torch"


class _LIFFunctionC(torch.autograd.Function):
    """LIF over the last dim of a CPU float32 tensor, fused C forward/backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, v_threshold: float, alpha: float):
        x2 = x.contiguous()
        T = x2.shape[-1]
        R = x2.numel() // max(T, 1)
        need = ctx.needs_input_grad[0]
        s = torch.empty_like(x2)
        h = torch.empty_like(x2) if need else None
        _lif_lib.lif_forward(x2.data_ptr(), s.data_ptr(), h.data_ptr() if need else None,
                             R, T, float(v_threshold), torch.get_num_threads())
        if need:
            ctx.save_for_backward(h)
            ctx.v_threshold, ctx.alpha = v_threshold, alpha
        return s

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor):
        (h,) = ctx.saved_tensors
        gs = grad_s.contiguous()
        gx = torch.empty_like(h)
        T = h.shape[-1]
        _lif_lib.lif_backward(gs.data_ptr(), h.data_ptr(), gx.data_ptr(), h.numel() // T, T,
                              float(ctx.v_threshold), float(ctx.alpha), torch.get_num_threads())
        return gx, None, None


class _LIFFunctionTorch(torch.autograd.Function):
    """Same LIF in plain PyTorch over dim 0 (time-first) with the same surrogate gradient.

    Forward per step (float32, bit-identical to ``v + (x - v) / 2`` of docs/lmuformer.md §3.1, since the
    halving is exact): ``h = v + 0.5*(x - v)``; ``s = h >= theta``; ``v = 0 if s else h``.
    """

    @staticmethod
    def forward(ctx, x_seq: torch.Tensor, v_threshold: float, alpha: float):
        T = x_seq.shape[0]
        hs = torch.empty_like(x_seq)
        v = torch.zeros_like(x_seq[0])
        for t in range(T):
            h = torch.add(v, x_seq[t] - v, alpha=1.0 / LIF_TAU, out=hs[t])  # decay_input
            v = h.masked_fill(h >= v_threshold, 0.0)  # hard reset to v_reset = 0
        spikes = (hs >= v_threshold).to(x_seq.dtype)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(hs, spikes)
            ctx.v_threshold = v_threshold
            ctx.alpha = alpha
        return spikes

    @staticmethod
    def backward(ctx, grad_s: torch.Tensor):
        hs, spikes = ctx.saved_tensors
        sig = torch.sigmoid(ctx.alpha * (hs - ctx.v_threshold))
        # With g[t] = dL/dh[t]:  g[t] = grad_s[t]*sg'(h[t]) + dL/dv[t]*(1 - s[t])  (reset
        # detached),  dL/dv[t] = g[t+1]*(1 - 1/tau),  dL/dx[t] = g[t]/tau.
        a = grad_s * sig * (1.0 - sig) * ctx.alpha
        keep = (1.0 - spikes) * (1.0 - 1.0 / LIF_TAU)
        g = torch.empty_like(a)
        g[-1] = a[-1]
        for t in range(a.shape[0] - 2, -1, -1):
            torch.addcmul(a[t], g[t + 1], keep[t], out=g[t])
        return g.mul_(1.0 / LIF_TAU), None, None


def lif_time_last(x: torch.Tensor, v_threshold: float = 1.0,
                  alpha: float = SURROGATE_ALPHA) -> torch.Tensor:
    """Multi-step LIF of docs/lmuformer.md §3.1 over the LAST dim of ``x`` (e.g. [B, C, N]); spikes, same
    shape, contiguous.  Membrane starts at 0."""
    if x.dtype == torch.float32 and x.device.type == "cpu" and x.numel() > 0 \
            and _load_lif_lib() is not None:
        return _LIFFunctionC.apply(x, v_threshold, alpha)
    s = _LIFFunctionTorch.apply(x.movedim(-1, 0).contiguous(), v_threshold, alpha)
    return s.movedim(0, -1).contiguous()


class MultiStepLIF(nn.Module):
    """spikingjelly ``MultiStepLIFNode(tau=2, detach_reset=True, v_reset=0, surrogate=Sigmoid(4))``.

    Unlike spikingjelly it takes the time (frame) axis LAST, i.e. the [B, C, N] layout the
    convolutions use, which saves upstream's two transposing copies per layer (the result is
    the same: the LIF is element-wise across neurons).  The membrane starts at 0 on every call
    (one call = one batch of whole clips; upstream resets after every batch)."""

    def __init__(self, v_threshold: float = 1.0, tau: float = LIF_TAU,
                 alpha: float = SURROGATE_ALPHA):
        super().__init__()
        if tau != LIF_TAU:
            raise ValueError("only tau = 2 is implemented")
        self.v_threshold = float(v_threshold)
        self.alpha = float(alpha)
        self.record = False
        self.last_rate: Optional[torch.Tensor] = None  # (spike count, element count) if record

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = lif_time_last(x, self.v_threshold, self.alpha)
        if self.record:
            with torch.no_grad():
                self.last_rate = torch.tensor([float(s.sum()), float(s.numel())],
                                              dtype=torch.float64)
        return s

    def extra_repr(self) -> str:
        return f"v_threshold={self.v_threshold}, tau={LIF_TAU}, surrogate=sigmoid(alpha={self.alpha})"


# ---------------------------------------------------------------------------------------------
# LMU (docs/lmuformer.md §2.4, §4)
# ---------------------------------------------------------------------------------------------

def lmu_state_space(memory_size: int, theta: float):
    """Upstream ``LMUFFTCell.stateSpaceMatrices``: ZOH-discretised (A, B), float32 tensors."""
    q = np.arange(memory_size, dtype=np.float64).reshape(-1, 1)
    r = (2 * q + 1) / theta
    i, j = np.meshgrid(q, q, indexing="ij")
    a = r * np.where(i < j, -1, (-1.0) ** (i - j + 1))
    b = r * ((-1.0) ** q)
    c = np.ones((1, memory_size))
    d = np.zeros((1,))
    try:
        from scipy.signal import cont2discrete
        ad, bd, _, _, _ = cont2discrete(system=(a, b, c, d), dt=1.0, method="zoh")
    except ImportError:  # same construction (blocks of expm([[A, B], [0, 0]])) in torch
        n = memory_size
        em = torch.zeros(n + 1, n + 1, dtype=torch.float64)
        em[:n, :n] = torch.from_numpy(a)
        em[:n, n:] = torch.from_numpy(b)
        ms = torch.linalg.matrix_exp(em)
        ad, bd = ms[:n, :n].numpy(), ms[:n, n:].numpy()
    return torch.from_numpy(ad).float(), torch.from_numpy(bd).float()


class SpikingLMUFFTCell(nn.Module):
    """Upstream ``SpikingLMUFFTCell`` (with its parent's buffers); LIFs named f_u, f_m, f_h.

    ``u_channels`` (default 1, upstream's): the memory's input is that many spike trains, each with
    a Legendre memory of its own (the same A, B); the memory output is their concatenation
    [channel 0's M values, channel 1's, ...], so ``bn_m`` and ``f_m`` have ``u_channels * M``
    channels and ``W_h`` reads ``u_channels * M + input_size`` values (not upstream's model)."""

    def __init__(self, input_size: int, hidden_size: int, memory_size: int, seq_len: int = 128,
                 theta: float = 128.0, u_channels: int = 1):
        super().__init__()
        self.hidden_size = hidden_size
        self.memory_size = memory_size
        self.u_channels = u_channels
        self.seq_len = seq_len
        self.theta = theta
        self.W_u = nn.Linear(input_size, u_channels)
        self.W_h = nn.Linear(u_channels * memory_size + input_size, hidden_size)
        A, B = lmu_state_space(memory_size, theta)
        self.register_buffer("A", A)
        self.register_buffer("B", B)
        H = []
        A_i = torch.eye(memory_size)
        for _ in range(seq_len):
            H.append(A_i @ B)
            A_i = A @ A_i
        H = torch.cat(H, dim=-1)
        self.register_buffer("H", H)
        self.register_buffer("fft_H", torch.fft.rfft(H, n=2 * seq_len, dim=-1))
        self.bn_u = nn.BatchNorm1d(u_channels)
        self.f_u = MultiStepLIF()
        self.bn_m = nn.BatchNorm1d(u_channels * memory_size)
        self.f_m = MultiStepLIF()
        self.bn_h = nn.BatchNorm1d(hidden_size)
        self.f_h = MultiStepLIF()
        self.last_memory: Optional[torch.Tensor] = None
        self.keep_memory = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: spikes [B, N, C] -> hidden spikes h [B, hidden, N] (contiguous)."""
        _, seq_len, _ = x.shape
        u = self.f_u(self.bn_u(self.W_u(x).transpose(-1, -2)))  # [B, K, N] spikes (upstream: K = 1)
        fft_u = torch.fft.rfft(u, n=2 * seq_len, dim=-1)
        if self.u_channels == 1:
            m = torch.fft.irfft(fft_u * self.fft_H.unsqueeze(0), n=2 * seq_len, dim=-1)
        else:  # [B, K, 1, F] * [M, F] -> [B, K, M, F] -> [B, K*M, 2N]
            m = torch.fft.irfft(fft_u.unsqueeze(2) * self.fft_H, n=2 * seq_len, dim=-1).flatten(1, 2)
        m = m[:, :, :seq_len]  # [B, K*M, N]
        if self.keep_memory:
            self.last_memory = m.detach().permute(0, 2, 1).contiguous()
        m = self.f_m(self.bn_m(m))  # [B, M, N] spikes
        m = m.permute(0, 2, 1)  # [B, N, M]
        input_h = torch.cat((m, x), dim=-1)
        return self.f_h(self.bn_h(self.W_h(input_h).transpose(-1, -2)))  # [B, hidden, N]


class SLMUMs(nn.Module):
    """Upstream ``SLMUMs``: prev_bn -> prev_lif (0.5) -> spiking LMU cell -> 1x1 conv -> BN."""

    def __init__(self, dim: int, memory_size: Optional[int] = None, seq_len: int = 128,
                 theta: float = 128.0, u_channels: int = 1):
        super().__init__()
        self.dim = dim
        self.hidden_size = dim
        self.memory_size = int(dim * 2.0) if memory_size is None else int(memory_size)
        self.lmu = SpikingLMUFFTCell(dim, self.hidden_size, self.memory_size, seq_len, theta, u_channels)
        self.prev_bn = nn.BatchNorm1d(dim)
        self.prev_lif = MultiStepLIF(v_threshold=0.5)
        self.proj_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prev_lif(self.prev_bn(x)).transpose(1, 2).contiguous()  # B, N, C spikes
        h = self.lmu(x)  # B, C, N
        return self.proj_bn(self.proj_conv(h))


# ---------------------------------------------------------------------------------------------
# Patch embedding, channel mixer, block (docs/lmuformer.md §2.3, §2.5, §2.6)
# ---------------------------------------------------------------------------------------------

class Conv1d4EBMs(nn.Module):
    """Upstream ``Conv1d4EBMs``: 4 convs (k3) with BN+LIF after the first three, and the
    x_c + rpe_conv(LIF(BN(x_c))) "membrane shortcut" output."""

    def __init__(self, in_channels: int = 128, embed_dims: int = 256):
        super().__init__()
        d = embed_dims
        self.proj_conv = nn.Conv1d(in_channels, d, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn = nn.BatchNorm1d(d)
        self.proj_lif = MultiStepLIF()
        self.proj_conv1 = nn.Conv1d(d, d, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn1 = nn.BatchNorm1d(d)
        self.proj_lif1 = MultiStepLIF()
        self.proj_conv2 = nn.Conv1d(d, d, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn2 = nn.BatchNorm1d(d)
        self.proj_lif2 = MultiStepLIF()
        self.proj_conv3 = nn.Conv1d(d, d, kernel_size=3, stride=1, padding=1, bias=False)
        self.proj_bn3 = nn.BatchNorm1d(d)
        self.proj_lif3 = MultiStepLIF()
        self.rpe_conv = nn.Conv1d(d, d, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.squeeze(1)
        x = x.permute(0, 2, 1).contiguous()  # B, N, F -> B, F, N
        x = self.proj_conv(x)
        x = self.proj_lif(self.proj_bn(x))
        x = self.proj_conv1(x)
        x = self.proj_lif1(self.proj_bn1(x))
        x = self.proj_conv2(x)
        x = self.proj_lif2(self.proj_bn2(x))
        x = self.proj_conv3(x)
        x_rpe = self.rpe_conv(self.proj_lif3(self.proj_bn3(x)))
        return x + x_rpe


class ConvFFNMs(nn.Module):
    """Upstream ``ConvFFNMs``: BN -> LIF -> 1x1 conv (dim->hidden) -> BN -> LIF -> 1x1 conv."""

    def __init__(self, in_features: int, hidden_features: int):
        super().__init__()
        self.fc1_bn = nn.BatchNorm1d(in_features)
        self.fc1_lif = MultiStepLIF()
        self.fc1_conv = nn.Conv1d(in_features, hidden_features, kernel_size=1, stride=1)
        self.fc2_bn = nn.BatchNorm1d(hidden_features)
        self.fc2_lif = MultiStepLIF()
        self.fc2_conv = nn.Conv1d(hidden_features, in_features, kernel_size=1, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_conv(self.fc1_lif(self.fc1_bn(x)))
        return self.fc2_conv(self.fc2_lif(self.fc2_bn(x)))


class Block(nn.Module):
    """x <- x + attn(x); x <- x + mlp(x) (real-valued residual stream)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, memory_size: Optional[int] = None,
                 seq_len: int = 128, theta: float = 128.0, u_channels: int = 1):
        super().__init__()
        self.attn = SLMUMs(dim, memory_size, seq_len, theta, u_channels)
        self.mlp = ConvFFNMs(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingLMUFormer(nn.Module):
    """``slmu_rnn_ms_conv1d`` (upstream ``ConvLMU`` with Conv1d4EBMs / SLMUMs / ConvFFNMs and
    the head LIF).  Input: normalised features [B, N=128, in_channels]; output: logits
    [B, n_class] (``mode="normal"``), per-frame running-mean logits [N, B, n_class]
    (``mode="all_seq"``) or each frame's head output [B, N, n_class] (``mode="frames"``, whose
    mean over frames is the ``"normal"`` output)."""

    def __init__(self, dim: int = 256, depth: int = 1, in_channels: int = 128,
                 n_class: int = 35, mlp_ratio: float = 4.0, memory_size: Optional[int] = None,
                 seq_len: int = 128, theta: float = 128.0, u_channels: int = 1):
        super().__init__()
        self.config = dict(dim=dim, depth=depth, in_channels=in_channels, n_class=n_class,
                           mlp_ratio=mlp_ratio,
                           memory_size=int(dim * 2.0) if memory_size is None else memory_size,
                           seq_len=seq_len, theta=theta)
        if u_channels != 1:
            self.config["u_channels"] = u_channels
        self.num_classes = n_class
        self.patch_embed = Conv1d4EBMs(in_channels, dim)
        self.block = nn.ModuleList([Block(dim, mlp_ratio, memory_size, seq_len, theta, u_channels)
                                    for _ in range(depth)])
        self.head_bn = nn.BatchNorm1d(dim)
        self.head_lif = MultiStepLIF()
        self.head = nn.Linear(dim, n_class)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)  # timm trunc_normal_: a=-2, b=2
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return x

    def forward(self, x: torch.Tensor, mode: str = "normal") -> torch.Tensor:
        x = self.forward_features(x)
        x = self.head_lif(self.head_bn(x))  # B, C, N spikes
        if mode == "all_seq":
            x = x.permute(2, 0, 1).contiguous()  # B, C, N -> N, B, C
            x = torch.cumsum(x, dim=0)
            n = x.shape[0]
            x = x / torch.arange(1, n + 1, device=x.device).view(n, 1, 1).float()
            return self.head(x)  # [N, B, n_class]
        if mode not in ("normal", "frames"):
            raise ValueError(f"unknown mode {mode!r}")
        x = self.head(x.permute(0, 2, 1).contiguous())  # B, N, n_class
        return x if mode == "frames" else x.mean(dim=1)


# ---------------------------------------------------------------------------------------------
# Checkpoints and statistics
# ---------------------------------------------------------------------------------------------

def upstream_state_dict(model: nn.Module, prefix: str = "module.") -> "OrderedDict[str, torch.Tensor]":
    """The model's state dict with upstream's DataParallel ``module.`` prefix (docs/lmuformer.md §6)."""
    return OrderedDict((prefix + k, v.detach().clone().cpu()) for k, v in model.state_dict().items())


def load_upstream(model: nn.Module, state_dict: Dict[str, torch.Tensor], strict: bool = True):
    """Load an upstream-format state dict (with or without ``module.``) into ``model``."""
    sd = OrderedDict((k[len("module."):] if k.startswith("module.") else k, v)
                     for k, v in state_dict.items())
    return model.load_state_dict(sd, strict=strict)


#: our module path -> LIF name used by lmusim / slmu_reference (upstream f_u/f_m/f_h renamed).
def from_state_dict(state_dict: Dict[str, torch.Tensor]) -> "SpikingLMUFormer":
    """A model sized from an upstream-format state dict (dim, depth, classes, memory size), with its
    weights loaded; ``{"state_dict": ..., "hyper_parameters": ...}`` checkpoints are unwrapped."""
    sd = state_dict.get("state_dict", state_dict)
    key = next(k for k in sd if k.endswith("head.weight"))
    depth = len({m.group(1) for k in sd for m in [re.search(r"(?:^|\.)block\.(\d+)\.", k)] if m})
    mkey = next(k for k in sd if k.endswith("lmu.A"))
    ukey = next(k for k in sd if k.endswith("lmu.W_u.weight"))
    net = SpikingLMUFormer(dim=sd[key].shape[1], depth=depth, n_class=sd[key].shape[0],
                           memory_size=sd[mkey].shape[0], u_channels=sd[ukey].shape[0])
    load_upstream(net, sd)
    return net


def _lif_display_name(path: str) -> str:
    return path.replace("lmu.f_u", "lmu.u_lif").replace("lmu.f_m", "lmu.m_lif") \
               .replace("lmu.f_h", "lmu.h_lif")


def lif_modules(model: nn.Module) -> "OrderedDict[str, MultiStepLIF]":
    """LIF layers in forward order, keyed by the lmusim / reference names."""
    order = ["patch_embed.proj_lif", "patch_embed.proj_lif1", "patch_embed.proj_lif2",
             "patch_embed.proj_lif3"]
    mods = dict(model.named_modules())
    for i in range(len(model.block)):
        order += [f"block.{i}.attn.prev_lif", f"block.{i}.attn.lmu.f_u",
                  f"block.{i}.attn.lmu.f_m", f"block.{i}.attn.lmu.f_h",
                  f"block.{i}.mlp.fc1_lif", f"block.{i}.mlp.fc2_lif"]
    order.append("head_lif")
    return OrderedDict((_lif_display_name(p), mods[p]) for p in order)


@torch.no_grad()
def firing_rates(model: nn.Module, feats: torch.Tensor, batch_size: int = 128
                 ) -> "OrderedDict[str, float]":
    """Fraction of neuron-steps that spike per LIF layer (eval mode) over ``feats``."""
    lifs = lif_modules(model)
    tot = OrderedDict((k, torch.zeros(2, dtype=torch.float64)) for k in lifs)
    was = model.training
    model.eval()
    for m in lifs.values():
        m.record = True
    try:
        for i in range(0, feats.shape[0], batch_size):
            model(torch.as_tensor(feats[i:i + batch_size], dtype=torch.float32))
            for k, m in lifs.items():
                tot[k] += m.last_rate
    finally:
        for m in lifs.values():
            m.record = False
            m.last_rate = None
        model.train(was)
    return OrderedDict((k, float(v[0] / v[1])) for k, v in tot.items())
