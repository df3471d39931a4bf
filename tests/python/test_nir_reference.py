"""Tests of the NumPy NIR reference (``nir_reference.py``): closed forms of the neuron updates,
convolutions and pools against PyTorch, the cycle and ordering rules, nested graphs, the file
writer/reader in every version style, the generators and the CLI.

Run: ``/usr/bin/python3 -m pytest -q tests/python/test_nir_reference.py`` (a few seconds).
"""
import math
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nir_reference as R  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
f32 = np.float32


def a32(*v):
    return np.array(v, f32)


def chain(n_in, *named, out_shape=None):
    """Input(n_in) -> named nodes in order -> Output."""
    nodes = {"input": {"type": "Input", "shape": np.array(np.atleast_1d(n_in), np.int64)}}
    names = ["input"]
    for name, nd in named:
        nodes[name] = nd
        names.append(name)
    nodes["output"] = {"type": "Output", "shape": np.array(np.atleast_1d(out_shape or 1), np.int64)}
    names.append("output")
    return {"type": "NIRGraph", "nodes": nodes, "edges": list(zip(names[:-1], names[1:]))}


def fix_output(g, size):
    g["nodes"]["output"]["shape"] = np.array([size], np.int64)
    return g


def lif(tau, r, v_leak, thr, v_reset=0.0, n=1):
    return {"type": "LIF", "tau": np.full(n, tau), "r": np.full(n, r, f32), "v_leak": np.full(n, v_leak, f32),
            "v_threshold": np.full(n, thr, f32), "v_reset": np.full(n, v_reset, f32)}


def const(steps, *values):
    return np.tile(np.array(values, f32), (steps, 1))


# =============================================================================================
# neuron closed forms
# =============================================================================================

def test_lif_euler_closed_form_and_analytic_spike_step():
    dt, tau, r, x, v_leak, thr = 1e-4, 2e-3, 2.0, 0.7, 0.1, 1.2
    g = chain(1, ("lif", lif(tau, r, v_leak, thr)))
    _, spikes, states = R.simulate(g, const(100, x), dt)
    k = float(f32(dt / tau))
    v_inf = float(f32(v_leak) + f32(r) * f32(x))
    n_star = math.ceil(math.log((v_inf - thr) / v_inf) / math.log(1 - k))  # first n with v_n > thr
    n = np.arange(1, n_star)
    closed = v_inf + (1 - k) ** n * (0.0 - v_inf)  # v_n, v_0 = 0; step t holds v_{t+1}
    np.testing.assert_allclose(states["lif"]["v"][:n_star - 1, 0], closed, rtol=2e-6)
    # v_reset = 0: every spike restarts the same trajectory, so spikes come every n_star steps
    expect = np.arange(n_star - 1, 100, n_star)
    assert n_star == 32 and np.array_equal(np.nonzero(spikes["lif"][:, 0])[0], expect)


def test_lif_exact_tracks_the_exact_solution():
    dt, tau, r, x, v_leak = 1e-4, 2e-3, 2.0, 0.7, 0.1
    g = chain(1, ("lif", lif(tau, r, v_leak, 1e9)))
    t = np.arange(1, 301) * dt
    v_inf = v_leak + r * x
    exact = v_inf + (0.0 - v_inf) * np.exp(-t / tau)
    _, spikes, st = R.simulate(g, const(300, x), dt, discretization="exact")
    assert not spikes["lif"].any()
    np.testing.assert_allclose(st["lif"]["v"][:, 0], exact, atol=1e-5, rtol=0)
    # euler is visibly different at this dt/tau = 0.05
    _, _, st_e = R.simulate(g, const(300, x), dt, discretization="euler")
    assert np.abs(st_e["lif"]["v"][:, 0] - exact).max() > 1e-3
    # the brief's form with v_0 = v_leak: v(t) = v_leak + r x (1 - e^{-t/tau})
    g2 = chain(1, ("li", {"type": "LI", "tau": np.array([tau]), "r": a32(r), "v_leak": a32(0.0)}))
    _, _, st2 = R.simulate(g2, const(300, x), dt, discretization="exact")
    np.testing.assert_allclose(st2["li"]["v"][:, 0], r * x * (1 - np.exp(-t / tau)), atol=1e-5, rtol=0)


def test_exact_factor_is_rounded_once_from_float64():
    dt, tau = 1e-4, np.array([3e-4, 7.3e-3, 1.1e-2])
    g = chain(3, ("li", {"type": "LI", "tau": tau, "r": np.ones(3, f32), "v_leak": np.zeros(3, f32)}), out_shape=3)
    for disc, k in (("euler", (dt / tau).astype(f32)), ("exact", (-np.expm1(-dt / tau)).astype(f32))):
        o, _, st = R.simulate(g, const(1, 1.0, 1.0, 1.0), dt, discretization=disc)
        assert np.array_equal(st["li"]["v"][0], k)  # v = 0 + k*((0 - 0) + 1*1)
        assert np.array_equal(o["output"][0], k)  # LI outputs v


def test_if_counts_impulses_without_dt():
    rng = np.random.default_rng(3)
    x = np.zeros((200, 1), f32)
    hits = np.sort(rng.choice(200, 25, replace=False))
    x[hits] = 1.0
    g = chain(1, ("if", {"type": "IF", "r": a32(1.0), "v_threshold": a32(2.5), "v_reset": a32(0.0)}))
    results = [R.simulate(g, x, dt)[1]["if"][:, 0] for dt in (1e-4, 0.37)]
    assert np.array_equal(results[0], results[1])
    assert np.array_equal(np.nonzero(results[0])[0], hits[2::3])
    # the integrator I outputs the running sum
    gi = chain(1, ("int", {"type": "I", "r": a32(0.5)}))
    o, spikes, _ = R.simulate(gi, x, 1e-4)
    assert "int" not in spikes
    np.testing.assert_array_equal(o["output"][:, 0], 0.5 * np.cumsum(x[:, 0]))


