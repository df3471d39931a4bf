"""Tests of the plain-PyTorch Spiking LMUFormer reference (``slmu_reference.py``).

Facts: docs/lmuformer.md (the § numbers below) and docs/numerics.md ("numerics").
Run: ``/usr/bin/python3 -m pytest -q tests/python/test_slmu_reference.py`` (about 15 s).
"""
import importlib.util
import os
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slmu_reference as R  # noqa: E402

HAVE_SCIPY = importlib.util.find_spec("scipy") is not None

LIF_ORDER_DEPTH1 = [
    "patch_embed.proj_lif", "patch_embed.proj_lif1", "patch_embed.proj_lif2",
    "patch_embed.proj_lif3", "block.0.attn.prev_lif", "block.0.attn.lmu.u_lif",
    "block.0.attn.lmu.m_lif", "block.0.attn.lmu.h_lif", "block.0.mlp.fc1_lif",
    "block.0.mlp.fc2_lif", "head_lif",
]


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lmu_cache():
    return {}


@pytest.fixture(scope="module")
def sd256(lmu_cache):
    """The paper configuration (dim 256, depth 1), seed 0, with the ``module.`` prefix."""
    return R.make_state_dict(seed=0, lmu_cache=lmu_cache)


@pytest.fixture(scope="module")
def model256(sd256):
    return R.SpikingLMUFormerRef(sd256)


@pytest.fixture(scope="module")
def feats():
    """Evaluation clips, different from the calibration clips (seed 1): 6 full 1 s clips (30 pad
    frames) and 2 clips without padding."""
    return torch.cat([R.random_features(6, seed=1234), R.random_features(2, seed=99, n_pad=0)])


@pytest.fixture(scope="module")
def out256(model256, feats):
    return model256.forward(feats)


def expected_checkpoint_keys(dim=256, hidden=1024, mem=512, n_class=35, depth=1, in_ch=128, n=128):
    """Key -> shape, written out from docs/lmuformer.md §6 (independently of the module under test)."""
    e = OrderedDict()

    def bn(name, c):
        for f in ("weight", "bias", "running_mean", "running_var"):
            e[f"{name}.{f}"] = (c,)
        e[f"{name}.num_batches_tracked"] = ()

    e["patch_embed.proj_conv.weight"] = (dim, in_ch, 3)
    for k in ("1", "2", "3"):
        e[f"patch_embed.proj_conv{k}.weight"] = (dim, dim, 3)
    e["patch_embed.rpe_conv.weight"] = (dim, dim, 3)
    for k in ("", "1", "2", "3"):
        bn(f"patch_embed.proj_bn{k}", dim)
    for i in range(depth):
        b = f"block.{i}."
        bn(b + "attn.prev_bn", dim)
        e[b + "attn.lmu.W_u.weight"] = (1, dim)
        e[b + "attn.lmu.W_u.bias"] = (1,)
        bn(b + "attn.lmu.bn_u", 1)
        e[b + "attn.lmu.A"] = (mem, mem)
        e[b + "attn.lmu.B"] = (mem, 1)
        e[b + "attn.lmu.H"] = (mem, n)
        e[b + "attn.lmu.fft_H"] = (mem, n + 1)
        bn(b + "attn.lmu.bn_m", mem)
        e[b + "attn.lmu.W_h.weight"] = (dim, mem + dim)
        e[b + "attn.lmu.W_h.bias"] = (dim,)
        bn(b + "attn.lmu.bn_h", dim)
        e[b + "attn.proj_conv.weight"] = (dim, dim, 1)
        e[b + "attn.proj_conv.bias"] = (dim,)
        bn(b + "attn.proj_bn", dim)
        bn(b + "mlp.fc1_bn", dim)
        e[b + "mlp.fc1_conv.weight"] = (hidden, dim, 1)
        e[b + "mlp.fc1_conv.bias"] = (hidden,)
        bn(b + "mlp.fc2_bn", hidden)
        e[b + "mlp.fc2_conv.weight"] = (dim, hidden, 1)
        e[b + "mlp.fc2_conv.bias"] = (dim,)
    bn("head_bn", dim)
    e["head.weight"] = (n_class, dim)
    e["head.bias"] = (n_class,)
    return e


