"""Checkpoints (docs/checkpoint.md): a run stopped, saved and continued elsewhere gives exactly the
results of the run that never stopped. Simulation.save_state/load_state, Stream.save_state/
load_state on a converted Spiking LMUFormer (both LMU memory modes, restored in a fresh process),
and the CLI's --checkpoint / --resume with SIGINT."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import lmusim
from testenv import LMUSIM, random_model


def delayed_network(n=600):
    """CUBA-like continuous LIFs with 3- and 6-step delays (spikes in flight at every boundary)."""
    net = lmusim.Network(dt=0.1, name="delayed")
    v0 = np.random.default_rng(1).uniform(-60, -50, n).astype(np.float32)
    net.add_continuous_lif("neurons", n, v_init=v0)
    ne = int(0.8 * n)
    exc = lmusim.fixed_probability(n, n, 0.05, 1.62, seed=3, source_begin=0, source_end=ne)
    inh = lmusim.fixed_probability(n, n, 0.05, -9.0, seed=4, source_begin=ne, source_end=n)
    net.connect_sparse("exc", "neurons", "neurons", exc["indptr"], exc["indices"], exc["weights"], delay=3, port=0)
    net.connect_sparse("inh", "neurons", "neurons", inh["indptr"], inh["indices"], inh["weights"], delay=6, port=1)
    return net


def raster(sim):
    steps, ids, streams = sim.spikes("neurons")
    return np.stack([steps, streams, ids], axis=1)


@pytest.mark.parametrize("streams", [1, 2])
def test_simulation_split_run_equals_straight_run(tmp_path, streams):
    net = delayed_network()
    straight = lmusim.Simulation(net, threads=1, streams=streams)
    straight.run(1500, record=True)
    assert len(raster(straight)) > 500

    first = lmusim.Simulation(net, threads=2, streams=streams, block_size=64)
    first.run(611, record=True)
    head = raster(first)
    first.save_state(tmp_path / "ck.h5")
    second = lmusim.Simulation(net, threads=1, streams=streams)
    assert second.load_state(tmp_path / "ck.h5") == 611
    assert second.steps_done == 611
    second.run(1500 - 611, record=True)
    np.testing.assert_array_equal(np.concatenate([head, raster(second)]), raster(straight))
    np.testing.assert_array_equal(second.spike_counts("neurons"), straight.spike_counts("neurons"))
    for p in ("exc", "inh"):
        for k, v in straight.ops(p).items():
            np.testing.assert_array_equal(second.ops(p)[k], v)


def test_simulation_refuses_checkpoints_that_do_not_fit(tmp_path):
    sim = lmusim.Simulation(delayed_network(), threads=1)
    sim.run(20)
    sim.save_state(tmp_path / "ck.h5")
    with pytest.raises(lmusim.FileError, match="different network"):
        lmusim.Simulation(delayed_network(601), threads=1).load_state(tmp_path / "ck.h5")
    with pytest.raises(lmusim.FileError, match="1 stream"):
        lmusim.Simulation(delayed_network(), threads=1, streams=3).load_state(tmp_path / "ck.h5")
    data = (tmp_path / "ck.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(lmusim.FileError, match="cut.h5"):
        lmusim.Simulation(delayed_network(), threads=1).load_state(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "ck.h5", "a") as f:
        del f["nodes/neurons/g_inh"]
    with pytest.raises(lmusim.FileError, match="missing dataset 'nodes/neurons/g_inh'"):
        lmusim.Simulation(delayed_network(), threads=1).load_state(tmp_path / "ck.h5")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    pytest.importorskip("torch")
    import slmu_reference as R
    d = tmp_path_factory.mktemp("ckmodel")
    random_model(d, "a", dim=64, depth=1, seed=5)
    random_model(d, "b", dim=64, depth=1, seed=6)
    x = np.asarray(R.random_features(2, frames=40, seed=9), dtype=np.float32)  # [clips, frames, 128]
    return d, x


RESUME = textwrap.dedent("""
    import sys, numpy as np, lmusim
    model, mode, ck, rest, out = sys.argv[1:]
    stream = lmusim.load_model(model, memory_mode=mode).stream(streams=2)
    pushed = stream.load_state(ck)
    f1, l1 = stream.push(np.load(rest))
    f2, l2 = stream.flush()
    counts = stream.spike_counts()
    np.savez(out, pushed=pushed, frames=np.concatenate([f1, f2]), logits=np.concatenate([l1, l2]),
             **{"count_" + k: v for k, v in counts.items()})
