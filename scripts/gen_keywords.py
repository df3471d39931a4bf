#!/usr/bin/python3
"""Generate a synthetic Speech-Commands-style keyword dataset with espeak-ng and sox.

The 35 keywords are those of Google Speech Commands V2 in the class order of the Spiking
LMUFormer (docs/lmuformer.md §1.1); label k is row k of
upstream ``speechcommands_class_labels_indices.csv``.

Voices
------
A *speaker* is an espeak-ng voice variant (the files in ``espeak-ng-data/voices/!v``, plus the
plain default voice).  Each clip is spoken by one speaker with one of the English accents that
``espeak-ng --voices=en`` lists (eSpeak's own, not MBROLA, voices); the clip's ``voice`` is
``<accent>+<variant>`` (British English is spelt ``en+<variant>``: espeak-ng ignores a variant
after ``en-gb``).  Speakers are split into train / validation / test (about 70/15/15) by
*family* (e.g. ``klatt``..``klatt6``, ``robosoft``..``robosoft8``, ``whisper``/``whisperf`` are
one family), so validation and test speakers, and their near-duplicates, never occur in
training.  Accents are shared between the splits (they are pronunciation rules, not speakers).
The training split also gets ``--random-per-word`` clips per word from ``--random-voices``
random variants (``rv000``..: every formant's frequency, height and width, the pitch range,
voicing, consonants, roughness and flutter drawn at random, and spectral tilt, stress, intonation
tune, Klatt synthesiser, echo or breath sometimes borrowed, jittered, from a *training* speaker's
variant file; written to private copies of the espeak-ng data under ``OUT/.espeak/<k>``, 250
voices each, because espeak-ng silently ignores voices beyond its 349-voice list; every random
voice is checked to load), so the model meets far more vocal tracts than the 71 built-in
training speakers; validation and test keep only unseen built-in speakers.
Variants whose output equals the default voice's (``fast``: it only sets a speed, which ``-s``
overrides) are dropped.

Per clip (all drawn from a per-clip seeded RNG, so the data set is deterministic)
--------------------------------------------------------------------------------------
* espeak-ng: speed ``-s`` 120-240 wpm, pitch ``-p`` 15-85, amplitude ``-a`` 60-160, word gap
  ``-g`` 0-20 (x10 ms);
* sox: optional band limiting (highpass 60-300 Hz, lowpass 3.4-7.5 kHz) and room reverb, then
  resampling to 16 kHz mono PCM16;
* numpy: trim the synthesiser's leading/trailing silence, random gain (speech RMS -38..-14
  dBFS), random time shift within the 1 s window, zero padding / cutting to exactly 16000
  samples, additive white or brown noise at a random SNR (5-35 dB; 15 % of clips stay clean),
  clip to [-1, 1) and store as 16 kHz mono PCM16 WAV.

Noisy splits (``train_noisy``, ``validation_noisy``, ``test_noisy``)
--------------------------------------------------------------------
Next to the clean splits, which they leave untouched (same clips, same bytes), each clean split
gets a noisy twin spoken by the *same* speakers only (``test_noisy``: the 15 test speakers;
``train_noisy``: the built-in training speakers, every other clip a random voice).  Every
noisy clip is a fresh synthesis (its own seed, so no word instance is shared with any other
split) and draws, per clip:

* tempo 0.85-1.2x (sox ``tempo -s``), trimmed, placed at a random offset in the 1 s window;
* room reverberation with probability 0.5 (sox ``reverb``: reverberance 20-90 %, HF damping
  0-100 %, room scale 20-100 %, pre-delay 0-30 ms);
* additive noise at 0-25 dB SNR (speech power over the word's samples, noise power over the
  clip): white, pink (1/f), or babble: 2-4 talkers, each another speaker of the *same* split
  saying 3-5 words that are not keywords, overlapping at random offsets;
* a channel: none (50 %), band-pass 300-3400 Hz (sox ``sinc``), telephone (band-pass, 8 kHz,
  8-bit mu-law, back to 16 kHz), an 8 kHz round trip, or 8-bit mu-law at 16 kHz (12.5 % each);
* the peak level of the finished clip, -35..-3 dBFS.

The manifest record of a noisy clip has ``conditions`` (tempo, reverb parameters, noise type,
SNR, babble talkers with their voices and words, channel, peak level, offset, speech samples),
so accuracy can be broken down per condition (``scripts/eval_kws.py --split test_noisy``).
Defaults: 300 / 60 / 80 noisy clips per word (``--noisy-train-per-word``,
``--noisy-val-per-word``, ``--noisy-test-per-word``; 0 leaves a split out).

Determinism: every random choice comes from the clip's own seed (derived from ``--seed``, split,
word and index), and sox runs with ``-R -D`` (fixed seeds, no dither), so a re-run writes
byte-identical files.

Output: ``OUT/<split>/<word>/<word>_<nnnnn>.wav`` (random voices: ``<word>_r<nnnnn>.wav``;
noisy splits: ``OUT/<split>_noisy/...``) and ``OUT/manifest.json`` with the generator
settings, the speaker lists per split and one record per clip (path relative to OUT, label,
word, voice, accent, variant, split and the synthesis parameters).

Usage: ``scripts/gen_keywords.py [--out build/data/keywords] [--train-per-word 600] ...``
(defaults: 600 + 600 / 60 / 80 clips per word for train / validation / test, 46,900 clips, about
6 minutes on 2 idle cores (measured: 24,200 clips in 179 s), plus 300 / 60 / 80 noisy clips per
word, 15,400 clips; ``--reuse OLD_OUT`` hard-links the clips whose recipe did not change (the
clean built-in-speaker clips, and the random-voice clips whose voice file is unchanged); ``--demo data/demo`` also writes the shipped demo clips).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
import wave
from collections import Counter, OrderedDict

import numpy as np

#: Class order of docs/lmuformer.md §1.1 (label index = position).
WORDS = ["backward", "follow", "five", "bed", "zero", "on", "learn", "two", "house", "tree",
         "dog", "stop", "seven", "eight", "down", "six", "forward", "cat", "right", "visual",
         "four", "wow", "no", "nine", "off", "three", "left", "marvin", "yes", "up", "sheila",
         "happy", "bird", "go", "one"]

#: English accents of espeak-ng's own voices (``espeak-ng --voices=en``, MBROLA excluded).
ACCENTS = ["en-gb", "en-us", "en-029", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
           "en-gb-x-rp", "en-us-nyc"]

SR = 16000
CLIP = 16000
VARIANT_DIRS = ["/usr/lib/x86_64-linux-gnu/espeak-ng-data/voices/!v",
                "/usr/share/espeak-ng-data/voices/!v"]
DEFAULT_VARIANT = "default"
SPLITS = ("train", "validation", "test")


# ---------------------------------------------------------------------------------------------
# Voices
# ---------------------------------------------------------------------------------------------

def _espeak(voice: str, text: str, extra=()) -> bytes:
    cmd = ["espeak-ng", "-v", voice, *extra, "--stdout", text]
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout


def list_variants() -> list:
    """Names of the installed espeak-ng voice variants that change the voice (sorted)."""
    vdir = next((d for d in VARIANT_DIRS if os.path.isdir(d)), None)
    if vdir is None:
        raise SystemExit("espeak-ng variant directory not found; apt-get install espeak-ng")
    names = sorted(f for f in os.listdir(vdir) if os.path.isfile(os.path.join(vdir, f)))
    ref = hashlib.md5(_espeak("en-us", "bird")).hexdigest()
    keep = [DEFAULT_VARIANT]
    for n in names:
        if hashlib.md5(_espeak("en-us+" + n, "bird")).hexdigest() != ref:
            keep.append(n)
    return keep


def family(variant: str) -> str:
    """Family key: near-duplicate variants (same name stem) share it."""
    f = variant.lower().replace(" ", "")
    f = re.sub(r"\d+$", "", f)
    f = {"anxiousandy": "andy", "whisperf": "whisper", "anikarobot": "anika"}.get(f, f)
    # m1..m8 / f1..f5 are eSpeak's distinct standard male/female voices: keep them separate.
    if re.fullmatch(r"[mf]\d", variant):
        return variant
    return f


def split_variants(variants: list, seed: int, frac=(0.70, 0.15, 0.15)) -> dict:
    """Assign variant families to splits (~frac of the variants each), deterministically."""
    fams = OrderedDict()
    for v in variants:
        fams.setdefault(family(v), []).append(v)
    keys = sorted(fams)
    rng = np.random.default_rng(seed)
    rng.shuffle(keys)
    n = len(variants)
    want = {"validation": round(frac[1] * n), "test": round(frac[2] * n)}
    out = {s: [] for s in SPLITS}
    for k in keys:
        members = fams[k]
        placed = False
        # families of more than 3 variants always go to training (keeps held-out sets diverse)
        if len(members) <= 3:
            for s in ("test", "validation"):
                if len(out[s]) + len(members) <= want[s]:
                    out[s] += members
                    placed = True
                    break
        if not placed:
            out["train"] += members
    return {s: sorted(v) for s, v in out.items()}


# ---------------------------------------------------------------------------------------------
# One clip
# ---------------------------------------------------------------------------------------------

def _clip_seed(seed: int, split: str, word: str, idx: int) -> int:
    h = hashlib.sha256(f"{seed}/{split}/{word}/{idx}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def _trim(x: np.ndarray, rel_db: float = -45.0) -> np.ndarray:
    """Drop leading/trailing samples quieter than rel_db below the loudest 5 ms window."""
    if x.size == 0:
        return x
    w = 80
    n = x.size // w
    if n == 0:
        return x
    e = (x[: n * w].reshape(n, w) ** 2).mean(axis=1)
    thr = e.max() * 10 ** (rel_db / 10)
    idx = np.nonzero(e > thr)[0]
    if idx.size == 0:
        return x
    return x[idx[0] * w: min(x.size, (idx[-1] + 1) * w)]


def _brown(rng, n):
    """Brown (1/f^2) noise: integrated white noise with its slow drift removed (~20 Hz HP)."""
    b = np.cumsum(rng.standard_normal(n + 4000))
    b = b - np.convolve(b, np.ones(801) / 801, mode="same")
    return b[2000:2000 + n]


#: Voice-file attributes that a random voice may borrow from a *training* speaker's variant
#: file (never from a validation or test speaker): spectral tilt (``tone``), stress timing and
#: loudness, intonation tune, Klatt synthesiser, echo, breath.
BORROWED = ("tone", "stressLength", "stressAdd", "stressAmp", "intonation", "klatt", "echo",
            "breath", "breathw")
#: Attributes whose numbers are jittered when borrowed (the others are tables or choices).
JITTERED = ("tone", "stressAdd", "echo", "breath")


def variant_attributes(variants: list) -> dict:
    """{attribute: [argument strings]} over the variant files ``variants`` (their last
    occurrence of each attribute in ``BORROWED``)."""
    vdir = next((d for d in VARIANT_DIRS if os.path.isdir(d)), None)
    out = {k: [] for k in BORROWED}
    for v in variants:
        path = os.path.join(vdir, v) if vdir else ""
        if v == DEFAULT_VARIANT or not os.path.isfile(path):
            continue
        seen = {}
        with open(path, errors="replace") as f:
            for line in f:
                parts = line.split("//")[0].split()
                if parts and parts[0] in out and len(parts) > 1:
                    seen[parts[0]] = " ".join(parts[1:])
        for k, a in seen.items():
            out[k].append(a)
    return out


def random_variant(seed: int, name: str, borrow: dict | None = None) -> str:
    """Text of a random eSpeak voice variant file (training voices only).

    Every formant's frequency, height and width is drawn at random (F1-F3 frequencies usually
    40-160 %, one voice in five anywhere in 5-250 %; F0 and F4-F8 usually 70-130 %, in those
    voices sometimes F4 30-300 % and F5-F8 50-200 %),
    as are the pitch range, voicing, consonant strength, roughness and flutter.  Each of the
    ``BORROWED`` attributes is, with probability 0.3, copied from a random training speaker's
    variant file (``borrow``, from ``variant_attributes``), its numbers jittered by up to
    +-25 % (``JITTERED``); else echo and breath are drawn as in the first version (30 % / 15 %).
    """
    rng = np.random.default_rng(seed)
    lines = ["language variant", f"name {name}",
             f"gender {'female' if rng.random() < 0.5 else 'male'}"]
    wide = rng.random() < 0.2
    for k in range(9):
        if 1 <= k <= 3:
            lo, hi = (5, 250) if wide else (40, 160)
        elif k == 4:
            lo, hi = (30, 300) if wide and rng.random() < 0.5 else (70, 130)
        else:
            # espeak-ng 1.51 can crash (SIGSEGV) with F5-F8 far above 200 %
            lo, hi = (50, 200) if wide and rng.random() < 0.5 else (70, 130)
        freq = int(rng.integers(lo, hi + 1))
        height = int(rng.integers(20, 181)) if rng.random() < 0.8 else int(rng.integers(0, 20))
        width = int(rng.integers(40, 171))
        lines.append(f"formant {k} {freq} {height} {width}")
    base = int(rng.integers(50, 261))
    lines.append(f"pitch {base} {base + int(rng.integers(5, 151))}")
    lines.append(f"voicing {int(rng.integers(15, 161))}")
    lines.append(f"consonants {int(rng.integers(15, 131))} {int(rng.integers(15, 131))}")
    lines.append(f"roughness {int(rng.integers(0, 7))}")
    lines.append(f"flutter {int(rng.integers(0, 41))}")
    borrowed = set()
    for key in BORROWED:
        pool = (borrow or {}).get(key) or []
        if pool and rng.random() < 0.3:
            args = pool[int(rng.integers(len(pool)))].split()
            if key in JITTERED:
                # amplitudes of a tone table are bytes (<= 255)
                args = [str(min(255 if key == "tone" and j % 2 else 1 << 20,
                                max(0, int(round(float(a) * rng.uniform(0.75, 1.25))))))
                        for j, a in enumerate(args)]
            lines.append(f"{key} {' '.join(args)}")
            borrowed.add(key)
    if "echo" not in borrowed and rng.random() < 0.3:
        lines.append(f"echo {int(rng.integers(20, 301))} {int(rng.integers(5, 81))}")
    if "breath" not in borrowed and rng.random() < 0.15:
        b = rng.integers(0, 20, size=8)
        lines.append("breath " + " ".join(str(int(v)) for v in b))
        if "breathw" not in borrowed:
            lines.append("breathw " + " ".join(str(int(v)) for v in rng.integers(100, 500, size=6)))
    return "\n".join(lines) + "\n"


#: Random voices per private espeak-ng data directory: espeak-ng lists at most 349 voices
#: (N_VOICES_LIST) and silently falls back to another voice beyond that.
VOICES_PER_DATA_DIR = 250


def make_espeak_data(out: str, n: int, seed: int, borrow: dict | None = None) -> tuple:
    """Private copies of espeak-ng's data directory under ``OUT/.espeak/<k>/`` holding the
    English languages and ``n`` random variants ``rv000``.. (at most ``VOICES_PER_DATA_DIR``
    per copy; the system's data is left untouched).  Every random voice is checked to load: it
    speaks all the keywords without a warning or crash, and its British-English output differs
    from the plain voice's.  Returns
    ({name: data path}, names, {name: variant text})."""
    import shutil
    src = next((os.path.dirname(d.rstrip("/").rsplit("/", 1)[0]) for d in VARIANT_DIRS
                if os.path.isdir(d)), None)
    if src is None:
        raise SystemExit("espeak-ng data directory not found; apt-get install espeak-ng")
    top = os.path.join(os.path.abspath(out), ".espeak")
    if os.path.isdir(top):
        shutil.rmtree(top)
    paths, names, texts = {}, [], {}
    for i in range(n):
        chunk = i // VOICES_PER_DATA_DIR
        root = os.path.join(top, str(chunk))
        dst = os.path.join(root, "espeak-ng-data")
        if i % VOICES_PER_DATA_DIR == 0:
            # only the English languages and the random variants, so that the voice list
            # stays far below espeak-ng's limit
            shutil.copytree(src, dst, ignore=lambda d, fs: [
                f for f in fs if (os.path.basename(d) == "!v" and not f.startswith("rv"))
                or f == "mb"
                or ("/lang" in d and os.path.isfile(os.path.join(d, f))
                    and not f.lower().startswith("en"))])
        name = f"rv{i:03d}"
        text = random_variant(_clip_seed(seed, "voice", name, 0), name, borrow)
        with open(os.path.join(dst, "voices", "!v", name), "w") as f:
            f.write(text)
        names.append(name)
        texts[name] = text
        paths[name] = root
    plain = {}
    for name in names:
        for accent in ("en-us", "en-gb"):
            # all the keywords: a voice file can make espeak-ng crash on some phonemes only
            r = subprocess.run(["espeak-ng", f"--path={paths[name]}", "-v", voice_name(accent, name),
                                "--stdout", " ".join(WORDS) if accent == "en-us" else "bird"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            if paths[name] not in plain:
                plain[paths[name]] = subprocess.run(
                    ["espeak-ng", f"--path={paths[name]}", "-v", "en-gb", "--stdout", "bird"],
                    check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
            if r.returncode or r.stderr.strip() or (accent == "en-gb"
                                                    and r.stdout == plain[paths[name]]):
                raise SystemExit(f"random voice {name} ({accent}) does not load: "
                                 f"{r.stderr.decode(errors='replace').strip() or 'plain output'}")
    return paths, names, texts


def voice_name(accent: str, variant: str) -> str:
    """The ``-v`` argument for ``accent`` spoken by ``variant``.  espeak-ng 1.51 ignores a
    variant after ``en-gb`` (``en-gb+X`` sounds like plain ``en-gb``), so British English with
    a variant is spelt ``en+X`` (``en`` is the same voice file, ``gmw/en``)."""
    if variant == DEFAULT_VARIANT:
        return accent
    return f"{'en' if accent == 'en-gb' else accent}+{variant}"


def draw_accent(rng: np.random.Generator) -> str:
    """A clip's accent: the first draw from its RNG (``synth_clip``; ``--reuse`` redoes it)."""
    return ACCENTS[int(rng.integers(len(ACCENTS)))]


def draw_speaker(rng: np.random.Generator, variant: str) -> tuple:
    """The clip's accent, espeak-ng voice and synthesis parameters (speed, pitch, amplitude, word
    gap), drawn in this order from the clip's RNG (the order keeps the data set byte-identical)."""
    accent = draw_accent(rng)
    voice = voice_name(accent, variant)
    p = OrderedDict(speed=int(rng.integers(120, 241)), pitch=int(rng.integers(15, 86)),
                    amplitude=int(rng.integers(60, 161)), gap=int(rng.integers(0, 21)))
    return accent, voice, p


def synth_clip(job: dict) -> dict:
    """Synthesise, augment and write one clip; returns its manifest record."""
    if job.get("reuse"):
        return _reuse_clip(job)
    if job.get("noisy"):
        return noisy_clip(job)
    rng = np.random.default_rng(job["seed"])
    word, variant = job["word"], job["variant"]
    accent, voice, p = draw_speaker(rng, variant)
    extra = [f"--path={job['espeak_path']}"] if job.get("espeak_path") else []
    try:
        raw = _espeak(voice, word, [*extra, "-s", str(p["speed"]), "-p", str(p["pitch"]),
                                    "-a", str(p["amplitude"]), "-g", str(p["gap"])])
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{job['rel']}: espeak-ng failed ({e}) for voice {voice}, word "
                           f"{word!r}, {dict(p)}") from None
    effects = []
    if rng.random() < 0.3:
        hp = int(rng.integers(60, 301))
        effects += ["highpass", str(hp)]
        p["highpass"] = hp
    if rng.random() < 0.3:
        lp = int(rng.integers(3400, 7501))
        effects += ["lowpass", str(lp)]
        p["lowpass"] = lp
    if rng.random() < 0.25:
        rev = int(rng.integers(10, 61))
        room = int(rng.integers(10, 71))
        effects += ["reverb", str(rev), "50", str(room)]
        p["reverb"] = [rev, room]
    # -R: repeatable (fixed seeds), -D: no dither, so a re-run gives byte-identical clips
    cmd = ["sox", "-V1", "-R", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16",
           "-c", "1", "-", *effects, "rate", "-h", str(SR), "channels", "1"]
    pcm = subprocess.run(cmd, input=raw, check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    x = _trim(x)
    # random cut if longer than 1 s (rare: slow speech), random gain
    if x.size > CLIP:
        s0 = int(rng.integers(0, x.size - CLIP + 1))
        x = x[s0:s0 + CLIP]
        p["cut"] = True
    rms = float(np.sqrt(np.mean(x ** 2))) + 1e-12
    level_db = float(rng.uniform(-38, -14))
    x = x * (10 ** (level_db / 20) / rms)
    p["level_dbfs"] = round(level_db, 2)
    # random time shift within the 1 s window
    y = np.zeros(CLIP)
    off = int(rng.integers(0, CLIP - x.size + 1))
    y[off:off + x.size] = x
    p["offset"] = off
    p["speech_samples"] = int(x.size)
    # additive noise at a random SNR (relative to the speech power)
    r = rng.random()
    if r < 0.85:
        kind = "white" if r < 0.45 else "brown"
        n = rng.standard_normal(CLIP) if kind == "white" else _brown(rng, CLIP)
        snr = float(rng.uniform(5, 35))
        sp = np.mean(x ** 2)
        n = n * np.sqrt(sp / (np.mean(n ** 2) + 1e-20) / 10 ** (snr / 10))
        y = y + n
        p["noise"] = kind
        p["snr_db"] = round(snr, 2)
    else:
        p["noise"] = "none"
    peak = np.max(np.abs(y))
    if peak > 0.99:
        y *= 0.99 / peak
        p["limited"] = True
    _write_wav(os.path.join(job["out"], job["rel"]), y)
    return OrderedDict(path=job["rel"], label=job["label"], word=word, voice=voice,
                       accent=accent, variant=variant, split=job["split"], params=p)


def _reuse_clip(job: dict) -> dict:
    """Hard-link (or copy) an unchanged clip from an earlier run's output."""
    import shutil
    dst = os.path.join(job["out"], job["rel"])
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.exists(dst):
        os.remove(dst)
    try:
        os.link(job["reuse"], dst)
    except OSError:
        shutil.copyfile(job["reuse"], dst)
    return job["record"]


def reusable(old_dir: str, seed: int) -> dict:
    """{relative path: manifest record} of an earlier run (``--reuse``) with the same seed."""
    path = os.path.join(old_dir, "manifest.json")
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"--reuse {old_dir}: cannot read {path}: {e}")
    if m.get("seed") != seed:
        raise SystemExit(f"--reuse {old_dir}: its seed {m.get('seed')} differs from --seed {seed}")
    return {r["path"]: r for r in m["clips"]}


