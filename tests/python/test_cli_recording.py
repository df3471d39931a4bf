"""The `lmusim` CLI end to end, and its HDF5 files read with h5py alone (no lmusim code)."""
import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LMUSIM = os.environ.get("LMUSIM_BIN", str(ROOT / "build" / "apps" / "lmusim"))

pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")


def run(*args, check=True):
    return subprocess.run([LMUSIM, *map(str, args)], capture_output=True, text=True, check=check)


def test_cuba_recording_is_plain_hdf5_and_sonata_shaped(tmp_path):
    rec = tmp_path / "cuba.h5"
    out = run("cuba", "--neurons", 1000, "--duration", "300ms", "--record", rec, "--json", "--chunk-steps", 250)
    summary = json.loads(out.stdout)
    with h5py.File(rec, "r") as f:
        assert f.attrs["magic"] == 0x0A7A
        assert list(f.attrs["version"]) == [0, 1]
        assert f.attrs["format"] == "lmusim-recording"
        assert f["status/complete"][()] == 1
        assert f["status/steps_done"][()] == 3000
        g = f["spikes/neurons"]
        assert g.attrs["sorting"] == 2  # by_time
        assert g["timestamps"].attrs["units"] == "ms"
        t = g["timestamps"][:]
        ids = g["node_ids"][:]
        assert t.dtype == np.float64 and ids.dtype == np.uint64
        assert len(t) == len(ids) == summary["spikes"]
        assert np.all(np.diff(t) >= 0) and t.max() < 300.0
        counts = f["counts/per_neuron/neurons"][:]
        assert counts.shape == (1, 1000)
        # Per-neuron counts agree with the spike list.
        np.testing.assert_array_equal(counts[0], np.bincount(ids.astype(np.int64), minlength=1000))
        names = [n.decode() if isinstance(n, bytes) else n for n in f["ops/projections"][:]]
        assert names == ["exc", "inh"]
        assert int(f["ops/sops"][:].sum()) == summary["sops"]


def test_sops_equal_spikes_times_fan_out(tmp_path):
    """SOPs recomputed from the saved network and the recorded spikes (an independent count)."""
    net = tmp_path / "net.h5"
    rec = tmp_path / "rec.h5"
    run("cuba", "--neurons", 800, "--duration", "200ms", "--save-network", net, "--record", rec, "--quiet")
    with h5py.File(net, "r") as n, h5py.File(rec, "r") as r:
        ids = r["spikes/neurons/node_ids"][:].astype(np.int64)
        t = r["spikes/neurons/timestamps"][:]
        steps = int(r["status/steps_done"][()])
        delivered = ids[np.round(t / 0.1).astype(np.int64) < steps - 1]  # delay 1: last step in flight
        for k, proj in enumerate(["exc", "inh"]):
            indptr = n[f"projections/{proj}/indptr"][:]
            fan_out = np.diff(indptr)
            assert int(r["ops/sops"][k]) == int(fan_out[delivered].sum())
            assert int(r["ops/events"][k]) == len(delivered)


def test_saved_network_runs_identically(tmp_path):
    net = tmp_path / "net.h5"
    a = json.loads(run("cuba", "--neurons", 500, "--duration", "100ms", "--save-network", net, "--json").stdout)
    b = json.loads(run("run", net, "--duration", "100ms", "--json", "--threads", 1).stdout)
    assert (a["spikes"], a["sops"]) == (b["spikes"], b["sops"])
    info = run("info", net).stdout
    assert "continuous_lif" in info and "exc" in info


def test_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    r = run("run", bad, check=False)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "bad.h5" in r.stderr and "not an HDF5 file" in r.stderr
    r = run("cuba", "--duration", "1 hour", check=False)
    assert r.returncode == 2 and "unknown unit 'hour'" in r.stderr
    r = run("cuba", "--duration", "10ms", "--record", tmp_path / "nodir" / "x.h5", check=False)
    assert r.returncode == 2 and "cannot create" in r.stderr
