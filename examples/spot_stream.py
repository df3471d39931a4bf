#!/usr/bin/env python3
"""Keyword spotting in a long recording: sliding 1 s windows through ``Stream.push_audio``.

    PYTHONPATH=build/python python3 examples/spot_stream.py [LONG.wav] [--model models/slmu_kws.h5]
        [--threshold 0.85] [--hop 0.05] [--refractory 0.3] [--write-wav OUT.wav] [--seed 0]

The shipped spotters classify 1 s clips. To find words in a stream of any length, a window of
1 s starts every ``--hop`` seconds and runs as a clip of its own (a fresh ``Stream``, the audio
pushed through the model's front-end with ``push_audio``, padded by ``finish_audio`` as every
clip is); its confidence is the softmax of its final logits, averaged over the windows that start
within 100 ms (two at the 50 ms hop). A keyword is detected where that confidence reaches
``--threshold``, and goes on while it stays at ``--release`` (0.7) or more; such windows of the
same keyword less than ``--refractory`` apart are one detection, printed once the keyword has
stayed below the release confidence for ``--refractory``. Its time is where the word starts: the start of the last window that still recognised it (the centre of the
windows averaged there). This is exactly what ``lmusim run MODEL --input - --stream`` does in
C++, so the lines printed here are the same as the command's (docs/spotting.md).

Without a WAV argument the example builds its own long recording: eight of the shipped test clips
(``data/demo/``, speakers never heard in training) at irregular places in 30 s of low white noise
(seeded), and checks that each word is found at the time it was placed (within 100 ms).
``--write-wav`` saves that recording, e.g. to try the command:
``sox long.wav -t wav - | lmusim run models/slmu_kws.h5 --input - --stream``.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

import lmusim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = 16000
FRAME_LENGTH, FRAME_SHIFT = 400, 160  # the front-end's 25 ms frames every 10 ms

# Eight shipped test clips of different words that the shipped spotter finds on their own.
DEMO_CLIPS = ["house_1", "seven_0", "six_1", "visual_1", "no_0", "left_0", "yes_1", "happy_0"]


def word_onset(samples: np.ndarray) -> float:
    """Where a clip's word starts [s]: the first 10 ms whose RMS is within 20 dB of the loudest."""
    n = samples.size // FRAME_SHIFT
    rms = np.sqrt((samples[:n * FRAME_SHIFT].reshape(n, FRAME_SHIFT).astype(np.float64) ** 2).mean(axis=1))
    db = 20 * np.log10(rms + 1e-12)
    return float(np.nonzero(db >= db.max() - 20)[0][0] * FRAME_SHIFT / RATE)


def make_stream(seed: int = 0, seconds: float = 30.0, noise_dbfs: float = -50.0, clips=DEMO_CLIPS):
    """A long recording: the clips in a seeded order, one every 3.6 s at a random offset in
    [0.3, 1.5) s within its slot, over white noise at ``noise_dbfs``. Returns (float32 samples
    quantised to PCM16, [(word, start [s]), ...] in time order)."""
    rng = np.random.default_rng(1000 + seed)
    audio = rng.standard_normal(int(seconds * RATE)) * 10 ** (noise_dbfs / 20)
    truth = []
    slot = seconds / len(clips)
    for j, i in enumerate(rng.permutation(len(clips))):
        s, rate = lmusim.read_wav(os.path.join(ROOT, "data", "demo", clips[i] + ".wav"))
        assert rate == RATE
        at = int((j * slot + 0.3 + rng.uniform(0, slot - 2.1)) * RATE)
        audio[at:at + s.size] += s
        truth.append((clips[i].split("_")[0], at / RATE + word_onset(s)))
    pcm = np.clip(np.round(audio * 32768), -32768, 32767).astype(np.int16)
    return pcm.astype(np.float32) / 32768, truth


def write_wav16(path: str, samples: np.ndarray) -> None:
    import wave
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes())


