"""Read PyTorch checkpoint and dataset files without running any code from them.

``torch.load`` unpickles the file, and a pickle can call any importable function. Its
``weights_only=True`` mode is restricted, but on torch 1.13 it refuses files that hold anything but
tensors and a few containers (a Lightning checkpoint, a pickled ``TensorDataset``), and it ignores a
``pickle_module=`` argument unless ``weights_only=True``. So this module reads the file itself:

* the zip format (torch >= 1.6): ``<top>/data.pkl`` plus one record ``<top>/data/<key>`` per storage
  (``<top>`` is any single folder name; ``<top>/byteorder`` is honoured when present);
* the legacy format (``torch.save(..., _use_new_zipfile_serialization=False)``, and torch < 1.6):
  magic-number pickle, protocol pickle, system-info pickle, the object pickle, the storage-key
  pickle, then each storage's bytes. The older tar format (torch < 0.4) is not supported.

Every pickle is read by :class:`_SafeUnpickler`, a subclass of pickle's pure-Python unpickler whose
``find_class`` admits only the names below. Nothing is imported or called by name: each admitted
name maps to an object of this module (or a torch value such as ``torch.float32``). Its ``REDUCE``,
``NEWOBJ``, ``INST``/``OBJ``, ``BUILD`` and item opcodes are also restricted (see
``_SafeUnpickler``), so even an admitted object cannot be used to call anything else.

Admitted in every mode (``what="tensors"``, ``"checkpoint"``, ``"dataset"``):

* ``torch._utils._rebuild_tensor``, ``_rebuild_tensor_v2``, ``_rebuild_tensor_v3``,
  ``_rebuild_parameter``, ``_rebuild_parameter_with_state``: replaced by lmusim's own functions,
  which check the arguments (storage, offset, sizes, strides inside the storage; no backward hooks;
  no tensor metadata; no parameter state) and build a dense CPU tensor (``nn.Parameter`` for a
  parameter) over a buffer lmusim allocated and filled from the file;
* storage types, as the second element of a persistent id: ``torch.{Float, Double, Half, BFloat16,
  Long, Int, Short, Char, Byte, Bool, ComplexFloat, ComplexDouble}Storage``, the same names under
  ``torch.cuda`` (old GPU files), and ``torch.UntypedStorage`` / ``torch.storage.UntypedStorage``
  (bytes). Storages load to the CPU whatever their location tag (``cuda:0``, ...);
* ``collections.OrderedDict`` (its ``BUILD`` may set plain attributes such as ``_metadata``);
* ``torch.Size`` (a tuple of ints), ``torch.device`` (a device name), torch dtypes
  (``torch.float32``, ...);
* builtins: ``dict list tuple set frozenset int float complex str bool``, and ``bytes`` /
  ``bytearray`` / ``_codecs.encode`` only in the forms pickle protocol 2 uses for bytes (latin-1).

``what="checkpoint"`` (the default) also admits Lightning's ``AttributeDict`` (``AttributeDict``
from any module under ``lightning``, ``pytorch_lightning`` or ``lightning_fabric``), read as a
plain ``dict``. ``what="dataset"`` also admits ``torch.utils.data.dataset.TensorDataset`` (and
``torch.utils.data.TensorDataset``), read as :class:`TensorDataset` of this module, a plain class
whose ``.tensors`` is the tuple of tensors.

Everything else is refused with :class:`RefusedError`, naming the file and the ``module.name``;
nothing from the file has run at that point. Malformed files raise :class:`LoadError` naming the
file. The result contains only the types above (checked after loading).
"""
from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import pickletools
import struct
import sys
import warnings
import zipfile
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from . import Error

__all__ = ["load", "admitted", "TensorDataset", "LoadError", "RefusedError", "WHAT"]

#: Accepted values of ``what`` (see the module docstring).
WHAT = ("tensors", "checkpoint", "dataset")


class LoadError(Error):
    """The file cannot be read as a PyTorch file (the message names the file)."""

    def __init__(self, message: str, path: Optional[str] = None):
        super().__init__(message)
        self.path = path