def test_cuba_lif_uses_the_updated_current():
    # dt/tau = 0.5 exactly: I = [1, 1.5, 1.75]; v = [0.5, 1.0, 1.375] -> spike at step 2.
    # (With the previous step's current v would be [0, 0.5, 1.0] and no spike.)
    g = chain(1, ("c", {"type": "CubaLIF", "tau_syn": np.array([2e-4]), "tau_mem": np.array([2e-4]),
                        "r": a32(1.0), "v_leak": a32(0.0), "v_threshold": a32(1.2), "v_reset": a32(0.0),
                        "w_in": a32(2.0)}))
    o, spikes, st = R.simulate(g, const(3, 1.0), 1e-4)
    np.testing.assert_array_equal(st["c"]["i_syn"][:, 0], [1.0, 1.5, 1.75])
    np.testing.assert_array_equal(st["c"]["v"][:, 0], [0.5, 1.0, 0.0])  # reset to 0 after the spike
    np.testing.assert_array_equal(spikes["c"][:, 0], [False, False, True])
    _, _, st_s = R.simulate(g, const(3, 1.0), 1e-4, reset="subtract")
    np.testing.assert_array_equal(st_s["c"]["v"][:, 0], [0.5, 1.0, 1.375 - f32(1.2)])
    np.testing.assert_array_equal(st_s["c"]["i_syn"][:, 0], [1.0, 1.5, 1.75])  # reset leaves I alone
    # CubaLI: same current, outputs v
    gl = chain(1, ("c", {"type": "CubaLI", "tau_syn": np.array([2e-4]), "tau_mem": np.array([2e-4]),
                         "r": a32(1.0), "v_leak": a32(0.0), "w_in": a32(2.0)}))
    o, spikes, _ = R.simulate(gl, const(3, 1.0), 1e-4)
    assert spikes == {}
    np.testing.assert_array_equal(o["output"][:, 0], [0.5, 1.0, 1.375])


def test_threshold_is_strict():
    g = chain(4, ("th", {"type": "Threshold", "threshold": a32(0.5, 0.5, -1.0, -1.0)}), out_shape=4)
    x = a32(0.5, np.nextafter(f32(0.5), f32(1)), -1.0, -0.999)[None]
    o, spikes, _ = R.simulate(g, x, 1e-4)
    np.testing.assert_array_equal(o["output"][0], [0, 1, 0, 1])
    assert spikes["th"].dtype == bool and spikes["th"].shape == (1, 4)


def test_delay_shifts_each_element():
    g = chain(3, ("d", {"type": "Delay", "delay": np.array([0.0, 2e-4, 3e-4])}), out_shape=3)
    x = R.random_input(1, 12, (3,), "values")
    o, _, _ = R.simulate(g, x, 1e-4)
    y = o["output"]
    for j, d in enumerate((0, 2, 3)):
        np.testing.assert_array_equal(y[d:, j], x[:12 - d, j])
        np.testing.assert_array_equal(y[:d, j], 0)
    # rounding half away from zero; a scalar delay applies to every element
    g1 = chain(2, ("d", {"type": "Delay", "delay": np.array(2.5)}), out_shape=2)
    y1 = R.simulate(g1, R.random_input(2, 8, (2,), "values"), 1.0)[0]["output"]
    assert np.all(y1[:3] == 0) and np.all(y1[3:] != 0)


def test_reset_zero_vs_subtract_by_hand():
    def run(reset, v_reset=0.0):
        g = chain(1, ("if", {"type": "IF", "r": a32(1.0), "v_threshold": a32(1.0), "v_reset": a32(v_reset)}))
        _, s, st = R.simulate(g, const(8, 0.75), 1e-4, reset=reset)
        return np.nonzero(s["if"][:, 0])[0].tolist(), st["if"]["v"][:, 0].tolist()

    assert run("zero") == ([1, 3, 5, 7], [0.75, 0, 0.75, 0, 0.75, 0, 0.75, 0])
    # subtract: 1.0 (t=3, t=7) is not above the threshold
    assert run("subtract") == ([1, 2, 4, 5, 6], [0.75, 0.5, 0.25, 1.0, 0.75, 0.5, 0.25, 1.0])
    assert run("zero", 0.25) == ([1, 3, 5, 7], [0.75, 0.25, 1.0, 0.25, 1.0, 0.25, 1.0, 0.25])
    # LIF: same rule
    g = chain(1, ("lif", lif(1e-4, 1.0, 0.0, 1.0)))  # k = 1: v = r x
    _, s, st = R.simulate(g, const(3, 1.5), 1e-4, reset="subtract")
    assert s["lif"][:, 0].all() and np.array_equal(st["lif"]["v"][:, 0], [0.5, 0.5, 0.5])


def _scalar_neuron(t, p, x, dt, disc, reset):
    """The documented per-neuron float32 operations, one neuron and one step at a time."""
    def k(tau):
        return f32(dt / tau) if disc == "euler" else f32(-math.expm1(-dt / tau))

    P = {key: (np.asarray(v, np.float64) if key.startswith("tau") else np.asarray(v).astype(f32))
         for key, v in p.items()}
    steps, n = x.shape
    vs, ss = np.zeros((steps, n), f32), np.zeros((steps, n), bool)
    for j in range(n):
        v, cur = f32(0), f32(0)
        for s in range(steps):
            xi = x[s, j]
            if t in ("I", "IF"):
                v = f32(v + f32(P["r"][j] * xi))
            else:
                if t.startswith("Cuba"):
                    cur = f32(cur + f32(k(P["tau_syn"][j]) * f32(f32(P["w_in"][j] * xi) - cur)))
                    xi = cur
                km = k(P["tau"][j] if "tau" in P else P["tau_mem"][j])
                v = f32(v + f32(km * f32(f32(P["v_leak"][j] - v) + f32(P["r"][j] * xi))))
            if t in ("IF", "LIF", "CubaLIF") and v > P["v_threshold"][j]:
                ss[s, j] = True
                v = P["v_reset"][j] if reset == "zero" else f32(v - P["v_threshold"][j])
            vs[s, j] = v
    return vs, ss


