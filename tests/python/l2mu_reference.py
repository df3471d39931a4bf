#!/usr/bin/python3
"""Independent plain-PyTorch reference of the L2MU (an LMU built of LIF populations).

Papers: Fra et al., ICANN 2024 (arXiv 2407.04076); Leto, Urgese, Macii, Fra, NICE 2025.
Official code: github ``neuromorphic-polito/L2MU-Braille`` (Apache-2.0, HEAD 72344f6), files
``architecture/full_precision/models/snn/backend/l2mu/l2mu_cell.py`` (the cell),
``.../models/snn/l2mu.py`` (the time loop), ``architecture/full_precision/core/lmu/interface.py``
(A, B) and ``nni_suite/network_engine.py`` (the Lightning module).  Neurons: snnTorch 0.9.1
(``requirements.txt``) ``Leaky``; the Synaptic variant follows the HAR-era copy in
``stefbarcio/Spiking-Basecaller-NN`` with the *correct* CuBa equations.  Nothing here imports or
copies that code; the facts are restated below.  Float32, CPU, no snnTorch, no Lightning.

Contents
--------
* :func:`lmu_matrices` -- ``A.weight`` [d, d] and ``B.weight`` [d, 1] computed with the official
  op sequence (float64 numpy -> float32 -> ``/theta`` -> float32 ``torch.matrix_exp``), hence
  bit-identical to the official constructor *on the same torch build*.  float32 matrix_exp is
  build dependent: here (Debian torch 1.13) the result is up to 29 ulps away from the published
  checkpoint's matrices (torch 2.5), which are themselves up to 41 ulps from the correctly rounded
  values.  An engine must use the stored ``A.weight``/``B.weight``, never recompute them.
* :func:`lif_step` -- one snnTorch 0.9.1 Leaky / Synaptic step (``reset_delay=True``) for the
  resets ``subtract``, ``zero``, ``none``.
* :class:`L2MURef` -- the forward pass in three modes: ``"torch"`` (the official arithmetic, op for
  op, BLAS included), ``"sequential"`` (the accumulation contract of the C++ engine, below) and
  ``"grouped"`` (one sequential partial sum per projection, partial sums then added left to right:
  the official expression with a BLAS that sums each dot product in source order).
* :func:`make_state_dict` / :func:`make_hparams` -- random checkpoints with the published keys,
  shapes, dtypes and key order, calibrated to realistic firing rates.
* Writers: :func:`save_plain`, :func:`save_lightning` (Lightning-2.4-style ``.ckpt``),
  :func:`save_dataset` (pickled ``TensorDataset`` like ``data/braille_splitted/ds_val_0.pt``);
  readers for *trusted* files only: :func:`load_checkpoint_trusted`, :func:`load_dataset_trusted`.
* CLI: ``make-checkpoint``, ``make-dataset``, ``run`` (``python3 l2mu_reference.py -h``).

The model (one time step; all state zero at t = 0)
---------------------------------------------------
M = memory_size, d = order, H = hidden_size, C = classes; every weight is an ``nn.Linear``
weight [out, in] (y = x W^T), bias-free except the output::

    x   = in[t]                                              # [n_in]
    u   = LIF_u( e_x x + e_h h + e_m m )                     # h, m from step t-1;   u: [M]
    cm  = reshape(m, (M, d)) @ A.weight^T + u[:, None] @ B.weight^T                  # [M, d]
    m   = flatten(LIF_m(cm))          # row-major: neuron k*d + i is memory row k, order i
    h   = LIF_h( W_x x + W_h h + W_m m )                     # new m, old h;         h: [H]
    o   = LIF_out( W_o h + b_o );   count += o               # o: [C]
    prediction = argmax(count)       # first maximum on ties (torch.argmax)

``A.weight`` is the ZOH-discretised LMU matrix *transposed* (Ad^T; ``B.weight`` = Bd), so row k of
the memory evolves as ``m_k <- m_k Ad + u_k Bd^T`` (as column: ``Ad^T m_k + Bd u_k``).
Spikes carry the value ``graded_spikes_factor`` (1.0 in every known checkpoint).

Neurons (snnTorch 0.9.1, ``reset_delay=True``; b = clamp(beta, 0, 1), a = clamp(alpha, 0, 1);
``r`` = (mem_{t-1} > thr), i.e. the reset is decided by the *previous* membrane)::

    Leaky     subtract: mem = (b*mem + I) - r*thr
              zero:     mem = b*((1 - r)*mem) + I          (= I when r)
              none:     mem = b*mem + I
    Synaptic  syn = a*syn + I ;  mem = b*mem + syn
              subtract: mem = mem - r*thr
              zero:     mem = mem - r*mem                  (= 0 when r; syn is NOT reset)
              none:     (nothing)
    spike:    s = (mem - thr > 0)   (== mem > thr for finite floats)

Note the asymmetry of the zero reset: snnTorch's Leaky zeroes the *old* membrane and then adds
the input, its Synaptic zeroes the *new* membrane.  Every product/sum above is one float32 op.

Accumulation contract of ``mode="sequential"`` (what the C++ engine must do, bit for bit)
----------------------------------------------------------------------------------------------
Each input current is ONE float32 accumulator per target neuron, starting at +0.0f, to which the
terms are added one at a time (``acc = fl(acc + term)``, no FMA, no pairwise/blocked summation),
projection by projection in this order, and within a projection source neuron by source neuron
in ascending index order:

====================  ==========================================================================
population            order of the terms
====================  ==========================================================================
spk_u  [M]            1. e_x: x[j], j = 0..n_in-1       2. e_h: h_{t-1}[j], j = 0..H-1
                      3. e_m: m_{t-1}[j], j = 0..M*d-1  (j = k*d + i, row-major)
spk_m  [M*d]          target k*d+i:  1. A: m_{t-1}[k*d + j], j = 0..d-1, term A.weight[i, j]
                      2. B: u_t[k], term B.weight[i, 0]      (recurrent A first, then B:
                      the official ``A(m) + B(u)``)
spk_h  [H]            1. W_x: x[j]   2. W_h: h_{t-1}[j]   3. W_m: m_t[j]  (the NEW memory)
spk_output [C]        1. output_transformation.weight: h_t[j], j = 0..H-1
                      2. then the bias b_o[c] is added last (as BLAS ``addmm`` does: sum + bias)
====================  ==========================================================================

A term is the weight itself for a spiking source whose value is 1.0 (``graded_spikes_factor``
= 1) and nothing for a silent one.  For real-valued sources (non-binary input x, or
``graded_spikes_factor`` != 1) the term is ``fl(w * value)`` (product rounded to float32, then
added: a float32 GEMV without FMA, ascending source index); zero-valued sources add nothing.
(Adding or skipping a +/-0 term changes at most the sign of a zero, which no spike depends on.)
The populations are updated in the order u, m, h, output within a step.

``mode="torch"`` instead runs the official ops: ``(F.linear(x, e_x) + F.linear(h, e_h)) +
F.linear(m, e_m)`` (likewise for h), ``F.linear(m3, A) + F.linear(u3, B)`` for the memory and
``F.linear(h, W_o, b_o)`` (addmm) for the output.  ``mode="grouped"`` spells that out: one
accumulator per projection (sources ascending, from +0.0f), then ``(p_x + p_h) + p_m``.  For the
memory and the output both groupings coincide (B contributes a single term; the bias is added
last in both), so ``sequential`` and ``grouped`` differ only in the u and h currents.

Measured (Debian torch 1.13.1, netlib reference BLAS 3.11, AVX2): ``torch`` == ``grouped`` bit
for bit (every current of every step on the published checkpoint + ds_val_0: the reference BLAS
sums each dot product in source order, without FMA, and adds the bias after the sum);
``sequential`` differs from them in ~60 % of the u and h currents (by <= 1.4e-6) but flipped no
spike on the published file (280 clips x 256 steps, 15.6 M neuron-steps); on 18 random
calibrated 12-70x7-120-7 checkpoints (leaky/synaptic x subtract/zero/none x 3 seeds, 32 clips x
256 steps each at 10 % input density, 101 M neuron-steps) it flipped 2 spikes: one u neuron of
one clip (Synaptic, subtract) sat 3.6e-7 above threshold under ``torch`` and 1.5e-7 below under
``sequential``, so it fired one step later; nothing downstream changed, no prediction changed.
``torch`` vs ``grouped``: 0 mismatches everywhere.  With an optimised BLAS (OpenBLAS, MKL: blocked
sums, FMA) ``torch`` may differ from both spelled-out modes in rare spikes; use
:func:`compare_modes` to measure.

State-dict layout (the published 7-class checkpoint ``nni_suite/tensorboard/l2mu/full/
checkpoints/best.ckpt``, Lightning 2.4.0, torch 2.5)
-------------------------------------------------------------------------------------------
``model.l2mu_cell.{e_x,e_h,e_m,A,B,W_x,W_h,W_m,output_transformation}.weight``,
``model.l2mu_cell.output_transformation.bias``, then per population in the order
``spk_u, spk_h, spk_m, spk_output``: ``model.l2mu_cell.spk_X.{threshold, beta,
graded_spikes_factor, reset_mechanism_val}`` -- the neurons are owned by the *cell*
(``l2mu_cell.spk_u``), not by the top-level model.  threshold/beta/gsf are float32 scalars
(shape ()), ``reset_mechanism_val`` int64 scalar (0 subtract, 1 zero, 2 none).  Every tensor is
contiguous with its own storage (``B.weight`` [d, 1] has stride (1, 1)).  The Synaptic variant
made here adds ``spk_X.alpha`` after ``beta`` (learned alpha); hyper-parameters
``alpha_spk_X``.  ``L2MURef`` also accepts the Spiking-Basecaller-NN layout (``<p>.e_x`` plain
Parameters, ``<p>.A`` / ``<p>.B`` buffers in the same orientation, no ``.weight``).
Hyper-parameters (``hyper_parameters``, a *plain dict* in the published file, no Lightning
class anywhere in its pickle): ``num_inputs``, ``num_outputs``, ``architecture`` = "L2MU",
``params`` = {lr, batch_size, order, theta, hidden_size, memory_size (sizes as floats: 7.0,
10.0, 120.0, 70.0), beta_spk_{u,h,m,output}, threshold_spk_{u,h,m,output}} (initial values; the
learned ones are in the state dict).
"""
from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
import types
from collections import OrderedDict
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "MODES", "POPULATIONS", "SD_POPULATION_ORDER", "CELL_LINEARS", "RESET_MECHANISMS", "PROJECTION_ORDER",
    "lmu_matrices", "lif_step", "L2MURef", "make_state_dict", "make_hparams", "random_inputs",
    "firing_rates", "spike_totals", "compare_modes", "save_plain", "save_lightning",
    "save_dataset", "load_checkpoint_trusted", "load_dataset_trusted", "fake_lightning_modules",
    "main",
]