class RefusedError(LoadError):
    """The file refers to a Python object lmusim does not admit; nothing in it was run.
    ``name`` is the ``module.name`` it refers to (or a short description)."""

    def __init__(self, message: str, path: Optional[str] = None, name: str = ""):
        super().__init__(message, path)
        self.name = name


class _Refused(Exception):
    """Raised inside the unpickler; turned into RefusedError with the file name."""

    def __init__(self, name: str, detail: str = ""):
        super().__init__(name)
        self.name = name
        self.detail = detail


class _Malformed(Exception):
    """Raised inside the unpickler for arguments that do not describe a tensor."""


class TensorDataset:
    """Stand-in for ``torch.utils.data.TensorDataset``: ``tensors`` is a tuple of tensors with the
    same first dimension. Built from the pickle's state; none of torch's dataset code runs."""

    def __init__(self, *tensors: Any):
        self.tensors = tuple(tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0]) if self.tensors else 0

    def __getitem__(self, index: Any) -> tuple:
        return tuple(t[index] for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{t.dtype} {list(t.shape)}" for t in self.tensors)
        return f"TensorDataset({shapes})"

    def _lmusim_build(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and state[1] is None:
            state = state[0]
        if not isinstance(state, dict) or "tensors" not in state:
            raise _Malformed("TensorDataset state is not a dict with 'tensors'")
        tensors = state["tensors"]
        import torch
        if not isinstance(tensors, (tuple, list)) or \
                not all(isinstance(t, torch.Tensor) for t in tensors):
            raise _Malformed("TensorDataset 'tensors' is not a tuple of tensors")
        if tensors and any(t.dim() == 0 or t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise _Malformed("TensorDataset tensors differ in their first dimension")
        self.tensors = tuple(tensors)
        extra = {k: v for k, v in state.items() if k != "tensors"}
        if extra:
            raise _Malformed(f"TensorDataset state has unexpected entries "
                             f"{sorted(map(str, extra))}")


# ---------------------------------------------------------------------------------------------
# Storages
# ---------------------------------------------------------------------------------------------

class _StorageType:
    """What an admitted storage class name maps to: a marker, never called."""

    def __init__(self, qualname: str, dtype_name: str):
        self.qualname = qualname
        self.dtype_name = dtype_name  # attribute of torch

    @property
    def dtype(self):
        import torch
        return getattr(torch, self.dtype_name)

    def __repr__(self) -> str:
        return f"<storage type {self.qualname}>"


_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
}


class _Storage:
    """One storage of the file: a 1-D CPU tensor (``base``) that lmusim allocated and that is
    filled from the file's bytes before any tensor over it is used."""

    def __init__(self, dtype, numel: int, base=None):
        import torch
        self.dtype = dtype
        self.numel = numel
        self.base = torch.empty(numel, dtype=dtype) if base is None else base
        self._views: Dict[Any, Any] = {}

    def typed(self, dtype):
        """The storage's memory as a 1-D tensor of ``dtype`` (same bytes)."""
        if dtype == self.dtype:
            return self.base
        if dtype not in self._views:
            nbytes = self.numel * self.base.element_size()
            size = _element_size(dtype)
            if nbytes % size:
                raise _Malformed(f"a storage of {nbytes} bytes is not a whole number of {dtype}")
            self._views[dtype] = self.base.view(_torch().uint8).view(dtype) if nbytes else \
                _torch().empty(0, dtype=dtype)
        return self._views[dtype]


def _torch():
    import torch
    return torch


def _element_size(dtype) -> int:
    return _torch().empty(0, dtype=dtype).element_size()


def _fill(storage: _Storage, read, nbytes: int, little_endian: bool, what: str) -> None:
    """Fill ``storage`` with ``nbytes`` bytes from ``read(n)``; swap to the machine's byte order
    and make booleans 0/1."""
    torch = _torch()
    base = storage.base
    if nbytes != storage.numel * base.element_size():
        raise _Malformed(f"{what} holds {nbytes} bytes, expected {storage.numel} x "
                         f"{base.element_size()}")
    if nbytes == 0:
        return
    raw = base.view(torch.uint8).numpy()  # writable view of the tensor's own memory
    pos = 0
    while pos < nbytes:
        chunk = read(min(nbytes - pos, 1 << 24))
        if not chunk:
            raise _Malformed(f"{what} is truncated ({pos} of {nbytes} bytes)")
        raw[pos:pos + len(chunk)] = memoryview(chunk)
        pos += len(chunk)
    item = base.element_size()
    unit = item // 2 if base.dtype.is_complex else item
    if unit > 1 and little_endian != (sys.byteorder == "little"):
        import numpy as np
        raw.view(np.dtype(f"u{unit}")).byteswap(inplace=True)
    if base.dtype == torch.bool:
        base.view(torch.uint8).clamp_(max=1)


# ---------------------------------------------------------------------------------------------
# The admitted names
# ---------------------------------------------------------------------------------------------

def _check_int(x: Any, what: str, minimum: int = 0) -> int:
    if type(x) is not int or x < minimum:
        raise _Malformed(f"{what} is {x!r}, expected an integer >= {minimum}")
    return x


def _check_shape(size: Any, stride: Any) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
    if type(size) not in (tuple, list) or type(stride) not in (tuple, list):
        raise _Malformed(f"tensor size {size!r} / stride {stride!r} are not tuples")
    size = tuple(_check_int(s, "a tensor size") for s in size)
    stride = tuple(_check_int(s, "a tensor stride") for s in stride)
    if len(size) != len(stride):
        raise _Malformed(f"tensor size {size} and stride {stride} differ in length")
    return size, stride


def _make_tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype=None):
    if not isinstance(storage, _Storage):
        raise _Malformed(f"a tensor's storage is a {type(storage).__name__}, not a storage of "
                         f"the file")
    offset = _check_int(offset, "a tensor's storage offset")
    size, stride = _check_shape(size, stride)
    typed = storage.typed(storage.dtype if dtype is None else dtype)
    n = typed.numel()
    if all(size):
        last = offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= n:
            raise _Malformed(f"tensor of size {list(size)}, stride {list(stride)}, offset "
                             f"{offset} reaches element {last} of a storage of {n}")
    elif offset > n:
        raise _Malformed(f"tensor offset {offset} is past the end of a storage of {n}")
    return typed.as_strided(size, stride, typed.storage_offset() + offset).detach()


def _no_hooks(hooks: Any) -> None:
    if hooks is not None and not (isinstance(hooks, dict) and not hooks):
        raise _Refused("tensor backward hooks")


def _set_requires_grad(t, requires_grad: Any):
    if type(requires_grad) is not bool:
        raise _Malformed(f"requires_grad is {requires_grad!r}, expected a bool")
    if requires_grad:
        if not (t.dtype.is_floating_point or t.dtype.is_complex):
            raise _Malformed(f"a {t.dtype} tensor cannot require grad")
        t.requires_grad_(True)
    return t


def _no_metadata(metadata: Any) -> None:
    if metadata:
        raise _Refused("tensor metadata", f"a tensor carries metadata {metadata!r:.80}")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _make_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       metadata=None):
    _no_hooks(backward_hooks)
    _no_metadata(metadata)
    return _set_requires_grad(_make_tensor(storage, storage_offset, size, stride), requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    _no_hooks(backward_hooks)
    _no_metadata(metadata)
    if not isinstance(dtype, _torch().dtype):
        raise _Malformed(f"tensor dtype {dtype!r} is not a torch dtype")
    return _set_requires_grad(_make_tensor(storage, storage_offset, size, stride, dtype),
                              requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    torch = _torch()
    _no_hooks(backward_hooks)
    if type(data) is not torch.Tensor:
        raise _Malformed(f"a parameter's data is a {type(data).__name__}, expected a tensor")
    if type(requires_grad) is not bool:
        raise _Malformed(f"requires_grad is {requires_grad!r}, expected a bool")
    if requires_grad and not (data.dtype.is_floating_point or data.dtype.is_complex):
        raise _Malformed(f"a {data.dtype} parameter cannot require grad")
    return torch.nn.Parameter(data, requires_grad=requires_grad)


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    if state:
        raise _Refused("parameter state", f"a parameter carries Python attributes {state!r:.80}")
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _size(*args):
    if len(args) == 0:
        return _torch().Size()
    if len(args) != 1 or type(args[0]) not in (tuple, list):
        raise _Malformed(f"torch.Size arguments {args!r}")
    return _torch().Size(_check_int(s, "a torch.Size entry") for s in args[0])


def _device(*args):
    if not (1 <= len(args) <= 2 and type(args[0]) is str and len(args[0]) < 64
            and (len(args) == 1 or args[1] is None or type(args[1]) is int)):
        raise _Malformed(f"torch.device arguments {args!r}")
    return _torch().device(*args)


_LATIN1 = ("latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1")


def _codecs_encode(text, encoding="utf-8", *rest):
    if rest or type(text) is not str or type(encoding) is not str or \
            encoding.lower() not in _LATIN1:
        raise _Refused("_codecs.encode", "only _codecs.encode(str, 'latin1') is admitted, the "
                                         "form pickle protocol 2 uses for bytes")
    return text.encode("latin-1")


def _bytes_like(kind):
    def make(*args):
        if not args:
            return kind()
        if len(args) == 1 and type(args[0]) in (bytes, bytearray):
            return kind(args[0])
        if len(args) == 2 and type(args[0]) is str and type(args[1]) is str and \
                args[1].lower() in _LATIN1:
            return kind(args[0].encode("latin-1"))
        raise _Refused(f"builtins.{kind.__name__}", f"only {kind.__name__}() of bytes or of "
                                                    f"(str, 'latin1') is admitted")
    make.__name__ = kind.__name__
    return make


_STORAGE_TYPES: Dict[Tuple[str, str], _StorageType] = {}
for _name, _dt in _STORAGE_DTYPES.items():
    for _module in ("torch", "torch.cuda"):
        _STORAGE_TYPES[(_module, _name)] = _StorageType(f"{_module}.{_name}", _dt)
for _module in ("torch", "torch.storage"):
    _STORAGE_TYPES[(_module, "UntypedStorage")] = _StorageType(f"{_module}.UntypedStorage", "uint8")

_DTYPE_NAMES = ("float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64",
                "long", "int32", "int", "int16", "short", "int8", "uint8", "bool", "complex64",
                "cfloat", "complex128", "cdouble")

_BASE: Dict[Tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch", "Size"): _size,
    ("torch", "device"): _device,
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "bytes"): _bytes_like(bytes),
    ("builtins", "bytearray"): _bytes_like(bytearray),
}
for _t in (dict, list, tuple, set, frozenset, int, float, complex, str, bool):
    _BASE[("builtins", _t.__name__)] = _t
_BASE.update(_STORAGE_TYPES)

_LIGHTNING_PACKAGES = ("lightning", "pytorch_lightning", "lightning_fabric")
_TENSOR_DATASET = {("torch.utils.data.dataset", "TensorDataset"),
                   ("torch.utils.data", "TensorDataset")}

#: Classes that NEWOBJ may create (object.__new__ only, never __init__).
_NEWOBJ_CLASSES = (dict, OrderedDict, TensorDataset)


def _extra(what: str, module: str, name: str) -> Any:
    """The opt-in allowances: None if ``module.name`` is not admitted for ``what``."""
    if what == "checkpoint" and name == "AttributeDict" and \
            module.split(".")[0] in _LIGHTNING_PACKAGES:
        return dict
    if what == "dataset" and (module, name) in _TENSOR_DATASET:
        return TensorDataset
    return None


def admitted(what: str = "checkpoint") -> List[str]:
    """The ``module.name`` strings admitted for ``what`` (for documentation and messages)."""
    _check_what(what)
    names = sorted(f"{m}.{n}" for m, n in _BASE) + \
        [f"torch.{n}" for n in _DTYPE_NAMES]
    if what == "checkpoint":
        names.append("{lightning,pytorch_lightning,lightning_fabric}.*.AttributeDict (as dict)")
    if what == "dataset":
        names += sorted(f"{m}.{n} (as lmusim.safe_load.TensorDataset)" for m, n in _TENSOR_DATASET)
    return names


def _check_what(what: str) -> None:
    if what not in WHAT:
        raise ValueError(f"what={what!r}: expected one of {', '.join(WHAT)}")


# ---------------------------------------------------------------------------------------------
# The unpickler
# ---------------------------------------------------------------------------------------------

class _Dispatch(dict):
    """The opcode table; an unknown opcode is a clear error (not a KeyError)."""

    def __missing__(self, key: int):
        raise pickle.UnpicklingError(f"invalid pickle opcode {bytes([key])!r}")


class _SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined]
    """pickle's pure-Python unpickler with:

    * ``find_class``: only the admitted names (module docstring), mapped to this module's objects;
      nothing is imported;
    * ``REDUCE`` / ``INST`` / ``OBJ``: the callable must be an object ``find_class`` returned;
    * ``NEWOBJ`` / ``NEWOBJ_EX``: only ``dict``, ``OrderedDict`` and the ``TensorDataset``
      stand-in, created with ``__new__`` and no keyword arguments;
    * ``BUILD``: only the stand-in's own state setter, plain attributes (not ``__dunder__``) of an
      ``OrderedDict``, or an empty state; never ``__setstate__`` or ``setattr`` on anything else;
    * ``SETITEM(S)`` / ``APPEND(S)`` / ``ADDITEMS``: only on ``dict``/``OrderedDict``, ``list``,
      ``set`` (they call the target's methods);
    * ``BYTEARRAY8``: the bytes are read before anything is allocated;
    * ``persistent_load``: storages only, through ``storage_for``.

    The C unpickler (``pickle.Unpickler``) cannot restrict ``BUILD`` (it would call a tensor's
    ``__setstate__``), hence the pure-Python one; the pickles of checkpoints are small.
    """

    dispatch = _Dispatch(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file, what: str, storage_for):
        super().__init__(file)
        self._what = what
        self._storage_for = storage_for
        self._callables: Dict[int, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        if type(module) is not str or type(name) is not str:
            raise _Refused(repr((module, name)))
        if self.proto < 3 and self.fix_imports:  # Python 2 names, as pickle itself maps them
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        shown = f"{module}.{name}"
        obj = _BASE.get((module, name))
        if obj is None and module == "torch" and name in _DTYPE_NAMES:
            obj = getattr(_torch(), name, None)
        if obj is None:
            obj = _extra(self._what, module, name)
        if obj is None:
            hint = ""
            for other in WHAT:
                if other != self._what and _extra(other, module, name) is not None:
                    hint = f"admitted with what={other!r}"
            raise _Refused(shown, hint)
        self._callables[id(obj)] = obj
        return obj

    def persistent_load(self, pid: Any) -> Any:
        return self._storage_for(pid)

    def _admitted_callable(self, func: Any) -> None:
        # find_class is the only source of callables; anything else here is malformed data
        if self._callables.get(id(func)) is not func or isinstance(func, _StorageType):
            raise _Malformed(f"a call of a {type(func).__name__}, which is not an admitted "
                             f"callable")

    def load_bytearray8(self) -> None:
        # pickle preallocates the length it reads; read first, so a false length costs nothing
        (size,) = struct.unpack("<Q", self.read(8))
        data = self.read(size) if size <= sys.maxsize else b""
        if len(data) != size:
            raise pickle.UnpicklingError("BYTEARRAY8 is longer than the data")
        self.append(bytearray(data))
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8

    def load_reduce(self) -> None:
        stack = self.stack
        args = stack.pop()
        func = stack[-1]
        self._admitted_callable(func)
        if type(args) is not tuple:
            raise _Malformed("REDUCE arguments are not a tuple")
        stack[-1] = func(*args)
    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass: Any, args: Any) -> None:
        self._admitted_callable(klass)
        self.append(klass(*args))

    def _newobj(self, cls: Any, args: Any, kwargs: Any) -> Any:
        self._admitted_callable(cls)
        if cls not in _NEWOBJ_CLASSES:
            raise _Refused(f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__name__', cls)}",
                           "may not be created with NEWOBJ")
        if kwargs or type(args) is not tuple:
            raise _Malformed("NEWOBJ with keyword arguments")
        return cls.__new__(cls)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._newobj(cls, args, None))
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._newobj(cls, args, kwargs))
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        stack = self.stack
        state = stack.pop()
        inst = stack[-1]
        if isinstance(inst, TensorDataset):
            inst._lmusim_build(state)
            return
        if state is None or (isinstance(state, dict) and not state):
            return
        if type(inst) is OrderedDict and type(state) is dict and \
                all(type(k) is str and k.isidentifier() and not k.startswith("__")
                    and not hasattr(OrderedDict, k) for k in state):
            for k, v in state.items():
                setattr(inst, k, v)  # e.g. a state dict's _metadata
            return
        raise _Refused(f"object state (BUILD) of a {type(inst).__name__}",
                       "only the admitted containers take state")
    dispatch[pickle.BUILD[0]] = load_build

    # Item opcodes call the target's own methods (__setitem__, append, extend, add): only on the
    # plain containers they are meant for.
    def _container(self, index: int, kinds: tuple, opcode: str) -> None:
        target = self.stack[index] if index < 0 else self.metastack[-1][-1] \
            if self.metastack and self.metastack[-1] else None
        if type(target) not in kinds:
            raise _Malformed(f"{opcode} on a {type(target).__name__}")

    def load_setitem(self) -> None:
        self._container(-3, (dict, OrderedDict), "SETITEM")
        pickle._Unpickler.load_setitem(self)  # type: ignore[attr-defined]
    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        self._container(0, (dict, OrderedDict), "SETITEMS")
        pickle._Unpickler.load_setitems(self)  # type: ignore[attr-defined]
    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_append(self) -> None:
        self._container(-2, (list,), "APPEND")
        pickle._Unpickler.load_append(self)  # type: ignore[attr-defined]
    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        self._container(0, (list,), "APPENDS")
        pickle._Unpickler.load_appends(self)  # type: ignore[attr-defined]
    dispatch[pickle.APPENDS[0]] = load_appends

    def load_additems(self) -> None:
        self._container(0, (set,), "ADDITEMS")
        pickle._Unpickler.load_additems(self)  # type: ignore[attr-defined]
    dispatch[pickle.ADDITEMS[0]] = load_additems


