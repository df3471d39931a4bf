"""The keyword training loop (lmusim.training.kws) on several splits: --train-splits /
--val-splits / --test-splits concatenate clean and noisy data, --train-fractions draws each
epoch's clips in the given proportions, and the per-split accuracies reach the log and
results.json.  A tiny data set of random-noise WAVs and a tiny L2MU keep it fast."""
import json
import wave

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

from lmusim.training import kws, l2mu  # noqa: E402


class TinyL2MU(kws.Arch):
    name = "tiny"

    def build(self, args):
        return l2mu.L2MU(n_in=128, memory_size=4, order=2, hidden=8, classes=35, theta=8.0)

    def checkpoint(self, model, args):
        return l2mu.checkpoint(model, {"params": dict(model.config)})

    def load(self, model, obj):
        l2mu.load(model, obj)

    def firing_rates(self, model, feats):
        return {}


def make_data(root, counts):
    """counts: {split: clips}; random-noise WAVs with labels 0..4 and a manifest."""
    rng = np.random.default_rng(0)
    clips = []
    for split, n in counts.items():
        for i in range(n):
            rel = f"{split}/c{i:03d}.wav"
            (root / split).mkdir(parents=True, exist_ok=True)
            x = (rng.standard_normal(4000) * 3000).astype("<i2")
            with wave.open(str(root / rel), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(16000)
                w.writeframes(x.tobytes())
            clips.append(dict(path=rel, label=i % 5, split=split))
    (root / "manifest.json").write_text(json.dumps(dict(clips=clips)))


def test_clean_and_noisy_splits(tmp_path):
    data = tmp_path / "data"
    make_data(data, {"train": 12, "train_noisy": 20, "validation": 4, "validation_noisy": 6,
                     "test": 5, "test_noisy": 7})
    out = tmp_path / "out"
    args = ["--data", str(data), "--cache", str(tmp_path / "cache"), "--out", str(out),
            "--epochs", "2", "--batch", "4", "--threads", "1", "--train-subset", "10",
            "--train-splits", "train,train_noisy", "--val-splits", "validation,validation_noisy",
            "--test-splits", "test,test_noisy", "--train-fractions", "0.3,0.7"]
    assert kws.main(TinyL2MU(), args) == 0
    res = json.loads((out / "results.json").read_text())
    # each epoch: round(0.3*10) = 3 clean + round(0.7*10) = 7 noisy clips
    assert [h["clips"] for h in res["history"]] == [10, 10]
    assert list(res["test_acc_per_split"]) == ["test", "test_noisy"]
    assert list(res["validation_acc_per_split"]) == ["validation", "validation_noisy"]
    for h in res["history"]:
        assert set(h["val_acc_per_split"]) == {"validation", "validation_noisy"}
    # the union's accuracy is the clip-weighted mean of the splits'
    v = res["validation_acc_per_split"]
    assert res["validation_acc"] == pytest.approx((4 * v["validation"] + 6 * v["validation_noisy"]) / 10)
    assert res["test_acc"] == res["test_acc_per_split"]["test"]
    log = (out / "log.txt").read_text()
    assert "train 32 (12+20: train,train_noisy)" in log
    # one cache file per split
    assert sorted(p.name for p in (tmp_path / "cache").glob("feats_*.npy")) == [
        f"feats_{s}.npy" for s in sorted(["train", "train_noisy", "validation",
                                           "validation_noisy", "test", "test_noisy"])]
    # a fraction per training split is required
    with pytest.raises(SystemExit):
        kws.main(TinyL2MU(), args[:-1] + ["0.5"])


def test_epoch_fractions_draw_from_each_split(tmp_path, monkeypatch):
    data = tmp_path / "data"
    make_data(data, {"train": 8, "train_noisy": 8, "validation": 2, "test": 2})
    seen = []
    real = kws.augment

    def spy(x, *a, **k):  # the labels of the batches are not visible here; count clip rows
        seen.append(x.shape[0])
        return real(x, *a, **k)
    monkeypatch.setattr(kws, "augment", spy)
    out = tmp_path / "out"
    assert kws.main(TinyL2MU(), ["--data", str(data), "--cache", str(tmp_path / "c"), "--out", str(out),
                                 "--epochs", "1", "--batch", "3", "--threads", "1",
                                 "--train-subset", "9", "--train-splits", "train,train_noisy",
                                 "--train-fractions", "0.0,1.0"]) == 0
    assert sum(seen) == 8  # only train_noisy's 8 clips (9 asked, the split has 8)


def test_pcen_frontend_trains_on_pcen_of_the_cached_logmel(tmp_path, monkeypatch):
    """--frontend pcen: features computed once from the log-mel cache (feats_pcen_<split>.npy), fed to
    the model, and the checkpoint records the front-end for the converter (L2MU hyper-parameters)."""
    from lmusim.training import features as feat
    data = tmp_path / "data"
    make_data(data, {"train": 6, "validation": 3, "test": 3})
    seen = []
    real = kws.augment

    def spy(x, *a, **k):
        seen.append((x.clone(), a, k))
        return real(x, *a, **k)
    monkeypatch.setattr(kws, "augment", spy)

    class PcenL2MU(TinyL2MU):
        def checkpoint(self, model, args):
            return l2mu.checkpoint(model, {"params": dict(model.config), "frontend": args.frontend})
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert kws.main(PcenL2MU(), ["--data", str(data), "--cache", str(cache), "--out", str(out), "--epochs", "1",
                                 "--batch", "6", "--threads", "1", "--frontend", "pcen", "--roll", "0"]) == 0
    logmel = np.load(cache / "feats_train.npy")
    pcen = np.load(cache / "feats_pcen_train.npy")
    np.testing.assert_array_equal(pcen, feat.logmel_to_pcen_features(logmel))
    pad = np.float32((0 - feat.PCEN_DEFAULTS["mean"]) / feat.PCEN_DEFAULTS["std2"])
    assert (pcen[:, -3:] == pad).all()  # 0.25 s clips: 23 frames of audio, the rest padding
    batch, a, k = seen[0]
    # the training batch holds PCEN rows (in some order), and masks would use the PCEN padding value
    assert sorted(map(float, batch.sum(dim=(1, 2)))) == pytest.approx(sorted(map(float, pcen.sum(axis=(1, 2)))))
    assert a[-1] == pytest.approx(float(pad))
    assert torch.load(out / "best_model.pth")["hyper_parameters"]["frontend"] == "pcen"


def test_grow_starts_new_blocks_as_identities(tmp_path):
    """train_slmu.py --init CKPT --grow: a depth-2 model from a depth-1 checkpoint computes what the
    checkpoint did (eval mode), and the new block is trainable."""
    import importlib.util
    from pathlib import Path
    from lmusim.training.slmu import SpikingLMUFormer, load_upstream, upstream_state_dict
    spec = importlib.util.spec_from_file_location(
        "train_slmu", Path(__file__).resolve().parents[2] / "scripts" / "train_slmu.py")
    ts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ts)
    import slmu_reference as R
    small = SpikingLMUFormer(dim=16, depth=1)
    load_upstream(small, R.make_state_dict(dim=16, seed=3))  # calibrated: its LIFs fire
    small.eval()
    arch = ts.SLMU()

    class Args:
        dim, depth, memory_size, grow = 16, 2, None, True
    big = arch.build(Args)
    arch.load(big, upstream_state_dict(small))
    big.eval()
    x = torch.randn(5, 128, 128)
    with torch.no_grad():
        want = small(x)
        assert torch.equal(big(x), want)
        assert want.abs().max() > 0
    assert big.block[1].attn.proj_bn.weight.abs().sum() == 0 and big.block[1].attn.proj_bn.weight.requires_grad
    # without --grow the mismatch is an error
    Args.grow = False
    with pytest.raises(RuntimeError, match="Missing key"):
        arch.load(arch.build(Args), upstream_state_dict(small))
