"""Atomic file writes (foundation layer).

Every file bnem writes goes to a temporary file in the same folder, is flushed to
disk and then renamed over the target in one step. A reader sees the old file or the
new one, never a mix; a failed write (full disk, permission, an exception while
producing the content) leaves the old file as it was, removes the temporary file and
raises an ``OSError`` that names the target. A temporary file left by a process that
was killed mid-write (``kill -9``, power loss) is removed by the next write to the
same target from this host: its name records the writer's host and process.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
>>> write_bytes(path, b"hello")
>>> open(path, "rb").read()
b'hello'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from .locks import alive


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w",
                **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; on a clean exit it replaces
    ``path`` atomically, on any error it is removed and ``path`` is untouched.

    A symbolic link is followed (its target is replaced, the link kept). A path that
    exists but is not a regular file (a pipe, ``/dev/stdout``, a device) cannot be
    replaced and is written directly."""
    target = os.path.realpath(os.fspath(path))
    if os.path.exists(target) and not os.path.isfile(target):
        with _named(target), open(target, mode, **kwargs) as handle:
            yield handle
        return
    remove_orphans(target)
    with _named(target):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=_prefix(target),
                                   suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _permissions(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        with _named(target):
            raise


@contextlib.contextmanager
def _named(target: str) -> Iterator[None]:
    """Re-raise an ``OSError`` with a message naming ``target`` (not a temporary file)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OSError(exc.errno, f"could not write {target!r}: {exc.strerror or exc}; "
                      "the previous file (if any) is unchanged") from exc


def _host_tag() -> str:
    return hashlib.blake2s(socket.gethostname().encode(), digest_size=3).hexdigest()


def _prefix(target: str) -> str:
    """``.NAME.HOST-PID-``: the temporary file's name says who writes it."""
    return f".{os.path.basename(target)}.{_host_tag()}-{os.getpid()}-"


def remove_orphans(target: str) -> None:
    """Remove the temporary files of writes to ``target`` by processes of this host
    that no longer run."""
    folder, name = os.path.split(target)
    pattern = re.compile(rf"\.{re.escape(name)}\.{_host_tag()}-(\d+)-[^.]+\.tmp")
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for entry in names:
        m = pattern.fullmatch(entry)
        if m and not alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, entry))


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
