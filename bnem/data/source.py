"""Data sources: what a user passes as data, encoded in parts (data layer).

A source is a pandas DataFrame, a list, tuple or iterator of DataFrames with the same
columns (the parts of a table too large to build at once, partitions), or data files
(:mod:`bnem.data.files`: a path, a glob, a folder or a list of paths), read in batches
whose encoding is kept on disk (:mod:`bnem.data.store`), so memory does not grow with
the number of rows.
Consecutive small parts are encoded together (up to ``GROUP_ROWS`` rows, so that a
thousand tiny parts cost what one table does); identical rows are merged within such
a group. Groups are kept in order, so per-row results map back to the concatenation
of the parts, and errors name the part (and the row label) they come from.

>>> import pandas as pd
>>> from bnem.data.variables import Variable
>>> v = [Variable("a", ["x", "y"])]
>>> src = encode_source([pd.DataFrame({"a": ["x", "y"]}), pd.DataFrame({"a": ["x"]})], v)
>>> src.n_rows, len(src.parts), src.total_weight
(3, 1, 3.0)
"""

from __future__ import annotations

import enum
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validation import preview
from ..errors import BnemTypeError, DataError
from ..ragged import pattern_order
from .encode import EncodedData, encode, merge_rows
from .files import FileSource, as_file_source, iter_parts
from .store import Spill, StoredPart

GROUP_ROWS = 25_000  # consecutive parts are encoded together up to this many rows

DataSource = pd.DataFrame | Sequence[pd.DataFrame] | Iterator[pd.DataFrame] | str | \
    os.PathLike[str] | Sequence[str] | FileSource
"""What every entry point takes as data: a DataFrame, a list, tuple or iterator of them,
or data files (a path, a glob, a folder, a list of paths, or :func:`bnem.files`)."""



