"""Tests of the plain-PyTorch L2MU reference (``l2mu_reference.py``).

Facts: the module docstring of ``l2mu_reference.py`` (official code L2MU-Braille 72344f6,
snnTorch 0.9.1).  Run: ``/usr/bin/python3 -m pytest -q tests/python/test_l2mu_reference.py``.

Optional check on the published files (not shipped): set ``L2MU_REAL_DIR`` to a folder holding
``best.ckpt`` (``nni_suite/tensorboard/l2mu/full/checkpoints/best.ckpt``) and ``ds_val_0.pt``
(``data/braille_splitted/ds_val_0.pt``).
"""
import importlib.util
import os
import pickle
import pickletools
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import l2mu_reference as R  # noqa: E402

HAVE_SCIPY = importlib.util.find_spec("scipy") is not None
TORCH_MAJOR = int(torch.__version__.split(".")[0])

#: ``A.weight`` / ``B.weight`` of the published 7-class checkpoint (order 7, theta 10), as stored
#: (computed by upstream's float32 torch.matrix_exp under torch 2.5).
PUBLISHED_A = [
    0.8979818820953369, 0.26400062441825867, -0.36967238783836365, 0.33421552181243896,
    -0.2517320513725281, 0.07478397339582443, 0.09829612821340561, -0.08800020068883896,
    0.7079158425331116, 0.4099276661872864, -0.38017967343330383, 0.29267871379852295,
    -0.1103154793381691, -0.0839366465806961, -0.07393448799848557, -0.24595659971237183,
    0.5011774897575378, 0.4826124608516693, -0.3845803737640381, 0.19171343743801117,
    0.048840321600437164, -0.047745075076818466, -0.16293416917324066, -0.3447231352329254,
    0.33465322852134705, 0.5502593517303467, -0.34275582432746887, 0.021990738809108734,
    -0.02797023393213749, -0.0975596010684967, -0.21365579962730408, -0.42797955870628357,
    0.16819027066230774, 0.6078517436981201, -0.15743577480316162, -0.006798537913709879,
    -0.03008602373301983, -0.08714249730110168, -0.21811732649803162, -0.49733319878578186,
    -0.06557130813598633, 0.4103299081325531, 0.00756123336032033, 0.01936994306743145,
    0.018784742802381516, -0.011841113679111004, -0.10899407416582108, -0.34720227122306824,
    0.12419489771127701]
PUBLISHED_B = [0.10201823711395264, -0.26400065422058105, 0.36967241764068604,
               -0.3342154920101166, 0.25173220038414, -0.07478398084640503, -0.09829619526863098]

#: Key order of the published state dict (prefix ``model.l2mu_cell.``).
PUBLISHED_KEYS = (
    [f"{n}.weight" for n in R.CELL_LINEARS] + ["output_transformation.bias"]
    + [f"{p}.{f}" for p in ("spk_u", "spk_h", "spk_m", "spk_output")
       for f in ("threshold", "beta", "graded_spikes_factor", "reset_mechanism_val")])

#: Top-level keys of the published Lightning checkpoint, in order.
LIGHTNING_KEYS = ["epoch", "global_step", "pytorch-lightning_version", "state_dict", "loops",
                  "callbacks", "optimizer_states", "lr_schedulers", "hparams_name",
                  "hyper_parameters"]

SMALL = dict(n_in=5, memory_size=12, order=4, theta=6.0, hidden=24, classes=4)


def ulps(a, b):
    ai = a.detach().numpy().astype(np.float32).view(np.int32).astype(np.int64)
    bi = b.detach().numpy().astype(np.float32).view(np.int32).astype(np.int64)
    return np.abs(ai - bi)


