"""Model files say which node takes the frames, which node gives the output and how the audio
front-end normalises (docs/model_format.md, /meta): generic code names no model's nodes, and the
normalisation the converter writes is the one used."""
import shutil

import h5py
import numpy as np
import pytest

from testenv import ROOT, cli, random_model, require_core

lmusim = require_core()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("meta")
    random_model(d, "m", dim=64, seed=3)
    shutil.copy(ROOT / "data" / "demo" / "yes_0.wav", d / "clip.wav")
    np.save(d / "x.npy", np.stack([lmusim.features(str(d / "clip.wav"))]))
    return d


def edited(model, tmp_path, name, edit):
    out = tmp_path / name
    shutil.copy(model / "m.h5", out)
    with h5py.File(out, "r+") as f:
        edit(f)
    return out


def frame_logits(path, inputs, *extra, overwrite_dir=None):
    out = (overwrite_dir or path.parent) / f"out_{path.stem}_{len(extra)}.h5"
    cli("run", path, "--input", *inputs, "--output", out, "--quiet", "--overwrite", *extra)
    with h5py.File(out, "r") as f:
        return f["frame_logits"][:]


def test_the_converter_names_the_nodes_and_the_normalisation(model):
    with h5py.File(model / "m.h5", "r") as f:
        meta = f["meta"].attrs
        assert meta["input_node"] == "input" and meta["output_node"] == "head"
        assert meta["feature_mean"] == np.float32(-6.845978) and meta["feature_std2"] == np.float32(11.1309052)
    m = lmusim.load_model(model / "m.h5")
    assert (m._file.input_node, m._file.output_node) == ("input", "head")


def test_files_without_node_names_use_the_unique_input_and_sink(model, tmp_path):
    def drop(f):
        del f["meta"].attrs["input_node"]
        del f["meta"].attrs["output_node"]
    old = edited(model, tmp_path, "old.h5", drop)
    m = lmusim.load_model(old)
    assert (m._file.input_node, m._file.output_node) == ("input", "head")
    np.testing.assert_array_equal(frame_logits(old, [model / "x.npy"]), frame_logits(model / "m.h5", [model / "x.npy"]))


def test_renamed_nodes_run_when_the_file_names_them(model, tmp_path):
    def rename(f):
        f.move("nodes/input", "nodes/mel")
        f.move("nodes/head", "nodes/classifier")
        for p in f["projections"].values():
            for end in ("source", "target"):
                v = p.attrs[end]
                v = v.decode() if isinstance(v, bytes) else v
                if v in ("input", "head"):
                    p.attrs[end] = {"input": "mel", "head": "classifier"}[v]
        f["meta"].attrs["input_node"] = "mel"
        f["meta"].attrs["output_node"] = "classifier"
    renamed = edited(model, tmp_path, "renamed.h5", rename)
    want = frame_logits(model / "m.h5", [model / "x.npy"])
    np.testing.assert_array_equal(frame_logits(renamed, [model / "x.npy"]), want)
    np.testing.assert_array_equal(frame_logits(renamed, [model / "x.npy"], "--stream"), want)
    # Python's API (its own build: compared with itself, docs/semantics.md on builds)
    x = np.load(model / "x.npy")
    np.testing.assert_array_equal(lmusim.load_model(renamed).run(x).frame_logits,
                                  lmusim.load_model(model / "m.h5").run(x).frame_logits)


def test_a_node_name_that_is_not_in_the_network_is_refused(model, tmp_path):
    bad = edited(model, tmp_path, "bad.h5", lambda f: f["meta"].attrs.__setitem__("output_node", "nowhere"))
    r = cli("run", bad, "--input", model / "x.npy", check=False)
    assert r.returncode == 2 and "output_node = 'nowhere' is not a node" in r.stderr and "bad.h5" in r.stderr


def test_the_normalisation_comes_from_the_model_file(model, tmp_path):
    shifted = edited(model, tmp_path, "shifted.h5", lambda f: f["meta"].attrs.__setitem__("feature_mean", np.float32(-5.5)))
    wav = model / "clip.wav"
    base = frame_logits(model / "m.h5", [wav])
    got = frame_logits(shifted, [wav])
    assert not np.array_equal(got, base)
    # The same as running the model on features normalised with that mean.
    x = lmusim.features(str(wav), feature_mean=-5.5)
    np.save(tmp_path / "shifted.npy", x[None])
    np.testing.assert_array_equal(got, frame_logits(model / "m.h5", [tmp_path / "shifted.npy"], overwrite_dir=tmp_path))
    np.testing.assert_array_equal(frame_logits(shifted, [wav], "--stream"), got)
    # Python: Model.run on WAV paths and Stream.push_audio use it too.
    # Python's API (its own build: compared with itself, docs/semantics.md on builds).
    m = lmusim.load_model(shifted)
    py = m.run([str(wav)]).frame_logits
    np.testing.assert_array_equal(py, lmusim.load_model(model / "m.h5").run(x[None]).frame_logits)
    assert not np.array_equal(py, lmusim.load_model(model / "m.h5").run([str(wav)]).frame_logits)
    samples, _ = lmusim.read_wav(str(wav))
    s = m.stream()
    frames, logits = s.push_audio(samples)
    f2, l2 = s.finish_audio()
    np.testing.assert_array_equal(np.concatenate([logits, l2])[:, 0, :], py[0])