# ---------------------------------------------------------------------------------------------
# The result check
# ---------------------------------------------------------------------------------------------

def _check_result(obj: Any) -> None:
    """Everything reachable from ``obj`` is one of the admitted types (no storage type marker, no
    function, no leftover storage)."""
    torch = _torch()
    plain = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.device,
             torch.dtype)
    seen = set()
    todo = [obj]
    while todo:
        x = todo.pop()
        if isinstance(x, plain) and type(x) in plain:
            continue
        if id(x) in seen:
            continue
        seen.add(id(x))
        t = type(x)
        if t in (torch.Tensor, torch.nn.Parameter):
            continue
        if t in (dict, OrderedDict):
            todo.extend(x.keys())
            todo.extend(x.values())
            if t is OrderedDict and getattr(x, "__dict__", None):
                todo.extend(x.__dict__.values())
        elif t in (list, tuple, set, frozenset, torch.Size):
            todo.extend(x)
        elif t is TensorDataset:
            todo.extend(x.tensors)
        else:
            what = x.qualname if isinstance(x, _StorageType) else \
                "a storage outside any tensor" if isinstance(x, _Storage) else \
                f"{getattr(x, '__module__', '?')}.{getattr(x, '__name__', t.__name__)}"
            raise _Refused(what, "not a value lmusim returns")