def pickle_globals(path):
    """(module, name) pairs a torch zip's data.pkl would import, read with pickletools only."""
    z = zipfile.ZipFile(path)
    data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            found.add(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
        if isinstance(arg, str):
            strings.append(arg)
    return found, data


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sd_default():
    """The published configuration (12-70x7-120-7), leaky, seed 0, calibrated."""
    return R.make_state_dict(seed=0)


@pytest.fixture(scope="module")
def sd_small_syn():
    return R.make_state_dict(variant="synaptic", seed=3, **SMALL)


# ---------------------------------------------------------------------------------------------
# LMU matrices
# ---------------------------------------------------------------------------------------------

def test_lmu_continuous_closed_form():
    for d in (1, 4, 7):
        a, b = R.lmu_continuous(d)
        for i in range(d):
            assert b[i, 0] == (2 * i + 1) * (-1) ** i
            for j in range(d):
                want = (2 * i + 1) * (-1 if i < j else (-1) ** (i - j + 1))
                assert a[i, j] == want


@pytest.mark.skipif(not HAVE_SCIPY, reason="scipy not installed")
@pytest.mark.parametrize("order,theta", [(7, 10.0), (4, 7.0), (5, 2.0), (1, 3.0)])
def test_lmu_matrices_vs_scipy(order, theta):
    from scipy.linalg import expm
    from scipy.signal import cont2discrete
    a, b = R.lmu_continuous(order)
    aw, bw = R.lmu_matrices(order, theta)
    assert aw.dtype == bw.dtype == torch.float32
    assert tuple(aw.shape) == (order, order) and tuple(bw.shape) == (order, 1)
    assert aw.is_contiguous() and bw.is_contiguous() and bw.stride() == (1, 1)
    # independent: expm of the augmented continuous system [[A, B], [0, 0]] / theta, float64
    em = np.zeros((order + 1, order + 1))
    em[:order, :order] = a / theta
    em[:order, order:] = b / theta
    ms = expm(em)
    ad, bd = ms[:order, :order], ms[:order, order:]
    # the stored A.weight is Ad TRANSPOSED, B.weight is Bd
    np.testing.assert_allclose(aw.numpy(), ad.T, rtol=0, atol=3e-6)
    np.testing.assert_allclose(bw.numpy(), bd, rtol=0, atol=3e-6)
    ad2, bd2, *_ = cont2discrete((a / theta, b / theta, np.ones((1, order)), np.zeros(1)),
                                 dt=1.0, method="zoh")
    np.testing.assert_allclose(aw.numpy(), ad2.T, rtol=0, atol=3e-6)
    np.testing.assert_allclose(bw.numpy(), bd2, rtol=0, atol=3e-6)
    if order > 1:  # the orientation matters
        assert np.abs(aw.numpy() - ad).max() > 1e-2


def test_lmu_matrices_vs_published():
    """Within a few dozen float32 ulps of the published checkpoint's matrices (float32
    matrix_exp is torch-version/BLAS dependent: an engine must use the stored weights)."""
    aw, bw = R.lmu_matrices(7, 10.0)
    pa = torch.tensor(PUBLISHED_A, dtype=torch.float32).reshape(7, 7)
    pb = torch.tensor(PUBLISHED_B, dtype=torch.float32).reshape(7, 1)
    assert ulps(aw, pa).max() <= 64 and ulps(bw, pb).max() <= 64
    aw2, bw2 = R.lmu_matrices(7, 10)          # int theta (hparams hold floats): same bits
    assert torch.equal(aw, aw2) and torch.equal(bw, bw2)


# ---------------------------------------------------------------------------------------------
# neurons: single-neuron closed forms (constant input; dyadic values, so exact in float32)
# ---------------------------------------------------------------------------------------------

def _run_neuron(I, beta, thr, reset, alpha=None, T=12, style="torch"):
    mem = torch.zeros(1)
    syn = torch.zeros(1) if alpha is not None else None
    spikes, mems = [], []
    for _ in range(T):
        s, mem, syn = R.lif_step(torch.tensor([I]), mem, torch.tensor(beta), torch.tensor(thr),
                                 reset, syn=syn,
                                 alpha=None if alpha is None else torch.tensor(alpha), style=style)
        spikes.append(int(s.item()))
        mems.append(float(mem.item()))
    return [t for t, s in enumerate(spikes) if s], mems


LIF_CASES = [
    # (I, beta, thr, reset, alpha): expected spike steps, first membranes
    # Leaky subtract: m = b m + I - r thr, r from the previous step
    ((0.75, 0.5, 1.0, "subtract", None), [1, 4, 7, 10],
     [0.75, 1.125, 0.3125, 0.90625, 1.203125, 0.3515625]),
    # Leaky zero: the old membrane is zeroed, then the input added (m = I after a spike)
    ((0.75, 0.5, 1.0, "zero", None), [1, 3, 5, 7, 9, 11], [0.75, 1.125, 0.75, 1.125]),
    # no reset: m -> I / (1 - b) = 1.5
    ((0.75, 0.5, 1.0, "none", None), list(range(1, 12)), [0.75, 1.125, 1.3125, 1.40625]),
    # beta clamped to 1; strict '>' (m = 1.0 = thr does not spike)
    ((0.25, 1.5, 1.0, "subtract", None), [4, 8], [0.25, 0.5, 0.75, 1.0, 1.25, 0.5]),
    # beta clamped to 0: m = I = thr never spikes
    ((1.0, -0.5, 1.0, "subtract", None), [], [1.0, 1.0, 1.0]),
    # Synaptic: syn = a syn + I, m = b m + syn - r thr
    ((0.5, 0.5, 1.0, "subtract", 0.5), [2, 4, 6, 8, 10], [0.5, 1.0, 1.375, 0.625, 1.28125]),
    # Synaptic zero: the NEW membrane is zeroed (m = 0 after a spike), syn kept
    ((0.5, 0.5, 1.0, "zero", 0.5), [2, 5, 8, 11], [0.5, 1.0, 1.375, 0.0, 0.96875, 1.46875, 0.0]),
    # Synaptic no reset: m -> I / ((1 - a)(1 - b)) = 2
    ((0.5, 0.5, 1.0, "none", 0.5), list(range(2, 12)), [0.5, 1.0, 1.375, 1.625, 1.78125]),
]


@pytest.mark.parametrize("case,spikes,mems", LIF_CASES)
@pytest.mark.parametrize("style", ["torch", "explicit"])
def test_lif_closed_forms(case, spikes, mems, style):
    I, beta, thr, reset, alpha = case
    got_spikes, got_mems = _run_neuron(I, beta, thr, reset, alpha, style=style)
    assert got_spikes == spikes
    assert got_mems[: len(mems)] == mems


@pytest.mark.parametrize("alpha", [None, 0.7])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
def test_lif_styles_agree_random(alpha, reset):
    g = torch.Generator().manual_seed(5)
    mem_a = mem_b = torch.zeros(500)
    syn_a = syn_b = torch.zeros(500) if alpha else None
    beta, thr = torch.tensor(0.8), torch.tensor(0.3)
    al = torch.tensor(alpha) if alpha else None
    for _ in range(50):
        I = torch.randn(500, generator=g) * 0.3
        sa, mem_a, syn_a = R.lif_step(I, mem_a, beta, thr, reset, syn_a, al, style="torch")
        sb, mem_b, syn_b = R.lif_step(I, mem_b, beta, thr, reset, syn_b, al, style="explicit")
        assert torch.equal(sa, sb) and torch.equal(mem_a, mem_b)


# ---------------------------------------------------------------------------------------------
# the model: the sequential contract against an independent scalar simulation
# ---------------------------------------------------------------------------------------------

def _scalar_model(sd, x, grouped=False, variant="leaky"):
    """Scalar float32 simulation of the module docstring's step and accumulation order."""
    p = "model.l2mu_cell."
    f32 = np.float32
    W = {k: sd[p + k + ".weight"].numpy() for k in R.CELL_LINEARS}
    bo = sd[p + "output_transformation.bias"].numpy()
    M, n_in = W["e_x"].shape
    H, d, C = W["W_h"].shape[0], W["A"].shape[0], W["output_transformation"].shape[0]
    size = {"spk_u": M, "spk_m": M * d, "spk_h": H, "spk_output": C}
    prm = {}
    for pop in R.POPULATIONS:
        q = p + pop + "."
        prm[pop] = (f32(min(max(float(sd[q + "beta"]), 0), 1)), f32(float(sd[q + "threshold"])),
                    f32(min(max(float(sd[q + "alpha"]), 0), 1)) if variant == "synaptic" else None,
                    list(R.RESET_MECHANISMS)[int(sd[q + "reset_mechanism_val"])])
    T = x.shape[0]
    mem = {pop: [f32(0)] * size[pop] for pop in R.POPULATIONS}
    syn = {pop: [f32(0)] * size[pop] for pop in R.POPULATIONS}
    spk = {pop: [0] * size[pop] for pop in R.POPULATIONS}
    rec = {pop: np.zeros((T, size[pop]), dtype=bool) for pop in R.POPULATIONS}
    recm = {pop: np.zeros((T, size[pop]), dtype=np.float32) for pop in R.POPULATIONS}

    def current(i, projections):
        total = f32(0)
        for w, src in projections:
            acc = f32(0) if grouped else total
            for j, s in enumerate(src):
                if s:
                    acc = f32(acc + f32(w[i, j] * f32(s)))
            total = f32(total + acc) if grouped else acc
        return total

    def neuron(pop, i, I):
        b, thr, a, reset = prm[pop]
        m = mem[pop][i]
        r = m > thr
        if a is None:
            new = f32(f32(b * m) + I)
            if r and reset == "subtract":
                new = f32(new - thr)
            elif r and reset == "zero":
                new = I
        else:
            syn[pop][i] = f32(f32(a * syn[pop][i]) + I)
            new = f32(f32(b * m) + syn[pop][i])
            if r and reset == "subtract":
                new = f32(new - thr)
            elif r and reset == "zero":
                new = f32(0)
        mem[pop][i] = new
        return int(new > thr)

    for t in range(T):
        xt = [f32(v) for v in x[t]]
        h_prev, m_prev = list(spk["spk_h"]), list(spk["spk_m"])
        cur = [current(i, [(W["e_x"], xt), (W["e_h"], h_prev), (W["e_m"], m_prev)])
               for i in range(M)]
        spk["spk_u"] = [neuron("spk_u", i, cur[i]) for i in range(M)]
        cur = []
        for k in range(M):
            for i in range(d):
                acc = f32(0)
                for j in range(d):
                    if m_prev[k * d + j]:
                        acc = f32(acc + W["A"][i, j])
                if spk["spk_u"][k]:
                    acc = f32(acc + W["B"][i, 0])
                cur.append(acc)
        spk["spk_m"] = [neuron("spk_m", i, cur[i]) for i in range(M * d)]
        cur = [current(i, [(W["W_x"], xt), (W["W_h"], h_prev), (W["W_m"], spk["spk_m"])])
               for i in range(H)]
        spk["spk_h"] = [neuron("spk_h", i, cur[i]) for i in range(H)]
        cur = [f32(current(i, [(W["output_transformation"], spk["spk_h"])]) + bo[i])
               for i in range(C)]
        spk["spk_output"] = [neuron("spk_output", i, cur[i]) for i in range(C)]
        for pop in R.POPULATIONS:
            rec[pop][t] = spk[pop]
            recm[pop][t] = mem[pop]
    return rec, recm


@pytest.mark.parametrize("variant,reset", [("leaky", "subtract"), ("leaky", "zero"),
                                           ("synaptic", "subtract"), ("synaptic", "zero")])
def test_sequential_and_grouped_match_scalar_spec(variant, reset):
    sd = R.make_state_dict(n_in=3, memory_size=4, order=3, theta=4.0, hidden=5, classes=2,
                           variant=variant, reset=reset, seed=11, em_orders=None)
    x = R.random_inputs(1, 40, 3, 0.3, seed=2)
    model = R.L2MURef(sd)
    assert model.variant == variant
    for mode, grouped in (("sequential", False), ("grouped", True)):
        out = model.forward(x, mode=mode, record_mem=True)
        rec, recm = _scalar_model(sd, x[0].numpy(), grouped=grouped, variant=variant)
        total = 0
        for pop in R.POPULATIONS:
            np.testing.assert_array_equal(out["spikes"][pop][0].numpy(), rec[pop], err_msg=pop)
            np.testing.assert_array_equal(out["mem"][pop][0].numpy(), recm[pop], err_msg=pop)
            total += int(rec[pop].sum())
        assert total > 0


def test_step_equations_by_hand():
    """A 1-1x2-1-1 network with hand-set weights, traced step by step."""
    sd = R.make_state_dict(n_in=1, memory_size=1, order=2, theta=1.0, hidden=1, classes=1,
                           calibrate=False, em_orders=None)
    p = "model.l2mu_cell."
    for k, v in {"e_x": [[1.0]], "e_h": [[0.0]], "e_m": [[0.0, 0.0]], "A": [[0.5, 0.0], [0.0, 0.5]],
                 "B": [[1.0], [0.25]], "W_x": [[0.0]], "W_h": [[0.0]], "W_m": [[1.0, 2.0]],
                 "output_transformation": [[1.0]]}.items():
        sd[p + k + ".weight"] = torch.tensor(v)
    sd[p + "output_transformation.bias"] = torch.tensor([0.0])
    for pop in R.POPULATIONS:
        sd[p + pop + ".beta"] = torch.tensor(0.0)
        sd[p + pop + ".threshold"] = torch.tensor(0.5)
    x = torch.tensor([[[1.0], [0.0], [0.0], [1.0]]])
    for mode in R.MODES:
        out = R.L2MURef(sd).forward(x, mode=mode, record_current=True)
        s, c = out["spikes"], out["current"]
        # t0: u = 1; m row: [0,0]@A^T + 1*[1, .25] -> m = [1, 0]; h: W_m m = 1 -> 1; out 1
        # t1: u current 0 (reset subtract: mem 1 -> 0*1 + 0 - 0.5); m: [1,0]@A^T = [.5, 0] ->
        #     no spike (0.5 is not > 0.5); h current 0; etc.
        assert s["spk_u"][0, :, 0].tolist() == [True, False, False, True]
        assert c["spk_m"][0, 0].tolist() == [1.0, 0.25]
        assert c["spk_m"][0, 1].tolist() == [0.5, 0.0]
        assert s["spk_m"][0].tolist() == [[True, False], [False, False], [False, False], [True, False]]
        assert c["spk_h"][0, :, 0].tolist() == [1.0, 0.0, 0.0, 1.0]
        assert s["spk_output"][0, :, 0].tolist() == [True, False, False, True]
        assert out["counts"].tolist() == [[2.0]]


# ---------------------------------------------------------------------------------------------
# torch vs sequential on random checkpoints
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant,reset", [("leaky", "subtract"), ("leaky", "zero"),
                                           ("synaptic", "subtract"), ("synaptic", "none")])
