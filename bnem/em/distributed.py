"""E-steps on a Dask cluster (em layer; dask is imported only here, and only when a
Dask DataFrame is fitted).

Dask is the engine; bnem adds no scheduler or protocol of its own:

* the compiled network is sent once, as the result of a task that holds it (not
  scattered: data scattered to a worker that then dies is lost for good, and a
  broadcast to a dying worker can hang, while a task's result is recomputed);
* each partition is encoded and analysed once, on a worker, by a task that depends on
  the partition and the compiled network; the resulting :class:`AnalysedData` stays in
  that worker's memory (a future the client holds) across iterations and restarts;
* each E-step sends the parameters (small) once the same way, runs one task per
  partition returning its :class:`~bnem.inference.stats.Stats`, and adds them up by a
  tree reduction (``FAN_IN`` at a time, so no task gathers everything); only the total
  reaches the client, which runs the M-step;
* a worker lost mid-fit loses its partitions' analyses and statistics; Dask recomputes
  them from their lineage (read the partition again, analyse it again) and the
  E-step returns the same total.

Per-row results (``log_prob``, ``posterior``) on a Dask DataFrame are computed by
``map_partitions`` in :mod:`bnem.inference.api`, in the input's partitioning.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..data.files import FileSource, check_widths, csv_header, is_compressed
from ..data.source import other_columns
from ..errors import BnemError, BnemTypeError, BnemValueError, DataError
from ..inference.budget import MemoryBudget
from ..inference.compiled import CompiledNetwork
from ..inference.dataset import AnalysedData
from ..inference.stats import Stats
from ..network.parameters import Parameters
from ..ragged import pattern_order

FAN_IN = 8  # statistics added per reduction task
logger = logging.getLogger("bnem")


def without_malloc_trim() -> None:
    """Make Dask nannies started from now on in this process leave glibc's
    ``MALLOC_TRIM_THRESHOLD_`` unset. Dask sets it to 65536 by default; setting it at all
    turns off glibc's adaptive heap, and bnem's E-steps (large temporary numpy arrays)
    then run about 1.5x slower and analyse about 2x slower (benchmarks/README.md)."""
    import dask

    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask.config.set({"distributed.nanny.pre-spawn-environ": environ})


def _check_workers(client: Any) -> None:
    """Say so when the workers run with ``MALLOC_TRIM_THRESHOLD_`` set (see
    :func:`without_malloc_trim`)."""
    try:
        values = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    except Exception:  # a worker that cannot answer is not a reason to stop the fit
        return
    if any(v is not None for v in values.values()):
        logger.warning("the Dask workers run with MALLOC_TRIM_THRESHOLD_ set (Dask's "
                       "default), which makes bnem's E-steps about 1.5x slower; start them "
                       "without it (dask config distributed.nanny.pre-spawn-environ), as "
                       "bnem fit --workers does")


def _client(client: Any) -> Any:
    try:
        from dask.distributed import get_client
    except ImportError:
        raise BnemValueError("fitting a Dask DataFrame needs dask.distributed: pip install "
                             "'bnem[dask]'") from None
    if client is not None:
        if type(client).__name__ != "Client":
            raise BnemTypeError(f"client must be a dask.distributed Client, got "
                                f"{type(client).__name__}")
        return client
    try:
        return get_client()
    except ValueError:
        raise BnemValueError("a Dask DataFrame is fitted on a dask.distributed cluster, but "
                             "there is no active Client; create one (e.g. "
                             "dask.distributed.Client(n_workers=2)) or pass client=") from None


def _analyse(compiled: CompiledNetwork, frame: pd.DataFrame, budget: MemoryBudget,
             barren: bool, sample_weight: Any, k: int) -> AnalysedData | None:
    """Runs on a worker: one partition encoded and analysed (None if it is empty)."""
    if len(frame) == 0:
        return None
    try:
        return AnalysedData(compiled, frame, budget, barren, sample_weight)
    except BnemError as exc:
        raise type(exc)(f"Dask partition {k}: {exc}") from None


def _stats(data: AnalysedData | None, params: Parameters, hard: bool, context: str,
           k: int) -> Stats | None:
    """Runs on a worker: the E-step of one partition."""
    if data is None:
        return None
    try:
        return data.stats(params, hard, context)
    except BnemError as exc:
        raise type(exc)(f"Dask partition {k}: {exc}") from None


def _held(value: Any) -> Any:
    """A task whose result is ``value``: data every task may need, recomputable from
    the task itself if the worker holding it dies."""
    return value


def _results(client: Any, futures: list, every: list | None = None) -> list:
    """The results of ``futures``; on an error they and ``every`` other future of the
    computation are cancelled, so no result or error stays held on the cluster."""
    try:
        return client.gather(futures)
    except BaseException:
        client.cancel(futures + (every or []))
        raise


def _add(*parts: Stats | None) -> Stats | None:
    present = [p for p in parts if p is not None]
    if not present:
        return None
    total = present[0]
    for p in present[1:]:
        total = total + p
    return total


def _summary(data: AnalysedData | None) -> dict | None:
    """Runs on a worker: what the client needs to know of a partition."""
    if data is None:
        return None
    return {"n_rows": data.n_rows, "weight": data.total_weight, "latent": data.latent,
            "obs_counts": data.obs_counts, "n_distinct": data.n_distinct,
            "digest": data.digest()}


def _distinct(data: AnalysedData | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Runs on a worker: a partition's distinct rows and their weights."""
    if data is None:
        return None
    (p,) = data.source.parts
    return p.codes, p.weights


