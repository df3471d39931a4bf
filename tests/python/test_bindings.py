"""The Python package over pybind11: NumPy in and out, same results as the CLI, streaming, errors,
threads."""
import threading
import time

import h5py
import numpy as np
import pytest

from testenv import cli, random_model, require_core

lmusim = require_core()
import slmu_reference as R  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("model")
    random_model(d, dim=64, depth=1, seed=4)
    x = np.asarray(R.random_features(5, frames=60, seed=9, n_pad=10), dtype=np.float32)
    np.save(d / "x.npy", x)
    return d, x


def cuba_in_python(n=4000, seed=3, steps=3000):
    # The CUBA example in a dozen lines (docs/cuba.md): the same network as `lmusim cuba`.
    ne = int(round(0.8 * n))
    net = lmusim.Network(dt=0.1, name="cuba")
    net.add_continuous_lif("neurons", n, v_init=lmusim.cuba_v_init(n, seed))
    exc = lmusim.fixed_probability(n, n, 80 / n, 1.62, lmusim.derive_seed(seed, 1), 0, ne)
    inh = lmusim.fixed_probability(n, n, 80 / n, -9.0, lmusim.derive_seed(seed, 2), ne, n)
    net.connect_sparse("exc", "neurons", "neurons", **exc, delay=1, port=0)
    net.connect_sparse("inh", "neurons", "neurons", **inh, delay=1, port=1)
    sim = lmusim.Simulation(net, threads=2)
    sim.run(steps, record=True)
    return sim


def test_cuba_in_python_equals_the_cli(tmp_path):
    sim = cuba_in_python()
    steps, ids, _ = sim.spikes("neurons")
    cli("cuba", "--neurons", 4000, "--seed", 3, "--duration", "300ms", "--record", tmp_path / "c.h5", "--quiet")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        t = f["spikes/neurons/timestamps"][:]
        node = f["spikes/neurons/node_ids"][:]
        sops = f["ops/sops"][:]
    assert len(ids) > 1000
    np.testing.assert_array_equal(ids, node.astype(np.int64))
    np.testing.assert_array_equal(steps, np.round(t / 0.1).astype(np.int64))
    assert int(sim.ops("exc")["sops"][0]) == int(sops[0])
    counts = sim.spike_counts("neurons")
    assert counts.shape == (1, 4000) and counts.sum() == len(ids)


def test_python_and_cli_give_identical_results(model):
    d, x = model
    m = lmusim.load_model(d / "model.h5")
    r = m.run(x, batch=2)
    cli("run", d / "model.h5", "--input", d / "x.npy", "--output", d / "cli.h5", "--quiet")
    with h5py.File(d / "cli.h5", "r") as f:
        np.testing.assert_array_equal(r.logits, f["logits"][:])
        np.testing.assert_array_equal(r.frame_logits, f["frame_logits"][:])
        for pop, counts in r.spike_counts.items():
            np.testing.assert_array_equal(counts, f["spike_counts/per_neuron"][pop][:])
        names = [n.decode() if isinstance(n, bytes) else n for n in f["ops/projections"][:]]
        for k, name in enumerate(names):
            np.testing.assert_array_equal(r.ops[name]["sops"], f["ops/sops"][:, k])
            np.testing.assert_array_equal(r.ops[name]["macs"], f["ops/macs"][:, k])
    # The Python API writes the same file as the CLI.
    m.run(x, batch=2, output=d / "py.h5")
    with h5py.File(d / "py.h5", "r") as a, h5py.File(d / "cli.h5", "r") as b:
        for key in ("logits", "frame_logits", "ops/sops", "ops/macs", "predictions"):
            np.testing.assert_array_equal(a[key][:], b[key][:])
    # read_output and read_recording are one reader, read_h5 (both names are public).
    assert lmusim.read_output is lmusim.read_recording is lmusim.read_h5
    out = lmusim.read_output(d / "py.h5")
    np.testing.assert_array_equal(out["logits"], r.logits)
    assert out["attrs"]["format"] == "lmusim-clips" and out["status"]["clips_done"] == len(x)


def test_streaming_in_random_chunks_equals_whole_clip(model):
    d, x = model
    m = lmusim.load_model(d / "model.h5")
    whole = m.run(x)
    rng = np.random.default_rng(0)
    for clip in range(x.shape[0]):
        s = m.stream()
        frames, outs = [], []
        t = 0
        while t < x.shape[1]:
            n = int(rng.integers(1, 9))
            idx, vals = s.push(x[clip, t:t + n])
            frames.extend(idx)
            outs.extend(vals[:, 0])
            assert all(f <= t + n - 1 - s.latency for f in idx)  # ready only after the look-ahead
            t += n
        idx, vals = s.flush()
        frames.extend(idx)
        outs.extend(vals[:, 0])
        assert frames == list(range(x.shape[1]))
        np.testing.assert_array_equal(np.array(outs), whole.frame_logits[clip])
        for pop, c in s.spike_counts().items():
            np.testing.assert_array_equal(c[0], whole.spike_counts[pop][clip])


