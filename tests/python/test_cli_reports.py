"""What the CLI prints about files: `lmusim info`'s counts, `--json` objects with any names and
paths, and how `lmusim report --plot` starts its Python helper."""
import json
import os
import re
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from testenv import LMUSIM, cli, random_model

pytestmark = pytest.mark.skipif(not Path(LMUSIM).exists(), reason=f"{LMUSIM} not built")


def test_info_counts_synapses_at_the_target_port(tmp_path):
    # The readout (35 classes) and the LMU memory (32 dimensions) take 16 and 1 values at their
    # input port: dense projections into them have 16 x 16 and 1 x 1 synapses, not 16 x 35, 1 x 32.
    model = random_model(tmp_path, dim=16, depth=1, seed=3)
    with h5py.File(model, "r+") as f:
        for name in ("head.input", "block.0.attn.lmu.u_lif->memory"):
            g = f["projections"][name]
            assert g.attrs["kind"] == "identity"
            n = int(f["nodes"][g.attrs["source"]].attrs["size"])
            g.attrs["kind"] = "dense"
            g.create_dataset("weights", data=np.eye(n, dtype=np.float32))
        assert f["nodes/head"].attrs["size"] == 35 and f["nodes/head"].attrs["input_size"] == 16
        assert f["nodes/block.0.attn.lmu.memory"].attrs["size"] == 32
        assert f["nodes/block.0.attn.lmu.memory"].attrs["input_size"] == 1
        # By hand: a weight per synapse (dense, conv1d), one per source neuron (identity).
        expected = {}
        for name, g in f["projections"].items():
            kind = g.attrs["kind"]
            expected[name] = int(g["weights"].size) if kind in ("dense", "conv1d") else \
                int(f["nodes"][g.attrs["source"]].attrs["size"])
            assert kind in ("dense", "conv1d", "identity")
    out = cli("info", model).stdout
    printed = dict(re.findall(r"^  (\S+) .*, (\d+) synapses$", out, re.M))
    assert {k: int(v) for k, v in printed.items()} == expected
    assert expected["head.input"] == 16 * 16 and expected["block.0.attn.lmu.u_lif->memory"] == 1
    assert f"\n{sum(expected.values())} synapses in all\n" in out


def test_json_escapes_names_and_paths(tmp_path):
    lmusim = pytest.importorskip("lmusim")
    record = tmp_path / 'a"b\\c.h5'
    summary = json.loads(cli("cuba", "--neurons", 200, "--duration", "10ms", "--record", record, "--json").stdout)
    assert summary["record"] == str(record) and record.exists()
    assert list(summary) == ["engine", "network", "neurons", "duration_ms", "steps", "threads", "spikes", "rate_hz",
                             "events", "sops", "macs", "build_s", "run_s", "record", "start_step", "checkpoint"]
    assert summary["steps"] == 100 and summary["duration_ms"] == 10
    if lmusim._core is None:
        return
    net = lmusim.Network(dt=0.1, name='say "hi"\\ \t\u00e9')
    net.add_discrete_lif("a", 3)
    net.save(str(tmp_path / "n.h5"))
    ck = tmp_path / "ck\\\".h5"
    summary = json.loads(cli("run", tmp_path / "n.h5", "--duration", "1ms", "--checkpoint", ck, "--json").stdout)
    assert summary["network"] == 'say "hi"\\ \t\u00e9'
    assert summary["checkpoint"] == str(ck) and summary["record"] == ""


def test_json_of_a_model_run(tmp_path):
    import slmu_reference as R
    model = random_model(tmp_path, dim=16, depth=1, seed=3)
    np.save(tmp_path / "x.npy", np.asarray(R.random_features(2, frames=20, seed=1, n_pad=0), dtype=np.float32))
    summary = json.loads(cli("run", model, "--input", tmp_path / "x.npy", "--json").stdout)
    assert list(summary) == ["clips", "frames", "batch", "sops", "macs", "seconds", "us_per_step"]
    assert (summary["clips"], summary["frames"], summary["batch"]) == (2, 20, 2)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    rec = tmp_path_factory.mktemp("report") / "rec.h5"
    cli("cuba", "--neurons", 300, "--duration", "20ms", "--record", rec, "--quiet")
    return rec


def report_plot(recording, png, python, tmp_path):
    env = dict(os.environ, LMUSIM_PYTHON=str(python), TMPDIR=str(tmp_path), MPLBACKEND="Agg")
    return subprocess.run([LMUSIM, "report", recording, "--plot", png], env=env, capture_output=True, text=True)


def test_plot_runs_the_interpreter_of_LMUSIM_PYTHON(recording, tmp_path):
    log = tmp_path / "python.log"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$PYTHONPATH" > "{log}"\nexec /usr/bin/python3 "$@"\n')
    wrapper.chmod(0o755)
    pytest.importorskip("matplotlib")
    r = report_plot(recording, tmp_path / "r.png", wrapper, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r.png").stat().st_size > 1000
    # The package of the binary's build tree comes first while that tree has one; else the
    # environment's PYTHONPATH is left as it is.
    own = Path(LMUSIM).resolve().parent.parent / "python"
    expected = str(own) if (own / "lmusim").is_dir() else os.environ.get("PYTHONPATH", "")
    assert log.read_text().strip().split(":")[0] == expected.split(":")[0]


def test_plot_without_an_interpreter_is_one_clear_line(recording, tmp_path):
    r = report_plot(recording, tmp_path / "r.png", tmp_path / "no_python", tmp_path)
    assert r.returncode == 2 and not (tmp_path / "r.png").exists()
    assert r.stderr.count("\n") == 1
    assert f"--plot: cannot run the Python interpreter '{tmp_path / 'no_python'}': No such file or directory" in r.stderr
    assert "LMUSIM_PYTHON" in r.stderr


def test_plot_without_the_package_names_what_it_needs(recording, tmp_path):
    # An interpreter that ignores PYTHONPATH (-I) finds no lmusim package.
    if subprocess.run(["/usr/bin/python3", "-I", "-c", "import lmusim"], capture_output=True).returncode == 0:
        pytest.skip("lmusim is installed for /usr/bin/python3")
    wrapper = tmp_path / "python"
    wrapper.write_text('#!/bin/sh\nexec /usr/bin/python3 -I "$@"\n')
    wrapper.chmod(0o755)
    r = report_plot(recording, tmp_path / "r.png", wrapper, tmp_path)
    assert r.returncode == 2 and not (tmp_path / "r.png").exists()
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"lmusim: error: --plot: the Python helper ({wrapper} -m lmusim.plot, needs matplotlib and "
                           "the lmusim package")
    assert "LMUSIM_PYTHON selects the interpreter" in last