@dataclass(frozen=True)
class EncodedSource:
    """The encoded groups of parts of a source, and what holds across them."""

    parts: tuple[Part, ...]            # one per group of consecutive parts
    latent: tuple[str, ...]            # nodes observed in no part
    origins: tuple[tuple[int, ...], ...] = ()  # per group: the numbers of its parts
    sizes: tuple[tuple[int, ...], ...] = ()    # per group: the rows of each of its parts
    labels: tuple[str, ...] = ()       # per input part: how errors name it
    spill: Spill | None = None         # where the parts are kept on disk, if they are

    def close(self) -> None:
        """Remove the parts kept on disk (if any); the source is unusable afterwards."""
        if self.spill is not None:
            self.spill.close()

    @property
    def n_rows(self) -> int:
        """Input rows over all parts."""
        return sum(p.n_rows for p in self.parts)

    @property
    def total_weight(self) -> float:
        return float(sum(p.weight_sum for p in self.parts))

    @property
    def index(self) -> pd.Index:
        """The index of per-row results: the parts' indexes concatenated, or for data
        files the rows' positions over the files in order (0, 1, ...)."""
        if self.spill is not None:
            return pd.RangeIndex(self.n_rows)
        if len(self.parts) == 1:
            return self.parts[0].index
        return self.parts[0].index.append([p.index for p in self.parts[1:]])

    @property
    def n_distinct(self) -> int:
        """Distinct rows over all groups (identical rows are merged within a group)."""
        return sum(p.n_distinct for p in self.parts)

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(codes, values, weights)`` of every input row, ordered as encoding the
        concatenated table would order them (rows grouped by missing continuous
        cells), whatever the partition: seeded starts drawn from them do not depend on
        how the data were split. For unmerged (hybrid) data only."""
        parts = [p.load() if isinstance(p, StoredPart) else p for p in self.parts]
        if len(parts) == 1:
            return parts[0].codes, parts[0].values, parts[0].weights
        codes = np.concatenate([p.codes[p.inverse] for p in parts])
        values = np.concatenate([p.values[p.inverse] for p in parts])
        weights = np.concatenate([p.weights[p.inverse] for p in parts])
        order = pattern_order(np.isnan(values))
        return codes[order], values[order], weights[order]

    def per_row(self, distinct: Sequence[np.ndarray]) -> np.ndarray:
        """Results per distinct row of each group -> results per input row, in order."""
        return np.concatenate([d[p.inverse] for d, p in zip(distinct, self.parts)])

    def part_of(self, group: int, unique_row: int) -> str | None:
        """How errors name the input part holding distinct row ``unique_row`` of group
        ``group`` (``"data part 3"``, ``"data file 'a.csv'"``; None for a DataFrame)."""
        if not self.origins:
            return None
        pos = self.parts[group].first_row_of(unique_row)
        ends = np.cumsum(self.sizes[group])
        return self.labels[self.origins[group][int(np.searchsorted(ends, pos, side="right"))]]


    def merged(self, max_bytes: float) -> EncodedSource:
        """The distinct rows of all parts merged into one part (rows identical across
        parts counted once, with their weights added), if the source is discrete, has
        several parts and its distinct rows take at most ``max_bytes``; else itself.
        For EM, which needs no per-row results: the merged source has no row map."""
        if len(self.parts) < 2 or any(p.continuous for p in self.parts) or \
                self.n_distinct * (len(self.parts[0].names) * 2 + 24) > max_bytes:
            return self
        sizes = [p.n_distinct for p in self.parts]
        codes = np.concatenate([p.codes for p in self.parts])
        weights = np.concatenate([p.weights for p in self.parts])
        unique, first, inverse, _ = merge_rows(codes)
        part = np.repeat(np.arange(len(sizes)), sizes)
        local = np.arange(codes.shape[0]) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        merged = MergedPart(unique, np.bincount(inverse, weights=weights, minlength=len(unique)),
                            np.stack([part[first], local[first]], axis=1), self)
        return EncodedSource((merged,), self.latent, spill=self.spill)


class MergedPart:
    """The distinct rows of a source's parts merged across parts (see
    :meth:`EncodedSource.merged`), with the attributes of :class:`EncodedData` that EM
    uses; rows are described through the part where they first occur."""

    def __init__(self, codes: np.ndarray, weights: np.ndarray, first: np.ndarray,
                 source: EncodedSource) -> None:
        head = source.parts[0]
        self.codes, self.weights, self._first, self._source = codes, weights, first, source
        self.latent: tuple = source.latent
        self.names: tuple = head.names
        self.columns: tuple = head.columns
        self.continuous: tuple = head.continuous
        self.index = pd.RangeIndex(codes.shape[0])  # distinct rows, not input rows
        self.values = np.zeros((codes.shape[0], 0))
        self.inverse = np.arange(codes.shape[0])  # no per-row map: each distinct row once
        self.n_rows = source.n_rows
        self.n_distinct = int(weights.size)
        self.weight_sum = float(weights.sum())

    def first_row_of(self, unique_row: int) -> int:
        return unique_row

    def describe_row(self, unique_row: int, variables: Sequence) -> str:
        part, local = (int(v) for v in self._first[unique_row])
        text = self._source.parts[part].describe_row(local, variables)
        origin = self._source.part_of(part, local)
        return text if origin is None else f"{text} of {origin}"


Part = EncodedData | StoredPart | MergedPart


def is_dask_collection(data: object) -> bool:
    """True for a Dask DataFrame (checked without importing Dask)."""
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


SEQUENCES_HERE = ("bnem.Sequences are read whole, a sequence at a time, by bnem.fit, "
                  "bnem.viterbi and bnem.forward_backward on a two-slice network; here pass "
                  "rows (a pandas DataFrame, parts or data files), e.g. the Sequences' steps")


class Kind(enum.Enum):
    """What kind of data source a user passed (see :func:`as_source`)."""

    FRAME = "a pandas DataFrame"
    PARTS = "a list or tuple of DataFrames"
    ITERATOR = "an iterator of DataFrames (read once)"
    FILES = "data files"
    DASK = "a Dask collection (a DataFrame; a Series or an Array where a caller takes one)"
    SEQUENCES = "bnem.Sequences"
    OTHER = "something else"


class Source:
    """A data source with its kind told apart once (:func:`as_source`), by the types of
    the value alone; data files are resolved (globs, folders) only when :attr:`files`
    is first read, and once."""

    def __init__(self, kind: Kind, data: object) -> None:
        self.kind, self.data = kind, data
        self._files: FileSource | None = None

    @property
    def files(self) -> FileSource | None:
        """For :attr:`Kind.FILES`: the files, resolved (a missing file is a
        :class:`~bnem.errors.DataError` naming it); else None."""
        if self.kind is not Kind.FILES:
            return None
        if self._files is None:
            self._files = as_file_source(self.data)
        return self._files

    @property
    def once(self) -> bool:
        """Whether it can be read only once (an iterator of DataFrames)."""
        return self.kind is Kind.ITERATOR


def _names_files(data: object) -> bool:
    """Whether ``data`` names data files (by its type; nothing is resolved)."""
    if isinstance(data, (FileSource, str, os.PathLike)):
        return True
    return isinstance(data, (list, tuple)) and bool(data) and \
        all(isinstance(p, (str, os.PathLike)) for p in data)


def as_source(data: object) -> Source:
    """The one place where the kinds of data source are told apart: a DataFrame, a
    list or tuple of DataFrames, an iterator of them, data files (a path, a glob, a
    folder, a list of paths, :func:`bnem.files`), a Dask collection, or an object that
    declares its kind in a ``source_kind`` class attribute (:class:`bnem.Sequences`
    does); anything else is :attr:`Kind.OTHER`, for the caller to refuse or convert.
    Telling the kind imports nothing (no Dask) and reads no file system."""
    if isinstance(data, pd.DataFrame):
        return Source(Kind.FRAME, data)
    if is_dask_collection(data):
        return Source(Kind.DASK, data)
    declared = getattr(type(data), "source_kind", None)
    if isinstance(declared, Kind):
        return Source(declared, data)
    if _names_files(data):
        return Source(Kind.FILES, data)
    if isinstance(data, Iterator):
        return Source(Kind.ITERATOR, data)
    if isinstance(data, (list, tuple)):
        return Source(Kind.PARTS, data)
    return Source(Kind.OTHER, data)


def _frames(data: object) -> Iterator[pd.DataFrame]:
    """The DataFrames of a list, tuple or iterator source, checked one by one."""
    if as_source(data).kind is Kind.SEQUENCES:
        raise BnemTypeError(SEQUENCES_HERE)
    if not isinstance(data, (list, tuple, Iterator)):
        raise BnemTypeError(f"data must be a pandas DataFrame, a list, tuple or iterator of "
                            "DataFrames, or data files (a path, a glob pattern or a list of "
                            f"paths); got {type(data).__name__}")
    for k, part in enumerate(data):
        if isinstance(part, (str, os.PathLike)):
            raise BnemTypeError(f"data part {k} is a path ({os.fspath(part)!r}) in an "
                                "iterator; to read data files pass a path, a glob pattern "
                                "or a list of paths")
        if not isinstance(part, pd.DataFrame):
            raise BnemTypeError(f"data part {k} is a {type(part).__name__}; every part of a "
                                "data source must be a pandas DataFrame")
        yield part


def other_columns(label: str, first: str, cols: Sequence[str],
                  columns: Sequence[str]) -> DataError:
    """The error for a part (``label``) whose columns differ from the first part's."""
    extra, lost = sorted(set(cols) - set(columns)), sorted(set(columns) - set(cols))
    return DataError(f"{label} has other columns than {first} (extra: {extra}, missing: "
                     f"{lost}); every part must have the same columns")


