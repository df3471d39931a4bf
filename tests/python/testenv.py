"""What the Python tests share: the repository and build paths, the CLI under test, and a runner
for it. (conftest.py has put this directory and the package on sys.path.)"""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LMUSIM_BUILD_DIR", ROOT / "build"))
LMUSIM = os.environ.get("LMUSIM_BIN", str(BUILD / "apps" / "lmusim"))


def cli(*args, check=True):
    """Runs `lmusim ARGS...`; returns the CompletedProcess (text stdout/stderr)."""
    return subprocess.run([LMUSIM, *map(str, args)], capture_output=True, text=True, check=check)


def require_core():
    """The lmusim package with its compiled module, or skip the calling test module."""
    import pytest
    lmusim = pytest.importorskip("lmusim")
    if lmusim._core is None:
        pytest.skip("lmusim._core is not built", allow_module_level=True)
    return lmusim


def random_model(directory, name="model", **make_state_dict_args):
    """A random calibrated Spiking LMUFormer (slmu_reference.make_state_dict(**args)) saved as
    DIRECTORY/NAME.pth in upstream format and converted to DIRECTORY/NAME.h5; returns the .h5 path."""
    from pathlib import Path as _Path

    import torch

    import slmu_reference as R
    from lmusim.convert import convert
    d = _Path(directory)
    torch.save(R.make_state_dict(**make_state_dict_args), d / f"{name}.pth")
    convert(d / f"{name}.pth", d / f"{name}.h5")
    return d / f"{name}.h5"


def h5_datasets(path):
    """Every dataset of an HDF5 file, name -> array (attributes, e.g. timestamps and thread counts,
    are left out: they may differ between runs that must agree)."""
    import h5py
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def assert_same_datasets(a, b):
    """The two HDF5 files hold the same datasets, equal in dtype, shape and every value."""
    import numpy as np
    da, db = h5_datasets(a), h5_datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        va, vb = np.asarray(da[name]), np.asarray(db[name])
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        np.testing.assert_array_equal(va, vb, err_msg=name)


def demo_clips(directory):
    """A shipped clip directory (data/demo, data/demo_noisy): its labels.json, the WAV paths and
    the labels, in file order."""
    import json

    import numpy as np
    meta = json.loads((Path(directory) / "labels.json").read_text())
    wavs = [str(Path(directory) / c["file"]) for c in meta["clips"]]
    return meta, wavs, np.array([c["label"] for c in meta["clips"]])