# ---------------------------------------------------------------------------------------------
# The two formats
# ---------------------------------------------------------------------------------------------

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _storage_pid(pid: Any, fields: int) -> Tuple[_StorageType, str, int]:
    if type(pid) is not tuple or not pid or type(pid[0]) is not str:
        raise _Malformed(f"persistent id of type {type(pid).__name__}")
    if pid[0] != "storage":
        raise _Refused(f"persistent id {pid[0][:40]!r}", "only storages are read")
    if len(pid) != fields:
        raise _Malformed(f"storage persistent id has {len(pid)} fields, expected {fields}")
    stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
    if not isinstance(stype, _StorageType):
        raise _Malformed(f"storage type {stype!r} is not a storage class")
    if type(key) is not str or type(location) is not str:
        raise _Malformed(f"storage key {key!r} / location {location!r} are not strings")
    return stype, key, _check_int(numel, "a storage's element count")


def _load_zip(zf: zipfile.ZipFile, path: str, what: str) -> Any:
    names = zf.namelist()
    pkl = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if any(n.endswith("/constants.pkl") for n in names):
        raise LoadError(f"{path}: a TorchScript archive (torch.jit.save), not a torch.save file; "
                        f"it is not read", path)
    if len(pkl) != 1:
        raise LoadError(f"{path}: a zip archive without exactly one <folder>/data.pkl: not a "
                        f"PyTorch file", path)
    prefix = pkl[0][: -len("data.pkl")]
    little = sys.byteorder == "little"
    if prefix + "byteorder" in names:
        order = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise LoadError(f"{path}: byteorder record is {order!r}", path)
        little = order == "little"
    storages: Dict[str, _Storage] = {}

    def storage_for(pid: Any) -> _Storage:
        stype, key, numel = _storage_pid(pid, 5)
        if key in storages:
            return storages[key]
        record = f"{prefix}data/{key}"
        try:
            info = zf.getinfo(record)
        except KeyError:
            raise _Malformed(f"storage record {record} is missing") from None
        dtype = stype.dtype
        nbytes = numel * _element_size(dtype)
        if info.file_size < nbytes:
            raise _Malformed(f"storage record {record} holds {info.file_size} bytes, expected "
                             f"{nbytes}")
        st = _Storage(dtype, numel)
        with zf.open(info) as f:
            _fill(st, f.read, nbytes, little, f"storage record {record}")
        storages[key] = st
        return st

    with zf.open(pkl[0]) as f:
        obj = _SafeUnpickler(io.BytesIO(f.read()), what, storage_for).load()
    return obj