def _check_layout(sd, expected, prefix):
    assert set(sd) == {prefix + k for k in expected}
    for k, shape in expected.items():
        t = sd[prefix + k]
        assert tuple(t.shape) == shape, k
        leaf = k.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            assert t.dtype == torch.int64 and t.dim() == 0, k
        elif leaf == "fft_H":
            assert t.dtype == torch.complex64, k
        else:
            assert t.dtype == torch.float32, k
            assert torch.isfinite(t).all(), k
        if leaf == "running_var":
            assert (t > 0).all(), k


# ---------------------------------------------------------------------------------------------
# §6: keys, shapes, dtypes; §2.7 parameter count
# ---------------------------------------------------------------------------------------------

def test_state_dict_layout_module_prefix(sd256):
    _check_layout(sd256, expected_checkpoint_keys(), "module.")
    assert next(iter(sd256)) == "module.patch_embed.proj_conv.weight"


def test_state_dict_layout_no_prefix(sd256, lmu_cache):
    sd = R.make_state_dict(seed=0, prefix="", n_calib=2, lmu_cache=lmu_cache)
    _check_layout(sd, expected_checkpoint_keys(), "")
    assert list(sd) == [k[len("module."):] for k in sd256]


def test_trainable_parameter_count(sd256):
    # §2.7: exclude BN running stats, num_batches_tracked and the LMU buffers
    n = sum(v.numel() for k, v in sd256.items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked",
                               "lmu.A", "lmu.B", "lmu.H", "lmu.fft_H")))
    assert n == 1_689_894
    assert R.count_trainable(sd256) == 1_689_894
    parts = {"patch_embed": 886_784, "block.0.attn": 265_475, "block.0.mlp": 528_128}
    for p, want in parts.items():
        got = R.count_trainable({k: v for k, v in sd256.items() if k.startswith("module." + p)})
        assert got == want, p


def test_lmu_buffers_in_checkpoint(sd256):
    A, B = R.lmu_matrices(512, 128.0)
    p = "module.block.0.attn.lmu."
    assert torch.equal(sd256[p + "A"], A) and torch.equal(sd256[p + "B"], B)
    assert torch.equal(sd256[p + "H"], R.lmu_H(A, B, 128))
    assert torch.equal(sd256[p + "fft_H"], torch.fft.rfft(sd256[p + "H"], n=256, dim=-1))


def test_checkpoint_deterministic_and_seed_dependent(lmu_cache):
    a = R.make_state_dict(dim=64, seed=5, n_calib=3, lmu_cache=lmu_cache)
    b = R.make_state_dict(dim=64, seed=5, n_calib=3, lmu_cache=lmu_cache)
    c = R.make_state_dict(dim=64, seed=6, n_calib=3, lmu_cache=lmu_cache)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["module.patch_embed.proj_conv.weight"],
                           c["module.patch_embed.proj_conv.weight"])


# ---------------------------------------------------------------------------------------------
# §4.4: LMU matrices
# ---------------------------------------------------------------------------------------------

METHODS = ["torch"] + (["scipy"] if HAVE_SCIPY else [])