@pytest.mark.parametrize("t", ["I", "IF", "LI", "LIF", "CubaLI", "CubaLIF"])
def test_neuron_updates_follow_the_stated_float32_operations(t):
    rng = np.random.default_rng(len(t))
    n, dt = 6, 1e-4
    p = {"tau": rng.uniform(2e-4, 3e-3, n), "tau_syn": rng.uniform(2e-4, 1e-3, n),
         "tau_mem": rng.uniform(3e-4, 3e-3, n),
         "r": rng.uniform(0.5, 30, n), "v_leak": rng.normal(0, 0.3, n), "v_threshold": rng.uniform(0.3, 1.5, n),
         "v_reset": rng.normal(0, 0.1, n), "w_in": rng.uniform(0.5, 3, n)}
    p = {key: v for key, v in p.items() if key in R.NEURON_PARAMS[t]}  # float64, rounded by the reference
    x = (rng.random((40, n)) < 0.4).astype(f32) * rng.uniform(0.1, 1.0, (40, n)).astype(f32)
    g = chain(n, ("n", dict(type=t, **p)), out_shape=n)
    for disc in ("euler", "exact"):
        for reset in ("zero", "subtract"):
            _, spikes, st = R.simulate(g, x, dt, disc, reset)
            vs, ss = _scalar_neuron(t, p, x, dt, disc, reset)
            assert np.array_equal(st["n"]["v"], vs), (disc, reset)
            if t in ("IF", "LIF", "CubaLIF"):
                assert np.array_equal(spikes["n"], ss) and ss.any()


def test_parameters_broadcast_and_flatten_in_c_order():
    thr = np.arange(6, dtype=np.float64).reshape(2, 3) / 10 + 0.05  # full-shape, float64
    g = chain((2, 3), ("if", {"type": "IF", "r": np.array([1.0]), "v_threshold": thr}), out_shape=6)
    x = np.full((1, 2, 3), 0.3, f32)
    o, _, _ = R.simulate(g, x, 1e-4)
    np.testing.assert_array_equal(o["output"][0], (f32(0.3) > thr.reshape(-1).astype(f32)).astype(f32))


# =============================================================================================
# dense, convolutions and pools
# =============================================================================================

def _seq_dense(W, x, b):
    """The documented order with NumPy float32 scalars, one element at a time."""
    out = []
    for o in range(W.shape[0]):
        acc = f32(0)
        for i in range(W.shape[1]):
            acc = f32(acc + f32(W[o, i] * x[i]))
        out.append(f32(acc + b[o]) if b is not None else acc)
    return np.array(out, f32)


def test_affine_is_a_sequential_float32_sum():
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((7, 40)) * 10.0 ** rng.uniform(-3, 3, (7, 40))).astype(f32)
    b = rng.standard_normal(7).astype(f32)
    x = (rng.standard_normal(40) * 10.0 ** rng.uniform(-3, 3, 40)).astype(f32)
    g = chain(40, ("fc", {"type": "Affine", "weight": W, "bias": b}), out_shape=7)
    y = R.simulate(g, x[None], 1e-4)[0]["output"][0]
    assert np.array_equal(y, _seq_dense(W, x, b))
    assert not np.array_equal(y, (W.astype(np.float64) @ x + b).astype(f32))  # the order matters here
    gl = chain(40, ("fc", {"type": "Linear", "weight": W.astype(np.float64)}), out_shape=7)
    assert np.array_equal(R.simulate(gl, x[None], 1e-4)[0]["output"][0], _seq_dense(W, x, None))
    gs = chain(3, ("s", {"type": "Scale", "scale": a32(2.0, -0.5, 3.0)}), out_shape=3)
    np.testing.assert_array_equal(R.simulate(gs, const(1, 1.5, 2.0, 1.0), 1)[0]["output"][0], [3.0, -1.0, 3.0])


