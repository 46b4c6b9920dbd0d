"""Any data source as consecutive batches of rows, in the data's order (data layer).

Online EM (:mod:`bnem.em.online`) reads its data as mini-batches of ``rows`` rows: a
DataFrame is sliced, a list or iterator of DataFrames and data files (CSV, Parquet)
are read part by part and cut or joined into batches, a Dask DataFrame is computed one
partition at a time and brought here (on a dask.distributed cluster, online EM cuts the
same batches without bringing the rows here: :class:`bnem.em.distributed.RemoteBatches`). Batches follow the rows' order
and do not depend on how the source is split into parts, so the same rows give the
same batches from a DataFrame, files or Dask. Every part's columns are checked
against the first part's.

>>> import pandas as pd
>>> df = pd.DataFrame({"a": list("xyxyx")})
>>> [(label, len(b)) for label, b, _ in batches(df, 2)]
[('rows 1-2', 2), ('rows 3-4', 2), ('rows 5-5', 1)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BnemTypeError, DataError
from .files import iter_parts
from .source import GROUP_ROWS, Kind, _frames, as_source, other_columns


def batches(data: object, rows: int, variables: Sequence = (),
            sample_weight: Any = None) -> Iterator[tuple[str, pd.DataFrame, np.ndarray | None]]:
    """``(label, frame, weights)`` for consecutive batches of ``rows`` rows of ``data``
    (the last may be smaller). ``weights``: the slice of a ``sample_weight`` array given
    with a DataFrame, else None (a column name stays in the frames). ``variables``: the
    network's, for the states of data files' columns. Labels count rows from 1."""
    weights = None
    if sample_weight is not None and not isinstance(sample_weight, str):
        if not isinstance(data, pd.DataFrame):
            raise BnemTypeError("with data in several parts, sample_weight must name a "
                                f"column of the parts, got {type(sample_weight).__name__}")
        weights = np.asarray(sample_weight, dtype=float)
        if weights.shape != (len(data),):
            raise DataError(f"sample_weight has shape {weights.shape}; expected one weight "
                            f"per row, ({len(data)},)")
    done = 0
    for frame, w in _rebatched(_parts(data, variables, weights), rows):
        yield f"rows {done + 1}-{done + len(frame)}", frame, w
        done += len(frame)
    if done == 0:
        raise DataError("the data have no rows; expected at least one")


def _parts(data: object, variables: Sequence,
           weights: np.ndarray | None) -> Iterator[tuple[str, pd.DataFrame, np.ndarray | None]]:
    source = as_source(data)
    if source.kind is Kind.FRAME:
        yield "the data", data, weights  # type: ignore[misc]
        return
    if source.kind is Kind.DASK:
        for k in range(data.npartitions):  # type: ignore[attr-defined]
            yield f"Dask partition {k}", data.get_partition(k).compute(), None  # type: ignore
        return
    if source.files is not None:
        states = {v.name: v.states for v in variables if not v.is_continuous}
        for part in iter_parts(source.files, states, GROUP_ROWS):
            yield f"data file {part.path!r}", part.frame, None
        return
    for k, frame in enumerate(_frames(data)):
        yield f"data part {k}", frame, None


def _rebatched(parts: Iterator[tuple[str, pd.DataFrame, np.ndarray | None]],
               rows: int) -> Iterator[tuple[pd.DataFrame, np.ndarray | None]]:
    held: list[pd.DataFrame] = []
    held_w: list[np.ndarray] = []
    n_held = 0
    columns: list[str] | None = None
    first = ""
    for label, frame, w in parts:
        cols = [str(c) for c in frame.columns]
        if columns is None:
            columns, first = cols, label
        elif sorted(cols) != sorted(columns):
            raise other_columns(label, first, cols, columns)
        frame = frame[frame.columns] if cols == columns else frame[columns]
        start = 0
        while start < len(frame):
            take = min(rows - n_held, len(frame) - start)
            held.append(frame.iloc[start:start + take])
            if w is not None:
                held_w.append(w[start:start + take])
            n_held += take
            start += take
            if n_held == rows:
                yield _joined(held, held_w)
                held, held_w, n_held = [], [], 0
    if n_held:
        yield _joined(held, held_w)


def _joined(frames: list[pd.DataFrame],
            weights: list[np.ndarray]) -> tuple[pd.DataFrame, np.ndarray | None]:
    frame = frames[0] if len(frames) == 1 else pd.concat(frames)
    return frame, (np.concatenate(weights) if weights else None)
