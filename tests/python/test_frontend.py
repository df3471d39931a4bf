"""The C++ audio front-end against torchaudio.compliance.kaldi.fbank (docs/lmuformer.md §1.2),
WAV errors, and audio streaming in chunks equal to whole clips."""
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

torchaudio = pytest.importorskip("torchaudio")
from testenv import LMUSIM, cli, random_model  # noqa: E402
pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")
SR = 16000


def write_pcm16(path, x, rate=SR, channels=1, width=2):
    data = np.clip(np.round(np.asarray(x) * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def write_float32(path, x, rate=SR):
    data = np.asarray(x, dtype="<f4").tobytes()
    header = b"RIFF" + (36 + len(data)).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    header += (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
    header += (rate * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    header += b"data" + len(data).to_bytes(4, "little")
    Path(path).write_bytes(header + data)


def reference_features(path):
    """Upstream's _wav2fbank (docs/lmuformer.md §1.2) on torchaudio."""
    w, sr = torchaudio.load(str(path))
    w = w - w.mean()
    f = torchaudio.compliance.kaldi.fbank(w, htk_compat=True, sample_frequency=sr, use_energy=False,
                                          window_type="hanning", num_mel_bins=128, dither=0.0, frame_shift=10)
    n = f.shape[0]
    if n < 128:
        f = torch.nn.ZeroPad2d((0, 0, 0, 128 - n))(f)
    f = f[:128]
    return ((f - (-6.845978)) / (5.5654526 * 2)).numpy()


def signals():
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    yield "sine", 0.5 * np.sin(2 * np.pi * 440 * t)
    yield "chirp", 0.3 * np.sin(2 * np.pi * (50 + 3900 * t) * t)
    yield "noise", 0.1 * rng.standard_normal(SR)
    yield "silence", np.zeros(SR)
    yield "square_clipped", np.clip(3 * np.sign(np.sin(2 * np.pi * 200 * t)), -1, 0.999)
    yield "dc_plus_tone", 0.4 + 0.2 * np.sin(2 * np.pi * 1000 * t)
    yield "short", 0.3 * np.sin(2 * np.pi * 300 * t[: SR // 2]) * np.hanning(SR // 2)
    yield "long", 0.2 * rng.standard_normal(int(1.5 * SR))
    env = np.exp(-((t - 0.5) ** 2) / 0.02)
    yield "vowel_like", env * sum(np.sin(2 * np.pi * f0 * k * t) / k for f0 in (120,) for k in range(1, 30)) * 0.1


@pytest.mark.parametrize("kind", ["pcm16", "float32"])
def test_features_match_torchaudio(tmp_path, kind):
    worst = 0.0
    for name, x in signals():
        wav = tmp_path / f"{name}.wav"
        (write_pcm16 if kind == "pcm16" else write_float32)(wav, x)
        cli("features", wav, tmp_path / f"{name}.npy")
        ours = np.load(tmp_path / f"{name}.npy")
        ref = reference_features(wav)
        assert ours.shape == ref.shape == (128, 128)
        diff = float(np.abs(ours - ref).max())
        worst = max(worst, diff)
        assert diff <= 1e-3, f"{name}: max |diff| {diff}"
    print(f"\n{kind}: worst max |diff| vs torchaudio {worst:.2e}")


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("frontend")
    random_model(d, "m", dim=64, seed=6)
    return d / "m.h5"


@pytest.mark.parametrize("case,expect", [
    ("stereo", "2 channels, expected mono"),
    ("rate", "sample rate 22050 Hz, expected 16000 Hz"),
    ("pcm8", "with 8 bits is not supported"),
    ("truncated", "truncated"),
    ("not_riff", "not a WAV file"),
    ("tiny", "shorter than one 25 ms frame"),
])
def test_bad_wav_is_one_clear_line(tmp_path, small_model, case, expect):
    wav = tmp_path / "bad.wav"
    x = 0.1 * np.sin(np.arange(SR) / 10)
    if case == "stereo":
        write_pcm16(wav, np.repeat(x, 2), channels=2)
    elif case == "rate":
        write_pcm16(wav, x, rate=22050)
    elif case == "pcm8":
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(1)
            w.setframerate(SR)
            w.writeframes((np.abs(x) * 100).astype(np.uint8).tobytes())
    elif case == "truncated":
        write_pcm16(wav, x)
        wav.write_bytes(wav.read_bytes()[:5000])
    elif case == "not_riff":
        wav.write_bytes(b"ID3" + bytes(100))
    else:
        write_pcm16(wav, x[:100])
    r = cli("run", small_model, "--input", wav, check=False)
    assert r.returncode == 2, r.stdout
    assert expect in r.stderr and "bad.wav" in r.stderr
    assert r.stderr.strip().count("\n") == 0


def test_audio_streaming_in_chunks_equals_whole_clips(tmp_path, small_model):
    model = small_model
    wavs = []
    for name, x in list(signals())[:4]:
        write_pcm16(tmp_path / f"{name}.wav", x)
        wavs.append(tmp_path / f"{name}.wav")
    cli("run", model, "--input", *wavs, "--output", tmp_path / "whole.h5", "--quiet")
    import h5py
    with h5py.File(tmp_path / "whole.h5", "r") as f:
        whole = f["frame_logits"][:]
    for chunk_ms in (1, 10, 37.5, 250):
        cli("run", model, "--input", *wavs, "--stream", "--chunk-ms", chunk_ms, "--output",
            tmp_path / "s.h5", "--quiet", "--overwrite")
        with h5py.File(tmp_path / "s.h5", "r") as f:
            np.testing.assert_array_equal(f["frame_logits"][:], whole)
    # And the audio path equals running the model on the front-end's features.
    feats = []
    for w in wavs:
        cli("features", w, tmp_path / f"{w.stem}.npy")
        feats.append(np.load(tmp_path / f"{w.stem}.npy"))
    np.save(tmp_path / "feats.npy", np.stack(feats))
    cli("run", model, "--input", tmp_path / "feats.npy", "--output", tmp_path / "npy.h5", "--quiet")
    with h5py.File(tmp_path / "npy.h5", "r") as f:
        np.testing.assert_array_equal(f["frame_logits"][:], whole)


def test_python_audio_api(tmp_path, small_model):
    import lmusim
    wavs = []
    for name, x in list(signals())[:3]:
        write_pcm16(tmp_path / f"{name}.wav", x)
        wavs.append(tmp_path / f"{name}.wav")
    # features: path or samples, equal to `lmusim features`
    cli("features", wavs[0], tmp_path / "f.npy")
    np.testing.assert_array_equal(lmusim.features(wavs[0]), np.load(tmp_path / "f.npy"))
    samples, rate = lmusim.read_wav(wavs[0])
    assert rate == SR and samples.dtype == np.float32 and samples.shape == (SR,)
    np.testing.assert_array_equal(lmusim.features(samples), np.load(tmp_path / "f.npy"))
    assert lmusim.features(samples[: SR // 2], frames=0).shape == (1 + (SR // 2 - 400) // 160, 128)
    with pytest.raises(lmusim.Error, match="22050"):
        lmusim.features(samples, sample_rate=22050)
    # Model.run on WAV paths == Model.run on the front-end's features (the CLI on the same WAVs is
    # compared in test_audio_streaming_in_chunks_equals_whole_clips: under sanitize.sh the CLI is
    # another build, whose Eigen products may differ in the last bit, docs/semantics.md)
    model = lmusim.load_model(small_model)
    res = model.run([str(w) for w in wavs])
    feats = model.run(np.stack([lmusim.features(w) for w in wavs]))
    np.testing.assert_array_equal(res.frame_logits, feats.frame_logits)
    assert res.frame_logits.shape == (len(wavs), 128, len(model.class_names))
    # push_audio in odd chunk sizes == the whole clip, frame by frame
    rng = np.random.default_rng(4)
    for k, w in enumerate(wavs):
        samples, _ = lmusim.read_wav(w)
        st = model.stream()
        idx, out, i = [], [], 0
        while i < samples.size:
            n = int(rng.integers(1, 700))
            f_i, lg = st.push_audio(samples[i:i + n])
            idx.append(f_i)
            out.append(lg)
            i += n
        f_i, lg = st.finish_audio()
        idx = np.concatenate(idx + [f_i])
        out = np.concatenate(out + [lg])
        np.testing.assert_array_equal(idx, np.arange(128))
        np.testing.assert_array_equal(out[:, 0, :], res.frame_logits[k])
    with pytest.raises(lmusim.Error, match="one"):
        model.stream(streams=2).push_audio(samples)