#: Forward modes (see the module docstring).
MODES = ("torch", "grouped", "sequential")
#: Populations in evaluation order within a step.
POPULATIONS = ("spk_u", "spk_m", "spk_h", "spk_output")
#: Populations in state-dict (module declaration) order.
SD_POPULATION_ORDER = ("spk_u", "spk_h", "spk_m", "spk_output")
#: The cell's Linear layers in state-dict order.
CELL_LINEARS = ("e_x", "e_h", "e_m", "A", "B", "W_x", "W_h", "W_m", "output_transformation")
#: snnTorch ``SpikingNeuron.reset_dict``.
RESET_MECHANISMS = OrderedDict([("subtract", 0), ("zero", 1), ("none", 2)])
#: Projections feeding each population, in accumulation order (``mode="sequential"``).
PROJECTION_ORDER = OrderedDict([
    ("spk_u", (("e_x", "x"), ("e_h", "h_prev"), ("e_m", "m_prev"))),
    ("spk_m", (("A", "m_prev (same row)"), ("B", "u"))),
    ("spk_h", (("W_x", "x"), ("W_h", "h_prev"), ("W_m", "m"))),
    ("spk_output", (("output_transformation", "h"), ("output_transformation.bias", "1"))),
])

#: Trained values of the published 7-class model (beta, threshold), used as centres for random
#: checkpoints.
TRAINED_BETA_THRESHOLD = {"spk_u": (0.878, 0.171), "spk_h": (0.537, 0.711),
                          "spk_m": (0.221, 0.450), "spk_output": (0.691, 0.241)}
#: Initial hyper-parameters of that model (``hparams.yaml``).
PUBLISHED_INIT = {"spk_u": (0.8, 0.2), "spk_h": (0.45, 0.65), "spk_m": (0.2, 0.4),
                  "spk_output": (0.6000000000000001, 0.15000000000000002)}
#: Synaptic alpha centres for random Synaptic checkpoints (no published trained values).
SYNAPTIC_ALPHA = {"spk_u": 0.6, "spk_h": 0.5, "spk_m": 0.3, "spk_output": 0.6}


# ---------------------------------------------------------------------------------------------
# LMU matrices
# ---------------------------------------------------------------------------------------------

def lmu_continuous(order: int) -> Tuple[np.ndarray, np.ndarray]:
    """Continuous LMU matrices (float64, before 1/theta): ``A[i,j] = (2i+1)*(-1 if i<j else
    (-1)^(i-j+1))``, ``B[i] = (2i+1)*(-1)^i`` (B as a column [d, 1])."""
    q = np.arange(order, dtype=np.float64)
    r = (2.0 * q + 1.0)[:, None]
    i = q[:, None] * np.ones((1, order))
    j = q[None, :] * np.ones((order, 1))
    a = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    b = ((-1.0) ** q)[:, None] * r
    return a, b


