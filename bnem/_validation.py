"""Small validation helpers shared by every layer (foundation layer)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import BnemTypeError, BnemValueError

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")


def all_finite(*arrays: "np.ndarray") -> bool:
    """Whether every value of ``arrays`` is finite: one sum per array where all is well
    (a sum of finite values can still overflow: then each array is checked).

    >>> import numpy as np
    >>> all_finite(np.ones(2), np.full(2, 1e308)), all_finite(np.array([0.0, np.nan]))
    (True, False)
    """
    import numpy as np  # (the module itself stays free of numpy at import)

    if math.isfinite(sum(float(a.sum()) for a in arrays)):
        return True
    return all(bool(np.isfinite(a).all()) for a in arrays)


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and what was received.

    Examples
    --------
    >>> import numpy as np
    >>> check_int(np.int64(3), "n", minimum=1)
    3
    >>> check_int(2.5, "n")
    Traceback (most recent call last):
    ...
    bnem.errors.BnemTypeError: n must be an integer, got 2.5 (float)
    >>> check_int(0, "n", minimum=1)
    Traceback (most recent call last):
    ...
    bnem.errors.BnemValueError: n must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BnemTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    number = int(value)
    if minimum is not None and number < minimum:
        raise BnemValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def check_float(value: object, name: str, minimum: float | None = None,
                maximum: float | None = None, strict_min: bool = False) -> float:
    """Return ``value`` as a finite float within bounds, or raise naming ``name``.

    Examples
    --------
    >>> check_float(1, "tol", minimum=0.0)
    1.0
    >>> check_float(0.0, "tol", minimum=0.0, strict_min=True)
    Traceback (most recent call last):
    ...
    bnem.errors.BnemValueError: tol must be > 0.0, got 0.0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BnemTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise BnemValueError(f"{name} must be finite, got {number}")
    if minimum is not None:
        if strict_min and number <= minimum:
            raise BnemValueError(f"{name} must be > {minimum}, got {number}")
        if not strict_min and number < minimum:
            raise BnemValueError(f"{name} must be >= {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise BnemValueError(f"{name} must be <= {maximum}, got {number}")
    return number


def check_choice(value: T, name: str, choices: Collection[T]) -> T:
    """Return ``value`` if it is one of ``choices``, else raise listing them.

    Examples
    --------
    >>> check_choice("diag", "covariance", ("full", "diag"))
    'diag'
    >>> check_choice("tied", "covariance", ("full", "diag"))
    Traceback (most recent call last):
    ...
    bnem.errors.BnemValueError: covariance must be one of 'full', 'diag'; got 'tied'
    """
    if value not in choices:
        raise BnemValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def preview(values: Iterable[object], limit: int = 5) -> str:
    """Format the first ``limit`` items of ``values`` for an error message.

    Examples
    --------
    >>> preview(["a", "b"])
    "'a', 'b'"
    >>> preview(range(10), limit=3)
    '0, 1, 2, ... (10 in all)'
    """
    items = list(values)
    text = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        text += f", ... ({len(items)} in all)"
    return text


def check_seed(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """Return a numpy Generator for ``seed`` (None, an int >= 0, or a Generator).

    Examples
    --------
    >>> bool(check_seed(7).integers(100) == check_seed(7).integers(100))
    True
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    bnem.errors.BnemValueError: seed must be >= 0, got -1
    """
    import numpy as np

    if seed is None or isinstance(seed, np.random.Generator):
        return seed if seed is not None else np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise BnemTypeError(f"{name} must be None, an integer >= 0 or a numpy Generator, "
                            f"got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise BnemValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def node_names(value: Any, what: str, none: bool = False) -> tuple[str, ...]:
    """Node names given as one string or a sequence of strings (``none``: None for none).

    >>> node_names("a", "fix"), node_names(["a", "b"], "fix")
    (('a',), ('a', 'b'))
    """
    if value is None and none:
        return ()
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(value)
    except TypeError:
        raise BnemTypeError(f"{what} takes a node name or a list of node names, got "
                            f"{type(value).__name__}") from None
    bad = [v for v in out if not isinstance(v, str)]
    if bad:
        raise BnemTypeError(f"{what} takes node names (strings), got {bad[0]!r}")
    return out
