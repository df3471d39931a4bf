"""The keyword training loop (lmusim.training.kws) on several splits: --train-splits /
--val-splits / --test-splits concatenate clean and noisy data, --train-fractions draws each
epoch's clips in the given proportions, and the per-split accuracies reach the log and
results.json.  A tiny data set of random-noise WAVs and a tiny L2MU keep it fast."""
import json
import sys
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


def train_slmu_script():
    """scripts/train_slmu.py as a module."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "train_slmu", Path(__file__).resolve().parents[2] / "scripts" / "train_slmu.py")
    ts = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    spec.loader.exec_module(ts)
    sys.path[:] = saved  # the script puts the source package first; later tests' subprocesses must not see it
    return ts


def grown(depth, u_channels):
    """A calibrated depth-1 dim-16 model and the model train_slmu.py --grow makes of it (eval mode)."""
    from lmusim.training.slmu import SpikingLMUFormer, load_upstream, upstream_state_dict
    import slmu_reference as R
    small = SpikingLMUFormer(dim=16, depth=1)
    load_upstream(small, R.make_state_dict(dim=16, seed=3))  # calibrated: its LIFs fire
    small.eval()
    arch = train_slmu_script().SLMU()

    class Args:
        dim, memory_size, grow = 16, None, True
    Args.depth, Args.u_channels = depth, u_channels
    big = arch.build(Args)
    arch.load(big, upstream_state_dict(small))
    big.eval()
    return small, big, arch, Args


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
    from lmusim.training.slmu import upstream_state_dict
    small, big, arch, Args = grown(depth=2, u_channels=1)
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


def test_word_frame_codes_from_the_manifest_positions():
    """Frames before the word (look-ahead margin included) and after it, hand-computed: input frame t
    covers samples [160 t, 160 t + 400)."""
    recs = [dict(params=dict(offset=4000, speech_samples=3200)),           # clean clip
            dict(conditions=dict(offset=0, speech_samples=16000)),         # noisy clip, word fills it
            dict(params=dict(speed=100))]                                  # no positions: all free
    c = kws.word_frame_codes(recs, frames=128, margin=8)
    assert c.dtype == np.int8 and c.shape == (3, 128)
    # before: (t + 8) * 160 + 400 <= 4000  <=>  t <= 14;  after: 160 t >= 7200  <=>  t >= 45
    assert (c[0, :15] == kws.FRAME_BEFORE).all() and (c[0, 15:45] == kws.FRAME_FREE).all()
    assert (c[0, 45:] == kws.FRAME_AFTER).all()
    assert (c[1, :100] == kws.FRAME_FREE).all() and (c[1, 100:] == kws.FRAME_AFTER).all()
    assert (c[2] == kws.FRAME_FREE).all()
    assert (kws.word_frame_codes(recs[:1], margin=0)[0, :23] == kws.FRAME_BEFORE).all()  # t <= 22.5
    assert kws.word_frame_codes(recs[:1], margin=0)[0, 23] == kws.FRAME_FREE


def test_frame_loss_closed_form():
    """Before the word: KL(uniform || softmax); after it: cross-entropy to the label; free frames
    contribute nothing; each part is a mean over its frames."""
    import math
    logits = torch.tensor([[[0.0, math.log(3.0)], [100.0, -100.0], [2.0, 0.0]],
                           [[5.0, 5.0], [0.0, 1.0], [7.0, 7.0]]])
    codes = torch.tensor([[1, 0, 2], [1, 2, 0]])
    y = torch.tensor([0, 1])
    kl = -math.log(2) - 0.5 * (math.log(0.25) + math.log(0.75))   # frame (0, 0); frame (1, 0) is uniform: 0
    ce = 0.5 * (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-1.0)))
    got = float(kws.frame_loss(logits, y, codes))
    assert got == pytest.approx(kl / 2 + ce, rel=1e-6)
    # no frame of either kind: zero
    assert float(kws.frame_loss(logits, y, torch.zeros_like(codes))) == 0.0


def test_augment_rolls_the_frame_codes_with_the_frames():
    """The codes follow the roll; frames that wrapped around become free; the features and the random
    draws are the same as without codes."""
    b, n = 6, 128
    x = torch.arange(n, dtype=torch.float32).view(1, n, 1).repeat(b, 1, 4)  # row t holds t
    codes = torch.from_numpy(np.random.default_rng(1).integers(1, 3, (b, n)))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    want = kws.augment(x.clone(), g1, 0, 0, False, 10)
    got, got_codes = kws.augment(x.clone(), g2, 0, 0, False, 10, codes=codes.clone())
    assert torch.equal(got, want)
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    src = got[:, :, 0].long()
    t = torch.arange(n).view(1, n)
    wrapped = (src - t).abs() > 10
    assert wrapped.any() and (~wrapped).any()
    assert (got_codes[wrapped] == kws.FRAME_FREE).all()
    assert torch.equal(got_codes[~wrapped], torch.gather(codes, 1, src)[~wrapped])


def test_frame_loss_trains_and_frames_mode_is_the_clip_output(tmp_path):
    """SpikingLMUFormer(mode="frames") averages to the clip logits exactly; train_slmu.py's loop runs
    with --frame-loss on clips whose manifest gives word positions (and says how many frames it
    constrains); an architecture without per-frame outputs refuses the option."""
    from lmusim.training.slmu import SpikingLMUFormer, load_upstream
    import slmu_reference as R
    m = SpikingLMUFormer(dim=16, depth=1)
    load_upstream(m, R.make_state_dict(dim=16, seed=3))
    m.eval()
    x = torch.randn(3, 128, 128)
    with torch.no_grad():
        assert torch.equal(m(x, mode="frames").mean(dim=1), m(x))
        assert m(x, mode="frames").shape == (3, 128, 35)

    data = tmp_path / "data"
    make_data(data, {"train": 6, "validation": 2, "test": 2})
    man = json.loads((data / "manifest.json").read_text())
    for c in man["clips"]:  # 0.25 s clips (23 frames of audio): the word from 0.05 s to 0.15 s
        c["params"] = dict(offset=800, speech_samples=1600)
    (data / "manifest.json").write_text(json.dumps(man))
    ts = train_slmu_script()
    out = tmp_path / "out"
    common = ["--data", str(data), "--cache", str(tmp_path / "cache"), "--out", str(out), "--epochs", "1",
              "--batch", "3", "--threads", "1", "--frame-loss", "0.5", "--frame-margin", "0"]
    assert kws.main(ts.SLMU(), common + ["--dim", "16"]) == 0
    # before: 160 t + 400 <= 800 <=> t <= 2 (3 of 128 frames); after: 160 t >= 2400 <=> t >= 15 (113)
    log = (out / "log.txt").read_text()
    assert "2.3% of the training frames before their word, 88.3% after it" in log
    with pytest.raises(SystemExit, match="--frame-loss is not available for tiny"):
        kws.main(TinyL2MU(), common)


def test_grow_memory_input_channels_starts_as_the_checkpoint(tmp_path):
    """--u-channels K --grow: a model whose memories take K spike trains, from a checkpoint with one,
    computes what the checkpoint did (eval mode); the new memories are live (their inputs spike) but
    unread until training; from_state_dict() rebuilds the K-channel model from its shapes."""
    from lmusim.training.slmu import from_state_dict, upstream_state_dict
    small, big, _, _ = grown(depth=2, u_channels=3)
    cell = big.block[0].attn.lmu
    assert cell.W_u.weight.shape == (3, 16) and cell.W_h.weight.shape == (16, 3 * 32 + 16)
    x = torch.randn(4, 128, 128)
    with torch.no_grad():
        assert torch.equal(big(x), small(x))
        cell.keep_memory = True
        big(x)
        mem = cell.last_memory  # [B, N, 3*32]: channel 0's memory is the checkpoint's
        small.block[0].attn.lmu.keep_memory = True
        small(x)
        assert torch.equal(mem[..., :32], small.block[0].attn.lmu.last_memory)
    assert cell.W_h.weight[:, 32:96].abs().sum() == 0 and cell.W_h.weight.requires_grad
    # the K-channel memory: each channel's memory is the single-channel memory of its own spike train
    with torch.no_grad():
        u = (torch.rand(2, 3, 128) < 0.3).float()
        f = torch.fft.rfft(u, n=256, dim=-1)
        one = [torch.fft.irfft(f[:, i:i + 1] * cell.fft_H.unsqueeze(0), n=256, dim=-1)[..., :128] for i in range(3)]
        many = torch.fft.irfft(f.unsqueeze(2) * cell.fft_H, n=256, dim=-1).flatten(1, 2)[..., :128]
        assert torch.equal(many, torch.cat(one, dim=1))
    again = from_state_dict(upstream_state_dict(big))
    again.eval()
    with torch.no_grad():
        assert again.config["u_channels"] == 3 and torch.equal(again(x), big(x))
