"""The PCEN front-end (docs/frontend.md) end to end: the C++ front-end against the NumPy reference
of training (lmusim.training.features.pcen), the training path from cached log-mel features, a
converted PCEN model's file, its use by every audio path (lmusim run on WAVs, Model.run,
Stream.push_audio, lmusim features --model, keyword spotting: each window a clip of its own), and
clear errors for bad /meta attributes."""
import json
import wave

import numpy as np
import pytest

from testenv import ROOT, cli, h5_datasets, random_model, require_core

lmusim = require_core()
h5py = pytest.importorskip("h5py")
torch = pytest.importorskip("torch")
feat = pytest.importorskip("lmusim.training.features")
from lmusim.convert import PCEN_FEATURE_MEAN, PCEN_FEATURE_STD2, PCEN_PARAMS, convert  # noqa: E402

SR = 16000


def write_wav(path, x):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(np.clip(np.round(np.asarray(x) * 32768), -32768, 32767).astype("<i2").tobytes())


def noisy_word(seed, n=SR):
    """Unconditioned audio: a random harmonic burst at a random time over random-level noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    f0 = rng.uniform(90, 300)
    burst = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 20))
    c, w = rng.uniform(0.2, 0.8) * n / SR, rng.uniform(0.05, 0.2)
    x = burst * np.exp(-((t - c) ** 2) / (2 * w * w)) * rng.uniform(0.05, 0.4)
    x += rng.standard_normal(n) * 10 ** rng.uniform(-4, -1.5)
    return np.clip(x, -1, 0.999).astype(np.float32)


@pytest.fixture(scope="module")
def pcen_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("pcen")
    random_model(d, "m", dim=64, seed=9)
    convert(d / "m.pth", d / "pcen.h5", frontend="pcen")
    return d / "pcen.h5"


@pytest.mark.parametrize("seed", range(4))
def test_cpp_pcen_equals_the_numpy_reference(seed):
    x = noisy_word(seed, int(SR * (0.7 + 0.3 * seed)))
    raw = lmusim.features(x, frames=0, feature_mean=0.0, feature_std2=1.0)  # log-mel energies
    ref = feat.pcen(raw, **feat.PCEN_DEFAULTS)
    got = lmusim.features(x, frames=0, feature_mean=PCEN_FEATURE_MEAN, feature_std2=PCEN_FEATURE_STD2,
                          pcen=PCEN_PARAMS)
    assert got.shape == ref.shape == (raw.shape[0], 128)
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6)
    # and it is not the log-mel: the values move with the background, a constant tone settles
    assert np.abs(got - (raw - PCEN_FEATURE_MEAN) / PCEN_FEATURE_STD2).max() > 1


def test_training_features_from_cached_logmel_match_the_cpp_frontend():
    """scripts/train_slmu.py --frontend pcen turns the cached normalised log-mel features into PCEN
    ones; they are what lmusim computes from the audio (up to the cache's float32 rounding)."""
    clips = [noisy_word(10 + i, SR) for i in range(3)]
    cached = np.stack([lmusim.features(c) for c in clips])  # trailing padding: 98 + 30 frames
    from_cache = feat.logmel_to_pcen_features(cached)
    direct = np.stack([lmusim.features(c, feature_mean=PCEN_FEATURE_MEAN, feature_std2=PCEN_FEATURE_STD2,
                                       pcen=PCEN_PARAMS) for c in clips])
    assert from_cache.shape == direct.shape == (3, 128, 128)
    np.testing.assert_allclose(from_cache, direct, rtol=0, atol=5e-5)
    pad = np.float32((0 - PCEN_FEATURE_MEAN) / PCEN_FEATURE_STD2)
    assert (direct[:, 98:] == pad).all() and (from_cache[:, 98:] == pad).all()


def test_converted_file_records_the_frontend(pcen_model):
    with h5py.File(pcen_model, "r") as f:
        meta = f["meta"].attrs
        assert meta["frontend"] == "pcen"
        for k, v in PCEN_PARAMS.items():
            assert meta["pcen_" + k] == v
        assert meta["feature_mean"] == np.float32(PCEN_FEATURE_MEAN)
        assert meta["feature_std2"] == np.float32(PCEN_FEATURE_STD2)
    m = lmusim.Model(pcen_model)
    assert m.frontend == dict(feature_mean=np.float32(PCEN_FEATURE_MEAN), feature_std2=np.float32(PCEN_FEATURE_STD2),
                              pcen=PCEN_PARAMS)
    plain = lmusim.Model(pcen_model.parent / "m.h5")
    assert plain.frontend["pcen"] is None
    r = cli("info", pcen_model)
    assert r.returncode == 0


def test_every_audio_path_uses_the_models_frontend(tmp_path, pcen_model):
    m = lmusim.Model(pcen_model)
    wavs = []
    for i in range(3):
        wavs.append(tmp_path / f"c{i}.wav")
        write_wav(wavs[-1], noisy_word(20 + i))
    want = np.stack([lmusim.features(w, **m.frontend) for w in wavs])
    assert not np.allclose(want, np.stack([lmusim.features(w) for w in wavs]), atol=0.1)
    ref = m.run(want)
    # Model.run on WAV paths
    np.testing.assert_array_equal(m.run([str(w) for w in wavs]).logits, ref.logits)
    # lmusim run on WAVs, whole and streamed
    for extra in ([], ["--stream"]):
        out = tmp_path / f"run{len(extra)}.h5"
        cli("run", pcen_model, "--input", *wavs, "--output", out, *extra)
        np.testing.assert_array_equal(h5_datasets(out)["logits"], ref.logits)
    # Stream.push_audio in uneven chunks
    samples, _ = lmusim.read_wav(wavs[1])
    s = m.stream()
    outs = []
    for i in range(0, len(samples), 777):
        outs.append(s.push_audio(samples[i:i + 777])[1])
    outs.append(s.finish_audio()[1])
    frame_logits = np.concatenate(outs)[:, 0]
    np.testing.assert_array_equal(frame_logits[-1], ref.logits[1])
    # lmusim features --model
    cli("features", wavs[2], tmp_path / "f.npy", "--model", pcen_model)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), want[2])