def lmu_matrices(order: int, theta: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(A.weight [d, d], B.weight [d, 1])`` as the official ``LMUCore._gen_AB`` computes them.

    Op sequence (each step the same torch op as upstream, so the float32 result is bit-identical
    on the same torch build): float64 A, B -> transposed and cast to float32 (exact: small
    integers) -> divided by ``theta`` (float32 tensor / Python number) -> augmented matrix
    ``E = [[A^T/theta, 0], [B^T/theta, 0]]`` ([d+1, d+1]: ``cat`` along rows then a zero column
    padded on the right) -> ``torch.matrix_exp(E)`` in float32 -> ``A.weight = exp(E)[:d, :d]``
    (= Ad^T) and ``B.weight = exp(E)[d:, :d]`` reshaped to [d, 1] (= Bd).  Returned contiguous.
    ``theta`` is used as given (the published hparams hold 10.0; an int gives the same result).
    """
    d = int(order)
    a, b = lmu_continuous(d)
    base_a = torch.tensor(a.T, dtype=torch.float32)
    base_b = torch.tensor(b.T, dtype=torch.float32)          # [1, d]
    a_s = base_a / theta
    b_s = base_b / theta
    em = F.pad(torch.cat([a_s, b_s], dim=0), (0, b_s.shape[0], 0, 0))
    ms = torch.matrix_exp(em)
    a_w = ms[:d, :d]
    b_w = ms[d:, :d]
    b_w = b_w.reshape(b_w.shape[1], b_w.shape[0])
    return a_w.contiguous().clone(), b_w.contiguous().clone()


# ---------------------------------------------------------------------------------------------
# Neurons
# ---------------------------------------------------------------------------------------------

def lif_step(inp: torch.Tensor, mem: torch.Tensor, beta: torch.Tensor, thr: torch.Tensor,
             reset: str = "subtract", syn: Optional[torch.Tensor] = None,
             alpha: Optional[torch.Tensor] = None, gsf: Union[float, torch.Tensor] = 1.0,
             style: str = "torch"):
    """One snnTorch-0.9.1 neuron step (``reset_delay=True``); returns ``(spk, mem, syn)``.

    Leaky when ``alpha is None`` (``syn`` is passed through), else Synaptic (correct CuBa
    equations).  ``spk`` is the float spike value (``(mem > thr) * gsf``).  ``style="torch"``
    replays snnTorch's op sequence; ``style="explicit"`` writes the same float32 arithmetic as
    selects (the form the C++ engine uses); both give identical spikes and membranes up to the
    sign of zeros.
    """
    if reset not in RESET_MECHANISMS:
        raise ValueError(f"reset must be one of {list(RESET_MECHANISMS)}, got {reset!r}")
    b = beta.clamp(0, 1)
    if style == "torch":
        r = ((mem - thr) > 0).float()                   # mem_reset: heaviside(mem - thr)
        if alpha is None:
            if reset == "zero":
                mem = (1 - r) * mem
                mem = b * mem + inp
            else:
                mem = b * mem + inp
                if reset == "subtract":
                    mem = mem - r * thr
        else:
            syn = alpha.clamp(0, 1) * syn + inp
            mem = b * mem + syn
            if reset == "subtract":
                mem = mem - r * thr
            elif reset == "zero":
                syn = syn - 0 * r
                mem = mem - mem * r
        spk = ((mem - thr) > 0).float() * gsf
        return spk, mem, syn
    if style != "explicit":
        raise ValueError(style)
    r = mem > thr
    if alpha is None:
        new = b * mem + inp
        if reset == "subtract":
            new = torch.where(r, new - thr, new)
        elif reset == "zero":
            new = torch.where(r, inp + 0.0, new)
    else:
        syn = alpha.clamp(0, 1) * syn + inp
        new = b * mem + syn
        if reset == "subtract":
            new = torch.where(r, new - thr, new)
        elif reset == "zero":
            new = torch.where(r, torch.zeros_like(new), new)
    spk = (new > thr).float() * gsf
    return spk, new, syn


# ---------------------------------------------------------------------------------------------
# Loading a state dict
# ---------------------------------------------------------------------------------------------

def _find_prefix(sd: Dict[str, torch.Tensor]) -> Tuple[str, bool]:
    """Cell prefix (e.g. ``model.l2mu_cell.``) and whether weights carry ``.weight``."""
    for k in sd:
        if k.endswith("e_x.weight") and (k == "e_x.weight" or k.endswith(".e_x.weight")):
            return k[: -len("e_x.weight")], True
    for k in sd:
        if k == "e_x" or k.endswith(".e_x"):
            return k[: -len("e_x")], False
    raise KeyError("no '<prefix>e_x.weight' (L2MU-Braille) or '<prefix>e_x' (Basecaller) key")


def _as_param(t: torch.Tensor, natural_shape: Tuple[int, ...], name: str) -> torch.Tensor:
    """A neuron parameter as float32, scalar or reshaped to the population's natural shape."""
    t = t.detach().to(torch.float32)
    if t.numel() == 1:
        return t.reshape(())
    if t.numel() == int(np.prod(natural_shape)):
        return t.reshape(natural_shape).contiguous()
    raise ValueError(f"{name}: {tuple(t.shape)} fits neither a scalar nor {natural_shape}")


class L2MURef:
    """Float32 reference forward of an L2MU checkpoint.

    ``state_dict``: the published layout (any prefix before ``l2mu_cell.``, e.g. ``model.``), a
    whole Lightning checkpoint dict (its ``state_dict`` is used) or the Spiking-Basecaller-NN
    layout.  ``variant``: ``"leaky"`` / ``"synaptic"``; None = synaptic iff ``alpha`` keys exist.
    ``reset``: ``"subtract" | "zero" | "none"`` for all populations, a dict per population, or
    None = each population's ``reset_mechanism_val`` (subtract when absent).  Note that snnTorch
    itself ignores a loaded ``reset_mechanism_val`` (it picks the state function in
    ``__init__``); the official model is constructed with the default ``subtract``.
    ``mode``: default forward mode (``"torch"`` or ``"sequential"``).
    """

    def __init__(self, state_dict, variant: Optional[str] = None,
                 reset: Union[None, str, Dict[str, str]] = None, mode: str = "torch"):
        if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
            state_dict = state_dict["state_dict"]
        sd = state_dict
        p, dotted = _find_prefix(sd)
        self.prefix = p

        def w(name):
            key = p + name + (".weight" if dotted else "")
            return sd[key].detach().to(torch.float32).contiguous()

        self.W = OrderedDict((n, w(n)) for n in CELL_LINEARS if n != "output_transformation")
        self.W["output_transformation"] = sd[p + "output_transformation.weight"].detach().float().contiguous()
        self.b_out = sd[p + "output_transformation.bias"].detach().float().contiguous()
        for bias_name in ("bias_x", "bias_h", "bias_m"):
            if sd.get(p + bias_name) is not None:
                raise NotImplementedError(f"{p + bias_name}: encoder biases are not supported")
        self.M, self.n_in = self.W["e_x"].shape
        self.H = self.W["W_h"].shape[0]
        self.d = self.W["A"].shape[0]
        self.C = self.W["output_transformation"].shape[0]
        self._check_shapes()

        has_alpha = any((p + pop + ".alpha") in sd for pop in POPULATIONS)
        if variant is None:
            variant = "synaptic" if has_alpha else "leaky"
        if variant not in ("leaky", "synaptic"):
            raise ValueError(f"variant must be 'leaky' or 'synaptic', got {variant!r}")
        if variant == "synaptic" and not has_alpha:
            raise KeyError("variant='synaptic' but the state dict has no spk_*.alpha")
        self.variant = variant
        self.sizes = OrderedDict([("spk_u", self.M), ("spk_m", self.M * self.d),
                                  ("spk_h", self.H), ("spk_output", self.C)])
        natural = {"spk_u": (self.M,), "spk_m": (self.M, self.d), "spk_h": (self.H,),
                   "spk_output": (self.C,)}
        self.natural = natural
        self.neuron = OrderedDict()
        for pop in POPULATIONS:
            q = p + pop + "."
            prm = {"beta": _as_param(sd[q + "beta"], natural[pop], q + "beta"),
                   "threshold": _as_param(sd[q + "threshold"], natural[pop], q + "threshold"),
                   "gsf": _as_param(sd.get(q + "graded_spikes_factor", torch.tensor(1.0)),
                                    natural[pop], q + "graded_spikes_factor"),
                   "alpha": (_as_param(sd[q + "alpha"], natural[pop], q + "alpha")
                             if variant == "synaptic" else None)}
            if reset is None:
                rv = sd.get(q + "reset_mechanism_val")
                prm["reset"] = list(RESET_MECHANISMS)[int(rv)] if rv is not None else "subtract"
            elif isinstance(reset, str):
                prm["reset"] = reset
            else:
                prm["reset"] = reset.get(pop, "subtract")
            if prm["reset"] not in RESET_MECHANISMS:
                raise ValueError(f"{pop}: unknown reset {prm['reset']!r}")
            self.neuron[pop] = prm
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        # transposed weights for the sequential accumulation: row j = fan-out of source j
        self._Wt = {n: t.t().contiguous() for n, t in self.W.items()}

    def _check_shapes(self):
        M, d, H, n_in, C = self.M, self.d, self.H, self.n_in, self.C
        want = {"e_x": (M, n_in), "e_h": (M, H), "e_m": (M, M * d), "A": (d, d), "B": (d, 1),
                "W_x": (H, n_in), "W_h": (H, H), "W_m": (H, M * d), "output_transformation": (C, H)}
        for n, shape in want.items():
            if tuple(self.W[n].shape) != shape:
                raise ValueError(f"{n}: shape {tuple(self.W[n].shape)}, expected {shape}")
        if tuple(self.b_out.shape) != (C,):
            raise ValueError(f"output bias shape {tuple(self.b_out.shape)}")

    # -- currents ----------------------------------------------------------------------------
    def _seq_add(self, acc: torch.Tensor, name: str, src: torch.Tensor) -> torch.Tensor:
        """acc [N, tgt] += terms of projection ``name`` from source values src [N, n_src],
        one source at a time, ascending, products rounded to float32 (no FMA)."""
        wt = self._Wt[name]
        active = torch.nonzero((src != 0).any(0)).flatten().tolist()
        for j in active:
            acc = acc + src[:, j:j + 1] * wt[j]
        return acc

    def _sum_projections(self, n: int, tgt, terms, mode: str) -> torch.Tensor:
        """Current into a population from ``terms`` = [(projection, source values), ...] in
        declaration order: one running accumulator (``sequential``) or one partial sum per
        projection, then added left to right (``grouped``)."""
        shape = (n,) + tuple(tgt)
        if mode == "sequential":
            acc = torch.zeros(shape, dtype=torch.float32)
            for name, src in terms:
                acc = self._seq_add(acc, name, src)
            return acc
        total = None
        for name, src in terms:
            part = self._seq_add(torch.zeros(shape, dtype=torch.float32), name, src)
            total = part if total is None else total + part
        return total

    def _currents_u(self, x_t, h, m, mode):
        if mode == "torch":
            W = self.W
            return F.linear(x_t, W["e_x"]) + F.linear(h, W["e_h"]) + F.linear(m, W["e_m"])
        return self._sum_projections(x_t.shape[0], (self.M,),
                                     [("e_x", x_t), ("e_h", h), ("e_m", m)], mode)

    def _currents_m(self, u, m, mode):
        n = u.shape[0]
        u3 = torch.unsqueeze(u, -1)                           # [N, M, 1]
        m3 = torch.reshape(m, (-1, self.M, self.d))           # [N, M, d]
        if mode == "torch":
            return F.linear(m3, self.W["A"]) + F.linear(u3, self.W["B"])
        # sequential == grouped here: the B part is a single term (0 + t == t exactly)
        A, B = self.W["A"], self.W["B"]
        acc = torch.zeros(n, self.M, self.d, dtype=torch.float32)
        for j in range(self.d):                               # acc[:, k, i] += m[:, k, j]*A[i, j]
            acc = acc + m3[:, :, j:j + 1] * A[:, j]
        return acc + u3 * B[:, 0]

    def _currents_h(self, x_t, h, m, mode):
        if mode == "torch":
            W = self.W
            return F.linear(x_t, W["W_x"]) + F.linear(h, W["W_h"]) + F.linear(m, W["W_m"])
        return self._sum_projections(x_t.shape[0], (self.H,),
                                     [("W_x", x_t), ("W_h", h), ("W_m", m)], mode)

    def _currents_out(self, h, mode):
        if mode == "torch":
            return F.linear(h, self.W["output_transformation"], self.b_out)
        acc = self._seq_add(torch.zeros(h.shape[0], self.C, dtype=torch.float32),
                            "output_transformation", h)
        return acc + self.b_out                               # bias last, as BLAS addmm

    # -- forward -----------------------------------------------------------------------------
    def _lif(self, pop, cur, mem, syn, style):
        prm = self.neuron[pop]
        return lif_step(cur, mem, prm["beta"], prm["threshold"], prm["reset"], syn=syn,
                        alpha=prm["alpha"], gsf=prm["gsf"], style=style)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, mode: Optional[str] = None, batch_size: Optional[int] = None,
                record_mem: bool = False, record_current: bool = False) -> dict:
        """Run clips ``x`` [clips, T, n_in] (float32; binary for Braille).

        Returns ``{"counts": [clips, C] float32, "predictions": [clips] int64,
        "spikes": {pop: [clips, T, N] bool}}`` (N = M, M*d, H, C; memory flattened row-major),
        plus ``"mem"`` / ``"current"`` {pop: [clips, T, N] float32} when requested (membrane after
        the step; input current of the step).  ``batch_size`` splits the clips like the official
        DataLoader (64); ``mode`` overrides the constructor's.
        """
        mode = mode or self.mode
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        x = torch.as_tensor(x).to(torch.float32)
        if x.dim() != 3 or x.shape[2] != self.n_in:
            raise ValueError(f"x must be [clips, T, {self.n_in}], got {tuple(x.shape)}")
        if batch_size is None or batch_size >= x.shape[0]:
            return self._forward_batch(x, mode, record_mem, record_current)
        parts = [self._forward_batch(x[i:i + batch_size], mode, record_mem, record_current)
                 for i in range(0, x.shape[0], batch_size)]
        out = {"counts": torch.cat([q["counts"] for q in parts]),
               "predictions": torch.cat([q["predictions"] for q in parts])}
        for key in ("spikes", "mem", "current"):
            if key in parts[0]:
                out[key] = OrderedDict((pop, torch.cat([q[key][pop] for q in parts]))
                                       for pop in POPULATIONS)
        return out

    __call__ = forward

    def _forward_batch(self, x, mode, record_mem, record_current):
        n, T, _ = x.shape
        style = "torch" if mode == "torch" else "explicit"
        xs = x.swapaxes(1, 0)                                  # as NetworkEngine: [T, N, n_in]
        h = torch.zeros(n, self.H, dtype=torch.float32)
        m = torch.zeros(n, self.M * self.d, dtype=torch.float32)
        mem = {pop: torch.zeros((n,) + self.natural[pop]) for pop in POPULATIONS}
        syn = {pop: (torch.zeros((n,) + self.natural[pop]) if self.variant == "synaptic" else None)
               for pop in POPULATIONS}
        spikes = OrderedDict((pop, torch.zeros(n, T, self.sizes[pop], dtype=torch.bool))
                             for pop in POPULATIONS)
        mems = (OrderedDict((pop, torch.zeros(n, T, self.sizes[pop])) for pop in POPULATIONS)
                if record_mem else None)
        curs = (OrderedDict((pop, torch.zeros(n, T, self.sizes[pop])) for pop in POPULATIONS)
                if record_current else None)
        counts = torch.zeros(n, self.C, dtype=torch.float32)

        def rec(pop, t, cur, s):
            spikes[pop][:, t] = s.reshape(n, -1) != 0
            if mems is not None:
                mems[pop][:, t] = mem[pop].reshape(n, -1)
            if curs is not None:
                curs[pop][:, t] = cur.reshape(n, -1)

        for t in range(T):
            x_t = xs[t].flatten(1)
            cur = self._currents_u(x_t, h, m, mode)
            u, mem["spk_u"], syn["spk_u"] = self._lif("spk_u", cur, mem["spk_u"], syn["spk_u"], style)
            rec("spk_u", t, cur, u)
            cur = self._currents_m(u, m, mode)
            m3, mem["spk_m"], syn["spk_m"] = self._lif("spk_m", cur, mem["spk_m"], syn["spk_m"], style)
            rec("spk_m", t, cur, m3)
            m = torch.reshape(m3, (-1, self.M * self.d))
            cur = self._currents_h(x_t, h, m, mode)
            h, mem["spk_h"], syn["spk_h"] = self._lif("spk_h", cur, mem["spk_h"], syn["spk_h"], style)
            rec("spk_h", t, cur, h)
            cur = self._currents_out(h, mode)
            o, mem["spk_output"], syn["spk_output"] = self._lif(
                "spk_output", cur, mem["spk_output"], syn["spk_output"], style)
            rec("spk_output", t, cur, o)
            counts = counts + o
        out = {"counts": counts, "predictions": counts.argmax(1), "spikes": spikes}
        if mems is not None:
            out["mem"] = mems
        if curs is not None:
            out["current"] = curs
        return out


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------

