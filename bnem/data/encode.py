"""DataFrame -> integer state codes, merged rows and chunks (data layer).

How values are matched to state names
-------------------------------------
Every cell is turned into a label and compared with the node's state names:

* strings are used as they are; pandas categoricals by their category values;
* booleans become ``"True"`` / ``"False"``;
* integers, and floats with an integral value (a CSV column of integers with a gap
  is read as floats), become their decimal text: ``3`` and ``3.0`` both give ``"3"``;
* other floats use ``str(value)``.

A label that equals a state name is that state, also when the two differ only in
Unicode normalisation (``"café"`` typed as ``e`` + combining accent, NFD, matches a
state written with ``é``, NFC). Otherwise, if exactly one state
name equals the label ignoring case, that state is used (``True`` matches a state
``true``). Anything else is an error naming the column, the value, how many rows
hold it and the valid states. ``NaN``, ``None`` and ``pd.NA`` are missing; a node
absent from the table, or whose column is entirely missing, is latent.

Columns of continuous nodes are read as floats (numbers, or text that parses as a
number); a cell that is not a number, or is infinite, is an error naming the column,
the value and how many rows hold it. Rows are not merged when there are continuous
columns (equal real-valued rows are rare).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Hashable, Sequence

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._validation import preview
from ..ragged import pattern_order
from ..errors import BnemTypeError, DataError
from .variables import value_label


@dataclass(frozen=True)
class EncodedData:
    """A table encoded against a list of variables.

    Attributes
    ----------
    codes : ndarray (n_unique, n_vars)
        State index of each distinct row, -1 where missing (all of a latent column).
    weights : ndarray (n_unique,)
        How many input rows each distinct row stands for.
    inverse : ndarray (n_rows,)
        Distinct-row index of each input row.
    latent : tuple of str
        Nodes with no observed value.
    index : pandas.Index
        Index of the input table (for messages naming rows).
    names : tuple of str
        Node names, in the order of the codes' columns.
    columns : tuple of str
        Nodes that have a column in the table (possibly entirely missing).
    values : ndarray (n_unique, n_continuous)
        Values of the continuous nodes, NaN where missing (all of a latent column).
    continuous : tuple of str
        Continuous node names, in the order of the values' columns.
    """

    codes: np.ndarray
    weights: np.ndarray
    inverse: np.ndarray
    latent: tuple
    index: pd.Index
    names: tuple
    columns: tuple = ()
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    continuous: tuple = ()

    @property
    def n_rows(self) -> int:
        return int(self.inverse.size)

    @property
    def n_distinct(self) -> int:
        return int(self.weights.size)

    @property
    def weight_sum(self) -> float:
        return float(self.weights.sum())

    def first_row_of(self, unique_row: int) -> int:
        """Position of the first input row equal to distinct row ``unique_row``."""
        return int(np.flatnonzero(self.inverse == unique_row)[0])

    def describe_row(self, unique_row: int, variables: Sequence) -> str:
        """``"row <label> (a='x', b=missing, ...)"`` for error messages."""
        pos = self.first_row_of(unique_row)
        cells = []
        present = set(self.columns)
        dpos = {n: j for j, n in enumerate(self.names)}
        cpos = {n: j for j, n in enumerate(self.continuous)}
        for var in variables:
            if var.name not in present:
                continue
            if var.name in cpos:
                x = float(self.values[unique_row, cpos[var.name]])
                cells.append(f"{var.name}={x:.6g}" if x == x else f"{var.name}=missing")
                continue
            c = int(self.codes[unique_row, dpos[var.name]])
            cells.append(f"{var.name}={var.states[c]!r}" if c >= 0 else f"{var.name}=missing")
        if len(cells) > 12:
            cells = cells[:12] + [f"... ({len(cells)} columns)"]
        return f"{where(self.index, self.index[pos])} ({', '.join(cells)})"


def encode(data: object, variables: Sequence, merge: bool = True,
           sample_weight: object = None) -> EncodedData:
    """Encode ``data`` (a pandas DataFrame) against ``variables``.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns named after nodes; NaN/None/pd.NA are missing.
    variables : sequence of Variable
        In node order; the codes' columns follow it.
    merge : bool
        Merge identical rows into weights (default). Without merging, every input
        row is its own distinct row. With continuous columns rows are not merged but
        ordered by which continuous cells are missing (``inverse`` maps them back).
    sample_weight : array-like or str, optional
        A weight per row (a frequency, for a table of response patterns), or the name of
        a column of ``data`` holding them (the column is then not a node). Weights are
        finite and >= 0; merged rows add theirs.

    Raises
    ------
    DataError
        Empty table, duplicate or unknown columns, or a value that is not a state.
    BnemTypeError
        If ``data`` is not a DataFrame.
    """
    if not isinstance(data, pd.DataFrame):
        raise BnemTypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if isinstance(sample_weight, str) and sample_weight in {v.name for v in variables}:
        raise DataError(f"sample_weight={sample_weight!r} is a node of the network; the "
                        "weight column must be another column")
    data, row_weight = _row_weights(data, sample_weight)
    _check_columns(data, [v.name for v in variables])
    n = data.shape[0]
    discrete = [v for v in variables if not v.is_continuous]
    continuous = [v for v in variables if v.is_continuous]
    big = discrete and max(v.card for v in discrete) >= 2 ** 15
    codes = np.full((n, len(discrete)), -1, dtype=np.int32 if big else np.int16)
    values = np.full((n, len(continuous)), np.nan)
    position = {str(c): j for j, c in enumerate(data.columns)}
    latent: set[str] = set()
    for j, var in enumerate(discrete):
        if var.name in position:
            codes[:, j] = _encode_column(data.iloc[:, position[var.name]], var)
        if (codes[:, j] < 0).all():
            latent.add(var.name)
    plain = _plain_number_columns(data, continuous, position)
    if plain:  # numbers already: one read of all of them, then only range checks
        cols = [position[continuous[j].name] for j in plain]
        block = data.to_numpy(float)[:, cols] if len(cols) == data.shape[1] else \
            data.iloc[:, cols].to_numpy(float)
        for i, j in enumerate(plain):
            values[:, j] = _in_range(block[:, i], continuous[j].name, data.index)
    for j, var in enumerate(continuous):
        if var.name in position and j not in plain:
            series = data.iloc[:, position[var.name]]
            values[:, j] = _in_range(_parsed_floats(series, var.name), var.name, series.index)
        if np.isnan(values[:, j]).all():
            latent.add(var.name)
    if merge and not continuous:
        unique, _, inverse, weights = merge_rows(codes)
        if row_weight is not None:
            weights = np.bincount(inverse, weights=row_weight, minlength=weights.size)
    elif continuous and merge:
        # rows sorted by which continuous cells are missing: rows sharing a pattern
        # share one factorisation per E-step, so keep them in the same chunks
        order = pattern_order(np.isnan(values))
        unique, weights = codes[order], np.ones(n) if row_weight is None else row_weight[order]
        values = values[order]
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = np.arange(n)
    else:
        unique, inverse, weights = codes, np.arange(n), \
            np.ones(n) if row_weight is None else row_weight
    return EncodedData(unique, weights, inverse,
                       tuple(v.name for v in variables if v.name in latent), data.index,
                       tuple(v.name for v in discrete),
                       tuple(v.name for v in variables if v.name in position), values,
                       tuple(v.name for v in continuous))


def _check_columns(data: pd.DataFrame, names: list) -> None:
    """Refuse an empty table, repeated column names and columns that name no node."""
    if data.shape[0] == 0:
        raise DataError("the data table is empty (0 rows); expected at least one row")
    if data.shape[1] == 0:
        raise DataError("the data table has no columns; expected columns named after nodes")
    cols = [str(c) for c in data.columns]
    seen: set[str] = set()
    repeated: set[str] = set()
    for c in cols:
        (repeated if c in seen else seen).add(c)
    if repeated:
        raise DataError(f"column(s) {sorted(repeated)} appear more than once in the data table")
    known = set(names)
    unknown = [c for c in cols if c not in known]
    if unknown:
        hint = ""
        for sep in (";", "\t", "|", ","):
            if len(unknown) == 1 and len(cols) == 1 and sep in cols[0] and \
                    any(part.strip() in known for part in cols[0].split(sep)):
                hint = (f" The one column's name holds {sep!r}: the file is probably "
                        f"separated by {sep!r} (sep={sep!r}; command line --sep "
                        f"'{sep}').")
                break
        raise DataError(
            f"column(s) {preview(unknown)} name no node of the network; nodes are "
            f"{preview(names, 40)}. Drop or rename those columns.{hint}"
        )


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to about ``limit`` characters for a message."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


LINE = "line"  # the index name of rows read from a text file, labelled by file line


def where(index: pd.Index, label: object) -> str:
    """``"line 5"`` for a row of a text file whose index numbers its lines (as the file
    counts them, from 1, the header being line 1), else ``"row 3"`` (the DataFrame's
    index label)."""
    if index.name == LINE:
        return f"line {row_label(label)}"
    return f"row {row_label(label)!r}"


def row_label(label: object) -> object:
    """An index label as a plain Python value (``1``, not ``np.int64(1)``) for messages."""
    return label.item() if isinstance(label, np.generic) else label


MAX_MAGNITUDE = 1e150  # continuous cells beyond this would overflow when squared


def _plain_number_columns(data: pd.DataFrame, continuous: list, position: dict) -> list:
    """Positions in ``continuous`` of the nodes whose column holds numpy floats or
    integers (nothing to parse)."""
    dtypes = list(data.dtypes)
    return [j for j, var in enumerate(continuous) if var.name in position
            and isinstance(dtypes[position[var.name]], np.dtype)
            and dtypes[position[var.name]].kind in "fiu"]


def _in_range(out: np.ndarray, name: str, index: pd.Index) -> np.ndarray:
    """``out``, once no cell is infinite or so large that its square overflows."""
    huge = np.abs(out) > MAX_MAGNITUDE
    if huge.any() and not np.isinf(out).any():
        r = int(np.flatnonzero(huge)[0])
        raise DataError(f"column {name!r}: value {out[r]:.3g} ({where(index, index[r])}; "
                        f"{int(huge.sum())} such cell(s)) is beyond {MAX_MAGNITUDE:.0e}, where "
                        "squares overflow; rescale the column (e.g. to other units)")
    inf = np.isinf(out)
    if inf.any():
        raise DataError(f"column {name!r}: {int(inf.sum())} infinite value(s) (first in "
                        f"{where(index, index[np.flatnonzero(inf)[0]])}); continuous cells must be "
                        "finite or missing (NaN)")
    return out


def _parsed_floats(series: pd.Series, name: str) -> np.ndarray:
    """A continuous node's column of another dtype than plain numbers as floats (NaN =
    missing): text and objects parsed, anything that is not a real number refused
    (saying which cell)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    dtype = series.dtype
    kind = getattr(dtype, "kind", "O")
    if pd.api.types.is_bool_dtype(dtype) or kind in "mMc" or \
            isinstance(dtype, (pd.DatetimeTZDtype, pd.PeriodDtype, pd.IntervalDtype)):
        raise DataError(f"column {name!r} has dtype {dtype}, but {name!r} is a continuous "
                        "node; expected real numbers")
    plain = ("string", "floating", "integer", "mixed-integer-float", "decimal", "empty")
    if kind == "O" and pd.api.types.infer_dtype(series, skipna=True) not in plain:
        cells = series.dropna()
        odd = cells[cells.map(lambda v: isinstance(v, (bool, np.bool_, complex, list, tuple,
                                                       dict, set, np.ndarray)))]
        if len(odd):
            raise DataError(
                f"column {name!r}: value {odd.iloc[0]!r} ({type(odd.iloc[0]).__name__}, in "
                f"{where(odd.index, odd.index[0])}) is not a real number, but {name!r} is a continuous "
                f"node; {len(odd)} such cell(s)")
    if kind == "O" and pd.api.types.infer_dtype(series, skipna=True) == "string":
        # a blank cell (only spaces) is missing, like an empty one
        series = series.mask((series.str.strip() == "").fillna(False).astype(bool))
    try:
        as_float = pd.to_numeric(series, errors="coerce")
        out = np.asarray(as_float, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"column {name!r} cannot be read as numbers ({exc}); {name!r} is a "
                        "continuous node") from None
    bad = np.isnan(out) & series.notna().to_numpy()
    if bad.any():
        vals = series[bad]
        first = vals.iloc[0]
        raise DataError(
            f"column {name!r}: value {shorten(repr(row_label(first)))} (in "
            f"{int((vals == first).sum())} row(s), first {where(vals.index, vals.index[0])}) "
            "is not a "
            f"number, but {name!r} is a continuous node; {int(bad.sum())} non-numeric cell(s) "
            "in all. Missing cells must be NaN (read_table turns missing markers into NaN).")
    return out


