"""Data files as a source: CSV and Parquet, one file, a list, a folder or a glob (data
layer).

A file source is read in batches of rows, never whole: every entry point that takes
data (``bnem.fit``, ``log_prob``, ``posterior``) accepts a path, a glob pattern such as
``"parts/*.parquet"``, a folder, a list of paths, or :func:`files` for non-default
reading options. The batches flow through the same encoding as DataFrames
(:func:`bnem.data.source.encode_source`), which spills the encoded rows to a temporary
folder, so memory does not grow with the number of rows.

CSV files are read as :func:`~bnem.data.table.read_table` reads them: every cell is
text, the missing markers (default ``?``, empty, ``NA``) become missing unless the
marker is a state of that column's node, and a line with more or fewer fields than
the header is an error naming the file and the line. Parquet files are read through
pyarrow (the ``bnem[parquet]`` extra); their nulls are missing cells.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with open(os.path.join(d, "a.csv"), "w") as f:
...     _ = f.write("rain,wet\\nyes,?\\nno,yes\\n")
>>> spec = files(os.path.join(d, "*.csv"))
>>> spec.kind, len(spec.paths)
('csv', 1)
>>> [list(part.frame["wet"]) for part in iter_parts(spec, {}, rows=10)]
[[nan, 'yes']]
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import glob
import gzip
import io
import lzma
import os
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO

import numpy as np
import pandas as pd

from .._validation import preview
from ..errors import BnemTypeError, DataError
from .encode import LINE

DEFAULT_MISSING = ("?", "", "NA")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ","}
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
OPENERS: dict[str, Callable[[str, str], IO[bytes]]] = {
    ".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # type: ignore[dict-item]
BLOCK_BYTES = 1 << 22  # the width check reads 4 MB at a time


@dataclass(frozen=True)
class FileSource:
    """Data files read in batches: their paths (in order), their kind and, for CSV,
    the missing markers and the field separator (``None``: from the suffix)."""

    paths: tuple[str, ...]
    kind: str  # "csv" or "parquet"
    missing: tuple[str, ...] = DEFAULT_MISSING
    sep: str | None = None

    def separator(self, path: str) -> str:
        return self.sep or CSV_SUFFIXES.get(_suffixes(path)[0], ",")


@dataclass(frozen=True)
class FilePart:
    """A batch of rows of one file; its index numbers the rows within the file."""

    path: str
    frame: pd.DataFrame


def files(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
          missing: str | Iterable[str] | None = DEFAULT_MISSING,
          sep: str | None = None) -> FileSource:
    """Data files to read in batches: a path, a glob pattern, a folder (its CSV or
    Parquet files) or a list of paths, all CSV or all Parquet.

    Parameters
    ----------
    paths : path, glob pattern, folder, or list of paths
    missing : str or sequence of str or None
        CSV cell texts that mean missing (default ``?``, empty, ``NA``).
    sep : str, optional
        CSV field separator (default: tab for ``.tsv`` files, else a comma).

    Raises
    ------
    DataError
        A path that does not exist, a pattern or folder matching no data file, files of
        an unknown or mixed kind.
    BnemTypeError
        Arguments of the wrong type.
    """
    if missing is None:
        missing = ()
    if isinstance(missing, str):
        missing = (missing,)
    if not isinstance(missing, Iterable) or not all(isinstance(m, str) for m in missing):
        raise BnemTypeError(f"missing must be a sequence of strings, got {missing!r}")
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise BnemTypeError(f"sep must be a one-character string, got {sep!r}")
    found = _expand(paths)
    kinds = {_kind(p) for p in found}
    if len(kinds) > 1:
        raise DataError(f"the data files mix CSV and Parquet ({preview(found, 4)}); "
                        "give files of one kind")
    return FileSource(tuple(found), kinds.pop(), tuple(missing), sep)


def as_file_source(data: object) -> FileSource | None:
    """``data`` as a :class:`FileSource` if it names files (a path, a glob, a folder, a
    list of paths, or a FileSource), else None."""
    if isinstance(data, FileSource):
        return data
    if isinstance(data, (str, os.PathLike)):
        return files(data)
    if isinstance(data, (list, tuple)) and data and \
            all(isinstance(p, (str, os.PathLike)) for p in data):
        return files(data)
    return None


def _suffixes(path: str) -> tuple[str, str]:
    """The data suffix and the compression suffix (or "") of ``path``, lower case."""
    root, last = os.path.splitext(path.lower())
    if last in OPENERS:
        return os.path.splitext(root)[1], last
    return last, ""


def _kind(path: str) -> str:
    suffix, _ = _suffixes(path)
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(f"data file {path!r}: unknown kind of file; expected a suffix among "
                    f"{sorted(CSV_SUFFIXES) + list(PARQUET_SUFFIXES)} (CSV may be "
                    f"compressed: {sorted(OPENERS)})")


def _expand(paths: object) -> list[str]:
    """Existing data files named by a path, a glob, a folder or a list of those."""
    if isinstance(paths, (str, os.PathLike)):
        items: list = [paths]
    elif isinstance(paths, Iterable):
        items = list(paths)
        if not items:
            raise DataError("the list of data files is empty; expected at least one path")
    else:
        raise BnemTypeError(f"data files must be a path, a glob pattern or a list of paths, "
                            f"got {type(paths).__name__}")
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise BnemTypeError(f"data files must be paths, got a {type(item).__name__}")
    found: list[str] = []
    for item in items:
        path = os.fspath(item)
        if os.path.isdir(path):
            inside = sorted(os.path.join(path, f) for f in os.listdir(path)
                            if not f.startswith((".", "_")) and _known(f, folder=True))
            if not inside:
                raise DataError(f"data folder {path!r} holds no CSV or Parquet file")
            found.extend(inside)
        elif os.path.exists(path):
            found.append(path)
        elif glob.has_magic(path):
            matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
            if not matches:
                raise DataError(f"no data file matches the pattern {path!r}")
            found.extend(matches)
        else:
            raise DataError(f"data file {path!r} does not exist")
    seen: set[str] = set()
    for path in found:
        real = os.path.realpath(path)
        if real in seen:
            raise DataError(f"data file {path!r} is named more than once; its rows would be "
                            "counted twice")
        seen.add(real)
    return found


def _known(name: str, folder: bool = False) -> bool:
    """A data file's name (in a folder, ``.txt`` files are notes, not data)."""
    suffix, _ = _suffixes(name)
    if folder and suffix == ".txt":
        return False
    return suffix in CSV_SUFFIXES or suffix in PARQUET_SUFFIXES


