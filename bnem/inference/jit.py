"""numba, where installed, for the compiled kernels (inference layer).

numba is an optional dependency (``pip install "bnem[fast]"``); it is imported only
when a kernel is first wanted, never by ``import bnem``. Compiled code is cached on
disk in the user's cache folder (``NUMBA_CACHE_DIR`` if set, else
``$XDG_CACHE_HOME/bnem/numba`` or ``~/.cache/bnem/numba``), and not cached where
that folder cannot be written. ``BNEM_KERNEL=numpy`` in the environment keeps every
kernel on its numpy path.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

_COMPILED: dict[Callable, Any] = {}


def disabled() -> bool:
    """Whether ``BNEM_KERNEL=numpy`` asks for the numpy paths only."""
    return os.environ.get("BNEM_KERNEL", "auto") == "numpy"


def jitted(function: Callable) -> Any:
    """``function`` compiled by numba (``nogil``, cached on disk where possible), or
    None when numba is not installed."""
    if function in _COMPILED:
        return _COMPILED[function]
    if "NUMBA_CACHE_DIR" not in os.environ:
        base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
        os.environ["NUMBA_CACHE_DIR"] = str(pathlib.Path(base) / "bnem" / "numba")
    try:
        import numba
    except ImportError:
        _COMPILED[function] = None
        return None
    folder = pathlib.Path(os.environ["NUMBA_CACHE_DIR"])
    try:  # compiled code is cached on disk where the folder can be written
        folder.mkdir(parents=True, exist_ok=True)
        cache = os.access(folder, os.W_OK)
    except OSError:
        cache = False
    _COMPILED[function] = numba.njit(cache=cache, nogil=True)(function)
    return _COMPILED[function]
