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
