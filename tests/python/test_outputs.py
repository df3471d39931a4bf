"""Never destroy a user's file (docs/hardening.md, "Outputs"): for every writer of the CLI and the
Python API,
- an output that is one of the command's inputs (same path, symbolic link, hard link, another
  spelling) is refused before any work, even with --overwrite, and the input keeps every byte;
- an existing output is refused without --overwrite (overwrite=True) and keeps every byte;
- --overwrite replaces it with a valid file;
- while another writer holds the path, the writer is refused and the file keeps every byte.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from testenv import LMUSIM, ROOT, cli, require_core

lmusim = require_core()
from lmusim._outputs import _Lock  # noqa: E402  (the lock another writer would hold)

pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")

CUBA = ["--neurons", "200", "--quiet"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Inputs of every kind, made once: a model and its checkpoint, features, a WAV, a network,
    a network checkpoint, CUBA checkpoint, a clip output."""
    d = tmp_path_factory.mktemp("outputs")
    shutil.copy(ROOT / "models" / "slmu_kws.h5", d / "model.h5")
    shutil.copy(ROOT / "models" / "slmu_kws.pth", d / "model.pth")
    shutil.copy(ROOT / "data" / "demo" / "yes_0.wav", d / "clip.wav")
    np.save(d / "x.npy", lmusim.features(str(d / "clip.wav"))[None])
    cli("cuba", *CUBA, "--duration", "5ms", "--save-network", d / "net.h5")
    cli("run", d / "net.h5", "--duration", "5ms", "--checkpoint", d / "net_ck.h5", "--quiet")
    cli("cuba", *CUBA, "--duration", "5ms", "--checkpoint", d / "cuba_ck.h5")
    cli("run", d / "model.h5", "--input", d / "x.npy", "--output", d / "clips.h5", "--per-frame-counts")
    return d


def _refusal(r, prefix):
    """None for success; for a refusal (exit 2, exactly one line on stderr) that line."""
    if r.returncode == 0:
        return None
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(prefix), r.stderr
    return lines[0]


def _cli_writer(*args):
    def write(env, out, overwrite):
        r = cli(*[a(env) if callable(a) else a for a in args], out, *(["--overwrite"] if overwrite else []), check=False)
        return _refusal(r, "lmusim: error: ")
    return write


def _convert_cli(env, out, overwrite):
    r = subprocess.run([sys.executable, "-m", "lmusim.convert", str(env / "model.pth"), str(out),
                        *(["--overwrite"] if overwrite else [])], capture_output=True, text=True)
    return _refusal(r, "lmusim.convert: error: ")


def _py(fn):
    def write(env, out, overwrite):
        try:
            fn(env, str(out), overwrite)
        except lmusim.Error as e:
            assert "\n" not in str(e)
            return str(e)
        return None
    return write


def _stream_save(env, out, overwrite):
    s = lmusim.load_model(env / "model.h5").stream()
    s.push(np.load(env / "x.npy")[0, :7])
    s.save_state(out, overwrite=overwrite)


def _sim(env):
    return lmusim.Simulation(lmusim.Network.load(str(env / "net.h5")), threads=1)


def _fmt(kind):
    def valid(path):
        with h5py.File(path, "r") as f:
            assert f.attrs["format"] == kind, dict(f.attrs)
    return valid


def _npy(path):
    assert np.load(path).shape == (128, 128)


