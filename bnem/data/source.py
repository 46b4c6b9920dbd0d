"""Data sources: what a user passes as data, encoded part by part (data layer).

A source is a pandas DataFrame, or an iterable of DataFrames with the same columns
(the parts of a table too large to build at once, files, partitions). Each part is
encoded on its own (:func:`bnem.data.encode.encode`; identical rows are merged within
a part) and the parts are kept in order, so per-row results map back to the
concatenation of the parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import BnemTypeError, DataError
from .encode import EncodedData, encode


@dataclass(frozen=True)
class EncodedSource:
    """The encoded parts of a source, and what holds across them."""

    parts: tuple[EncodedData, ...]
    latent: tuple[str, ...]   # nodes observed in no part

    @property
    def n_rows(self) -> int:
        """Input rows over all parts."""
        return sum(p.n_rows for p in self.parts)

    @property
    def total_weight(self) -> float:
        return float(sum(p.weights.sum() for p in self.parts))

    @property
    def index(self) -> pd.Index:
        """The parts' indexes, concatenated (the index of per-row results)."""
        if len(self.parts) == 1:
            return self.parts[0].index
        return self.parts[0].index.append([p.index for p in self.parts[1:]])

    def stacked(self, attribute: str) -> np.ndarray:
        """``codes``, ``values`` or ``weights`` of the distinct rows of all parts, stacked
        (no copy for one part)."""
        arrays = [getattr(p, attribute) for p in self.parts]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)

    def per_row(self, distinct: Sequence[np.ndarray]) -> np.ndarray:
        """Results per distinct row of each part -> results per input row, in order."""
        return np.concatenate([d[p.inverse] for d, p in zip(distinct, self.parts)])


def encode_source(data: object, variables: Sequence) -> EncodedSource:
    """Encode a DataFrame, or an iterable of DataFrames with the same columns.

    Raises
    ------
    BnemTypeError
        If ``data`` is neither a DataFrame nor an iterable of DataFrames.
    DataError
        An empty iterable, parts whose columns differ, or any error of :func:`encode`
        (naming the part for an iterable).
    """
    if isinstance(data, pd.DataFrame):
        enc = encode(data, variables)
        return EncodedSource((enc,), enc.latent)
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise BnemTypeError(f"data must be a pandas DataFrame or an iterable of DataFrames, "
                            f"got {type(data).__name__}")
    parts, columns = [], None
    for k, part in enumerate(data):
        if not isinstance(part, pd.DataFrame):
            raise BnemTypeError(f"data part {k} is a {type(part).__name__}; every part of an "
                                "iterable source must be a pandas DataFrame")
        cols = [str(c) for c in part.columns]
        if columns is None:
            columns = cols
        elif sorted(cols) != sorted(columns):
            extra = sorted(set(cols) - set(columns))
            lost = sorted(set(columns) - set(cols))
            raise DataError(f"data part {k} has other columns than part 0 (extra: {extra}, "
                            f"missing: {lost}); every part must have the same columns")
        try:
            parts.append(encode(part, variables))
        except DataError as exc:
            raise DataError(f"data part {k}: {exc}") from None
    if not parts:
        raise DataError("the data source yielded no DataFrame; expected at least one")
    latent = tuple(v.name for v in variables if all(v.name in p.latent for p in parts))
    return EncodedSource(tuple(parts), latent)
