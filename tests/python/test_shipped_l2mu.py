"""The shipped L2MU keyword spotter (models/l2mu_kws.h5, docs/model_card_l2mu.md) on the shipped
test clips (data/demo): the converter reproduces the model file from the shipped checkpoint,
streaming audio equals whole clips, PyTorch (the training implementation) agrees on the
predictions, and the accuracy is what the model card states."""
import re
import subprocess

import numpy as np
import pytest

from testenv import LMUSIM, ROOT, demo_clips, require_core

lmusim = require_core()
MODEL = ROOT / "models" / "l2mu_kws.h5"
CKPT = ROOT / "models" / "l2mu_kws.pt"
DEMO = ROOT / "data" / "demo"
CARD = ROOT / "docs" / "model_card_l2mu.md"


@pytest.fixture(scope="module")
def clips():
    return demo_clips(DEMO)[1:]


@pytest.fixture(scope="module")
def streamed(clips, tmp_path_factory):
    wavs, _ = clips
    out = tmp_path_factory.mktemp("shipped_l2mu") / "out.h5"
    subprocess.run([LMUSIM, "run", str(MODEL), "--input", *wavs, "--stream", "--chunk-ms", "10",
                    "--output", str(out), "--quiet"], check=True, capture_output=True)
    import h5py
    with h5py.File(out, "r") as f:
        return {k: f[k][:] for k in ("predictions", "logits", "frame_logits")}


def card_number(pattern):
    m = re.search(pattern, " ".join(CARD.read_text().split()), re.IGNORECASE)
    assert m, f"{CARD.name} states {pattern}"
    return tuple(int(g) for g in m.groups())


def test_model_file_is_the_converted_checkpoint(tmp_path, clips):
    pytest.importorskip("torch")
    lmusim.convert(CKPT, tmp_path / "m.h5", input_kind="values")
    wavs, _ = clips
    a = lmusim.load_model(MODEL).run(wavs[:6])
    b = lmusim.load_model(tmp_path / "m.h5").run(wavs[:6])
    np.testing.assert_array_equal(a.frame_logits, b.frame_logits)
    for k in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k])
    m = lmusim.load_model(MODEL)
    assert m.class_names[:3] == ["backward", "follow", "five"]  # from the checkpoint's hyperparameters


def test_streamed_audio_equals_whole_clips(clips, streamed):
    wavs, _ = clips
    r = lmusim.load_model(MODEL).run(wavs)
    np.testing.assert_array_equal(r.frame_logits, streamed["frame_logits"])
    # the logits are the output population's spike counts
    assert np.all(streamed["logits"] == np.round(streamed["logits"])) and streamed["logits"].max() <= 128


def test_pytorch_agrees(clips, streamed):
    torch = pytest.importorskip("torch")
    from lmusim.safe_load import load
    from lmusim.training import l2mu
    wavs, _ = clips
    ck = load(CKPT, what="checkpoint")
    cfg = ck["hyper_parameters"]["params"]
    net = l2mu.L2MU(n_in=cfg["n_in"], memory_size=cfg["memory_size"], order=cfg["order"], hidden=cfg["hidden"],
                    classes=cfg["classes"], theta=cfg["theta"])
    l2mu.load(net, ck)
    net.eval()
    x = torch.from_numpy(np.stack([lmusim.features(w) for w in wavs]))
    with torch.no_grad():
        ref = net(x).numpy()
    agree = int((ref.argmax(1) == streamed["predictions"]).sum())
    (stated, n) = card_number(r"PyTorch agrees on (\d+)/(\d+) of the shipped clips")
    assert n == len(wavs) and agree >= stated


def test_accuracy_is_the_model_cards(clips, streamed):
    _, labels = clips
    right = int((streamed["predictions"] == labels).sum())
    assert (right, len(labels)) == card_number(r"shipped test clips \(`data/demo`\): \*\*(\d+)/(\d+)\*\*")
