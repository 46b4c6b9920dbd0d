"""Reading tables from CSV files with configurable missing markers (data layer)."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import IO, Any

import pandas as pd

from ..errors import BnemTypeError, DataError
from .files import large_fields

DEFAULT_MISSING = ("?", "", "NA")


def read_table(path: str | os.PathLike[str] | IO[str] | IO[bytes],
               missing: str | Iterable[str] | None = DEFAULT_MISSING, sep: str = ",",
               states: Mapping[str, Iterable[object]] | None = None,
               network: Any = None) -> pd.DataFrame:
    """Read a CSV file of discrete observations; every cell is read as text.

    Parameters
    ----------
    path : str or path-like or text file object
    missing : sequence of str or None
        Cell texts that mean "missing" (default ``"?"``, ``""``, ``"NA"``); such cells
        become NaN. ``None`` or ``()`` treats no text as missing.
    sep : str
        Field separator (one character).
    states : mapping column -> sequence of state names, optional
        For example ``{node: network.states(node) ...}``. A missing marker that is
        also a valid state of that column's node is *not* treated as missing in that
        column (a warning says so), so no data is lost.
    network : BayesianNetwork, optional
        Shorthand for ``states={node: network.states(node) ...}`` (give one or the other).
        Without either, every marker means missing in every column: a state literally
        named ``NA`` would be read as missing.

    Returns
    -------
    pandas.DataFrame
        One column per header field, in file order, with a default integer index.
        Every line is a row: in a one-column file an empty line is a missing cell.

    Raises
    ------
    DataError
        If the file does not exist or is a directory, is empty, repeats a column
        name, has a line with more fields than the header, or cannot be parsed.
    BnemTypeError
        For arguments of the wrong type.

    Examples
    --------
    >>> import io
    >>> read_table(io.StringIO("rain,wet\\nyes,?\\nno,yes\\n"))
      rain  wet
    0  yes  NaN
    1   no  yes
    """
    if network is not None:
        if states is not None:
            raise BnemTypeError("give read_table either states= or network=, not both")
        if not hasattr(network, "states") or not hasattr(network, "discrete_nodes"):
            raise BnemTypeError(f"network must be a bnem.BayesianNetwork, got "
                                f"{type(network).__name__}")
        states = {n: network.states(n) for n in network.discrete_nodes}
    missing = _check_arguments(path, missing, sep, states)
    text = _read_text(path)
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "<file>"
    with large_fields():
        first = next(csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True), None)
    if first is None or not text.strip():
        raise DataError(f"data file {name!r} is empty; expected a header line of node names")
    if not first:
        raise DataError(f"data file {name!r}: line 1 is empty; expected a header line of "
                        "node names")
    with large_fields():
        bad = _bad_width(text, sep, len(first))
    if bad:
        raise DataError(f"data file {name!r}: {bad}")
    dup = sorted({c for c in first if first.count(c) > 1})
    if dup:
        raise DataError(f"data file {name!r}: column(s) {dup} appear more than once in the header")
    na_values, kept = {}, {}
    for col in first:
        valid = set(map(str, states.get(col, ()))) if states else set()
        na_values[col] = [m for m in missing if m not in valid]
        clash = [m for m in missing if m in valid]
        if clash:
            kept[col] = clash
    if kept:
        warnings.warn(
            "missing marker(s) that are also valid states were kept as states: "
            + "; ".join(f"column {c!r}: {v}" for c, v in kept.items()), stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                               na_values=na_values, index_col=False,
                               skip_blank_lines=len(first) > 1, skipinitialspace=True)
        except (pd.errors.ParserWarning, pd.errors.ParserError, ValueError) as exc:
            detail = " ".join(str(exc).split())
            raise DataError(f"cannot parse data file {name!r}: {detail}") from None


def _check_arguments(path, missing, sep, states) -> tuple:
    if not isinstance(path, (str, os.PathLike)) and not hasattr(path, "read"):
        raise BnemTypeError(f"path must be a file path or a file object, got {type(path).__name__}")
    if missing is None:
        missing = ()
    if isinstance(missing, str):
        missing = (missing,)
    try:
        missing = tuple(str(m) for m in missing)
    except TypeError:
        raise BnemTypeError(f"missing must be a sequence of strings, got {missing!r}") from None
    if not isinstance(sep, str) or len(sep) != 1:
        raise BnemTypeError(f"sep must be a one-character string, got {sep!r}")
    if states is not None and not isinstance(states, Mapping):
        raise BnemTypeError(f"states must be a mapping column -> state names, got "
                            f"{type(states).__name__}")
    return missing


def _read_text(path) -> str:
    if hasattr(path, "read"):
        text = path.read()
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise DataError(f"data is not UTF-8 text: {exc}") from None
        return text.lstrip("\ufeff")
    if os.path.isdir(path):
        raise DataError(f"data path {os.fspath(path)!r} is a directory; expected a CSV file")
    if not os.path.exists(path):
        raise DataError(f"data file {os.fspath(path)!r} does not exist")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {os.fspath(path)!r} is not UTF-8 text: {exc}") from None


def _bad_width(text: str, sep: str, width: int) -> str | None:
    """The first line whose number of fields differs from the header's, if any.

    Blank lines are allowed (a missing cell in a one-column file, skipped otherwise).
    """
    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=sep,
                                            skipinitialspace=True), start=1):
        if row and len(row) != width:
            return (f"line {number} has {len(row)} field(s) but the header has {width}; "
                    "expected one field per column")
    return None