@pytest.mark.parametrize("method", METHODS)
def test_lmu_matrices_check_values_d512(method):
    A, B = R.lmu_matrices(512, 128, method=method)
    assert A.dtype == torch.float32 and A.shape == (512, 512) and B.shape == (512, 1)
    tol = 1e-6
    assert np.allclose(A[0, :4], [0.99218746, -0.00775142, -0.00763039, -0.007451], atol=tol, rtol=0)
    assert np.allclose(A[1, :4], [0.02325427, 0.97656358, -0.02307142, -0.02253043], atol=tol,
                       rtol=0)
    assert np.allclose(B[:6, 0], [0.00781254, -0.02325427, 0.03815195, -0.05215698, 0.06494728,
                                  -0.07622773], atol=tol, rtol=0)
    assert abs(A.double().sum().item() - 6.10953) < 1e-5          # given to 6 digits
    assert abs(B.double().sum().item() - (-0.00439375)) < 1e-8
    A64, _ = R.lmu_matrices(512, 128, method=method, dtype=torch.float64)
    rho = np.abs(np.linalg.eigvals(A64.numpy())).max()
    # rho is ill-conditioned even in float64 (Abar is far from normal): a 2e-12 change of Abar
    # (scipy vs torch expm) moves it by 3e-4, and LAPACK builds differ (numerics "Traps").
    assert abs(rho - 0.82583) < 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_lmu_matrices_check_values_d256(method):
    A, B = R.lmu_matrices(256, 128, method=method)
    assert abs(A[0, 0].item() - 0.99218886) < 1e-6
    assert np.allclose(B[:3, 0], [0.00781114, -0.02325849, 0.03814491], atol=1e-6, rtol=0)
    A64, _ = R.lmu_matrices(256, 128, method=method, dtype=torch.float64)
    assert abs(np.abs(np.linalg.eigvals(A64.numpy())).max() - 0.86109) < 1e-3  # ill-conditioned
    assert abs(R.lmu_H(A, B, 128).abs().max().item() - 0.1417) < 1e-4


def test_lmu_methods_agree():
    if not HAVE_SCIPY:
        pytest.skip("scipy absent")
    a1, b1 = R.lmu_matrices(512, 128, method="scipy", dtype=torch.float64)
    a2, b2 = R.lmu_matrices(512, 128, method="torch", dtype=torch.float64)
    assert (a1 - a2).abs().max() < 1e-10 and (b1 - b2).abs().max() < 1e-10
    f1, g1 = R.lmu_matrices(512, 128, method="scipy")
    f2, g2 = R.lmu_matrices(512, 128, method="torch")
    # float32 rounding of float64 values that agree to 1e-10 may still differ by one ulp of float32
    for x, y in ((f1, f2), (g1, g2)):
        ulp = np.spacing(np.abs(x.numpy()).astype(np.float32))
        assert np.all((x - y).abs().numpy() <= ulp)


def test_lmu_H_check_values_and_recurrence():
    A, B = R.lmu_matrices(512, 128)
    H = R.lmu_H(A, B, 128)
    assert H.dtype == torch.float32 and H.shape == (512, 128)
    assert np.allclose(H[0, :4], 0.0078125, atol=1e-6, rtol=0)
    assert np.allclose(H[:4, 127], [0.00745809, 0.02219132, 0.03638007, 0.04967662], atol=1e-6,
                       rtol=0)
    assert abs(H.abs().max().item() - 0.1256) < 1e-4
    assert abs(H.double().sum(1)[0].item() - 0.99969) < 1e-5      # step response m[127][0]
    assert torch.equal(H[:, 0:1], B)                               # H[:,0] = Bbar (no delay)
    # H[:, k] == Abar^k Bbar, with the powers taken in float64 from the float32 matrices
    Ad, h = A.double(), B.double()
    worst = 0.0
    for k in range(128):
        worst = max(worst, (H[:, k:k + 1].double() - h).abs().max().item())
        h = Ad @ h
    assert worst < 1e-6
    # one-step recurrence H[:, k+1] = Abar H[:, k]
    assert (Ad @ H[:, :-1].double() - H[:, 1:].double()).abs().max() < 1e-6
    fft_H = R.lmu_fft_H(H)
    assert fft_H.dtype == torch.complex64 and fft_H.shape == (512, 129)


# ---------------------------------------------------------------------------------------------
# LIF (§3.1)
# ---------------------------------------------------------------------------------------------

