"""WAV -> normalised log-mel features of the Spiking LMUFormer (docs/lmuformer.md §1.2).

This is the evaluation front-end of upstream ``src/dataloader.py::_wav2fbank`` followed by the
normalisation of ``__getitem__`` (no mixup, no SpecAugment, no noise):

1. ``torchaudio.load`` (float32 in [-1, 1)), subtract the clip mean;
2. ``torchaudio.compliance.kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr,
   use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)``
   (library defaults for everything else: 25 ms frames, snip_edges, pre-emphasis 0.97, ...);
3. zero-pad (``ZeroPad2d``, rows appended at the end) or cut to 128 frames;
4. ``(fbank - (-6.845978)) / (5.5654526 * 2)``, so pad frames become 0.6150423.

Result: float32 ``[128 frames, 128 mel]``, the model input (and ``lmusim run --input``'s
per-clip layout).
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from ..convert import PCEN_FEATURE_MEAN, PCEN_FEATURE_STD2, PCEN_PARAMS

__all__ = ["NUM_MEL_BINS", "TARGET_LENGTH", "FEATURE_MEAN", "FEATURE_STD", "FEATURE_STD2",
           "PAD_VALUE", "SAMPLE_RATE", "CLASS_NAMES", "load_wav", "fbank", "normalize",
           "waveform_features", "wav_features", "wavs_features", "PCEN_PARAMS", "PCEN_DEFAULTS",
           "PCEN_PAD_VALUE", "pcen", "logmel_to_pcen_features", "frontend_hparams"]

#: Mel bins (``num_mel_bins`` set in upstream ``src/run.py``).
NUM_MEL_BINS = 128
#: ``target_length = audio_length`` frames (upstream ``src/gsc.yml``).
TARGET_LENGTH = 128
#: Dataset statistics used for normalisation (upstream ``dataset_mean`` / ``dataset_std``).
FEATURE_MEAN = -6.845978
FEATURE_STD = 5.5654526
#: The divisor, ``norm_std * 2`` (a Python double, as upstream computes it).
FEATURE_STD2 = FEATURE_STD * 2
#: Normalised value of a zero (padded or masked) log-mel cell, float32.
PAD_VALUE = float(np.float32((np.float32(0.0) - np.float32(FEATURE_MEAN)) / np.float32(FEATURE_STD2)))
SAMPLE_RATE = 16000
#: Output index k <-> keyword (docs/lmuformer.md §1.1).
CLASS_NAMES = ("backward", "follow", "five", "bed", "zero", "on", "learn", "two", "house", "tree",
               "dog", "stop", "seven", "eight", "down", "six", "forward", "cat", "right",
               "visual", "four", "wow", "no", "nine", "off", "three", "left", "marvin", "yes",
               "up", "sheila", "happy", "bird", "go", "one")


def load_wav(path: str):
    """``torchaudio.load`` -> (waveform float32 [channels, samples], sample_rate)."""
    import torchaudio
    return torchaudio.load(path)


def fbank(waveform: torch.Tensor, sr: int, num_mel_bins: int = NUM_MEL_BINS,
          target_length: int = TARGET_LENGTH) -> torch.Tensor:
    """Un-normalised log-mel filterbank, DC-removed and padded/cut to ``target_length`` frames
    (steps 1-3 of docs/lmuformer.md §1.2).  ``waveform``: float32 [1, samples] (or [samples])."""
    import torchaudio.compliance.kaldi as kaldi
    waveform = torch.as_tensor(waveform, dtype=torch.float32)
    if waveform.dim() == 1:
        waveform = waveform.unsqueeze(0)
    waveform = waveform - waveform.mean()
    fb = kaldi.fbank(waveform, htk_compat=True, sample_frequency=sr, use_energy=False,
                     window_type="hanning", num_mel_bins=num_mel_bins, dither=0.0,
                     frame_shift=10)
    p = target_length - fb.shape[0]
    if p > 0:
        fb = torch.nn.ZeroPad2d((0, 0, 0, p))(fb)
    elif p < 0:
        fb = fb[0:target_length, :]
    return fb


def normalize(fb: torch.Tensor) -> torch.Tensor:
    """Step 4 of docs/lmuformer.md §1.2: ``(fbank - mean) / (std * 2)``."""
    return (fb - FEATURE_MEAN) / (FEATURE_STD * 2)


#: Per-channel energy normalisation (PCEN, docs/frontend.md): smoothing coefficient ``smooth`` per
#: 10 ms frame, gain exponent ``alpha``, bias ``delta``, ``root``, floor ``eps``; the output is
#: normalised as ``(pcen - mean) / std2``. The values a converted model's file records
#: (``python3 -m lmusim.convert --frontend pcen``).
PCEN_DEFAULTS = dict(**PCEN_PARAMS, mean=PCEN_FEATURE_MEAN, std2=PCEN_FEATURE_STD2)
#: Normalised value of a padding (or masked) PCEN cell, P = 0, float32.
PCEN_PAD_VALUE = float(np.float32((0.0 - PCEN_FEATURE_MEAN) / PCEN_FEATURE_STD2))


def frontend_hparams(frontend: str) -> dict:
    """The ``hyper_parameters`` entries that tell ``python3 -m lmusim.convert`` a checkpoint's
    front-end: ``feature_mean`` / ``feature_std2``, and for PCEN ``frontend`` and ``pcen``."""
    if frontend == "pcen":
        return {"frontend": "pcen", "pcen": dict(PCEN_PARAMS), "feature_mean": float(PCEN_FEATURE_MEAN),
                "feature_std2": float(PCEN_FEATURE_STD2)}
    return {"feature_mean": float(FEATURE_MEAN), "feature_std2": float(FEATURE_STD2)}


def pcen(logmel: np.ndarray, valid: Optional[np.ndarray] = None, *, smooth: float, alpha: float,
         delta: float, root: float, eps: float, mean: float, std2: float) -> np.ndarray:
    """PCEN of log-mel rows ``logmel`` [..., frames, bins] (natural-log energies), normalised,
    float32. The smoother starts at the first frame's energy, ``M[0] = E[0]``, then
    ``M[t] = (1 - s) M[t-1] + s E[t]``; ``P = (E / (eps + M)^alpha + delta)^r - delta^r``.
    Computed in double precision. ``valid`` ([...], int): frames of each clip that hold audio;
    the rows after them are padding and take the normalised value of ``P = 0``."""
    e = np.exp(np.asarray(logmel, dtype=np.float64))
    out = np.empty(e.shape, dtype=np.float64)
    m = e[..., 0, :].copy()
    dr = delta ** root
    for t in range(e.shape[-2]):
        m = (1.0 - smooth) * m + smooth * e[..., t, :]
        out[..., t, :] = (e[..., t, :] / (eps + m) ** alpha + delta) ** root - dr
    if valid is not None:
        t = np.arange(e.shape[-2])
        out[np.asarray(valid)[..., None] <= t] = 0.0
    return ((out - mean) / std2).astype(np.float32)


def logmel_to_pcen_features(x: np.ndarray, **params) -> np.ndarray:
    """Normalised log-mel features [clips, frames, bins] (this module's layout, trailing padding)
    -> normalised PCEN features of the same audio (padding kept as padding)."""
    x = np.asarray(x, dtype=np.float32)
    is_pad = (x == np.float32(PAD_VALUE)).all(axis=-1)
    # frames that hold audio: up to the last non-padding row
    nz = ~is_pad
    valid = np.where(nz.any(axis=-1), x.shape[-2] - np.argmax(nz[..., ::-1], axis=-1), 0)
    logmel = x.astype(np.float64) * FEATURE_STD2 + FEATURE_MEAN
    return pcen(logmel, valid, **{**PCEN_DEFAULTS, **params})


def waveform_features(waveform: torch.Tensor, sr: int) -> np.ndarray:
    """Normalised features float32 [128, 128] of a waveform (float in [-1, 1), 16 kHz)."""
    if sr != SAMPLE_RATE:
        raise ValueError(f"expected {SAMPLE_RATE} Hz audio, got {sr} Hz")
    return normalize(fbank(waveform, sr)).numpy().astype(np.float32, copy=False)


def wav_features(path: str) -> np.ndarray:
    """Normalised features float32 [128, 128] of a WAV file (docs/lmuformer.md §1.2)."""
    waveform, sr = load_wav(path)
    if waveform.shape[0] != 1:
        raise ValueError(f"{path}: expected mono audio, got {waveform.shape[0]} channels")
    return waveform_features(waveform, sr)


def wavs_features(paths: Sequence[str], root: Optional[str] = None, workers: int = 1,
                  progress: bool = False) -> np.ndarray:
    """Features of many WAVs -> float32 [clips, 128, 128] (optionally with a process pool)."""
    full = [os.path.join(root, p) if root else p for p in paths]
    out = np.empty((len(full), TARGET_LENGTH, NUM_MEL_BINS), dtype=np.float32)
    if workers > 1:
        import multiprocessing as mp
        with mp.Pool(workers, initializer=_worker_init) as pool:
            it: Iterable = pool.imap(wav_features, full, chunksize=64)
            for i, f in enumerate(it):
                out[i] = f
                if progress and (i + 1) % 2000 == 0:
                    print(f"  features {i + 1}/{len(full)}", flush=True)
    else:
        for i, p in enumerate(full):
            out[i] = wav_features(p)
            if progress and (i + 1) % 2000 == 0:
                print(f"  features {i + 1}/{len(full)}", flush=True)
    return out


def _worker_init():
    torch.set_num_threads(1)


if __name__ == "__main__":  # pragma: no cover - tiny CLI: features of WAVs into one .npy
    import argparse
    ap = argparse.ArgumentParser(description="WAV files -> normalised features .npy "
                                             "[clips, 128, 128] float32 (docs/lmuformer.md §1.2)")
    ap.add_argument("out")
    ap.add_argument("wavs", nargs="+")
    a = ap.parse_args()
    np.save(a.out, wavs_features(a.wavs))
    print(f"wrote {a.out}: {len(a.wavs)} clips")