def _encode_column(series: pd.Series, var) -> np.ndarray:
    try:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    except TypeError:  # unhashable cells: lists, dicts, arrays
        odd = series.dropna().map(lambda v: not isinstance(v, Hashable))
        first = odd[odd].index[0]
        raise DataError(
            f"column {var.name!r}: the cell in {where(series.index, first)} holds a "
            f"{type(series[first]).__name__} ({shorten(repr(series[first]))}), not a value; "
            f"expected one state name per cell ({int(odd.sum())} such cell(s))") from None
    if len(uniques) == 0:
        return codes
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True).startswith("mixed"):
        # mixed Python types: factorize would treat True == 1 and False == 0, so
        # match on each cell's label instead
        codes, uniques = pd.factorize(series.map(value_label, na_action="ignore"))
    states = var.states
    lookup = {s: i for i, s in enumerate(states)}
    for i, s in enumerate(states):  # text equal up to Unicode normalisation is the state
        lookup.setdefault(unicodedata.normalize("NFC", s), i)
    lower: dict[str, list[int]] = {}
    for i, s in enumerate(states):
        lower.setdefault(s.lower(), []).append(i)
    mapping = np.empty(len(uniques), dtype=np.int64)
    bad = []
    values = list(uniques)
    dtype = getattr(series, "dtype", None)
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize < 8:
        values = list(np.asarray(uniques, dtype=dtype))  # keep float32's own precision
    for k, value in enumerate(values):
        label = value_label(value)
        if label in lookup:
            mapping[k] = lookup[label]
        elif unicodedata.normalize("NFC", label) in lookup:
            mapping[k] = lookup[unicodedata.normalize("NFC", label)]
        elif str(value) in lookup:  # e.g. a state named "1.0" and a float cell 1.0
            mapping[k] = lookup[str(value)]
        elif len(lower.get(label.lower(), ())) == 1:
            mapping[k] = lower[label.lower()][0]
        elif label.strip() != label and label.strip() in lookup:  # 'yes ' is 'yes'
            mapping[k] = lookup[label.strip()]
        elif label.strip() != label and len(lower.get(label.strip().lower(), ())) == 1:
            mapping[k] = lower[label.strip().lower()][0]
        else:
            bad.append(k)
    if bad:
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        k = bad[0]
        shown = [shorten(repr(row_label(uniques[b]))) for b in bad[:5]]
        others = f" ({len(bad)} unknown values in all: {', '.join(shown)})" \
            if len(bad) > 1 else ""
        first = series.index[int(np.flatnonzero(codes == k)[0])]
        raise DataError(
            f"column {var.name!r}: value {shorten(repr(row_label(uniques[k])))} (in "
            f"{int(counts[k])} row(s), first "
            f"{where(series.index, first)}) is not a state of node {var.name!r}; valid states: "
            f"{list(states)}{others}. "
            "Missing cells must be NaN (read_table turns missing markers such as '?' into NaN)."
        )
    out = np.full(codes.shape, -1, dtype=np.int64)
    seen = codes >= 0
    out[seen] = mapping[codes[seen]]
    return out