def iter_parts(spec: FileSource, states: Mapping[str, Iterable[str]],
               rows: int) -> Iterator[FilePart]:
    """The rows of every file of ``spec``, ``rows`` at a time, with missing cells as
    NaN. ``states``: node -> state names (a missing marker that is a state of a
    column's node stays a state there)."""
    for path in spec.paths:
        if spec.kind == "parquet":
            yield from _parquet_parts(path, rows)
        else:
            yield from _csv_parts(path, spec, states, rows)


def _open_bytes(path: str) -> IO[bytes]:
    opener = OPENERS.get(_suffixes(path)[1])
    try:
        return opener(path, "rb") if opener else open(path, "rb")
    except OSError as exc:
        raise DataError(f"cannot read data file {path!r}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def large_fields() -> Iterator[None]:
    """Let the ``csv`` module read cells of any size (its default limit is 128 KiB)
    while the block runs."""
    old = csv.field_size_limit()
    csv.field_size_limit(2 ** 31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def csv_header(path: str, sep: str) -> list[str]:
    """The header fields of a CSV file (checked: present, no repeated names)."""
    with _open_bytes(path) as raw:
        try:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            with large_fields():
                first = next(csv.reader(text, delimiter=sep, skipinitialspace=True), None)
        except UnicodeDecodeError as exc:
            raise DataError(f"data file {path!r} is not UTF-8 text: {exc}") from None
        except (csv.Error, OSError, EOFError) as exc:
            raise DataError(f"cannot read data file {path!r}: {exc}") from None
    if not first or not any(first):
        raise DataError(f"data file {path!r} is empty or its first line is blank; expected "
                        "a header line of node names")
    dup = sorted({c for c in first if first.count(c) > 1})
    if dup:
        raise DataError(f"data file {path!r}: column(s) {dup} appear more than once in the header")
    return first


def spaced_fields(path: str, sep: str) -> bool:
    """Whether the start of a CSV file puts spaces after its separators (``yes, ?``):
    only then are they skipped while reading, which costs the parser about a tenth."""
    with _open_bytes(path) as raw:
        try:
            head = raw.read(1 << 16)
        except (OSError, EOFError, lzma.LZMAError, zlib.error):
            return True  # a damaged file: the reader reports it
    return (sep + " ").encode() in head


def is_compressed(path: str) -> bool:
    return _suffixes(path)[1] != ""


def check_widths(path: str, sep: str, width: int, blanks: list | None = None) -> bool:
    """Raise if a line of a CSV file has another number of fields than the header;
    return whether the file is plain (no quote, no line ended by a lone CR). For a
    plain file, ``blanks`` (a list) gets the number of blank lines of each block.

    Blocks without a quote character are checked with numpy (fields = separators + 1
    per line); from the first quote on, the file is checked by the ``csv`` module
    (quoted fields may hold separators and line breaks). Blank lines are allowed.
    """
    with _open_bytes(path) as raw:
        line, carry = 0, b""
        while True:
            block = _read(raw, path)
            data = carry + block
            if not block:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
            head, carry = data[:cut], data[cut:]
            if b'"' in head or head.count(b"\r") != head.count(b"\r\n"):
                _check_quoted(path, sep, width)  # quotes, or lines ended by a lone CR
                return False
            _check_utf8(path, head, line)
            line = _check_block(path, head, sep, width, line, blanks)
            if not block:
                return True


def _read(raw: IO[bytes], path: str) -> bytes:
    """The next block of ``raw``; a corrupt or truncated compressed file is an error."""
    try:
        return raw.read(BLOCK_BYTES)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
        raise DataError(f"cannot read data file {path!r}: the compressed data are corrupt "
                        f"or truncated ({exc})") from None


def _check_utf8(path: str, block: bytes, line: int) -> None:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = line + block.count(b"\n", 0, exc.start) + 1
        raise DataError(f"data file {path!r} is not UTF-8 text: line {where} holds the byte "
                        f"{block[exc.start:exc.start + 1]!r}, which UTF-8 does not allow there; "
                        "save the file as UTF-8") from None


def _check_block(path: str, block: bytes, sep: str, width: int, line: int,
                 blanks: list | None = None) -> int:
    """Check the complete lines of ``block`` (starting after line ``line``)."""
    if not block:
        return line
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1))
    seps = np.concatenate(([0], np.cumsum(buf == ord(sep), dtype=np.int32)))
    fields = seps[ends] - seps[starts] + 1
    length = ends - starts - (buf[np.maximum(ends - 1, 0)] == 13) * (ends > starts)
    bad = (fields != width) & (length > 0)
    if blanks is not None:
        blanks.append(int((length == 0).sum()))
    if line == 0:
        bad[0] = False  # the header (checked on its own)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"data file {path!r}: line {line + k + 1} has {int(fields[k])} "
                        f"field(s) but the header has {width}; expected one field per column")
    return line + len(ends)