class Spotter:
    """Sliding-window keyword spotting over Stream.push_audio; push audio in chunks of any size."""

    def __init__(self, model, threshold=0.85, hop=0.05, refractory=0.3, smooth=0.1, window=1.0, release=None):
        self.stream = model.stream()
        self.classes = len(model.class_names)
        hop_frames = round(hop * RATE / FRAME_SHIFT)
        if hop_frames < 1 or abs(hop * RATE / FRAME_SHIFT - hop_frames) > 1e-6:
            raise ValueError(f"hop {hop} s: expected a multiple of {FRAME_SHIFT / RATE} s")
        self.hop = hop_frames * FRAME_SHIFT                                # samples
        frames = 1 + (round(window * RATE) - FRAME_LENGTH) // FRAME_SHIFT   # 98 feature frames per window
        self.need = (frames - 1) * FRAME_SHIFT + FRAME_LENGTH               # samples that make them
        self.threshold = threshold
        self.release = min(0.7, threshold) if release is None else release  # hysteresis, as lmusim's --release
        if not 0 < self.release <= threshold:
            raise ValueError(f"release {self.release}: expected a confidence in (0, threshold {threshold}]")
        self.smooth = max(1, round(smooth / hop))
        self.refractory = math.floor(refractory / hop + 1e-9)              # windows
        self.audio = np.zeros(0, dtype=np.float32)
        self.first = 0        # sample index of self.audio[0]
        self.window = 0       # the next window
        self.recent = []      # the last `smooth` windows' probabilities
        self.open = {}        # keyword -> [first, last, peak]

    def _run(self, samples):
        self.stream.restart()
        parts = [self.stream.push_audio(samples, RATE), self.stream.finish_audio()]
        logits = np.concatenate([p[1] for p in parts])[-1, 0].astype(np.float64)  # the window's final logits
        e = np.exp(logits - logits.max())
        return self._detect(e / e.sum())

    def _close(self, c, d):
        a = max(0, d[1] + 1 - self.smooth)
        return ((a + d[1]) * self.hop / (2.0 * RATE), c, d[2])  # (time, keyword, confidence)

    def _detect(self, p):
        self.recent = (self.recent + [p])[-self.smooth:]
        q = np.mean(self.recent, axis=0)
        c = int(q.argmax())
        k = self.window
        self.window += 1
        d = self.open.get(c)
        if q[c] >= self.threshold or (d and q[c] >= self.release):
            if d:
                d[1], d[2] = k, max(d[2], q[c])
            else:
                self.open[c] = [k, k, q[c]]
        ended = sorted((d[1], c) for c, d in self.open.items() if k - d[1] > self.refractory)
        return [self._close(c, self.open.pop(c)) for _, c in ended]

    def push(self, samples):
        """Returns the detections that ended: [(time [s], keyword index, confidence)]."""
        self.audio = np.concatenate([self.audio, np.asarray(samples, dtype=np.float32)])
        out = []
        while self.first + self.audio.size >= self.window * self.hop + self.need:
            start = self.window * self.hop - self.first
            out += self._run(self.audio[start:start + self.need])
            drop = self.window * self.hop - self.first
            self.audio, self.first = self.audio[drop:], self.first + drop
        return out

    def finish(self):
        out = []
        if self.window == 0 and self.audio.size >= FRAME_LENGTH:  # shorter than one window: one short clip
            out += self._run(self.audio)
        ended = sorted((d[1], c) for c, d in self.open.items())
        return out + [self._close(c, self.open.pop(c)) for _, c in ended]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wav", nargs="?", help="a 16 kHz mono WAV (default: build a 30 s recording from data/demo/)")
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "slmu_kws.h5"))
    ap.add_argument("--threshold", type=float, default=0.85)
    ap.add_argument("--release", type=float, default=None,
                    help="an open detection goes on while its confidence is >= this (default 0.7, at most --threshold)")
    ap.add_argument("--hop", type=float, default=0.05, help="between window starts [s]")
    ap.add_argument("--refractory", type=float, default=0.3, help="[s]")
    ap.add_argument("--chunk-ms", type=float, default=10.0, help="audio per push [ms] (the results do not depend on it)")
    ap.add_argument("--seed", type=int, default=0, help="for the built recording")
    ap.add_argument("--write-wav", help="save the built recording here")
    ap.add_argument("--json", action="store_true", help="also print the detections as one JSON list")
    a = ap.parse_args()

    model = lmusim.load_model(a.model)
    truth = None
    if a.wav:
        audio, rate = lmusim.read_wav(a.wav)
        if rate != RATE:
            sys.exit(f"{a.wav}: {rate} Hz, expected {RATE} (sox in.wav -r 16000 out.wav)")
    else:
        audio, truth = make_stream(a.seed)
        print("built a 30 s recording: " + ", ".join(f"{w} at {t:.3f} s" for w, t in truth))
        if a.write_wav:
            write_wav16(a.write_wav, audio)
            print(f"wrote {a.write_wav}")
    spotter = Spotter(model, a.threshold, a.hop, a.refractory, release=a.release)
    found = []
    step = max(1, int(round(a.chunk_ms * 1e-3 * RATE)))

    def show(ds):
        for t, c, conf in ds:
            word = model.class_names[c]
            print(f"{t:9.3f} s  {word:<10s} {conf:.4f}", flush=True)
            found.append((t, word, float(conf)))

    for i in range(0, audio.size, step):
        show(spotter.push(audio[i:i + step]))
    show(spotter.finish())
    if a.json:
        print(json.dumps([{"time": round(t, 3), "keyword": w, "confidence": round(c, 4)} for t, w, c in found]))
    if truth is not None:
        right = 0
        for w, t in truth:
            hits = [f for f in found if f[1] == w and abs(f[0] - t) <= 0.1]
            right += bool(hits)
            err = f"{hits[0][0] - t:+.3f} s" if hits else "missed"
            print(f"  {w:10s} placed at {t:7.3f} s: {err}")
        extra = len(found) - right
        print(f"{right}/{len(truth)} keywords found at the right time (within 100 ms), {extra} other detection(s)")
        return 0 if right == len(truth) and extra == 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