def _png(path):
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# name: (write(env, out, overwrite) -> error line or None, inputs (names in env), check of a valid output)
WRITERS = {
    "run --output (features)": (_cli_writer("run", lambda e: e / "model.h5", "--input", lambda e: e / "x.npy", "--output"),
                                ["model.h5", "x.npy"], _fmt("lmusim-clips")),
    "run --output (WAV)": (_cli_writer("run", lambda e: e / "model.h5", "--input", lambda e: e / "clip.wav", "--output"),
                           ["model.h5", "clip.wav"], _fmt("lmusim-clips")),
    "run --record": (_cli_writer("run", lambda e: e / "net.h5", "--duration", "5ms", "--quiet", "--record"),
                     ["net.h5"], _fmt("lmusim-recording")),
    "run --checkpoint": (_cli_writer("run", lambda e: e / "net.h5", "--duration", "5ms", "--quiet", "--checkpoint"),
                         ["net.h5"], _fmt("lmusim-checkpoint")),
    "run --resume --record": (_cli_writer("run", lambda e: e / "net.h5", "--duration", "10ms", "--quiet", "--resume",
                                          lambda e: e / "net_ck.h5", "--record"),
                              ["net.h5", "net_ck.h5"], _fmt("lmusim-recording")),
    "cuba --record": (_cli_writer("cuba", *CUBA, "--duration", "10ms", "--resume", lambda e: e / "cuba_ck.h5", "--record"),
                      ["cuba_ck.h5"], _fmt("lmusim-recording")),
    "cuba --save-network": (_cli_writer("cuba", *CUBA, "--duration", "10ms", "--resume", lambda e: e / "cuba_ck.h5",
                                        "--save-network"),
                            ["cuba_ck.h5"], _fmt("lmusim-network")),
    "cuba --checkpoint": (_cli_writer("cuba", *CUBA, "--duration", "5ms", "--checkpoint"), [], _fmt("lmusim-checkpoint")),
    "features": (_cli_writer("features", lambda e: e / "clip.wav"), ["clip.wav"], _npy),
    "report --plot": (_cli_writer("report", lambda e: e / "clips.h5", "--plot"), ["clips.h5"], _png),
    "python3 -m lmusim.convert": (_convert_cli, ["model.pth"], _fmt("lmusim-network")),
    "lmusim.convert()": (_py(lambda e, out, ow: lmusim.convert(e / "model.pth", out, overwrite=ow)),
                         ["model.pth"], _fmt("lmusim-network")),
    "Model.run(output=)": (_py(lambda e, out, ow: lmusim.load_model(e / "model.h5").run(
        [str(e / "clip.wav")], output=out, overwrite=ow)), ["model.h5", "clip.wav"], _fmt("lmusim-clips")),
    "Stream.save_state": (_py(_stream_save), ["model.h5"], _fmt("lmusim-checkpoint")),
    "Simulation.save_state": (_py(lambda e, out, ow: _sim(e).save_state(out, overwrite=ow)), [],
                              _fmt("lmusim-checkpoint")),
    "Simulation.run(record_file=)": (_py(lambda e, out, ow: _sim(e).run(50, record_file=out, overwrite=ow)), [],
                                     _fmt("lmusim-recording")),
    "Network.save": (_py(lambda e, out, ow: lmusim.Network.load(str(e / "net.h5")).save(out, overwrite=ow)), [],
                     _fmt("lmusim-network")),
    "plot_report": (_py(lambda e, out, ow: lmusim.plot_report(e / "clips.h5", out, overwrite=ow)), ["clips.h5"], _png),
}


def _name(valid):
    return "out" + {_npy: ".npy", _png: ".png"}.get(valid, ".h5")


def spellings(env, tmp_path, name):
    """The input itself, a symbolic link, a hard link, and a roundabout spelling."""
    target = env / name
    link = tmp_path / f"symlink_{name}"
    link.symlink_to(target)
    hard = tmp_path / f"hardlink_{name}"
    os.link(target, hard)
    return [target, link, hard, Path(f"{env}/./no_such_dir/../{name}")]


@pytest.mark.parametrize("writer", WRITERS)
def test_an_output_is_never_an_input(env, tmp_path, writer):
    write, inputs, _ = WRITERS[writer]
    if not inputs:
        pytest.skip("no input files")
    for name in inputs:
        before = (env / name).read_bytes()
        for out in spellings(env, tmp_path, name):
            err = write(env, out, True)  # even with --overwrite
            assert err is not None, f"{writer} wrote over its input {name} as {out}"
            assert "is the input" in err and str(out) in err and name in err, err
            assert (env / name).read_bytes() == before
        for p in tmp_path.iterdir():
            p.unlink()


