"""Checks on parsed JSON shared by the JSON network readers (io layer).

Each check raises :class:`JSONFormatError` with a message that says where (file,
node, field), what was expected, and what was found, shown as its JSON type and
text.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..errors import BnemError, NetworkError


class JSONFormatError(NetworkError):
    """A JSON network file is malformed; the message names the file, node and field."""


class JSONObject(dict):
    """A JSON object that remembers keys given more than once."""

    duplicates = ()


def object_pairs(pairs) -> JSONObject:
    """``object_pairs_hook`` for :func:`json.loads`: a :class:`JSONObject`."""
    obj = JSONObject(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.duplicates = tuple(sorted({k for k in keys if keys.count(k) > 1}))
    return obj


def describe(value, limit: int = 60) -> str:
    """A parsed JSON value for an error message: its JSON type and (short) text."""
    if value is None:
        return "null"
    kinds = {bool: "boolean", int: "number", float: "number",
             str: "string", list: "array", JSONObject: "object", dict: "object"}
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{kinds.get(type(value), type(value).__name__)} {text}"


def check_object(value, where: str, required, allowed) -> None:
    """Raise unless ``value`` is an object with the ``required`` keys and no others."""
    if not isinstance(value, dict):
        raise JSONFormatError(f"{where}: expected an object, got {describe(value)}")
    if getattr(value, "duplicates", ()):
        raise JSONFormatError(f"{where}: key(s) {list(value.duplicates)} given more than once")
    missing = [k for k in required if k not in value]
    unknown = sorted(k for k in value if k not in allowed)
    if missing or unknown:
        what = f"missing key(s) {missing}" if missing else f"unknown key(s) {unknown}"
        raise JSONFormatError(f"{where}: {what}; expected keys {list(allowed)}"
                              + (f" (required: {list(required)})"
                                 if missing and list(required) != list(allowed) else ""))


def strings(value, where: str, field: str) -> list:
    """``value`` as a list of strings, or raise naming ``field``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JSONFormatError(f"{where}: '{field}' must be an array of strings, got {describe(value)}")
    return list(value)


def number(value, where: str, field: str) -> float:
    """``value`` as a finite float (a JSON number, never a boolean or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JSONFormatError(f"{where}: {field}: expected a number, got {describe(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise JSONFormatError(f"{where}: {field}: expected a finite number, got {describe(value)}")
    return out


def numbers(value, shape: tuple, where: str, field: str, axes: str) -> np.ndarray:
    """Nested arrays of numbers of exactly ``shape`` as a float array."""
    flat = []

    def walk(v, depth, path):
        if depth == len(shape):
            flat.append(number(v, where, f"{field}{path}"))
            return
        if not isinstance(v, list) or len(v) != shape[depth]:
            raise JSONFormatError(
                f"{where}: '{field}' must have shape {shape} ({axes}); {field}{path} should "
                f"be an array of {shape[depth]} {'entry' if shape[depth] == 1 else 'entries'}, "
                f"got {describe(v)}")
        for i, item in enumerate(v):
            walk(item, depth + 1, f"{path}[{i}]")

    walk(value, 0, "")
    return np.array(flat, dtype=float).reshape(shape)


def build(where: str, factory, *args, **kwargs):
    """``factory(*args, **kwargs)``, with ``where`` prefixed to any bnem error."""
    try:
        return factory(*args, **kwargs)
    except BnemError as exc:
        cls = type(exc) if type(exc) is not NetworkError else JSONFormatError
        raise cls(f"{where}: {exc}") from None
