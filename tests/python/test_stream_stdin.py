"""Keyword spotting in audio from standard input: `lmusim run MODEL --input - --stream`
(apps/run_spot.cpp, docs/spotting.md).

- standard input, in any chunking (1 byte up, with flushes), gives the same detection lines and the
  same output file as the same audio from a file (`--input FILE --stream --spot`), and raw PCM16
  (`--raw`) the same as a WAV;
- a 30 s recording with 8 keywords (shipped test clips, pauses, low noise) gives the 8 keywords at
  the times they were placed (within 100 ms), and the Python example (Stream.push_audio) prints the
  same lines as the command;
- detections come out while the input is still open; EOF ends the run; Ctrl-C keeps the output;
- one second from standard input is the clip `lmusim run --input clip.wav --stream` runs;
- headers of other audio, truncated input and misused options are one clear line, exit status 2.
"""
import importlib.util
import os
import select
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

from testenv import LMUSIM, ROOT, assert_same_datasets, cli, h5_datasets, require_core

lmusim = require_core()
h5py = pytest.importorskip("h5py")

MODEL = ROOT / "models" / "slmu_kws.h5"
RATE = 16000

_spec = importlib.util.spec_from_file_location("spot_stream", ROOT / "examples" / "spot_stream.py")
spot_stream = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spot_stream)


def wav_bytes(samples, rate=RATE, channels=1, bits=16, fmt=1, data_size=None):
    """A WAV file's bytes; samples float in [-1, 1) (PCM16 / float32) or raw bytes."""
    if isinstance(samples, (bytes, bytearray)):
        data = bytes(samples)
    elif fmt == 3:
        data = np.asarray(samples, dtype="<f4").tobytes()
    else:
        data = np.clip(np.round(np.asarray(samples) * 32768), -32768, 32767).astype("<i2").tobytes()
    size = len(data) if data_size is None else data_size
    block = channels * bits // 8
    hdr = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    hdr += b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * block, block, bits)
    return hdr + b"data" + struct.pack("<I", size) + data


def pcm(samples):
    return np.clip(np.round(np.asarray(samples) * 32768), -32768, 32767).astype("<i2").tobytes()


def lines(text):
    """The detection lines of stdout: [(time, keyword, confidence)]."""
    out = []
    for ln in text.splitlines():
        t, unit, word, conf = ln.split()
        assert unit == "s"
        out.append((float(t), word, float(conf)))
    return out


