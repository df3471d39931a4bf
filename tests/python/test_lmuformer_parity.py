"""The Spiking LMUFormer on lmusim against the PyTorch reference (tests/python/slmu_reference.py).

A random upstream-format checkpoint whose layers fire at realistic rates is converted with
`lmusim.convert` and run by the `lmusim` CLI, whole-clip and streaming. Targets (docs/numerics.md, Measured):
max |Δlogit| <= 1e-4 and a spike mismatch <= 1e-4 of neuron-steps in every layer.
"""
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import slmu_reference as R  # noqa: E402
from lmusim.convert import convert  # noqa: E402

LMUSIM = os.environ.get("LMUSIM_BIN", str(ROOT / "build" / "apps" / "lmusim"))
pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")


def lmusim(*args, check=True):
    return subprocess.run([LMUSIM, *map(str, args)], capture_output=True, text=True, check=check)


def as_np(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def run_model(model, feats, out, *extra):
    lmusim("run", model, "--input", feats, "--output", out, "--record-spikes", "--quiet", *extra)
    with h5py.File(out, "r") as f:
        res = {"logits": f["logits"][:], "frame_logits": f["frame_logits"][:], "spikes": {},
               "counts": {k: f["spike_counts/per_neuron"][k][:] for k in f["spike_counts/per_neuron"]},
               "sops": f["ops/sops"][:], "macs": f["ops/macs"][:],
               "projections": [p.decode() if isinstance(p, bytes) else p for p in f["ops/projections"][:]]}
        frame_ms = f.attrs["frame_ms"]
        for name in f["spikes"]:
            g = f["spikes"][name]
            res["spikes"][name] = (g["stream_ids"][:].astype(np.int64),
                                   np.round(g["timestamps"][:] / frame_ms).astype(np.int64),
                                   g["node_ids"][:].astype(np.int64))
    return res


def raster(events, shape):
    r = np.zeros(shape, dtype=np.uint8)
    clip, frame, node = events
    r[clip, frame, node] = 1
    return r


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    d = tmp_path_factory.mktemp("paper")
    sd = R.make_state_dict(seed=0)
    torch.save(sd, d / "ckpt.pth")
    convert(d / "ckpt.pth", d / "model.h5")
    x = as_np(R.random_features(12, seed=7)).astype(np.float32)
    np.save(d / "x.npy", x)
    with torch.no_grad():
        ref = R.SpikingLMUFormerRef(sd).forward(torch.from_numpy(x))
    return d, x, ref


def compare(res, ref, x):
    report = {}
    for name, s in ref["spikes"].items():
        s = as_np(s).astype(np.uint8)
        ours = raster(res["spikes"][name], s.shape)
        report[name] = (float(s.mean()), int((ours != s).sum()) / s.size)
    dlogit = float(np.abs(res["logits"] - as_np(ref["logits"])).max())
    dframe = float(np.abs(res["frame_logits"] - as_np(ref["frame_logits"])).max())
    print(f"\nmax |dlogit| {dlogit:.3g}, per-frame {dframe:.3g}")
    for name, (rate, mism) in report.items():
        print(f"  {name:28s} rate {rate:.4f}  spike mismatch {mism:.2e}")
    return dlogit, dframe, report


@pytest.mark.parametrize("mode", ["whole", "stream"])
def test_matches_reference(paper, mode):
    d, x, ref = paper
    res = run_model(d / "model.h5", d / "x.npy", d / f"out_{mode}.h5", *(["--stream"] if mode == "stream" else []))
    dlogit, dframe, report = compare(res, ref, x)
    assert dlogit <= 1e-4 and dframe <= 1e-4
    for name, (rate, mism) in report.items():
        assert 0.02 <= rate <= 0.40, f"{name} fires at {rate}: the checkpoint is not realistic"
        assert mism <= 1e-4, f"{name}: spike mismatch {mism}"


def test_stream_whole_batch_and_threads_identical(paper):
    d, _, _ = paper
    a = run_model(d / "model.h5", d / "x.npy", d / "a.h5")
    b = run_model(d / "model.h5", d / "x.npy", d / "b.h5", "--stream", "--batch", "5", "--threads", "1")
    c = run_model(d / "model.h5", d / "x.npy", d / "c.h5", "--batch", "12", "--threads", "2")
    for other in (b, c):
        np.testing.assert_array_equal(a["logits"], other["logits"])
        np.testing.assert_array_equal(a["frame_logits"], other["frame_logits"])
        np.testing.assert_array_equal(a["sops"], other["sops"])
        for k in a["counts"]:
            np.testing.assert_array_equal(a["counts"][k], other["counts"][k])


def test_op_counts_equal_an_independent_count(paper):
    """SOPs per projection recomputed from the reference's spike tensors (taps inside the clip only)."""
    d, x, ref = paper
    res = run_model(d / "model.h5", d / "x.npy", d / "ops.h5")
    spk = {k: as_np(v).astype(np.int64) for k, v in ref["spikes"].items()}
    T = x.shape[1]
    col = {p: i for i, p in enumerate(res["projections"])}

    def conv_sops(s, out_ch):  # s: [B, T, C]; a spike at frame f feeds target frames f-1, f, f+1 inside [0, T)
        per_frame = s.sum(axis=2)
        taps = np.full(T, 3)
        taps[0] -= 1
        taps[-1] -= 1
        return (per_frame * taps[None, :]).sum(axis=1) * out_ch

    np.testing.assert_array_equal(res["sops"][:, col["patch_embed.proj_conv1"]], conv_sops(spk["patch_embed.proj_lif"], 256))
    np.testing.assert_array_equal(res["sops"][:, col["patch_embed.rpe_conv"]], conv_sops(spk["patch_embed.proj_lif3"], 256))
    np.testing.assert_array_equal(res["sops"][:, col["block.0.mlp.fc1_conv"]], spk["block.0.mlp.fc1_lif"].sum(axis=(1, 2)) * 1024)
    np.testing.assert_array_equal(res["sops"][:, col["block.0.attn.lmu.W_h.x"]], spk["block.0.attn.prev_lif"].sum(axis=(1, 2)) * 256)
    # The first convolution takes real input: MACs for the taps inside the clip, 382/384 of dense.
    assert int(res["macs"][0, col["patch_embed.proj_conv"]]) == (3 * T - 2) * 256 * 128 == 12_517_376


def test_recurrence_mode_is_close(paper):
    """The float32 recurrence A m + B u is not bit-exact with the FFT memory (docs/numerics.md)."""
    d, x, ref = paper
    res = run_model(d / "model.h5", d / "x.npy", d / "rec.h5", "--memory-mode", "recurrence")
    dlogit, _, report = compare(res, ref, x)
    for name, (_, mism) in report.items():
        assert mism <= 2e-3, f"{name}: {mism}"
    assert np.array_equal(res["logits"].argmax(1), as_np(ref["logits"]).argmax(1))


def test_short_clips_and_deeper_smaller_models(tmp_path):
    sd = R.make_state_dict(dim=64, depth=2, seed=3)
    torch.save(sd, tmp_path / "small.pth")
    convert(tmp_path / "small.pth", tmp_path / "small.h5")
    x = as_np(R.random_features(4, frames=40, seed=2, n_pad=0)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with torch.no_grad():
        ref = R.SpikingLMUFormerRef(sd).forward(torch.from_numpy(x), memory_mode="direct")
    for extra in ([], ["--stream"]):
        res = run_model(tmp_path / "small.h5", tmp_path / "x.npy", tmp_path / f"o{len(extra)}.h5", *extra)
        dlogit, dframe, report = compare(res, ref, x)
        assert dlogit <= 1e-4 and dframe <= 1e-4
        assert all(m <= 1e-4 for _, m in report.values())
    # A one-frame clip works too.
    np.save(tmp_path / "one.npy", x[:1, :1])
    out = lmusim("run", tmp_path / "small.h5", "--input", tmp_path / "one.npy", "--stream").stdout
    assert "clip 0:" in out


def test_info_reports_the_graph(paper):
    d, _, _ = paper
    out = lmusim("info", d / "model.h5").stdout
    assert "1689894 trainable parameters" in out
    assert "output after +5 frames" in out
    assert "block.0.attn.lmu.memory" in out and "lmu_memory" in out


@pytest.mark.parametrize("case", ["width", "nan", "empty", "rank", "int", "truncated_model", "not_npy"])
def test_bad_input_is_a_clear_error(paper, tmp_path, case):
    d, x, _ = paper
    model, feats = d / "model.h5", tmp_path / "f.npy"
    if case == "width":
        np.save(feats, x[:, :, :100])
        expect = "100 channels, expected 128"
    elif case == "nan":
        y = x.copy()
        y[1, 5, 7] = np.nan
        np.save(feats, y)
        expect = "not finite"
    elif case == "empty":
        np.save(feats, x[:, :0])
        expect = "empty input"
    elif case == "rank":
        np.save(feats, x[0, 0])
        expect = "rank 1"
    elif case == "int":
        np.save(feats, x.astype(np.int32))
        expect = "not supported"
    elif case == "truncated_model":
        np.save(feats, x[:1])
        data = (d / "model.h5").read_bytes()
        model = tmp_path / "cut.h5"
        model.write_bytes(data[: len(data) // 3])
        expect = "cut.h5"
    else:
        feats.write_text("hello")
        expect = "not a .npy file"
    r = lmusim("run", model, "--input", feats, check=False)
    assert r.returncode == 2, r.stderr
    assert expect in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_memory_input_channels(tmp_path):
    """A model whose memories take several spike trains (scripts/train_slmu.py --u-channels 3): the
    converter writes one memory and one m_lif per channel, each fed by its own spike of u_lif, and
    lmusim computes what the PyTorch training model does (per-frame logits and each channel's
    memory spikes), whole-clip and streaming."""
    from lmusim.training.slmu import SpikingLMUFormer, load_upstream, upstream_state_dict
    base = SpikingLMUFormer(dim=32, depth=2)
    load_upstream(base, R.make_state_dict(dim=32, depth=2, seed=3))  # calibrated: its LIFs fire
    net = SpikingLMUFormer(dim=32, depth=2, u_channels=3)
    sd = {k: v.clone() for k, v in base.state_dict().items()}
    g = torch.Generator().manual_seed(7)
    for i in range(2):  # the new channels: like channel 0, perturbed, and read by W_h
        lp = f"block.{i}.attn.lmu."
        w_u, w_h = sd[lp + "W_u.weight"], sd[lp + "W_h.weight"]
        m = sd[lp + "A"].shape[0]
        sd[lp + "W_u.weight"] = torch.cat([w_u] + [w_u + 0.3 * w_u.abs().mean() * torch.randn(w_u.shape, generator=g)
                                                   for _ in range(2)])
        sd[lp + "W_u.bias"] = sd[lp + "W_u.bias"].repeat(3)
        sd[lp + "W_h.weight"] = torch.cat([w_h[:, :m], w_h[:, torch.randperm(m, generator=g)],
                                           -w_h[:, torch.randperm(m, generator=g)], w_h[:, m:]], dim=1)
        for p in ("weight", "bias", "running_mean", "running_var"):
            sd[lp + "bn_u." + p] = sd[lp + "bn_u." + p].repeat(3)
            sd[lp + "bn_m." + p] = sd[lp + "bn_m." + p].repeat(3)
    net.load_state_dict(sd)
    net.eval()
    torch.save(upstream_state_dict(net), tmp_path / "k3.pth")
    info = convert(tmp_path / "k3.pth", tmp_path / "k3.h5")
    # the channel selectors are wiring: not counted as parameters, not rounded by --weights int8
    assert info["trainable_parameters"] == sum(p.numel() for p in net.parameters())
    convert(tmp_path / "k3.pth", tmp_path / "k3_int8.h5", weights="int8")
    with h5py.File(tmp_path / "k3_int8.h5", "r") as f:
        np.testing.assert_array_equal(f["projections/block.0.attn.lmu.u_lif->memory.2/weights"][:], [[0, 0, 1]])
    with h5py.File(tmp_path / "k3.h5", "r") as f:
        assert f["meta/config"].attrs["u_channels"] == 3
        nodes = f["nodes"]
        for c in range(3):
            assert nodes[f"block.1.attn.lmu.memory.{c}"].attrs["kind"] == "lmu_memory"
            assert nodes[f"block.1.attn.lmu.m_lif.{c}"].attrs["size"] == 64
            np.testing.assert_array_equal(f[f"projections/block.1.attn.lmu.u_lif->memory.{c}/weights"][:],
                                          np.eye(3, dtype=np.float32)[c:c + 1])
        assert "block.1.attn.lmu.memory" not in nodes
    x = as_np(R.random_features(3, seed=5)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    with torch.no_grad():
        per_frame = net(torch.from_numpy(x), mode="frames").numpy()  # [B, N, C]
    # lmusim's frame_logits are the running means (upstream's "all_seq" output)
    want = np.cumsum(per_frame.astype(np.float64), axis=1) / np.arange(1, x.shape[1] + 1)[None, :, None]
    for extra in ([], ["--stream"]):
        res = run_model(tmp_path / "k3.h5", tmp_path / "x.npy", tmp_path / f"o{len(extra)}.h5", *extra)
        got = res["frame_logits"]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4
        assert (got.mean(1).argmax(1) == want.mean(1).argmax(1)).all()
        for c in range(3):  # every channel's memory spikes, and the new channels differ from channel 0
            assert res["counts"][f"block.1.attn.lmu.m_lif.{c}"].sum() > 0
        assert not np.array_equal(res["counts"]["block.1.attn.lmu.m_lif.1"],
                                  res["counts"]["block.1.attn.lmu.m_lif.0"])
