"""NIR graphs on lmusim (docs/nir.md) against the independent NumPy reference
(tests/python/nir_reference.py): files written by the reference's own writer (random recurrent
CubaLIF networks, convolutional networks, nested subgraphs, a single LIF; every version style,
gzip, numeric names, shuffled edges, float64 neurons), run by the CLI and the Python API, compared
spike for spike; both discretisations and resets; and bad files, which must give one clear error.
"""
import json

import h5py
import numpy as np
import pytest

from testenv import cli, require_core

lmusim = require_core()
import nir_reference as R  # noqa: E402

DT = 1e-4


def raster_from_file(f, node, clips, steps, size):
    g = f["spikes"][node]
    r = np.zeros((clips, steps, size), bool)
    t = np.rint(g["timestamps"][:] / f.attrs["frame_ms"]).astype(int)
    r[g["stream_ids"][:], t, g["node_ids"][:]] = True
    return r


def reference(graph, x, disc="euler", reset="zero"):
    return R.simulate(graph, x, DT, disc, reset, batched=True)


def run_cli(path, x, out, *extra):
    np.save(out.with_suffix(".npy"), x.astype(np.float32))
    r = cli("run", path, "--input", out.with_suffix(".npy"), "--dt", DT, "--output", out, "--record-spikes",
            "--quiet", "--overwrite", *extra)
    return r


def check_against_reference(path, graph, x, out, disc="euler", reset="zero", exact=True, extra=()):
    """Runs the file through the CLI (spikes recorded) and Python; compares every spiking node's
    raster and every Output node's values with the reference."""
    ref_out, ref_spk, _ = reference(graph, x, disc, reset)
    run_cli(path, x, out, "--nir-discretization", disc, "--nir-reset", reset, *extra)
    clips, steps = x.shape[:2]
    with h5py.File(out, "r") as f:
        assert f["status/complete"][()] == 1
        for name, ref in ref_spk.items():
            got = raster_from_file(f, name, clips, steps, ref.shape[-1])
            if exact:
                np.testing.assert_array_equal(got, ref, err_msg=f"spikes of {name}")
            else:
                assert (got != ref).mean() < 1e-3, name
            np.testing.assert_array_equal(f["spike_counts/per_neuron"][name][:], got.sum(axis=1))
        for name, ref in ref_out.items():
            if name not in f["outputs"]:
                continue  # nested Output nodes are pass-throughs in lmusim
            got = f["outputs"][name][:]
            if exact:
                np.testing.assert_array_equal(got, ref, err_msg=f"output {name}")
            else:
                np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5, err_msg=f"output {name}")
    g = lmusim.load_nir(path, dt=DT, discretization=disc, reset=reset)
    res = g.run(x, batch=2)
    for name, ref in ref_spk.items():
        if exact:
            np.testing.assert_array_equal(res.spike_counts[name], ref.sum(axis=1))
    for name in g.output_nodes:
        if exact:
            np.testing.assert_array_equal(res.outputs[name], ref_out[name])
    return ref_out, ref_spk


@pytest.mark.parametrize("recurrent,readout,disc,reset", [
    ("affine", "lif", "euler", "zero"), ("linear", "lif", "exact", "subtract"),
    ("affine", "lif", "exact", "zero"), ("linear", "lif", "euler", "subtract"),
])
def test_random_recurrent_cuba_networks(tmp_path, recurrent, readout, disc, reset):
    g = R.random_cuba_rnn(3, recurrent=recurrent, readout=readout)
    path = tmp_path / "rnn.nir"
    R.write(path, g)
    x = R.random_input(5, 120, (12,), "spikes", 0.2)
    x = np.stack([x, R.random_input(6, 120, (12,), "spikes", 0.3), np.zeros_like(x)])
    _, spk = check_against_reference(path, g, x, tmp_path / "out.h5", disc, reset)
    assert spk["cuba"].sum() > 100 and spk["readout"].sum() > 10  # the comparison means something


