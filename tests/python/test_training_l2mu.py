"""The trainable L2MU (lmusim.training.l2mu, scripts/train_l2mu.py) is the official cell: its
forward pass equals the plain-PyTorch reference of the official code (tests/python/l2mu_reference.py)
spike for spike, its A and B are the official matrices, and a checkpoint it writes converts
(``--input values``: real-valued features injected as current) into a model file that lmusim runs
with the same predictions and the metadata the keyword spotter needs (class names, the front-end's
normalisation)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from testenv import require_core  # noqa: E402

import l2mu_reference as R  # noqa: E402
from lmusim.training import kws, l2mu  # noqa: E402


def small_model(seed=0):
    torch.manual_seed(seed)
    m = l2mu.L2MU(n_in=10, memory_size=6, order=3, hidden=12, classes=5, theta=8.0, threshold=0.5)
    with torch.no_grad():  # a trained-looking network: every population active, memory read out
        for name in ("e_m", "W_m"):
            getattr(m.l2mu_cell, name).weight.normal_(0, 0.3)
        m.l2mu_cell.spk_h.beta.fill_(0.8)
        m.l2mu_cell.spk_m.threshold.fill_(0.3)
    return m


def test_lmu_matrices_are_the_official_ones():
    for d, theta in ((4, 64.0), (7, 10.0), (3, 8.0)):
        a, b = l2mu.lmu_matrices(d, theta)
        ra, rb = R.lmu_matrices(d, theta)
        np.testing.assert_allclose(a.numpy(), np.asarray(ra), rtol=0, atol=2e-6)
        np.testing.assert_allclose(b.numpy(), np.asarray(rb), rtol=0, atol=2e-6)


def test_forward_equals_the_reference_of_the_official_cell():
    m = small_model(1).eval()
    sd = {"model." + k: v for k, v in m.state_dict().items()}
    ref = R.L2MURef(sd, mode="torch")
    x = torch.rand(4, 40, 10) * 2 - 0.5  # real-valued input, as the keyword features
    record = {}
    with torch.no_grad():
        counts = m(x, record)
    out = ref.forward(x)
    np.testing.assert_array_equal(counts.numpy(), out["counts"].numpy() if hasattr(out["counts"], "numpy")
                                  else out["counts"])
    for pop, spikes in out["spikes"].items():
        total = spikes.sum(dim=(0, 1)) if hasattr(spikes, "sum") else np.asarray(spikes).sum(axis=(0, 1))
        np.testing.assert_array_equal(record[pop].numpy(), np.asarray(total, dtype=np.float32), err_msg=pop)
    assert all(float(v.sum()) > 0 for v in record.values()), "every population spikes"


def test_surrogate_gradient_flows_and_stays_finite():
    m = small_model(2)
    x = torch.rand(3, 30, 10)
    loss = torch.nn.functional.cross_entropy(m(x) * 0.5, torch.tensor([0, 1, 2]))
    loss.backward()
    for name, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert m.l2mu_cell.A.weight.grad is None and m.l2mu_cell.B.weight.grad is None  # fixed buffers
    assert float(m.l2mu_cell.W_x.weight.grad.abs().sum()) > 0


def test_checkpoint_converts_and_lmusim_agrees(tmp_path):
    lmusim = require_core()
    m = small_model(3).eval()
    hp = {"params": dict(m.config), "class_names": [f"w{k}" for k in range(5)], "feature_mean": -6.5,
          "feature_std2": 11.0}
    torch.save(l2mu.checkpoint(m, hp), tmp_path / "best_model.pth")
    info = lmusim.convert(tmp_path / "best_model.pth", tmp_path / "m.h5", input_kind="values")
    assert info["model"] == "l2mu" and info["trainable_parameters"] == l2mu.parameters_count(m)
    model = lmusim.load_model(tmp_path / "m.h5")
    assert model.class_names == hp["class_names"]
    assert model._file.feature_mean == np.float32(-6.5) and model._file.feature_std2 == np.float32(11.0)
    x = (torch.rand(6, 50, 10) * 2 - 0.5).numpy().astype(np.float32)
    with torch.no_grad():
        ref = m(torch.from_numpy(x)).numpy()
    r = model.run(x)
    # real-valued input: lmusim's and PyTorch's sums may differ in the last bit, which can move a
    # spike; the counts agree closely and the decisions of these clips exactly
    np.testing.assert_array_equal(r.predictions, ref.argmax(1))
    assert np.abs(r.logits - ref).max() <= 2
    # the checkpoint reloads into the training model
    m2 = l2mu.L2MU(**{k: v for k, v in m.config.items()})
    l2mu.load(m2, torch.load(tmp_path / "best_model.pth"))
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k


def test_bad_hyperparameters_are_named(tmp_path):
    lmusim = require_core()
    m = small_model(4)
    torch.save(l2mu.checkpoint(m, {"params": dict(m.config), "class_names": ["a", "b"]}), tmp_path / "c.pth")
    with pytest.raises(Exception, match="class_names"):
        lmusim.convert(tmp_path / "c.pth", tmp_path / "c.h5", input_kind="values")
    assert not (tmp_path / "c.h5").exists()


def test_augment_is_deterministic_and_keeps_shapes():
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    x = torch.rand(4, 128, 128)
    a = kws.augment(x.clone(), g1, 10, 10, True, 10, 0.1)
    b = kws.augment(x.clone(), g2, 10, 10, True, 10, 0.1)
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