def test_spotting_normalises_each_window_as_a_clip(tmp_path, pcen_model):
    """With PCEN the front-end has state; window k of a 2.5 s stream must give exactly what
    `lmusim run` gives for the same second as a clip (the smoother restarts per window)."""
    x = np.concatenate([noisy_word(30, SR), noisy_word(31, SR // 2), noisy_word(32, SR)])
    write_wav(tmp_path / "long.wav", x)
    spot = tmp_path / "spot.h5"
    cli("run", pcen_model, "--input", tmp_path / "long.wav", "--stream", "--spot", "--quiet", "--output", spot)
    logits = h5_datasets(spot)["logits"]
    hop = SR // 20
    assert logits.shape[0] == (len(x) - SR) // hop + 1
    pcm = np.clip(np.round(x * 32768), -32768, 32767) / 32768
    for k in (0, 9, logits.shape[0] - 1):
        write_wav(tmp_path / f"w{k}.wav", pcm[k * hop:k * hop + SR])
        out = tmp_path / f"w{k}.h5"
        cli("run", pcen_model, "--input", tmp_path / f"w{k}.wav", "--stream", "--output", out)
        np.testing.assert_array_equal(logits[k], h5_datasets(out)["logits"][0], err_msg=f"window {k}")


@pytest.mark.parametrize("edit,expect", [
    (lambda a: a.__setitem__("frontend", "mfcc"), "/meta attribute frontend = 'mfcc': expected 'logmel' or 'pcen'"),
    (lambda a: a.__delitem__("pcen_root"), "frontend = 'pcen' but the attribute pcen_root is missing"),
    (lambda a: a.__setitem__("pcen_smooth", 0.0), "pcen_smooth = 0: expected a number in (0, 1]"),
    (lambda a: a.__setitem__("pcen_eps", -1.0), "pcen_eps = -1: expected a finite number > 0"),
    (lambda a: a.__setitem__("feature_std2", np.float32(0)), "feature_std2 = 0"),
])
def test_bad_frontend_attributes_are_one_clear_line(tmp_path, pcen_model, edit, expect):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(pcen_model.read_bytes())
    with h5py.File(bad, "r+") as f:
        edit(f["meta"].attrs)
    write_wav(tmp_path / "c.wav", noisy_word(1))
    r = cli("run", bad, "--input", tmp_path / "c.wav", check=False)
    assert r.returncode != 0
    assert expect in r.stderr and str(bad) in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    with pytest.raises(lmusim.Error, match="pcen|frontend|feature_std2"):
        lmusim.Model(bad)


def test_convert_cli_and_l2mu_hyper_parameters(tmp_path, pcen_model):
    r = __import__("subprocess").run(
        [__import__("sys").executable, "-m", "lmusim.convert", pcen_model.parent / "m.pth", tmp_path / "p.h5",
         "--frontend", "pcen"], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    assert "pcen front-end" in r.stdout
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f["meta"].attrs["frontend"] == "pcen"
    # an L2MU checkpoint states its front-end in its hyper-parameters
    from lmusim.training import l2mu
    model = l2mu.L2MU(n_in=128, memory_size=8, order=2, hidden=16, classes=3, theta=10.0)
    ck = l2mu.checkpoint(model, {"params": dict(model.config), "frontend": "pcen", "pcen": dict(PCEN_PARAMS),
                                 "feature_mean": PCEN_FEATURE_MEAN, "feature_std2": PCEN_FEATURE_STD2})
    torch.save(ck, tmp_path / "l2mu.pth")
    convert(tmp_path / "l2mu.pth", tmp_path / "l2mu.h5", input_kind="values")
    assert lmusim.Model(tmp_path / "l2mu.h5").frontend["pcen"] == PCEN_PARAMS
    ck["hyper_parameters"]["pcen"] = {"smooth": 0.025}
    torch.save(ck, tmp_path / "l2mu_bad.pth")
    with pytest.raises(lmusim.convert.ConversionError, match="PCEN parameters"):
        convert(tmp_path / "l2mu_bad.pth", tmp_path / "l2mu_bad.h5", input_kind="values")


def test_checkpoint_states_its_frontend(tmp_path, pcen_model):
    """A Spiking LMUFormer checkpoint wrapped with hyper_parameters (scripts/train_slmu.py --frontend
    pcen writes it so) converts to a PCEN model without --frontend; a contradicting option is refused."""
    sd = torch.load(pcen_model.parent / "m.pth")
    params = dict(PCEN_PARAMS, smooth=0.05)
    torch.save({"state_dict": sd, "hyper_parameters": {"frontend": "pcen", "pcen": params, "feature_mean": 0.5,
                                                       "feature_std2": 2.0}}, tmp_path / "w.pth")
    info = convert(tmp_path / "w.pth", tmp_path / "w.h5")
    assert info["frontend"] == "pcen"
    fe = lmusim.Model(tmp_path / "w.h5").frontend
    assert fe == dict(feature_mean=0.5, feature_std2=2.0, pcen=params)
    a, b = h5_datasets(tmp_path / "w.h5"), h5_datasets(pcen_model)  # the same network
    assert sorted(a) == sorted(b) and len(a) > 20
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    with pytest.raises(lmusim.convert.ConversionError, match="--frontend logmel contradicts it"):
        convert(tmp_path / "w.pth", tmp_path / "x.h5", frontend="logmel")
    # a plain state dict is log-mel unless told
    assert convert(pcen_model.parent / "m.pth", tmp_path / "plain.h5")["frontend"] == "logmel"
    assert lmusim.Model(tmp_path / "plain.h5").frontend["pcen"] is None


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    return env
