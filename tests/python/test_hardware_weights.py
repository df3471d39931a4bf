"""Hardware profiles (lmusim report --hardware: energy per layer split into SOPs, MACs, neuron
updates, spikes and weight memory, in closed form from the output file's counts) and compressed
weights (--weights bf16|int8 at conversion and at run time: exact rounding, counts unchanged,
fp32 bit-identical); docs/energy.md, docs/weights.md."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from testenv import ROOT, cli, require_core

lmusim = require_core()
import slmu_reference as R  # noqa: E402
from lmusim.convert import compress_weights  # noqa: E402

PROFILE = {"name": "unit-chip", "source": "test figures", "sop_pj": 1.5, "neuron_update_pj": 2.25, "spike_pj": 3.0,
           "mac_pj": 0.75, "weight_byte_pj": 0.125}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("hw")
    torch.save(R.make_state_dict(seed=2), d / "ckpt.pth")
    lmusim.convert(d / "ckpt.pth", d / "model.h5")
    x = np.asarray(R.random_features(2, seed=3), dtype=np.float32)
    np.save(d / "x.npy", x)
    for tag, extra in (("plain", []), ("fp32", ["--weights", "fp32"]), ("int8", ["--weights", "int8"]),
                       ("bf16", ["--weights", "bf16"]), ("loihi", ["--hardware", "loihi"])):
        cli("run", d / "model.h5", "--input", d / "x.npy", "--output", d / f"out_{tag}.h5", "--quiet", *extra)
    (d / "chip.json").write_text(json.dumps(PROFILE))
    return d


def _names(ds):
    return [n.decode() if isinstance(n, bytes) else n for n in ds[:]]


def _mean(column):
    """Per-clip mean as lmusim computes it: a sequential sum in double, then / clips."""
    s = 0.0
    for v in column:
        s += float(v)
    return s / len(column)


def expected_hardware(path, p, bits):
    """Every layer's counts and energy terms from the file, by the documented formula."""
    mac = p["mac_pj"] if p.get("mac_pj") is not None else p["sop_pj"]
    rows = []
    with h5py.File(path, "r") as f:
        frames = int(f.attrs["frames"])
        pops = _names(f["spike_counts/populations"])
        sizes = f["spike_counts/sizes"][:]
        is_neurons = f["spike_counts/neurons"][:]
        pop = {}
        for k, name in enumerate(pops):
            per = f["spike_counts/per_neuron"][name][:]
            if is_neurons[k]:
                pop[name] = (float(int(sizes[k])) * float(frames), float(int(per.sum())) / per.shape[0])
        for kind, names, sops, macs in (("projection", _names(f["ops/projections"]), f["ops/sops"][:], f["ops/macs"][:]),
                                        ("node", _names(f["ops/nodes"]), f["ops/node_sops"][:], f["ops/node_macs"][:])):
            for i, name in enumerate(names):
                s, m = _mean(sops[:, i]), _mean(macs[:, i])
                u, k = pop.get(name, (0.0, 0.0)) if kind == "node" else (0.0, 0.0)
                if kind == "node" and s == 0 and m == 0 and u == 0 and k == 0:
                    continue
                b = (s + m) * (bits / 8.0)
                e = {"sops": p["sop_pj"] * s, "macs": mac * m, "neuron_updates": p["neuron_update_pj"] * u,
                     "spikes": p["spike_pj"] * k, "memory": p["weight_byte_pj"] * b}
                e["total"] = e["sops"] + e["macs"] + e["neuron_updates"] + e["spikes"] + e["memory"]
                rows.append((name, {"sops": s, "macs": m, "neuron_updates": u, "spikes": k, "weight_bytes": b}, e))
    return rows


