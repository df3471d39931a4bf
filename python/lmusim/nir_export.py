"""Writing lmusim networks as NIR graphs (docs/nir.md, "Writing NIR").

``python3 -m lmusim.nir_export NETWORK.h5 OUT.nir [--lossy] [--overwrite]`` (what ``lmusim export``
runs) and :func:`export_nir`. The network file (docs/network_format.md) is read with h5py; the NIR
file follows the layout of the ``nir`` package 1.0 (``/version``, ``/node`` with ``type``,
``nodes/<name>/...`` and ``edges``), readable by ``nir.read`` and by ``lmusim run GRAPH.nir``.

Nodes become NIR neurons, projections NIR maps between them:

=================================  =====================================================
lmusim                             NIR
=================================  =====================================================
``input``, ``spike_input``         Input
``nir_lif`` / ``nir_li``           LIF / LI (tau, r, v_leak, v_threshold, v_reset)
``nir_cuba_lif`` / ``nir_cuba_li`` CubaLIF / CubaLI
``nir_if`` / ``nir_integrator``    IF / I
``threshold``, ``nir_delay``       Threshold, Delay (steps x dt)
``leaky`` (snnTorch Leaky)         LIF with tau = dt/(1-beta), r = tau/dt, v_leak = 0, v_reset = 0
                                   (as snnTorch's exporter); lossy: its subtractive and delayed reset
``synaptic`` (snnTorch Synaptic)   CubaLIF with tau_syn = dt/(1-alpha), w_in = tau_syn/dt, tau_mem =
                                   dt/(1-beta), r = tau_mem/dt; lossy like ``leaky``
``continuous_lif`` (CUBA)          two LI current filters (ports 0 and 1, r = tau/dt) into an LIF;
                                   lossy: refractoriness, exact integration, initial potentials
``analog`` (no affine)             Output when nothing leaves it, else dissolved (NIR sums the edges
                                   into a node itself)
``spike_count``                    Output (NIR outputs are per step; counting is the reader's)
``dense`` (+ bias)                 Linear (Affine)
``sparse``, ``block_diagonal``     Linear (the full matrix)
``one_to_one``                     Scale
``identity``                       an edge
``conv2d``                         Conv2d, or Conv1d for height 1
``sum_pool2d``                     SumPool2d, AvgPool2d (scale 1/(kh kw)), or SumPool2d + Scale
=================================  =====================================================

A projection's delay d becomes a Delay node of d x dt, except the one step that the edge closing a
cycle carries by itself (NIR importers, lmusim's included, delay the edge that closes a cycle in a
depth-first walk from the inputs). What NIR cannot say is refused with a message naming the node or
projection, or with ``lossy=True`` written anyway and listed: subtractive or delayed resets,
refractoriness, a delayed edge of a cycle that is not the one the walk finds, post-affines, the
LMUFormer's kinds (``discrete_lif``, ``lmu_memory``, ``readout``, temporal ``conv1d``).
"""
from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import Error, __version__
from ._outputs import check_outputs, claim

#: The NIR file layout written (the ``nir`` package version whose layout it follows).
NIR_FORMAT = "1.0.7"


SPIKING = ("nir_lif", "nir_cuba_lif", "nir_if", "threshold", "leaky", "synaptic", "continuous_lif")


def _s(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _read_network(path: str) -> Tuple[dict, list, list]:
    import h5py
    with h5py.File(path, "r") as f:
        if _s(f.attrs.get("format", "")) != "lmusim-network":
            raise Error(f"{path}: not an lmusim network file (root attribute format = "
                        f"{_s(f.attrs.get('format', ''))!r}, expected 'lmusim-network')")
        root = {k: f.attrs[k] for k in f.attrs}
        nodes, projs = [], []
        for top, out in (("nodes", nodes), ("projections", projs)):
            for name, g in f[top].items():
                d = {"name": name, **{k: (_s(v) if isinstance(v, (bytes, str)) else v) for k, v in g.attrs.items()}}
                d["data"] = {k: g[k][()] for k in g}
                out.append(d)
            out.sort(key=lambda d: int(d["index"]))
    return root, nodes, projs


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32).reshape(-1)


