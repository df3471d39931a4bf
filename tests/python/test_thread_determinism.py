"""1 and 2 threads give bit-identical results, through the Python API (docs/design.md §5).

The C++ tests (tests/sim/test_determinism.cpp) cover CUBA inside the engine and
test_lmuformer_parity.py the paper-size LMUFormer through the CLI; these check the same promise
on the paths the benchmarks time: ``Model.run`` on a batch (streams split over threads),
``Model.stream`` with several streams, and a CUBA ``Simulation`` split into blocks.
"""
import numpy as np
import pytest

from testenv import random_model, require_core

lmusim = require_core()
torch = pytest.importorskip("torch")
import slmu_reference as R  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("threads")
    random_model(d, dim=64, depth=1, seed=5)
    x = np.asarray(R.random_features(6, frames=48, seed=3, n_pad=8), dtype=np.float32)
    return lmusim.load_model(d / "model.h5"), x


def assert_same(a, b):
    np.testing.assert_array_equal(a.logits, b.logits)
    np.testing.assert_array_equal(a.frame_logits, b.frame_logits)
    assert a.spike_counts.keys() == b.spike_counts.keys()
    for k in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k])
    for p in a.ops:
        for c in a.ops[p]:
            np.testing.assert_array_equal(a.ops[p][c], b.ops[p][c])


def test_lmuformer_batch_one_and_two_threads_identical(small):
    model, x = small
    one = model.run(x, batch=6, threads=1)
    two = model.run(x, batch=6, threads=2)
    assert sum(int(v.sum()) for v in one.spike_counts.values()) > 1000
    assert_same(one, two)
    assert_same(one, model.run(x, batch=4, threads=2))  # a short last batch changes nothing


def test_lmuformer_streams_one_and_two_threads_identical(small):
    model, x = small
    outs = []
    for threads in (1, 2):
        s = model.stream(streams=3, threads=threads)
        frames = np.ascontiguousarray(x[:3].transpose(1, 0, 2))  # [n, streams, width]
        ready = [s.push(frames[i:i + 5])[1] for i in range(0, len(frames), 5)]
        ready.append(s.flush()[1])
        outs.append((np.concatenate(ready), s.spike_counts()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    for k in outs[0][1]:
        np.testing.assert_array_equal(outs[0][1][k], outs[1][1][k])


def test_cuba_one_and_two_threads_identical_in_blocks():
    net = lmusim.cuba_network(neurons=2000, seed=7)
    runs = []
    for threads, block in ((1, 4096), (2, 256), (2, 100)):
        sim = lmusim.Simulation(net, threads=threads, block_size=block)
        sim.run(1500, record=True)
        runs.append(sim.spikes("neurons"))
    assert len(runs[0][0]) > 500
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)



def test_tiled_delivery_identical_for_any_tile_and_thread_count(tmp_path):
    """Widths that straddle the 128-target blocks of the column layout (dim 192: 192 = 128 + 64,
    MLP 768, memory 384) and the CLI's --tile-bytes: tiles of one block (1 byte asks for the
    smallest), the default, and no tiling give the same output file, dataset by dataset, on 1 and 2
    threads (docs/design.md, "Tiled delivery")."""
    from testenv import assert_same_datasets, cli, h5_datasets
    m = random_model(tmp_path, dim=192, depth=1, seed=7)
    x = np.asarray(R.random_features(5, frames=40, seed=4, n_pad=8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    outs = []
    for threads, tile in ((1, "0"), (1, "1"), (2, "1"), (2, None), (1, None)):
        out = tmp_path / f"out_{threads}_{tile}.h5"
        args = ["run", m, "--input", tmp_path / "x.npy", "--batch", "5", "--threads", str(threads), "--output", out,
                "--record-spikes", "--quiet"]
        if tile is not None:
            args += ["--tile-bytes", tile]
        cli(*args)
        outs.append(out)
    assert sum(int(v.size) for k, v in h5_datasets(outs[0]).items() if k.startswith("spikes/")) > 1000
    for o in outs[1:]:
        assert_same_datasets(outs[0], o)