def test_modes_agree_on_random_checkpoints(variant, reset):
    """The modes differ only in float32 rounding of the currents: spike mismatches must be
    (very) rare.  Measured with Debian torch 1.13 + netlib BLAS on 12-70x7-120-7 checkpoints
    (3 seeds x 6 variant/reset combinations x 32 clips x 256 steps, 101 M neuron-steps): 2
    torch-vs-sequential mismatches (one spike one step late), and ``torch`` == ``grouped`` bit for
    bit."""
    sd = R.make_state_dict(variant=variant, reset=reset, seed=1, n_in=12, memory_size=30,
                           order=5, theta=8.0, hidden=48, classes=5)
    model = R.L2MURef(sd)
    x = R.random_inputs(8, 96, 12, 0.1, seed=9)
    outs = {m: model.forward(x, mode=m, record_current=True) for m in R.MODES}
    n = sum(s.numel() for s in outs["torch"]["spikes"].values())
    for pair in (("torch", "sequential"), ("torch", "grouped")):
        res = R.compare_modes(model, x, pair, outs=outs)
        mism = sum(res[p]["mismatches"] for p in R.POPULATIONS)
        assert mism <= 1e-4 * n, res
    # the single-accumulator order really differs from per-projection sums somewhere
    diff = (outs["sequential"]["current"]["spk_h"] != outs["grouped"]["current"]["spk_h"])
    assert diff.any()


