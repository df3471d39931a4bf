"""Trainable PyTorch L2MU: an LMU whose encoder, memory and hidden state are LIF populations
(docs/l2mu.md; Fra et al., ICANN 2024; Leto et al., NICE 2025).

Plain PyTorch (no snnTorch, no Lightning).  Parameter names follow the official code
(``l2mu_cell.e_x.weight`` ... ``l2mu_cell.spk_output.threshold``), so :func:`checkpoint` writes a
file that ``python3 -m lmusim.convert`` recognises as an L2MU.  One step, all state zero at t = 0
(docs/l2mu.md §1)::

    u  = LIF_u(e_x x + e_h h + e_m m)                # h, m of the previous step
    m  = LIF_m(m_rows @ A.weight^T + u[:, None] @ B.weight^T)
    h  = LIF_h(W_x x + W_h h + W_m m)                # new m, old h
    o  = LIF_out(W_o h + b_o);  logits = sum over steps of o

Neurons are snnTorch ``Leaky`` (``reset_mechanism="subtract"``, ``reset_delay=True``): the reset
is decided by the previous step's membrane, ``mem = clamp(beta, 0, 1) * mem + I - reset * thr``,
``spk = mem > thr``; beta and threshold are one learned scalar per population.  The forward pass
is the Heaviside step; the backward pass uses an arctan surrogate
``d spk / d mem = height / (1 + (pi * (mem - thr) / width)^2)`` (default height 1/pi, width 1: a
third of snnTorch's default, whose gradients explode through 128 recurrent steps), and the reset
term is detached, as in snnTorch.  A and B are the ZOH-discretised LMU matrices (dt = 1, window
``theta`` steps) stored as fixed buffers; the engine reads the stored values.

The input is real-valued (e.g. normalised log-mel features) injected as current: converted
with ``--input values``.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

POPULATIONS = ("spk_u", "spk_m", "spk_h", "spk_output")


def lmu_matrices(order: int, theta: float):
    """``A.weight`` [d, d] (= Ad^T) and ``B.weight`` [d, 1] (= Bd) of the official cell: the
    continuous LMU matrices divided by theta, zero-order hold with dt = 1 (float64, then float32)."""
    q = np.arange(order, dtype=np.float64)
    r = (2 * q + 1)[:, None]
    i, j = np.meshgrid(q, q, indexing="ij")
    a = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    b = ((-1.0) ** q)[:, None] * r
    a, b = a / theta, b / theta
    # ZOH: expm([[A, B], [0, 0]]) = [[Ad, Bd], [0, I]]
    big = np.zeros((order + 1, order + 1))
    big[:order, :order], big[:order, order:] = a, b
    e = torch.linalg.matrix_exp(torch.from_numpy(big)).numpy()
    ad, bd = e[:order, :order], e[:order, order:]
    return torch.from_numpy(ad.T.astype(np.float32).copy()), torch.from_numpy(bd.astype(np.float32).copy())


class _Spike(torch.autograd.Function):
    """Heaviside forward; arctan surrogate ``height / (1 + (pi * x / width)^2)`` backward."""

    @staticmethod
    def forward(ctx, x, height: float, width: float):
        ctx.save_for_backward(x)
        ctx.height, ctx.width = height, width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.height / (1 + (math.pi * x / ctx.width) ** 2), None, None


class Leaky(nn.Module):
    """One population of snnTorch-style Leaky neurons (learned scalar beta and threshold)."""

    def __init__(self, beta: float, threshold: float, surrogate=(1 / math.pi, 1.0)):
        super().__init__()
        self.beta = nn.Parameter(torch.tensor(float(beta)))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        self.surrogate = tuple(float(v) for v in surrogate)  # (height, width), not a parameter

    def forward(self, current: torch.Tensor, mem: torch.Tensor):
        thr = self.threshold
        reset = (mem > thr).to(mem.dtype).detach()
        mem = self.beta.clamp(0, 1) * mem + current - reset * thr
        return _Spike.apply(mem - thr, *self.surrogate), mem


class L2MUCell(nn.Module):
    def __init__(self, n_in: int, memory_size: int, order: int, hidden: int, classes: int, theta: float,
                 beta: float = 0.9, threshold: float = 1.0, surrogate=(1 / math.pi, 1.0),
                 zero_memory_readout: bool = True):
        super().__init__()
        M, d, H = memory_size, order, hidden
        self.e_x = nn.Linear(n_in, M, bias=False)
        self.e_h = nn.Linear(H, M, bias=False)
        self.e_m = nn.Linear(M * d, M, bias=False)
        nn.init.zeros_(self.e_m.weight)  # as the official cell
        self.A = nn.Linear(d, d, bias=False)
        self.B = nn.Linear(1, d, bias=False)
        a, b = lmu_matrices(d, theta)
        with torch.no_grad():
            self.A.weight.copy_(a)
            self.B.weight.copy_(b)
        self.A.weight.requires_grad_(False)
        self.B.weight.requires_grad_(False)
        self.W_x = nn.Linear(n_in, H, bias=False)
        self.W_h = nn.Linear(H, H, bias=False)
        self.W_m = nn.Linear(M * d, H, bias=False)
        if zero_memory_readout:
            # The memory starts silent (threshold 1, e_m = 0); when it wakes up, a random W_m floods
            # h with noise and training collapses (seen twice at epoch 4). From zero it grows in.
            nn.init.zeros_(self.W_m.weight)
        self.output_transformation = nn.Linear(H, classes)
        self.spk_u = Leaky(beta, threshold, surrogate)
        self.spk_m = Leaky(beta, threshold, surrogate)
        self.spk_h = Leaky(beta, threshold, surrogate)
        self.spk_output = Leaky(beta, threshold, surrogate)


class L2MU(nn.Module):
    """The L2MU classifier: ``forward(x [B, T, n_in]) -> spike counts [B, classes]``."""

    def __init__(self, n_in: int = 128, memory_size: int = 64, order: int = 4, hidden: int = 256,
                 classes: int = 35, theta: float = 64.0, beta: float = 0.9, threshold: float = 1.0,
                 surrogate=(1 / math.pi, 1.0)):
        super().__init__()
        self.config = OrderedDict(n_in=n_in, memory_size=memory_size, order=order, hidden=hidden,
                                  classes=classes, theta=float(theta))
        self.l2mu_cell = L2MUCell(n_in, memory_size, order, hidden, classes, theta, beta, threshold, surrogate)

    def forward(self, x: torch.Tensor, record: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
        c = self.l2mu_cell
        b, steps, _ = x.shape
        M, d = self.config["memory_size"], self.config["order"]
        H, C = self.config["hidden"], self.config["classes"]
        z = x.new_zeros
        h, m = z(b, H), z(b, M * d)
        mem = {"spk_u": z(b, M), "spk_m": z(b, M * d), "spk_h": z(b, H), "spk_output": z(b, C)}
        counts = z(b, C)
        # the input's contributions for every step at once (no recurrence through them)
        ex, wx = c.e_x(x), c.W_x(x)
        a_t, b_t = c.A.weight.t(), c.B.weight.t()
        for t in range(steps):
            u, mem["spk_u"] = c.spk_u(ex[:, t] + c.e_h(h) + c.e_m(m), mem["spk_u"])
            cm = (m.view(b, M, d) @ a_t + u.view(b, M, 1) @ b_t).reshape(b, M * d)
            m, mem["spk_m"] = c.spk_m(cm, mem["spk_m"])
            h, mem["spk_h"] = c.spk_h(wx[:, t] + c.W_h(h) + c.W_m(m), mem["spk_h"])
            o, mem["spk_output"] = c.spk_output(c.output_transformation(h), mem["spk_output"])
            counts = counts + o
            if record is not None:
                for name, s in (("spk_u", u), ("spk_m", m), ("spk_h", h), ("spk_output", o)):
                    record[name] = record.get(name, 0) + s.detach().sum(dim=0)
        return counts


def checkpoint(model: L2MU, hparams: Mapping) -> dict:
    """A Lightning-style checkpoint dict (``state_dict`` with the ``model.`` prefix and
    ``hyper_parameters``) that ``python3 -m lmusim.convert`` reads."""
    sd = OrderedDict(("model." + k, v.detach().clone()) for k, v in model.state_dict().items())
    return {"state_dict": sd, "hyper_parameters": dict(hparams)}


def load(model: L2MU, ckpt: Mapping) -> None:
    sd = ckpt.get("state_dict", ckpt)
    model.load_state_dict(OrderedDict((k[len("model."):] if k.startswith("model.") else k, v)
                                      for k, v in sd.items()))


@torch.no_grad()
def firing_rates(model: L2MU, feats: torch.Tensor, batch_size: int = 256) -> "OrderedDict[str, float]":
    """Spikes per neuron per step of every population on ``feats`` [N, T, n_in]."""
    model.eval()
    record: Dict[str, torch.Tensor] = {}
    for i in range(0, len(feats), batch_size):
        model(feats[i:i + batch_size], record)
    cfg = model.config
    sizes = {"spk_u": cfg["memory_size"], "spk_m": cfg["memory_size"] * cfg["order"],
             "spk_h": cfg["hidden"], "spk_output": cfg["classes"]}
    n = len(feats) * feats.shape[1]
    return OrderedDict((k, float(record[k].sum()) / (sizes[k] * n)) for k in POPULATIONS if k in record)


def parameters_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__: Sequence[str] = ["L2MU", "lmu_matrices", "checkpoint", "load", "firing_rates", "parameters_count"]
