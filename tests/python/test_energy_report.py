"""Ops, energy and the report on the Spiking LMUFormer: counts against closed forms and an
independent count from the PyTorch reference's spike tensors; CLI and Python reports agree; a
killed run keeps every finished clip."""
import json
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest
import torch

from testenv import LMUSIM, cli, require_core

lmusim = require_core()
import slmu_reference as R  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("energy")
    sd = R.make_state_dict(seed=2)
    torch.save(sd, d / "ckpt.pth")
    lmusim.convert(d / "ckpt.pth", d / "model.h5")
    x = np.asarray(R.random_features(6, seed=3), dtype=np.float32)
    np.save(d / "x.npy", x)
    cli("run", d / "model.h5", "--input", d / "x.npy", "--output", d / "out.h5", "--per-frame-counts", "--quiet")
    with torch.no_grad():
        ref = R.SpikingLMUFormerRef(sd).forward(torch.from_numpy(x))
    spikes = {k: v.numpy().astype(np.int64) for k, v in ref["spikes"].items()}
    return d, x, spikes


def test_counts_equal_closed_forms_and_an_independent_count(run):
    d, x, spk = run
    T = x.shape[1]
    with h5py.File(d / "out.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["ops/projections"][:]]
        col = {n: i for i, n in enumerate(names)}
        sops, dense = f["ops/sops"][:], f["ops/dense"][:]
        nodes = [n.decode() if isinstance(n, bytes) else n for n in f["ops/nodes"][:]]
        ncol = {n: i for i, n in enumerate(nodes)}
        node_sops, node_macs, node_dense = f["ops/node_sops"][:], f["ops/node_macs"][:], f["ops/node_dense"][:]
        per_frame = {k: f["spike_counts/per_frame"][k][:] for k in f["spike_counts/per_frame"]}
        per_neuron = {k: f["spike_counts/per_neuron"][k][:] for k in f["spike_counts/per_neuron"]}
    taps = 3 * T - 2  # k = 3 taps that land inside the clip
    assert np.all(dense[:, col["patch_embed.proj_conv1"]] == taps * 256 * 256)
    assert np.all(dense[:, col["block.0.mlp.fc1_conv"]] == T * 256 * 1024)
    assert np.all(dense[:, col["block.0.attn.lmu.W_h.m"]] == T * 256 * 512)
    assert np.all(node_dense[:, ncol["block.0.attn.lmu.memory"]] == T * (512 * 512 + 512))
    assert np.all(node_macs[:, ncol["head"]] == T * 35 * 256)
    # SOP counts in closed form from the spikes per frame: spikes x fan-out. lmusim's own spikes
    # (the file's per-frame counts), so that a near-threshold spike on which lmusim and the
    # float32 reference disagree (docs/numerics.md: not bit-exact across CPUs) does not enter the count.
    s = {k: v.astype(np.int64) for k, v in per_frame.items()}  # [clips, T] spikes per frame
    per_clip = {k: v.sum(axis=1) for k, v in s.items()}
    np.testing.assert_array_equal(sops[:, col["block.0.attn.lmu.W_u"]], per_clip["block.0.attn.prev_lif"] * 1)
    np.testing.assert_array_equal(sops[:, col["block.0.attn.lmu.W_h.m"]], per_clip["block.0.attn.lmu.m_lif"] * 256)
    np.testing.assert_array_equal(sops[:, col["block.0.attn.proj_conv"]], per_clip["block.0.attn.lmu.h_lif"] * 256)
    np.testing.assert_array_equal(sops[:, col["block.0.mlp.fc2_conv"]], per_clip["block.0.mlp.fc2_lif"] * 256)
    np.testing.assert_array_equal(sops[:, col["head.input"]], per_clip["head_lif"])
    tap_weight = np.full(T, 3)
    tap_weight[[0, -1]] = 2
    np.testing.assert_array_equal(sops[:, col["patch_embed.proj_conv2"]],
                                  (s["patch_embed.proj_lif1"] * tap_weight).sum(axis=1) * 256)
    # Impulse-mode memory: at frame t every earlier u spike adds one 512-column of H.
    u = s["block.0.attn.lmu.u_lif"]
    np.testing.assert_array_equal(node_sops[:, ncol["block.0.attn.lmu.memory"]], np.cumsum(u, axis=1).sum(axis=1) * 512)
    # Per-frame counts add up to the per-neuron counts, and equal the reference's up to 1e-3 of
    # the neuron-frames (on some CPUs one near-threshold m_lif spike differs at this seed and
    # its effect spreads downstream: 22 of 196,608 in fc1_lif; test_lmuformer_parity bounds parity).
    for k, v in per_frame.items():
        np.testing.assert_array_equal(v.sum(axis=1), per_neuron[k].sum(axis=1))
        ref_frames = spk[k].sum(axis=2)
        assert np.abs(v.astype(np.int64) - ref_frames).sum() <= 1e-3 * spk[k].size, k


def test_report_energy_follows_the_stated_formula(run):
    d, _, _ = run
    r = lmusim.report(d / "out.h5")
    t = r["total"]
    assert t["snn_pj"] == pytest.approx(4.6 * t["macs"] + 0.9 * t["sops"])
    assert t["ann_pj"] == pytest.approx(4.6 * t["dense_macs"])
    assert t["ann_over_snn"] == pytest.approx(t["ann_pj"] / t["snn_pj"])
    assert r["formula"]["snn"].startswith("E_SNN = 4.6 pJ x MACs + 0.9 pJ x SOPs")
    rates = {p["name"]: p["firing_rate"] for p in r["populations"]}
    assert all(0.02 <= v <= 0.4 for v in rates.values())
    i8 = lmusim.report(d / "out.h5", energy_model="horowitz45-int8", include_elementwise=True)
    ti = i8["total"]
    assert ti["snn_pj"] == pytest.approx(0.23 * ti["macs"] + 0.03 * ti["sops"] + 0.03 * ti["elementwise"])
    # Per-layer energies add up to the totals.
    assert sum(x["snn_pj"] for x in r["layers"]) == pytest.approx(t["snn_pj"])
    # The CLI prints the same JSON.
    assert json.loads(cli("report", d / "out.h5", "--json").stdout)["total"] == t
    table = cli("report", d / "out.h5").stdout
    assert "E_SNN = 4.6 pJ x MACs + 0.9 pJ x SOPs" in table and "TOTAL" in table


def test_user_energy_model_and_plot(run, tmp_path):
    d, _, _ = run
    (tmp_path / "chip.json").write_text(json.dumps({"name": "chip", "mac_pj": 1.0, "ac_pj": 0.1}))
    r = json.loads(cli("report", d / "out.h5", "--json", "--energy-model", tmp_path / "chip.json").stdout)
    assert r["energy_model"]["name"] == "chip"
    assert r["total"]["snn_pj"] == pytest.approx(r["total"]["macs"] + 0.1 * r["total"]["sops"])
    bad = cli("report", d / "out.h5", "--energy-model", "nonsense", check=False)
    assert bad.returncode == 2 and "unknown energy model 'nonsense'" in bad.stderr
    out = cli("report", d / "out.h5", "--plot", tmp_path / "r.png").stdout
    assert "plot:" in out
    png = (tmp_path / "r.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000


def test_report_on_a_recording(tmp_path):
    cli("cuba", "--neurons", 1000, "--duration", "200ms", "--record", tmp_path / "c.h5", "--quiet")
    r = lmusim.report(tmp_path / "c.h5")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        spikes = int(f["counts/total_spikes"][0])
        assert r["populations"][0]["firing_rate"] == pytest.approx(spikes / (1000 * 2000))
        assert r["total"]["sops"] == int(f["ops/sops"][:].sum())


def test_killed_run_keeps_every_finished_clip(run, tmp_path):
    d, x, _ = run
    many = np.repeat(x, 60, axis=0)  # 360 clips, batch 1: long enough to interrupt
    np.save(tmp_path / "many.npy", many)
    p = subprocess.Popen([LMUSIM, "run", d / "model.h5", "--input", tmp_path / "many.npy", "--output", tmp_path / "k.h5",
                          "--batch", "1", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    # A killed run's data is in OUT.partial (OUT appears only when a run ends).
    assert not (tmp_path / "k.h5").exists()
    with h5py.File(tmp_path / "k.h5.partial", "r") as f:
        done = int(f["status/clips_done"][()])
        assert f["status/complete"][()] == 0
        assert 0 < done < 360
        assert f["logits"].shape[0] >= done
        logits = f["logits"][:done]
    # Every finished clip is right.
    full = lmusim.load_model(d / "model.h5").run(many[:done]).logits
    np.testing.assert_array_equal(logits, full)
