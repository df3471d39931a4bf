"""One version, from the top-level VERSION file: the CLI, the compiled module, the package built
by CMake, and the package used straight from the source tree all report it."""
import os
import subprocess
import sys

from testenv import ROOT, cli

VERSION = (ROOT / "VERSION").read_text().strip()


def test_version_file_is_one_line():
    assert VERSION and "\n" not in VERSION and VERSION.count(".") == 2


def test_cli_reports_the_version():
    assert cli("--version").stdout.strip() == VERSION


def test_package_and_compiled_module_report_the_version():
    import lmusim
    assert lmusim.__version__ == VERSION
    if lmusim._core is not None:
        assert lmusim._core.__version__ == VERSION


def test_source_package_reports_the_version(tmp_path):
    # python/lmusim without a build: no _version.py, no _core; the converter's entry point works.
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    out = subprocess.run([sys.executable, "-c", "import lmusim; print(lmusim.__version__, lmusim._core)"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [VERSION, "None"]
    r = subprocess.run([sys.executable, "-m", "lmusim.convert", "--help"], cwd=tmp_path, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