@pytest.mark.parametrize("writer", WRITERS)
def test_existing_output_needs_overwrite(env, tmp_path, writer):
    write, _, valid = WRITERS[writer]
    out = tmp_path / _name(valid)
    out.write_bytes(b"the user's file")
    err = write(env, out, False)
    assert err is not None and "exists" in err and "--overwrite" in err and str(out) in err, err
    assert out.read_bytes() == b"the user's file"
    assert write(env, out, True) is None
    valid(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no partial or lock file left
    fresh = tmp_path / ("fresh_" + out.name)
    assert write(env, fresh, False) is None  # a new path needs no flag
    valid(fresh)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_path_being_written_is_refused(env, tmp_path, writer):
    write, _, valid = WRITERS[writer]
    out = tmp_path / _name(valid)
    out.write_bytes(b"the user's file")
    lock = _Lock(str(out))  # another writer at work on the same path
    try:
        err = write(env, out, True)
        assert err is not None and "being written by another lmusim writer" in err, err
        assert out.read_bytes() == b"the user's file"
    finally:
        lock.release()
    assert write(env, out, True) is None
    valid(out)


def test_resuming_into_its_own_checkpoint_needs_no_overwrite(env, tmp_path):
    ck = tmp_path / "ck.h5"
    shutil.copy(env / "net_ck.h5", ck)
    link = tmp_path / "ck_link.h5"
    link.symlink_to(ck)
    r = cli("run", env / "net.h5", "--duration", "10ms", "--quiet", "--resume", ck, "--checkpoint", link)
    assert "checkpoint" in r.stdout
    assert ck.is_file() and link.is_symlink()  # written through the link
    r = cli("run", env / "net.h5", "--duration", "15ms", "--resume", ck)
    assert "resumed      at step 100" in r.stdout
    # ... but another existing file still needs --overwrite, and the network is never replaced
    other = tmp_path / "other.h5"
    other.write_bytes(b"keep")
    r = cli("run", env / "net.h5", "--duration", "15ms", "--quiet", "--resume", ck, "--checkpoint", other, check=False)
    assert r.returncode == 2 and "exists" in r.stderr and other.read_bytes() == b"keep"
    r = cli("run", env / "net.h5", "--duration", "15ms", "--quiet", "--resume", ck, "--checkpoint", env / "net.h5",
            "--overwrite", check=False)
    assert r.returncode == 2 and "is the input" in r.stderr


def test_two_outputs_of_one_command_are_refused(env, tmp_path):
    out = tmp_path / "r.h5"
    r = cli("run", env / "net.h5", "--duration", "5ms", "--record", out, "--checkpoint", f"{tmp_path}/./r.h5", check=False)
    assert r.returncode == 2 and "two outputs are the same file" in r.stderr
    assert not out.exists()


def test_two_processes_one_path(env, tmp_path):
    """A long recording holds its output; a second process writing the same path (even with
    --overwrite) is refused, and the first one's file is complete and valid."""
    out = tmp_path / "rec.h5"
    first = subprocess.Popen([LMUSIM, "cuba", "--neurons", "4000", "--duration", "100s", "--record", str(out),
                              "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not Path(f"{out}.partial").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert Path(f"{out}.partial").exists()
        second = cli("cuba", "--neurons", "300", "--duration", "5ms", "--record", out, "--overwrite", "--quiet",
                     check=False)
        assert second.returncode == 2 and "being written by another lmusim writer" in second.stderr, second.stderr
        net = lmusim.Network.load(str(env / "net.h5"))
        with pytest.raises(lmusim.Error, match="another lmusim writer"):
            net.save(str(out), overwrite=True)
    finally:
        first.send_signal(signal.SIGINT)  # stop early: the file is closed and renamed into place
        _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "lmusim-recording" and f.attrs["neurons"] == "4000"
        assert f["status/steps_done"][()] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.h5"]


def test_two_python_objects_one_path(env, tmp_path):
    """A Simulation recording in a thread (the GIL released) holds its file; a Model writing the
    same path at the same time is refused."""
    out = tmp_path / "rec.h5"
    sim = lmusim.Simulation(lmusim.cuba_network(), threads=1)
    # Loaded first: loading probes the file in a forked child, which must not happen while another
    # thread is inside the HDF5 library (docs/hardening.md).
    model = lmusim.load_model(env / "model.h5")
    errors = []

    def long_run():
        try:
            sim.run(30000, record_file=str(out))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=long_run)
    t.start()
    deadline = time.time() + 30
    while not Path(f"{out}.lock").exists() and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(lmusim.Error, match="another lmusim writer"):
        model.run(np.load(env / "x.npy"), output=str(out), overwrite=True)
    t.join()
    assert not errors
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "lmusim-recording" and f["status/complete"][()] == 1


def test_a_killed_overwrite_keeps_the_old_file(env, tmp_path):
    """SIGKILL while replacing a recording: the old file is intact, the new data is in
    OUT.partial, and the next run refuses to replace that partial data without --overwrite."""
    out = tmp_path / "rec.h5"
    shutil.copy(env / "clips.h5", out)
    before = out.read_bytes()
    p = subprocess.Popen([LMUSIM, "cuba", "--neurons", "4000", "--duration", "100s", "--record", str(out), "--overwrite",
                          "--chunk-steps", "100", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not Path(f"{out}.partial").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    p.kill()
    p.wait()
    assert out.read_bytes() == before
    with h5py.File(f"{out}.partial", "r") as f:
        assert f["status/complete"][()] == 0
    r = cli("cuba", *CUBA, "--duration", "5ms", "--record", tmp_path / "rec.h5", check=False)
    assert r.returncode == 2 and "exists" in r.stderr
    other = tmp_path / "fresh.h5"
    Path(f"{other}.partial").write_bytes(b"a killed run's data")
    r = cli("cuba", *CUBA, "--duration", "5ms", "--record", other, check=False)
    assert r.returncode == 2 and "interrupted write" in r.stderr
    assert Path(f"{other}.partial").read_bytes() == b"a killed run's data"
    cli("cuba", *CUBA, "--duration", "5ms", "--record", other, "--overwrite")
    assert not Path(f"{other}.partial").exists()
    _fmt("lmusim-recording")(other)