def firing_rates(out: dict) -> Dict[str, float]:
    """Fraction of neuron-steps that spiked, per population."""
    return OrderedDict((pop, float(s.float().mean())) for pop, s in out["spikes"].items())


def spike_totals(out: dict) -> Dict[str, int]:
    return OrderedDict((pop, int(s.sum())) for pop, s in out["spikes"].items())


def count_ties(counts: torch.Tensor) -> int:
    """Clips whose maximal count is shared by two or more classes."""
    mx = counts.max(1, keepdim=True).values
    return int(((counts == mx).sum(1) > 1).sum())


def compare_modes(model: L2MURef, x: torch.Tensor, modes: Tuple[str, str] = ("torch", "sequential"),
                  batch_size: Optional[int] = None, outs: Optional[dict] = None) -> dict:
    """Run two modes on the same clips; count spike mismatches per population (total, clips
    affected, first step of divergence) and prediction differences.  ``outs`` may hold
    already computed forward results by mode."""
    outs = dict(outs or {})
    for mode in modes:
        if mode not in outs:
            outs[mode] = model.forward(x, mode=mode, batch_size=batch_size)
    a, b = outs[modes[0]], outs[modes[1]]
    res = OrderedDict()
    for pop in POPULATIONS:
        sa, sb = a["spikes"][pop], b["spikes"][pop]
        diff = sa != sb
        steps = torch.nonzero(diff.any(0).any(-1)).flatten()
        res[pop] = {"mismatches": int(diff.sum()), "neuron_steps": int(diff.numel()),
                    "clips_affected": int(diff.any(-1).any(-1).sum()),
                    "first_step": int(steps[0]) if len(steps) else None}
    res["predictions_differ"] = int((a["predictions"] != b["predictions"]).sum())
    res["totals"] = {modes[0]: spike_totals(a), modes[1]: spike_totals(b)}
    return res