class _Builder:
    def __init__(self, root, nodes, projs, lossy: bool):
        self.dt = float(root.get("dt_ms", 1.0)) * 1e-3  # seconds
        self.nodes = {n["name"]: n for n in nodes}
        self.order = [n["name"] for n in nodes]
        self.projs = projs
        self.lossy = lossy
        self.lost: List[str] = []
        self.nir: "OrderedDict[str, dict]" = OrderedDict()
        self.edges: List[Tuple[str, str]] = []
        self.virtual: set = set()  # dissolved pass-through nodes
        self.entry: Dict[Tuple[str, int], str] = {}  # (lmusim node, port) -> NIR node receiving its input
        self.used: set = set()

    def lose(self, what: str) -> None:
        if not self.lossy:
            raise Error(what + " (write it anyway with --lossy / lossy=True)")
        self.lost.append(what)

    def name(self, base: str) -> str:
        n, k = base, 2
        while n in self.used:
            n, k = f"{base}#{k}", k + 1
        self.used.add(n)
        return n

    def add(self, name: str, node: dict) -> str:
        self.nir[name] = self._shaped(name, node) if hasattr(self, "shape") else node
        return name

    # ---- nodes ---------------------------------------------------------------------------
    def node(self, n: dict, has_out: bool) -> None:
        kind, size, d, name = n["kind"], int(n["size"]), n["data"], n["name"]
        self.used.add(name)

        def arr(k, default=None):
            return _f32(d[k]) if k in d else _f32([default])

        def reset_of():
            if n.get("reset", "zero") == "subtract":
                self.lose(f"node '{name}' ({kind}): reset by subtraction (NIR resets to v_reset)")
        if kind in ("input", "spike_input"):
            self.add(name, {"type": "Input", "shape": np.array([size], np.int64)})
        elif kind == "spike_source":
            self.lose(f"node '{name}' (spike_source): its spikes are not part of a NIR graph (written as an Input "
                      f"to feed them)")
            self.add(name, {"type": "Input", "shape": np.array([size], np.int64)})
        elif kind in ("analog", "spike_count"):
            if kind == "analog" and n.get("affine", "none") != "none":
                raise Error(f"node '{name}': an analog node with an affine has no NIR form")
            if has_out and kind == "analog":
                self.virtual.add(name)
                self.entry[(name, 0)] = name
                return
            if kind == "spike_count" and has_out:
                raise Error(f"node '{name}': a spike_count node that feeds others has no NIR form")
            self.add(name, {"type": "Output", "shape": np.array([size], np.int64)})
        elif kind == "nir_lif":
            reset_of()
            self.add(name, {"type": "LIF", "tau": np.asarray(d["tau"], np.float64).reshape(-1), "r": arr("r"),
                            "v_leak": arr("v_leak"), "v_threshold": arr("v_threshold"), "v_reset": arr("v_reset")})
        elif kind == "nir_li":
            self.add(name, {"type": "LI", "tau": np.asarray(d["tau"], np.float64).reshape(-1), "r": arr("r"),
                            "v_leak": arr("v_leak")})
        elif kind == "nir_cuba_lif":
            reset_of()
            self.add(name, {"type": "CubaLIF", "tau_syn": np.asarray(d["tau_syn"], np.float64).reshape(-1),
                            "tau_mem": np.asarray(d["tau_mem"], np.float64).reshape(-1), "r": arr("r"),
                            "v_leak": arr("v_leak"), "v_threshold": arr("v_threshold"), "v_reset": arr("v_reset"),
                            "w_in": arr("w_in")})
        elif kind == "nir_cuba_li":
            self.add(name, {"type": "CubaLI", "tau_syn": np.asarray(d["tau_syn"], np.float64).reshape(-1),
                            "tau_mem": np.asarray(d["tau_mem"], np.float64).reshape(-1), "r": arr("r"),
                            "v_leak": arr("v_leak"), "w_in": arr("w_in")})
        elif kind == "nir_if":
            reset_of()
            self.add(name, {"type": "IF", "r": arr("r"), "v_threshold": arr("v_threshold"), "v_reset": arr("v_reset")})
        elif kind == "nir_integrator":
            self.add(name, {"type": "I", "r": arr("r")})
        elif kind == "threshold":
            self.add(name, {"type": "Threshold", "threshold": arr("threshold")})
        elif kind == "nir_delay":
            self.add(name, {"type": "Delay", "delay": np.asarray(d["delay_steps"], np.float64).reshape(-1) * self.dt})
        elif kind in ("leaky", "synaptic"):
            if n.get("reset", "subtract") == "subtract":
                self.lose(f"node '{name}' ({kind}): reset by subtraction (NIR resets to v_reset)")
            elif n.get("reset") == "none":
                self.lose(f"node '{name}' ({kind}): no reset (NIR always resets a spiking neuron)")
            self.lose(f"node '{name}' ({kind}): snnTorch's delayed reset (decided by the previous step's membrane)")
            beta = np.clip(arr("beta"), 0, 1).astype(np.float64)
            if np.any(beta >= 1):
                raise Error(f"node '{name}': beta = 1 (no leak) has no NIR time constant")
            tau = self.dt / (1 - beta)
            node = {"type": "LIF", "tau": tau, "r": (tau / self.dt).astype(np.float32), "v_leak": _f32([0]),
                    "v_threshold": arr("threshold"), "v_reset": _f32([0])}
            if kind == "synaptic":
                alpha = np.clip(arr("alpha"), 0, 1).astype(np.float64)
                if np.any(alpha >= 1):
                    raise Error(f"node '{name}': alpha = 1 has no NIR time constant")
                tau_syn = self.dt / (1 - alpha)
                node = {"type": "CubaLIF", "tau_syn": tau_syn, "tau_mem": tau, "r": (tau / self.dt).astype(np.float32),
                        "v_leak": _f32([0]), "v_threshold": arr("threshold"), "v_reset": _f32([0]),
                        "w_in": (tau_syn / self.dt).astype(np.float32)}
            self.add(name, node)
        elif kind == "continuous_lif":
            self.lose(f"node '{name}' (continuous_lif): refractoriness, exact integration and initial potentials "
                      f"(NIR's LIF/LI under forward Euler)")
            ms = 1e-3
            v_rest = float(n["v_rest"]) + float(n["i_offset"])
            self.add(name, {"type": "LIF", "tau": np.array([float(n["tau_m"]) * ms]), "r": _f32([1.0]),
                            "v_leak": _f32([v_rest]), "v_threshold": _f32([n["v_threshold"]]),
                            "v_reset": _f32([n["v_reset"]])})
            for port, tau_key in ((0, "tau_exc"), (1, "tau_inh")):
                tau = float(n[tau_key]) * ms
                syn = self.add(self.name(f"{name}.syn{port}"), {"type": "LI", "tau": np.array([tau]),
                                                                  "r": _f32([tau / self.dt]), "v_leak": _f32([0])})
                self.edges.append((syn, name))
                self.entry[(name, port)] = syn
        else:
            raise Error(f"node '{name}': kind '{kind}' has no NIR form (NIR has no LMUFormer LIF, LMU memory or "
                        f"readout)")
        self.entry.setdefault((name, 0), name)

    # ---- projections ---------------------------------------------------------------------
    def projection(self, p: dict) -> None:
        name, kind, d = p["name"], p["kind"], p["data"]
        src, tgt = p["source"], p["target"]
        ns, nt = int(self.nodes[src]["size"]), int(self.nodes[tgt]["size"])
        if "post_affine" in p and _s(p["post_affine"]) != "none":
            raise Error(f"projection '{name}': a post-affine has no NIR form")
        bias = _f32(d["bias"]) if "bias" in d else None
        m: Optional[dict] = None
        if kind == "dense":
            w = np.asarray(d["weights"], np.float32).reshape(nt, ns)
            m = {"type": "Affine", "weight": w, "bias": bias} if bias is not None else {"type": "Linear", "weight": w}
        elif kind == "sparse":
            w = np.zeros((nt, ns), np.float32)
            indptr, idx, val = (np.asarray(d[k]) for k in ("indptr", "indices", "weights"))
            for j in range(ns):
                w[idx[indptr[j]:indptr[j + 1]], j] += val[indptr[j]:indptr[j + 1]]
            m = {"type": "Linear", "weight": w}
        elif kind == "block_diagonal":
            blk = np.asarray(d["weights"], np.float32)
            reps = ns // blk.shape[1]
            m = {"type": "Linear", "weight": np.kron(np.eye(reps, dtype=np.float32), blk)}
        elif kind == "one_to_one":
            m = {"type": "Scale", "scale": _f32(d["weights"])}
        elif kind == "identity":
            m = None if bias is None else {"type": "Affine", "weight": np.eye(nt, ns, dtype=np.float32), "bias": bias}
        elif kind == "conv2d":
            g = [int(v) for v in d["geometry"]]
            in_c, in_h, in_w, out_c, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, groups = g
            w = np.asarray(d["weights"], np.float32).reshape(out_c, in_c // groups, kh, kw)
            if pt != pb or pl != pr:
                raise Error(f"projection '{name}': asymmetric padding ({pt}, {pb}, {pl}, {pr}) has no NIR form")
            cb = None
            if bias is not None:
                cb = bias.reshape(out_c, -1)
                if not np.all(cb == cb[:, :1]):
                    raise Error(f"projection '{name}': a bias that varies within a channel has no NIR form")
                cb = cb[:, 0].copy()
            if in_h == 1 and kh == 1:
                m = {"type": "Conv1d", "weight": w[:, :, 0, :], "stride": np.int64(sw), "padding": np.int64(pl),
                     "dilation": np.int64(dw), "groups": np.int64(groups), "input_shape": np.int64(in_w),
                     "bias": cb if cb is not None else np.zeros(out_c, np.float32)}
            else:
                m = {"type": "Conv2d", "weight": w, "stride": np.array([sh, sw], np.int64),
                     "padding": np.array([pt, pl], np.int64), "dilation": np.array([dh, dw], np.int64),
                     "groups": np.int64(groups), "input_shape": np.array([in_h, in_w], np.int64),
                     "bias": cb if cb is not None else np.zeros(out_c, np.float32)}
            bias = None
        elif kind == "sum_pool2d":
            g = [int(v) for v in d["geometry"]]
            ch, in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr = g
            if pt != pb or pl != pr:
                raise Error(f"projection '{name}': asymmetric padding has no NIR form")
            scale = float(np.asarray(d["weights"], np.float32).reshape(-1)[0])
            pool = {"kernel_size": np.array([kh, kw], np.int64), "stride": np.array([sh, sw], np.int64),
                    "padding": np.array([pt, pl], np.int64)}
            if scale == float(np.float32(1.0) / np.float32(kh * kw)) and kh * kw > 1:
                m = {"type": "AvgPool2d", **pool}
            else:
                m = {"type": "SumPool2d", **pool}
                if scale != 1.0:
                    self.lose(f"projection '{name}': sum pool scaled by {scale} (written as SumPool2d then Scale)")
        else:
            raise Error(f"projection '{name}': kind '{kind}' has no NIR form (a temporal convolution)")
        if bias is not None and m is not None and m["type"] not in ("Affine",):
            raise Error(f"projection '{name}': a bias on a {kind} projection has no NIR form")
        if int(p.get("port", 0)) not in (0, 1) or (int(p.get("port", 0)) == 1 and (tgt, 1) not in self.entry):
            raise Error(f"projection '{name}': input port {p.get('port')} of node '{tgt}' has no NIR form")
        nodes = []
        if m is not None:
            nodes.append(self.add(self.name(name), m))
            if m["type"] == "SumPool2d" and kind == "sum_pool2d" and scale != 1.0:
                nodes.append(self.add(self.name(f"{name}.scale"), {"type": "Scale", "scale": _f32([scale])}))
        self.chains.append((name, [src] + nodes + [self.entry[(tgt, int(p.get("port", 0)))]], int(p.get("delay", 0))))

    def _shapes(self) -> None:
        """Multi-dimensional node shapes, from the convolutions and pools next to them (NIR
        infers a Conv/Pool input's height and width from the node before it)."""
        self.shape: Dict[str, tuple] = {}
        for p in self.projs:
            if p["kind"] not in ("conv2d", "sum_pool2d"):
                continue
            g = [int(v) for v in p["data"]["geometry"]]
            if p["kind"] == "conv2d":
                in_c, in_h, in_w, out_c, kh, kw, sh, sw, pt, pb, pl, pr, dh, dw, _ = g
            else:
                in_c, in_h, in_w, kh, kw, sh, sw, pt, pb, pl, pr = g
                out_c, dh, dw = in_c, 1, 1
            oh = (in_h + pt + pb - dh * (kh - 1) - 1) // sh + 1
            ow = (in_w + pl + pr - dw * (kw - 1) - 1) // sw + 1
            one_d = p["kind"] == "conv2d" and in_h == 1 and kh == 1
            self.shape.setdefault(p["source"], (in_c, in_w) if one_d else (in_c, in_h, in_w))
            self.shape.setdefault(p["target"], (out_c, ow) if one_d else (out_c, oh, ow))

    def _shaped(self, name: str, node: dict) -> dict:
        """The node's per-neuron arrays (and an Input's shape) in its multi-dimensional shape."""
        shp = self.shape.get(name)
        if shp is None:
            return node
        n = int(np.prod(shp))
        for k, v in list(node.items()):
            if k == "shape":
                node[k] = np.array(shp, np.int64)
            elif k != "type" and isinstance(v, np.ndarray) and v.size == n and v.ndim == 1:
                node[k] = v.reshape(shp)
        return node

    def _drop_counters(self) -> None:
        """A spike_count node that only counts an analog node's values (the logits lmusim adds after
        an imported graph's Output, docs/nir.md) is not part of the graph: the analog node is the
        Output."""
        outs: Dict[str, list] = {}
        for p in self.projs:
            outs.setdefault(p["source"], []).append(p)
        drop = set()
        for p in self.projs:
            src, tgt = self.nodes[p["source"]], self.nodes[p["target"]]
            if (tgt["kind"] == "spike_count" and src["kind"] == "analog" and p["kind"] == "identity"
                    and len(outs[p["source"]]) == 1 and tgt["name"] not in outs
                    and sum(q["target"] == tgt["name"] for q in self.projs) == 1):
                drop.add(tgt["name"])
        self.order = [n for n in self.order if n not in drop]
        self.projs = [p for p in self.projs if p["target"] not in drop]

    def build(self) -> dict:
        self._drop_counters()
        self._shapes()
        has_out = {n: False for n in self.order}
        for p in self.projs:
            has_out[p["source"]] = True
        for n in self.order:
            self.node(self.nodes[n], has_out[n])
        self.chains: List[Tuple[str, List[str], int]] = []
        for p in self.projs:
            self.projection(p)
        # A projection's delay sits on the last edge of its chain (into the target).
        edges = []
        for pname, chain, delay in self.chains:
            for i, (a, b) in enumerate(zip(chain, chain[1:])):
                edges.append((a, b, pname, delay if i == len(chain) - 2 else 0))
        edges = self._dissolve(edges)
        # An importer delays the edges that close cycles by one step; the rest of a delay becomes
        # a Delay node on the edge.
        back = self._back_edges([(a, b) for a, b, _, _ in edges])
        final, expect = [], set()
        for a, b, pname, d in edges:
            if (a, b) in back:
                if d == 0:
                    self.lose(f"projection '{pname}': importers delay the edge ('{a}', '{b}'), which closes a cycle, "
                              f"but lmusim does not (NIR cannot say which edge of a cycle is delayed)")
                d = max(d - 1, 0)
            if d > 0:
                dn = self.add(self.name(f"{pname}.delay"), {"type": "Delay", "delay": np.array([d * self.dt])})
                final += [(a, dn), (dn, b)]
                if (a, b) in back:
                    expect.add((dn, b))
            else:
                final.append((a, b))
                if (a, b) in back:
                    expect.add((a, b))
        if not any(v["type"] == "Input" for v in self.nir.values()):
            # An autonomous network (CUBA: no external input): NIR graphs start at an Input.
            self.add(self.name("input"), {"type": "Input", "shape": np.array([1], np.int64)})
        if not any(v["type"] == "Output" for v in self.nir.values()):
            # Nothing is read out (CUBA): every spiking population gets an Output of its spikes.
            for n in self.order:
                if self.nodes[n]["kind"] in SPIKING and n in self.nir:
                    o = self.add(self.name(f"{n}.output"), {"type": "Output", "shape": np.array([int(self.nodes[n]["size"])],
                                                                                                np.int64)})
                    final.append((n, o))
        if self._back_edges(final) != expect:
            self.lose("the Delay nodes change which edges close the cycles in a depth-first walk: the delays in "
                      "cycles are not as lmusim has them")
        self.edges += final
        return {"type": "NIRGraph", "nodes": self.nir, "edges": self.edges}

    def _dissolve(self, edges):
        """Edges into and out of dissolved pass-through nodes join directly."""
        for v in self.virtual:
            ins = [e for e in edges if e[1] == v]
            outs = [e for e in edges if e[0] == v]
            edges = [e for e in edges if v not in (e[0], e[1])]
            for a, _, pa, da in ins:
                for _, b, pb, db in outs:
                    edges.append((a, b, pb, da + db))
        return edges

    def _back_edges(self, edges) -> set:
        """The edges an importer delays: those closing a cycle in the depth-first walk from the
        Input nodes (sorted names, successors in sorted order; docs/nir.md, section 3)."""
        out: Dict[str, List[str]] = {}
        for a, b in edges:
            out.setdefault(a, []).append(b)
        names = sorted(set(self.nir) | {x for e in edges for x in e})
        state = {n: 0 for n in names}
        back = set()

        def walk(root):
            stack = [(root, iter(sorted(out.get(root, []))))]
            state[root] = 1
            while stack:
                v, it = stack[-1]
                t = next(it, None)
                if t is None:
                    state[v] = 2
                    stack.pop()
                elif state[t] == 1:
                    back.add((v, t))
                elif state[t] == 0:
                    state[t] = 1
                    stack.append((t, iter(sorted(out.get(t, [])))))
        for n in names:
            if self.nir.get(n, {}).get("type") == "Input" and state[n] == 0:
                walk(n)
        for n in names:
            if state[n] == 0:
                walk(n)
        return back


def _write(path: str, graph: dict, metadata: dict) -> None:
    import h5py
    str_t = h5py.string_dtype()

    def node(g, nd):
        g.create_dataset("type", data=nd["type"], dtype=str_t)
        if nd["type"] == "NIRGraph":
            nodes = g.create_group("nodes")
            for k, v in nd["nodes"].items():
                node(nodes.create_group(k), v)
            if nd["edges"]:
                g.create_dataset("edges", data=np.array(nd["edges"], dtype=object), dtype=str_t)
            else:
                g.create_dataset("edges", data=np.zeros((0,), np.float32))
            return
        for k, v in nd.items():
            if k == "type":
                continue
            a = np.asarray(v)
            g.create_dataset(k, data=a, **({"compression": "gzip"} if a.size > 256 else {}))

    with h5py.File(path, "w") as f:
        f.create_dataset("version", data=NIR_FORMAT, dtype=str_t)
        top = f.create_group("node")
        node(top, graph)
        meta = top.create_group("metadata")
        for k, v in metadata.items():
            meta.create_dataset(k, data=v)


def export_nir(network_path, out_path, lossy: bool = False, overwrite: bool = False) -> dict:
    """Write the lmusim network file ``network_path`` as a NIR graph at ``out_path``. Returns
    ``{"nodes": n, "edges": e, "lost": [...]}``; raises :class:`lmusim.Error` for what NIR cannot
    say (unless ``lossy``, which writes it anyway and lists it under ``"lost"``)."""
    import os
    network_path, out_path = os.fspath(network_path), os.fspath(out_path)
    check_outputs([out_path], [network_path], overwrite)
    root, nodes, projs = _read_network(network_path)
    b = _Builder(root, nodes, projs, lossy)
    try:
        graph = b.build()
    except Error as e:
        raise Error(f"{network_path}: {e}") from None
    meta = {"generator": f"lmusim {__version__}", "dt": np.float64(b.dt), "source": os.path.basename(network_path)}
    with claim(out_path, overwrite, inputs=[network_path]) as tmp:
        _write(tmp, graph, meta)
    return {"nodes": len(graph["nodes"]), "edges": len(graph["edges"]), "lost": b.lost, "dt": b.dt}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="lmusim export", description="Write an lmusim network file as a NIR graph")
    ap.add_argument("network", help="lmusim network file (HDF5; e.g. Network.save, lmusim cuba --save-network)")
    ap.add_argument("output", help="the NIR file to write")
    ap.add_argument("--lossy", action="store_true", help="write what NIR cannot say anyway, listing what is lost")
    ap.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    a = ap.parse_args(argv)
    try:
        r = export_nir(a.network, a.output, lossy=a.lossy, overwrite=a.overwrite)
    except (Error, OSError) as e:
        print("lmusim export: error: " + " ".join(str(e).split("\n")), file=sys.stderr)
        return 2
    for what in r["lost"]:
        print(f"lmusim export: warning: lost: {what}", file=sys.stderr)
    print(f"wrote {a.output}: NIR graph of {r['nodes']} nodes and {r['edges']} edges (dt {r['dt']:g} s"
          f"{'; ' + str(len(r['lost'])) + ' things lost' if r['lost'] else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
