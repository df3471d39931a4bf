"""The L2MU on the engine (docs/l2mu.md): random checkpoints in the published formats (Lightning
.ckpt and plain state dicts; Leaky and Synaptic; every reset) converted and run by lmusim, whole
clips and streaming, against the plain-PyTorch reference (tests/python/l2mu_reference.py):
predictions and every population's spikes per clip, step by step. Also the TensorDataset input
and the NeuroBench figures on a tiny network computed by hand."""
import json

import h5py
import numpy as np
import pytest
import torch

from testenv import cli, require_core

lmusim = require_core()
import l2mu_reference as R  # noqa: E402

SMALL = dict(n_in=6, memory_size=12, order=4, hidden=20, classes=5)


def run_lmusim(model, x, out, *extra):
    np.save(out.with_suffix(".npy"), x.numpy().astype(np.float32))
    cli("run", model, "--input", out.with_suffix(".npy"), "--output", out, "--per-frame-counts", "--record-spikes",
        "--quiet", "--overwrite", *extra)
    with h5py.File(out, "r") as f:
        T = x.shape[1]
        spikes = {}
        for pop in ("spk_u", "spk_m", "spk_h", "spk_output"):
            g = f["spikes"][pop]
            raster = np.zeros((x.shape[0], T, f["spike_counts/sizes"][list(map(
                lambda n: n.decode() if isinstance(n, bytes) else n, f["spike_counts/populations"][:])).index(pop)]),
                bool)
            t = np.rint(g["timestamps"][:] / f.attrs["frame_ms"]).astype(int)
            raster[g["stream_ids"][:], t, g["node_ids"][:]] = True
            spikes[pop] = raster
        return f["logits"][:], f["predictions"][:], spikes


@pytest.mark.parametrize("variant,reset,fmt", [
    ("leaky", "subtract", "lightning"), ("leaky", "zero", "plain"), ("leaky", "none", "plain"),
    ("synaptic", "subtract", "lightning"), ("synaptic", "zero", "plain"),
])
def test_random_checkpoints_match_the_reference(tmp_path, variant, reset, fmt):
    sd = R.make_state_dict(**SMALL, variant=variant, reset=reset, seed=11, calib_T=60,
                           per_neuron=(variant == "synaptic"))
    ckpt = tmp_path / ("m.ckpt" if fmt == "lightning" else "m.pt")
    if fmt == "lightning":
        R.save_lightning(sd, R.make_hparams(sd), str(ckpt), optimizer="empty", location="cuda:0")
    else:
        R.save_plain({k[len("model."):]: v for k, v in sd.items()}, str(ckpt))
    model = tmp_path / "m.h5"
    lmusim.convert(ckpt, model)
    x = R.random_inputs(6, 80, SMALL["n_in"], density=0.15, seed=5)
    ref = R.L2MURef(sd, mode="torch").forward(x)
    for extra in ([], ["--stream"], ["--batch", "4", "--threads", "1"]):
        logits, pred, spikes = run_lmusim(model, x, tmp_path / f"out{len(extra)}.h5", *extra)
        np.testing.assert_array_equal(logits, ref["counts"].numpy().astype(np.float32))
        np.testing.assert_array_equal(pred, ref["predictions"].numpy())
        for pop, s in ref["spikes"].items():
            np.testing.assert_array_equal(spikes[pop], s.numpy().astype(bool), err_msg=pop)
    rates = {p: s.numpy().mean() for p, s in ref["spikes"].items()}
    assert all(r > 0.005 for r in rates.values()), rates  # the check is not vacuous


def test_dataset_files_and_accuracy(tmp_path):
    sd = R.make_state_dict(**SMALL, seed=3, calib_T=60)
    R.save_plain(sd, str(tmp_path / "m.pt"))
    lmusim.convert(tmp_path / "m.pt", tmp_path / "m.h5")
    x = R.random_inputs(10, 50, SMALL["n_in"], density=0.2, seed=9)
    ref = R.L2MURef(sd).forward(x)
    y = ref["predictions"].clone()
    y[:3] = (y[:3] + 1) % SMALL["classes"]  # three wrong labels: 70 %
    R.save_dataset(x, y, str(tmp_path / "data.pt"))
    out = cli("run", tmp_path / "m.h5", "--input", tmp_path / "data.pt", "--quiet").stdout
    assert "accuracy: 70.00 % (7 of 10 clips)" in out
    j = json.loads(cli("run", tmp_path / "m.h5", "--input", tmp_path / "data.pt", "--json").stdout)
    assert j["accuracy"] == 0.7
    # A dataset file is not a checkpoint, and a pickle that would run code is refused.
    r = cli("run", tmp_path / "m.h5", "--input", tmp_path / "m.pt", check=False)
    assert r.returncode == 2 and "m.pt" in r.stderr


def test_published_sizes_and_info(tmp_path):
    sd = R.make_state_dict(seed=1, calib_T=40, calib_clips=4)  # the published 7-class sizes
    R.save_lightning(sd, R.make_hparams(sd), str(tmp_path / "best.ckpt"), optimizer="empty")
    info = lmusim.convert(tmp_path / "best.ckpt", tmp_path / "m.h5")
    assert info["trainable_parameters"] == 119035  # 1.19e5, as published (A, B are buffers)
    out = cli("info", tmp_path / "m.h5").stdout
    assert "spk_m                            leaky            490" in out
    assert "A                    spk_m -> spk_m  block_diagonal, delay 1" in out
    assert "119035 trainable parameters" in out  # the engine's count agrees: A and B are fixed


def test_neurobench_figures_of_a_tiny_network_by_hand(tmp_path):
    net = lmusim.Network(dt=1.0, name="tiny")
    net.add_node("spike_input", "x", 2)
    net.add_node("leaky", "n", 2, beta=np.array([0.5], np.float32), threshold=np.array([1.0], np.float32))
    net.add_node("spike_count", "out", 2)
    net.connect_dense("w", "x", "n", np.array([[1.0, 0.0], [0.5, 0.0]], np.float32))
    net.connect_one_to_one("c", "n", "out", np.ones(2, np.float32))
    net.save(str(tmp_path / "tiny.h5"))
    x = np.array([[[1, 1], [1, 0], [0, 0]]], np.float32)  # 1 clip, 3 steps
    np.save(tmp_path / "x.npy", x)
    cli("run", tmp_path / "tiny.h5", "--input", tmp_path / "x.npy", "--output", tmp_path / "o.h5", "--quiet")
    nb = json.loads(cli("report", tmp_path / "o.h5", "--json").stdout)["neurobench"]
    # n: inputs 1, 1, 0 and 0.5, 0.5, 0 -> mem 1, 1.5 (spike), 0.75-1; 0.5, 0.75, 0.375: one spike.
    # Footprint: 4 weights + beta + threshold + 2 one-to-one weights, float32.
    assert nb["Footprint"] == (4 + 1 + 1 + 2) * 4
    assert nb["ConnectionSparsity"] == pytest.approx(2 / 6)
    assert nb["ActivationSparsity"] == pytest.approx(1 - 1 / 6)  # input spikes do not count
    assert nb["MembraneUpdates"] == 6  # all on the first step, then every membrane changes
    ops = nb["SynapticOperations"]
    # w: source 0 has 2 nonzero weights, source 1 none: steps 0 and 1 -> 2 + 2; c: one spike -> 1.
    assert ops["Effective_ACs"] == 5 and ops["Effective_MACs"] == 0
    assert ops["Dense"] == 3 * 4 + 3 * 2
