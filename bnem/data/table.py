"""Reading tables from CSV files with configurable missing markers (data layer)."""

from __future__ import annotations

import os
import warnings

import pandas as pd

from ..errors import BnemTypeError, DataError

DEFAULT_MISSING = ("?", "", "NA")


def read_table(path, missing=DEFAULT_MISSING, sep: str = ",", states=None) -> pd.DataFrame:
    """Read a CSV file of discrete observations; every cell is read as text.

    Parameters
    ----------
    path : str or path-like or file object
    missing : sequence of str
        Cell texts that mean "missing" (default ``"?"``, ``""``, ``"NA"``); such cells
        become NaN. Pass ``()`` to treat no text as missing.
    sep : str
        Field separator.
    states : mapping column -> sequence of state names, optional
        For example ``{node: network.states(node) ...}``. A missing marker that is
        also a valid state of that column's node is *not* treated as missing in that
        column (a warning says so), so no data is lost.

    Raises
    ------
    DataError
        If the file does not exist, is empty, or cannot be parsed.
    """
    if isinstance(missing, str):
        missing = (missing,)
    missing = tuple(str(m) for m in missing)
    if isinstance(path, (str, os.PathLike)) and not os.path.exists(path):
        raise DataError(f"data file {os.fspath(path)!r} does not exist")
    try:
        header = pd.read_csv(path, sep=sep, nrows=0, dtype=str)
        if hasattr(path, "seek"):
            path.seek(0)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path!r} is empty; expected a header line of node names") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse data file {path!r}: {exc}") from None
    na_values = {}
    kept = {}
    for col in header.columns:
        valid = set(map(str, states.get(col, ()))) if states else set()
        markers = [m for m in missing if m not in valid]
        clash = [m for m in missing if m in valid]
        if clash:
            kept[col] = clash
        na_values[col] = markers
    if kept:
        warnings.warn(
            "missing marker(s) that are also valid states were kept as states: "
            + "; ".join(f"column {c!r}: {v}" for c, v in kept.items()), stacklevel=2)
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=na_values)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse data file {path!r}: {exc}") from None
    if not isinstance(df, pd.DataFrame):
        raise BnemTypeError("read_table expected a table")
    return df
