"""Guarded outputs for the writers that are pure Python (the converter, the plot helper) and the
checks that the Python API makes before it hands a path to the engine (docs/hardening.md,
"Outputs"). It follows the same protocol as the C++ ``lmusim::output_file``, so that a Python
writer and the ``lmusim`` program never write one path at the same time:

- the bytes go to ``PATH.partial``, which is renamed to ``PATH`` once complete (fsync'ed first);
- for the duration of the write the writer holds an exclusive ``flock`` on ``PATH.lock``, and
  unlinks it before letting go (a writer that locked an unlinked lock file tries again);
- an output is never one of the inputs (same device and inode), and an existing file is replaced
  only with ``overwrite=True``.

This module needs neither NumPy nor the compiled core.
"""
import contextlib
import fcntl
import os
import stat
from typing import Iterable, Iterator, Optional

from . import Error, FileError


def _normalised(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def same_file(a, b) -> bool:
    """True if ``a`` and ``b`` name the same existing file (device and inode), or, when either
    does not exist, the same normalised path."""
    try:
        sa, sb = os.stat(a), os.stat(b)
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    except OSError:
        return _normalised(os.fspath(a)) == _normalised(os.fspath(b))


def check_outputs(outputs: Iterable, inputs: Iterable = (), overwrite: bool = False) -> None:
    """Raise :class:`lmusim.Error` naming both paths if an output is one of the inputs (also as
    ``PATH.partial`` or ``PATH.lock``), the same file as another output, a directory, or an
    existing file while ``overwrite`` is false. ``None`` and empty paths are skipped."""
    outs = [os.fspath(o) for o in outputs if o]
    ins = [os.fspath(i) for i in inputs if i]
    for k, out in enumerate(outs):
        for inp in ins:
            for suffix in ("", ".partial", ".lock"):
                if same_file(out + suffix, inp):
                    raise Error(f"output '{out + suffix}' is the input '{inp}' (the same file): writing it would "
                                f"destroy the input; choose another output path")
        for other in outs[:k]:
            if same_file(out, other):
                raise Error(f"two outputs are the same file: '{other}' and '{out}'; give each its own path")
        if os.path.isdir(out):
            raise Error(f"output '{out}' is a directory, expected a file path")
        if not overwrite and os.path.lexists(out):
            raise Error(f"output '{out}' exists: pass --overwrite to replace it (Python: overwrite=True)")


class _Lock:
    def __init__(self, path: str):
        self.path = path
        self.lock_path = path + ".lock"
        self.fd: Optional[int] = None
        for _ in range(100):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise FileError(f"cannot create '{path}': {e.strerror} (while creating its lock file "
                                f"'{self.lock_path}'; check that the directory exists and is writable)") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FileError(f"'{path}' is being written by another lmusim writer (it holds '{self.lock_path}'); "
                                f"wait until it is done, or choose another output path") from None
            try:
                held, named = os.fstat(fd), os.stat(self.lock_path)
                if (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                    self.fd = fd
                    return
            except OSError:
                pass
            os.close(fd)
        raise FileError(f"cannot lock '{self.lock_path}': it keeps being replaced")

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            os.close(self.fd)
            self.fd = None


def _fsync(path: str, directory: bool = False) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, (os.O_RDONLY | os.O_DIRECTORY) if directory else os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _follow_links(path: str) -> str:
    """A symbolic link as the last component is followed (as cp does): the write replaces the
    file it points to, not the link."""
    for _ in range(40):
        if not os.path.islink(path):
            return path
        target = os.readlink(path)
        path = target if os.path.isabs(target) else os.path.join(os.path.dirname(path), target)
    raise FileError(f"output '{path}': too many levels of symbolic links")


@contextlib.contextmanager
def claim(path, overwrite: bool = False, inputs: Iterable = ()) -> Iterator[str]:
    """Claim ``path`` for one whole-file write: yields the partial path to write to; on success
    the partial file replaces ``path`` atomically, on an exception it is removed and ``path``
    keeps what it held. Raises :class:`lmusim.Error` (before anything is written) if ``path`` is
    one of ``inputs``, exists without ``overwrite``, or is being written by another writer."""
    path = os.fspath(path)
    check_outputs([path], inputs, overwrite=True)  # identity and directory: before the lock
    path = _follow_links(path)
    lock = _Lock(path)
    try:
        if not overwrite and os.path.lexists(path):
            raise FileError(f"output '{path}' exists: pass --overwrite to replace it (Python: overwrite=True)")
        partial = path + ".partial"
        try:
            yield partial
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
        if not os.path.exists(partial) or not stat.S_ISREG(os.stat(partial).st_mode):
            raise FileError(f"cannot write '{path}': the writer produced no file")
        _fsync(partial)
        try:
            os.replace(partial, path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise FileError(f"cannot rename '{partial}' to '{path}': {e.strerror}") from None
        _fsync(os.path.dirname(os.path.abspath(path)), directory=True)
    finally:
        lock.release()
