"""Exceptions raised by bnem (foundation layer).

Every exception subclasses the matching builtin so that callers can catch
``ValueError`` or ``TypeError`` without importing bnem.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BnemError(Exception):
    """Base class of every error bnem raises on purpose."""


class BnemValueError(BnemError, ValueError):
    """A value supplied by the user is not acceptable."""


class BnemTypeError(BnemError, TypeError):
    """An argument has the wrong type."""


class NetworkError(BnemValueError):
    """The network structure or one of its CPDs is invalid."""


class CycleError(NetworkError):
    """The parent relation contains a directed cycle."""


class DataError(BnemValueError):
    """The data table does not match the network."""


class BIFParseError(BnemValueError):
    """A BIF file is malformed; the message carries line and column.

    Examples
    --------
    >>> err = BIFParseError("expected ';'", line=3, column=7, source="net.bif")
    >>> str(err)
    "net.bif:3:7: expected ';'"
    >>> isinstance(err, ValueError), err.line
    (True, 3)
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source: str | None = None) -> None:
        where = ""
        if source:
            where = f"{source}:"
        if line is not None:
            where += f"{line}:"
            if column is not None:
                where += f"{column}:"
        super().__init__(f"{where} {message}" if where else message)
        self.line = line
        self.column = column
        self.source = source


class InferenceTooLargeError(BnemValueError):
    """Exact inference for a row would need a table too large for memory."""


class ImpossibleRowError(BnemValueError):
    """A data row has probability zero under the current parameters."""


class MonotonicityError(BnemError, ArithmeticError):
    """EM's objective decreased beyond round-off: a bug, reported as one."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before reaching ``tol``."""


class InterruptedWarning(UserWarning):
    """A fit was stopped by Ctrl-C, SIGTERM or SIGHUP; its result is the best found so far."""


class DegenerateWarning(UserWarning):
    """Expected statistics are degenerate (e.g. a parent configuration never seen)."""


class FormatWarning(UserWarning):
    """A file format cannot hold part of a network (e.g. BIF and shared or held
    parameters); the values are written, that part is lost."""


def warnings_reissued(stacklevel: int, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``; the warnings it issues are recorded and issued again,
    through the user's own filters, as a ``warnings.warn(..., stacklevel=stacklevel)`` in
    this function's caller would issue them (also when ``call`` raises): bnem's entry
    points that call another one show its warnings at the user's line."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            try:
                return call(*args, **kwargs)
            finally:
                caught = list(record)
    finally:  # outside the recording block: the user's filters apply
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=stacklevel + 1)

