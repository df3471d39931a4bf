"""The HDF5 probe (h5::probe_in_child, docs/hardening.md): the helper program lmusim-h5probe reads a
file in a process of its own before lmusim loads it, so that loading works while another thread of
the same process is inside HDF5, and a file that makes HDF5 loop is still reported."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from testenv import LMUSIM, ROOT, random_model, require_core

HELPER = Path(LMUSIM).parent / "lmusim-h5probe"
LOOPING = ROOT / "tests" / "fuzz" / "regressions" / "model" / "timeout-c0f3eeaeed99c6364c8a4e3eaaec2b6dfd68a317"
pytestmark = pytest.mark.skipif(not HELPER.exists(), reason=f"{HELPER} not built")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return random_model(tmp_path_factory.mktemp("probe"), dim=16, depth=1, seed=2)


def test_helper_reads_a_file_and_checks_its_arguments(model):
    assert subprocess.run([HELPER, model], capture_output=True, timeout=30).returncode == 0
    r = subprocess.run([HELPER], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64 and "usage: lmusim-h5probe FILE [SECONDS]" in r.stderr
    r = subprocess.run([HELPER, model, "soon"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64 and "SECONDS 'soon'" in r.stderr


def test_helper_ends_a_looping_read_with_its_alarm():
    t0 = time.monotonic()
    r = subprocess.run([HELPER, LOOPING, "1"], capture_output=True, timeout=30)
    assert r.returncode == -signal.SIGALRM
    assert time.monotonic() - t0 < 10


def test_a_looping_file_is_reported_with_and_without_the_helper(tmp_path):
    # Without the helper (LMUSIM_H5PROBE names none), the single-threaded CLI probes in a fork.
    env = {"helper": dict(os.environ), "fork": dict(os.environ, LMUSIM_H5PROBE=str(tmp_path / "none"))}
    procs = {k: subprocess.Popen([LMUSIM, "info", LOOPING], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for k, e in env.items()}
    for k, p in procs.items():
        _, err = p.communicate(timeout=60)
        assert p.returncode == 2, (k, err)
        assert err.strip() == f"lmusim: error: {LOOPING}: corrupt HDF5 file (reading it did not finish within 10 s)", k


def load_while_recording(model, record_file, steps=10000):
    """Loads `model` again and again while another thread writes an HDF5 recording (a chunk per
    step: that thread is inside HDF5 most of the time). Returns the load times [s]."""
    import lmusim
    sim = lmusim.Simulation(lmusim.cuba_network(), threads=1)
    recording = threading.Thread(target=sim.run, args=(steps,), kwargs=dict(record_file=str(record_file), chunk_steps=1))
    recording.start()
    times = []
    try:
        while not Path(f"{record_file}.partial").exists() and recording.is_alive():
            time.sleep(0.005)
        while recording.is_alive() and len(times) < 20:
            t0 = time.monotonic()
            lmusim.load_model(model)
            times.append(time.monotonic() - t0)
    finally:
        recording.join()
    assert lmusim.read_recording(record_file)["status"]["steps_done"] == steps
    return times


def check_load_times(times):
    assert len(times) >= 3, f"only {len(times)} load(s) while the recording ran: make it longer"
    assert max(times) < 5, f"load times {times} s"


def test_loading_a_model_while_another_thread_writes_hdf5(model, tmp_path):
    require_core()
    check_load_times(load_while_recording(model, tmp_path / "rec.h5"))


def test_without_the_helper_a_multithreaded_process_loads_without_the_probe(model, tmp_path):
    # No helper: a fork here could hang, so there is no probe, and no error.
    require_core()
    code = ("import sys, json; from test_h5probe import load_while_recording; "
            "print(json.dumps(load_while_recording(sys.argv[1], sys.argv[2])))")
    env = dict(os.environ, LMUSIM_H5PROBE=str(tmp_path / "none"),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    r = subprocess.run([sys.executable, "-c", code, str(model), str(tmp_path / "rec.h5")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    check_load_times(json.loads(r.stdout.splitlines()[-1]))
