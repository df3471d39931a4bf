"""Tests of the restricted PyTorch file reader ``python/lmusim/safe_load.py`` (docs/converter.md,
"Reading checkpoints safely"). Pure Python: no compiled lmusim code.

Run: ``PYTHONPATH=python /usr/bin/python3 -m pytest -q tests/python/test_safe_load.py``.
With ``LMUSIM_L2MU_CKPT`` (a PyTorch Lightning L2MU ``best.ckpt``) and/or ``LMUSIM_L2MU_DATA``
(an L2MU Braille ``ds_val_0.pt``) set, the published files are read too.
"""
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import pytest
import torch

from lmusim import safe_load
from lmusim.safe_load import LoadError, RefusedError, TensorDataset, load


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

def _ptr(t):
    return t.storage().data_ptr()


def _bits(t):
    return t.detach().reshape(-1).contiguous().view(torch.uint8)


def assert_same(a, b, where="obj"):
    """``a`` (safe_load) equals ``b`` (what was saved) exactly: types, dtypes, shapes, strides,
    storage offsets, bits."""
    if isinstance(b, torch.Tensor):
        assert type(a) is type(b), where
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.stride() == b.stride() and a.storage_offset() == b.storage_offset(), where
        assert a.requires_grad == b.requires_grad, where
        assert a.device.type == "cpu", where
        assert torch.equal(_bits(a), _bits(b)), where
        return
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(b, dict):
        assert list(a) == list(b), where
        for k in b:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(b, float) and b != b:
        assert a != a, where
    else:
        assert a == b, where


def rewrite_zip(src, dst, data_pkl=None, prefix=None, drop=(), replace=None):
    """Copy the torch zip ``src`` to ``dst``, optionally replacing data.pkl, renaming the top
    folder, dropping or replacing records (names relative to the top folder)."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            top, rest = info.filename.split("/", 1)
            if rest in drop:
                continue
            data = zin.read(info)
            if rest == "data.pkl" and data_pkl is not None:
                data = data_pkl
            if rest in replace:
                data = replace[rest]
            zout.writestr(f"{prefix or top}/{rest}", data)


def torch_zip(path, data_pkl, records=None, prefix="archive"):
    """A torch zip file written by hand."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", "little")
        for key, data in (records or {}).items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")


