"""Atomic file writes (io layer).

Every file bnem writes goes to a temporary file in the same folder, is flushed to
disk and then renamed over the target in one step. A reader sees the old file or the
new one, never a mix; a failed write (full disk, permission, an exception while
producing the content) leaves the old file as it was, removes the temporary file and
raises an ``OSError`` that names the target.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
>>> write_bytes(path, b"hello")
>>> open(path, "rb").read()
b'hello'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO, Any


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w",
                **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces
    ``path`` atomically, on any error it is removed and ``path`` is untouched."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _permissions(target))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            raise OSError(exc.errno, f"could not write {target!r}: {exc.strerror or exc}; "
                          "the previous file (if any) is unchanged") from exc
        raise


def _permissions(target: str) -> int:
    """The mode a new file would get (the temporary file starts private), or the mode
    of the file being replaced."""
    try:
        return os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)