# ---------------------------------------------------------------------------------------------
# Random checkpoints
# ---------------------------------------------------------------------------------------------

def random_inputs(clips: int, T: int, n_in: int, density: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Binary float32 clips [clips, T, n_in], each entry 1 with probability ``density``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(clips, T, n_in, generator=g) < density).to(torch.float32)


def _uniform(g, shape, bound):
    return (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1).mul(bound).float()


def _normal(g, shape, std):
    return (torch.randn(shape, generator=g, dtype=torch.float64) * std).float()


def _metadata(prefix: str, variant: str) -> "OrderedDict[str, dict]":
    """``state_dict._metadata`` as ``nn.Module.state_dict()`` writes it (version 1 everywhere)."""
    root = prefix.rstrip(".")
    names = [""]
    if root:
        parts = root.split(".")
        names += [".".join(parts[: i + 1]) for i in range(len(parts))]
    cell = (root + "." if root else "") + "l2mu_cell"
    names.append(cell)
    names += [cell + "." + n for n in CELL_LINEARS]
    names += [cell + "." + p for p in SD_POPULATION_ORDER]
    if root == "model":
        names.append("loss_fn")
    return OrderedDict((n, {"version": 1}) for n in names)


def make_state_dict(n_in: int = 12, memory_size: int = 70, order: int = 7, theta: float = 10.0,
                    hidden: int = 120, classes: int = 7, variant: str = "leaky", seed: int = 0,
                    calibrate: bool = True, prefix: str = "model.", reset: str = "subtract",
                    per_neuron: bool = False, em_orders: Optional[Sequence[int]] = (1, 2),
                    rate_range: Tuple[float, float] = (0.05, 0.25), calib_clips: int = 16,
                    calib_T: int = 100, calib_density: float = 0.1) -> "OrderedDict[str, torch.Tensor]":
    """A random L2MU state dict with the published keys, key order, shapes and dtypes.

    Keys ``{prefix}l2mu_cell.*`` (``prefix="model."`` as in the Lightning checkpoint, ``""`` for
    a bare ``L2MU.state_dict()``).  Weights: e_x, e_h LeCun-uniform, W_* Xavier-normal,
    output nn.Linear default (uniform +-1/sqrt(H), weight and bias), e_m normal(0, 0.03) on the
    columns of memory orders ``em_orders`` and exactly zero elsewhere (the trained model's e_m is
    non-zero only on orders 1 and 2: 350 of 490 zero columns; ``None``: all columns).  A, B from
    :func:`lmu_matrices`.  beta/threshold centred on the trained values, jittered; Synaptic adds
    ``alpha``.  ``per_neuron``: per-neuron beta/threshold(/alpha) tensors ([M], [M, d], [H], [C])
    instead of scalars.  ``reset`` is stored as ``reset_mechanism_val``.

    ``calibrate``: each population's threshold is scaled (x1.25 steps, then bisection) until
    every population fires in ``rate_range`` (default 5-25 %) of its neuron-steps on
    ``calib_clips`` random binary clips of ``calib_T`` steps at ``calib_density`` (seed
    ``seed + 1``), ``mode="torch"``; if that range cannot be met (tiny networks have
    quantised currents) the best thresholds are kept provided all rates are within 2-40 %.
    """
    if variant not in ("leaky", "synaptic"):
        raise ValueError(variant)
    M, d, H, C = int(memory_size), int(order), int(hidden), int(classes)
    g = torch.Generator().manual_seed(int(seed))
    e_x = _uniform(g, (M, n_in), math.sqrt(3.0 / n_in))
    e_h = _uniform(g, (M, H), math.sqrt(3.0 / H))
    e_m = _normal(g, (M, M * d), 0.03)
    if em_orders is not None:
        keep = torch.zeros(d, dtype=torch.bool)
        for o in em_orders:
            if 0 <= o < d:
                keep[o] = True
        e_m = e_m * keep.repeat(M).float()[None, :]
    A, B = lmu_matrices(d, theta)
    W_x = _normal(g, (H, n_in), math.sqrt(2.0 / (n_in + H)))
    W_h = _normal(g, (H, H), math.sqrt(2.0 / (H + H)))
    W_m = _normal(g, (H, M * d), math.sqrt(2.0 / (M * d + H)))
    W_o = _uniform(g, (C, H), 1.0 / math.sqrt(H))
    b_o = _uniform(g, (C,), 1.0 / math.sqrt(H))

    natural = {"spk_u": (M,), "spk_h": (H,), "spk_m": (M, d), "spk_output": (C,)}
    neur = {}
    for pop in SD_POPULATION_ORDER:
        beta0, thr0 = TRAINED_BETA_THRESHOLD[pop]
        shape = natural[pop] if per_neuron else ()
        jit = lambda s: (1.0 + 0.1 * (torch.rand(s if s else (), generator=g, dtype=torch.float64) * 2 - 1))
        beta = (beta0 * jit(shape)).clamp(0.0, 1.0).float()
        thr = (thr0 * jit(shape)).float()
        alpha = (SYNAPTIC_ALPHA[pop] * jit(shape)).clamp(0.0, 1.0).float() if variant == "synaptic" else None
        neur[pop] = {"beta": beta, "threshold": thr, "alpha": alpha}

    def build():
        sd = OrderedDict()
        cp = prefix + "l2mu_cell."
        for name, t in (("e_x", e_x), ("e_h", e_h), ("e_m", e_m), ("A", A), ("B", B),
                        ("W_x", W_x), ("W_h", W_h), ("W_m", W_m), ("output_transformation", W_o)):
            sd[cp + name + ".weight"] = t.contiguous().clone()
        sd[cp + "output_transformation.bias"] = b_o.clone()
        for pop in SD_POPULATION_ORDER:
            q = cp + pop + "."
            sd[q + "threshold"] = neur[pop]["threshold"].clone()
            sd[q + "beta"] = neur[pop]["beta"].clone()
            if variant == "synaptic":
                sd[q + "alpha"] = neur[pop]["alpha"].clone()
            sd[q + "graded_spikes_factor"] = torch.tensor(1.0)
            sd[q + "reset_mechanism_val"] = torch.tensor(RESET_MECHANISMS[reset])
        sd._metadata = _metadata(prefix, variant)
        return sd

    if calibrate:
        lo, hi = rate_range
        xc = random_inputs(calib_clips, calib_T, n_in, calib_density, seed=int(seed) + 1)
        # per population a bracket of threshold scales: below = fired too much, above = too little
        bracket = {pop: [None, None] for pop in SD_POPULATION_ORDER}
        scale = {pop: 1.0 for pop in SD_POPULATION_ORDER}
        thr0 = {pop: neur[pop]["threshold"].double() for pop in SD_POPULATION_ORDER}
        best, best_err = None, math.inf
        for _ in range(80):
            for pop in SD_POPULATION_ORDER:
                neur[pop]["threshold"] = (thr0[pop] * scale[pop]).float()
            out = L2MURef(build(), variant=variant).forward(xc, mode="torch")
            rates = firing_rates(out)
            err = sum(max(0.0, lo - r) + max(0.0, r - hi) for r in rates.values())
            if err < best_err:
                best, best_err = {p: neur[p]["threshold"].clone() for p in neur}, err
            if err == 0.0:
                break
            for pop, r in rates.items():
                br = bracket[pop]
                if r > hi:
                    br[0] = scale[pop] if br[0] is None else max(br[0], scale[pop])
                    if br[1] is not None and br[1] <= br[0]:
                        br[1] = None
                elif r < lo:
                    br[1] = scale[pop] if br[1] is None else min(br[1], scale[pop])
                    if br[0] is not None and br[0] >= br[1]:
                        br[0] = None
                else:
                    continue
                if br[0] is not None and br[1] is not None:
                    scale[pop] = math.sqrt(br[0] * br[1])
                else:
                    scale[pop] *= 1.25 if r > hi else 1 / 1.25
        for pop in SD_POPULATION_ORDER:
            neur[pop]["threshold"] = best[pop]
        if best_err > 0.0:
            out = L2MURef(build(), variant=variant).forward(xc, mode="torch")
            rates = firing_rates(out)
            if not all(0.02 <= r <= 0.40 for r in rates.values()):
                raise RuntimeError(f"calibration did not converge: rates {dict(rates)}")
    return build()