def test_li_readout_real_valued_path(tmp_path):
    # LI emits real values: the map after it multiplies (Eigen's summation order), so the outputs
    # agree to rounding; the spikes before it exactly.
    g = R.random_cuba_rnn(4, readout="li")
    path = tmp_path / "rnn.nir"
    R.write(path, g)
    x = R.random_input(1, 80, (12,), "spikes", 0.25)[None]
    ref_out, ref_spk = reference(g, x)[:2]
    run_cli(path, x, tmp_path / "o.h5")
    with h5py.File(tmp_path / "o.h5", "r") as f:
        np.testing.assert_array_equal(raster_from_file(f, "cuba", 1, 80, 24), ref_spk["cuba"])
        np.testing.assert_allclose(f["outputs/output"][:], ref_out["output"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["sum", "avg", "conv1d"])
def test_convolutional_networks(tmp_path, variant):
    g = R.conv_net(7, variant=variant)
    path = tmp_path / f"{variant}.nir"
    R.write(path, g)
    shape = tuple(int(v) for v in g["nodes"]["input"]["shape"])
    x = np.stack([R.random_input(s, 40, shape, "spikes", 0.3) for s in (1, 2)])
    _, spk = check_against_reference(path, g, x, tmp_path / "out.h5")
    assert sum(v.sum() for v in spk.values()) > 50


@pytest.mark.parametrize("neuron", ["LIF", "CubaLIF"])
def test_nested_subgraphs(tmp_path, neuron):
    g = R.nested(2, neuron=neuron)
    path = tmp_path / "nested.nir"
    R.write(path, g)
    x = np.stack([R.random_input(s, 100, (8,), "spikes", 0.2) for s in (3, 4)])
    _, spk = check_against_reference(path, g, x, tmp_path / "out.h5")
    assert any("." in k for k in spk), "nested nodes are named parent.child"
    assert sum(v.sum() for v in spk.values()) > 20


@pytest.mark.parametrize("opts", [
    dict(version="0.1.1"), dict(version="0.2.0"), dict(version="1.0.7", compress=True),
    dict(version="1.0.7", shape_style="flat", neuron_dtype=np.float64),
    dict(version="1.0.7", shape_style="ones", shuffle_edges=5), dict(version="0.2.0", string_style="vlen"),
])
def test_file_versions_and_quirks_give_identical_results(tmp_path, opts):
    g = R.random_cuba_rnn(8)
    for node in ("cuba", "readout"):  # old files cannot hold a non-zero v_reset
        g["nodes"][node]["v_reset"] = np.zeros_like(g["nodes"][node]["v_reset"])
    x = R.random_input(2, 60, (12,), "spikes", 0.25)[None]
    base = tmp_path / "base.nir"
    R.write(base, g)
    run_cli(base, x, tmp_path / "base.h5")
    path = tmp_path / "quirk.nir"
    R.write(path, g, **opts)
    run_cli(path, x, tmp_path / "quirk.h5")
    with h5py.File(tmp_path / "base.h5", "r") as a, h5py.File(tmp_path / "quirk.h5", "r") as b:
        for name in ("cuba", "readout"):
            np.testing.assert_array_equal(a["spike_counts/per_neuron"][name][:], b["spike_counts/per_neuron"][name][:])
        np.testing.assert_array_equal(a["outputs/output"][:], b["outputs/output"][:])


def test_numeric_node_names(tmp_path):
    g = R.rename_numeric(R.random_cuba_rnn(9))
    path = tmp_path / "num.nir"
    R.write(path, g, numeric_names=True)
    x = R.random_input(3, 50, (12,), "spikes", 0.25)[None]
    check_against_reference(path, R.read(path), x, tmp_path / "out.h5")


def test_single_lif_trace_and_discretisations(tmp_path):
    g, x = R.single_lif()
    path = tmp_path / "lif.nir"
    R.write(path, g)
    xs = x.reshape(1, -1, 1).astype(np.float32)
    for disc in ("euler", "exact"):
        _, spk = check_against_reference(path, g, xs, tmp_path / f"{disc}.h5", disc)
        assert spk[[k for k in spk][0]].sum() >= 2


def test_real_valued_input(tmp_path):
    g = R.random_cuba_rnn(10)
    path = tmp_path / "rnn.nir"
    R.write(path, g)
    x = R.random_input(4, 60, (12,), "values")[None]
    check_against_reference(path, g, x, tmp_path / "out.h5", exact=False)


def test_recurrent_affine_delivers_its_bias_at_step_zero(tmp_path):
    # Input -> LI (r = 1) with a recurrent Affine (zero weights, bias b) back into it: at step 0
    # the LI already receives b (a network at rest outputs its bias), so v_0 = k * b.
    b = np.array([0.5, -0.25], np.float32)
    g = {"type": "NIRGraph", "nodes": {
        "input": {"type": "Input", "shape": np.array([2])},
        "li": {"type": "LI", "tau": np.full(2, 1e-3), "r": np.ones(2, np.float32), "v_leak": np.zeros(2, np.float32)},
        "rec": {"type": "Affine", "weight": np.zeros((2, 2), np.float32), "bias": b},
        "output": {"type": "Output", "shape": np.array([2])}},
        "edges": [("input", "li"), ("li", "rec"), ("rec", "li"), ("li", "output")]}
    path = tmp_path / "bias.nir"
    R.write(path, g)
    res = lmusim.load_nir(path, dt=DT).run(np.zeros((3, 2), np.float32))
    k = np.float32(DT / 1e-3)
    np.testing.assert_array_equal(res.outputs["output"][0, 0], k * b)
    info = cli("info", path, "--dt", DT).stdout
    assert "rec -> li   (closes a cycle" in info


def test_cli_info_and_errors(tmp_path):
    g = R.random_cuba_rnn(1)
    path = tmp_path / "g.nir"
    R.write(path, g)
    info = cli("info", path).stdout
    assert "CubaLIF" in info and "nir_cuba_lif" in info and "closes a cycle" in info
    assert "tau_syn (24,)" in info and "weight (24, 12)" in info  # every node's fields, with their ranges
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((10, 12), np.float32))
    r = cli("run", path, "--input", x, check=False)
    assert r.returncode == 2 and "--dt" in r.stderr
    r = cli("run", path, "--input", x, "--dt", "1e-4", "--nir-reset", "sideways", check=False)
    assert r.returncode != 0
    np.save(x, np.zeros((10, 11), np.float32))
    r = cli("run", path, "--input", x, "--dt", "1e-4", check=False)
    assert r.returncode == 2 and "11 channels, expected 12" in r.stderr