def test_lif_constant_input_by_hand():
    # x = 1.5, theta = 1: h = 0.75 (no), 0.75 + 0.375 = 1.125 (spike, reset), 0.75, 1.125, ...
    s, h = R.lif_multistep(torch.full((8, 1), 1.5), 1.0, return_h=True)
    assert s[:, 0].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert h[:4, 0].tolist() == [0.75, 1.125, 0.75, 1.125]
    # x = 2.0 reaches exactly theta in one step: fires every step (>= comparison)
    assert R.lif_multistep(torch.full((5, 1), 2.0), 1.0)[:, 0].tolist() == [1] * 5
    # prev_lif threshold 0.5: x = 1.0 -> h = 0.5 >= 0.5 every step
    assert R.lif_multistep(torch.full((5, 1), 1.0), 0.5)[:, 0].tolist() == [1] * 5
    # x = 0.99 < theta never fires
    assert R.lif_multistep(torch.full((200, 1), 0.99), 1.0).sum() == 0
    # x = 1.0 (float32): h_k = 1 - 2^-k exactly for k <= 24; at k = 25, 1 - 2^-24 + 2^-25 is a
    # tie that rounds to even = 1.0 -> first spike at step index 24, then period 25.
    s = R.lif_multistep(torch.full((60, 1), 1.0), 1.0)[:, 0]
    assert torch.nonzero(s).flatten().tolist() == [24, 49]
    # hard reset and per-neuron independence: a spike at t=0 (x=3) resets v to 0
    # column 1: h = 0.5, 0.5 + (1.5 - 0.5)/2 = 1.0 (spike), then 0 + 1.5/2 = 0.75
    x = torch.tensor([[3.0, 1.0], [1.5, 1.5], [0.0, 1.5]])
    s, h = R.lif_multistep(x, 1.0, return_h=True)
    assert s.tolist() == [[1, 0], [0, 1], [0, 0]]
    assert h[:, 0].tolist() == [1.5, 0.75, 0.375] and h[:, 1].tolist() == [0.5, 1.0, 0.75]


# ---------------------------------------------------------------------------------------------
# Forward: shapes, readouts, memory forms
# ---------------------------------------------------------------------------------------------

def test_forward_outputs(model256, out256, feats):
    b = feats.shape[0]
    assert out256["logits"].shape == (b, 35) and out256["logits"].dtype == torch.float32
    assert out256["frame_logits"].shape == (b, 128, 35)
    assert list(out256["spikes"]) == LIF_ORDER_DEPTH1
    widths = {"u_lif": 1, "m_lif": 512, "fc2_lif": 1024}
    for name, s in out256["spikes"].items():
        c = widths.get(name.rsplit(".", 1)[-1], 256)
        assert s.shape == (b, 128, c) and s.dtype == torch.uint8, name
        assert int(s.max()) <= 1
    assert out256["memory"].shape == (b, 128, 512)
    # all_seq readout at the last frame == normal-mode logits (§2.6), up to rounding
    assert (out256["frame_logits"][:, -1] - out256["logits"]).abs().max() < 1e-5
    # frame_logits[:, n] = head(mean of head spikes over frames 0..n)
    s_o = out256["spikes"]["head_lif"].float()
    n = 40
    want = F.linear(s_o[:, : n + 1].mean(1), model256.sd["head.weight"], model256.sd["head.bias"])
    assert (out256["frame_logits"][:, n] - want).abs().max() < 1e-5


def test_forward_is_causal_after_lookahead(model256, feats):
    # Everything after the patch embedding is causal; the 5 k=3 convs give 5 frames of
    # look-ahead (§5.1): changing input frames >= t0 must not change outputs before t0-5.
    x = feats[:2].clone()
    t0 = 70
    y = x.clone()
    y[:, t0:] = torch.flip(x[:, t0:], dims=[1])
    a, b = model256.forward(x), model256.forward(y)
    for name in a["spikes"]:
        assert torch.equal(a["spikes"][name][:, : t0 - 5], b["spikes"][name][:, : t0 - 5]), name
    assert torch.equal(a["frame_logits"][:, : t0 - 5], b["frame_logits"][:, : t0 - 5])
    assert not torch.equal(a["spikes"]["patch_embed.proj_lif"][:, t0 - 1:],
                           b["spikes"]["patch_embed.proj_lif"][:, t0 - 1:])