class _Bounded:
    """A file whose ``read(n)`` never asks for more than what is left (pickle's opcodes carry
    lengths; a false one must not allocate)."""

    def __init__(self, f, size: int):
        self._f = f
        self._size = size
        self.readline = f.readline
        self.tell = f.tell
        self.seek = f.seek

    def read(self, n: int = -1) -> bytes:
        left = max(0, self._size - self._f.tell())
        return self._f.read(left if n is None or n < 0 or n > left else n)


def _load_legacy(f, path: str, what: str) -> Any:
    size = os.fstat(f.fileno()).st_size
    f = _Bounded(f, size)

    def plain(part: str) -> Any:
        def no_storage(pid: Any) -> Any:
            raise _Malformed(f"a persistent id inside the {part}")
        return _SafeUnpickler(f, what, no_storage).load()

    magic = plain("header")
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise LoadError(f"{path}: not a PyTorch file (neither a zip archive nor a legacy "
                        f"torch.save file: a pickle without torch's magic number)", path)
    version = plain("header")
    if version != _LEGACY_PROTOCOL:
        raise LoadError(f"{path}: legacy PyTorch file of protocol {version!r}, expected "
                        f"{_LEGACY_PROTOCOL}", path)
    sys_info = plain("header")
    if not isinstance(sys_info, dict):
        raise LoadError(f"{path}: malformed legacy header", path)
    if sys_info.get("little_endian", True) is not True:
        raise LoadError(f"{path}: a legacy file written on a big-endian machine is not supported",
                        path)
    # Skip the object pickle without running it (the storages' bytes come after it).
    main_at = f.tell()
    for _ in pickletools.genops(f):
        pass
    keys = plain("storage key list")
    if type(keys) is not list or not all(type(k) is str for k in keys):
        raise LoadError(f"{path}: malformed legacy storage key list", path)
    data_at = f.tell()

    storages: Dict[str, _Storage] = {}
    roots: Dict[str, _Storage] = {}
    budget = [size - data_at]

    def storage_for(pid: Any) -> _Storage:
        stype, key, numel = _storage_pid(pid, 6)
        view = pid[5]
        dtype = stype.dtype
        if key not in roots:
            nbytes = numel * _element_size(dtype)
            if nbytes > budget[0]:
                raise _Malformed(f"storage {key} of {nbytes} bytes does not fit in the file")
            budget[0] -= nbytes
            roots[key] = _Storage(dtype, numel)
        root = roots[key]
        if root.dtype != dtype:
            raise _Malformed(f"storage {key} is read as {root.dtype} and as {dtype}")
        if view is None:
            return root
        if type(view) is not tuple or len(view) != 3:
            raise _Malformed(f"storage view {view!r}")
        vkey, offset, vsize = view
        if type(vkey) is not str:
            raise _Malformed(f"storage view key {vkey!r}")
        offset, vsize = _check_int(offset, "a view offset"), _check_int(vsize, "a view size")
        if vkey not in storages:
            if offset + vsize > numel:
                raise _Malformed(f"storage view {vkey} [{offset}, {offset + vsize}) is outside "
                                 f"storage {key} of {numel}")
            storages[vkey] = _Storage(dtype, vsize, root.base.narrow(0, offset, vsize))
        return storages[vkey]

    # The storages' types and sizes come from the object pickle, their bytes after it: unpickle
    # the object first (its tensors point at storages lmusim allocated), then fill the storages.
    # The result is returned only once every storage is filled.
    f.seek(main_at)
    obj = _SafeUnpickler(f, what, storage_for).load()
    f.seek(data_at)
    for key in keys:
        if key not in roots:
            raise _Malformed(f"storage {key} is listed but not used")
        st = roots[key]
        head = f.read(8)
        if len(head) != 8:
            raise _Malformed(f"storage {key} is truncated")
        (count,) = struct.unpack("<q", head)
        if count != st.numel:
            raise _Malformed(f"storage {key} holds {count} elements, expected {st.numel}")
        _fill(st, f.read, st.numel * st.base.element_size(), True, f"storage {key}")
    missing = set(roots) - set(keys)
    if missing:
        raise _Malformed(f"storage(s) {sorted(missing)[:3]} have no data")
    return obj


