"""Checks on parsed JSON shared by the JSON network readers (io layer).

Each check raises :class:`JSONFormatError` with a message that says where (file,
node, field), what was expected, and what was found, shown as its JSON type and
text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection
from typing import Any, TypeVar

import numpy as np

from ..errors import BnemError, NetworkError

T = TypeVar("T")


class JSONFormatError(NetworkError):
    """A JSON network file is malformed; the message names the file, node and field."""


class JSONObject(dict[str, Any]):
    """A JSON object that remembers keys given more than once."""

    duplicates: tuple[str, ...] = ()


def object_pairs(pairs: list[tuple[str, Any]]) -> JSONObject:
    """``object_pairs_hook`` for :func:`json.loads`: a :class:`JSONObject`.

    >>> doc = json.loads('{"a": 1, "b": 2, "a": 3}', object_pairs_hook=object_pairs)
    >>> doc, doc.duplicates
    ({'a': 3, 'b': 2}, ('a',))
    """
    obj = JSONObject(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.duplicates = tuple(sorted({k for k in keys if keys.count(k) > 1}))
    return obj


def describe(value: object, limit: int = 60) -> str:
    """A parsed JSON value for an error message: its JSON type and (short) text.

    >>> describe([1, 2]), describe(None), describe("x" * 100, limit=10)
    ('array [1, 2]', 'null', 'string "xxxxxx...')
    """
    if value is None:
        return "null"
    kinds = {bool: "boolean", int: "number", float: "number",
             str: "string", list: "array", JSONObject: "object", dict: "object"}
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return f"{kinds.get(type(value), type(value).__name__)} {text}"


def check_object(value: object, where: str, required: Collection[str],
                 allowed: Collection[str]) -> None:
    """Raise unless ``value`` is an object with the ``required`` keys and no others.

    >>> check_object({"name": "rain", "size": 3}, "x", ["name"], ["name", "type"])
    Traceback (most recent call last):
    ...
    bnem.io.json_checks.JSONFormatError: x: unknown key(s) ['size']; expected keys ['name', 'type']
    """
    if not isinstance(value, dict):
        raise JSONFormatError(f"{where}: expected an object, got {describe(value)}")
    duplicates = getattr(value, "duplicates", ())
    if duplicates:
        raise JSONFormatError(f"{where}: key(s) {list(duplicates)} given more than once")
    missing = [k for k in required if k not in value]
    unknown = sorted(k for k in value if k not in allowed)
    if missing or unknown:
        what = f"missing key(s) {missing}" if missing else f"unknown key(s) {unknown}"
        raise JSONFormatError(f"{where}: {what}; expected keys {list(allowed)}"
                              + (f" (required: {list(required)})"
                                 if missing and list(required) != list(allowed) else ""))


def strings(value: object, where: str, field: str) -> list[str]:
    """``value`` as a list of strings, or raise naming ``field``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JSONFormatError(f"{where}: '{field}' must be an array of strings, got {describe(value)}")
    return list(value)


def number(value: object, where: str, field: str) -> float:
    """``value`` as a finite float (a JSON number, never a boolean or a string).

    >>> number(2, "x", "variance")
    2.0
    >>> number(True, "x", "variance")
    Traceback (most recent call last):
    ...
    bnem.io.json_checks.JSONFormatError: x: variance: expected a number, got boolean true
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JSONFormatError(f"{where}: {field}: expected a number, got {describe(value)}")
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise JSONFormatError(f"{where}: {field}: expected a finite number, got {describe(value)}")
    return out


def numbers(value: object, shape: tuple[int, ...], where: str, field: str,
            axes: str) -> np.ndarray:
    """Nested arrays of numbers of exactly ``shape`` as a float array.

    >>> numbers([[0.5, 0.5], [1, 0]], (2, 2), "node 'wet'", "cpd", "axes: rain, then wet")
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    flat: list[float] = []

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


def build(where: str, factory: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``factory(*args, **kwargs)``, with ``where`` prefixed to any bnem error."""
    try:
        return factory(*args, **kwargs)
    except BnemError as exc:
        cls = type(exc) if type(exc) is not NetworkError else JSONFormatError
        raise cls(f"{where}: {exc}") from None