def test_fft_memory_equals_direct_memory(model256, out256, feats):
    direct = model256.forward(feats, memory_mode="direct")
    assert (direct["memory"] - out256["memory"]).abs().max() < 1e-6
    # numerics: the direct float64 sum reproduced the FFT memory's spikes bit-exactly
    for name in LIF_ORDER_DEPTH1:
        mism = (direct["spikes"][name] != out256["spikes"][name]).double().mean().item()
        assert mism < 1e-4, name
    rec = model256.forward(feats[:2], memory_mode="recurrent")
    assert (rec["memory"] - out256["memory"][:2]).abs().max() < 1e-5


def test_direct_memory_definition(model256, out256):
    # m[:, t] = sum_{j <= t, u_j = 1} H[:, t-j], checked against a float64 numpy Toeplitz product
    H = model256.sd["block.0.attn.lmu.H"].double().numpy()
    u = out256["spikes"]["block.0.attn.lmu.u_lif"][0, :, 0].double().numpy()
    assert 0 < u.sum() < 128
    n = 128
    m = np.stack([H[:, : t + 1][:, ::-1] @ u[: t + 1] for t in range(n)], axis=1)  # [M, N]
    got = out256["memory"][0].double().numpy().T
    assert np.abs(got - m).max() < 1e-6


def test_prefix_and_unprefixed_state_dict_agree(sd256, out256, feats):
    bare = R.SpikingLMUFormerRef({k[len("module."):]: v for k, v in sd256.items()})
    o = bare.forward(feats)
    assert torch.equal(o["logits"], out256["logits"])


def test_model_infers_dimensions(model256):
    m = model256
    assert (m.dim, m.in_channels, m.depth, m.memory_size, m.seq_len, m.hidden, m.n_class) == \
        (256, 128, 1, 512, 128, 1024, 35)


# ---------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------

def test_firing_rates_realistic(out256):
    rates = R.firing_rates(out256["spikes"])
    assert list(rates) == LIF_ORDER_DEPTH1
    for name, r in rates.items():
        assert 0.02 <= r <= 0.40, (name, r)
        target = R.TARGET_RATES[name.replace("block.0.", "block.{i}.")]
        assert abs(r - target) < 0.5 * target, (name, r, target)  # calibrated, not accidental


def test_bn_offsets_off_grid(sd256):
    # numerics "Traps": BN parameters must not sit on a coarse dyadic grid
    for k, v in sd256.items():
        if k.endswith(("_bn.bias", "_bn1.bias", "_bn2.bias", "_bn3.bias", "bn_u.bias",
                       "bn_m.bias", "bn_h.bias", "running_mean")):
            assert not torch.any(v * 64 == torch.round(v * 64)), k


def test_pad_frames_keep_clear_of_thresholds(model256):
    # numerics "Traps": on an all-pad clip no LIF neuron-step may have h within 1e-4*theta of
    # theta, so a 1-ulp BN difference cannot flip a whole pad-frame spike train.
    pad = torch.full((1, 128, 128), R.PAD_VALUE)
    cap = {}
    model256.forward(pad, capture=cap)
    for name in LIF_ORDER_DEPTH1:
        theta = 0.5 if name.endswith("prev_lif") else 1.0
        x = cap[name].reshape(128, -1)
        _, h = R.lif_multistep(x, theta, return_h=True)
        margin = (h - theta).abs().min().item()
        assert margin >= 0.5 * R.PAD_MARGIN * theta, (name, margin)