def _groups(frames: Iterator[pd.DataFrame],
            labels: list[str]) -> Iterator[list[tuple[int, pd.DataFrame]]]:
    """Consecutive non-empty parts, numbered, in groups of about ``GROUP_ROWS`` rows;
    every part's columns are checked against the first part's (``labels[k]`` names
    part ``k``)."""
    columns: list[str] | None = None
    group: list[tuple[int, pd.DataFrame]] = []
    rows = 0
    for k, part in enumerate(frames):
        cols = [str(c) for c in part.columns]
        if columns is None:
            columns = cols
        elif sorted(cols) != sorted(columns):
            raise other_columns(labels[k], labels[0], cols, columns)
        if len(part) == 0:
            continue
        if group and rows + len(part) > GROUP_ROWS:
            yield group
            group, rows = [], 0
        group.append((k, part))
        rows += len(part)
    if columns is None:
        raise DataError("the data source yielded no DataFrame; expected at least one")
    if group:
        yield group


def _encode_group(group: list[tuple[int, pd.DataFrame]], variables: Sequence,
                  weight_column: str | None, labels: list[str]) -> EncodedData:
    frames = [part for _, part in group]
    try:
        return encode(frames[0] if len(frames) == 1 else pd.concat(frames), variables,
                      sample_weight=weight_column)
    except DataError as exc:
        for k, part in group:  # find the part at fault
            try:
                encode(part, variables, sample_weight=weight_column)
            except DataError as inner:
                raise DataError(f"{labels[k]}: {inner}") from None
        raise DataError(f"{labels[group[0][0]]} to {labels[group[-1][0]]}: {exc}") from None