def _rows(data: AnalysedData | None) -> tuple[np.ndarray, ...] | None:
    """Runs on a worker: a partition's rows in input order (codes, values, weights)."""
    if data is None:
        return None
    (p,) = data.source.parts
    return p.codes[p.inverse], p.values[p.inverse], p.weights[p.inverse]


class DaskData:
    """A Dask DataFrame analysed on the workers, with the interface of
    :class:`~bnem.inference.dataset.AnalysedData` that the EM driver uses."""

    def __init__(self, compiled: CompiledNetwork, frame: Any, budget: MemoryBudget,
                 barren: bool = False, sample_weight: Any = None, client: Any = None) -> None:
        if sample_weight is not None and not isinstance(sample_weight, str):
            raise BnemTypeError("with a Dask DataFrame, sample_weight must name a column, got "
                                f"{type(sample_weight).__name__}")
        self.client = _client(client)
        _check_workers(self.client)
        self.compiled = compiled
        n_workers = max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))
        n_parts = frame.npartitions
        per_part = MemoryBudget(budget.memory_mb / math.ceil(n_parts / n_workers),
                                budget.chunk_rows)
        self.parts: list = []
        self._network = self.client.submit(_held, compiled, pure=False)
        try:
            self.parts = [self.client.submit(_analyse, self._network, part, per_part, barren,
                                             sample_weight, k, pure=False)
                          for k, part in enumerate(self.client.compute(frame.to_delayed()))]
            summaries = self.client.map(_summary, self.parts, pure=False)
            self._describe(_results(self.client, summaries))
        except BaseException:
            self.close()  # nothing stays pinned on the workers after a failure
            raise

    def _describe(self, summaries: list[dict | None]) -> None:
        present = [s for s in summaries if s is not None]
        if not present:
            raise BnemValueError("every partition of the Dask DataFrame is empty (0 rows); "
                                 "expected at least one row")
        self._n_rows = sum(s["n_rows"] for s in present)
        self._weight = float(sum(s["weight"] for s in present))
        self._n_distinct = sum(s["n_distinct"] for s in present)
        self._latent = tuple(n for n in present[0]["latent"]
                             if all(n in s["latent"] for s in present))
        self.obs_counts = np.sum([s["obs_counts"] for s in present], axis=0)
        self._digest = hashlib.sha256("".join(s["digest"] for s in present).encode()).hexdigest()

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def total_weight(self) -> float:
        return self._weight

    @property
    def latent(self) -> tuple[str, ...]:
        return self._latent

    @property
    def n_distinct(self) -> int:
        return self._n_distinct

    @property
    def n_partitions(self) -> int:
        return len(self.parts)

    def stats(self, params: Parameters, hard: bool = False, context: str = "") -> Stats:
        """The E-step on the workers, tree-reduced; only the total reaches the client."""
        shared = self.client.submit(_held, params, pure=False)
        level = [self.client.submit(_stats, part, shared, hard, context, k, pure=False)
                 for k, part in enumerate(self.parts)]
        futures = list(level)
        while len(level) > 1:
            level = [self.client.submit(_add, *level[i:i + FAN_IN], pure=False)
                     for i in range(0, len(level), FAN_IN)]
            futures += level
        (total,) = _results(self.client, level, futures + [shared])
        assert total is not None  # at least one partition has rows (checked at start)
        return total

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row, gathered to the client (hybrid starts only), in the order encoding
        the concatenated partitions would give them."""
        rows = [r for r in self.client.gather(self.client.map(_rows, self.parts))
                if r is not None]
        codes, values, weights = (np.concatenate([r[j] for r in rows]) for j in range(3))
        order = pattern_order(np.isnan(values))
        return codes[order], values[order], weights[order]

    def digest(self) -> str:
        return self._digest

    def distinct_rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(codes, weights)`` of each partition's distinct rows, fetched one partition
        at a time."""
        for part in self.parts:
            rows = self.client.submit(_distinct, part, pure=False).result()
            if rows is not None:
                yield rows

    def close(self) -> None:
        """Release the partitions' analyses on the workers."""
        self.client.cancel(self.parts + [self._network])
        self.parts = []