def test_batching_and_real_valued_inputs():
    sd = R.make_state_dict(seed=4, **SMALL)
    model = R.L2MURef(sd)
    x = R.random_inputs(10, 40, SMALL["n_in"], 0.2, seed=3)
    a = model.forward(x)
    b = model.forward(x, batch_size=3)
    for pop in R.POPULATIONS:
        assert torch.equal(a["spikes"][pop], b["spikes"][pop])
    # real-valued input (HAR "plain" encoder): products rounded, still (nearly) the same spikes
    xr = torch.randn(6, 40, SMALL["n_in"], generator=torch.Generator().manual_seed(1)) * 0.5
    res = R.compare_modes(model, xr, ("torch", "sequential"))
    n = sum(res[p]["neuron_steps"] for p in R.POPULATIONS)
    assert sum(res[p]["mismatches"] for p in R.POPULATIONS) <= 1e-3 * n


# ---------------------------------------------------------------------------------------------
# random checkpoints: layout and firing
# ---------------------------------------------------------------------------------------------

def test_state_dict_layout(sd_default):
    sd = sd_default
    assert list(sd.keys()) == ["model.l2mu_cell." + k for k in PUBLISHED_KEYS]
    shapes = {"e_x": (70, 12), "e_h": (70, 120), "e_m": (70, 490), "A": (7, 7), "B": (7, 1),
              "W_x": (120, 12), "W_h": (120, 120), "W_m": (120, 490),
              "output_transformation": (7, 120)}
    for k, shp in shapes.items():
        t = sd[f"model.l2mu_cell.{k}.weight"]
        assert tuple(t.shape) == shp and t.dtype == torch.float32 and t.is_contiguous()
    for pop in R.SD_POPULATION_ORDER:
        q = f"model.l2mu_cell.{pop}."
        assert sd[q + "beta"].shape == () and sd[q + "threshold"].dtype == torch.float32
        assert sd[q + "reset_mechanism_val"].dtype == torch.int64
        assert float(sd[q + "graded_spikes_factor"]) == 1.0
    A, B = R.lmu_matrices(7, 10.0)
    assert torch.equal(sd["model.l2mu_cell.A.weight"], A)
    assert torch.equal(sd["model.l2mu_cell.B.weight"], B)
    zero_cols = int((sd["model.l2mu_cell.e_m.weight"].abs().sum(0) == 0).sum())
    assert zero_cols == 70 * 5           # like the trained model: only orders 1 and 2 non-zero
    assert "model.l2mu_cell.spk_u" in sd._metadata and "loss_fn" in sd._metadata
    sd2 = R.make_state_dict(seed=0, prefix="", **SMALL)
    assert next(iter(sd2)) == "l2mu_cell.e_x.weight"