CONV2D = [  # cin, cout, kernel, stride, padding, dilation, groups, (H, W), with input_shape
    (2, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, (7, 8), True),
    (2, 4, (2, 2), (1, 1), "same", (1, 1), 1, (6, 7), False),
    (4, 6, (4, 3), (1, 1), "same", (2, 1), 2, (9, 8), True),
    (3, 3, (3, 2), (2, 1), (0, 1), (1, 2), 3, (9, 9), False),
    (2, 4, (2, 3), (2, 2), "valid", (1, 1), 2, (8, 9), True),
    (1, 2, (1, 1), (3, 2), 0, 1, 1, (5, 5), True),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("cin,cout,k,stride,pad,dil,groups,hw,with_shape", CONV2D)
def test_conv2d_matches_torch(cin, cout, k, stride, pad, dil, groups, hw, with_shape):
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(hash((cin, cout, k, stride)) % 2**32)
    w = rng.standard_normal((cout, cin // groups) + k).astype(f32)
    b = rng.standard_normal(cout).astype(f32)
    x = rng.standard_normal((3, cin) + hw).astype(f32)
    padv = pad if isinstance(pad, str) else np.array(pad, np.int64)
    # without input_shape, (H, W) come from the upstream (C, H, W) shape
    node = {"type": "Conv2d", "input_shape": np.array(hw, np.int64) if with_shape else None, "weight": w,
            "stride": np.array(stride), "padding": padv, "dilation": np.array(dil), "groups": np.int64(groups),
            "bias": b}
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,
                   padding=pad if isinstance(pad, str) else pad, dilation=dil, groups=groups).numpy()
    g = chain((cin,) + hw, ("conv", node), out_shape=int(np.prod(ref.shape[1:])))
    y = R.simulate(g, x, 1e-4)[0]["output"]
    np.testing.assert_allclose(y, ref.reshape(3, -1), rtol=1e-5, atol=1e-5)


CONV1D = [  # cin, cout, k, stride, padding, dilation, groups, n, with input_shape
    (2, 4, 3, 1, 1, 1, 1, 10, True),
    (2, 4, 2, 1, "same", 1, 2, 9, False),
    (3, 6, 4, 1, "same", 2, 3, 12, True),
    (3, 3, 3, 2, 2, 1, 1, 11, False),
    (1, 2, 2, 2, "valid", 3, 1, 13, True),
]


@pytest.mark.parametrize("cin,cout,k,stride,pad,dil,groups,n,with_shape", CONV1D)
def test_conv1d_matches_torch(cin, cout, k, stride, pad, dil, groups, n, with_shape):
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(cin * 100 + k * 10 + n)
    w = rng.standard_normal((cout, cin // groups, k)).astype(f32)
    b = rng.standard_normal(cout).astype(f32)
    x = rng.standard_normal((4, cin, n)).astype(f32)
    node = {"type": "Conv1d", "input_shape": np.int64(n) if with_shape else None, "weight": w,
            "stride": np.int64(stride), "padding": pad if isinstance(pad, str) else np.array([pad]),
            "dilation": np.int64(dil), "groups": np.int64(groups), "bias": b}
    ref = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=pad,
                   dilation=dil, groups=groups).numpy()
    # without input_shape the length comes from the upstream node's size: feed a flat Input
    g = chain((cin, n) if with_shape else (cin * n,), ("conv", node), out_shape=int(np.prod(ref.shape[1:])))
    y = R.simulate(g, x if with_shape else x.reshape(4, -1), 1e-4)[0]["output"]
    np.testing.assert_allclose(y, ref.reshape(4, -1), rtol=1e-5, atol=1e-5)


def test_conv_is_a_sequential_float32_sum():
    rng = np.random.default_rng(5)
    cin, cout, k, groups, hw = 4, 2, (2, 3), 2, (4, 5)
    w = (rng.standard_normal((cout, cin // groups) + k) * 10.0 ** rng.uniform(-3, 3, (cout, cin // groups) + k))
    w = w.astype(f32)
    b = rng.standard_normal(cout).astype(f32)
    x = (rng.standard_normal((cin,) + hw) * 10.0 ** rng.uniform(-3, 3, (cin,) + hw)).astype(f32)
    node = {"type": "Conv2d", "input_shape": np.array(hw), "weight": w, "stride": np.array([1, 2]),
            "padding": np.array([1, 0]), "dilation": np.array([1, 1]), "groups": np.int64(groups), "bias": b}
    xp = np.pad(x, [(0, 0), (1, 1), (0, 0)])
    ho, wo = (hw[0] + 2 - 2) // 1 + 1, (hw[1] - 3) // 2 + 1
    ref = np.zeros((cout, ho, wo), f32)
    for co in range(cout):
        for i in range(ho):
            for j in range(wo):
                acc = f32(0)
                for c in range(cin // groups):
                    for a in range(k[0]):
                        for bb in range(k[1]):
                            xv = xp[(co // (cout // groups)) * (cin // groups) + c, i + a, 2 * j + bb]
                            acc = f32(acc + f32(w[co, c, a, bb] * xv))
                ref[co, i, j] = f32(acc + b[co])
    g = chain((cin,) + hw, ("conv", node), out_shape=ref.size)
    assert np.array_equal(R.simulate(g, x[None], 1e-4)[0]["output"][0], ref.reshape(-1))


POOLS = [  # kernel, stride, padding, (C, H, W)
    ((2, 2), (2, 2), (0, 0), (3, 6, 7)),
    ((3, 3), (2, 2), (1, 1), (2, 7, 7)),
    ((2, 3), (1, 2), (1, 0), (2, 5, 8)),
    ((3, 2), (3, 1), (0, 1), (1, 9, 6)),
]


@pytest.mark.parametrize("kind", ["SumPool2d", "AvgPool2d"])
@pytest.mark.parametrize("kernel,stride,pad,shape", POOLS)
def test_pools_match_torch(kind, kernel, stride, pad, shape):
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((3,) + shape).astype(f32)
    t = torch.from_numpy(x)
    if kind == "SumPool2d":
        ref = F.avg_pool2d(t, kernel, stride, pad, count_include_pad=True, divisor_override=1).numpy()
    else:
        ref = F.avg_pool2d(t, kernel, stride, pad, count_include_pad=True).numpy()
    node = {"type": kind, "kernel_size": np.array(kernel), "stride": np.array(stride), "padding": np.array(pad)}
    g = chain(shape, ("pool", node), out_shape=int(np.prod(ref.shape[1:])))
    y = R.simulate(g, x, 1e-4)[0]["output"]
    np.testing.assert_allclose(y, ref.reshape(3, -1), rtol=1e-5, atol=1e-5)


def test_same_padding_with_stride_is_refused():
    node = {"type": "Conv2d", "input_shape": np.array([5, 5]), "weight": np.ones((1, 1, 3, 3), f32),
            "stride": np.array([2, 2]), "padding": "same", "dilation": np.array([1, 1]), "groups": np.int64(1),
            "bias": a32(0)}
    with pytest.raises(ValueError, match="same"):
        R.simulate(chain((1, 5, 5), ("conv", node), out_shape=9), np.zeros((1, 1, 5, 5), f32), 1e-4)


# =============================================================================================
# cycles, order, sums
# =============================================================================================

def _loop_graph(rec_node, tau=1e-4):
    """input -> li <-> rec; li has k = 1, r = 1, so v = (sum of inputs)."""
    return {"type": "NIRGraph",
            "nodes": {"input": {"type": "Input", "shape": np.array([2])},
                      "li": {"type": "LI", "tau": np.array([tau, tau]), "r": a32(1, 1), "v_leak": a32(0, 0)},
                      "rec": rec_node, "output": {"type": "Output", "shape": np.array([2])}},
            "edges": [("rec", "li"), ("li", "output"), ("input", "li"), ("li", "rec")]}


def test_recurrent_affine_delivers_its_bias_at_step_0():
    W = np.array([[0.5, 0.0], [0.0, 0.25]], f32)
    g = _loop_graph({"type": "Affine", "weight": W, "bias": a32(0.25, -0.5)})
    order, back = R.evaluation_order(g)
    assert back == [("rec", "li")] and order == ["input", "li", "rec", "output"]
    x = const(3, 1.0, 2.0)
    o, _, _ = R.simulate(g, x, 1e-4)
    v0 = np.array([1.25, 1.5], f32)  # input + bias of the resting Affine
    v1 = x[1] + W.diagonal() * v0 + a32(0.25, -0.5)
    np.testing.assert_array_equal(o["output"][0], v0)
    np.testing.assert_array_equal(o["output"][1], v1)
    # a recurrent Linear delivers 0 at step 0
    gl = _loop_graph({"type": "Linear", "weight": W})
    np.testing.assert_array_equal(R.simulate(gl, x, 1e-4)[0]["output"][0], x[0])
    # a resting Threshold with a negative threshold outputs 1
    gt = _loop_graph({"type": "Threshold", "threshold": a32(-0.5, 0.5)})
    np.testing.assert_array_equal(R.simulate(gt, x, 1e-4)[0]["output"][0], x[0] + a32(1, 0))


def test_back_edge_follows_sorted_inputs_not_file_order():
    # cycle p <-> q entered from two Inputs: DFS starts at "a_in" (sorted first) -> q -> p -> q
    g = {"type": "NIRGraph",
         "nodes": {"b_in": {"type": "Input", "shape": np.array([1])}, "p": {"type": "Scale", "scale": a32(0.5)},
                   "q": {"type": "Scale", "scale": a32(0.25)}, "a_in": {"type": "Input", "shape": np.array([1])},
                   "out": {"type": "Output", "shape": np.array([1])}},
         "edges": [("b_in", "p"), ("q", "p"), ("p", "q"), ("a_in", "q"), ("p", "out")]}
    order, back = R.evaluation_order(g)
    assert back == [("p", "q")] and order == ["b_in", "a_in", "q", "p", "out"]
    # the same with edges and nodes in any order
    rng = np.random.default_rng(0)
    for _ in range(5):
        g2 = dict(g, edges=[g["edges"][i] for i in rng.permutation(5)],
                  nodes={k: g["nodes"][k] for k in rng.permutation(list(g["nodes"]))})
        assert R.evaluation_order(g2) == (order, back)


def test_sorting_is_plain_string_order():
    # "10" < "2" as strings: DFS from input visits "10" first, so the edge 2 -> 10 is the back edge
    g = {"type": "NIRGraph",
         "nodes": {"input": {"type": "Input", "shape": np.array([1])}, "2": {"type": "Scale", "scale": a32(1)},
                   "10": {"type": "Scale", "scale": a32(1)}, "output": {"type": "Output", "shape": np.array([1])}},
         "edges": [("input", "2"), ("input", "10"), ("2", "10"), ("10", "2"), ("2", "output")]}
    assert R.evaluation_order(g)[1] == [("2", "10")]


def test_unreachable_nodes_are_roots_after_the_inputs():
    g = chain(1, ("li", {"type": "LI", "tau": np.array([1e-4]), "r": a32(1), "v_leak": a32(0)}))
    g["nodes"]["z"] = {"type": "Affine", "weight": np.zeros((1, 1), f32), "bias": a32(0.5)}
    g["edges"].append(("z", "li"))
    order, back = R.evaluation_order(g)
    assert back == [] and order.index("z") < order.index("li")
    o, _, _ = R.simulate(g, const(2, 1.0), 1e-4)
    np.testing.assert_array_equal(o["output"][:, 0], [1.5, 1.5])


def test_fan_in_sums_in_source_name_order():
    def g_of(values):
        nodes = {f"s{i}": {"type": "Affine", "weight": np.zeros((1, 1), f32), "bias": a32(v)}
                 for i, v in enumerate(values, 1)}
        nodes["input"] = {"type": "Input", "shape": np.array([1])}
        nodes["output"] = {"type": "Output", "shape": np.array([1])}
        edges = [("s3", "output"), ("s1", "output"), ("input", "s1"), ("s2", "output")]
        return {"type": "NIRGraph", "nodes": nodes, "edges": edges}

    # ((0 + 1e8) - 1e8) + 1 = 1, whereas the file order (s3, s1, s2) would give 0
    assert R.simulate(g_of([1e8, -1e8, 1.0]), const(1, 0.0), 1e-4)[0]["output"][0, 0] == 1.0
    assert R.simulate(g_of([1e8, 1.0, -1e8]), const(1, 0.0), 1e-4)[0]["output"][0, 0] == 0.0
    # duplicate edges add twice
    g = chain(1, ("s", {"type": "Scale", "scale": a32(1)}))
    g["edges"].append(("input", "s"))
    assert R.simulate(g, const(1, 0.75), 1e-4)[0]["output"][0, 0] == 1.5


def test_shuffled_edges_give_identical_results(tmp_path):
    g = R.random_cuba_rnn(4)
    x = R.random_input(40, 60, (12,))
    ref = R.simulate(g, x, 1e-4)
    R.write(tmp_path / "a.nir", g, shuffle_edges=7)
    with h5py.File(tmp_path / "a.nir") as f:
        stored = [tuple(e.decode() for e in row) for row in f["node/edges"][()]]
    assert stored != [tuple(e) for e in g["edges"]] and sorted(stored) == sorted(g["edges"])
    g2 = R.read(tmp_path / "a.nir")
    got = R.simulate(g2, x, 1e-4)
    for a, b in zip(ref[:2], got[:2]):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert R.evaluation_order(g2) == R.evaluation_order(g)


# =============================================================================================
# nested graphs
# =============================================================================================

def test_nested_names_and_wiring():
    g = R.nested(2)
    nodes, edges = R.flatten_graph(g)
    assert set(nodes) == {"input", "fc", "rnn.input", "rnn.lif", "rnn.w.rec", "rnn.output", "head.fc", "head.li",
                          "output"}
    assert nodes["rnn.input"]["_passthrough"] and "_passthrough" not in nodes["input"]
    assert ("fc", "rnn.input") in edges and ("rnn.output", "head.fc") in edges
    assert R.evaluation_order(g)[1] == [("rnn.w.rec", "rnn.lif")]
    # the same network written flat by hand (identity nodes in place of the subgraph's Input/Output)
    sub = g["nodes"]["rnn"]
    flat = {k: v for k, v in g["nodes"].items() if k != "rnn"}
    flat.update({"rnn.input": {"type": "Flatten"}, "rnn.lif": sub["nodes"]["lif"],
                 "rnn.w.rec": sub["nodes"]["w.rec"], "rnn.output": {"type": "Flatten"}})
    edges = [("input", "fc"), ("fc", "rnn.input"), ("rnn.input", "rnn.lif"), ("rnn.lif", "rnn.w.rec"),
             ("rnn.w.rec", "rnn.lif"), ("rnn.lif", "rnn.output"), ("rnn.output", "head.fc"),
             ("head.fc", "head.li"), ("head.li", "output")]
    gf = {"type": "NIRGraph", "nodes": flat, "edges": edges}
    x = R.random_input(11, 80, (8,))
    o1, s1, _ = R.simulate(g, x, 1e-4)
    o2, s2, _ = R.simulate(gf, x, 1e-4)
    assert np.array_equal(o1["output"], o2["output"]) and np.array_equal(s1["rnn.lif"], s2["rnn.lif"])
    assert set(o1) == {"output", "rnn.output"} and s1["rnn.lif"].any()
    np.testing.assert_array_equal(o1["rnn.output"], s1["rnn.lif"].astype(f32))


def test_nested_multiple_inputs_direct_addressing_and_collisions():
    sub = {"type": "NIRGraph",
           "nodes": {"i1": {"type": "Input", "shape": np.array([1])}, "i2": {"type": "Input", "shape": np.array([1])},
                     "a.b": {"type": "Scale", "scale": a32(3)}, "o": {"type": "Output", "shape": np.array([1])}},
           "edges": [("i1", "a.b"), ("i2", "a.b"), ("a.b", "o")]}
    g = {"type": "NIRGraph",
         "nodes": {"input": {"type": "Input", "shape": np.array([1])}, "g": sub,
                   "output": {"type": "Output", "shape": np.array([1])},
                   "tap": {"type": "Output", "shape": np.array([1])}},
         "edges": [("input", "g"), ("g", "output"), ("g.a.b", "tap")]}
    o, _, _ = R.simulate(g, const(1, 2.0), 1e-4)
    assert o["output"][0, 0] == 12.0 and o["tap"][0, 0] == 12.0 and o["g.o"][0, 0] == 12.0  # 3 * (2 + 2)
    bad = dict(g, nodes=dict(g["nodes"], **{"g.a.b": {"type": "Scale", "scale": a32(1)}}))
    with pytest.raises(ValueError, match="same name 'g.a.b'"):
        R.flatten_graph(bad)
    with pytest.raises(ValueError, match="unknown node 'nowhere'"):
        R.flatten_graph(dict(g, edges=g["edges"] + [("nowhere", "output")]))


# =============================================================================================
# writer / reader
# =============================================================================================

def all_primitives(v_reset=0.0):
    rng = np.random.default_rng(1)
    fr = rng.standard_normal
    return {
        "in": {"type": "Input", "shape": np.array([2, 6, 6], np.int64)},
        "out": {"type": "Output", "shape": np.array([4], np.int64)},
        "aff": {"type": "Affine", "weight": fr((4, 3)).astype(f32), "bias": fr(4).astype(f32)},
        "lin": {"type": "Linear", "weight": fr((3, 5))},
        "sc": {"type": "Scale", "scale": fr(3).astype(f32)},
        "th": {"type": "Threshold", "threshold": fr(3)},
        "dl": {"type": "Delay", "delay": np.array([1e-4, 0.0, 3e-4])},
        "fl": {"type": "Flatten", "input_type": np.array([2, 3, 3]), "start_dim": np.int64(0),
               "end_dim": np.int64(-1)},
        "c1": {"type": "Conv1d", "input_shape": np.int64(9), "weight": fr((4, 2, 3)).astype(f32), "stride": np.int64(1),
               "padding": "same", "dilation": np.int64(2), "groups": np.int64(1), "bias": fr(4).astype(f32)},
        "c2": {"type": "Conv2d", "input_shape": np.array([6, 6]), "weight": fr((4, 1, 2, 3)).astype(f32),
               "stride": np.array([1, 2]), "padding": np.array([1, 0]), "dilation": np.array([1, 1]),
               "groups": np.int64(2), "bias": fr(4).astype(f32)},
        "c2v": {"type": "Conv2d", "input_shape": np.array([6, 6]), "weight": fr((2, 2, 3, 3)).astype(f32),
                "stride": np.array([1, 1]), "padding": "valid", "dilation": np.array([1, 1]), "groups": np.int64(1),
                "bias": fr(2).astype(f32)},
        "sp": {"type": "SumPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
               "padding": np.array([0, 0])},
        "ap": {"type": "AvgPool2d", "kernel_size": np.array([3, 3]), "stride": np.array([1, 1]),
               "padding": np.array([1, 1])},
        "i": {"type": "I", "r": np.ones(3, f32)},
        "if": {"type": "IF", "r": np.ones((2, 3), f32), "v_threshold": np.full((2, 3), 0.5, f32),
               "v_reset": np.full((2, 3), v_reset, f32)},
        "li": {"type": "LI", "tau": np.full(3, 2e-3), "r": np.ones(3), "v_leak": np.zeros(3)},
        "lif": {"type": "LIF", "tau": np.full(3, 2e-3, f32), "r": np.ones(3, f32), "v_leak": np.zeros(3, f32),
                "v_threshold": np.ones(3, f32), "v_reset": np.full(3, v_reset, f32)},
        "cli": {"type": "CubaLI", "tau_syn": np.full(3, 1e-3), "tau_mem": np.full(3, 2e-3), "r": np.ones(3),
                "v_leak": np.zeros(3), "w_in": np.ones(3)},
        "clif": {"type": "CubaLIF", "tau_syn": np.full(3, 1e-3), "tau_mem": np.full(3, 2e-3), "r": np.ones(3),
                 "v_leak": np.zeros(3), "v_threshold": np.ones(3), "v_reset": np.full(3, v_reset),
                 "w_in": np.float64(2.0)},
        "sub": {"type": "NIRGraph", "nodes": {"x": {"type": "Input", "shape": np.array([3])},
                                              "y": {"type": "Output", "shape": np.array([3])}},
                "edges": [("x", "y")], "metadata": {"note": "inner"}},
        "empty": {"type": "NIRGraph", "nodes": {}, "edges": []},
    }


def assert_same(a, b, where=""):
    assert a.keys() == b.keys(), where
    for k in a:
        if isinstance(a[k], dict):
            assert_same(a[k], b[k], f"{where}.{k}")
        elif k == "edges":
            assert [tuple(e) for e in a[k]] == b[k], where
        elif isinstance(a[k], str):
            assert b[k] == a[k], f"{where}.{k}"
        else:
            va, vb = np.asarray(a[k]), np.asarray(b[k])
            assert vb.dtype == va.dtype and vb.shape == va.shape, f"{where}.{k}"
            assert np.array_equal(va, vb), f"{where}.{k}"


def walk(f):
    objs = []
    f.visititems(lambda name, obj: objs.append((name, obj)))
    return objs


@pytest.mark.parametrize("version", ["0.1.1", "0.2.0", "1.0.7"])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_primitive(tmp_path, version, compress):
    g = {"type": "NIRGraph", "nodes": all_primitives(), "edges": [("in", "c2"), ("aff", "out")],
         "metadata": {"dt_hint": 1e-4, "who": "test", "nested": {"k": np.arange(3)}}}
    p = tmp_path / "all.nir"
    R.write(p, g, version=version, compress=compress)
    back, ver = R.read(p, return_version=True)
    assert ver == version
    old = version.startswith("0.")
    expect = dict(g, nodes={k: dict(v) for k, v in g["nodes"].items()})
    if old:  # no metadata before 1.0
        expect.pop("metadata")
        expect["nodes"]["sub"].pop("metadata")
    assert_same(expect, back)
    with h5py.File(p) as f:
        fixed = version.startswith("0.1")
        for name, obj in walk(f) + [("/", f)]:
            assert len(obj.attrs) == 0, name  # everything is a dataset
            if isinstance(obj, h5py.Dataset) and name.split("/")[-1] == "type":
                assert obj.shape == () and h5py.check_string_dtype(obj.dtype) is not None
                assert (h5py.check_string_dtype(obj.dtype).length is not None) == fixed
        assert f["version"].shape == ()
        assert (h5py.check_string_dtype(f["version"].dtype).length is not None) == fixed
        assert f["node/edges"].shape == (2, 2)
        assert f["node/nodes/empty/edges"].shape == (0,) and f["node/nodes/empty/edges"].dtype.kind == "f"
        assert f["node/nodes/c1/padding"].shape == () and f["node/nodes/c1/groups"].shape == ()
        assert ("v_reset" in f["node/nodes/lif"]) == (not old)
        assert ("metadata" in f["node"]) == (not old)
        assert (f["node/nodes/aff/weight"].compression == "gzip") == compress
        assert f["node/nodes/li/tau"].dtype == np.float64 and f["node/nodes/lif/tau"].dtype == np.float32


def test_old_versions_cannot_hold_a_nonzero_v_reset(tmp_path):
    g = {"type": "NIRGraph", "nodes": all_primitives(v_reset=0.5), "edges": []}
    with pytest.raises(ValueError, match="v_reset"):
        R.write(tmp_path / "x.nir", g, version="0.2.0")
    R.write(tmp_path / "x.nir", g, version="1.0.7")
    assert R.read(tmp_path / "x.nir")["nodes"]["lif"]["v_reset"][0] == f32(0.5)


def test_reader_accepts_shapes_scalars_bytes_and_missing_v_reset(tmp_path):
    p = tmp_path / "hand.nir"
    with h5py.File(p, "w") as f:  # written by hand: fixed bytes, (1,)-shaped scalars, no v_reset
        f["version"] = np.bytes_(b"0.1.1")
        n = f.create_group("node")
        n["type"] = np.bytes_(b"NIRGraph")
        n["edges"] = np.array([[b"input", b"lif"], [b"lif", b"output"]])
        for name, fields in {"input": {"type": np.bytes_(b"Input"), "shape": np.array([1, 1, 1])},
                             "lif": {"type": np.bytes_(b"LIF"), "tau": np.array([2e-3]), "r": np.array([1.0]),
                                     "v_leak": np.array([0.0]), "v_threshold": np.array([0.5])},
                             "output": {"type": "Output", "shape": np.array([1])}}.items():
            grp = n.create_group(f"nodes/{name}")
            for k, v in fields.items():
                grp[k] = v
    g = R.read(p)
    assert g["nodes"]["lif"]["type"] == "LIF" and g["edges"] == [("input", "lif"), ("lif", "output")]
    assert np.array_equal(g["nodes"]["lif"]["v_reset"], [0.0])
    o, s, _ = R.simulate(g, const(30, 1.0), 1e-4)
    assert s["lif"].any() and o["output"].shape == (30, 1)


@pytest.mark.parametrize("style", ["1d", "flat", "ones"])
def test_shape_styles_and_float64_neurons_change_nothing(tmp_path, style):
    g = R.random_cuba_rnn(2, n_hidden=12)
    x = R.random_input(3, 50, (12,))
    ref = R.simulate(g, x, 1e-4)
    R.write(tmp_path / "s.nir", g, shape_style=style, neuron_dtype=np.float64, compress=True)
    g2 = R.read(tmp_path / "s.nir")
    assert g2["nodes"]["cuba"]["tau_mem"].dtype == np.float64 and g2["nodes"]["fc_in"]["weight"].dtype == f32
    assert list(g2["nodes"]["input"]["shape"]) == {"1d": [12], "flat": [12], "ones": [1, 1, 12]}[style]
    got = R.simulate(g2, x, 1e-4)
    for a, b in zip(ref[:2], got[:2]):
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_numeric_names_round_trip(tmp_path):
    g = R.random_cuba_rnn(5)
    R.write(tmp_path / "n.nir", g, numeric_names=True, version="0.2.0")
    g2 = R.read(tmp_path / "n.nir")
    assert set(g2["nodes"]) == {"input", "output"} | {str(i) for i in range(5)}
    mapping = dict(zip([n for n in g["nodes"] if n not in ("input", "output")], map(str, range(5))))
    x = R.random_input(6, 60, (12,))
    _, s1, _ = R.simulate(g, x, 1e-4)
    o2, s2, _ = R.simulate(g2, x, 1e-4)
    assert R.evaluation_order(g2)[1] == [(mapping["rec"], mapping["cuba"])]
    assert all(np.array_equal(s1[k], s2[mapping[k]]) for k in s1)
    # a 12-node chain named 0..11: HDF5 lists them 0, 1, 10, 11, 2, ...; the order follows the edges
    nodes = [(f"n{i}", {"type": "Scale", "scale": a32(1.0 + i / 8)}) for i in range(12)]
    gc = R.rename_numeric(chain(1, *nodes))
    R.write(tmp_path / "c.nir", gc)
    gc2 = R.read(tmp_path / "c.nir")
    assert list(gc2["nodes"])[:4] == ["0", "1", "10", "11"]
    assert R.evaluation_order(gc2)[0] == ["input"] + [str(i) for i in range(12)] + ["output"]
    assert R.simulate(gc2, const(1, 1.0), 1)[0]["output"][0, 0] == np.prod([f32(1.0 + i / 8) for i in range(12)])


def test_nested_round_trip(tmp_path):
    g = R.nested(3, neuron="CubaLIF")
    R.write(tmp_path / "g.nir", g, compress=True, shuffle_edges=1)
    g2 = R.read(tmp_path / "g.nir")
    assert g2["nodes"]["rnn"]["type"] == "NIRGraph" and set(g2["nodes"]["rnn"]["nodes"]) == {"input", "lif", "w.rec",
                                                                                             "output"}
    x = R.random_input(7, 60, (8,))
    a, b = R.simulate(g, x, 1e-4), R.simulate(g2, x, 1e-4)
    assert all(np.array_equal(a[1][k], b[1][k]) for k in a[1]) and a[1]["rnn.lif"].any()


def test_bad_graphs_give_clear_errors(tmp_path):
    g = chain(1, ("x", {"type": "Spooky", "w": a32(1)}))
    with pytest.raises(ValueError, match="node 'x': unsupported NIR node type 'Spooky'"):
        R.simulate(g, const(1, 1.0), 1e-4)
    R.write(tmp_path / "bad.nir", chain(1, ("lif", {"type": "LIF", "tau": a32(1e-3), "r": a32(1)})), check=False)
    with pytest.raises(ValueError, match="node 'lif' \\(LIF\\): missing field 'v_leak'"):
        R.simulate(R.read(tmp_path / "bad.nir"), const(1, 1.0), 1e-4)
    g = chain(3, ("fc", {"type": "Affine", "weight": np.ones((2, 4), f32), "bias": a32(0, 0)}), out_shape=2)
    with pytest.raises(ValueError, match="input size 3 != weight columns 4|does not match"):
        R.simulate(g, const(1, 1, 2, 3), 1e-4)
    with pytest.raises(ValueError, match="dt"):
        R.simulate(chain(1), const(1, 1.0), 0.0)
    with pytest.raises(ValueError, match="does not give 1 values"):
        R.simulate(chain(1), const(1, 1.0, 2.0), 1e-4)


# =============================================================================================
# generators
# =============================================================================================

@pytest.mark.parametrize("make,n_in,spiking", [
    (lambda: R.random_cuba_rnn(10), (12,), ["cuba", "readout"]),
    (lambda: R.random_cuba_rnn(11, recurrent="linear", readout="li"), (12,), ["cuba"]),
    (lambda: R.conv_net(12, "sum"), None, ["if", "lif"]),
    (lambda: R.conv_net(13, "avg"), None, ["if"]),
    (lambda: R.conv_net(14, "conv1d"), None, ["if", "lif"]),
    (lambda: R.nested(15), (8,), ["rnn.lif"]),
])
def test_generators_are_deterministic_and_spike(make, n_in, spiking):
    g = make()
    g_again = make()
    assert_same(g, {k: v for k, v in g_again.items()})
    shape = n_in or tuple(g["nodes"]["input"]["shape"])
    x = R.random_input(1234, 100, shape)  # not the calibration input
    _, spikes, _ = R.simulate(g, x, 1e-4)
    for n in spiking:
        frac = spikes[n].any(axis=0).mean()
        assert 0.1 <= frac <= 0.97, (n, frac)
    w = next(nd for nd in g["nodes"].values() if nd["type"] in ("Affine", "Conv2d", "Conv1d"))["weight"]
    assert w.dtype == f32 and not np.all(w * 1024 == np.round(w * 1024))  # not on a grid


def test_random_input():
    s = R.random_input(0, 50, (3, 4), "spikes", rate=0.3)
    v = R.random_input(0, 50, 7, "values")
    assert s.shape == (50, 3, 4) and s.dtype == f32 and set(np.unique(s)) == {0.0, 1.0}
    assert v.shape == (50, 7) and v.dtype == f32 and np.array_equal(v, R.random_input(0, 50, 7, "values"))


def test_single_lif_euler_and_exact():
    g, x = R.single_lif(seed=1)
    assert x.shape == (1000, 1) and x.dtype == f32 and not x[1::10].any()
    dt = 1e-4
    _, se, ste = R.simulate(g, x, dt, "euler")
    _, sx, stx = R.simulate(g, x, dt, "exact")
    assert 2 <= se["1"].sum() <= 40 and 2 <= sx["1"].sum() <= 40
    assert not np.array_equal(ste["1"]["v"], stx["1"]["v"])
    # exact: the float64 solution for a piecewise-constant input, resetting where the reference spiked
    tau, r, thr = 2.5e-3, 1.0, f32(0.1)
    e = math.exp(-dt / tau)
    v, vs = 0.0, []
    for t in range(1000):
        v = r * float(x[t, 0]) * (1 - e) + v * e
        if sx["1"][t, 0]:
            assert v > thr - 1e-5
            v = 0.0
        else:
            assert v <= thr + 1e-5
        vs.append(v)
    np.testing.assert_allclose(stx["1"]["v"][:, 0], vs, atol=2e-6)


# =============================================================================================
# CLI
# =============================================================================================

def cli(*args):
    return subprocess.run([sys.executable, os.path.join(HERE, "nir_reference.py"), *map(str, args)],
                          capture_output=True, text=True, check=True)


def test_cli_make_and_run(tmp_path):
    nir, x = tmp_path / "rnn.nir", tmp_path / "x.npy"
    cli("make", "cuba_rnn", "--seed", 3, "--out", nir, "--input-out", x, "--steps", 40, "--version", "0.2.0",
        "--compress", "--numeric-names", "--shuffle-edges", 2)
    xs = np.load(x)
    np.save(tmp_path / "xb.npy", np.stack([xs, xs[::-1]]))
    cli("run", nir, "--input", x, "--dt", "1e-4", "--discretization", "exact", "--reset", "subtract",
        "--out", tmp_path / "r.npz")
    cli("run", nir, "--input", f"input={tmp_path / 'xb.npy'}", "--dt", "1e-4", "--out", tmp_path / "rb.npz")
    g = R.read(nir)
    o, s, st = R.simulate(g, xs, 1e-4, "exact", "subtract")
    res = np.load(tmp_path / "r.npz")
    assert np.array_equal(res["outputs/output"], o["output"]) and res["outputs/output"].dtype == f32
    assert all(np.array_equal(res[f"spikes/{k}"], s[k]) for k in s)
    assert all(np.array_equal(res[f"states/{k}/v"], st[k]["v"]) for k in st)
    assert list(res["order"])[0] == "input" and res["back_edges"].shape == (1, 2)
    rb = np.load(tmp_path / "rb.npz")
    o2 = R.simulate(g, xs[::-1], 1e-4)[0]
    assert rb["outputs/output"].shape == (2, 40, 4) and np.array_equal(rb["outputs/output"][1], o2["output"])
    cli("make", "single_lif", "--out", tmp_path / "lif.nir", "--input-out", tmp_path / "lif.npy")
    assert np.load(tmp_path / "lif.npy").shape == (1000, 1)