def files_to_dask(spec: FileSource, states: dict[str, list[str]]) -> Any:
    """Data files as a Dask DataFrame read as :func:`bnem.files` reads them: Parquet
    by ``read_parquet`` (every file with the same columns); CSV file by file as text,
    with each file's own separator and header, the same missing markers (a marker that
    is a state of its column's node stays a state) and the same check of every line's
    number of fields, run here before any worker reads. A CSV file is split into blocks
    of 64 MB unless it is compressed or quotes fields (a quoted line break could be cut)."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise BnemValueError("reading data files on Dask needs dask: pip install "
                             "'bnem[dask]'") from None
    paths = list(spec.paths)
    if spec.kind == "parquet":
        import pyarrow.parquet as pq
        _same_columns([(p, pq.read_schema(p).names) for p in paths])
        return dd.read_parquet(paths)
    headers = [(p, csv_header(p, spec.separator(p))) for p in paths]
    _same_columns(headers)
    frames = []
    for path, header in headers:
        sep = spec.separator(path)
        plain = check_widths(path, sep, len(header)) and not is_compressed(path)
        na_values = {col: [m for m in spec.missing if m not in set(states.get(col, ()))]
                     for col in header}
        frames.append(dd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                  na_values=na_values, encoding="utf-8-sig",
                                  skipinitialspace=True,
                                  blocksize="64MB" if plain else None))
    return frames[0] if len(frames) == 1 else dd.concat(frames)


def _same_columns(headers: list[tuple[str, list[str]]]) -> None:
    first, columns = headers[0]
    for path, cols in headers[1:]:
        if sorted(cols) != sorted(columns):
            raise other_columns(f"data file {path!r}", f"data file {first!r}", cols, columns)


# ---- online EM: each batch's E-step on the workers that hold its rows ----------------

def cluster_client(client: Any) -> Any:
    """The client online EM runs its E-steps on: ``client`` (checked), else the active
    dask.distributed client, else ``None`` (the partitions are computed here)."""
    if client is not None:
        return _client(client)
    try:
        from dask.distributed import get_client
        return get_client()
    except (ImportError, ValueError):
        return None


Piece = tuple[Any, int, int]  # (a partition's future, first row, row after the last)


class RemoteBatches:
    """Consecutive batches of ``rows`` rows of a Dask DataFrame (the same batches as
    :func:`bnem.data.batches.batches` cuts), whose rows stay on the workers: a batch is
    a list of pieces of partitions, and its E-step runs on a worker (a batch across two
    partitions is joined there); only the statistics reach this process. Each partition
    is computed once per pass, the next one while the current one is learned, and let
    go once its batches are learned."""

    def __init__(self, client: Any, data: Any, rows: int) -> None:
        self.client, self.data, self.rows = client, data, rows
        self._network: Any = None
        self._parts: dict[int, Any] = {}   # partitions computed or being computed
        self._pieces: list[Piece] = []     # the batch being gathered

    def __iter__(self) -> Iterator[tuple[str, list[Piece], int]]:
        parts = self.data.to_delayed()

        def part(k: int) -> Any:
            if k not in self._parts:
                self._parts[k] = self.client.compute(parts[k])
            return self._parts[k]

        n_held = done = 0
        for k in range(len(parts)):
            future = part(k)
            if k + 1 < len(parts):
                part(k + 1)  # read ahead while this one is learned
            size = self.client.submit(len, future, pure=False)
            n = int(size.result())
            size.release()
            start = 0
            while start < n:
                take = min(self.rows - n_held, n - start)
                self._pieces.append((future, start, start + take))
                n_held, start = n_held + take, start + take
                if n_held == self.rows:
                    batch, self._pieces = self._pieces, []
                    yield f"rows {done + 1}-{done + n_held}", batch, n_held
                    done, n_held = done + n_held, 0
            del self._parts[k]  # (a piece of it in the next batch still holds it)
        if self._pieces:
            batch, self._pieces = self._pieces, []
            yield f"rows {done + 1}-{done + n_held}", batch, n_held
        elif done == 0:
            raise DataError("the data have no rows; expected at least one")

    def frame(self, pieces: list[Piece]) -> pd.DataFrame:
        """The batch's rows, brought here (the first batch of a start: its start is drawn
        from them)."""
        return self._result(self.client.submit(_joined, pieces, pure=False), pieces)

    def stats(self, planned: CompiledNetwork, pieces: list[Piece], params: Parameters,
              hard: bool, budget: MemoryBudget, barren: bool, weight_column: str | None,
              columns: list[str], label: str) -> tuple[Stats, tuple[str, ...]]:
        """The batch's E-step on a worker: its statistics and latent nodes."""
        if self._network is None or self._network[0] is not planned:
            self._network = (planned, self.client.submit(_held, planned, pure=False))
        return self._result(self.client.submit(
            _online_stats, self._network[1], pieces, params, hard, budget, barren,
            weight_column, columns, label, pure=False), pieces)

    def _result(self, future: Any, pieces: list[Piece]) -> Any:
        """``future``'s result; on an error, the batch's partitions are cancelled too (a
        held error's traceback would otherwise keep them pinned on the cluster)."""
        try:
            return future.result()
        except BaseException:
            self.client.cancel([future] + [f for f, _, _ in pieces])
            raise
        finally:
            future.release()

    def close(self) -> None:
        """Cancel what this pass still holds on the cluster (partitions, the plan)."""
        held = list(self._parts.values()) + [f for f, _, _ in self._pieces]
        if self._network is not None:
            held.append(self._network[1])
        if held:
            self.client.cancel(held)
        self._parts, self._pieces, self._network = {}, [], None


def _joined(pieces: list[Piece]) -> pd.DataFrame:
    """Runs on a worker: a batch's rows from its pieces of partitions."""
    frames = [frame.iloc[a:b] for frame, a, b in pieces]
    return frames[0] if len(frames) == 1 else pd.concat(frames)


def _online_stats(planned: CompiledNetwork, pieces: list[Piece], params: Parameters,
                  hard: bool, budget: MemoryBudget, barren: bool, weight_column: str | None,
                  columns: list[str], label: str) -> tuple[Stats, tuple[str, ...]]:
    """Runs on a worker: one batch analysed with the plan chosen on the first batch, and
    its E-step at ``params``."""
    frame = _joined(pieces)
    names = [str(c) for c in frame.columns]
    if sorted(names) != sorted(columns):
        raise other_columns(label, "the first batch", names, columns)
    data = AnalysedData(planned, frame, budget, barren, weight_column, once=True)
    try:
        return data.stats(params, hard, f"current ({label})"), tuple(data.latent)
    finally:
        data.close()