def test_calibrated_rates(sd_default, sd_small_syn):
    for sd in (sd_default, sd_small_syn):
        model = R.L2MURef(sd)
        x = R.random_inputs(8, 128, model.n_in, 0.1, seed=77)     # not the calibration clips
        rates = R.firing_rates(model.forward(x, mode="sequential"))
        for pop, r in rates.items():
            assert 0.02 <= r <= 0.40, (pop, rates)


def test_synaptic_and_per_neuron_layout(sd_small_syn):
    keys = [k for k in sd_small_syn if ".spk_m." in k]
    assert [k.rsplit(".", 1)[1] for k in keys] == [
        "threshold", "beta", "alpha", "graded_spikes_factor", "reset_mechanism_val"]
    with pytest.raises(KeyError):
        R.L2MURef(R.make_state_dict(seed=0, calibrate=False, **SMALL), variant="synaptic")
    sdp = R.make_state_dict(seed=2, per_neuron=True, **SMALL)
    assert tuple(sdp["model.l2mu_cell.spk_m.beta"].shape) == (12, 4)
    assert tuple(sdp["model.l2mu_cell.spk_h.threshold"].shape) == (24,)
    # per-neuron tensors holding one value == the scalar checkpoint
    sds = R.make_state_dict(seed=2, calibrate=False, **SMALL)
    sdv = OrderedDict(sds)
    for pop, shp in (("spk_u", (12,)), ("spk_m", (48,)), ("spk_h", (24,)), ("spk_output", (4,))):
        for f in ("beta", "threshold"):
            sdv[f"model.l2mu_cell.{pop}.{f}"] = sds[f"model.l2mu_cell.{pop}.{f}"].expand(shp).clone()
    x = R.random_inputs(4, 30, SMALL["n_in"], 0.3, seed=1)
    a, b = R.L2MURef(sds).forward(x), R.L2MURef(sdv).forward(x)
    for pop in R.POPULATIONS:
        assert torch.equal(a["spikes"][pop], b["spikes"][pop])
    R.L2MURef(sdp).forward(x, mode="sequential")


