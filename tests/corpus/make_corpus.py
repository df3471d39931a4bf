#!/usr/bin/env python3
"""Generates the corpus of broken inputs (docs/hardening.md) into a directory, deterministically.

    python3 tests/corpus/make_corpus.py OUT_DIR

Writes the broken files and OUT_DIR/cases.json: a list of cases, each {"name", "argv" (the
lmusim CLI arguments, with "{lmusim}" for the binary or "{python}" for python3), "expect"
("error": exit 2 with one line naming the file; "any": exit 0 or 2, never a crash)}. The test
tests/python/test_corpus.py runs every case under time and memory limits.
"""
import json
import pickle
import struct
import sys
import wave
from pathlib import Path

import h5py
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))
sys.path.insert(0, str(HERE.parents[1] / "python"))


def main(out: Path):
    import torch
    import slmu_reference as R
    from lmusim.convert import convert

    out.mkdir(parents=True, exist_ok=True)
    cases = []

    def case(name, argv, expect="error"):
        cases.append({"name": name, "argv": [str(a) for a in argv], "expect": expect})

    # A valid small model, features and audio to break.
    sd = R.make_state_dict(dim=32, seed=11)
    torch.save(sd, out / "good.pth")
    model = out / "good.h5"
    convert(out / "good.pth", model)
    x = np.asarray(R.random_features(2, frames=20, seed=1, n_pad=0), dtype=np.float32)
    np.save(out / "good.npy", x)
    good = model.read_bytes()

    def model_case(name, data=None, edit=None, expect="error"):
        p = out / f"model_{name}.h5"
        if data is not None:
            p.write_bytes(data)
        else:
            p.write_bytes(good)
            with h5py.File(p, "r+") as f:
                edit(f)
        case(f"model/{name}", ["{lmusim}", "run", p, "--input", out / "good.npy"], expect)
        case(f"info/{name}", ["{lmusim}", "info", p], expect)

    # Truncated and bit-flipped model files.
    for frac in (0.0, 0.01, 0.1, 0.5, 0.9, 0.999):
        model_case(f"truncated_{frac}", good[: int(len(good) * frac)])
    rng = np.random.default_rng(12345)
    for i in range(40):
        b = bytearray(good)
        for _ in range(int(rng.integers(1, 16))):
            pos = int(rng.integers(0, 65536 if i % 2 else len(b)))
            b[pos] ^= 1 << int(rng.integers(0, 8))
        model_case(f"bitflip_{i}", bytes(b), expect="any")
    # Wrong dtypes and shapes, missing and extra datasets, bad attributes.
    w = "projections/patch_embed.proj_conv1/weights"
    model_case("int_weights", edit=lambda f: (f.__delitem__(w), f.create_dataset(w, data=np.zeros((32, 32, 3), np.int32))))
    model_case("shape", edit=lambda f: (f.__delitem__(w), f.create_dataset(w, data=np.zeros((32, 31, 3), np.float32))))
    model_case("even_kernel", edit=lambda f: (f.__delitem__(w), f.create_dataset(w, data=np.zeros((32, 32, 4), np.float32))))
    model_case("missing_dataset", edit=lambda f: f.__delitem__("nodes/block.0.attn.lmu.memory/A"))
    model_case("missing_group", edit=lambda f: f.__delitem__("projections"))
    model_case("missing_attr", edit=lambda f: f["nodes/head_lif"].attrs.__delitem__("tau"))
    model_case("extra_node", edit=lambda f: f["nodes"].create_group("stray"))
    model_case("unknown_kind", edit=lambda f: f["nodes/head_lif"].attrs.__setitem__("kind", "izhikevich"))
    model_case("bad_version", edit=lambda f: f.attrs.__setitem__("format_version", np.int64(99)))
    model_case("not_a_model", edit=lambda f: f.attrs.__setitem__("format", "something-else"))
    model_case("dangling_source", edit=lambda f: f["projections/head.input"].attrs.__setitem__("source", "nowhere"))
    model_case("duplicate_index", edit=lambda f: f["nodes/head"].attrs.__setitem__("index", np.uint64(0)))
    model_case("string_weights", edit=lambda f: (f.__delitem__(w), f.create_dataset(w, data=np.array([b"x"] * 3))))
    # Absurd sizes: refused before allocating.
    model_case("population_1e12", edit=lambda f: f["nodes/head_lif"].attrs.__setitem__("size", np.uint64(10**12)))
    model_case("population_2e9", edit=lambda f: f["nodes/head_lif"].attrs.__setitem__("size", np.uint64(2 * 10**9)))

    def huge(f):
        del f[w]
        f.create_dataset(w, shape=(10**6, 10**6, 3), dtype=np.float32, chunks=(1, 1024, 3))  # terabytes, never written

    model_case("terabyte_weights", edit=huge)

    def huge_input(f):
        f["nodes/input"].attrs["size"] = np.uint64(2**31)
        del f[w.replace("proj_conv1", "proj_conv")]

    model_case("huge_input", edit=huge_input)
    # NaN / Inf in weights and BatchNorm statistics.
    for name, path, val in [("nan_weight", w, np.nan), ("inf_bias", "projections/block.0.mlp.fc1_conv/bias", np.inf),
                            ("nan_bn", "nodes/head_lif/bn_mean", np.nan), ("negative_var", "nodes/head_lif/bn_var", -5.0)]:
        def edit(f, path=path, val=val):
            d = f[path][()]
            d.flat[0] = val
            f[path][...] = d
        model_case(name, edit=edit)

    # Features (.npy).
    def feats(name, arr=None, raw=None):
        p = out / f"feat_{name}.npy"
        if raw is not None:
            p.write_bytes(raw)
        else:
            np.save(p, arr, allow_pickle=True)
        case(f"features/{name}", ["{lmusim}", "run", model, "--input", p])

    bad = x.copy()
    bad[0, 3, 5] = np.nan
    feats("nan", bad)
    bad = x.copy()
    bad[1, 0, 0] = -np.inf
    feats("inf", bad)
    feats("empty_clips", x[:0])
    feats("zero_frames", x[:, :0])
    feats("scalar", np.float32(1.0))
    feats("wrong_width", x[:, :, :64])
    feats("int", x.astype(np.int64))
    feats("complex", x.astype(np.complex64))
    feats("object", np.array([{"a": 1}], dtype=object))
    feats("fortran", np.asfortranarray(x))
    hdr = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 128, 128), }"
    feats("absurd_shape", raw=b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + bytes(64))
    good_npy = (out / "good.npy").read_bytes()
    feats("truncated", raw=good_npy[: len(good_npy) // 2])
    feats("bad_magic", raw=b"\x93NUMPX" + good_npy[6:])
    feats("garbage_header", raw=b"\x93NUMPY\x01\x00\x10\x00{{{{{{{{{{{{{{{{")
    feats("empty_file", raw=b"")

    # WAV files.
    sig = (0.1 * np.sin(np.arange(16000) / 7)).astype(np.float32)

    def wav(name, data=None, rate=16000, channels=1, width=2, raw=None):
        p = out / f"wav_{name}.wav"
        if raw is not None:
            p.write_bytes(raw)
        else:
            with wave.open(str(p), "wb") as wf:
                wf.setnchannels(channels)
                wf.setsampwidth(width)
                wf.setframerate(rate)
                wf.writeframes(data)
        case(f"wav/{name}", ["{lmusim}", "run", model, "--input", p])
        case(f"wav_features/{name}", ["{lmusim}", "features", p])

    pcm = (sig * 32767).astype("<i2").tobytes()
    wav("rate_8k", pcm, rate=8000)
    wav("rate_44k", pcm, rate=44100)
    wav("stereo", pcm, channels=2)
    wav("pcm8", bytes(len(pcm) // 2), width=1)
    wav("pcm24", bytes(len(pcm) // 2 * 3), width=3)
    full = (out / "wav_rate_8k.wav").read_bytes().replace(struct.pack("<I", 8000), struct.pack("<I", 16000), 1)
    wav("truncated", raw=full[: len(full) // 3])
    wav("no_riff", raw=b"JUNK" + full[4:])
    wav("no_data", raw=full[:44 - 8])
    wav("huge_data_chunk", raw=full[:40] + struct.pack("<I", 0xFFFFFFF0) + full[44:1044])
    wav("zero_length", raw=full[:40] + struct.pack("<I", 0))
    wav("empty_file", raw=b"")

    # Checkpoints for the converter (needs no compiled code).
    def ckpt(name, obj=None, raw=None):
        p = out / f"ckpt_{name}.pth"
        if raw is not None:
            p.write_bytes(raw)
        else:
            torch.save(obj, p)
        case(f"checkpoint/{name}", ["{python}", "-m", "lmusim.convert", p, out / f"converted_{name}.h5"])

    missing = dict(sd)
    del missing["module.block.0.attn.lmu.W_h.weight"]
    ckpt("missing_key", missing)
    shaped = dict(sd)
    shaped["module.head.weight"] = torch.zeros(35, 31)
    ckpt("wrong_shape", shaped)
    nan = dict(sd)
    nan["module.head.bias"] = torch.full((35,), float("nan"))
    ckpt("nan", nan)
    ckpt("not_a_dict", [1, 2, 3])
    ckpt("empty_dict", {})
    ckpt("truncated", raw=(out / "good.pth").read_bytes()[:1000])
    ckpt("garbage", raw=b"not a checkpoint at all")

    class Evil:  # a pickle that would run a command when loaded unsafely
        def __reduce__(self):
            import os
            return (os.system, (f"touch {out / 'PWNED'}",))

    ckpt("pickle_code", {"state_dict": Evil()})
    (out / "ckpt_raw_pickle.pth").write_bytes(pickle.dumps(Evil()))
    case("checkpoint/raw_pickle", ["{python}", "-m", "lmusim.convert", out / "ckpt_raw_pickle.pth", out / "x.h5"])

    # Reports and energy models.
    (out / "energy_bad.json").write_text('{"mac_pj": "lots"}')
    case("report/bad_energy_model", ["{lmusim}", "report", model, "--energy-model", out / "energy_bad.json"])
    case("report/not_a_recording", ["{lmusim}", "report", model])
    case("report/truncated", ["{lmusim}", "report", out / "model_truncated_0.5.h5"])
    # Outputs that cannot be written.
    case("output/missing_dir", ["{lmusim}", "run", model, "--input", out / "good.npy", "--output", out / "no" / "o.h5"])
    case("output/is_a_directory", ["{lmusim}", "run", model, "--input", out / "good.npy", "--output", out])

    (out / "cases.json").write_text(json.dumps(cases, indent=1))
    print(f"{len(cases)} cases in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