def test_inputs_are_converted_or_rejected_clearly(model):
    d, x = model
    m = lmusim.load_model(d / "model.h5")
    ref = m.run(x[:2]).logits
    # Safe conversions: float64, non-contiguous, Fortran order.
    np.testing.assert_array_equal(m.run(x[:2].astype(np.float64)).logits, ref)
    fortran = np.asfortranarray(x[:2])
    np.testing.assert_array_equal(m.run(fortran).logits, ref)
    strided = np.repeat(x[:2], 2, axis=2)[:, :, ::2]
    assert not strided.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(m.run(strided).logits, ref)
    with pytest.raises(ValueError, match="not numeric"):
        m.run(np.array([["a"]]))
    with pytest.raises(lmusim.Error, match="channels, expected 128"):
        m.run(x[:, :, :100])
    with pytest.raises(lmusim.Error, match="dimensions"):
        m.run(x[0, 0])
    bad = x[:2].copy()
    bad[1, 3, 4] = np.inf
    with pytest.raises(lmusim.Error, match=r"not finite"):
        m.run(bad)
    with pytest.raises(lmusim.Error, match="empty"):
        m.run(x[:, :0])
    with pytest.raises(lmusim.FileError, match="no_such.h5"):
        lmusim.load_model(d / "no_such.h5")
    s = m.stream()
    with pytest.raises(lmusim.Error, match="shape"):
        s.push(np.zeros((3, 2, 128), np.float32))


def test_network_errors_carry_the_cpp_message():
    net = lmusim.Network()
    net.add_discrete_lif("a", 3)
    net.add_discrete_lif("b", 2)
    net.connect_dense("w", "a", "b", np.ones(5, np.float32))
    with pytest.raises(lmusim.NetworkError, match=r"projection 'w': 5 dense weights, expected 2 x 3 = 6"):
        lmusim.Simulation(net)
    assert issubclass(lmusim.NetworkError, ValueError)


def test_two_threads_run_two_models_at_once(model):
    d, x = model
    big = np.repeat(x, 6, axis=0)
    a, b = lmusim.load_model(d / "model.h5"), lmusim.load_model(d / "model.h5", memory_mode="recurrence")
    expect_a, expect_b = a.run(big, threads=1).logits, b.run(big, threads=1).logits
    results = {}

    def work(key, m):
        results[key] = m.run(big, threads=1).logits

    threads = [threading.Thread(target=work, args=("a", a)), threading.Thread(target=work, args=("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(results["a"], expect_a)
    np.testing.assert_array_equal(results["b"], expect_b)


def counting_rate_during(call):
    """Iterations per second that a pure-Python loop in another thread makes while `call()` runs
    in this one: it can only count while this thread does not hold the GIL."""
    count, done = [0], [False]

    def counter():
        n = 0
        while not done[0]:
            n += 1
            count[0] = n

    t = threading.Thread(target=counter)
    t.start()
    try:
        while count[0] == 0:
            time.sleep(0.001)
        c0, t0 = count[0], time.perf_counter()
        call()
        c1, elapsed = count[0], time.perf_counter() - t0
    finally:
        done[0] = True
        t.join()
    return (c1 - c0) / elapsed


def lasting(make_call, seconds):
    """make_call(n) with n chosen so that the call takes about `seconds` (calibrated here)."""
    n = 1000
    while True:
        t0 = time.perf_counter()
        make_call(n)()
        took = time.perf_counter() - t0
        if took >= 0.1:
            return make_call(max(n, int(n * seconds / took)))
        n *= 4


def test_the_engine_releases_the_gil_while_it_runs():
    # The same counting thread, once while the engine simulates and once while this thread holds
    # the GIL in one long C call (sum over a range: it never lets another thread in), each for
    # about 0.7 s. Released, the counter runs freely; held, it stands still. The margin is wide
    # for a loaded machine: the counter needs a fraction of one core.
    sim = lmusim.Simulation(lmusim.cuba_network(neurons=4000, seed=1), threads=1)
    engine = lasting(lambda n: lambda: sim.run(n), 0.7)
    holding = lasting(lambda n: lambda: sum(range(n)), 0.7)
    released, held = counting_rate_during(engine), counting_rate_during(holding)
    assert released > 5 * held, f"counting rate {released:.0f}/s while the engine ran, {held:.0f}/s while the GIL was held"


def test_recording_from_python_is_the_cli_layout(tmp_path):
    net = lmusim.cuba_network(neurons=1000, seed=5)
    sim = lmusim.Simulation(net)
    sim.run(2000, record_file=str(tmp_path / "r.h5"), chunk_steps=300)
    rec = lmusim.read_recording(tmp_path / "r.h5")
    assert rec["attrs"]["format"] == "lmusim-recording"
    assert rec["status"]["steps_done"] == 2000 and rec["status"]["complete"] == 1
    np.testing.assert_array_equal(rec["counts"]["per_neuron"]["neurons"], sim.spike_counts("neurons"))
    assert len(rec["spikes"]["neurons"]["node_ids"]) == sim.spike_counts("neurons").sum()