def test_basecaller_layout_and_reset_override(sd_small_syn):
    sd = sd_small_syn
    bc = OrderedDict()
    for k, v in sd.items():
        k2 = k.replace("model.l2mu_cell.", "slmu.")
        if k2.split(".")[1] in ("e_x", "e_h", "e_m", "A", "B", "W_x", "W_h", "W_m"):
            k2 = k2[: -len(".weight")]
        bc[k2] = v
    x = R.random_inputs(3, 30, SMALL["n_in"], 0.3, seed=4)
    a, b = R.L2MURef(sd).forward(x), R.L2MURef(bc).forward(x)
    for pop in R.POPULATIONS:
        assert torch.equal(a["spikes"][pop], b["spikes"][pop])
    m = R.L2MURef(sd, reset="zero")
    assert {m.neuron[p]["reset"] for p in R.POPULATIONS} == {"zero"}
    m = R.L2MURef(sd, reset={"spk_m": "none"})
    assert m.neuron["spk_m"]["reset"] == "none" and m.neuron["spk_u"]["reset"] == "subtract"


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------

def test_save_plain_roundtrip(tmp_path, sd_small_syn):
    path = tmp_path / "l2mu.pt"
    R.save_plain(sd_small_syn, str(path))
    back = torch.load(str(path), weights_only=True)
    assert list(back.keys()) == list(sd_small_syn.keys())
    for k in back:
        assert torch.equal(back[k], sd_small_syn[k]) and back[k].dtype == sd_small_syn[k].dtype
    assert back._metadata == sd_small_syn._metadata


