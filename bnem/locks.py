"""Which process owns a file: liveness of processes, and advisory locks on a fit's
outputs (foundation layer).

Two fits started with the same output (``-o``, ``--history``, ``--checkpoint``) would
each write it, and the files left could come from different runs. :func:`output_locks`
takes an exclusive advisory lock (``flock``) on a small lock file beside each output,
``.NAME.lock``, for as long as the fit runs; a second fit on any of the same outputs
fails at once, naming the file and the process holding it. A lock held by a process
that was killed is released by the operating system, so no stale lock ever blocks a
later fit. Locks are taken once per process and path (nested calls share them). On a
platform without ``fcntl`` (Windows) no lock is taken.

>>> import os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), "net.bif")
>>> with output_locks({"-o": out}):
...     os.path.exists(lock_path(out))
True
>>> os.path.exists(lock_path(out))
False
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Mapping

from .errors import BnemValueError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_HELD: dict[str, list] = {}  # lock path -> [file descriptor, number of holders]


def alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def owner() -> str:
    """``"<host> <pid>"`` of this process, as lock files and spill folders record it."""
    return f"{socket.gethostname()} {os.getpid()}"


def lock_path(path: str | os.PathLike[str]) -> str:
    """The lock file of output ``path``: ``.NAME.lock`` in the same folder."""
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}.lock")


@contextlib.contextmanager
def output_locks(outputs: Mapping[str, str | os.PathLike[str] | None]) -> Iterator[None]:
    """Hold exclusive locks on the outputs ``{option name: path}`` (``None`` paths are
    skipped) while the block runs.

    Raises
    ------
    BnemValueError
        Another process holds one of them (the message names the option, the file and
        that process).
    """
    taken: list[str] = []
    try:
        for flag, path in outputs.items():
            if path is None or fcntl is None or _special(path):
                continue
            lock = lock_path(path)
            if lock not in taken:
                _acquire(lock, flag, os.fspath(path))
                taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            _release(lock)


def _special(path: str | os.PathLike[str]) -> bool:
    """A pipe, device or ``/dev/stdout``: written in place, nothing to lock."""
    target = os.path.realpath(os.fspath(path))
    return os.path.exists(target) and not os.path.isfile(target)


def _acquire(lock: str, flag: str, path: str) -> None:
    held = _HELD.get(lock)
    if held is not None:  # this process holds it already (a fit inside the CLI's lock)
        held[1] += 1
        return
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # a folder where no lock file can be made: the write itself will say
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_owner(fd)
            os.close(fd)
            raise BnemValueError(
                f"{flag} {path!r} is being written by another fit ({holder}); wait for it to "
                "finish, or choose another file name") from None
        except OSError:
            os.close(fd)
            return  # a file system without locks: proceed unlocked, as before
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a lock file its previous holder removed meanwhile
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{owner()}\n".encode())
    _HELD[lock] = [fd, 1]


def _release(lock: str) -> None:
    held = _HELD.get(lock)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    del _HELD[lock]
    with contextlib.suppress(OSError):
        os.unlink(lock)  # while still locked: a waiting opener sees another inode
    os.close(held[0])


def _read_owner(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").split()
    except OSError:
        text = []
    if len(text) == 2 and text[1].isdigit():
        return f"process {text[1]} on {text[0]}"
    return "a process that has not yet written its name"
