"""Datasets stored as pickled ``torch.utils.data.TensorDataset`` files (how the L2MU's data ship),
read with lmusim's safe loader (:mod:`lmusim.safe_load`: nothing in the file is run).

    python3 -m lmusim.dataset DATA.pt X.npy [Y.npy]

writes the inputs as float32 [samples, steps, channels] and the labels as float32 [samples] (the
form `lmusim run --input DATA.pt` reads). Needs torch and NumPy, not the compiled module.
"""
import argparse
import sys

import numpy as np


def read(path):
    """(inputs float32 [samples, steps, channels], labels int64 [samples] or None) of a dataset file."""
    from . import Error
    from .safe_load import LoadError, TensorDataset, load
    try:
        ds = load(path, what="dataset")
    except LoadError as e:
        raise Error(str(e)) from None
    tensors = ds.tensors if isinstance(ds, TensorDataset) else None
    if tensors is None or not tensors:
        raise Error(f"{path}: expected a TensorDataset (inputs[, labels]), found {type(ds).__name__}")
    x = tensors[0].detach().cpu().numpy()
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise Error(f"{path}: inputs of shape {list(x.shape)}, expected [samples, steps, channels]")
    y = None
    if len(tensors) > 1:
        y = tensors[1].detach().cpu().numpy().reshape(-1)
        if y.shape[0] != x.shape[0]:
            raise Error(f"{path}: {y.shape[0]} labels for {x.shape[0]} samples")
        if y.dtype.kind not in "iu" and not np.all(np.equal(np.mod(y, 1), 0)):
            raise Error(f"{path}: labels must be integers (class indices)")
    return np.ascontiguousarray(x, dtype=np.float32), (None if y is None else y.astype(np.int64))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("x")
    ap.add_argument("y", nargs="?")
    a = ap.parse_args(argv)
    from . import Error
    try:
        x, y = read(a.data)
    except Error as e:
        print(f"lmusim: error: {e}", file=sys.stderr)
        return 2
    np.save(a.x, x)
    if a.y:
        np.save(a.y, (y if y is not None else np.full(len(x), -1)).astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