def _labelled(data: object, spec: FileSource | None, variables: Sequence,
              labels: list[str]) -> Generator[pd.DataFrame, None, None]:
    """The DataFrames of a source of several parts or of files (``spec``); ``labels``
    grows with the name of each part yielded."""
    if spec is None:
        for k, frame in enumerate(_frames(data)):
            labels.append(f"data part {k}")
            yield frame
        return
    states = {v.name: v.states for v in variables if not v.is_continuous}
    for part in iter_parts(spec, states, GROUP_ROWS):
        labels.append(f"data file {part.path!r}")
        yield part.frame


def encode_source(data: object, variables: Sequence, sample_weight: object = None,
                  spill_dir: str | os.PathLike[str] | None = None) -> EncodedSource:
    """Encode a DataFrame, a list, tuple or iterator of DataFrames with the same
    columns (empty parts are skipped), or data files (their encoded parts are kept on
    disk, in a temporary folder inside ``spill_dir`` if given, until the source is
    closed). ``sample_weight``: row weights, an array for a DataFrame or the name of a
    column (every part's, for several parts or files).

    Raises
    ------
    BnemTypeError
        If ``data`` is neither a DataFrame nor a list, tuple or iterator of them.
    DataError
        No rows at all, parts whose columns differ, or any error of :func:`encode`
        (naming the part).
    """
    given = as_source(data)
    if given.kind is Kind.FRAME:
        enc = encode(data, variables, sample_weight=sample_weight)
        return EncodedSource((enc,), enc.latent)
    if given.kind is Kind.SEQUENCES:
        raise BnemTypeError(SEQUENCES_HERE)
    if given.kind is Kind.DASK:
        raise BnemTypeError("a Dask DataFrame is read partition by partition on its cluster: "
                            "bnem.fit, log_prob, log_likelihood and posterior take it; here "
                            "pass a pandas DataFrame (e.g. ddf.compute()) or data files")
    if sample_weight is not None and not isinstance(sample_weight, str):
        raise BnemTypeError("with several data parts, sample_weight must name a column of "
                            f"the parts, got {type(sample_weight).__name__}")
    labels: list[str] = []
    spec = given.files
    frames = _labelled(data, spec, variables, labels)
    spill = Spill(spill_dir) if spec is not None else None
    try:
        parts: list[Part] = []
        origins, sizes = [], []
        for group in _groups(frames, labels):
            enc = _encode_group(group, variables, sample_weight, labels)
            parts.append(enc if spill is None else spill.put(enc))
            origins.append(tuple(k for k, _ in group))
            sizes.append(tuple(len(p) for _, p in group))
        if not parts:
            what = "data file" if spec is not None else "part of the data source"
            raise DataError(f"every {what} is empty (0 rows; {preview(labels, 3)}); expected "
                            "at least one row")
    except BaseException:
        frames.close()  # the file being read is closed now, not when the error is freed
        if spill is not None:
            spill.close()
        raise
    latent = tuple(v.name for v in variables if all(v.name in p.latent for p in parts))
    source = EncodedSource(tuple(parts), latent, tuple(origins), tuple(sizes), tuple(labels),
                           spill)
    if not np.isfinite(source.total_weight):  # (then no sum of merged rows overflows either)
        source.close()
        raise DataError("the row weights sum beyond the float range over all parts (rows "
                        "identical across parts add their weights); rescale them (divide "
                        "them all by the same factor)")
    return source


def as_frames(data: object) -> pd.DataFrame | list[pd.DataFrame]:
    """``data`` as a DataFrame or a list of DataFrames (an iterator is read once), for
    callers that pass over the data more than once.

    Raises
    ------
    BnemTypeError
        If ``data`` is neither a DataFrame nor a list, tuple or iterator of them.
    """
    if as_source(data).kind in (Kind.FRAME, Kind.FILES):
        return data  # type: ignore[return-value]  # files can be read twice
    return list(_frames(data))