@pytest.mark.parametrize("hparams_class", [None, R.ATTRIBUTE_DICT_MODULE])
def test_save_lightning_roundtrip(tmp_path, hparams_class):
    sd = R.make_state_dict(seed=5, **SMALL)
    hp = R.make_hparams(sd, theta=SMALL["theta"])
    path = tmp_path / "best.ckpt"
    before = set(sys.modules)
    R.save_lightning(sd, hp, str(path), hparams_class=hparams_class, location="cuda:2")
    assert not {m for m in set(sys.modules) - before if m.startswith("lightning")}
    globs, data = pickle_globals(str(path))
    assert b"cuda:2" in data
    plain = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
             ("torch", "FloatStorage"), ("torch", "LongStorage")}
    if hparams_class is None:
        assert globs <= plain           # like the published file: no Lightning class at all
    else:
        assert (hparams_class, "AttributeDict") in globs
    refused = hparams_class is not None or TORCH_MAJOR < 2   # floats: BINFLOAT, torch 1.x
    if refused:
        with pytest.raises((pickle.UnpicklingError, RuntimeError, AttributeError)):
            torch.load(str(path), map_location="cpu", weights_only=True)
    with R.fake_lightning_modules():
        ck = torch.load(str(path), map_location="cpu", weights_only=False)
    assert list(ck.keys()) == LIGHTNING_KEYS
    assert ck["pytorch-lightning_version"] == "2.4.0" and ck["hparams_name"] == "kwargs"
    assert dict(ck["hyper_parameters"]) == hp
    assert ck["hyper_parameters"]["params"]["memory_size"] == 12.0
    assert type(ck["hyper_parameters"]).__name__ == ("dict" if hparams_class is None else "AttributeDict")
    state = ck["optimizer_states"][0]["state"]
    assert sorted(state) == [0, 1, 2] + list(range(5, 18))   # A, B (3, 4) are frozen
    for k in sd:
        assert torch.equal(ck["state_dict"][k], sd[k])
    x = R.random_inputs(2, 20, SMALL["n_in"], 0.3, seed=0)
    a, b = R.L2MURef(ck).forward(x), R.L2MURef(sd).forward(x)
    assert torch.equal(a["counts"], b["counts"])