def feed(args, data, chunk, pause_every=0):
    """Runs lmusim with `data` written to its standard input `chunk` bytes at a time, flushed
    after each write; returns (returncode, stdout, stderr)."""
    p = subprocess.Popen([LMUSIM, *map(str, args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = p.stdin.fileno()
    try:
        for i in range(0, len(data), chunk):
            os.write(fd, data[i:i + chunk])
            if pause_every and (i // chunk) % pause_every == 0:
                time.sleep(0.001)
    except BrokenPipeError:
        pass
    p.stdin.close()
    out, err = p.stdout.read(), p.stderr.read()  # a few lines each: no pipe fills up
    return p.wait(timeout=300), out.decode(), err.decode()


def wait_until_idle(pid, timeout=120):
    """Waits until the process has used no CPU time for 0.6 s (Linux: /proc/PID/stat)."""
    def cpu():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    deadline, last, still = time.time() + timeout, -1, 0
    while time.time() < deadline and still < 3:
        time.sleep(0.2)
        now = cpu()
        still = still + 1 if now == last else 0
        last = now


@pytest.fixture(scope="module")
def short_stream():
    """5 s: two words (six, happy) with pauses and noise."""
    return spot_stream.make_stream(3, seconds=5.0, clips=["six_1", "happy_0"])


@pytest.fixture(scope="module")
def long_stream():
    """30 s: eight keywords."""
    return spot_stream.make_stream(0)


@pytest.fixture(scope="module")
def from_file(tmp_path_factory, short_stream):
    """The short stream spotted from a file: (stdout lines, output file)."""
    d = tmp_path_factory.mktemp("spot_file")
    wav = d / "short.wav"
    wav.write_bytes(wav_bytes(short_stream[0]))
    r = cli("run", MODEL, "--input", wav, "--stream", "--spot", "--output", d / "file.h5", "--quiet")
    return lines(r.stdout), d / "file.h5"


def test_file_spotting_finds_the_words(from_file, short_stream):
    found, _ = from_file
    truth = short_stream[1]
    assert [w for _, w, _ in found] == [w for w, _ in truth]
    for (t, _, conf), (_, t0) in zip(found, truth):
        assert abs(t - t0) <= 0.1 and 0.8 <= conf <= 1


@pytest.mark.parametrize("chunk,read_ms", [(1, 0.0625), (7, 0.5), (160, 10), (4096, 10), (4096, 1000)])
def test_stdin_in_any_chunking_equals_the_file(tmp_path, short_stream, from_file, chunk, read_ms):
    want, file_out = from_file
    out = tmp_path / "stdin.h5"
    rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream", "--output", out, "--quiet", "--chunk-ms", read_ms],
                           wav_bytes(short_stream[0]), chunk, pause_every=97 if chunk < 160 else 1)
    assert rc == 0, err
    assert lines(stdout) == want
    assert_same_datasets(out, file_out)
    with h5py.File(out, "r") as f:
        assert f.attrs["mode"] == "spot" and f.attrs["input_file"] == "-"
        assert f["status/complete"][()] == 1
        assert f["logits"].shape == (int((5.0 - 1.0) / 0.05) + 1, 35)  # a window every 50 ms


def test_raw_pcm16_equals_wav(tmp_path, short_stream, from_file):
    want, file_out = from_file
    rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream", "--raw", "--quiet", "--output", tmp_path / "raw.h5"],
                           pcm(short_stream[0]), 333)
    assert rc == 0, err
    assert lines(stdout) == want
    assert_same_datasets(tmp_path / "raw.h5", file_out)
    raw = tmp_path / "short.raw"
    raw.write_bytes(pcm(short_stream[0]))
    assert lines(cli("run", MODEL, "--input", raw, "--stream", "--spot", "--raw", "--quiet").stdout) == want


def test_thirty_seconds_eight_keywords_at_their_times(long_stream):
    audio, truth = long_stream
    assert len(truth) == 8 and len({w for w, _ in truth}) == 8
    rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream"], wav_bytes(audio), 4096)
    assert rc == 0, err
    found = lines(stdout)
    assert [w for _, w, _ in found] == [w for w, _ in truth], stdout
    errors = [t - t0 for (t, _, _), (_, t0) in zip(found, truth)]
    assert max(abs(e) for e in errors) <= 0.1, errors
    assert "8 detection(s) in 30.00 s of audio (581 windows)" in err
    # The Python example, on Stream.push_audio, prints the same lines.
    model = lmusim.load_model(MODEL)
    sp = spot_stream.Spotter(model)
    got = []
    for i in range(0, audio.size, 1234):
        got += sp.push(audio[i:i + 1234])
    got += sp.finish()
    text = "".join(f"{t:9.3f} s  {model.class_names[c]:<10s} {conf:.4f}\n" for t, c, conf in got)
    assert text == stdout


def test_detections_come_out_before_the_end_of_input(short_stream):
    audio, truth = short_stream
    data = wav_bytes(audio)
    first_word_at = truth[0][1]
    # enough for the first word's windows and the refractory period, not the second word's
    upto = 44 + 2 * int((first_word_at + 2.4) * RATE)
    assert upto < 44 + 2 * int(truth[1][1] * RATE) + 2 * RATE
    p = subprocess.Popen([LMUSIM, "run", MODEL, "--input", "-", "--stream", "--quiet"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(data[:upto])
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 60)
        assert ready, "no detection while the input was open"
        line = p.stdout.readline().decode()
        assert line.split()[2] == truth[0][0]
        assert p.poll() is None  # still listening
        p.stdin.write(data[upto:])
        p.stdin.close()
        rest = p.stdout.read().decode()
        assert p.wait(timeout=60) == 0
        assert [w for _, w, _ in lines(line + rest)] == [w for w, _ in truth]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ctrl_c_keeps_what_was_spotted(tmp_path, short_stream):
    out = tmp_path / "int.h5"
    p = subprocess.Popen([LMUSIM, "run", MODEL, "--input", "-", "--stream", "--output", out], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(wav_bytes(short_stream[0])[:44 + 2 * 3 * RATE])  # 3 s, then silence on the line
        p.stdin.flush()
        wait_until_idle(p.pid)  # every window of those 3 s ran; blocked reading
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=60) == 130
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdin.close()
    assert "interrupted" in p.stderr.read().decode()
    with h5py.File(out, "r") as f:
        assert f["status/complete"][()] == 0
        assert f["logits"].shape[0] == f["status/clips_done"][()] == int((3.0 - 1.0) / 0.05) + 1


def test_one_second_is_the_clip_that_run_streams(tmp_path):
    clip = ROOT / "data" / "demo" / "cat_0.wav"
    r = feed(["run", MODEL, "--input", "-", "--stream", "--quiet", "--output", tmp_path / "spot.h5"], clip.read_bytes(), 512)
    assert r[0] == 0, r[2]
    cli("run", MODEL, "--input", clip, "--stream", "--output", tmp_path / "clip.h5")
    a, b = h5_datasets(tmp_path / "spot.h5"), h5_datasets(tmp_path / "clip.h5")
    assert a["logits"].shape == b["logits"].shape == (1, 35)
    for k in b:
        if k.startswith(("logits", "frame_logits", "predictions", "spike_counts/per_neuron", "ops/")):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


BAD = [
    ("rate", wav_bytes(np.zeros(4410), rate=44100), ["the WAV header says 44100 Hz", "expected 16000 Hz"]),
    ("stereo", wav_bytes(np.zeros(400), channels=2), ["2 channels", "mono"]),
    ("24-bit", wav_bytes(bytes(300), bits=24), ["PCM 24-bit", "PCM 16-bit"]),
    ("8-bit", wav_bytes(bytes(300), bits=8), ["PCM 8-bit", "PCM 16-bit"]),
    ("float64", wav_bytes(bytes(800), bits=64, fmt=3), ["float 64-bit", "float 32-bit"]),
    ("mu-law", wav_bytes(bytes(100), bits=8, fmt=7), ["sample format code 7"]),
    ("headerless", pcm(np.full(1000, 0.1)), ["not a WAV stream", "--raw"]),
    ("not WAVE", b"RIFF\x10\0\0\0AVI LIST\0\0\0\0", ["'AVI '", "expected 'WAVE'"]),
    ("short header", wav_bytes(np.zeros(100))[:30], ["truncated", "inside the WAV header"]),
    ("empty", b"", ["no input", "WAV header"]),
]


@pytest.mark.parametrize("name,data,expect", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_clear_line(tmp_path, name, data, expect):
    out = tmp_path / "out.h5"
    rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream", "--quiet", "--output", out], data, 4096)
    assert rc == 2, err
    msg = [ln for ln in err.splitlines() if ln.startswith("lmusim: error:")]
    assert len(msg) == 1 and "standard input" in msg[0], err
    for e in expect:
        assert e in msg[0]
    assert not out.exists() and not (tmp_path / "out.h5.partial").exists()  # no output for a bad header


def test_truncated_data_keeps_what_arrived(tmp_path, short_stream):
    audio, truth = short_stream
    data = wav_bytes(audio)
    cut = 44 + 2 * int((truth[0][1] + 2.4) * RATE)
    out = tmp_path / "cut.h5"
    rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream", "--quiet", "--output", out], data[:cut], 4096)
    assert rc == 2
    assert f"truncated: the WAV data chunk declares {len(data) - 44} bytes, the input ended after {cut - 44}" in err
    assert lines(stdout)[0][1] == truth[0][0]  # what was spotted before the end is reported
    with h5py.File(out, "r") as f:
        assert f["status/complete"][()] == 0 and f["logits"].shape[0] > 0
    # raw input that ends inside a sample
    rc, _, err = feed(["run", MODEL, "--input", "-", "--stream", "--raw", "--quiet"], pcm(audio[:20000]) + b"\x01", 4096)
    assert rc == 2 and "inside a sample" in err


def test_unknown_length_streams_read_to_the_end(short_stream, from_file):
    # what sox and arecord write to a pipe: a data size they cannot know
    for size in (0x7FFFF000, 0x7FFFFFFF, 0):
        rc, stdout, err = feed(["run", MODEL, "--input", "-", "--stream", "--quiet"],
                               wav_bytes(short_stream[0], data_size=size), 4096)
        assert rc == 0, err
        assert lines(stdout) == from_file[0]


@pytest.mark.parametrize("args,expect", [
    (["--input", "-"], "add --stream"),
    (["--input", "x.npy", "--raw"], "--raw is for keyword spotting"),
    (["--input", "x.npy", "--threshold", "0.5"], "--threshold is for keyword spotting"),
    (["--input", "x.npy", "--release", "0.5"], "--release is for keyword spotting"),
    (["--input", "-", "--stream", "--threshold", "0.6", "--release", "0.7"], "--release 0.7: expected a confidence in (0, --threshold 0.6]"),
    (["--input", "-", "--stream", "--hop", "15ms"], "--hop 15 ms: expected a positive multiple"),
    (["--input", "-", "--stream", "--hop", "2s"], "longer than the 1000 ms window"),
    (["--input", "-", "--stream", "--refractory", "soon"], "--refractory 'soon'"),
    (["--input", "-", "x.wav", "--stream"], "reads one stream"),
])
def test_misused_options(args, expect):
    r = subprocess.run([LMUSIM, "run", str(MODEL), *args], input=b"", capture_output=True)
    assert r.returncode == 2, r.stderr
    assert expect in r.stderr.decode()
