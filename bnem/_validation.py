"""Small validation helpers shared by every layer (foundation layer)."""

from __future__ import annotations

import numbers

from .errors import BnemTypeError, BnemValueError


def check_int(value, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and what was received."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BnemTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise BnemValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_float(value, name: str, minimum: float | None = None,
                maximum: float | None = None, strict_min: bool = False) -> float:
    """Return ``value`` as a finite float within bounds, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BnemTypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise BnemValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_min and value <= minimum:
            raise BnemValueError(f"{name} must be > {minimum}, got {value}")
        if not strict_min and value < minimum:
            raise BnemValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise BnemValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_choice(value, name: str, choices) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    if value not in choices:
        raise BnemValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def preview(values, limit: int = 5) -> str:
    """Format the first ``limit`` items of ``values`` for an error message."""
    values = list(values)
    text = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        text += f", ... ({len(values)} in all)"
    return text


def check_seed(seed, name: str = "seed"):
    """Return a numpy Generator for ``seed`` (None, an int >= 0, or a Generator)."""
    import numpy as np

    if seed is None or isinstance(seed, np.random.Generator):
        return seed if seed is not None else np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise BnemTypeError(f"{name} must be None, an integer >= 0 or a numpy Generator, "
                            f"got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise BnemValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
