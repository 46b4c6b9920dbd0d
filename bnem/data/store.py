"""Encoded parts kept on disk while a source is in use (data layer).

A source read from files is encoded once; its encoded parts (state codes, continuous
values, weights, row map) are written to a temporary folder and read back when a
chunk needs them, so memory holds one part at a time whatever the number of rows. The
folder (made inside ``spill_dir`` if given, else in the system's temporary folder) is
removed when the source is closed or garbage-collected.

>>> import numpy as np, pandas as pd
>>> from bnem.data.encode import EncodedData
>>> enc = EncodedData(np.zeros((2, 1), np.int16), np.ones(2), np.arange(2), (),
...                   pd.RangeIndex(2), ("a",), ("a",))
>>> with Spill() as spill:
...     part = spill.put(enc)
...     (part.n_rows, float(part.weight_sum), part.codes.shape)
(2, 2.0, (2, 1))
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from ..errors import DataError
from ..locks import alive
from .encode import EncodedData

ARRAYS = ("codes", "weights", "inverse", "values")
PREFIX = "bnem-spill-"
OWNER = "owner"  # "<host> <pid>" of the process using a spill folder


def remove_stale(parent: str) -> None:
    """Remove spill folders in ``parent`` left by processes of this host that no longer
    run (killed before they could clean up)."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(PREFIX)]
    except OSError:
        return
    host = socket.gethostname()
    for name in names:
        folder = os.path.join(parent, name)
        try:
            with open(os.path.join(folder, OWNER)) as handle:
                owner_host, pid = handle.read().split()
        except (OSError, ValueError):
            continue  # not ours to judge (being created, or another layout)
        if owner_host == host and not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


class _OnDisk:
    """An array attribute of :class:`StoredPart`, read from its file at each access."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, part: "StoredPart", owner: type | None = None) -> np.ndarray:
        return part._load(self.name)


class StoredPart:
    """An encoded part on disk, with the attributes of :class:`EncodedData`; its arrays
    are read from disk at each access (nothing of them stays in memory)."""

    codes = _OnDisk()
    weights = _OnDisk()
    inverse = _OnDisk()
    values = _OnDisk()

    def __init__(self, folder: str, number: int, enc: EncodedData) -> None:
        self._stem = os.path.join(folder, f"part{number:07d}")
        for name in ARRAYS:
            _save(f"{self._stem}.{name}.npy", getattr(enc, name))
        self.latent, self.names, self.columns = enc.latent, enc.names, enc.columns
        self.continuous = enc.continuous
        self.index = enc.index
        self.n_rows = enc.n_rows
        self.n_distinct = int(enc.weights.size)
        self.weight_sum = float(enc.weights.sum())

    def _load(self, name: str) -> np.ndarray:
        try:
            return np.load(f"{self._stem}.{name}.npy")
        except OSError as exc:
            raise DataError(f"the encoded data kept on disk at {self._stem!r} cannot be read "
                            f"back ({exc}); was its folder removed during the fit?") from None

    def load(self) -> EncodedData:
        """The part in memory."""
        return EncodedData(self.codes, self.weights, self.inverse, self.latent, self.index,
                           self.names, self.columns, self.values, self.continuous)

    def first_row_of(self, unique_row: int) -> int:
        return self.load().first_row_of(unique_row)

    def describe_row(self, unique_row: int, variables: Sequence) -> str:
        return self.load().describe_row(unique_row, variables)


def _save(path: str, array: np.ndarray) -> None:
    try:
        np.save(path, array)
    except OSError as exc:
        raise DataError(f"cannot keep the encoded data on disk at {path!r}: "
                        f"{exc.strerror or exc}; give spill_dir= a folder with room "
                        "(it needs about 2 bytes per cell)") from None


class Spill:
    """A folder of :class:`StoredPart` (a new temporary folder inside ``directory``, or
    the system's temporary folder), removed by :meth:`close` or at garbage collection.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        if directory is not None and not os.path.isdir(directory):
            raise DataError(f"spill_dir {os.fspath(directory)!r} is not an existing folder")
        parent = os.fspath(directory) if directory is not None else tempfile.gettempdir()
        remove_stale(parent)
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix=PREFIX, dir=parent)
            with open(os.path.join(self._tmp.name, OWNER), "w") as handle:
                handle.write(f"{socket.gethostname()} {os.getpid()}\n")
        except OSError as exc:
            raise DataError(f"cannot make a temporary folder for the encoded data in "
                            f"{parent!r} ({exc.strerror or exc}); give spill_dir= a writable "
                            "folder") from None
        self.path = self._tmp.name
        self._count = 0
        self._finalizer = weakref.finalize(self, self._tmp.cleanup)

    def put(self, enc: EncodedData) -> StoredPart:
        self._count += 1
        return StoredPart(self.path, self._count, enc)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
