"""pip install --no-build-isolation --no-deps .  (Debian's pip and setuptools; there is no PyPI)

Builds lmusim's compiled module with CMake (the same build as scripts/build.sh, without tests) and
installs the `lmusim` package (python/lmusim) with it. Build dependencies: scripts/deps.sh build.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
VERSION = (ROOT / "VERSION").read_text().strip()  # the one source of the version (CMake reads it too)


class cmake_build(build_ext):
    def build_extension(self, ext):
        build = Path(os.environ.get("LMUSIM_PIP_BUILD_DIR", ROOT / "build" / "pip"))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        "-DLMUSIM_BUILD_TESTS=OFF", "-DLMUSIM_BUILD_PYTHON=ON", f"-DPython_EXECUTABLE={sys.executable}"],
                       check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "_core", "-j", str(os.cpu_count() or 2)], check=True)
        built = next((build / "python" / "lmusim").glob("_core*.so"))
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, dest)
        # The HDF5 probe helper goes next to _core, where the library looks for it first
        # (docs/hardening.md); it is built with _core.
        shutil.copy2(build / "apps" / "lmusim-h5probe", dest.parent / "lmusim-h5probe")


class build_py_with_version(build_py):
    """Also writes lmusim/_version.py (lmusim.__version__) from VERSION."""

    def run(self):
        super().run()
        out = Path(self.build_lib) / "lmusim" / "_version.py"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(f'__version__ = "{VERSION}"\n')


setup(
    name="lmusim",
    version=VERSION,
    description="Event-driven spiking-network simulator (C++ engine, Python bindings)",
    package_dir={"": "python"},
    packages=["lmusim", "lmusim.training"],
    package_data={"lmusim": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("lmusim._core", sources=[])],
    cmdclass={"build_ext": cmake_build, "build_py": build_py_with_version},
    python_requires=">=3.9",
    install_requires=[],  # numpy, h5py (and torch for the converter) come from Debian packages
    zip_safe=False,
)