def test_save_dataset_roundtrip(tmp_path):
    x = R.random_inputs(7, 16, 12, 0.25, seed=3)
    y = torch.arange(7) % 7
    path = tmp_path / "ds_val_0.pt"
    R.save_dataset(x, y, str(path))
    globs, _ = pickle_globals(str(path))
    assert ("torch.utils.data.dataset", "TensorDataset") in globs
    with pytest.raises((pickle.UnpicklingError, RuntimeError, AttributeError)):
        torch.load(str(path), weights_only=True)
    xb, yb = R.load_dataset_trusted(str(path))
    assert torch.equal(xb, x) and torch.equal(yb, y) and yb.dtype == torch.int64


def test_cli(tmp_path, capsys):
    ck, ds = str(tmp_path / "m.ckpt"), str(tmp_path / "d.pt")
    small = ["--n-in", "4", "--memory-size", "6", "--order", "3", "--hidden", "10", "--classes", "3"]
    assert R.main(["make-checkpoint", ck, "--lightning", "--variant", "synaptic", "--seed", "2"]
                  + small) == 0
    assert R.main(["make-dataset", ds, "--clips", "6", "--T", "20", "--n-in", "4",
                   "--classes", "3"]) == 0
    assert R.main(["run", ck, ds, "--mode", "all"]) == 0
    out = capsys.readouterr().out
    assert "L2MU synaptic" in out and "torch vs sequential" in out
    pt = str(tmp_path / "m.pt")
    assert R.main(["make-checkpoint", pt, "--seed", "1", "--prefix", ""] + small) == 0
    assert next(iter(torch.load(pt, weights_only=True))) == "l2mu_cell.e_x.weight"


# ---------------------------------------------------------------------------------------------
# the published files (opt-in)
# ---------------------------------------------------------------------------------------------

REAL = os.environ.get("L2MU_REAL_DIR")


@pytest.mark.skipif(not REAL, reason="set L2MU_REAL_DIR to the folder with best.ckpt, ds_val_0.pt")
def test_published_checkpoint():
    ck = R.load_checkpoint_trusted(os.path.join(REAL, "best.ckpt"))
    x, y = R.load_dataset_trusted(os.path.join(REAL, "ds_val_0.pt"))
    assert list(ck.keys()) == LIGHTNING_KEYS
    assert list(ck["state_dict"].keys()) == ["model.l2mu_cell." + k for k in PUBLISHED_KEYS]
    model = R.L2MURef(ck)
    for mode in ("sequential", "grouped"):
        out = model.forward(x, mode=mode)
        assert int((out["predictions"] == y).sum()) == 278
        assert dict(R.spike_totals(out)) == {"spk_u": 943785, "spk_m": 843505,
                                             "spk_h": 210104, "spk_output": 78584}