# Pickle opcodes, protocol 2, for hand-written data.pkl files.
def G(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def S(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def I(n):
    return b"J" + struct.pack("<i", n)


MARK, TUPLE, EMPTY_TUPLE, REDUCE, BINPERSID, BUILD = b"(", b"t", b")", b"R", b"Q", b"b"
NEWFALSE, EMPTY_DICT, SETITEM, STOP, PROTO2 = b"\x89", b"}", b"s", b".", b"\x80\x02"


def tensor_ops(key="0", location="cpu", numel=4, size=(4,), stride=(1,), offset=0,
               storage="FloatStorage"):
    """Opcodes pushing one _rebuild_tensor_v2 tensor."""
    tup = lambda xs: MARK + b"".join(I(x) for x in xs) + TUPLE  # noqa: E731
    return (G("torch._utils", "_rebuild_tensor_v2") + MARK
            + MARK + S("storage") + G("torch", storage) + S(key) + S(location) + I(numel) + TUPLE
            + BINPERSID + I(offset) + tup(size) + tup(stride) + NEWFALSE
            + G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)


def floats(*xs):
    return struct.pack(f"<{len(xs)}f", *xs)


class _Evil:
    """A pickle that runs ``fn(*args)`` when loaded by an ordinary unpickler."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


@pytest.fixture
def work(tmp_path):
    return tmp_path


def sample_state():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(4, 6, generator=g)
    flat = base.view(-1)
    ints = torch.arange(-5, 15, dtype=torch.int64)
    return OrderedDict([
        ("f32", torch.randn(3, 5, generator=g)),
        ("f64", torch.randn(7, generator=g, dtype=torch.float64)),
        ("f16", torch.randn(2, 3, generator=g).half()),
        ("bf16", torch.randn(5, generator=g).bfloat16()),
        ("i64", ints),
        ("i64_tail", ints[5:]),                     # offset view of the same storage
        ("i32", torch.tensor([1, -2, 2 ** 31 - 1], dtype=torch.int32)),
        ("i16", torch.tensor([-3, 4], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("c64", torch.randn(3, generator=g, dtype=torch.complex64)),
        ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 3)),
        ("base", base),
        ("cols", base[:, ::2]),                     # non-contiguous view
        ("t", base.t()),                            # transposed view
        ("row", flat[7:13]),                        # offset view
        ("param", torch.nn.Parameter(torch.randn(2, 2, generator=g))),
        ("frozen", torch.nn.Parameter(torch.randn(2, generator=g), requires_grad=False)),
        ("nested", {"list": [torch.ones(2), 3, "x", None, [1.5, float("inf")]],
                    "tuple": (1, 2.0, True), "set": {1, 2}, "bytes": b"\x00\xffab",
                    "empty_bytes": b"", "size": torch.Size([2, 3]), "dtype": torch.float16,
                    "big": 2 ** 70, "neg": -1, "nan": float("nan"),
                    "device": torch.device("cuda", 1), "frozenset": frozenset({"a"})}),
    ])


# ---------------------------------------------------------------------------------------------
# (1) torch.save files round-trip
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_round_trip(work, zip_format):
    sd = sample_state()
    path = work / "sd.pt"
    torch.save(sd, path, _use_new_zipfile_serialization=zip_format)
    got = load(path, what="tensors")
    assert_same(got, sd)
    assert got["param"].requires_grad and not got["frozen"].requires_grad
    # views share one storage, as with torch.load
    assert _ptr(got["base"]) == _ptr(got["cols"]) == _ptr(got["t"]) == _ptr(got["row"])
    assert _ptr(got["i64"]) == _ptr(got["i64_tail"])
    got["base"][0, 0] = 123.0
    assert got["cols"][0, 0] == 123.0 and got["t"][0, 0] == 123.0
    # the same as torch.load (this file is our own, so torch.load is safe here)
    assert_same(got["nested"], torch.load(path)["nested"])


def test_single_tensor_and_plain_values(work):
    for i, obj in enumerate([torch.arange(5), 3, "text", [1, 2], {"a": (1, 2)}, None]):
        path = work / f"v{i}.pt"
        torch.save(obj, path)
        assert_same(load(path, what="tensors"), obj)


def test_top_folder_and_byteorder(work):
    sd = {"w": torch.arange(6, dtype=torch.float32).view(2, 3), "n": torch.arange(3)}
    torch.save(sd, work / "a.pt")
    rewrite_zip(work / "a.pt", work / "b.pt", prefix="some_other_name")
    assert_same(load(work / "b.pt"), sd)
    # a big-endian file (written by hand): bytes swapped on reading
    pkl = PROTO2 + EMPTY_DICT + S("w") + tensor_ops() + SETITEM + STOP
    with zipfile.ZipFile(work / "be.pt", "w") as z:
        z.writestr("be/data.pkl", pkl)
        z.writestr("be/byteorder", "big")
        z.writestr("be/data/0", struct.pack(">4f", 1.0, 2.0, -3.0, 0.5))
    assert load(work / "be.pt")["w"].tolist() == [1.0, 2.0, -3.0, 0.5]


def test_cuda_storages_load_to_cpu(work, monkeypatch):
    # torch.save of "CUDA" storages: the location tag is what a GPU machine writes
    sd = {"w": torch.randn(3, 4), "b": torch.arange(4)}
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save(sd, work / "gpu.pt")
    monkeypatch.undo()
    with zipfile.ZipFile(work / "gpu.pt") as z:
        assert b"cuda:0" in z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])
    got = load(work / "gpu.pt")
    assert_same(got, sd)
    # and a data.pkl written by hand with cuda:2 / torch.cuda.FloatStorage (old GPU files)
    pkl = (PROTO2 + EMPTY_DICT + S("a") + tensor_ops(location="cuda:2") + SETITEM
           + S("b") + tensor_ops(key="1", location="cuda:1", storage="FloatStorage").replace(
               G("torch", "FloatStorage"), G("torch.cuda", "FloatStorage")) + SETITEM + STOP)
    torch_zip(work / "hand.pt", pkl, {"0": floats(1, 2, 3, 4), "1": floats(5, 6, 7, 8)})
    got = load(work / "hand.pt")
    assert got["a"].device.type == "cpu" and got["a"].tolist() == [1, 2, 3, 4]
    assert got["b"].tolist() == [5, 6, 7, 8]


# ---------------------------------------------------------------------------------------------
# (2) Lightning-style checkpoints
# ---------------------------------------------------------------------------------------------

def _save_with_fake_module(path, module_name, class_name, make, base=dict):
    """torch.save an object holding instances of ``module_name.class_name`` (a class defined
    here), then remove the module again so that nothing can import it."""
    parts = module_name.split(".")
    added = []
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    cls = type(class_name, (base,), {"__module__": module_name})
    setattr(sys.modules[module_name], class_name, cls)
    try:
        torch.save(make(cls), path)
    finally:
        for name in added:
            del sys.modules[name]


LIGHTNING_MODULES = ["pytorch_lightning.utilities.parsing", "lightning.pytorch.utilities.parsing",
                     "lightning_fabric.utilities.data", "lightning.fabric.utilities.data"]


@pytest.mark.parametrize("module", LIGHTNING_MODULES)
def test_lightning_checkpoint(work, module):
    sd = OrderedDict([("model.l2mu_cell.e_x.weight", torch.randn(70, 12)),
                      ("model.l2mu_cell.spk_u.beta", torch.tensor(0.8)),
                      ("model.l2mu_cell.spk_u.reset_mechanism_val", torch.tensor(0))])
    sd._metadata = OrderedDict([("", {"version": 1})])

    def make(AttributeDict):
        return {"epoch": 3, "global_step": 120, "pytorch-lightning_version": "2.4.0",
                "state_dict": sd,
                "hyper_parameters": AttributeDict(num_inputs=12, architecture="L2MU",
                                                  params=AttributeDict(lr=1.45e-3, order=7.0)),
                "optimizer_states": [{"state": {0: {"step": torch.tensor(3.0)}}}]}

    path = work / "light.ckpt"
    _save_with_fake_module(path, module, "AttributeDict", make)
    assert module not in sys.modules
    got = load(path)
    hp = got["hyper_parameters"]
    assert type(hp) is dict and type(hp["params"]) is dict
    assert hp == {"num_inputs": 12, "architecture": "L2MU", "params": {"lr": 1.45e-3, "order": 7.0}}
    assert_same(got["state_dict"], sd)
    assert got["state_dict"]._metadata == sd._metadata
    assert got["optimizer_states"][0]["state"][0]["step"].item() == 3.0
    assert module not in sys.modules  # nothing was imported
    # not admitted unless asked for
    for what in ("tensors", "dataset"):
        with pytest.raises(RefusedError, match=rf"light\.ckpt: refers to {module}\.AttributeDict"
                                               rf" \(admitted with what='checkpoint'\)") as e:
            load(path, what=what)
        assert e.value.name == f"{module}.AttributeDict"


def test_other_lightning_class_refused(work):
    path = work / "other.ckpt"
    _save_with_fake_module(path, "pytorch_lightning.core.module", "LightningModule",
                           lambda cls: {"m": cls()}, base=object)
    with pytest.raises(RefusedError, match="refers to pytorch_lightning.core.module."
                                           "LightningModule; lmusim reads only tensors"):
        load(path)


def test_attribute_dict_with_attributes_refused(work):
    def make(cls):
        d = cls(a=1)
        d.extra = 2  # instance attributes: a BUILD on the dict
        return d
    path = work / "attr.ckpt"
    _save_with_fake_module(path, "pytorch_lightning.utilities.parsing", "AttributeDict", make)
    with pytest.raises(RefusedError, match="BUILD"):
        load(path)


# ---------------------------------------------------------------------------------------------
# (3) Malicious pickles
# ---------------------------------------------------------------------------------------------

def _payloads(marker):
    import subprocess
    return {
        "posix.system": _Evil(os.system, f"touch {marker}"),
        "builtins.eval": _Evil(eval, f"open({str(marker)!r}, 'w').close()"),
        "builtins.exec": _Evil(exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Evil(subprocess.Popen, ["touch", str(marker)]),
        "builtins.getattr": _Evil(getattr, "x", "upper"),
    }


@pytest.mark.parametrize("name", list(_payloads("x")))
@pytest.mark.parametrize("fmt", ["zip", "legacy", "raw0", "raw2", "raw5"])
def test_malicious_refused(work, name, fmt):
    marker = work / "PWNED"
    evil = _payloads(marker)[name]
    obj = {"w": torch.ones(3), "x": evil}
    path = work / f"evil_{fmt}.pt"
    if fmt in ("zip", "legacy"):
        torch.save(obj, path, _use_new_zipfile_serialization=fmt == "zip")
    else:
        path.write_bytes(pickle.dumps({"x": evil}, protocol=int(fmt[3:])))
    for what in safe_load.WHAT:
        with pytest.raises(RefusedError) as e:
            load(path, what=what)
        msg = str(e.value)
        assert msg.startswith(f"{path}: refers to {name};") and "nothing was run" in msg
        assert e.value.name == name and e.value.path == str(path)
    assert not marker.exists()


def test_payload_is_live(work):
    """The payloads above do run under an ordinary unpickler (so the tests mean something)."""
    marker = work / "PWNED"
    pickle.loads(pickle.dumps(_payloads(marker)["posix.system"]))
    assert marker.exists()


def test_module_is_never_imported(work, monkeypatch):
    """A name in an importable module that would act on import is refused by name, unimported."""
    marker = work / "IMPORTED"
    (work / "lmusim_trap.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Thing: pass\n")
    monkeypatch.syspath_prepend(str(work))
    pkl = PROTO2 + G("lmusim_trap", "Thing") + EMPTY_TUPLE + REDUCE + STOP
    torch_zip(work / "trap.pt", pkl)
    with pytest.raises(RefusedError, match="refers to lmusim_trap.Thing;"):
        load(work / "trap.pt")
    assert not marker.exists() and "lmusim_trap" not in sys.modules


@pytest.mark.parametrize("ops, match", [
    # BUILD on a tensor would call Tensor.__setstate__ (backward hooks, set_)
    (tensor_ops() + EMPTY_DICT + S("requires_grad") + b"\x88" + SETITEM + BUILD,
     "BUILD"),
    # a dunder attribute on an OrderedDict
    (G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + EMPTY_DICT + S("__class__")
     + G("collections", "OrderedDict") + SETITEM + BUILD, "BUILD"),
    # _codecs.encode with another codec
    (G("_codecs", "encode") + MARK + S("abc") + S("rot13") + TUPLE + REDUCE, "_codecs.encode"),
    # bytes(n) would allocate n bytes
    (G("__builtin__", "bytes") + MARK + I(10 ** 9) + TUPLE + REDUCE, "builtins.bytes"),
    # a persistent id other than a storage
    (MARK + S("module") + S("x") + TUPLE + BINPERSID, "persistent id 'module'"),
    # a storage type outside any tensor in the result
    (G("torch", "FloatStorage"), "torch.FloatStorage"),
    # a rebuild function as a value
    (G("torch._utils", "_rebuild_tensor_v2"), "not a value lmusim returns"),
    # backward hooks / tensor metadata / parameter state
    (tensor_ops().replace(G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE,
                          EMPTY_DICT + I(0) + S("hook") + SETITEM),
     r"refers to tensor backward hooks; lmusim"),
    (tensor_ops().replace(G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE,
                          G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + EMPTY_DICT
                          + S("conj") + b"\x88" + SETITEM + TUPLE),
     r"refers to tensor metadata \(a tensor carries metadata \{'conj': True\}\)"),
    # the real torch._utils functions that are not plain dense tensors
    (G("torch._utils", "_rebuild_sparse_tensor"), "torch._utils._rebuild_sparse_tensor"),
    (G("torch._tensor", "_rebuild_from_type_v2"), "torch._tensor._rebuild_from_type_v2"),
    (G("torch.storage", "_load_from_bytes"), "torch.storage._load_from_bytes"),
    (G("torch", "load"), "torch.load"),
])
def test_crafted_pickles_refused(work, ops, match):
    torch_zip(work / "c.pt", PROTO2 + ops + STOP, {"0": floats(1, 2, 3, 4)})
    with pytest.raises(RefusedError, match=match):
        load(work / "c.pt")


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=(5,)), "reaches element 4 of a storage of 4"),
    (dict(size=(2,), stride=(-1,)), "stride"),
    (dict(offset=7, size=(0,)), "past the end"),
    (dict(numel=8), "holds 16 bytes, expected 32"),
    (dict(key="9"), "record archive/data/9 is missing"),
])
def test_bad_tensor_arguments(work, kwargs, match):
    torch_zip(work / "t.pt", PROTO2 + tensor_ops(**kwargs) + STOP, {"0": floats(1, 2, 3, 4)})
    with pytest.raises(LoadError, match=match) as e:
        load(work / "t.pt")
    assert str(e.value).startswith(f"{work / 't.pt'}: cannot read as a PyTorch file")


@pytest.mark.parametrize("ops, match", [
    # calling a storage-type marker / something find_class did not return
    (G("torch", "FloatStorage") + EMPTY_TUPLE + REDUCE, "a call of a _StorageType, which is not"),
    (S("abc") + EMPTY_TUPLE + REDUCE, "a call of a str, which is not an admitted callable"),
    # a false length must not allocate
    (b"\x96" + struct.pack("<Q", 1 << 40), "BYTEARRAY8 is longer than the data"),
    (b"\x8e" + struct.pack("<Q", 1 << 40), "truncated pickle"),
    # item opcodes would call a tensor's __setitem__ / a stand-in's methods
    (tensor_ops() + I(0) + I(5) + SETITEM, "SETITEM on a Tensor"),
    (tensor_ops() + MARK + I(0) + I(5) + b"u", "SETITEMS on a Tensor"),
    (tensor_ops() + I(0) + b"a", "APPEND on a Tensor"),
    (G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + MARK + I(0) + b"e",
     "APPENDS on a OrderedDict"),
])
def test_malformed_crafted_pickles(work, ops, match):
    torch_zip(work / "c.pt", PROTO2 + ops + STOP, {"0": floats(1, 2, 3, 4)})
    with pytest.raises(LoadError, match=match):
        load(work / "c.pt")


def test_legacy_written_by_hand(work):
    """A legacy file with a storage view (view_metadata), as torch < 1.6 could write."""
    def pid(key, numel, view=None):
        v = b"N" if view is None else MARK + S(view[0]) + I(view[1]) + I(view[2]) + TUPLE
        return (MARK + S("storage") + G("torch", "DoubleStorage") + S(key) + S("cuda:0")
                + I(numel) + v + TUPLE + BINPERSID)

    def tensor(p, offset, size):
        return (G("torch._utils", "_rebuild_tensor_v2") + MARK + p + I(offset) + MARK + I(size)
                + TUPLE + MARK + I(1) + TUPLE + NEWFALSE + EMPTY_DICT + TUPLE + REDUCE)

    main = (PROTO2 + EMPTY_DICT + S("whole") + tensor(pid("7", 6), 1, 4) + SETITEM
            + S("view") + tensor(pid("7", 6, ("7v", 2, 3)), 1, 2) + SETITEM + STOP)
    data = struct.pack("<q", 6) + struct.pack("<6d", 0, 1, 2, 3, 4, 5)
    raw = (pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
           + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
           + main + pickle.dumps(["7"], protocol=2) + data)
    (work / "old.pt").write_bytes(raw)
    got = load(work / "old.pt")
    assert got["whole"].dtype == torch.float64 and got["whole"].tolist() == [1, 2, 3, 4]
    assert got["view"].tolist() == [3, 4]
    got["whole"][2] = -1
    assert got["view"][0] == -1  # the view shares the root storage
    (work / "old_short.pt").write_bytes(raw[:-8])
    with pytest.raises(LoadError, match="storage 7 is truncated"):
        load(work / "old_short.pt")
    (work / "old_big.pt").write_bytes(raw.replace(I(6) + b"N", I(10 ** 9) + b"N", 1))
    with pytest.raises(LoadError, match="does not fit in the file"):
        load(work / "old_big.pt")


def test_rebuild_tensor_v3(work):
    """torch 2.x's v3 form: bytes of a ByteStorage read as an explicit dtype."""
    ops = (G("torch._utils", "_rebuild_tensor_v3") + MARK
           + MARK + S("storage") + G("torch", "ByteStorage") + S("0") + S("cpu") + I(16) + TUPLE
           + BINPERSID + I(1) + MARK + I(3) + TUPLE + MARK + I(1) + TUPLE + NEWFALSE
           + G("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + G("torch", "float32")
           + TUPLE + REDUCE)
    torch_zip(work / "v3.pt", PROTO2 + ops + STOP, {"0": floats(1, 2, 3, 4)})
    got = load(work / "v3.pt")
    assert got.dtype == torch.float32 and got.tolist() == [2, 3, 4]


def test_bool_storage_normalised(work):
    pkl = PROTO2 + tensor_ops(storage="BoolStorage", numel=4) + STOP
    torch_zip(work / "b.pt", pkl, {"0": bytes([0, 1, 7, 255])})
    got = load(work / "b.pt")
    assert got.tolist() == [False, True, True, True]
    assert got.view(torch.uint8).tolist() == [0, 1, 1, 1]


# ---------------------------------------------------------------------------------------------
# (4) Datasets
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_tensor_dataset(work, zip_format):
    x = torch.randn(28, 25, 12)
    y = torch.randint(0, 7, (28,))
    path = work / "ds.pt"
    torch.save(torch.utils.data.TensorDataset(x, y), path,
               _use_new_zipfile_serialization=zip_format)
    ds = load(path, what="dataset")
    assert type(ds) is TensorDataset and len(ds) == 28
    assert_same(ds.tensors, (x, y))
    xi, yi = ds[3]
    assert torch.equal(xi, x[3]) and yi == y[3]
    for what in ("checkpoint", "tensors"):
        with pytest.raises(RefusedError, match=r"refers to torch\.utils\.data\.dataset\."
                                               r"TensorDataset \(admitted with what='dataset'\); "
                                               r"lmusim reads only"):
            load(path, what=what)


def test_tensor_dataset_bad_state(work):
    pkl = (PROTO2 + G("torch.utils.data.dataset", "TensorDataset") + EMPTY_TUPLE + b"\x81"
           + EMPTY_DICT + S("tensors") + S("not a tensor") + SETITEM + BUILD + STOP)
    torch_zip(work / "d.pt", pkl)
    with pytest.raises(LoadError, match="'tensors' is not a tuple of tensors"):
        load(work / "d.pt", what="dataset")


def test_unknown_what(work):
    torch.save({}, work / "e.pt")
    with pytest.raises(ValueError, match="what='model'"):
        load(work / "e.pt", what="model")
    assert "torch._utils._rebuild_tensor_v2" in safe_load.admitted("tensors")
    assert any("AttributeDict" in n for n in safe_load.admitted("checkpoint"))
    assert not any("AttributeDict" in n for n in safe_load.admitted("dataset"))
    assert any("TensorDataset" in n for n in safe_load.admitted("dataset"))


# ---------------------------------------------------------------------------------------------
# (5) Truncated and garbage files
# ---------------------------------------------------------------------------------------------

def test_broken_files(work):
    sd = {"w": torch.randn(100, 10), "n": torch.arange(50)}
    torch.save(sd, work / "good.pt")
    torch.save(sd, work / "good_legacy.pt", _use_new_zipfile_serialization=False)
    good = (work / "good.pt").read_bytes()
    legacy = (work / "good_legacy.pt").read_bytes()
    cases = {
        "truncated_half.pt": good[: len(good) // 2],
        "truncated_1000.pt": good[:1000],
        "truncated_legacy.pt": legacy[: len(legacy) - 100],
        "truncated_legacy_pickle.pt": legacy[:60],
        "garbage.pt": b"\x00not a checkpoint\xff" * 10,
        "text.pt": b"hello world\n",
        "empty.pt": b"",
        "plain_pickle.pt": pickle.dumps({"w": [1, 2, 3]}),
        "tar.pt": bytes(257) + b"ustar" + bytes(250),
    }
    for name, data in cases.items():
        (work / name).write_bytes(data)
    rewrite_zip(work / "good.pt", work / "no_record.pt", drop=("data/0",))
    rewrite_zip(work / "good.pt", work / "short_record.pt", replace={"data/1": b"\x00" * 8})
    rewrite_zip(work / "good.pt", work / "no_pkl.pt", drop=("data.pkl",))
    rewrite_zip(work / "good.pt", work / "bad_pkl.pt", data_pkl=b"\x80\x02}q\x00(X")
    names = list(cases) + ["no_record.pt", "short_record.pt", "no_pkl.pt", "bad_pkl.pt"]
    for name in names:
        with pytest.raises(LoadError) as e:
            load(work / name)
        msg = str(e.value)
        assert msg.startswith(f"{work / name}: "), msg
        assert "\n" not in msg
        assert not isinstance(e.value, RefusedError), msg
    with pytest.raises(LoadError, match="tar format"):
        load(work / "tar.pt")
    with pytest.raises(LoadError, match="without torch's magic number"):
        load(work / "plain_pickle.pt")
    with pytest.raises(LoadError, match="no such file"):
        load(work / "missing.pt")


def test_mutated_files_fail_cleanly(work):
    """Bit flips, truncations and overwritten bytes: success or LoadError, nothing else."""
    import random
    rng = random.Random(12345)
    sd = {"a": torch.randn(5, 3), "b": torch.arange(4), "p": torch.nn.Parameter(torch.randn(2)),
          "c": [1, 2.5, "x", {"d": torch.ones(2) > 0}]}
    files = []
    for i, zip_format in enumerate((True, False)):
        torch.save(sd, work / f"m{i}.pt", _use_new_zipfile_serialization=zip_format)
        files.append(((work / f"m{i}.pt").read_bytes(), "checkpoint"))
    torch.save(torch.utils.data.TensorDataset(torch.randn(4, 3), torch.arange(4)), work / "m2.pt")
    files.append(((work / "m2.pt").read_bytes(), "dataset"))
    for data, what in files:
        for _ in range(150):
            b = bytearray(data)
            r = rng.random()
            if r < 0.6:
                for _ in range(rng.randint(1, 4)):
                    b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            elif r < 0.8:
                b = b[:rng.randrange(len(b))]
            else:
                p = rng.randrange(len(b))
                b[p:p + 8] = bytes(rng.randrange(256) for _ in range(8))
            (work / "mut.pt").write_bytes(b)
            try:
                load(work / "mut.pt", what=what)
            except LoadError as e:
                assert str(e).startswith(f"{work / 'mut.pt'}: ")


# ---------------------------------------------------------------------------------------------
# The published L2MU files (optional)
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not os.environ.get("LMUSIM_L2MU_CKPT"), reason="LMUSIM_L2MU_CKPT not set")
def test_published_l2mu_checkpoint():
    ck = load(os.environ["LMUSIM_L2MU_CKPT"])
    assert ck["pytorch-lightning_version"].startswith("2.")
    sd = ck["state_dict"]
    assert sd["model.l2mu_cell.e_x.weight"].dtype == torch.float32
    assert sd["model.l2mu_cell.e_x.weight"].dim() == 2
    assert sd["model.l2mu_cell.spk_u.beta"].shape == ()
    assert all(t.device.type == "cpu" for t in sd.values())
    hp = ck["hyper_parameters"]
    assert type(hp) is dict and hp["architecture"] == "L2MU" and hp["num_inputs"] == 12
    # it holds only plain dicts (no AttributeDict), so what="tensors" reads it the same way
    assert_same(load(os.environ["LMUSIM_L2MU_CKPT"], what="tensors"), ck)


@pytest.mark.skipif(not os.environ.get("LMUSIM_L2MU_DATA"), reason="LMUSIM_L2MU_DATA not set")
def test_published_l2mu_dataset():
    ds = load(os.environ["LMUSIM_L2MU_DATA"], what="dataset")
    x, y = ds.tensors
    assert x.dtype == torch.float32 and x.dim() == 3 and x.shape[2] == 12
    assert y.dtype == torch.int64 and y.shape == (x.shape[0],)
    assert 0 <= int(y.min()) and int(y.max()) < 7
    with pytest.raises(RefusedError, match="TensorDataset"):
        load(os.environ["LMUSIM_L2MU_DATA"], what="checkpoint")