def make_hparams(sd: Dict[str, torch.Tensor], theta: float = 10.0, lr: float = 0.0014500000000000001,
                 batch_size: int = 64) -> dict:
    """``hyper_parameters`` in the published form (a plain dict; sizes as floats).  Initial
    beta/threshold values are the published ones (they are only the initial values; the learned
    ones are in the state dict); Synaptic state dicts add ``alpha_spk_*``."""
    p, _ = _find_prefix(sd)
    M, n_in = sd[p + "e_x.weight"].shape
    H = sd[p + "W_h.weight"].shape[0]
    d = sd[p + "A.weight"].shape[0]
    C = sd[p + "output_transformation.weight"].shape[0]
    params = {"lr": lr, "batch_size": batch_size, "order": float(d), "theta": float(theta),
              "hidden_size": float(H), "memory_size": float(M)}
    for pop in SD_POPULATION_ORDER:
        params["beta_" + pop], params["threshold_" + pop] = PUBLISHED_INIT[pop]
    if any((p + pop + ".alpha") in sd for pop in POPULATIONS):
        for pop in SD_POPULATION_ORDER:
            params["alpha_" + pop] = SYNAPTIC_ALPHA[pop]
    return {"num_inputs": int(n_in), "num_outputs": int(C), "architecture": "L2MU", "params": params}


# ---------------------------------------------------------------------------------------------
# Writers and (trusted-input) readers
# ---------------------------------------------------------------------------------------------