def load(path: "str | os.PathLike[str]", what: str = "checkpoint") -> Any:
    """Read a file written by ``torch.save`` without running any code from it.

    ``what`` chooses the admitted names: ``"tensors"`` (tensors and plain containers only),
    ``"checkpoint"`` (also Lightning's ``AttributeDict``, as a dict) or ``"dataset"`` (also
    ``TensorDataset``, as :class:`TensorDataset`). Returns the object with every tensor on the CPU.
    Raises :class:`RefusedError` (naming the file and the ``module.name``) for anything else, and
    :class:`LoadError` for a file that is not a readable PyTorch file.
    """
    _check_what(what)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LoadError(f"{path}: no such file", path)
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            # pickle's protocol-0 string opcodes warn about bad escapes in corrupt files
            warnings.simplefilter("ignore", DeprecationWarning)
            head = f.read(512)
            f.seek(0)
            if not head:
                raise LoadError(f"{path}: empty file: not a PyTorch file", path)
            if head.startswith(b"PK\x03\x04"):
                with zipfile.ZipFile(f) as zf:
                    obj = _load_zip(zf, path, what)
            elif head[257:262] == b"ustar":
                raise LoadError(f"{path}: the tar format of torch < 0.4 is not supported; load it "
                                f"with that torch and re-save it", path)
            else:
                obj = _load_legacy(f, path, what)
        _check_result(obj)
        return obj
    except LoadError:
        raise
    except _Refused as e:
        detail = f" ({e.detail})" if e.detail else ""
        raise RefusedError(f"{path}: refers to {e.name}{detail}; lmusim reads only tensors and "
                           f"plain containers; nothing was run", path, e.name) from None
    except RecursionError:
        raise LoadError(f"{path}: cannot read as a PyTorch file: nested too deeply", path) from None
    except MemoryError:
        raise LoadError(f"{path}: cannot read as a PyTorch file: out of memory", path) from None
    except Exception as e:  # malformed: truncated zip, bad pickle, bad tensor arguments
        kind = "malformed" if isinstance(e, _Malformed) else \
            "corrupt or truncated zip archive" if isinstance(e, zipfile.BadZipFile) else \
            "truncated pickle (its data ends early)" if isinstance(e, EOFError) else \
            type(e).__name__
        text = f"{kind}: {e}" if str(e) else kind
        raise LoadError(f"{path}: cannot read as a PyTorch file: {text}", path) from None
