"""Network.add_node(kind, name, size, **fields): every registered kind from Python through the
kind's own field description (no per-kind binding code); results equal the per-kind builders."""
import numpy as np
import pytest

from testenv import require_core

lmusim = require_core()


def test_every_registered_kind_is_listed():
    assert set(lmusim.Network.node_kinds) == {"discrete_lif", "continuous_lif", "spike_source", "input", "analog",
                                              "lmu_memory", "readout", "leaky", "synaptic", "spike_input",
                                              "spike_count", "nir_lif", "nir_li", "nir_cuba_lif", "nir_cuba_li",
                                              "nir_if", "nir_integrator", "threshold", "nir_delay"}


def test_nir_kinds_from_python_match_a_numpy_float32_reference(tmp_path):
    """nir_lif (exact, subtract) behind a nir_delay, built with add_node and read back from a file,
    against the documented update written in numpy float32."""
    rng = np.random.default_rng(3)
    n, T, dt = 4, 120, 1e-3
    tau = np.array([0.004, 0.01, 0.02, 0.05], np.float32)
    delays = np.array([0, 1, 2, 5], np.uint64)
    net = lmusim.Network(dt=1.0, name="nir")
    net.add_node("input", "x", n)
    net.add_node("nir_delay", "d", n, delay_steps=delays)
    net.add_node("nir_lif", "lif", n, tau=tau, r=np.array([1.5], np.float32), v_leak=np.array([0.1], np.float32),
                 v_threshold=np.array([0.8], np.float32), v_reset=np.array([0.0], np.float32), dt=dt,
                 discretization="exact", reset="subtract")
    net.connect_one_to_one("xd", "x", "d", np.ones(n, np.float32))
    net.connect_one_to_one("dl", "d", "lif", np.ones(n, np.float32))
    path = str(tmp_path / "nir.h5")
    net.save(path)
    net = lmusim.Network.load(path)
    frames = rng.uniform(0.0, 2.0, (T, n)).astype(np.float32)
    sim = lmusim.Simulation(net, threads=1)
    sim.push_frames("x", frames.ravel())
    sim.run(T, record=True)
    steps, ids, _ = sim.spikes("lif")

    k = (-np.expm1(-dt / tau.astype(np.float64))).astype(np.float32)
    v = np.zeros(n, np.float32)
    want = []
    for t in range(T):
        x = np.array([frames[t - int(d), i] if t >= int(d) else 0.0 for i, d in enumerate(delays)], np.float32)
        a = np.float32(1.5) * x
        c = (np.float32(0.1) - v) + a
        v = v + k * c
        fired = v > np.float32(0.8)
        v = np.where(fired, v - np.float32(0.8), v).astype(np.float32)
        want += [(t, i) for i in np.flatnonzero(fired)]
    assert len(want) > 50
    assert list(zip(steps.tolist(), ids.tolist())) == want
    with pytest.raises(lmusim.Error, match="discretization = 'rk4', expected euler or exact"):
        net.add_node("nir_li", "bad", 2, discretization="rk4")


def build(generic):
    rng = np.random.default_rng(7)
    n = 60
    net = lmusim.Network(dt=0.1, name="t")
    if generic:
        net.add_node("spike_source", "drive", n, mode="poisson", rate_hz=np.array([400.0]), seed=3)
        net.add_node("continuous_lif", "cells", n, tau_m=15.0, v_rest=-49.0, v_init=rng.uniform(-60, -50, n).astype(np.float32))
        net.add_node("discrete_lif", "disc", n, tau=2.0, v_threshold=0.8,
                     affine_scale=np.full(n, 1.5, np.float32), affine_shift=np.full(n, 0.1, np.float32))
    else:
        net.add_poisson_source("drive", n, rate_hz=np.array([400.0]), seed=3)
        net.add_continuous_lif("cells", n, tau_m=15.0, v_rest=-49.0, v_init=rng.uniform(-60, -50, n).astype(np.float32))
        net.add_discrete_lif("disc", n, tau=2.0, v_threshold=0.8, scale=np.full(n, 1.5, np.float32),
                             shift=np.full(n, 0.1, np.float32))
    w = rng.normal(0, 2.0, (n, n)).astype(np.float32)
    net.connect_dense("d1", "drive", "cells", w, delay=1)
    net.connect_dense("d2", "cells", "disc", (w / 4).astype(np.float32), delay=2)
    return net


def test_add_node_equals_the_per_kind_builders():
    runs = []
    for generic in (True, False):
        sim = lmusim.Simulation(build(generic), threads=1)
        sim.run(800, record=True)
        runs.append({k: sim.spikes(k) for k in ("cells", "disc")})
    for k in ("cells", "disc"):
        for a, b in zip(runs[0][k], runs[1][k]):
            np.testing.assert_array_equal(a, b)
    assert sum(len(x) for x in runs[0]["disc"]) > 0 and sum(len(x) for x in runs[0]["cells"]) > 0


def test_unknown_fields_and_kinds_are_named():
    net = lmusim.Network()
    with pytest.raises(lmusim.Error, match="unknown parameter 'tau_x'"):
        net.add_node("discrete_lif", "a", 3, tau_x=2.0)
    with pytest.raises(lmusim.Error, match="unknown node kind 'izhikevich'"):
        net.add_node("izhikevich", "a", 3)
    with pytest.raises(lmusim.Error, match="mode = 'bursty', expected arrays or poisson"):
        net.add_node("spike_source", "s", 3, mode="bursty")
    net.add_node("lmu_memory", "m", 2, input_size=1, mode="recurrence", A=np.eye(2, dtype=np.float32).ravel(),
                 B=np.ones(2, np.float32))
    net.add_node("input", "x", 1)
    net.connect_dense("u", "x", "m", np.ones((1, 1), np.float32))
    net.validate()
    assert net.node_kind("m") == "lmu_memory"