class _AttributeDictStandIn(dict):
    """Stand-in for Lightning's ``AttributeDict`` (a dict with attribute access)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __setattr__(self, key, val):
        self[key] = val


#: Module path of Lightning 2.x's AttributeDict (``lightning`` package; the standalone
#: ``pytorch_lightning`` package uses ``lightning_fabric.utilities.data``).
ATTRIBUTE_DICT_MODULE = "lightning.fabric.utilities.data"


@contextlib.contextmanager
def fake_lightning_modules(module_path: str = ATTRIBUTE_DICT_MODULE):
    """Temporarily register ``module_path`` (and its parents) in ``sys.modules`` with an
    ``AttributeDict`` class, unless that module is really importable; removed afterwards."""
    added = []
    try:
        try:
            __import__(module_path)
            real = True
        except ImportError:
            real = False
        if not real:
            parts = module_path.split(".")
            for i in range(len(parts)):
                name = ".".join(parts[: i + 1])
                if name not in sys.modules:
                    mod = types.ModuleType(name)
                    mod.__path__ = []          # a package, so submodules resolve
                    sys.modules[name] = mod
                    added.append(name)
                    if i:
                        setattr(sys.modules[".".join(parts[:i])], parts[i], mod)
            cls = type("AttributeDict", (_AttributeDictStandIn,), {"__module__": module_path})
            cls.__qualname__ = "AttributeDict"
            sys.modules[module_path].AttributeDict = cls
        yield sys.modules[module_path].AttributeDict
    finally:
        for name in reversed(added):
            sys.modules.pop(name, None)


@contextlib.contextmanager
def _location_tag(tag: Optional[str]):
    """Make torch.save record storages under location ``tag`` (e.g. "cuda:2" as in the
    published file) instead of "cpu"."""
    if tag is None or tag == "cpu":
        yield
        return
    import torch.serialization as ser
    orig = ser.location_tag
    ser.location_tag = lambda storage: tag
    try:
        yield
    finally:
        ser.location_tag = orig


def _torch_save(obj, path: str) -> None:
    """``torch.save`` through an in-memory buffer, so that the zip's root folder is
    ``archive/`` as in the published files (torch 1.13 names it after the file otherwise)."""
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def _contiguous_copy(sd):
    out = OrderedDict((k, v.detach().contiguous().clone()) for k, v in sd.items())
    if hasattr(sd, "_metadata"):
        out._metadata = sd._metadata
    return out


def save_plain(sd: Dict[str, torch.Tensor], path: str, location: Optional[str] = None) -> None:
    """``torch.save`` of the state dict alone (.pt / .pth), with its ``_metadata``.  Loadable with
    ``torch.load(path, weights_only=True)``."""
    with _location_tag(location):
        _torch_save(_contiguous_copy(sd), path)


def _optimizer_states(sd, lr, step, optimizer):
    """Adam ``optimizer_states`` as Lightning saves them: one state per *trainable* parameter in
    module order (A.weight and B.weight are frozen and have none)."""
    p, _ = _find_prefix(sd)
    names = [k for k in sd if not k.endswith(("graded_spikes_factor", "reset_mechanism_val"))]
    trainable = [k for k in names if k not in (p + "A.weight", p + "B.weight")]
    state = {}
    if optimizer == "adam":
        for idx, k in enumerate(names):
            if k in trainable:
                state[idx] = {"step": torch.tensor(float(step)),
                              "exp_avg": torch.zeros_like(sd[k]),
                              "exp_avg_sq": torch.zeros_like(sd[k])}
    group = {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
             "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
             "fused": None, "params": list(range(len(names)))}
    return [{"state": state, "param_groups": [group]}]


def _loops(global_step: int, epoch: int, batches_per_epoch: int, val_batches: int) -> dict:
    def prog(n, full=True, processed=True):
        d = {"ready": n, "completed": n}
        if full:
            d["started"] = n
            if processed:
                d["processed"] = n
        return d
    cur = global_step - epoch * batches_per_epoch if batches_per_epoch else 0
    fit = OrderedDict([
        ("state_dict", {}),
        ("epoch_loop.state_dict", {"_batches_that_stepped": global_step}),
        ("epoch_loop.batch_progress", {"total": prog(global_step), "current": prog(cur),
                                       "is_last_batch": True}),
        ("epoch_loop.scheduler_progress", {"total": prog(0, False), "current": prog(0, False)}),
        ("epoch_loop.automatic_optimization.state_dict", {}),
        ("epoch_loop.automatic_optimization.optim_progress",
         {"optimizer": {"step": {"total": prog(global_step, False), "current": prog(cur, False)},
                        "zero_grad": {"total": prog(global_step, processed=False),
                                      "current": prog(cur, processed=False)}}}),
        ("epoch_loop.manual_optimization.state_dict", {}),
        ("epoch_loop.manual_optimization.optim_step_progress",
         {"total": prog(0, False), "current": prog(0, False)}),
        ("epoch_loop.val_loop.state_dict", {}),
        ("epoch_loop.val_loop.batch_progress", {"total": prog(val_batches),
                                                "current": prog(val_batches),
                                                "is_last_batch": True}),
        ("epoch_progress", {"total": {"ready": epoch + 1, "completed": epoch, "started": epoch + 1,
                                      "processed": epoch + 1},
                            "current": {"ready": epoch + 1, "completed": epoch,
                                        "started": epoch + 1, "processed": epoch + 1}}),
    ])
    idle = {"state_dict": {}, "batch_progress": {"total": prog(0), "current": prog(0),
                                                 "is_last_batch": False}}
    return {"fit_loop": dict(fit), "validate_loop": idle,
            "test_loop": {"state_dict": {}, "batch_progress": {"total": prog(0), "current": prog(0),
                                                              "is_last_batch": False}},
            "predict_loop": {"state_dict": {}, "batch_progress": {"total": prog(0),
                                                                 "current": prog(0)}}}


def save_lightning(sd: Dict[str, torch.Tensor], hparams: Optional[dict], path: str, *,
                   epoch: int = 172, global_step: int = 2768, val_accuracy: float = 0.943,
                   optimizer: str = "adam", location: Optional[str] = None,
                   hparams_class: Optional[str] = None,
                   dirpath: str = "./tensorboard/l2mu/full/checkpoints") -> None:
    """Write a Lightning-2.4-style ``.ckpt`` (a torch zip) shaped like the published file.

    Top-level keys in the published order: ``epoch``, ``global_step``,
    ``pytorch-lightning_version`` ("2.4.0"), ``state_dict`` (with ``_metadata``), ``loops``,
    ``callbacks`` (two ModelCheckpoint states), ``optimizer_states`` (Adam; ``optimizer="adam"``
    writes zero moments for every trainable tensor like the real file -> ~3x the weights;
    ``"empty"`` writes ``state = {}``), ``lr_schedulers`` ([]), ``hparams_name`` ("kwargs"),
    ``hyper_parameters`` (``hparams`` or :func:`make_hparams`).

    ``hyper_parameters`` is a plain dict, exactly like the published file (Lightning 2.4 saves
    ``dict(model.hparams)``); its Python floats (and those of the optimizer's param_groups) make
    torch 1.13's ``weights_only=True`` refuse the file ("Unsupported operand 71" = BINFLOAT), as
    it refuses the published one; newer torch accepts both.  ``hparams_class=
    "lightning.fabric.utilities.data"`` instead pickles it as that module's ``AttributeDict``
    (registered temporarily via :func:`fake_lightning_modules`), a file any ``weights_only=True``
    refuses and that needs the same stand-in (or Lightning) to load.
    ``location="cuda:2"`` records the storages under that device like the published file (a CPU
    loader then needs ``map_location``).
    """
    if hparams is None:
        hparams = make_hparams(sd)
    best = torch.tensor(val_accuracy, dtype=torch.float32)
    callbacks = OrderedDict()
    callbacks["ModelCheckpoint{'monitor': 'val_accuracy', 'mode': 'max', 'every_n_train_steps': 0, "
              "'every_n_epochs': 1, 'train_time_interval': None}"] = {
        "monitor": "val_accuracy", "best_model_score": best.clone(),
        "best_model_path": dirpath + "/best.ckpt", "current_score": best.clone(),
        "dirpath": dirpath, "best_k_models": {dirpath + "/best.ckpt": best.clone()},
        "kth_best_model_path": dirpath + "/best.ckpt", "kth_value": best.clone(),
        "last_model_path": ""}
    callbacks["ModelCheckpoint{'monitor': None, 'mode': 'min', 'every_n_train_steps': 0, "
              "'every_n_epochs': 1, 'train_time_interval': None}"] = {
        "monitor": None, "best_model_score": None, "best_model_path": dirpath + "/last.ckpt",
        "current_score": None, "dirpath": dirpath, "best_k_models": {}, "kth_best_model_path": "",
        "kth_value": torch.tensor(float("inf")), "last_model_path": ""}
    lr = float(hparams.get("params", {}).get("lr", 0.00145))
    ckpt = {"epoch": int(epoch), "global_step": int(global_step),
            "pytorch-lightning_version": "2.4.0", "state_dict": _contiguous_copy(sd),
            "loops": _loops(global_step, epoch, 16, 5), "callbacks": dict(callbacks),
            "optimizer_states": _optimizer_states(sd, lr, global_step, optimizer),
            "lr_schedulers": [], "hparams_name": "kwargs"}
    with contextlib.ExitStack() as stack:
        stack.enter_context(_location_tag(location))
        if hparams_class:
            cls = stack.enter_context(fake_lightning_modules(hparams_class))
            ckpt["hyper_parameters"] = cls(hparams)
        else:
            ckpt["hyper_parameters"] = dict(hparams)
        _torch_save(ckpt, path)


def save_dataset(x: torch.Tensor, y: torch.Tensor, path: str) -> None:
    """A pickled ``torch.utils.data.TensorDataset(x float32 [N, T, n_in], y int64 [N])`` like
    ``data/braille_splitted/ds_val_*.pt`` (needs ``weights_only=False`` to load)."""
    from torch.utils.data import TensorDataset
    _torch_save(TensorDataset(torch.as_tensor(x).float().contiguous(),
                             torch.as_tensor(y).long().contiguous()), path)


def load_checkpoint_trusted(path: str) -> dict:
    """TRUSTED INPUT ONLY: ``torch.load(weights_only=False)`` (arbitrary code execution on a
    malicious file) with ``map_location="cpu"`` and a stand-in AttributeDict when Lightning is not
    installed.  Returns the loaded object (a checkpoint dict or a bare state dict)."""
    with fake_lightning_modules():
        return torch.load(path, map_location="cpu", weights_only=False)


def load_dataset_trusted(path: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """TRUSTED INPUT ONLY (``weights_only=False``): ``(x, y)`` of a pickled TensorDataset (or of a
    plain ``(x, y)`` tuple / ``{"x":, "y":}`` dict)."""
    obj = torch.load(path, map_location="cpu", weights_only=False)
    if hasattr(obj, "tensors"):
        return obj.tensors[0], obj.tensors[1]
    if isinstance(obj, dict):
        return obj["x"], obj["y"]
    return obj[0], obj[1]


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------

def _print_run(label, out, y, n_total):
    acc = (out["predictions"] == y).sum().item() if y is not None else None
    tot = spike_totals(out)
    rates = firing_rates(out)
    line = f"[{label}] "
    if acc is not None:
        line += f"accuracy {acc}/{n_total} = {acc / n_total:.4f}; "
    line += f"argmax ties {count_ties(out['counts'])}"
    print(line)
    for pop in POPULATIONS:
        print(f"    {pop:<11s} spikes {tot[pop]:>10,d}  rate {rates[pop]:.4f}")


def main(argv: Optional[Iterable[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-checkpoint", help="write a random calibrated checkpoint")
    mk.add_argument("out")
    mk.add_argument("--variant", default="leaky", choices=["leaky", "synaptic"])
    mk.add_argument("--lightning", action="store_true", help="Lightning-2.4-style .ckpt (else plain)")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--prefix", default="model.", help="key prefix before 'l2mu_cell.'")
    mk.add_argument("--n-in", type=int, default=12)
    mk.add_argument("--memory-size", type=int, default=70)
    mk.add_argument("--order", type=int, default=7)
    mk.add_argument("--theta", type=float, default=10.0)
    mk.add_argument("--hidden", type=int, default=120)
    mk.add_argument("--classes", type=int, default=7)
    mk.add_argument("--reset", default="subtract", choices=list(RESET_MECHANISMS))
    mk.add_argument("--per-neuron", action="store_true")
    mk.add_argument("--no-calibrate", action="store_true")
    mk.add_argument("--location", default=None, help="storage location tag, e.g. cuda:2")
    mk.add_argument("--attribute-dict", action="store_true",
                    help="pickle hyper_parameters as lightning.fabric.utilities.data.AttributeDict")
    mk.add_argument("--optimizer", default="adam", choices=["adam", "empty"])
    ds = sub.add_parser("make-dataset", help="write a random binary TensorDataset")
    ds.add_argument("out")
    ds.add_argument("--clips", type=int, default=28)
    ds.add_argument("--T", type=int, default=256)
    ds.add_argument("--n-in", type=int, default=12)
    ds.add_argument("--classes", type=int, default=7)
    ds.add_argument("--density", type=float, default=0.1)
    ds.add_argument("--seed", type=int, default=0)
    rn = sub.add_parser("run", help="evaluate a checkpoint on a dataset (TRUSTED files only)")
    rn.add_argument("ckpt")
    rn.add_argument("data")
    rn.add_argument("--mode", default="torch", choices=list(MODES) + ["all"])
    rn.add_argument("--variant", default=None, choices=["leaky", "synaptic"])
    rn.add_argument("--reset", default=None, choices=list(RESET_MECHANISMS))
    rn.add_argument("--batch-size", type=int, default=None)
    rn.add_argument("--clips", type=int, default=None, help="only the first N clips")
    args = ap.parse_args(None if argv is None else list(argv))

    if args.cmd == "make-checkpoint":
        sd = make_state_dict(n_in=args.n_in, memory_size=args.memory_size, order=args.order,
                             theta=args.theta, hidden=args.hidden, classes=args.classes,
                             variant=args.variant, seed=args.seed, calibrate=not args.no_calibrate,
                             prefix=args.prefix, reset=args.reset, per_neuron=args.per_neuron)
        if args.lightning:
            save_lightning(sd, make_hparams(sd, theta=args.theta), args.out, location=args.location,
                           optimizer=args.optimizer,
                           hparams_class=ATTRIBUTE_DICT_MODULE if args.attribute_dict else None)
        else:
            save_plain(sd, args.out, location=args.location)
        print(f"wrote {args.out}: {len(sd)} tensors ({args.variant}, "
              f"{'lightning' if args.lightning else 'plain'})")
        return 0
    if args.cmd == "make-dataset":
        x = random_inputs(args.clips, args.T, args.n_in, args.density, seed=args.seed)
        y = torch.arange(args.clips) % args.classes
        save_dataset(x, y, args.out)
        print(f"wrote {args.out}: x {tuple(x.shape)}, y {tuple(y.shape)}")
        return 0
    # run
    ckpt = load_checkpoint_trusted(args.ckpt)
    x, y = load_dataset_trusted(args.data)
    if args.clips:
        x, y = x[: args.clips], y[: args.clips]
    model = L2MURef(ckpt, variant=args.variant, reset=args.reset)
    print(f"L2MU {model.variant}: n_in {model.n_in}, M {model.M}, d {model.d}, H {model.H}, "
          f"C {model.C}; resets {[model.neuron[p]['reset'] for p in POPULATIONS]}; "
          f"{x.shape[0]} clips x {x.shape[1]} steps")
    modes = list(MODES) if args.mode == "all" else [args.mode]
    outs = {}
    for mode in modes:
        t0 = time.time()
        outs[mode] = model.forward(x, mode=mode, batch_size=args.batch_size)
        _print_run(f"{mode}, {time.time() - t0:.1f} s", outs[mode], y, x.shape[0])
    for i, ma in enumerate(modes):
        for mb in modes[i + 1:]:
            res = compare_modes(model, x, (ma, mb), outs=outs)
            mism = ", ".join(f"{pop} {res[pop]['mismatches']}" for pop in POPULATIONS)
            print(f"{ma} vs {mb}: spike mismatches {mism}; predictions differ "
                  f"{res['predictions_differ']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