def bad_file(tmp_path, mutate, name="bad.nir"):
    g = R.random_cuba_rnn(1)
    mutate(g)
    path = tmp_path / name
    R.write(path, g, check=False)
    return path


@pytest.mark.parametrize("mutate,message", [
    (lambda g: g["nodes"]["cuba"].update(type="Spiky"), "type 'Spiky'"),
    (lambda g: g["nodes"]["cuba"].pop("tau_mem"), "no field 'tau_mem'"),
    (lambda g: g["nodes"]["fc_out"].update(weight=np.ones((4, 23), np.float32)), "fc_out"),
    (lambda g: g["edges"].append(("cuba", "nowhere")), "'nowhere'"),
])
def test_bad_graphs_give_one_clear_error(tmp_path, mutate, message):
    path = bad_file(tmp_path, mutate)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((5, 12), np.float32))
    r = cli("run", path, "--input", x, "--dt", "1e-4", check=False)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    with pytest.raises(lmusim.Error, match=message.replace("(", r"\(")):
        lmusim.load_nir(path, dt=DT)


def test_truncated_and_non_nir_files(tmp_path):
    g = R.random_cuba_rnn(1)
    path = tmp_path / "g.nir"
    R.write(path, g)
    data = path.read_bytes()
    (tmp_path / "cut.nir").write_bytes(data[: len(data) // 2])
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((5, 12), np.float32))
    r = cli("run", tmp_path / "cut.nir", "--input", x, "--dt", "1e-4", check=False)
    assert r.returncode == 2 and "cut.nir" in r.stderr
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(lmusim.Error, match="not a NIR file"):
        lmusim.load_nir(tmp_path / "other.h5", dt=DT)


def test_streaming_equals_whole_clips_and_threads(tmp_path):
    g = R.random_cuba_rnn(12)
    path = tmp_path / "g.nir"
    R.write(path, g)
    x = np.stack([R.random_input(s, 70, (12,), "spikes", 0.25) for s in range(5)])
    m = lmusim.load_nir(path, dt=DT)
    a = m.run(x, batch=4, threads=1)
    b = m.run(x, batch=1, threads=2, stream=True)
    for k in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k])
    np.testing.assert_array_equal(a.outputs["output"], b.outputs["output"])
    # counted: binary input makes the first Affine event-driven (SOPs, no MACs)
    assert a.ops["fc_in"]["sops"].sum() > 0 and a.ops["fc_in"]["macs"].sum() == 0
    out = tmp_path / "o.h5"
    run_cli(path, x, out)
    rep = json.loads(cli("report", out, "--json").stdout)
    assert rep["total"]["sops"] > 0 and "neurobench" in rep


