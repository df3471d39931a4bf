"""Interrupted and failing runs lose nothing: SIGINT stops at a step or clip boundary and closes
the file; a file-size limit (disk full) is a clear error that keeps earlier data readable; an
unwritable output fails before the run starts."""
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from testenv import LMUSIM, random_model
pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import slmu_reference as R
    d = tmp_path_factory.mktemp("signals")
    random_model(d, "m", seed=8)  # paper size: slow enough to interrupt
    x = np.asarray(R.random_features(400, frames=128, seed=4), dtype=np.float32)
    np.save(d / "x.npy", x)
    return d


def interrupt_after(args, seconds):
    p = subprocess.Popen([LMUSIM, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_sigint_stops_a_network_run_and_closes_the_recording(tmp_path):
    rc, _, err = interrupt_after(["cuba", "--duration", "1000s", "--record", tmp_path / "r.h5", "--quiet"], 1.5)
    assert rc == 130, err
    assert "interrupted after" in err and "r.h5" in err
    with h5py.File(tmp_path / "r.h5", "r") as f:
        done = int(f["status/steps_done"][()])
        assert f["status/complete"][()] == 0
        assert 0 < done < 10_000_000
        t = f["spikes/neurons/timestamps"][:]
        assert len(t) == int(f["counts/total_spikes"][0]) and t.max() < done * 0.1
        np.testing.assert_array_equal(f["counts/per_neuron/neurons"][0],
                                      np.bincount(f["spikes/neurons/node_ids"][:].astype(np.int64), minlength=4000))


def test_sigint_stops_a_model_run_at_a_clip_boundary(model, tmp_path):
    rc, out, err = interrupt_after(["run", model / "m.h5", "--input", model / "x.npy", "--output", tmp_path / "o.h5",
                                    "--batch", "2"], 0.7)
    assert rc == 130, err
    printed = sum(1 for line in out.splitlines() if line.startswith("clip "))
    with h5py.File(tmp_path / "o.h5", "r") as f:
        done = int(f["status/clips_done"][()])
        assert f["status/complete"][()] == 0
        assert 0 < done < 400 and done % 2 == 0
        assert f["logits"].shape[0] == done  # every finished clip was written
        assert printed == min(done, 20)       # and the first 20 were printed


def test_disk_full_is_a_clear_error_and_keeps_earlier_batches(model, tmp_path):
    limit = 20_000_000  # bytes: room for a few batches of outputs with every spike, not for all 400 clips

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = subprocess.run([LMUSIM, "run", model / "m.h5", "--input", model / "x.npy", "--output", tmp_path / "o.h5",
                        "--batch", "8", "--record-spikes", "--quiet"], capture_output=True, text=True,
                       preexec_fn=small_files)
    assert r.returncode == 2, r.stderr
    assert "o.h5" in r.stderr and "disk full" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    # The failed run's data stays in OUT.partial (OUT appears only when a run ends), readable,
    # with every finished batch.
    assert not (tmp_path / "o.h5").exists()
    with h5py.File(tmp_path / "o.h5.partial", "r") as f:
        done = int(f["status/clips_done"][()])
        assert 0 < done < 400
        assert f["logits"].shape[0] >= done
        assert f"keeps the {done} clips" in r.stderr
        logits = f["logits"][:done]
    # The same clips run again without the limit (same binary, so bit-identical).
    np.save(tmp_path / "first.npy", np.load(model / "x.npy")[:done])
    subprocess.run([LMUSIM, "run", model / "m.h5", "--input", tmp_path / "first.npy", "--output", tmp_path / "ref.h5",
                    "--batch", "8", "--quiet"], check=True, capture_output=True)
    with h5py.File(tmp_path / "ref.h5", "r") as f:
        np.testing.assert_array_equal(logits, f["logits"][:])


@pytest.mark.parametrize("where", ["missing_dir", "read_only"])
def test_unwritable_output_fails_before_the_run(model, tmp_path, where):
    if where == "missing_dir":
        out = tmp_path / "nope" / "o.h5"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "o.h5"
        if os.geteuid() == 0:
            pytest.skip("root can write into read-only directories")
    t0 = time.time()
    r = subprocess.run([LMUSIM, "run", model / "m.h5", "--input", model / "x.npy", "--output", out],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot create" in r.stderr
    assert "clip 0:" not in r.stdout  # nothing ran
    assert time.time() - t0 < 5