def _row_weights(data: pd.DataFrame, sample_weight: object) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The table without its weight column (if one is named), and the row weights."""
    if sample_weight is None:
        return data, None
    raw: Any
    if isinstance(sample_weight, str):
        if sample_weight not in [str(c) for c in data.columns]:
            raise DataError(f"sample_weight={sample_weight!r} names no column of the data; "
                            f"columns are {preview([str(c) for c in data.columns], 10)}")
        column = [c for c in data.columns if str(c) == sample_weight][0]
        raw, data = data[column], data.drop(columns=[column])
        if not pd.api.types.is_numeric_dtype(raw):  # e.g. text read from a CSV file
            numbers = pd.to_numeric(raw, errors="coerce")
            odd = numbers.isna() & raw.notna()
            if odd.any():
                r = int(np.flatnonzero(odd.to_numpy())[0])
                raise DataError(f"column {sample_weight!r}: the weight of "
                                f"{where(data.index, data.index[r])} is {raw.iloc[r]!r}, not a number; weights "
                                f"must be finite numbers >= 0 ({int(odd.sum())} such row(s))")
            raw = numbers
        named = f"column {sample_weight!r}"
    else:
        raw, named = sample_weight, "sample_weight"
    try:
        w = np.asarray(raw, dtype=float)
    except OverflowError:  # Python integers beyond the float range
        raise DataError(f"{named}: a weight is beyond the float range; rescale them "
                        "(divide them all by the same factor)") from None
    except (TypeError, ValueError):
        raise DataError(f"{named} must hold numbers (row weights), got "
                        f"{type(sample_weight).__name__}") from None
    if w.shape != (len(data),):
        raise DataError(f"{named} must have one weight per row ({len(data)}), got shape "
                        f"{w.shape}")
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataError(f"{named}: the weight of {where(data.index, data.index[r])} is {float(w[r])!r}; weights "
                        f"must be finite numbers >= 0 ({int(bad.sum())} bad row(s))")
    if not np.isfinite(w.sum()):
        raise DataError(f"{named}: the row weights sum beyond the float range; rescale them "
                        "(divide them all by the same factor)")
    return data, w


def merge_rows(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of ``codes``: ``(unique, first, inverse, counts)``."""
    contiguous = np.ascontiguousarray(codes)
    void = contiguous.view(np.dtype((np.void, contiguous.dtype.itemsize * codes.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(void, return_index=True, return_inverse=True,
                                          return_counts=True)
    return codes[first], first, inverse.ravel(), counts.astype(float)