# ---- writing NIR ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: R.random_cuba_rnn(13), lambda: R.random_cuba_rnn(14, recurrent="linear", readout="li"),
    lambda: R.conv_net(15, variant="sum"), lambda: R.conv_net(16, variant="avg"), lambda: R.conv_net(17, variant="conv1d"),
    lambda: R.nested(18, neuron="CubaLIF"),
])
def test_export_import_round_trip_is_spike_identical(tmp_path, make):
    g = make()
    src = tmp_path / "src.nir"
    R.write(src, g)
    m = lmusim.load_nir(src, dt=DT)
    net = tmp_path / "net.h5"
    m.network.save(str(net))
    out = tmp_path / "back.nir"
    r = cli("export", net, out)
    assert "wrote" in r.stdout and not r.stderr
    back = lmusim.load_nir(out, dt=DT)
    shape = m.input_shape
    x = np.stack([R.random_input(s, 60, shape, "spikes", 0.3) for s in (1, 2)])
    a, b = m.run(x), back.run(x)
    assert set(a.spike_counts) == set(b.spike_counts)
    for k in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[k], b.spike_counts[k], err_msg=k)
    for k in m.output_nodes:
        np.testing.assert_array_equal(a.outputs[k], b.outputs[k], err_msg=k)
    # the reference reads what lmusim wrote, and agrees
    ref_out, ref_spk, _ = R.simulate(R.read(out), x, DT, batched=True)
    for k, v in ref_spk.items():
        np.testing.assert_array_equal(b.spike_counts[k], v.sum(axis=1), err_msg=k)


def test_export_refuses_what_nir_cannot_say(tmp_path):
    g = R.random_cuba_rnn(19)
    src = tmp_path / "src.nir"
    R.write(src, g)
    m = lmusim.load_nir(src, dt=DT, reset="subtract")
    net = tmp_path / "net.h5"
    m.network.save(str(net))
    r = cli("export", net, tmp_path / "out.nir", check=False)
    assert r.returncode == 2 and "reset by subtraction" in r.stderr and "'cuba'" in r.stderr
    assert not (tmp_path / "out.nir").exists()
    r = cli("export", net, tmp_path / "out.nir", "--lossy")
    assert r.returncode == 0 and "warning: lost" in r.stderr and (tmp_path / "out.nir").exists()
    # the LMUFormer has no NIR form at all
    model = tmp_path / "cuba.h5"
    cli("cuba", "--neurons", 200, "--duration", "1ms", "--save-network", model)
    r = cli("export", model, tmp_path / "cuba.nir", check=False)
    assert r.returncode == 2 and "refractoriness" in r.stderr
    r = cli("export", model, tmp_path / "cuba.nir", "--lossy")
    assert r.returncode == 0
    assert lmusim.load_nir(tmp_path / "cuba.nir", dt=1e-4).nodes


def test_l2mu_exports_only_lossy(tmp_path):
    import l2mu_reference as L
    sd = L.make_state_dict(n_in=6, memory_size=8, order=3, hidden=10, classes=4, seed=3, calib_T=30)
    L.save_plain({k[len("model."):]: v for k, v in sd.items()}, str(tmp_path / "m.pt"))
    lmusim.convert(tmp_path / "m.pt", tmp_path / "m.h5")
    r = cli("export", tmp_path / "m.h5", tmp_path / "m.nir", check=False)
    assert r.returncode == 2 and "reset by subtraction" in r.stderr
    r = cli("export", tmp_path / "m.h5", tmp_path / "m.nir", "--lossy")
    assert "delayed reset" in r.stderr and "spk_m" in r.stderr
    g = lmusim.load_nir(tmp_path / "m.nir", dt=1e-3)
    types = {t for _, t, _, _ in g.nodes}
    assert {"LIF", "Linear", "Affine", "Input", "Output"} <= types
    # A and B became the block-diagonal Linear maps kron(I, A) and kron(I, B)
    with __import__("h5py").File(tmp_path / "m.nir", "r") as f:
        a = f["node/nodes/A/weight"][:]
        np.testing.assert_array_equal(a, np.kron(np.eye(8, dtype=np.float32), sd["model.l2mu_cell.A.weight"].numpy()))


def test_dataset_input_accuracy_from_spike_counts(tmp_path):
    # The logits are the first Output's values summed over the steps (--nir-readout sum): with
    # labels set to the reference's count argmax, the accuracy is exactly 100 %; with --nir-readout
    # last they are the last step's spikes.
    import l2mu_reference as L
    g = R.random_cuba_rnn(21)
    path = tmp_path / "g.nir"
    R.write(path, g)
    x = np.stack([R.random_input(s, 80, (12,), "spikes", 0.25) for s in range(12)])
    ref_out, ref_spk, _ = reference(g, x)
    counts = ref_out["output"].sum(axis=1)
    y = counts.argmax(axis=1)
    L.save_dataset(x, y, str(tmp_path / "data.pt"))
    out = cli("run", path, "--input", tmp_path / "data.pt", "--dt", DT, "--output", tmp_path / "o.h5").stdout
    assert "accuracy: 100.00 % (12 of 12 clips)" in out
    with h5py.File(tmp_path / "o.h5", "r") as f:
        np.testing.assert_array_equal(f["logits"][:], counts)
        assert f.attrs["nir_readout"] == "sum"
    cli("run", path, "--input", tmp_path / "data.pt", "--dt", DT, "--output", tmp_path / "l.h5", "--nir-readout", "last")
    with h5py.File(tmp_path / "l.h5", "r") as f:
        np.testing.assert_array_equal(f["logits"][:], ref_out["output"][:, -1])


