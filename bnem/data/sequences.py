"""Sequences in long format, one row per time step (data layer).

:func:`ordered_steps` checks and orders long-format data (a sequence-id column and
an optional time column, or hmmlearn's ``lengths``); :class:`Sequences` is the data
source :func:`bnem.fit` takes for a two-slice network learned without unrolling
(:mod:`bnem.inference.chain`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import BnemTypeError, BnemValueError, DataError
from .encode import row_label
from .files import iter_parts
from .source import Kind, as_source

SEQUENCE, TIME = "_sequence", "_time"


READ_ROWS = 1_000_000  # rows per batch read from data files


def read_steps(spec: Any) -> pd.DataFrame:
    """Every row of data files (a :class:`~bnem.data.files.FileSource`), in order, as one
    DataFrame; a single CSV file's index numbers its lines (the header is line 1)."""
    parts = [part.frame for part in iter_parts(spec, {}, READ_ROWS)]
    if not parts:
        raise DataError(f"the data files {list(spec.paths)[:3]} hold no rows")
    frame = pd.concat(parts) if len(parts) > 1 else parts[0]
    return frame if len(spec.paths) == 1 else frame.reset_index(drop=True)


def as_step_frame(data: Any) -> pd.DataFrame:
    """``data`` as a DataFrame of time steps (a 2-D array gets columns ``x0``, ``x1``...;
    data files are read whole)."""
    source = as_source(data)
    if source.kind is Kind.FRAME:
        return data
    if source.kind is Kind.DASK:  # read whole: forward-backward needs each sequence entire
        computed = data.compute()
        return computed.reset_index(drop=True) if isinstance(computed, pd.DataFrame) \
            else as_step_frame(computed)
    if source.files is not None:
        return read_steps(source.files)
    if source.kind is Kind.SEQUENCES:
        raise BnemTypeError("expected steps (a DataFrame, an array or data files), got "
                            "bnem.Sequences: pass its steps, or the Sequences where a "
                            "function takes them")
    values = np.asarray(data, dtype=object)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise BnemValueError(f"expected one row per time step (a 2-D array or a "
                             f"DataFrame), got an array of shape {values.shape}")
    return pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])]).infer_objects()


def ordered_steps(data: Any, sequence: str | None = None, time: str | None = None,
                  lengths: Any = None) -> tuple[pd.DataFrame, str, str | None, np.ndarray]:
    """Long-format steps checked and put in time order within each sequence.

    Returns ``(frame, sequence, time, position)``: the frame (with ``_sequence`` and
    ``_time`` columns added when ``lengths`` gave the sequences), the names of its
    sequence and time columns, and each row's position in its sequence (0, 1, ...).
    With ``time``, rows are sorted by sequence then time, and a gap or a repeat is an
    error naming the sequence and time; without it, each sequence's rows are taken in
    the order given.
    """
    frame = as_step_frame(data)
    for name, value in (("sequence", sequence), ("time", time)):
        if value is not None and not isinstance(value, str):
            raise BnemTypeError(f"{name}= names one column (a string), got {value!r}")
    if lengths is not None and (isinstance(lengths, (str, bytes)) or np.ndim(lengths) != 1):
        raise BnemValueError(f"lengths must be a list of whole numbers >= 1 (steps per "
                             f"sequence), got {lengths!r}")
    if (sequence is None) == (lengths is None):
        raise BnemValueError("give either sequence= (a column of sequence ids) or lengths= "
                             "(rows per sequence, in order)")
    frame = frame.reset_index(drop=True)
    if lengths is not None:
        sizes = np.asarray(lengths)
        if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) or (sizes < 1).any():
            raise BnemValueError(f"lengths must be whole numbers >= 1, got {list(lengths)[:10]}")
        if int(sizes.sum()) != len(frame):
            raise BnemValueError(f"lengths sum to {int(sizes.sum())}, but the data have "
                                 f"{len(frame)} rows")
        ids = np.repeat(np.arange(sizes.size), sizes)
        steps = np.arange(len(frame)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        frame = frame.assign(**{SEQUENCE: ids, TIME: steps})
        sequence, time = SEQUENCE, TIME
    assert sequence is not None
    if sequence not in frame.columns:
        raise BnemValueError(f"no column {sequence!r} (sequence=); columns are "
                             f"{list(frame.columns)}")
    if frame[sequence].isna().any():
        r = int(np.flatnonzero(frame[sequence].isna().to_numpy())[0])
        raise DataError(f"row {r}: the sequence id is missing")
    if time is None:
        return frame, sequence, None, frame.groupby(sequence, sort=False).cumcount().to_numpy()
    if time not in frame.columns:
        raise BnemValueError(f"no column {time!r} (time=); columns are {list(frame.columns)}")
    if frame[time].isna().any():
        r = int(np.flatnonzero(frame[time].isna().to_numpy())[0])
        raise DataError(f"sequence {row_label(frame[sequence].iloc[r])!r}: the time of row "
                        f"{r} is missing")
    if pd.api.types.is_datetime64_any_dtype(frame[time]) or \
            pd.api.types.is_timedelta64_dtype(frame[time]):
        raise DataError(f"time column {time!r} holds dates or durations; give whole time "
                        "steps 0, 1, 2, ... (e.g. the rank of each date in its sequence)")
    if not pd.api.types.is_numeric_dtype(frame[time]):  # e.g. read from a CSV as text
        try:
            frame = frame.assign(**{time: pd.to_numeric(frame[time])})
        except (TypeError, ValueError):
            raise DataError(f"time column {time!r} must hold numbers (whole time steps)") \
                from None
    if pd.api.types.is_numeric_dtype(frame[time]):
        values = frame[time].to_numpy(dtype=float)
        ragged = np.isfinite(values) & (values != np.round(values))
        if ragged.any() or not np.isfinite(values).all():
            i = int(np.flatnonzero(ragged | ~np.isfinite(values))[0])
            raise DataError(f"sequence {row_label(frame[sequence].iloc[i])!r}: time "
                            f"{row_label(frame[time].iloc[i])!r} is not a whole time step; "
                            "expected 0, 1, 2, ...")
    frame = frame.sort_values([sequence, time], kind="stable")
    steps = frame.groupby(sequence, sort=False)[time]
    first = steps.transform("min")
    position = steps.cumcount().to_numpy()
    try:
        offset = (frame[time] - first).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"time column {time!r} must hold numbers (whole time steps)") from None
    wrong = offset != position
    if wrong.any():
        i = int(np.flatnonzero(wrong)[0])
        row = frame.iloc[i]
        kind = "repeats a time step" if i and offset[i] < position[i] else \
            "follows a gap in the time steps"
        raise DataError(f"sequence {row_label(row[sequence])!r}: time "
                        f"{row_label(row[time])!r} {kind}; expected "
                        "consecutive time steps 0, 1, 2, ... from each sequence's first")
    return frame, sequence, time, position