def write_demo(out: str, records: list, demo: str, per_word: int = 2, split: str = "test") -> None:
    """Copy the first ``per_word`` clips of ``split`` (test or test_noisy) of each word to
    ``demo`` (``<word>_<k>.wav``) and write ``demo/labels.json`` (noisy clips: with their
    conditions)."""
    import shutil
    os.makedirs(demo, exist_ok=True)
    by_path = {r["path"]: r for r in records}
    clips = []
    for label, word in enumerate(WORDS):
        for k in range(per_word):
            rel = f"{split}/{word}/{word}_{k:05d}.wav"
            r = by_path[rel]
            name = f"{word}_{k}.wav"
            shutil.copyfile(os.path.join(out, rel), os.path.join(demo, name))
            if split == "test":
                clips.append(OrderedDict(file=name, label=label, word=word, voice=r["voice"],
                                         split="test", source=rel,
                                         noise=r["params"].get("noise"),
                                         snr_db=r["params"].get("snr_db")))
            else:
                clips.append(OrderedDict(file=name, label=label, word=word, voice=r["voice"],
                                         split=split, source=rel, conditions=r["conditions"]))
    what = ("from the TEST split" if split == "test" else
            "from the NOISY TEST split (test speakers only; noise, reverberation, channel, tempo "
            "and level drawn per clip, see each clip's conditions)")
    labels = OrderedDict(
        description="Synthetic keyword clips (espeak-ng + sox, scripts/gen_keywords.py with its "
                    f"default settings) {what}: speakers (voice variants) never "
                    "heard in training. 16 kHz mono PCM16, 1 s; byte-identical to a re-run of "
                    "the generator.",
        class_names=WORDS, sample_rate=SR, clips=clips)
    with open(os.path.join(demo, "labels.json"), "w") as f:
        json.dump(labels, f, indent=1)
        f.write("\n")
    print(f"{len(clips)} demo clips -> {demo}")


