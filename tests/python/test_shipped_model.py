"""The shipped trained Spiking LMUFormer (models/slmu_kws.h5, docs/model_card.md) on the shipped
test clips (data/demo: speakers never heard in training): the converter reproduces the model file
from the shipped checkpoint, lmusim streaming audio agrees with PyTorch on every prediction, and
the accuracy is what the model card states."""
import re
import subprocess

import numpy as np
import pytest

from testenv import LMUSIM, ROOT, demo_clips, require_core

lmusim = require_core()
MODEL = ROOT / "models" / "slmu_kws.h5"
CKPT = ROOT / "models" / "slmu_kws.pth"
DEMO = ROOT / "data" / "demo"


@pytest.fixture(scope="module")
def clips():
    return demo_clips(DEMO)


@pytest.fixture(scope="module")
def streamed(clips, tmp_path_factory):
    """lmusim, true streaming of the audio in 10 ms chunks (the CLI, as a user runs it)."""
    _, wavs, _ = clips
    out = tmp_path_factory.mktemp("shipped") / "out.h5"
    subprocess.run([LMUSIM, "run", str(MODEL), "--input", *wavs, "--stream", "--chunk-ms", "10",
                    "--output", str(out), "--quiet"], check=True, capture_output=True)
    import h5py
    with h5py.File(out, "r") as f:
        return {k: f[k][:] for k in ("predictions", "logits", "frame_logits")}


def test_model_file_is_the_converted_checkpoint(tmp_path, clips):
    lmusim.convert(CKPT, tmp_path / "m.h5")
    _, wavs, _ = clips
    a = lmusim.load_model(MODEL).run(wavs[:6])
    b = lmusim.load_model(tmp_path / "m.h5").run(wavs[:6])
    np.testing.assert_array_equal(a.frame_logits, b.frame_logits)
    for k in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k])


def test_streamed_audio_equals_python_whole_clips(clips, streamed):
    _, wavs, _ = clips
    r = lmusim.load_model(MODEL).run(wavs)
    np.testing.assert_array_equal(r.frame_logits, streamed["frame_logits"])


def pytorch_logits(wavs):
    """The shipped checkpoint's final logits in PyTorch (the training implementation)."""
    torch = pytest.importorskip("torch")
    from lmusim.training.slmu import from_state_dict
    net = from_state_dict(torch.load(CKPT, map_location="cpu"))  # sized from its shapes; unwraps state_dict
    net.eval()
    frontend = lmusim.load_model(MODEL).frontend  # the model's own features (docs/frontend.md)
    x = torch.from_numpy(np.stack([lmusim.features(w, **frontend) for w in wavs]))
    # clip by clip: PyTorch's float32 rounding depends on the batch a clip is in (another GEMM
    # blocking), enough to flip a spike at its threshold now and then; lmusim's does not
    with torch.no_grad():
        return np.concatenate([net(x[i:i + 1]).numpy() for i in range(len(x))])


def test_pytorch_agrees_on_every_prediction(clips, streamed):
    _, wavs, labels = clips
    ref = pytorch_logits(wavs)
    np.testing.assert_array_equal(ref.argmax(1), streamed["predictions"])
    # the logits themselves agree to float32 rounding (different summation orders)
    np.testing.assert_allclose(streamed["logits"], ref, atol=1e-4)


def test_accuracy_is_the_model_cards(clips, streamed):
    _, _, labels = clips
    right = int((streamed["predictions"] == labels).sum())
    card = (ROOT / "docs" / "model_card.md").read_text()
    m = re.search(r"shipped test clips \(`data/demo`\): \*\*(\d+)/(\d+)\*\*", card, re.IGNORECASE)
    assert m, "docs/model_card.md states the shipped clips' accuracy"
    assert (right, len(labels)) == (int(m.group(1)), int(m.group(2)))
    assert right / len(labels) >= 0.85  # sanity floor (the full test set: above 92 %, model card)


# The noisy shipped clips (data/demo_noisy: unseen test speakers with noise, rooms, channels); what is checked is
# that lmusim streams them exactly as it runs whole clips and that the model card states their score.
DEMO_NOISY = ROOT / "data" / "demo_noisy"


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    meta, wavs, labels = demo_clips(DEMO_NOISY)
    out = tmp_path_factory.mktemp("shipped_noisy") / "out.h5"
    subprocess.run([LMUSIM, "run", str(MODEL), "--input", *wavs, "--stream", "--chunk-ms", "10",
                    "--output", str(out), "--quiet"], check=True, capture_output=True)
    import h5py
    with h5py.File(out, "r") as f:
        return meta, wavs, labels, {k: f[k][:] for k in ("predictions", "frame_logits")}


def test_noisy_demo_pytorch_agreement_is_the_model_cards(noisy):
    _, wavs, _, streamed = noisy
    agree = int((pytorch_logits(wavs).argmax(1) == streamed["predictions"]).sum())
    card = (ROOT / "docs" / "model_card.md").read_text()
    m = re.search(r"`data/demo_noisy`.*?PyTorch agrees on (\d+) of the (\d+)", card, re.DOTALL)
    assert m, "docs/model_card.md states PyTorch's agreement on the noisy shipped clips"
    assert (agree, len(wavs)) == (int(m.group(1)), int(m.group(2)))


def test_noisy_demo_clips_have_their_conditions(noisy):
    meta, wavs, labels, _ = noisy
    assert len(meta["clips"]) == 70 and sorted(set(labels.tolist())) == list(range(35))
    for c in meta["clips"]:
        assert c["split"] == "test_noisy" and set(c["conditions"]) >= {"noise", "snr_db", "channel", "tempo"}


def test_noisy_demo_streamed_equals_whole_clips_and_the_model_card(noisy):
    _, wavs, labels, streamed = noisy
    r = lmusim.load_model(MODEL).run(wavs)
    np.testing.assert_array_equal(r.frame_logits, streamed["frame_logits"])
    right = int((streamed["predictions"] == labels).sum())
    card = (ROOT / "docs" / "model_card.md").read_text()
    m = re.search(r"shipped noisy test clips \(`data/demo_noisy`[^)]*\): \*\*(\d+)/(\d+)\*\*", card,
                  re.IGNORECASE | re.DOTALL)
    assert m, "docs/model_card.md states the noisy shipped clips' accuracy"
    assert (right, len(labels)) == (int(m.group(1)), int(m.group(2)))