def test_hardware_report_per_layer_and_term_in_closed_form(run):
    d = run
    r = json.loads(cli("report", d / "out_plain.h5", "--json", "--hardware", d / "chip.json").stdout)
    hw = r["hardware"]
    assert hw["profile"]["name"] == "unit-chip" and hw["profile"]["source"] == "test figures"
    assert hw["weight_bits"] == 32 and hw["weight_bits_from"] == "run (fp32)"
    want = expected_hardware(d / "out_plain.h5", PROFILE, 32)
    assert [row["name"] for row in hw["layers"]] == [w[0] for w in want]
    total = dict.fromkeys(("sops", "macs", "neuron_updates", "spikes", "memory", "total"), 0.0)
    for row, (name, counts, energy) in zip(hw["layers"], want):
        assert row["counts"] == counts, name
        assert row["energy_pj"] == energy, name
        for k in total:
            total[k] += energy[k]
    assert hw["total"]["energy_pj"] == total
    # the LIF populations pay neuron updates and spikes; the real-valued first layer pays MACs
    assert total["neuron_updates"] > 0 and total["spikes"] > 0 and total["macs"] > 0 and total["sops"] > 0
    # Python gives the same; the report without --hardware is unchanged by it
    assert lmusim.report(d / "out_plain.h5", hardware=str(d / "chip.json"))["hardware"] == hw
    plain = json.loads(cli("report", d / "out_plain.h5", "--json").stdout)
    del r["hardware"]
    assert r == plain
    text = cli("report", d / "out_plain.h5", "--hardware", d / "chip.json").stdout
    assert text.startswith(cli("report", d / "out_plain.h5").stdout)
    assert "hardware profile unit-chip [test figures]" in text and "E_unit-chip = 1.5 pJ x SOPs" in text


def test_loihi_preset_and_run_with_hardware(run):
    d = run
    with h5py.File(d / "out_loihi.h5", "r") as f:
        assert f.attrs["hardware"] == "loihi" and f.attrs["weights"] == "int8"
    with h5py.File(d / "out_plain.h5", "r") as f:
        assert f.attrs["weights"] == "fp32"
    loihi = next(p for p in lmusim.hardware_profiles() if p["name"] == "loihi")
    assert (loihi["sop_pj"], loihi["neuron_update_pj"], loihi["mac_pj"], loihi["weight_bits"]) == (23.6, 81.0, None, 8)
    hw = lmusim.report(d / "out_loihi.h5", hardware="loihi")["hardware"]
    assert hw["mac_price_pj"] == 23.6 and hw["weight_bits"] == 8
    want = expected_hardware(d / "out_loihi.h5", {**loihi, "mac_pj": None}, 8)
    assert [(row["name"], row["energy_pj"]) for row in hw["layers"]] == [(w[0], w[2]) for w in want]
    listing = cli("report", "--list-hardware").stdout
    for p in lmusim.hardware_profiles():
        assert f"{p['name']}: SOP " in listing and p["source"] in listing
    assert "Davies et al." in listing and "Merolla et al." in listing


