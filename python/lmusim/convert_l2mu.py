"""The L2MU (an LMU made of LIF populations; docs/l2mu.md) as an lmusim network.

``python3 -m lmusim.convert CKPT MODEL.h5`` calls :func:`build` when the checkpoint holds an L2MU
cell (keys ``...l2mu_cell.e_x.weight`` etc.; a Lightning ``.ckpt`` or a plain state dict). The
sizes are inferred from the shapes and every key is checked (errors name the key). The graph:

====================  ============================  ==============================================
node                  kind, size                    fed by (projection: kind, delay)
====================  ============================  ==============================================
``input``             spike_input (or input), n_in  -
``spk_u``             leaky / synaptic, M           e_x (input, dense, 0), e_h (spk_h, dense, 1),
                                                    e_m (spk_m, dense, 1)
``spk_m``             leaky / synaptic, M*d         A (spk_m, block_diagonal, 1), B (spk_u,
                                                    block_diagonal, 0)
``spk_h``             leaky / synaptic, H           W_x (input, dense, 0), W_h (spk_h, dense, 1),
                                                    W_m (spk_m, dense, 0)
``spk_output``        leaky / synaptic, C           output (spk_h, dense + bias, 0)
``output``            spike_count, C                counts (spk_output, identity, 0)
====================  ============================  ==============================================

so within a step u is computed from the previous h and m, m from the new u and its previous
value, h from the new m and the previous h, the output from the new h, as in the official cell.
Every projection sums its own terms from zero before adding them to the target's other inputs
(PyTorch's ``e_x(x) + e_h(h) + e_m(m)``), in the order above; the output's bias is added after
its sum.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Mapping, Optional

import numpy as np

# snnTorch's reset_mechanism_val: 0 subtract, 1 zero, 2 none.
RESETS = {0: "subtract", 1: "zero", 2: "none"}
POPULATIONS = ("spk_u", "spk_m", "spk_h", "spk_output")
INPUT_KINDS = ("spikes", "values")


def find_prefix(sd: Mapping) -> Optional[str]:
    """The key prefix of an L2MU cell (e.g. ``model.l2mu_cell.``), or None."""
    for key in sd:
        if key.endswith("l2mu_cell.e_x.weight"):
            return key[: -len("e_x.weight")]
    return None


def _shape(sd, names, key, ndim, expected, error):
    if key not in sd:
        raise error(f"missing key '{names.get(key, key)}' (expected shape {expected})")
    shape = tuple(sd[key].shape)
    if len(shape) != ndim:
        raise error(f"key '{names.get(key, key)}': shape {list(shape)}, expected {expected}")
    return shape


def infer(sd: Mapping, prefix: str, names: Mapping[str, str], error) -> Dict[str, Any]:
    """Sizes and variant from the shapes; raises ``error`` naming the first key that does not fit."""
    M, n_in = _shape(sd, names, prefix + "e_x.weight", 2, "[M, n_in]", error)
    H, n_in2 = _shape(sd, names, prefix + "W_x.weight", 2, "[H, n_in]", error)
    d, d2 = _shape(sd, names, prefix + "A.weight", 2, "[d, d]", error)
    C, H2 = _shape(sd, names, prefix + "output_transformation.weight", 2, "[C, H]", error)
    cfg = dict(n_in=n_in, memory_size=M, order=d, hidden=H, classes=C)
    expected = OrderedDict([
        ("e_x.weight", (M, n_in)), ("e_h.weight", (M, H)), ("e_m.weight", (M, M * d)),
        ("A.weight", (d, d)), ("B.weight", (d, 1)), ("W_x.weight", (H, n_in)), ("W_h.weight", (H, H)),
        ("W_m.weight", (H, M * d)), ("output_transformation.weight", (C, H)), ("output_transformation.bias", (C,)),
    ])
    for key, shape in expected.items():
        k = prefix + key
        if k not in sd:
            raise error(f"missing key '{names.get(k, k)}' (expected shape {list(shape)})")
        if tuple(sd[k].shape) != shape:
            raise error(f"key '{names.get(k, k)}': shape {list(sd[k].shape)}, expected {list(shape)} "
                        f"(n_in {n_in}, M {M}, d {d}, H {H}, C {C})")
    sizes = {"spk_u": M, "spk_m": M * d, "spk_h": H, "spk_output": C}
    variants = set()
    for pop in POPULATIONS:
        for field in ("beta", "threshold"):
            k = f"{prefix}{pop}.{field}"
            if k not in sd:
                raise error(f"missing key '{names.get(k, k)}' (the {pop} neurons' {field})")
            if sd[k].numel() not in (1, sizes[pop]):
                raise error(f"key '{names.get(k, k)}': {sd[k].numel()} values, expected 1 or {sizes[pop]}")
        variants.add("synaptic" if f"{prefix}{pop}.alpha" in sd else "leaky")
        g = sd.get(f"{prefix}{pop}.graded_spikes_factor")
        if g is not None and not bool((g == 1).all()):
            raise error(f"key '{names.get(prefix + pop + '.graded_spikes_factor')}': graded spikes are not "
                        f"supported (expected 1)")
        r = sd.get(f"{prefix}{pop}.reset_mechanism_val")
        if r is not None and int(r.reshape(-1)[0]) not in RESETS:
            raise error(f"key '{names.get(prefix + pop + '.reset_mechanism_val')}': {int(r.reshape(-1)[0])}, "
                        f"expected 0 (subtract), 1 (zero) or 2 (none)")
    if len(variants) != 1:
        raise error("some populations have alpha (synaptic) and others not: mixed neuron variants")
    cfg["variant"] = variants.pop()
    if n_in2 != n_in or H2 != H or d2 != d:
        raise error("inconsistent sizes")  # already caught above; kept as a guard
    return cfg


def build(builder, sd: Mapping, prefix: str, cfg: Dict[str, Any], input_kind: str = "spikes") -> None:
    """Adds the L2MU's nodes and projections to ``builder`` (convert._GraphBuilder-like)."""
    f32 = builder.f32
    builder.node("input", "spike_input" if input_kind == "spikes" else "input", cfg["n_in"])
    sizes = {"spk_u": cfg["memory_size"], "spk_m": cfg["memory_size"] * cfg["order"],
             "spk_h": cfg["hidden"], "spk_output": cfg["classes"]}
    for pop in POPULATIONS:
        r = sd.get(f"{prefix}{pop}.reset_mechanism_val")
        reset = RESETS[int(r.reshape(-1)[0])] if r is not None else "subtract"
        obj = builder.node(pop, cfg["variant"], sizes[pop], reset=reset)
        if cfg["variant"] == "synaptic":
            obj.data["alpha"] = f32(sd[f"{prefix}{pop}.alpha"]).reshape(-1)
        obj.data["beta"] = f32(sd[f"{prefix}{pop}.beta"]).reshape(-1)
        obj.data["threshold"] = f32(sd[f"{prefix}{pop}.threshold"]).reshape(-1)
    builder.node("output", "spike_count", cfg["classes"])

    def proj(name, source, target, kind, key=None, delay=0, bias=None):
        obj = builder.projection(name, source, target, kind, delay=delay, sum="separately")
        if key is not None:
            obj.data["weights"] = f32(sd[prefix + key])
        if bias is not None:
            obj.data["bias"] = f32(sd[prefix + bias])

    proj("e_x", "input", "spk_u", "dense", "e_x.weight")
    proj("e_h", "spk_h", "spk_u", "dense", "e_h.weight", delay=1)
    proj("e_m", "spk_m", "spk_u", "dense", "e_m.weight", delay=1)
    proj("A", "spk_m", "spk_m", "block_diagonal", "A.weight", delay=1)
    proj("B", "spk_u", "spk_m", "block_diagonal", "B.weight")
    proj("W_x", "input", "spk_h", "dense", "W_x.weight")
    proj("W_h", "spk_h", "spk_h", "dense", "W_h.weight", delay=1)
    proj("W_m", "spk_m", "spk_h", "dense", "W_m.weight")
    proj("output", "spk_h", "spk_output", "dense", "output_transformation.weight",
         bias="output_transformation.bias")
    proj("counts", "spk_output", "output", "identity")


def trainable(sd: Mapping, prefix: str) -> int:
    """Trainable parameters as PyTorch counts them (A and B are fixed buffers; beta, threshold and
    alpha are learned)."""
    n = 0
    for key, value in sd.items():
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix):]
        if rest.startswith(("A.", "B.")) or rest.endswith(("graded_spikes_factor", "reset_mechanism_val")):
            continue
        n += int(value.numel())
    return n