def _check_quoted(path: str, sep: str, width: int) -> None:
    """The width check of a file with quoted fields (or lone CR line ends), by the
    ``csv`` module, streamed."""
    with _open_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, delimiter=sep, skipinitialspace=True)
        start = 1
        try:
            with large_fields():
                for row in reader:
                    if row and len(row) != width and reader.line_num > 1:
                        raise DataError(f"data file {path!r}: "
                                        f"{_lines(start, reader.line_num)} {len(row)} "
                                        f"field(s) but the header has {width}; expected one "
                                        "field per column")
                    start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise DataError(f"data file {path!r} is not UTF-8 text (after line "
                            f"{reader.line_num}): {exc.reason}; save the file as UTF-8") from None
        except csv.Error as exc:
            raise DataError(f"cannot parse data file {path!r} at "
                            f"{_lines(start, reader.line_num)[:-4]}: {exc}") from None
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            raise DataError(f"cannot read data file {path!r}: the compressed data are "
                            f"corrupt or truncated ({exc})") from None


def _lines(start: int, end: int) -> str:
    """``"line 5 has"``, or for a record over several lines ``"the record on lines 5-9
    (a quote opened on line 5 may not be closed) has"``."""
    if end <= start:
        return f"line {end} has"
    return (f"the record on lines {start}-{end} (a quote opened on line {start} may not be "
            "closed) has")