class Sequences:
    """Sequences in long format, for :func:`bnem.fit` of a two-slice network.

    ``bnem.fit(network, bnem.Sequences(steps, sequence="id", time="t"))`` learns a
    dynamic network given as its two slices (nodes ``v[0]`` and ``v[1]``, e.g.
    :func:`bnem.dynamic_network` or :func:`bnem.hidden_markov_network` with
    ``length=2``) from sequences of any length, by forward-backward over the hidden
    chain that joins the slices (:mod:`bnem.inference.chain`), without unrolling:
    time and memory grow linearly with the number of steps.

    Parameters
    ----------
    data : DataFrame, 2-D array or data files
        One row per time step; its columns are the slice variables (``y`` for the
        nodes ``y[0]`` and ``y[1]``), missing cells as NaN or None. Data files (a
        CSV or Parquet path, a glob pattern, a folder, a list of paths or
        :func:`bnem.files`) and Dask DataFrames are read whole, in order:
        forward-backward needs each sequence entire, and memory grows linearly with
        the steps anyway.
    sequence, time : str, optional
        Columns naming each row's sequence and time step (rows are put in time order;
        a gap or a repeat in time is an error naming the sequence and time). Without
        ``time``, each sequence's rows are taken in the order given.
    lengths : list of int, optional
        hmmlearn's convention instead of ``sequence``: consecutive rows, ``lengths[i]``
        of them for sequence ``i``.
    sample_weight : array of float, optional
        One weight per sequence, in the order the sequences first appear in ``data``
        (also when ``time`` sorts them), ``>= 0``.

    Attributes
    ----------
    steps : DataFrame
        The variables' columns, sequences one after another, each in time order.
    lengths : ndarray of int
        Steps per sequence.
    ids : Index
        Sequence ids, in the order of :attr:`steps` (sorted when ``time`` is given,
        else in order of first appearance).
    times : ndarray
        Each step's time (``time``'s values, or its position in its sequence).
    weights : ndarray of float
        Per sequence.

    Examples
    --------
    >>> import pandas as pd
    >>> seqs = Sequences(pd.DataFrame({"y": ["a", "b", "a"]}), lengths=[2, 1])
    >>> seqs.lengths.tolist(), len(seqs)
    ([2, 1], 2)
    """

    source_kind = Kind.SEQUENCES  # (how bnem.data.source.as_source tells it apart)

    def __init__(self, data: Any, *, sequence: str | None = None, time: str | None = None,
                 lengths: Any = None, sample_weight: Any = None) -> None:
        given = as_step_frame(data)
        frame, seq, tcol, position = ordered_steps(given, sequence, time, lengths)
        appear: Any = pd.unique(frame[seq].sort_index())  # ids in the input's order
        codes, ids = pd.factorize(frame[seq], sort=False)
        codes = np.asarray(codes, dtype=np.int64)
        order = np.lexsort((position, codes))  # sequences one after another, in time order
        drop = [c for c in (seq, tcol) if c is not None]
        self.steps = frame.drop(columns=drop).iloc[order].reset_index(drop=True)
        self.steps.columns = [str(c) for c in self.steps.columns]
        self.lengths = np.bincount(codes, minlength=len(ids)).astype(np.int64)
        self.ids = pd.Index(ids)
        self.times = (frame[tcol].to_numpy() if tcol not in (None, TIME) else position)[order]
        weights = _sequence_weights(sample_weight, len(ids))
        self.weights = weights if sample_weight is None else \
            weights[pd.Index(appear).get_indexer(self.ids)]
        if len(self.steps) == 0:
            raise DataError("the data hold no time steps")

    def __len__(self) -> int:
        return int(self.lengths.size)

    @property
    def starts(self) -> np.ndarray:
        """Each sequence's first row in :attr:`steps`."""
        return np.cumsum(self.lengths) - self.lengths

    def __repr__(self) -> str:
        return (f"Sequences({len(self)} sequences, {len(self.steps)} steps, columns "
                f"{list(self.steps.columns)})")


def _sequence_weights(sample_weight: Any, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise BnemTypeError(f"sample_weight must be numbers, one per sequence; got "
                            f"{type(sample_weight).__name__}") from None
    if w.shape != (n,):
        raise BnemValueError(f"sample_weight must hold one weight per sequence ({n}), got "
                             f"shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        i = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
        raise BnemValueError(f"sample_weight must be finite and >= 0; sequence {i} has "
                             f"{w[i]!r}")
    return w