def test_bad_hardware_profile_files_name_the_file_and_the_key(run, tmp_path):
    d = run
    cases = [({"neuron_update_pj": 1, "spike_pj": 1}, "missing key 'sop_pj'"),
             ({**PROFILE, "spike_pj": -2}, "key 'spike_pj' = -2, expected a finite value >= 0"),
             ({**PROFILE, "sop_pj": "23.6"}, "key 'sop_pj' must be a number"),
             ({**PROFILE, "energy": 1}, "unknown key 'energy'")]
    for i, (body, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.json"
        path.write_text(json.dumps(body))
        r = cli("report", d / "out_plain.h5", "--hardware", path, check=False)
        assert r.returncode == 2 and str(path) in r.stderr and message in r.stderr, r.stderr
        with pytest.raises(lmusim.Error, match="bad"):
            lmusim.report(d / "out_plain.h5", hardware=str(path))
    r = cli("report", d / "out_plain.h5", "--hardware", "loihi9", check=False)
    assert r.returncode == 2 and "unknown hardware profile 'loihi9'" in r.stderr


def _synaptic_arrays(path):
    """The synaptic weights of a model file: projections' weights (dense, conv1d, ...) and the readout's."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, g in f["projections"].items():
            if g.attrs["kind"] in ("dense", "conv1d", "block_diagonal", "one_to_one", "conv2d"):
                out["projections/" + name] = g["weights"][:]
        for name, g in f["nodes"].items():
            if g.attrs["kind"] == "readout":
                out["nodes/" + name] = g["weight"][:]
    return out


def test_int8_and_bf16_weights_are_exact_at_conversion_and_run_time(run, tmp_path):
    d = run
    fp32 = _synaptic_arrays(d / "model.h5")
    assert len(fp32) > 5
    assert "weights rounded" not in cli("info", d / "model.h5").stdout
    for fmt in ("int8", "bf16"):
        subprocess.run([sys.executable, "-m", "lmusim.convert", d / "ckpt.pth", tmp_path / f"{fmt}.h5", "--weights", fmt],
                       check=True, capture_output=True)
        converted = _synaptic_arrays(tmp_path / f"{fmt}.h5")
        assert f"weights rounded to {fmt}" in cli("info", tmp_path / f"{fmt}.h5").stdout
        # the C++ pass at run time gives the same floats, bit for bit
        m = lmusim.load_model(d / "model.h5", weights=fmt)
        assert m._file.weights == fmt
        m.network.save(str(tmp_path / f"{fmt}_cpp.h5"))
        cpp = _synaptic_arrays(tmp_path / f"{fmt}_cpp.h5")
        with h5py.File(tmp_path / f"{fmt}.h5", "r") as f, h5py.File(tmp_path / f"{fmt}_cpp.h5", "r") as g, \
                h5py.File(d / "model.h5", "r") as orig:
            assert f.attrs["weights"] == fmt and g.attrs["weights"] == fmt and "weights" not in orig.attrs
            for top in ("nodes", "projections"):  # the LMU memory's A, B, H, biases, affines stay fp32
                for name, grp in f[top].items():
                    for key in grp:
                        if top + "/" + name not in fp32 or key not in ("weight", "weights"):
                            np.testing.assert_array_equal(grp[key][:], orig[top][name][key][:])
        for key, w in fp32.items():
            np.testing.assert_array_equal(converted[key].view(np.uint32), cpp[key].view(np.uint32), err_msg=key)
            got = converted[key]
            if fmt == "bf16":
                assert np.all(got.view(np.uint32) & 0xFFFF == 0), key
                assert np.all(np.abs(got - w) <= np.abs(w) * 2.0 ** -8), key
                continue
            rows = w.reshape(w.shape[0], -1)
            s = (np.abs(rows).max(axis=1) / np.float32(127)).astype(np.float32)[:, None]
            q = np.rint(rows / s)  # float32, ties to even
            assert np.all(np.abs(q) <= 127) and np.all(np.abs(q).max(axis=1) == 127), key
            np.testing.assert_array_equal(got.reshape(rows.shape), (q * s).astype(np.float32), err_msg=key)
            assert np.all(np.abs(got.reshape(rows.shape) - rows) <= s * (0.5 + 1e-4)), key  # float rounding at ties
            assert not np.array_equal(got, w), key
        # the int8 file runs as the run-time int8 pass does
        assert compress_weights(w, fmt).tobytes() == got.tobytes()


def test_counts_unchanged_and_fp32_bit_identical(run):
    d = run
    with h5py.File(d / "out_plain.h5", "r") as p, h5py.File(d / "out_fp32.h5", "r") as q:
        for key in ("logits", "frame_logits", "ops/sops", "ops/macs", "ops/events", "ops/node_sops", "ops/node_macs"):
            assert p[key][:].tobytes() == q[key][:].tobytes(), key
    with h5py.File(d / "out_plain.h5", "r") as p:
        base = {k: p["ops/" + k][:].astype(np.int64) for k in ("events", "sops", "macs", "dense", "node_dense", "node_macs")}
        logits = p["logits"][:]
    for fmt in ("int8", "bf16"):
        with h5py.File(d / f"out_{fmt}.h5", "r") as q:
            assert q.attrs["weights"] == fmt
            got = {k: q["ops/" + k][:].astype(np.int64) for k in base}
            assert not np.array_equal(q["logits"][:], logits)  # the numerics changed
        # what does not depend on spikes is identical; what does costs the same per spike
        for k in ("macs", "dense", "node_dense", "node_macs"):
            np.testing.assert_array_equal(got[k], base[k], err_msg=f"{fmt} {k}")
        fired = base["events"] > 0
        fanout = np.where(fired, base["sops"], 0) // np.maximum(base["events"], 1)
        both = fired & (got["events"] > 0)
        np.testing.assert_array_equal(got["sops"][both], got["events"][both] * fanout[both], err_msg=fmt)
