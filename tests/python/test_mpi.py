"""Runs over several processes with mpirun (docs/distributed.md): clip-parallel output files equal
to one process's, network-parallel spikes, counts, recordings and checkpoints equal to one rank's
for 1, 2 and 3 ranks (oversubscribed on a 2-core machine), and a failing or killed rank ending the
job with a clear message in bounded time."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from testenv import LMUSIM, ROOT, assert_same_datasets, cli, random_model

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun (openmpi-bin) is not installed")

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]
TIMEOUT = 240


def mpi_env():
    """The environment for processes under mpirun. Against the sanitized binary (scripts/sanitize.sh)
    LeakSanitizer is off there: OpenMPI keeps allocations from MPI_Init to exit in components it
    unloads at MPI_Finalize, which suppressions cannot name; ASan's and UBSan's checks stay on."""
    env = dict(os.environ)
    if env.get("LMUSIM_SANITIZED"):
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def mpirun(n, *args, check=True, timeout=TIMEOUT):
    r = subprocess.run([*MPIRUN, "-n", str(n), LMUSIM, *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, env=mpi_env())
    if check and r.returncode != 0:
        raise AssertionError(f"mpirun -n {n} lmusim {' '.join(map(str, args))} failed ({r.returncode}):\n{r.stderr}")
    return r


# -- clip-parallel evaluation ------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpi_model")
    import slmu_reference as R
    model = random_model(d, dim=16, depth=1, seed=7)
    x = np.asarray(R.random_features(7, frames=24, seed=3, n_pad=0), dtype=np.float32)
    np.save(d / "x.npy", x)
    return model, d / "x.npy"


@pytest.mark.parametrize("ranks,extra", [(1, ()), (2, ("--stream",)), (3, ())])
def test_clip_parallel_npy_equals_one_process(tmp_path, small_model, ranks, extra):
    model, x = small_model
    opts = ["--batch", "2", "--record-spikes", "--per-frame-counts", "--threads", "1", "--quiet", *extra]
    cli("run", model, "--input", x, "--output", tmp_path / "one.h5", *opts)
    r = mpirun(ranks, "run", model, "--input", x, "--output", tmp_path / "many.h5", *opts)
    assert_same_datasets(tmp_path / "one.h5", tmp_path / "many.h5")
    with h5py.File(tmp_path / "many.h5", "r") as f:
        assert f["status/complete"][()] == 1 and f["status/clips_done"][()] == 7
        assert len(f["spikes"]) > 0 and sum(len(g["node_ids"]) for g in f["spikes"].values()) > 0
    # rank 0 alone prints: one line per clip, once
    assert r.stdout.count("clip 0:") == 1 and r.stdout.count("clip 6:") == 1


def test_clip_parallel_streaming_audio_and_both_shipped_models(tmp_path):
    wavs = sorted((ROOT / "data" / "demo").glob("*.wav"))[:5]
    for model, mode in (("slmu_kws.h5", "--stream"), ("l2mu_kws.h5", "--stream"), ("slmu_kws.h5", "--batch=2")):
        m = ROOT / "models" / model
        one, two = tmp_path / f"one_{model}{mode}.h5", tmp_path / f"two_{model}{mode}.h5"
        cli("run", m, "--input", *wavs, mode, "--output", one, "--quiet", "--threads", "1")
        r = mpirun(2, "run", m, "--input", *wavs, mode, "--output", two, "--quiet", "--threads", "1")
        assert "2 ranks" in r.stdout
        assert_same_datasets(one, two)


def test_clip_parallel_nir_dataset_accuracy_is_global(tmp_path):
    import l2mu_reference as L
    import nir_reference as R
    g = R.random_cuba_rnn(21)
    R.write(tmp_path / "g.nir", g)
    x = np.stack([R.random_input(s, 60, (12,), "spikes", 0.25) for s in range(9)])
    y = np.arange(9) % 4
    L.save_dataset(x, y, str(tmp_path / "data.pt"))
    one = cli("run", tmp_path / "g.nir", "--input", tmp_path / "data.pt", "--dt", "1e-4", "--batch", "2",
              "--output", tmp_path / "one.h5").stdout
    three = mpirun(3, "run", tmp_path / "g.nir", "--input", tmp_path / "data.pt", "--dt", "1e-4", "--batch", "2",
                   "--output", tmp_path / "three.h5").stdout
    acc = [line for line in one.splitlines() if line.startswith("accuracy")]
    assert len(acc) == 1 and acc == [line for line in three.splitlines() if line.startswith("accuracy")]
    assert_same_datasets(tmp_path / "one.h5", tmp_path / "three.h5")


# -- network-parallel simulation -------------------------------------------------------------

CUBA = ["cuba", "--neurons", "1200", "--duration", "150ms", "--quiet"]


@pytest.mark.parametrize("delay", [1, 4])
def test_network_parallel_cuba_recording_equals_one_rank(tmp_path, delay):
    base = [*CUBA, "--delay", delay]
    cli(*base, "--threads", "1", "--record", tmp_path / "one.h5")
    want = json.loads(cli(*base, "--threads", "1", "--json").stdout)
    assert want["spikes"] > 500
    for ranks, threads in [(1, 1), (2, 1), (2, 2), (3, 1)]:
        rec = tmp_path / f"r{ranks}t{threads}.h5"
        mpirun(ranks, *base, "--threads", threads, "--record", rec)
        assert_same_datasets(tmp_path / "one.h5", rec)
        got = json.loads(mpirun(ranks, *base, "--threads", threads, "--json").stdout)
        assert got["ranks"] == ranks and got["epoch_steps"] == (delay if ranks > 1 else 1)
        for k in ("spikes", "events", "sops"):
            assert got[k] == want[k], (ranks, threads, k)


def zero_delay_network(path):
    """Poisson input -> A (no delay: exchanged within the step) -> B (2 steps) -> A (1 step), saved
    with the Python API."""
    lmusim = pytest.importorskip("lmusim")
    rng = np.random.default_rng(5)
    net = lmusim.Network(dt=1.0, name="zero_delay")
    net.add_poisson_source("in", 60, rate_hz=np.array([80.0]), seed=2)
    net.add_discrete_lif("a", 90, tau=2.0, v_threshold=1.0)
    net.add_discrete_lif("b", 70, tau=3.0, v_threshold=0.8)
    w = lambda lo, hi, shape: rng.uniform(lo, hi, shape).astype(np.float32).ravel()  # noqa: E731
    net.connect_dense("in_a", "in", "a", w(-0.2, 0.6, (90, 60)))
    net.connect_dense("a_b", "a", "b", w(-0.3, 0.5, (70, 90)), delay=2)
    net.connect_dense("b_a", "b", "a", w(-0.4, 0.4, (90, 70)), delay=1)
    net.save(str(path))
    return path


def test_network_parallel_zero_delay_edges_and_file_networks(tmp_path):
    net = zero_delay_network(tmp_path / "net.h5")
    args = ["run", net, "--duration", "300ms", "--quiet"]
    cli(*args, "--threads", "1", "--record", tmp_path / "one.h5")
    with h5py.File(tmp_path / "one.h5", "r") as f:
        assert len(f["spikes/a/node_ids"]) > 100 and len(f["spikes/b/node_ids"]) > 100
    for ranks in (2, 3):
        mpirun(ranks, *args, "--threads", "2", "--record", tmp_path / f"{ranks}.h5")
        assert_same_datasets(tmp_path / "one.h5", tmp_path / f"{ranks}.h5")


def test_checkpoint_resume_across_rank_counts(tmp_path):
    def cuba(duration):
        return ["cuba", "--neurons", "1200", "--duration", duration, "--quiet", "--delay", "3", "--threads", "1"]
    want = json.loads(cli(*cuba("200ms"), "--json").stdout)
    cli(*cuba("80ms"), "--checkpoint", tmp_path / "c1.h5")
    mpirun(2, *cuba("80ms"), "--checkpoint", tmp_path / "c2.h5")
    assert_same_datasets(tmp_path / "c1.h5", tmp_path / "c2.h5")  # the same state, whoever saved it
    for ranks in (1, 3):
        got = json.loads(mpirun(ranks, *cuba("200ms"), "--resume", tmp_path / "c2.h5", "--json").stdout)
        assert got["start_step"] == 800
        for k in ("spikes", "events", "sops"):
            assert got[k] == want[k], (ranks, k)


def test_dry_run_replays_other_ranks(tmp_path):
    got = json.loads(cli("cuba", "--neurons", "4000", "--duration", "100ms", "--delay", "5", "--dry-run-ranks", "8",
                         "--threads", "1", "--json", "--quiet").stdout)
    assert got["ranks"] == 8 and got["dry_run"] and got["epoch_steps"] == 5
    assert got["exchanges"] == 200 and got["bytes_received"] == 8 * got["bytes_sent"]
    r = cli("cuba", "--dry-run-ranks", "4", "--record", tmp_path / "x.h5", check=False)
    assert r.returncode == 2 and "--dry-run-ranks" in r.stderr


# -- faults ----------------------------------------------------------------------------------

def test_bad_input_on_one_rank_ends_the_job_and_keeps_finished_clips(tmp_path):
    wavs = sorted((ROOT / "data" / "demo").glob("*.wav"))[:4]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(wavs[1].read_bytes()[:30])  # a truncated header
    inputs = [wavs[0], bad, wavs[2], wavs[3]]   # --stream: clip k on rank k mod 2; the bad one on rank 1
    t0 = time.monotonic()
    r = mpirun(2, "run", ROOT / "models" / "slmu_kws.h5", "--input", *inputs, "--stream", "--output",
               tmp_path / "o.h5", "--quiet", check=False, timeout=120)
    assert r.returncode != 0 and time.monotonic() - t0 < 120
    lines = [line for line in r.stderr.splitlines() if line.startswith("lmusim:")]
    errors = [line for line in lines if "error" in line]
    assert len(errors) == 1 and "rank 1 of 2" in errors[0] and "broken.wav" in errors[0], r.stderr
    # Rank 0, stopped by mpirun's SIGTERM, may close the file as an interrupted run does (one more
    # line saying so); else the file stays where it was being written.
    assert all("interrupted after" in line for line in lines if line not in errors), r.stderr
    # Rank 1 fails as it reads its clips; rank 0 may or may not have created the file (and finished
    # clip 0) by then. If it did, the file keeps what was finished, marked incomplete.
    out = [p for p in (tmp_path / "o.h5", tmp_path / "o.h5.partial") if p.exists()]
    assert len(out) <= 1
    if out:
        for _ in range(100):  # rank 0 may still be on its way out (its file lock goes with it)
            try:
                h5py.File(out[0], "r").close()
                break
            except BlockingIOError:
                time.sleep(0.1)
        with h5py.File(out[0], "r") as f:
            assert f["status/complete"][()] == 0
            done = int(f["status/clips_done"][()])
            assert done <= 1 and f["logits"].shape[0] == done
            if done:
                cli("run", ROOT / "models" / "slmu_kws.h5", "--input", wavs[0], "--stream", "--output",
                    tmp_path / "ref.h5", "--quiet")
                with h5py.File(tmp_path / "ref.h5", "r") as ref:
                    np.testing.assert_array_equal(f["logits"][:], ref["logits"][:])


def test_killed_rank_ends_the_job_in_bounded_time(tmp_path):
    p = subprocess.Popen([*MPIRUN, "-n", "2", LMUSIM, "cuba", "--neurons", "20000", "--duration", "600s", "--quiet",
                          "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=mpi_env())
    try:
        ranks = []
        deadline = time.monotonic() + 60
        while len(ranks) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            out = subprocess.run(["pgrep", "-f", "-P", str(p.pid), "lmusim"], capture_output=True, text=True).stdout
            ranks = [int(v) for v in out.split()]
        assert len(ranks) == 2, "the two ranks did not start"
        time.sleep(1.0)
        os.kill(ranks[-1], signal.SIGKILL)
        _, err = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert p.returncode != 0
    assert "exited on signal 9" in err or "killed" in err.lower(), err


def test_python_mpi4py_example_gathers_identical_results():
    pytest.importorskip("mpi4py")
    r = subprocess.run([*MPIRUN, "-n", "3", sys.executable, str(ROOT / "examples" / "mpi_clips.py"), "--clips", "10",
                        "--batch", "2", "--check"], capture_output=True, text=True, timeout=TIMEOUT, env=mpi_env())
    assert r.returncode == 0, r.stderr
    assert "10 clips on 3 rank(s)" in r.stdout and "check: identical to one process" in r.stdout
    assert r.stdout.count("keywords right") == 1  # rank 0 alone reports


def test_owned_clips_split_whole_batches():
    from lmusim.distributed import owned_clips
    parts = [owned_clips(11, 3, r, 2) for r in range(2)]
    assert parts[0].tolist() == [0, 1, 2, 6, 7, 8] and parts[1].tolist() == [3, 4, 5, 9, 10]