def test_random_features():
    f = R.random_features(3, seed=7)
    assert f.shape == (3, 128, 128) and f.dtype == torch.float32
    assert torch.equal(f, R.random_features(3, seed=7))
    assert (f[:, 98:] == torch.tensor(0.6150423, dtype=torch.float32)).all()
    real = f[:, :98]
    assert abs(real.mean().item()) < 0.05 and abs(real.std().item() - 0.5) < 0.05
    # smooth in time: neighbouring frames correlate strongly
    d = real[:, 1:] - real[:, :-1]
    assert d.std() < 0.5 * real.std()


# ---------------------------------------------------------------------------------------------
# BatchNorm rounding paths (numerics, "Where rounding happens")
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif("AVX2" not in torch.__config__.show() and "AVX512" not in
                    torch.__config__.show(), reason="FMA contraction expected only on AVX2 builds")
def test_torch_bn_rounding_paths_match_numerics_md():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, 128, generator=g) * 3
    mean, var = torch.randn(64, generator=g), torch.rand(64, generator=g) * 2 + 0.01
    gam, bet = torch.randn(64, generator=g), torch.randn(64, generator=g)
    contiguous = F.batch_norm(x, mean, var, gam, bet, False, 0.0, 1e-5)
    sliced = F.batch_norm(torch.cat([x, x], 2)[:, :, :128], mean, var, gam, bet, False, 0.0, 1e-5)
    transposed = F.batch_norm(x.transpose(1, 2).contiguous().transpose(1, 2), mean, var, gam, bet,
                              False, 0.0, 1e-5)
    assert torch.equal(contiguous, R.bn_eval_explicit(x, mean, var, gam, bet, "contiguous"))
    want_nc = R.bn_eval_explicit(x, mean, var, gam, bet, "noncontiguous")
    assert torch.equal(sliced, want_nc) and torch.equal(transposed, want_nc)
    assert not torch.equal(contiguous, want_nc)


# ---------------------------------------------------------------------------------------------
# Smaller variant, CLI
# ---------------------------------------------------------------------------------------------

def test_small_variant_dim64_depth2(lmu_cache):
    sd = R.make_state_dict(dim=64, depth=2, seed=3, lmu_cache=lmu_cache)
    _check_layout(sd, expected_checkpoint_keys(dim=64, hidden=256, mem=128, depth=2), "module.")
    m = R.SpikingLMUFormerRef(sd)
    assert (m.dim, m.depth, m.memory_size, m.hidden) == (64, 2, 128, 256)
    out = m.forward(R.random_features(4, seed=11))
    assert out["logits"].shape == (4, 35)
    assert set(out["memories"]) == {"block.0", "block.1"}
    assert len(out["spikes"]) == 4 + 2 * 6 + 1
    for name, r in R.firing_rates(out["spikes"]).items():
        assert 0.02 <= r <= 0.40, (name, r)
    direct = m.forward(R.random_features(4, seed=11), memory_mode="direct")
    for k in ("block.0", "block.1"):
        assert (direct["memories"][k] - out["memories"][k]).abs().max() < 1e-6


def test_cli_roundtrip(tmp_path, capsys):
    ckpt = tmp_path / "small.pth"
    assert R.main(["make-checkpoint", str(ckpt), "--dim", "32", "--seed", "2", "--no-prefix"]) == 0
    sd = torch.load(str(ckpt), map_location="cpu", weights_only=True)
    assert "patch_embed.proj_conv.weight" in sd and sd["block.0.attn.lmu.fft_H"].dtype == \
        torch.complex64
    assert R.count_trainable(sd) == R.count_trainable(R.make_state_dict(dim=32, seed=2, n_calib=1))
    capsys.readouterr()
    assert R.main(["rates", str(ckpt), "--clips", "2"]) == 0
    text = capsys.readouterr().out
    assert "block.0.attn.lmu.m_lif" in text and "head_lif" in text