def _csv_parts(path: str, spec: FileSource, states: Mapping[str, Iterable[str]],
               rows: int) -> Iterator[FilePart]:
    sep = spec.separator(path)
    header = csv_header(path, sep)
    blanks: list[int] = []
    # a plain file without blank lines: every record is one line, and errors name
    # rows by the line the file counts (the header is line 1)
    by_line = check_widths(path, sep, len(header), blanks) and not any(blanks)
    markers = {}
    kept = {}
    for col in header:
        valid = set(map(str, states.get(col, ())))
        markers[col] = [m for m in spec.missing if m not in valid]
        if any(m in valid for m in spec.missing):
            kept[col] = [m for m in spec.missing if m in valid]
    if kept:
        warnings.warn(f"data file {path!r}: missing marker(s) that are also valid states "
                      "were kept as states: " + "; ".join(f"column {c!r}: {v}"
                                                          for c, v in kept.items()),
                      stacklevel=4)
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                             na_values=markers, index_col=False, chunksize=rows,
                             skip_blank_lines=len(header) > 1, encoding="utf-8-sig",
                             skipinitialspace=spaced_fields(path, sep))
        with reader:
            for frame in reader:
                if by_line:
                    first = int(frame.index[0]) + 2 if len(frame) else 2
                    frame.index = pd.RangeIndex(first, first + len(frame), name=LINE)
                yield FilePart(path, frame)
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path!r} is not UTF-8 text: {exc}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError, EOFError,
            lzma.LZMAError, zlib.error) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise DataError(f"cannot parse data file {path!r}: {detail}") from None


def _parquet_parts(path: str, rows: int) -> Iterator[FilePart]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading Parquet files needs pyarrow: pip install 'bnem[parquet]'") \
            from None
    try:
        handle = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own errors for a file it cannot read
        raise DataError(f"cannot read Parquet file {path!r}: {str(exc)[:200]}") from None
    start = 0
    with handle:
        nested = [f.name for f in handle.schema_arrow if f.type.num_fields > 0 or
                  str(f.type).startswith(("list", "large_list", "map", "struct"))]
        if nested:
            raise DataError(f"Parquet file {path!r}: column(s) {nested} hold lists, maps or "
                            "structs; expected one value per cell (strings, numbers, "
                            "categories)")
        if handle.metadata.num_rows == 0:
            yield FilePart(path, handle.schema_arrow.empty_table().to_pandas())
            return
        batches = handle.iter_batches(batch_size=rows)
        while True:
            try:
                batch = next(batches, None)
            except Exception as exc:  # pyarrow's own errors for a damaged file
                raise DataError(f"cannot read Parquet file {path!r} after row {start}: "
                                f"{str(exc)[:200]}") from None
            if batch is None:
                return
            frame = batch.to_pandas()
            frame.index = pd.RangeIndex(start, start + len(frame))
            start += len(frame)
            yield FilePart(path, frame)