# ---------------------------------------------------------------------------------------------
# Noisy splits: conditions drawn per clip (noise, reverb, channel, tempo, level, offset)
# ---------------------------------------------------------------------------------------------

#: The noisy splits and the clean split whose speakers each one uses.
NOISY_SPLITS = OrderedDict([("train_noisy", "train"), ("validation_noisy", "validation"),
                            ("test_noisy", "test")])
NOISE_KINDS = ("white", "pink", "babble")
#: Channels: none, band-pass 300-3400 Hz, telephone (band-pass, 8 kHz, 8-bit mu-law, back to
#: 16 kHz), an 8 kHz round trip (0-4 kHz), 8-bit mu-law companding at 16 kHz.
CHANNELS = ("none", "bandpass", "telephone", "8k", "mulaw")
CHANNEL_P = (0.5, 0.125, 0.125, 0.125, 0.125)
SNR_RANGE = (0.0, 25.0)
LEVEL_RANGE = (-35.0, -3.0)     # peak level of the finished clip, dBFS
TEMPO_RANGE = (0.85, 1.2)
REVERB_P = 0.5
#: Words the babble talkers say: none of them is a keyword (so the label stays unambiguous).
BABBLE_WORDS = ("water", "table", "morning", "garden", "paper", "window", "yellow", "market",
                "summer", "little", "number", "people", "coffee", "travel", "kitchen",
                "evening", "doctor", "orange", "answer", "letter", "silver", "mountain",
                "picture", "almost", "weather", "pocket", "village", "river", "basket",
                "button", "circle", "minute", "planet", "rabbit", "sugar", "tunnel", "winter",
                "velvet", "camera", "island", "pencil", "ladder", "shadow", "honey",
                "candle", "monkey", "jacket", "bottle", "castle", "dinner")


