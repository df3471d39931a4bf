#!/usr/bin/python3
"""Independent pure-NumPy reference of lmusim's NIR semantics, plus a NIR file writer and reader.

NIR (the Neuromorphic Intermediate Representation, github ``neuromorphs/NIR``) stores a spiking
network as an HDF5 graph of continuous-time primitives.  This module is written from scratch: it
does not import the ``nir`` package.  The C++ importer is compared with it spike for spike.

Graphs are plain dicts
----------------------
A node is ``{"type": "LIF", "tau": array, ...}`` with NIR's field names; a graph is
``{"type": "NIRGraph", "nodes": {name: node}, "edges": [(source, target), ...], "metadata": {...}}``
(``metadata`` optional; a graph is itself a node, so graphs nest).  Fields per type: see
:data:`FIELDS`.

File layout (:func:`write`, :func:`read`)
----------------------------------------
Everything is a dataset, never an attribute.  ``/version`` is a scalar string; ``/node`` is the top
graph: ``type`` (scalar string "NIRGraph"), ``edges`` ((E, 2) strings, or a float dataset of shape
(0,) when there are none), optional ``metadata/<key>``, and ``nodes/<name>/`` per node holding its
``type`` and one dataset per field (nested graphs recursively).  Version styles: "1.0.x" writes
variable-length UTF-8 strings, ``v_reset`` and metadata; "0.2.x" has no ``v_reset`` and no
metadata; "0.1.x" is like "0.2.x" but writes strings as fixed-length bytes.  The reader accepts
all of these (bytes or str, scalars of shape () or (1,), gzip) and fills a missing ``v_reset``
with zeros.

Simulation semantics (:func:`simulate`)
---------------------------------------
The step ``dt`` (seconds) is given by the caller; nothing in the file sets it.

*Numbers.*  Every state and signal is float32 and every operation below is one float32 operation
rounded on its own (NumPy never fuses a multiply and an add).  Parameters stored in float64 are
rounded once to float32 (r, v_leak, v_threshold, v_reset, w_in, threshold, scale, weights, biases).
Time constants stay in float64 until the per-neuron factor is formed and rounded once:
``k = float32(dt / tau)`` under ``euler``, ``k = float32(-expm1(-dt / tau))`` (= 1 - exp(-dt/tau))
under ``exact``.  Parameters of any shape are flattened in C order; one of size 1 applies to every
neuron.  All states start at 0 (v starts at 0, not at v_leak).

*Neurons* (x = the node's input this step):

* LI / LIF:  ``a = r*x;  c = (v_leak - v) + a;  v = v + k*c``.  LI outputs v.
* CubaLI / CubaLIF:  ``a = w_in*x;  c = a - I;  I = I + k_syn*c``, then the LI/LIF update with the
  *updated* I in place of x (k_mem from tau_mem).  CubaLI outputs v.
* IF:  ``v = v + r*x`` (an impulse: no dt).  I (integrator):  ``v = v + r*x``, outputs v.
* LIF, CubaLIF and IF spike when ``v > v_threshold`` (strict) after the update and output 1.0 or
  0.0.  Reset ``zero`` (NIR's definition): a spiking neuron's v becomes v_reset; ``subtract``:
  v becomes v - v_threshold.  Reset never touches the synaptic current I.

*Other primitives*:

* Threshold: 1.0 where x > threshold else 0.0 (stateless; counted as a spiking node).
* Delay: output(t) = x(t - d) element by element, d = round(delay/dt) steps rounded half away from
  zero (d = 0 allowed); 0 before the signal starts.
* Affine ``W x + b`` and Linear ``W x`` (weight [out, in]): each output is a sequential float32 sum
  that starts at 0 and adds ``W[o, i] * x[i]`` for i ascending; then the bias is added.
  Scale: ``s * x``.
* Conv1d / Conv2d: PyTorch cross-correlation on channels-first data (C, N) / (C, H, W) flattened
  in C order: stride, dilation, groups, bias per output channel; padding an int, a pair, "valid"
  (none) or "same" (stride 1 only; total = dilation*(kernel-1), the leading side gets total // 2,
  the trailing side the rest, as PyTorch).  Each output is a sequential float32 sum starting at 0
  over (input channel of its group, kernel row, kernel column) ascending, then + bias.  Conv1d takes
  its length from ``input_shape`` when present, else from the upstream node's size; Conv2d takes
  (H, W) from ``input_shape`` (spatial or full shape) when present, else from the upstream node's
  (C, H, W) shape.
* SumPool2d: sequential window sums (row, column ascending) over zero padding.  AvgPool2d: that
  sum times float32(1 / (kh*kw)), padding counted (PyTorch's count_include_pad=True).
* Flatten, Input and Output: identity on C-order data.

*Edges, order, cycles.*  A node's input is the sum of its incoming edges: a float32 sum starting at
0 that adds the sources in ascending (plain string) order of the source name, once per edge
(duplicate edges add twice).  With at most two incoming edges the order cannot change the result.
A node without incoming edges gets 0.  The evaluation order comes from a depth-first search that
starts at the top-level Input nodes in sorted name order, follows each node's outgoing edges in
sorted target-name order, and then starts again from every unvisited node in sorted name order.
An edge into a node that is on the search's current path closes a cycle; such a *back edge*
carries its source's output of the previous step.  Every other edge carries this step's output,
and nodes are evaluated in reverse postorder of that search, so every such source is evaluated
before its target.  Before step 0, each node's output is what it computes from zero input with
zero state: 0 for neurons, Delay, Linear, Scale, pools, Flatten, Input and Output; the bias for
Affine; the bias at every position for Conv; 1.0 where threshold < 0 for Threshold.  So a
recurrent Affine delivers its bias at step 0.

*Nested graphs* are flattened first.  A child ``c`` of graph node ``g`` becomes ``g.c`` (also when
``c`` already contains a dot: ``g.a.b``); top-level names are kept.  An edge into ``g`` goes to
every Input node of ``g`` (normally there is one), an edge out of ``g`` leaves from every Output
node of ``g``; an edge may also name a nested node directly as ``g.c``.  The subgraph's Input and
Output nodes become identity nodes.

*Results.*  ``outputs``: every Output node (nested ones by their dotted name) -> float32
[steps, size], what reaches it at each step.  ``spikes``: every LIF, IF, CubaLIF and Threshold node
-> bool [steps, size].  ``states``: every neuron node -> {"v": float32 [steps, size]} (after the
update and reset) plus "i_syn" for CubaLI/CubaLIF.

Generators (deterministic from a seed): :func:`random_cuba_rnn`, :func:`conv_net`, :func:`nested`,
:func:`single_lif`, :func:`random_input`.  CLI: ``python3 nir_reference.py make KIND ...`` and
``python3 nir_reference.py run FILE.nir ...`` (``-h`` for the options).
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

__all__ = [
    "FIELDS", "NEURON_TYPES", "SPIKING_TYPES", "validate", "write", "read", "flatten_graph",
    "evaluation_order", "rename_numeric", "simulate", "random_input", "random_cuba_rnn", "conv_net",
    "nested", "single_lif", "main", "Network",
]

# type -> (required fields, optional fields)
FIELDS = {
    "Input": (("shape",), ()),
    "Output": (("shape",), ()),
    "Affine": (("weight", "bias"), ()),
    "Linear": (("weight",), ()),
    "Scale": (("scale",), ()),
    "Threshold": (("threshold",), ()),
    "Delay": (("delay",), ()),
    "Flatten": ((), ("input_type", "start_dim", "end_dim")),
    "Conv1d": (("weight", "stride", "padding", "dilation", "groups", "bias"), ("input_shape",)),
    "Conv2d": (("weight", "stride", "padding", "dilation", "groups", "bias"), ("input_shape",)),
    "SumPool2d": (("kernel_size", "stride", "padding"), ()),
    "AvgPool2d": (("kernel_size", "stride", "padding"), ()),
    "I": (("r",), ()),
    "IF": (("r", "v_threshold"), ("v_reset",)),
    "LI": (("tau", "r", "v_leak"), ()),
    "LIF": (("tau", "r", "v_leak", "v_threshold"), ("v_reset",)),
    "CubaLI": (("tau_syn", "tau_mem", "r", "v_leak"), ("w_in",)),
    "CubaLIF": (("tau_syn", "tau_mem", "r", "v_leak", "v_threshold"), ("v_reset", "w_in")),
    "NIRGraph": (("nodes", "edges"), ()),
}
NEURON_TYPES = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
SPIKING_TYPES = ("IF", "LIF", "CubaLIF", "Threshold")
NEURON_PARAMS = {
    "I": ("r",),
    "IF": ("r", "v_threshold", "v_reset"),
    "LI": ("tau", "r", "v_leak"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
}
_RESET_TYPES = ("IF", "LIF", "CubaLIF")
_F32 = np.float32


# =============================================================================================
# graph helpers
# =============================================================================================

def validate(graph, _path=""):
    """Raises ValueError naming the node when a node has an unknown type or lacks a field."""
    t = graph.get("type")
    where = _path or "<top>"
    if t not in FIELDS:
        raise ValueError(f"node '{where}': unsupported NIR node type {t!r}")
    for f in FIELDS[t][0]:
        if f not in graph or (graph[f] is None and f != "edges"):
            raise ValueError(f"node '{where}' ({t}): missing field '{f}'")
    if t == "NIRGraph":
        for name, child in graph["nodes"].items():
            if "/" in name or not name:
                raise ValueError(f"node name {name!r} in '{where}' cannot be an HDF5 group name")
            validate(child, f"{_path}.{name}" if _path else name)
        for e in graph["edges"]:
            if len(e) != 2:
                raise ValueError(f"graph '{where}': edge {e!r} is not a (source, target) pair")


def rename_numeric(graph):
    """A copy of GRAPH whose nodes other than Input/Output are named "0", "1", ... in the order
    of the node dict (as in the NIR paper's files); edges are renamed accordingly."""
    mapping, k = {}, 0
    for name, nd in graph["nodes"].items():
        if nd["type"] in ("Input", "Output"):
            mapping[name] = name
        else:
            mapping[name] = str(k)
            k += 1
    if len(set(mapping.values())) != len(mapping):
        raise ValueError("numeric renaming would make two nodes share a name")
    out = dict(graph)
    out["nodes"] = {mapping[n]: nd for n, nd in graph["nodes"].items()}
    out["edges"] = [(mapping.get(s, s), mapping.get(t, t)) for s, t in graph["edges"]]
    return out


def flatten_graph(graph):
    """Flattens nested NIRGraph nodes (see the module docstring).

    Returns ``(nodes, edges)``: ``nodes`` maps flat names to node dicts (a nested Input/Output node
    is marked ``"_passthrough": True``), ``edges`` is the list of flat (source, target) pairs.
    """
    nodes, edges = {}, []

    def rec(g, prefix):
        entry, exit_ = {}, {}
        for name, nd in g["nodes"].items():
            flat = prefix + name
            t = nd.get("type")
            if t == "NIRGraph":
                ins, outs = rec(nd, flat + ".")
                entry[name], exit_[name] = (ins, flat), (outs, flat)
            else:
                if flat in nodes:
                    raise ValueError(f"two nodes flatten to the same name '{flat}'")
                n = dict(nd)
                if prefix and t in ("Input", "Output"):
                    n["_passthrough"] = True
                nodes[flat] = n
                entry[name], exit_[name] = ([flat], None), ([flat], None)
        for e in g["edges"]:
            s, t = str(e[0]), str(e[1])
            edges.extend((a, b) for a in resolve(s, exit_, prefix, "Output")
                         for b in resolve(t, entry, prefix, "Input"))
        ins = [prefix + n for n, nd in g["nodes"].items() if nd.get("type") == "Input"]
        outs = [prefix + n for n, nd in g["nodes"].items() if nd.get("type") == "Output"]
        return sorted(ins), sorted(outs)

    def resolve(name, table, prefix, kind):
        if name in table:
            flats, sub = table[name]
            if not flats:
                raise ValueError(f"an edge refers to subgraph '{sub}', which has no {kind} node")
            return flats
        if prefix + name in nodes:  # "g.c" addressing a node inside subgraph g
            return [prefix + name]
        where = prefix[:-1] or "<top>"
        raise ValueError(f"graph '{where}': an edge refers to unknown node '{name}'")

    rec(graph, "")
    return nodes, edges


def _top_inputs(nodes):
    return sorted(n for n, nd in nodes.items() if nd["type"] == "Input" and not nd.get("_passthrough"))


def _dfs(nodes, edges):
    """Evaluation order (reverse DFS postorder) and the set of back-edge indices."""
    out = {n: [] for n in nodes}
    for i, (s, t) in enumerate(edges):
        out[s].append(i)
    for n in out:
        out[n].sort(key=lambda i: edges[i][1])
    state = dict.fromkeys(nodes, 0)  # 0 unvisited, 1 on the current path, 2 finished
    post, back = [], set()

    def visit(root):
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            u, it = stack[-1]
            for i in it:
                v = edges[i][1]
                if state[v] == 1:
                    back.add(i)
                elif state[v] == 0:
                    state[v] = 1
                    stack.append((v, iter(out[v])))
                    break
            else:
                state[u] = 2
                post.append(u)
                stack.pop()

    for r in _top_inputs(nodes) + sorted(nodes):
        if state[r] == 0:
            visit(r)
    return post[::-1], back


def evaluation_order(graph):
    """``(order, back_edges)`` of GRAPH after flattening: the node evaluation order and the sorted
    list of (source, target) pairs that are back edges (carry the previous step)."""
    nodes, edges = flatten_graph(graph)
    order, back = _dfs(nodes, edges)
    return order, sorted(edges[i] for i in back)


# =============================================================================================
# writer / reader
# =============================================================================================

def _version_style(version):
    parts = str(version).split(".")
    if parts[0] == "0":
        return "0.1" if len(parts) > 1 and parts[1] in ("0", "1") else "0.2"
    return "1.0"


def _string_ds(group, name, value, style):
    import h5py
    if style == "fixed":
        b = str(value).encode("utf-8")
        group.create_dataset(name, data=np.array(b, dtype=f"S{max(1, len(b))}"))
    else:
        group.create_dataset(name, data=str(value), dtype=h5py.string_dtype("utf-8"))


def _shape_value(shape, style):
    shape = np.asarray(shape).reshape(-1).astype(np.int64)
    if style == "1d":
        return shape
    if style == "flat":  # the size, wrapped in a (1,) array
        return np.array([int(np.prod(shape))], dtype=np.int64)
    if style == "ones":  # padded with leading 1s to at least 3 dims, e.g. [1, 1, 1]
        return np.concatenate([np.ones(max(0, 3 - shape.size), np.int64), shape])
    raise ValueError(f"unknown shape_style {style!r} (1d, flat, ones)")


def write(path, graph, version="1.0.7", compress=False, *, string_style=None, shape_style="1d",
          neuron_dtype=None, numeric_names=False, shuffle_edges=None, check=True):
    """Writes GRAPH (dict form) as a NIR HDF5 file.

    version: the ``/version`` string; its major.minor picks the layout style (see module docstring).
    compress: gzip every non-scalar numeric dataset.
    string_style: "vlen" or "fixed" (default: "fixed" for 0.0/0.1 versions, else "vlen").
    shape_style: how Input/Output ``shape`` is stored: "1d" (the shape as an int64 array), "flat"
        (the size in a (1,) array) or "ones" (left-padded with 1s to 3 dims, e.g. [1, 1, 1]).
    neuron_dtype: store neuron parameters in this dtype (e.g. np.float64, as some exporters do).
    numeric_names: rename nodes other than Input/Output to "0", "1", ... (every graph level).
    shuffle_edges: an int seed: write every edge list in a shuffled order.
    check: validate the graph first (False writes broken graphs for error tests).
    """
    import h5py
    if check:
        validate(graph)
    style = _version_style(version)
    sstyle = string_style or ("fixed" if style == "0.1" else "vlen")
    rng = np.random.default_rng(shuffle_edges) if shuffle_edges is not None else None
    opts = dict(style=style, sstyle=sstyle, shape_style=shape_style, neuron_dtype=neuron_dtype,
                numeric=numeric_names, rng=rng, compress=compress)
    with h5py.File(path, "w") as f:
        _string_ds(f, "version", version, sstyle)
        _write_node(f.create_group("node"), graph, opts, "")


def _write_array(group, name, value, opts):
    if isinstance(value, dict):  # e.g. an in-memory {"input": shape} type dict
        _write_metadata(group.create_group(name), value, opts)
        return
    if isinstance(value, str):
        _string_ds(group, name, value, opts["sstyle"])
        return
    a = np.asarray(value)
    if a.dtype.kind in "OUS":
        raise ValueError(f"field '{name}': cannot store {a.dtype} values")
    if a.dtype == np.bool_:
        a = a.astype(np.int64)
    if opts["compress"] and a.ndim >= 1 and a.size > 0:
        group.create_dataset(name, data=a, compression="gzip")
    else:
        group.create_dataset(name, data=a)


def _write_metadata(group, meta, opts):
    for k, v in meta.items():
        if isinstance(v, dict):
            _write_metadata(group.create_group(k), v, opts)
        else:
            _write_array(group, k, v, opts)


def _write_node(group, node, opts, where):
    t = node["type"]
    _string_ds(group, "type", t, opts["sstyle"])
    meta = node.get("metadata") or {}
    if meta and opts["style"] == "1.0":
        _write_metadata(group.create_group("metadata"), meta, opts)
    if t == "NIRGraph":
        g = rename_numeric(node) if opts["numeric"] else node
        nodes_g = group.create_group("nodes")
        for name, child in g["nodes"].items():
            _write_node(nodes_g.create_group(name), child, opts, f"{where}.{name}" if where else name)
        edges = [(str(s), str(d)) for s, d in g["edges"]]
        if opts["rng"] is not None and edges:
            edges = [edges[i] for i in opts["rng"].permutation(len(edges))]
        if not edges:
            group.create_dataset("edges", data=np.zeros((0,), np.float64))
        elif opts["sstyle"] == "fixed":
            enc = [[s.encode("utf-8"), d.encode("utf-8")] for s, d in edges]
            width = max(len(x) for row in enc for x in row)
            group.create_dataset("edges", data=np.array(enc, dtype=f"S{width}"))
        else:
            import h5py
            group.create_dataset("edges", data=np.array(edges, dtype=object),
                                 dtype=h5py.string_dtype("utf-8"))
        return
    for k, v in node.items():
        if k in ("type", "metadata") or k.startswith("_") or v is None:
            continue
        if k == "v_reset" and opts["style"] != "1.0":
            if np.any(np.asarray(v, dtype=np.float64) != 0):
                raise ValueError(f"node '{where}': a version {opts['style']} file cannot hold a "
                                 "non-zero v_reset")
            continue
        if k == "shape" and t in ("Input", "Output"):
            v = _shape_value(v, opts["shape_style"])
        elif opts["neuron_dtype"] is not None and t in NEURON_TYPES and k in NEURON_PARAMS[t]:
            v = np.asarray(v).astype(opts["neuron_dtype"])
        _write_array(group, k, v, opts)


def _as_str(v):
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size == 1 else v.item()
    if isinstance(v, (bytes, np.bytes_)):
        return bytes(v).decode("utf-8")
    return str(v)


def _read_value(ds):
    import h5py
    v = ds[()]
    if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind in "OS":
        a = np.asarray(v, dtype=object)
        if a.ndim == 0:
            return _as_str(a.item())
        return np.vectorize(_as_str, otypes=[object])(a).astype(str)
    return np.asarray(v)


def _read_group(group):
    import h5py
    return {k: (_read_group(v) if isinstance(v, h5py.Group) else _read_value(v)) for k, v in group.items()}


def _read_node(group, where):
    import h5py
    if "type" not in group:
        raise ValueError(f"node '{where or '<top>'}': no 'type' dataset")
    t = _as_str(group["type"][()])
    node = {"type": t}
    if t == "NIRGraph":
        kids = group["nodes"] if "nodes" in group else {}
        node["nodes"] = {name: _read_node(kids[name], f"{where}.{name}" if where else name) for name in kids}
        edges = []
        if "edges" in group and group["edges"].size > 0:
            ds = group["edges"]
            if h5py.check_string_dtype(ds.dtype) is None and ds.dtype.kind not in "OS":
                raise ValueError(f"graph '{where or '<top>'}': edges are not strings")
            arr = np.asarray(ds[()], dtype=object).reshape(-1, 2)
            edges = [(_as_str(s), _as_str(d)) for s, d in arr]
        node["edges"] = edges
        if "metadata" in group:
            node["metadata"] = _read_group(group["metadata"])
        return node
    for k in group:
        if k == "type":
            continue
        item = group[k]
        node[k] = _read_group(item) if isinstance(item, h5py.Group) else _read_value(item)
    if t in _RESET_TYPES and "v_reset" not in node and "v_threshold" in node:
        thr = np.asarray(node["v_threshold"])
        node["v_reset"] = np.zeros(thr.shape, thr.dtype if thr.dtype.kind == "f" else np.float64)
    if t in ("Conv1d", "Conv2d") and "input_shape" not in node:
        node["input_shape"] = None
    return node


def read(path, return_version=False):
    """Reads a NIR HDF5 file into the dict form (see :func:`write`).  Strings come back as str,
    numbers as NumPy arrays in their stored dtype and shape; a missing ``v_reset`` becomes zeros and
    a missing Conv ``input_shape`` None.  With return_version: ``(graph, version_string)``."""
    import h5py
    with h5py.File(path, "r") as f:
        version = _as_str(f["version"][()]) if "version" in f else None
        if "node" not in f:
            raise ValueError(f"{path}: no /node group (not a NIR file)")
        g = _read_node(f["node"], "")
    return (g, version) if return_version else g


# =============================================================================================
# primitives
# =============================================================================================

def _field(nd, name, key, default=None):
    """nd[key], else DEFAULT, else a ValueError naming the node and the field."""
    if key in nd and nd[key] is not None:
        return nd[key]
    if default is not None:
        return default
    raise ValueError(f"node '{name}' ({nd['type']}): missing field '{key}'")


def _f32(a):
    return np.asarray(a).astype(_F32)


def _ints(a, n, name, key):
    v = np.asarray(a, dtype=np.float64).reshape(-1)
    if v.size == 1:
        v = np.repeat(v, n)
    if v.size != n or np.any(v != np.round(v)):
        raise ValueError(f"node '{name}': '{key}' must be {n} integer(s), got {a!r}")
    return tuple(int(x) for x in v)


def _size(shape):
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


class _Prim:
    """One flattened node.  build() fixes shapes; step() maps an input [B, size_in] to an output
    [B, size_out]; rest() is the output before step 0."""
    spiking = False
    neuron = False

    def __init__(self, name, nd, sim):
        self.name, self.nd, self.sim = name, nd, sim

    def intrinsic_in_shape(self):
        return None

    def build(self, in_shape):
        self.in_shape = self.out_shape = tuple(in_shape)

    @property
    def size_in(self):
        return _size(self.in_shape)

    @property
    def size_out(self):
        return _size(self.out_shape)

    def reset(self, batch):
        pass

    def rest(self, batch):
        return self.step(np.zeros((batch, self.size_in), _F32))

    def step(self, x):
        return x


class _Identity(_Prim):  # Input, Output, nested Input/Output
    def intrinsic_in_shape(self):
        return tuple(int(s) for s in np.asarray(_field(self.nd, self.name, "shape")).reshape(-1))


class _Flatten(_Prim):
    def intrinsic_in_shape(self):
        it = self.nd.get("input_type")
        if isinstance(it, dict):
            it = it.get("input")
        if it is None:
            return None
        return tuple(int(s) for s in np.asarray(it).reshape(-1))

    def build(self, in_shape):
        self.in_shape = tuple(in_shape)
        n = len(in_shape)
        s = int(np.asarray(self.nd.get("start_dim", 1)).reshape(-1)[0])
        e = int(np.asarray(self.nd.get("end_dim", -1)).reshape(-1)[0])
        s, e = s + n if s < 0 else s, e + n if e < 0 else e
        if 0 <= s <= e < n:
            self.out_shape = self.in_shape[:s] + (_size(self.in_shape[s:e + 1]),) + self.in_shape[e + 1:]
        else:
            self.out_shape = (self.size_in,)


class _Dense(_Prim):  # Affine, Linear
    def __init__(self, name, nd, sim):
        super().__init__(name, nd, sim)
        w = np.asarray(_field(nd, name, "weight"))
        if w.ndim != 2:
            raise ValueError(f"node '{name}': weight must be 2-D [out, in], got shape {w.shape}")
        self.wt = np.ascontiguousarray(_f32(w).T)  # [in, out]
        self.b = None
        if nd["type"] == "Affine":
            self.b = _f32(_field(nd, name, "bias")).reshape(-1)
            if self.b.size not in (1, w.shape[0]):
                raise ValueError(f"node '{name}': bias has {self.b.size} values for {w.shape[0]} outputs")

    def intrinsic_in_shape(self):
        return (self.wt.shape[0],)

    def build(self, in_shape):
        self.in_shape, self.out_shape = tuple(in_shape), (self.wt.shape[1],)
        if self.size_in != self.wt.shape[0]:
            raise ValueError(f"node '{self.name}': input size {self.size_in} != weight columns {self.wt.shape[0]}")

    def step(self, x):
        acc = np.zeros((x.shape[0], self.wt.shape[1]), _F32)
        for i in range(self.wt.shape[0]):
            acc = acc + self.wt[i] * x[:, i:i + 1]
        return acc + self.b if self.b is not None else acc


class _Elementwise(_Prim):  # Scale, Threshold, Delay: a parameter array of size 1 or the node size
    key = None

    def __init__(self, name, nd, sim):
        super().__init__(name, nd, sim)
        self.param = np.asarray(_field(nd, name, self.key))

    def intrinsic_in_shape(self):
        return self.param.shape if self.param.size > 1 else None

    def build(self, in_shape):
        super().build(in_shape)
        if self.param.size not in (1, self.size_in):
            raise ValueError(f"node '{self.name}': '{self.key}' has {self.param.size} values, input size "
                             f"{self.size_in}")

    def flat(self, dtype):
        return np.broadcast_to(np.asarray(self.param, dtype).reshape(-1), (self.size_in,)).copy()


class _Scale(_Elementwise):
    key = "scale"

    def build(self, in_shape):
        super().build(in_shape)
        self.s = self.flat(np.float64).astype(_F32)

    def step(self, x):
        return self.s * x


class _Threshold(_Elementwise):
    key = "threshold"
    spiking = True

    def build(self, in_shape):
        super().build(in_shape)
        self.thr = self.flat(np.float64).astype(_F32)

    def step(self, x):
        return (x > self.thr).astype(_F32)


class _Delay(_Elementwise):
    key = "delay"

    def build(self, in_shape):
        super().build(in_shape)
        d = self.flat(np.float64) / self.sim["dt"]
        if np.any(~np.isfinite(d)) or np.any(d < 0):
            raise ValueError(f"node '{self.name}': delays must be finite and >= 0")
        self.d = np.floor(d + 0.5).astype(np.int64)  # half away from zero (d >= 0)
        self.depth = int(self.d.max(initial=0)) + 1

    def reset(self, batch):
        self.hist = np.zeros((self.depth, batch, self.size_in), _F32)
        self.t = 0

    def rest(self, batch):
        return np.zeros((batch, self.size_in), _F32)

    def step(self, x):
        self.hist[self.t % self.depth] = x
        idx = (self.t - self.d) % self.depth
        y = self.hist[idx, :, np.arange(self.size_in)].T  # [B, size]
        y = np.where((self.d <= self.t)[None, :], y, _F32(0))
        self.t += 1
        return np.ascontiguousarray(y, dtype=_F32)


def _padding(p, kernel, dilation, stride, name):
    """[(before, after)] per spatial dim, PyTorch rules."""
    n = len(kernel)
    if isinstance(p, (str, bytes, np.str_, np.bytes_)):
        p = _as_str(p).lower()
        if p == "valid":
            return [(0, 0)] * n
        if p == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"node '{name}': padding 'same' needs stride 1 (as PyTorch)")
            tot = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return [(t // 2, t - t // 2) for t in tot]
        raise ValueError(f"node '{name}': unknown padding {p!r}")
    return [(q, q) for q in _ints(p, n, name, "padding")]


class _Conv(_Prim):
    def __init__(self, name, nd, sim):
        super().__init__(name, nd, sim)
        self.nsp = 1 if nd["type"] == "Conv1d" else 2
        w = np.asarray(_field(nd, name, "weight"))
        if w.ndim != 2 + self.nsp:
            raise ValueError(f"node '{name}': weight must have {2 + self.nsp} dims, got shape {w.shape}")
        self.w = _f32(w)
        self.groups = _ints(_field(nd, name, "groups"), 1, name, "groups")[0]
        self.cout, self.cin_g = w.shape[0], w.shape[1]
        self.cin = self.cin_g * self.groups
        if self.groups < 1 or self.cout % self.groups:
            raise ValueError(f"node '{name}': {self.cout} output channels not divisible by groups {self.groups}")
        self.kernel = tuple(w.shape[2:])
        self.stride = _ints(_field(nd, name, "stride"), self.nsp, name, "stride")
        self.dilation = _ints(_field(nd, name, "dilation"), self.nsp, name, "dilation")
        self.pad = _padding(_field(nd, name, "padding"), self.kernel, self.dilation, self.stride, name)
        b = _f32(_field(nd, name, "bias")).reshape(-1)
        if b.size not in (1, self.cout):
            raise ValueError(f"node '{name}': bias has {b.size} values for {self.cout} channels")
        self.b = np.broadcast_to(b, (self.cout,)).copy()

    def intrinsic_in_shape(self):
        s = self.nd.get("input_shape")
        if s is None:
            return None
        s = tuple(int(v) for v in np.asarray(s).reshape(-1))
        if len(s) == self.nsp + 1:
            s = s[1:]
        if len(s) != self.nsp:
            raise ValueError(f"node '{self.name}': input_shape {s} has the wrong number of dims")
        return (self.cin,) + s

    def build(self, in_shape):
        in_shape = tuple(in_shape)
        own = self.intrinsic_in_shape()
        if own is not None:
            spatial = own[1:]
        elif self.nsp == 1 and _size(in_shape) % self.cin == 0:  # length = upstream size / C_in
            spatial = (_size(in_shape) // self.cin,)
        elif self.nsp == 2 and len(in_shape) == 3:  # (H, W) of the upstream (C, H, W) shape
            spatial = in_shape[1:]
        else:
            raise ValueError(f"node '{self.name}': cannot tell the input's spatial size from shape {in_shape}; "
                             "give input_shape")
        self.in_shape = (self.cin,) + spatial
        if _size(in_shape) != self.size_in:
            raise ValueError(f"node '{self.name}': input size {_size(in_shape)} != {self.size_in} "
                             f"(input shape {self.in_shape})")
        out = []
        for n, k, s, d, (p0, p1) in zip(spatial, self.kernel, self.stride, self.dilation, self.pad):
            o = (n + p0 + p1 - d * (k - 1) - 1) // s + 1
            if o < 1:
                raise ValueError(f"node '{self.name}': output would be empty")
            out.append(o)
        self.out_shape = (self.cout,) + tuple(out)
        # input channel read by output channel co for local input channel c: chan[co, c]
        per = self.cout // self.groups
        self.chan = (np.arange(self.cout) // per)[:, None] * self.cin_g + np.arange(self.cin_g)[None, :]

    def step(self, x):
        B = x.shape[0]
        xp = np.pad(x.reshape((B,) + self.in_shape), [(0, 0), (0, 0)] + list(self.pad))
        out = self.out_shape[1:]
        acc = np.zeros((B,) + self.out_shape, _F32)
        for c in range(self.cin_g):
            xc = xp[:, self.chan[:, c]]  # [B, cout, *padded]
            for tap in np.ndindex(*self.kernel):
                sl = tuple(slice(t * d, t * d + s * (o - 1) + 1, s)
                           for t, d, s, o in zip(tap, self.dilation, self.stride, out))
                wv = self.w[(slice(None), c) + tap].reshape((1, self.cout) + (1,) * self.nsp)
                acc = acc + wv * xc[(slice(None), slice(None)) + sl]
        acc = acc + self.b.reshape((1, self.cout) + (1,) * self.nsp)
        return acc.reshape(B, -1)


class _Pool(_Prim):
    def __init__(self, name, nd, sim):
        super().__init__(name, nd, sim)
        self.kernel = _ints(_field(nd, name, "kernel_size"), 2, name, "kernel_size")
        st = nd.get("stride")
        self.stride = self.kernel if st is None else _ints(st, 2, name, "stride")
        self.pad = [(p, p) for p in _ints(_field(nd, name, "padding", 0), 2, name, "padding")]
        self.avg = nd["type"] == "AvgPool2d"

    def build(self, in_shape):
        in_shape = tuple(in_shape)
        if len(in_shape) != 3:
            raise ValueError(f"node '{self.name}': needs a (C, H, W) input, upstream shape is {in_shape}")
        self.in_shape = in_shape
        out = [(n + p0 + p1 - k) // s + 1
               for n, k, s, (p0, p1) in zip(in_shape[1:], self.kernel, self.stride, self.pad)]
        if min(out) < 1:
            raise ValueError(f"node '{self.name}': output would be empty")
        self.out_shape = (in_shape[0],) + tuple(out)
        self.scale = _F32(1.0 / (self.kernel[0] * self.kernel[1]))

    def step(self, x):
        B = x.shape[0]
        xp = np.pad(x.reshape((B,) + self.in_shape), [(0, 0), (0, 0)] + self.pad)
        (ho, wo), (sh, sw) = self.out_shape[1:], self.stride
        acc = np.zeros((B,) + self.out_shape, _F32)
        for a in range(self.kernel[0]):
            for b in range(self.kernel[1]):
                acc = acc + xp[:, :, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]
        if self.avg:
            acc = acc * self.scale
        return acc.reshape(B, -1)


class _Neuron(_Prim):
    neuron = True

    def __init__(self, name, nd, sim):
        super().__init__(name, nd, sim)
        t = nd["type"]
        self.spiking = t in _RESET_TYPES
        defaults = {"v_reset": 0.0, "w_in": 1.0}
        self.raw = {}
        for k in NEURON_PARAMS[t]:
            self.raw[k] = np.asarray(_field(nd, name, k, defaults.get(k)))
        sizes = {a.size for a in self.raw.values()}
        self.n = max(sizes)
        if not sizes <= {1, self.n}:
            raise ValueError(f"node '{name}' ({t}): parameters of sizes {sorted(sizes)} do not share one shape")
        big = [a.shape for a in self.raw.values() if a.size == self.n]
        self.pshape = max(big, key=len) if self.n > 1 else None

    def intrinsic_in_shape(self):
        return self.pshape

    def build(self, in_shape):
        super().build(in_shape)
        n, t = self.size_in, self.nd["type"]
        if self.n not in (1, n):
            raise ValueError(f"node '{self.name}' ({t}): {self.n} parameter values for input size {n}")

        def p(k):
            return np.broadcast_to(self.raw[k].astype(np.float64).reshape(-1).astype(_F32), (n,)).copy()

        def k_of(key):
            tau = np.broadcast_to(self.raw[key].astype(np.float64).reshape(-1), (n,))
            if np.any(np.isnan(tau)) or np.any(tau <= 0):
                raise ValueError(f"node '{self.name}': '{key}' must be > 0")
            dt = self.sim["dt"]
            k = dt / tau if self.sim["discretization"] == "euler" else -np.expm1(-dt / tau)
            return k.astype(_F32)

        self.r = p("r")
        if t in ("LI", "LIF", "CubaLI", "CubaLIF"):
            self.v_leak = p("v_leak")
            self.km = k_of("tau" if t in ("LI", "LIF") else "tau_mem")
        if t in ("CubaLI", "CubaLIF"):
            self.w_in, self.ks = p("w_in"), k_of("tau_syn")
        if self.spiking:
            self.thr, self.v_reset = p("v_threshold"), p("v_reset")

    def reset(self, batch):
        self.v = np.zeros((batch, self.size_in), _F32)
        self.i_syn = np.zeros((batch, self.size_in), _F32) if self.nd["type"].startswith("Cuba") else None

    def rest(self, batch):
        return np.zeros((batch, self.size_in), _F32)

    def step(self, x):
        t = self.nd["type"]
        if t in ("I", "IF"):
            self.v = self.v + self.r * x
        else:
            if self.i_syn is not None:
                a = self.w_in * x
                c = a - self.i_syn
                self.i_syn = self.i_syn + self.ks * c
                x = self.i_syn
            a = self.r * x
            c = (self.v_leak - self.v) + a
            self.v = self.v + self.km * c
        if not self.spiking:
            return self.v
        s = self.v > self.thr
        if self.sim["reset"] == "zero":
            self.v = np.where(s, self.v_reset, self.v)
        else:
            self.v = np.where(s, self.v - self.thr, self.v)
        self.last_spikes = s
        return s.astype(_F32)


_PRIMS = {
    "Input": _Identity, "Output": _Identity, "Flatten": _Flatten, "Affine": _Dense, "Linear": _Dense,
    "Scale": _Scale, "Threshold": _Threshold, "Delay": _Delay, "Conv1d": _Conv, "Conv2d": _Conv,
    "SumPool2d": _Pool, "AvgPool2d": _Pool,
    **{t: _Neuron for t in NEURON_TYPES},
}


# =============================================================================================
# the network
# =============================================================================================

class Network:
    """A flattened, shape-checked graph ready to run (what :func:`simulate` builds)."""

    def __init__(self, graph, dt, discretization="euler", reset="zero"):
        if discretization not in ("euler", "exact"):
            raise ValueError(f"discretization must be 'euler' or 'exact', not {discretization!r}")
        if reset not in ("zero", "subtract"):
            raise ValueError(f"reset must be 'zero' or 'subtract', not {reset!r}")
        dt = float(dt)
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError("dt must be a positive number of seconds")
        if graph.get("type", "NIRGraph") != "NIRGraph":
            graph = {"type": "NIRGraph", "nodes": {"node": graph}, "edges": []}
        validate(graph)
        sim = {"dt": dt, "discretization": discretization, "reset": reset}
        self.nodes, self.edges = flatten_graph(graph)
        self.order, back = _dfs(self.nodes, self.edges)
        self.back_edges = sorted(self.edges[i] for i in back)
        self.inputs = _top_inputs(self.nodes)
        self.prims = {n: _PRIMS[nd["type"]](n, nd, sim) for n, nd in self.nodes.items()}
        # incoming edges per node: (source, is_back) in ascending source-name order
        self.incoming = {n: [] for n in self.nodes}
        for i, (s, t) in enumerate(self.edges):
            self.incoming[t].append((s, i in back))
        for n in self.incoming:
            self.incoming[n].sort(key=lambda e: e[0])
        for n in self.inputs:
            if self.incoming[n]:
                raise ValueError(f"Input node '{n}' has incoming edges")
        self._infer_shapes()
        self.outputs = [n for n in self.order if self.nodes[n]["type"] == "Output"]
        self.spiking = [n for n in self.order if self.prims[n].spiking]
        self.neurons = [n for n in self.order if self.prims[n].neuron]

    def _infer_shapes(self):
        shape_in = {}
        for n, p in self.prims.items():
            s = p.intrinsic_in_shape()
            if s is not None:
                shape_in[n] = tuple(s)
        built = set()
        changed = True
        while changed:
            changed = False
            for n in self.order:
                if n in built:
                    continue
                if n not in shape_in:
                    known = [s for s, _ in self.incoming[n] if s in built]
                    if not known:
                        continue
                    shape_in[n] = self.prims[known[0]].out_shape
                self.prims[n].build(shape_in[n])
                built.add(n)
                changed = True
        for n in self.order:
            if n not in built:
                raise ValueError(f"node '{n}' ({self.nodes[n]['type']}): cannot infer its size "
                                 "(no sized parameter and no sized input)")
        for n in self.order:
            for s, _ in self.incoming[n]:
                if self.prims[s].size_out != self.prims[n].size_in:
                    raise ValueError(f"edge {s} -> {n}: size {self.prims[s].size_out} does not match "
                                     f"the target's input size {self.prims[n].size_in}")

    def size(self, name):
        return self.prims[name].size_out

    def run(self, inputs, batched=False, record_states=True):
        if not isinstance(inputs, dict):
            if len(self.inputs) != 1:
                raise ValueError(f"the graph has Input nodes {self.inputs}: pass a dict of inputs")
            inputs = {self.inputs[0]: inputs}
        missing = [n for n in self.inputs if n not in inputs]
        unknown = [n for n in inputs if n not in self.inputs]
        if missing or unknown:
            raise ValueError(f"inputs: missing {missing}, unknown {unknown} (Input nodes: {self.inputs})")
        data, steps = {}, None
        for n in self.inputs:
            x = np.asarray(inputs[n])
            lead = 2 if batched else 1
            if x.ndim < lead or _size(x.shape[lead:]) != self.size(n):
                raise ValueError(f"input '{n}': shape {x.shape} does not give {self.size(n)} values per step")
            x = x.astype(_F32).reshape((x.shape[0] if batched else 1, x.shape[lead - 1], self.size(n)))
            if steps is not None and x.shape[1] != steps:
                raise ValueError("inputs have different numbers of steps")
            if batched and data and x.shape[0] != next(iter(data.values())).shape[0]:
                raise ValueError("inputs have different numbers of clips")
            steps = x.shape[1]
            data[n] = x
        B = next(iter(data.values())).shape[0] if data else 1
        steps = steps if steps is not None else 0
        for p in self.prims.values():
            p.reset(B)
        prev = {n: self.prims[n].rest(B) for n in self.order}
        outs = {n: np.zeros((B, steps, self.size(n)), _F32) for n in self.outputs}
        spk = {n: np.zeros((B, steps, self.size(n)), bool) for n in self.spiking}
        states = {}
        if record_states:
            for n in self.neurons:
                states[n] = {"v": np.zeros((B, steps, self.size(n)), _F32)}
                if self.prims[n].i_syn is not None:
                    states[n]["i_syn"] = np.zeros((B, steps, self.size(n)), _F32)
        for t in range(steps):
            cur = {}
            for n in self.order:
                p = self.prims[n]
                if n in data:
                    y = data[n][:, t]
                else:
                    x = np.zeros((B, p.size_in), _F32)
                    for s, is_back in self.incoming[n]:
                        x = x + (prev[s] if is_back else cur[s])
                    y = p.step(x)
                cur[n] = y
                if n in outs:
                    outs[n][:, t] = y
                if n in spk:
                    spk[n][:, t] = y > 0
                if n in states:
                    states[n]["v"][:, t] = p.v
                    if "i_syn" in states[n]:
                        states[n]["i_syn"][:, t] = p.i_syn
            prev = cur
        if not batched:
            outs = {k: v[0] for k, v in outs.items()}
            spk = {k: v[0] for k, v in spk.items()}
            states = {k: {a: b[0] for a, b in v.items()} for k, v in states.items()}
        return outs, spk, states


def simulate(graph, inputs, dt, discretization="euler", reset="zero", batched=False, record_states=True):
    """Runs GRAPH (dict form, nested graphs allowed) for as many steps as the inputs have.

    inputs: {top-level Input node name: array [steps, *shape]} (any trailing shape with the node's
        size; cast to float32), or one array when there is one Input; with batched=True every
        array has a leading clip axis [clips, steps, ...].
    dt: the step in seconds.  discretization: "euler" or "exact".  reset: "zero" or "subtract".

    Returns ``(outputs, spikes, states)``:
        outputs: {Output node name: float32 [steps, size]} (nested Output nodes by dotted name),
        spikes: {spiking node name: bool [steps, size]} for LIF, IF, CubaLIF and Threshold nodes,
        states: {neuron node name: {"v": float32 [steps, size], "i_syn": (Cuba only)}}
    each with a leading [clips] axis when batched.
    """
    net = Network(graph, dt, discretization, reset)
    return net.run(inputs, batched=batched, record_states=record_states)


# =============================================================================================
# generators
# =============================================================================================

def random_input(seed, steps, shape, kind="spikes", rate=0.2):
    """Deterministic float32 input [steps, *shape]: "spikes" (0/1 with probability RATE) or
    "values" (standard normal)."""
    rng = np.random.default_rng(seed)
    shape = (int(steps),) + tuple(int(s) for s in np.atleast_1d(shape))
    if kind == "spikes":
        return (rng.random(shape) < rate).astype(_F32)
    if kind == "values":
        return rng.standard_normal(shape).astype(_F32)
    raise ValueError(f"kind must be 'spikes' or 'values', not {kind!r}")


def _u(rng, lo, hi, n):
    return rng.uniform(lo, hi, n).astype(_F32)


def _scaled(w, fan_in):
    """float32 weights divided by sqrt(fan_in) (in float32)."""
    return w.astype(_F32) / _F32(math.sqrt(fan_in))


def _calibrate(graph, set_thr, node, x, dt, quantile, rng):
    """Sets node NODE's v_threshold (via SET_THR(graph, array)) so that about 1 - QUANTILE of its
    neurons cross it: runs once with an unreachable threshold and takes the QUANTILE of the
    neurons' largest membrane value (times a per-neuron jitter)."""
    shape = np.shape(set_thr(graph, None))
    set_thr(graph, np.full(shape, np.inf, _F32))
    _, _, states = simulate(graph, x, dt)
    vmax = states[node]["v"].max(axis=0)
    q = float(np.quantile(vmax, quantile))
    if not q > 1e-3:
        q = max(1e-3, float(vmax.max()) * 0.5) if vmax.max() > 0 else 1.0
    set_thr(graph, (q * rng.uniform(0.9, 1.1, shape)).astype(_F32))


def _setter(*path):
    def f(g, value):
        nd = g
        for p in path[:-1]:
            nd = nd["nodes"][p] if "nodes" in nd else nd[p]
        nd = nd["nodes"][path[-1]]
        if value is None:
            return nd["v_threshold"]
        nd["v_threshold"] = value
        return value
    return f


def random_cuba_rnn(seed, n_in=12, n_hidden=24, n_out=4, recurrent="affine", readout="lif", dt=1e-4,
                    steps=100, rate=0.2):
    """Input -> Affine -> CubaLIF (with a recurrent Affine/Linear back edge) -> Affine -> LIF/LI ->
    Output, random float32 parameters (per-neuron time constants of a few dt, a non-zero v_leak,
    random r and w_in), thresholds calibrated on a random spike input so that roughly half of the
    neurons spike at DT.  recurrent: "affine" or "linear"; readout: "lif" or "li"."""
    rng = np.random.default_rng(seed)
    h, o = n_hidden, n_out
    tau_mem = _u(rng, 5 * dt, 20 * dt, h)
    cuba = {"type": "CubaLIF", "tau_syn": _u(rng, 2 * dt, 10 * dt, h), "tau_mem": tau_mem,
            "r": (tau_mem / _F32(dt) * _u(rng, 0.6, 1.4, h)).astype(_F32),
            "v_leak": (rng.normal(0, 0.05, h)).astype(_F32),
            "v_threshold": np.ones(h, _F32), "v_reset": np.zeros(h, _F32),
            "w_in": _u(rng, 0.5, 2.0, h)}
    rec = {"type": "Affine" if recurrent == "affine" else "Linear",
           "weight": (rng.normal(0, 0.6 / math.sqrt(h), (h, h))).astype(_F32)}
    if recurrent == "affine":
        rec["bias"] = rng.normal(0.02, 0.05, h).astype(_F32)
    elif recurrent != "linear":
        raise ValueError("recurrent must be 'affine' or 'linear'")
    tau_o = _u(rng, 5 * dt, 20 * dt, o)
    if readout == "lif":
        head = {"type": "LIF", "tau": tau_o, "r": (tau_o / _F32(dt) * _u(rng, 0.6, 1.4, o)).astype(_F32),
                "v_leak": np.zeros(o, _F32), "v_threshold": np.ones(o, _F32), "v_reset": np.zeros(o, _F32)}
    elif readout == "li":
        head = {"type": "LI", "tau": tau_o, "r": _u(rng, 0.5, 2.0, o), "v_leak": rng.normal(0, 0.05, o).astype(_F32)}
    else:
        raise ValueError("readout must be 'lif' or 'li'")
    g = {"type": "NIRGraph",
         "nodes": {
             "input": {"type": "Input", "shape": np.array([n_in], np.int64)},
             "fc_in": {"type": "Affine", "weight": _scaled(rng.normal(0.15, 0.5, (h, n_in)), n_in),
                       "bias": rng.normal(0, 0.05, h).astype(_F32)},
             "cuba": cuba, "rec": rec,
             "fc_out": {"type": "Affine", "weight": _scaled(rng.normal(0.1, 1.0, (o, h)), h),
                        "bias": rng.normal(0, 0.05, o).astype(_F32)},
             "readout": head,
             "output": {"type": "Output", "shape": np.array([o], np.int64)}},
         "edges": [("input", "fc_in"), ("fc_in", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "fc_out"),
                   ("fc_out", "readout"), ("readout", "output")],
         "metadata": {"generator": "random_cuba_rnn", "seed": np.int64(seed)}}
    x = random_input(seed + 1, steps, (n_in,), "spikes", rate)
    _calibrate(g, _setter("cuba"), "cuba", x, dt, 0.4, rng)
    if readout == "lif":
        _calibrate(g, _setter("readout"), "readout", x, dt, 0.4, rng)
    return g


def _conv_out(n, k, s, d, p):
    if isinstance(p, str):
        if p == "same":
            return n
        p = 0
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv_net(seed, variant="sum", dt=1e-4, steps=40, rate=0.3):
    """A small convolutional network with random float32 parameters:

    * "sum": Input(C,H,W) -> Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> LIF -> Output,
    * "avg": the same with AvgPool2d (padding counted),
    * "conv1d": Input(C,N) -> Conv1d -> IF -> Flatten -> Affine -> LIF -> Output.

    Kernel (odd and even), stride, padding (int, pair, "same", "valid"), dilation and groups are
    drawn from SEED.  The IF parameters have the full (C, H, W) shape; thresholds are calibrated on
    a random spike input so that a good part of the neurons spike."""
    rng = np.random.default_rng(seed)
    nodes = {}
    if variant in ("sum", "avg"):
        cin = 2
        while True:
            hw = int(rng.integers(8, 13))
            k = (int(rng.choice([2, 3, 4])), int(rng.choice([2, 3])))
            stride = (int(rng.choice([1, 2])), int(rng.choice([1, 2])))
            dil = (int(rng.choice([1, 2])), int(rng.choice([1, 2])))
            opts = [1, (0, 1), "valid", (2, 1)] + (["same"] * 2 if stride == (1, 1) else [])
            pad = opts[int(rng.integers(len(opts)))]
            groups = int(rng.choice([1, 2]))
            pp = (pad, pad) if isinstance(pad, (int, str)) else pad
            oh = _conv_out(hw, k[0], stride[0], dil[0], pp[0])
            ow = _conv_out(hw, k[1], stride[1], dil[1], pp[1])
            if min(oh, ow) >= 4:
                break
        cout = 4
        w = _scaled(rng.normal(0.3, 0.6, (cout, cin // groups) + k), cin // groups * k[0] * k[1])
        padv = pad if isinstance(pad, str) else np.array(pp, np.int64)
        nodes["input"] = {"type": "Input", "shape": np.array([cin, hw, hw], np.int64)}
        nodes["conv"] = {"type": "Conv2d", "input_shape": np.array([hw, hw], np.int64), "weight": w,
                         "stride": np.array(stride, np.int64), "padding": padv,
                         "dilation": np.array(dil, np.int64), "groups": np.int64(groups),
                         "bias": rng.normal(0.05, 0.05, cout).astype(_F32)}
        ishape = (cout, oh, ow)
        pk = 2
        ppad = 1 if (variant == "avg" and rng.random() < 0.5) else 0
        ph, pw = (oh + 2 * ppad - pk) // 2 + 1, (ow + 2 * ppad - pk) // 2 + 1
        nodes["pool"] = {"type": "SumPool2d" if variant == "sum" else "AvgPool2d",
                         "kernel_size": np.array([pk, pk], np.int64), "stride": np.array([2, 2], np.int64),
                         "padding": np.array([ppad, ppad], np.int64)}
        flat_in = (cout, ph, pw)
        chain = ["input", "conv", "if", "pool", "flatten", "fc", "lif", "output"]
    elif variant == "conv1d":
        cin, n = 3, int(rng.integers(12, 20))
        while True:
            k = int(rng.choice([2, 3, 4]))
            stride = int(rng.choice([1, 2]))
            dil = int(rng.choice([1, 2]))
            opts = [0, 1, "valid"] + (["same"] * 2 if stride == 1 else [])
            pad = opts[int(rng.integers(len(opts)))]
            groups = int(rng.choice([1, 3]))
            on = _conv_out(n, k, stride, dil, pad)
            if on >= 4:
                break
        cout = 6
        w = _scaled(rng.normal(0.3, 0.6, (cout, cin // groups, k)), cin // groups * k)
        nodes["input"] = {"type": "Input", "shape": np.array([cin, n], np.int64)}
        nodes["conv"] = {"type": "Conv1d", "input_shape": np.int64(n), "weight": w, "stride": np.int64(stride),
                         "padding": pad if isinstance(pad, str) else np.int64(pad), "dilation": np.int64(dil),
                         "groups": np.int64(groups), "bias": rng.normal(0.05, 0.05, cout).astype(_F32)}
        ishape = (cout, on)
        flat_in = ishape
        chain = ["input", "conv", "if", "flatten", "fc", "lif", "output"]
    else:
        raise ValueError("variant must be 'sum', 'avg' or 'conv1d'")
    nodes["if"] = {"type": "IF", "r": _u(rng, 0.5, 1.5, ishape), "v_threshold": np.ones(ishape, _F32),
                   "v_reset": np.zeros(ishape, _F32)}
    nin = _size(flat_in)
    nodes["flatten"] = {"type": "Flatten", "input_type": np.array(flat_in, np.int64), "start_dim": np.int64(0),
                        "end_dim": np.int64(-1)}
    nout = 5
    nodes["fc"] = {"type": "Affine", "weight": _scaled(rng.normal(0.2, 1.0, (nout, nin)), nin),
                   "bias": rng.normal(0, 0.05, nout).astype(_F32)}
    tau = _u(rng, 5 * dt, 20 * dt, nout)
    nodes["lif"] = {"type": "LIF", "tau": tau, "r": (tau / _F32(dt) * _u(rng, 0.6, 1.4, nout)).astype(_F32),
                    "v_leak": np.zeros(nout, _F32), "v_threshold": np.ones(nout, _F32),
                    "v_reset": np.zeros(nout, _F32)}
    nodes["output"] = {"type": "Output", "shape": np.array([nout], np.int64)}
    g = {"type": "NIRGraph", "nodes": {c: nodes[c] for c in chain}, "edges": list(zip(chain[:-1], chain[1:])),
         "metadata": {"generator": f"conv_net/{variant}", "seed": np.int64(seed)}}
    x = random_input(seed + 1, steps, tuple(int(s) for s in nodes["input"]["shape"]), "spikes", rate)
    _calibrate(g, _setter("if"), "if", x, dt, 0.5, rng)
    _calibrate(g, _setter("lif"), "lif", x, dt, 0.4, rng)
    return g


def nested(seed, n_in=8, n_hidden=16, n_out=3, neuron="LIF", dt=1e-4, steps=100, rate=0.2):
    """A top graph holding a recurrent subgraph, like snnTorch's RLeaky/RSynaptic export:
    input -> fc -> rnn{input, lif, w.rec, output} -> head.fc -> head.li -> output, where inside
    ``rnn`` the edges are input -> lif, lif -> w.rec, w.rec -> lif, lif -> output.  ``w.rec`` (an
    Affine) contains a dot on purpose (flattened: ``rnn.w.rec``), and so do the top-level names
    ``head.fc`` / ``head.li`` (kept as they are).  neuron: "LIF" or "CubaLIF"."""
    rng = np.random.default_rng(seed)
    h = n_hidden
    tau = _u(rng, 5 * dt, 20 * dt, h)
    if neuron == "LIF":
        lif = {"type": "LIF", "tau": tau, "r": (tau / _F32(dt) * _u(rng, 0.6, 1.4, h)).astype(_F32),
               "v_leak": rng.normal(0, 0.05, h).astype(_F32), "v_threshold": np.ones(h, _F32),
               "v_reset": np.zeros(h, _F32)}
    elif neuron == "CubaLIF":
        lif = {"type": "CubaLIF", "tau_syn": _u(rng, 2 * dt, 10 * dt, h), "tau_mem": tau,
               "r": (tau / _F32(dt) * _u(rng, 0.6, 1.4, h)).astype(_F32),
               "v_leak": rng.normal(0, 0.05, h).astype(_F32), "v_threshold": np.ones(h, _F32),
               "v_reset": np.zeros(h, _F32), "w_in": _u(rng, 0.5, 2.0, h)}
    else:
        raise ValueError("neuron must be 'LIF' or 'CubaLIF'")
    rnn = {"type": "NIRGraph",
           "nodes": {"input": {"type": "Input", "shape": np.array([h], np.int64)}, "lif": lif,
                     "w.rec": {"type": "Affine", "weight": rng.normal(0, 0.6 / math.sqrt(h), (h, h)).astype(_F32),
                               "bias": rng.normal(0.02, 0.05, h).astype(_F32)},
                     "output": {"type": "Output", "shape": np.array([h], np.int64)}},
           "edges": [("input", "lif"), ("lif", "w.rec"), ("w.rec", "lif"), ("lif", "output")]}
    g = {"type": "NIRGraph",
         "nodes": {"input": {"type": "Input", "shape": np.array([n_in], np.int64)},
                   "fc": {"type": "Affine", "weight": _scaled(rng.normal(0.15, 0.5, (h, n_in)), n_in),
                          "bias": rng.normal(0, 0.05, h).astype(_F32)},
                   "rnn": rnn,
                   "head.fc": {"type": "Affine", "weight": _scaled(rng.normal(0, 1.0, (n_out, h)), h),
                               "bias": rng.normal(0, 0.05, n_out).astype(_F32)},
                   "head.li": {"type": "LI", "tau": _u(rng, 5 * dt, 20 * dt, n_out), "r": _u(rng, 0.5, 2.0, n_out),
                               "v_leak": np.zeros(n_out, _F32)},
                   "output": {"type": "Output", "shape": np.array([n_out], np.int64)}},
         "edges": [("input", "fc"), ("fc", "rnn"), ("rnn", "head.fc"), ("head.fc", "head.li"), ("head.li", "output")],
         "metadata": {"generator": "nested", "seed": np.int64(seed)}}
    x = random_input(seed + 1, steps, (n_in,), "spikes", rate)
    _calibrate(g, _setter("rnn", "lif"), "rnn.lif", x, dt, 0.4, rng)
    return g


def single_lif(seed=0, steps=1000, tau=2.5e-3, r=1.0, v_leak=0.0, v_threshold=0.1, v_reset=0.0, period=10,
               stay=0.8):
    """A single LIF like the NIR paper's ``paper/01_lif`` example: input -> "0" (Affine, weight 1,
    bias 0) -> "1" (LIF) -> output, with float32 parameters (defaults: tau 2.5 ms, r 1, v_leak 0,
    v_threshold 0.1) meant for dt = 1e-4.  Returns ``(graph, x)``: x float32 [steps, 1] is a 0/1
    current that can be 1 only at every PERIOD-th step, as in the paper's input; there the values
    come in runs (a two-state Markov chain that keeps its value with probability STAY), so that the
    neuron reaches threshold during the longer runs of ones."""
    rng = np.random.default_rng(seed)
    slots = len(range(0, steps, period))
    bits = np.zeros(slots, _F32)
    b = 0.0
    for i, u in enumerate(rng.random(slots)):
        b = b if u < stay else 1.0 - b
        bits[i] = b
    x = np.zeros((steps, 1), _F32)
    x[::period, 0] = bits
    one = np.ones(1, _F32)
    g = {"type": "NIRGraph",
         "nodes": {"input": {"type": "Input", "shape": np.array([1], np.int64)},
                   "0": {"type": "Affine", "weight": np.ones((1, 1), _F32), "bias": np.zeros(1, _F32)},
                   "1": {"type": "LIF", "tau": one * _F32(tau), "r": one * _F32(r), "v_leak": one * _F32(v_leak),
                         "v_threshold": one * _F32(v_threshold), "v_reset": one * _F32(v_reset)},
                   "output": {"type": "Output", "shape": np.array([1], np.int64)}},
         "edges": [("input", "0"), ("0", "1"), ("1", "output")]}
    return g, x


# =============================================================================================
# CLI
# =============================================================================================

def _make(args):
    if args.kind == "cuba_rnn":
        g = random_cuba_rnn(args.seed, recurrent=args.recurrent, readout=args.readout, dt=args.dt)
    elif args.kind in ("conv_sum", "conv_avg", "conv1d"):
        g = conv_net(args.seed, {"conv_sum": "sum", "conv_avg": "avg", "conv1d": "conv1d"}[args.kind], dt=args.dt)
    elif args.kind in ("nested", "nested_cuba"):
        g = nested(args.seed, neuron="LIF" if args.kind == "nested" else "CubaLIF", dt=args.dt)
    else:
        g, x1 = single_lif(args.seed)
    write(args.out, g, version=args.version, compress=args.compress, shape_style=args.shape_style,
          neuron_dtype=np.float64 if args.float64_neurons else None, numeric_names=args.numeric_names,
          shuffle_edges=args.shuffle_edges)
    print(f"wrote {args.out}")
    if args.input_out:
        if args.kind == "single_lif":
            x = x1
        else:
            (name,) = _top_inputs(flatten_graph(g)[0])
            shape = tuple(int(s) for s in np.asarray(g["nodes"][name]["shape"]).reshape(-1))
            x = random_input(args.seed + 1, args.steps, shape, args.input_kind)
        np.save(args.input_out, x)
        print(f"wrote {args.input_out} {x.shape}")


def _run(args):
    g = read(args.file)
    net = Network(g, args.dt, args.discretization, args.reset)
    inputs = {}
    for spec in args.input:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        if not name:
            if len(net.inputs) != 1:
                raise SystemExit(f"the graph has Input nodes {net.inputs}: use --input NAME=X.npy")
            name = net.inputs[0]
        inputs[name] = np.load(path)
    # [steps, ...] or [clips, steps, ...]
    first = next(iter(inputs))
    x = np.asarray(inputs[first])
    batched = not (x.ndim >= 1 and _size(x.shape[1:]) == net.size(first))
    outs, spk, states = net.run(inputs, batched=batched)
    res = {f"outputs/{k}": v for k, v in outs.items()}
    res.update({f"spikes/{k}": v for k, v in spk.items()})
    for k, d in states.items():
        res.update({f"states/{k}/{a}": b for a, b in d.items()})
    res["order"] = np.array(net.order, dtype=str)
    res["back_edges"] = np.array(net.back_edges, dtype=str).reshape(-1, 2)
    np.savez(args.out, **res)
    for k, v in spk.items():
        print(f"{k}: {int(v.sum())} spikes, {int(v.any(axis=-2).sum())} of {v.shape[-1]} neurons spiked")
    print(f"wrote {args.out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description="NumPy reference of lmusim's NIR semantics.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write a generated NIR file")
    mk.add_argument("kind", choices=["cuba_rnn", "conv_sum", "conv_avg", "conv1d", "nested", "nested_cuba",
                                     "single_lif"])
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--out", required=True)
    mk.add_argument("--version", default="1.0.7")
    mk.add_argument("--compress", action="store_true")
    mk.add_argument("--shape-style", default="1d", choices=["1d", "flat", "ones"])
    mk.add_argument("--float64-neurons", action="store_true", help="store neuron parameters as float64")
    mk.add_argument("--numeric-names", action="store_true")
    mk.add_argument("--shuffle-edges", type=int, default=None, metavar="SEED")
    mk.add_argument("--recurrent", default="affine", choices=["affine", "linear"])
    mk.add_argument("--readout", default="lif", choices=["lif", "li"])
    mk.add_argument("--dt", type=float, default=1e-4, help="the step the thresholds are calibrated for")
    mk.add_argument("--input-out", help="also write a random input [steps, *shape] for the Input node")
    mk.add_argument("--steps", type=int, default=100)
    mk.add_argument("--input-kind", default="spikes", choices=["spikes", "values"])
    rn = sub.add_parser("run", help="simulate a NIR file; writes an .npz")
    rn.add_argument("file")
    rn.add_argument("--input", action="append", required=True, metavar="[NAME=]X.npy",
                    help="float32 [steps, ...] or [clips, steps, ...]; repeat for several Input nodes")
    rn.add_argument("--dt", type=float, required=True)
    rn.add_argument("--discretization", default="euler", choices=["euler", "exact"])
    rn.add_argument("--reset", default="zero", choices=["zero", "subtract"])
    rn.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    (_make if args.cmd == "make" else _run)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