def test_every_remaining_primitive(tmp_path):
    # Scale, Delay (per element, rounded to steps), Threshold, I, IF, CubaLI and a Conv2d with
    # padding "same" (even kernel: PyTorch's uneven split) and one with "valid", two Outputs.
    rng = np.random.default_rng(5)
    f32 = np.float32
    g = {"type": "NIRGraph", "nodes": {
        "input": {"type": "Input", "shape": np.array([2, 4, 4])},
        "conv_same": {"type": "Conv2d", "weight": rng.normal(0, 0.7, (3, 2, 2, 2)).astype(f32), "bias": rng.normal(0, 0.1, 3).astype(f32),
                      "stride": np.array([1, 1]), "padding": "same", "dilation": np.array([1, 1]), "groups": np.int64(1),
                      "input_shape": np.array([4, 4])},
        "if1": {"type": "IF", "r": f32(1.3), "v_threshold": f32(0.5), "v_reset": f32(0.0)},
        "conv_valid": {"type": "Conv2d", "weight": rng.normal(0, 0.7, (2, 3, 3, 3)).astype(f32), "bias": np.zeros(2, f32),
                       "stride": np.array([1, 1]), "padding": "valid", "dilation": np.array([1, 1]), "groups": np.int64(1),
                       "input_shape": np.array([4, 4])},
        "flat": {"type": "Flatten", "start_dim": np.int64(0), "end_dim": np.int64(-1), "input_type": np.array([2, 2, 2])},
        "scale": {"type": "Scale", "scale": rng.uniform(0.5, 2.0, 8).astype(f32)},
        "delay": {"type": "Delay", "delay": (np.arange(8) % 4 * DT * 1.01).astype(np.float64)},
        "thr": {"type": "Threshold", "threshold": np.full(8, 0.3, f32)},
        "lin": {"type": "Linear", "weight": rng.normal(0, 1.0, (5, 8)).astype(f32)},
        "cubali": {"type": "CubaLI", "tau_syn": np.full(5, 3e-4), "tau_mem": np.full(5, 8e-4), "r": np.full(5, 2.0, f32),
                   "v_leak": np.full(5, 0.1, f32), "w_in": np.full(5, 1.5, f32)},
        "integ": {"type": "I", "r": rng.uniform(0.5, 1.5, 8).astype(f32)},
        "out_a": {"type": "Output", "shape": np.array([5])},
        "out_b": {"type": "Output", "shape": np.array([8])}},
        "edges": [("input", "conv_same"), ("conv_same", "if1"), ("if1", "conv_valid"), ("conv_valid", "flat"),
                  ("flat", "scale"), ("scale", "delay"), ("delay", "thr"), ("thr", "lin"), ("lin", "cubali"),
                  ("cubali", "out_a"), ("thr", "integ"), ("integ", "out_b")]}
    path = tmp_path / "all.nir"
    R.write(path, g, compress=True)
    x = np.stack([R.random_input(s, 50, (2, 4, 4), "spikes", 0.4) for s in (1, 2)])
    ref_out, ref_spk, _ = reference(g, x)
    assert ref_spk["thr"].sum() > 20 and ref_spk["if1"].sum() > 20
    for disc in ("euler", "exact"):
        ref_out, ref_spk, _ = reference(g, x, disc)
        res = lmusim.load_nir(path, dt=DT, discretization=disc).run(x)
        for k in ("if1", "thr"):
            np.testing.assert_array_equal(res.spike_counts[k], ref_spk[k].sum(axis=1), err_msg=k)
        np.testing.assert_array_equal(res.outputs["out_b"], ref_out["out_b"])  # I of spikes: exact
        np.testing.assert_allclose(res.outputs["out_a"], ref_out["out_a"], rtol=1e-6, atol=1e-6)
    info = cli("info", path, "--dt", DT).stdout
    assert "note: Delay node 'delay': delays rounded to whole steps" in info
