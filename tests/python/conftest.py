"""Puts the package under test on sys.path once for every test module: the build's copy
(build/python, with the compiled lmusim._core) when it exists, else the source package
(python/, enough for the converter), plus this directory (slmu_reference)."""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("LMUSIM_BUILD_DIR", ROOT / "build"))
_pkg = BUILD / "python"
for p in (str(_pkg if (_pkg / "lmusim").is_dir() else ROOT / "python"), str(Path(__file__).resolve().parent)):
    if p not in sys.path:
        sys.path.insert(0, p)