def draw_conditions(rng: np.random.Generator) -> "OrderedDict":
    """The acoustic conditions of one noisy clip (drawn after its synthesis parameters)."""
    c = OrderedDict()
    c["tempo"] = round(float(rng.uniform(*TEMPO_RANGE)), 3)
    if rng.random() < REVERB_P:
        c["reverb"] = OrderedDict(reverberance=int(rng.integers(20, 91)),
                                  hf_damping=int(rng.integers(0, 101)),
                                  room_scale=int(rng.integers(20, 101)),
                                  pre_delay_ms=int(rng.integers(0, 31)))
    else:
        c["reverb"] = None
    c["noise"] = NOISE_KINDS[int(rng.integers(len(NOISE_KINDS)))]
    c["snr_db"] = round(float(rng.uniform(*SNR_RANGE)), 2)
    c["channel"] = CHANNELS[int(rng.choice(len(CHANNELS), p=CHANNEL_P))]
    c["level_dbfs"] = round(float(rng.uniform(*LEVEL_RANGE)), 2)
    return c


def _sox_float(x: np.ndarray, effects: list, rate_in: int = SR) -> np.ndarray:
    """Run float64 samples through sox ``effects`` (32-bit float raw in and out, -R -D)."""
    cmd = ["sox", "-V1", "-R", "-D", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
           "-r", str(rate_in), "-", "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1", "-",
           *effects]
    out = subprocess.run(cmd, input=x.astype("<f4").tobytes(), check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return np.frombuffer(out, dtype="<f4").astype(np.float64)


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Pink (1/f power) noise: white noise shaped in the frequency domain (no DC)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    spec = spec / np.sqrt(f)
    spec[0] = 0.0
    return np.fft.irfft(spec, n)


def mu_law(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """8-bit mu-law (G.711-style) companding round trip of x in [-1, 1]."""
    y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
    q = (1 << (bits - 1)) - 1
    y = np.round(y * q) / q
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu


def apply_channel(x: np.ndarray, channel: str) -> np.ndarray:
    """The transmission channel on a 16 kHz clip (x peak about 0.5); same length out."""
    if channel == "none":
        y = x
    elif channel == "bandpass":
        y = _sox_float(x, ["sinc", "300-3400"])
    elif channel == "telephone":
        y8 = _sox_float(x, ["sinc", "300-3400", "rate", "-h", "8000"])
        y = _sox_float(mu_law(y8), ["rate", "-h", str(SR)], rate_in=8000)
    elif channel == "8k":
        y = _sox_float(x, ["rate", "-h", "8000", "rate", "-h", str(SR)])
    elif channel == "mulaw":
        y = mu_law(x)
    else:
        raise ValueError(f"unknown channel {channel!r}")
    out = np.zeros(CLIP)
    out[:min(CLIP, y.size)] = y[:CLIP]
    return out


def _speech(voice: str, text: str, p: dict, espeak_path, tempo: float = 1.0) -> np.ndarray:
    """espeak-ng -> sox (tempo, 16 kHz) -> trimmed float64 speech."""
    extra = [f"--path={espeak_path}"] if espeak_path else []
    raw = _espeak(voice, text, [*extra, "-s", str(p["speed"]), "-p", str(p["pitch"]),
                                "-a", str(p["amplitude"]), "-g", str(p["gap"])])
    eff = ["tempo", "-s", f"{tempo:.3f}"] if tempo != 1.0 else []
    cmd = ["sox", "-V1", "-R", "-D", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16",
           "-c", "1", "-", *eff, "rate", "-h", str(SR), "channels", "1"]
    pcm = subprocess.run(cmd, input=raw, check=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout
    return _trim(np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0)


def babble(rng: np.random.Generator, pool: list, own_variant: str) -> tuple:
    """2-4 talkers (speakers of ``pool`` = [(variant, espeak path)], never ``own_variant``),
    each saying 3-5 non-keywords (``BABBLE_WORDS``), overlapping at random offsets in the 1 s
    window.  Returns (noise [CLIP], talker records)."""
    cands = [v for v in pool if v[0] != own_variant]
    k = int(rng.integers(2, 5))
    picks = rng.choice(len(cands), size=min(k, len(cands)), replace=False)
    out, talkers = np.zeros(CLIP), []
    for i in picks:
        variant, path = cands[int(i)]
        accent = draw_accent(rng)
        words = [BABBLE_WORDS[int(j)] for j in rng.choice(len(BABBLE_WORDS), size=int(rng.integers(3, 6)),
                                                           replace=False)]
        p = dict(speed=int(rng.integers(140, 241)), pitch=int(rng.integers(15, 86)),
                 amplitude=100, gap=int(rng.integers(0, 6)))
        x = _speech(voice_name(accent, variant), " ".join(words), p, path)
        x = x / (np.sqrt(np.mean(x ** 2)) + 1e-12) * 10 ** (rng.uniform(-6, 0) / 20)
        start = int(rng.integers(-x.size // 2, CLIP - x.size // 4))
        a, b = max(0, start), min(CLIP, start + x.size)
        if b > a:
            out[a:b] += x[a - start:b - start]
        talkers.append(OrderedDict(voice=voice_name(accent, variant), variant=variant,
                                   text=" ".join(words), start=start))
    return out, talkers


def render_noisy(job: dict, conditions: dict | None = None) -> dict:
    """Render one noisy clip: a fresh synthesis of the word (tempo), trimmed and placed at a
    random offset, room reverberation (sox ``reverb``), additive noise at the drawn SNR (speech
    power over the word's samples vs noise power over the clip), the channel, and the peak level.
    ``conditions`` overrides the drawn ones (tests).  Returns the float64 clip, its parts
    (``speech`` and ``noise``, each already scaled by ``gain``, before the channel) and the record."""
    rng = np.random.default_rng(job["seed"])
    word, variant = job["word"], job["variant"]
    accent, voice, p = draw_speaker(rng, variant)
    c = draw_conditions(rng)
    if conditions:
        c.update(conditions)
    try:
        x = _speech(voice, word, p, job.get("espeak_path"), c["tempo"])
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{job['rel']}: espeak-ng/sox failed ({e}) for voice {voice}") from None
    if x.size > CLIP:
        s0 = int(rng.integers(0, x.size - CLIP + 1))
        x = x[s0:s0 + CLIP]
        c["cut"] = True
    x = x / (np.sqrt(np.mean(x ** 2)) + 1e-12) * 0.05
    off = int(rng.integers(0, CLIP - x.size + 1))
    c["offset"] = off
    c["speech_samples"] = int(x.size)
    speech = np.zeros(CLIP)
    speech[off:off + x.size] = x
    if c["reverb"]:
        r = c["reverb"]
        speech = _sox_float(speech, ["reverb", str(r["reverberance"]), str(r["hf_damping"]),
                                     str(r["room_scale"]), "100", str(r["pre_delay_ms"])])[:CLIP]
        speech = np.pad(speech, (0, CLIP - speech.size))
    # noise source: its own RNG stream (so forcing a noise kind keeps the speech identical)
    nrng = np.random.default_rng(job["seed"] ^ 0x5EED)
    if c["noise"] == "white":
        noise = nrng.standard_normal(CLIP)
    elif c["noise"] == "pink":
        noise = pink_noise(nrng, CLIP)
    elif c["noise"] == "babble":
        noise, c["babble"] = babble(nrng, job["babble_pool"], variant)
    elif c["noise"] == "none":
        noise = np.zeros(CLIP)
    else:
        raise ValueError(f"unknown noise {c['noise']!r}")
    span = slice(off, off + x.size)
    sp = float(np.mean(speech[span] ** 2))
    pn = float(np.mean(noise ** 2))
    if pn > 0:
        noise = noise * np.sqrt(sp / pn / 10 ** (c["snr_db"] / 10))
    mix = speech + noise
    g0 = 0.5 / (np.max(np.abs(mix)) + 1e-12)
    y = apply_channel(mix * g0, c["channel"])
    gain = 10 ** (c["level_dbfs"] / 20) / (np.max(np.abs(y)) + 1e-12)
    rec = OrderedDict(path=job["rel"], label=job["label"], word=word, voice=voice, accent=accent,
                      variant=variant, split=job["split"], params=p, conditions=c)
    return dict(clip=y * gain, speech=speech * g0 * gain, noise=noise * g0 * gain, span=span,
                record=rec)


def _write_wav(path: str, y: np.ndarray) -> None:
    out = np.clip(np.round(y * 32768.0), -32768, 32767).astype("<i2")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(out.tobytes())


def noisy_clip(job: dict) -> dict:
    r = render_noisy(job)
    _write_wav(os.path.join(job["out"], job["rel"]), r["clip"])
    return r["record"]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/data/keywords")
    ap.add_argument("--seed", type=int, default=20240707)
    ap.add_argument("--train-per-word", type=int, default=600)
    ap.add_argument("--val-per-word", type=int, default=60)
    ap.add_argument("--test-per-word", type=int, default=80)
    ap.add_argument("--random-voices", type=int, default=500,
                    help="random eSpeak voice variants added to the training split (0: none)")
    ap.add_argument("--random-per-word", type=int, default=600,
                    help="extra training clips per word spoken by the random voices")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--reuse", metavar="DIR", default=None,
                    help="hard-link the clean clips whose recipe is unchanged (same seed, path, "
                         "speaker and voice string; random voices: same voice file) from an "
                         "earlier run's output instead of synthesising them again (noisy clips "
                         "are always made)")
    ap.add_argument("--noisy-train-per-word", type=int, default=300,
                    help="clips per word of train_noisy (training speakers, half of them random "
                         "voices; babble from other training speakers)")
    ap.add_argument("--noisy-val-per-word", type=int, default=60,
                    help="clips per word of validation_noisy (validation speakers only)")
    ap.add_argument("--noisy-test-per-word", type=int, default=80,
                    help="clips per word of test_noisy (test speakers only, babble from other "
                         "test speakers)")
    ap.add_argument("--demo", metavar="DIR", default=None,
                    help="also copy the first 2 test clips per word to DIR with a labels.json "
                         "(how data/demo/ is made)")
    ap.add_argument("--demo-noisy", metavar="DIR", default=None,
                    help="also copy the first 2 test_noisy clips per word to DIR with a "
                         "labels.json (how data/demo_noisy/ is made)")
    args = ap.parse_args(argv)
    if args.demo_noisy and args.noisy_test_per_word < 2:
        ap.error("--demo-noisy needs --noisy-test-per-word >= 2")

    t0 = time.time()
    variants = list_variants()
    splits = split_variants(variants, args.seed)
    print(f"{len(variants)} speakers (variants incl. default) x {len(ACCENTS)} accents")
    for s in SPLITS:
        print(f"  {s:10s} {len(splits[s]):3d}: {' '.join(splits[s])}")
    counts = {"train": args.train_per_word, "validation": args.val_per_word,
              "test": args.test_per_word}
    jobs = []
    for s in SPLITS:
        vs = splits[s]
        for label, word in enumerate(WORDS):
            # speakers cycle in a per-word shuffled order, so each speaker says each word
            # about equally often
            order = np.random.default_rng(_clip_seed(args.seed, s, word, -1)).permutation(len(vs))
            for i in range(counts[s]):
                jobs.append(dict(seed=_clip_seed(args.seed, s, word, i), word=word, label=label,
                                 variant=vs[order[i % len(vs)]], split=s, out=args.out,
                                 rel=f"{s}/{word}/{word}_{i:05d}.wav"))
    os.makedirs(args.out, exist_ok=True)
    if args.reuse:
        old = reusable(args.reuse, args.seed)
        n_reused = 0
        for j in jobs:
            r = old.get(j["rel"])
            if (r is not None and r.get("variant") == j["variant"]
                    and r.get("voice") == voice_name(
                        draw_accent(np.random.default_rng(j["seed"])), j["variant"])
                    and os.path.isfile(os.path.join(args.reuse, j["rel"]))):
                j["reuse"] = os.path.join(args.reuse, j["rel"])
                j["record"] = r
                n_reused += 1
        print(f"reusing {n_reused} unchanged clips from {args.reuse}")
    rv_texts, epaths = {}, {}
    if args.random_voices > 0 and args.random_per_word > 0:
        epaths, rv_names, rv_texts = make_espeak_data(
            args.out, args.random_voices, args.seed, variant_attributes(splits["train"]))
        print(f"  train     +{len(rv_names)} random voices ({args.random_per_word} clips per word)")
        for label, word in enumerate(WORDS):
            order = np.random.default_rng(_clip_seed(args.seed, "train-rv", word, -1)) \
                .permutation(len(rv_names))
            for i in range(args.random_per_word):
                jobs.append(dict(seed=_clip_seed(args.seed, "train-rv", word, i), word=word,
                                 label=label, variant=rv_names[order[i % len(rv_names)]],
                                 split="train", out=args.out,
                                 espeak_path=epaths[rv_names[order[i % len(rv_names)]]],
                                 rel=f"train/{word}/{word}_r{i:05d}.wav"))
        if args.reuse:
            # a random voice's clip is reusable when its voice file is unchanged
            with open(os.path.join(args.reuse, "manifest.json")) as f:
                old_rv = json.load(f).get("random_voices", {})
            n_rv = 0
            for j in jobs:
                r = old.get(j["rel"])
                if (j.get("espeak_path") and r is not None and r.get("variant") == j["variant"]
                        and old_rv.get(j["variant"]) == rv_texts[j["variant"]]
                        and os.path.isfile(os.path.join(args.reuse, j["rel"]))):
                    j["reuse"] = os.path.join(args.reuse, j["rel"])
                    j["record"] = r
                    n_rv += 1
            print(f"reusing {n_rv} random-voice clips with unchanged voice files")
    noisy_counts = {"train_noisy": args.noisy_train_per_word,
                    "validation_noisy": args.noisy_val_per_word,
                    "test_noisy": args.noisy_test_per_word}
    rv_all = sorted(rv_texts)
    for s, base in NOISY_SPLITS.items():
        vs = splits[base]
        pool = [(v, None) for v in vs]
        for label, word in enumerate(WORDS):
            order = np.random.default_rng(_clip_seed(args.seed, s, word, -1)).permutation(len(vs))
            rv_order = (np.random.default_rng(_clip_seed(args.seed, s + "-rv", word, -1))
                        .permutation(len(rv_all)) if rv_all else [])
            for i in range(noisy_counts[s]):
                j = dict(seed=_clip_seed(args.seed, s, word, i), word=word, label=label,
                         variant=vs[order[i % len(vs)]], split=s, out=args.out, noisy=True,
                         babble_pool=pool, rel=f"{s}/{word}/{word}_{i:05d}.wav")
                if base == "train" and rv_all and i % 2 == 1:
                    # every other noisy training clip is spoken by a random voice
                    name = rv_all[rv_order[(i // 2) % len(rv_all)]]
                    j.update(variant=name, espeak_path=epaths[name])
                jobs.append(j)
    print(f"{len(jobs)} clips to generate with {args.workers} workers -> {args.out}", flush=True)
    records = []
    with mp.Pool(args.workers) as pool:
        for k, rec in enumerate(pool.imap(synth_clip, jobs, chunksize=16), 1):
            records.append(rec)
            if k % 1000 == 0 or k == len(jobs):
                el = time.time() - t0
                print(f"  {k}/{len(jobs)} clips, {el:.0f} s elapsed, "
                      f"eta {el / k * (len(jobs) - k):.0f} s", flush=True)
    stats = OrderedDict()
    for s in SPLITS:
        rs = [r for r in records if r["split"] == s]
        stats[s] = OrderedDict(clips=len(rs), speakers=len(splits[s]),
                               voices=len({r["voice"] for r in rs}),
                               per_word=dict(Counter(r["word"] for r in rs)),
                               cut=sum(1 for r in rs if r["params"].get("cut")))
    for s in NOISY_SPLITS:
        rs = [r for r in records if r["split"] == s]
        if rs:
            cs = [r["conditions"] for r in rs]
            stats[s] = OrderedDict(
                clips=len(rs), speakers=len({r["variant"] for r in rs}),
                voices=len({r["voice"] for r in rs}),
                per_word=dict(Counter(r["word"] for r in rs)),
                noise=dict(Counter(c["noise"] for c in cs)),
                channel=dict(Counter(c["channel"] for c in cs)),
                reverb=sum(1 for c in cs if c["reverb"]),
                cut=sum(1 for c in cs if c.get("cut")))
    manifest = OrderedDict(
        generator="scripts/gen_keywords.py", seed=args.seed, sample_rate=SR, samples=CLIP,
        words=WORDS, accents=ACCENTS, speakers=splits, random_voices=rv_texts, stats=stats,
        noisy=OrderedDict(splits=dict(NOISY_SPLITS), noise=NOISE_KINDS, snr_db=SNR_RANGE,
                          channels=dict(zip(CHANNELS, CHANNEL_P)), reverb_p=REVERB_P,
                          tempo=TEMPO_RANGE, peak_level_dbfs=LEVEL_RANGE,
                          babble_words=BABBLE_WORDS),
        clips=records)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    for s in stats:
        st = stats[s]
        print(f"{s:10s} {st['clips']:6d} clips, {st['speakers']} speakers, "
              f"{st['voices']} accent+speaker voices, {st['cut']} cut to 1 s")
    print(f"done in {time.time() - t0:.0f} s; manifest {os.path.join(args.out, 'manifest.json')}")
    if args.demo:
        write_demo(args.out, records, args.demo)
    if args.demo_noisy:
        write_demo(args.out, records, args.demo_noisy, split="test_noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