""")


@pytest.mark.parametrize("mode", ["impulse", "recurrence"])
def test_stream_checkpoint_mid_clip_resumes_in_a_fresh_process(small_model, tmp_path, mode):
    d, x = small_model
    frames = np.ascontiguousarray(x.transpose(1, 0, 2))  # [frames, streams, 128]
    model = lmusim.load_model(d / "a.h5", memory_mode=mode)
    straight = model.stream(streams=2)
    f_a, l_a = straight.push(frames)
    f_b, l_b = straight.flush()
    want_frames, want_logits = np.concatenate([f_a, f_b]), np.concatenate([l_a, l_b])
    want_counts = straight.spike_counts()
    assert sum(int(v.sum()) for v in want_counts.values()) > 100

    k = 17
    first = model.stream(streams=2)
    g_a, m_a = first.push(frames[:k])
    first.save_state(tmp_path / "s.h5")
    np.save(tmp_path / "rest.npy", frames[k:])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", RESUME, str(d / "a.h5"), mode, str(tmp_path / "s.h5"), str(tmp_path / "rest.npy"),
                    str(tmp_path / "out.npz")], check=True, env=env, timeout=300)
    got = np.load(tmp_path / "out.npz")
    assert int(got["pushed"]) == k
    np.testing.assert_array_equal(np.concatenate([g_a, got["frames"]]), want_frames)
    np.testing.assert_array_equal(np.concatenate([m_a, got["logits"]]), want_logits)  # bit-identical
    for name, c in want_counts.items():
        np.testing.assert_array_equal(got["count_" + name], c)


def test_stream_checkpoint_refuses_another_model_or_stream_count(small_model, tmp_path):
    d, x = small_model
    s = lmusim.load_model(d / "a.h5").stream()
    s.push(x[0, :5])
    s.save_state(tmp_path / "s.h5")
    with pytest.raises(lmusim.FileError, match="sha256"):
        lmusim.load_model(d / "b.h5").stream().load_state(tmp_path / "s.h5")
    with pytest.raises(lmusim.FileError, match="stream"):
        lmusim.load_model(d / "a.h5").stream(streams=2).load_state(tmp_path / "s.h5")
    assert lmusim.load_model(d / "a.h5").stream().load_state(tmp_path / "s.h5") == 5


def cli(*args, **kw):
    return subprocess.run([LMUSIM, *map(str, args)], capture_output=True, text=True, **kw)


def state_arrays(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.startswith("fingerprint"):
                out[name] = obj[()]
        f.visititems(visit)
        out["steps_done"] = int(f.attrs["steps_done"])
    return out


@pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")
def test_cli_sigint_writes_a_checkpoint_and_resume_reaches_the_uninterrupted_result(tmp_path):
    net = tmp_path / "net.h5"
    cli("cuba", "--neurons", 2000, "--duration", "1ms", "--save-network", net, "--quiet", check=True)
    ck = tmp_path / "ck.h5"
    p = subprocess.Popen([LMUSIM, "run", net, "--duration", "100000s", "--checkpoint", ck, "--checkpoint-every", "50ms",
                          "--threads", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "--resume" in err and str(ck) in err
    assert not Path(str(ck) + ".partial").exists()
    stopped = state_arrays(ck)["steps_done"]
    assert stopped > 0
    total = f"{stopped * 0.1 + 300:.1f}ms"  # the interrupted step plus 300 ms

    resumed = cli("run", net, "--duration", total, "--resume", ck, "--checkpoint", tmp_path / "end1.h5", "--threads", "1",
                  "--json", check=True)
    straight = cli("run", net, "--duration", total, "--checkpoint", tmp_path / "end2.h5", "--threads", "1", "--json",
                   check=True)
    a, b = json.loads(resumed.stdout), json.loads(straight.stdout)
    assert a["start_step"] == stopped and b["start_step"] == 0
    for key in ("steps", "spikes", "events", "sops"):
        assert a[key] == b[key], key
    sa, sb = state_arrays(tmp_path / "end1.h5"), state_arrays(tmp_path / "end2.h5")
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)

    # A checkpoint of another network is refused with a one-line error naming the file.
    other = tmp_path / "other.h5"
    cli("cuba", "--neurons", 1000, "--duration", "1ms", "--save-network", other, "--quiet", check=True)
    r = cli("run", other, "--duration", total, "--resume", ck)
    assert r.returncode == 2 and "ck.h5" in r.stderr
    r = cli("run", net, "--duration", "1s", "--checkpoint-every", "10ms")
    assert r.returncode == 2 and "--checkpoint-every needs --checkpoint" in r.stderr


@pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")
def test_cli_periodic_checkpoints_and_cuba_resume(tmp_path):
    ck = tmp_path / "ck.h5"
    cli("cuba", "--neurons", 1000, "--duration", "120ms", "--checkpoint", ck, "--checkpoint-every", "50ms", "--quiet",
        check=True)
    assert state_arrays(ck)["steps_done"] == 1200
    a = json.loads(cli("cuba", "--neurons", 1000, "--duration", "300ms", "--resume", ck, "--json", check=True).stdout)
    b = json.loads(cli("cuba", "--neurons", 1000, "--duration", "300ms", "--json", check=True).stdout)
    assert a["start_step"] == 1200 and a["spikes"] == b["spikes"] and a["sops"] == b["sops"]
    # Another seed is another network: refused even though the shapes match.
    r = cli("cuba", "--neurons", 1000, "--seed", 4, "--duration", "300ms", "--resume", ck)
    assert r.returncode == 2 and "sha256" in r.stderr
