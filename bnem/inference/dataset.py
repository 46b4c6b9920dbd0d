"""The one data path: source -> encoded parts -> chunks -> analysis -> statistics
(inference layer).

Every consumer (EM, ``log_prob``, ``posterior``, scores) goes through here::

    source ──► encode_source ──► chunk_refs ──► CompiledNetwork.analyse ──► kernel
    (DataFrame or          (parts: codes,    (row slices that fit   (per chunk, once)   (estep, log_prob,
     iterable of frames)    values, weights)  the memory budget)                         marginals)

:class:`AnalysedData` keeps the analysis between E-steps within the memory budget;
:func:`iter_analysed` analyses each chunk once for a single pass. Both name the rows
behind kernel errors (:class:`ImpossibleRows`, :class:`SplitRows`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..data.encode import EncodedData
from ..data.source import EncodedSource, encode_source
from ..errors import BnemValueError, DataError, ImpossibleRowError
from ..network.parameters import Parameters
from .budget import MemoryBudget
from .compact import CompactChunk, compact, widen, widening_bytes
from .compiled import CompiledNetwork, ImpossibleRows, SplitRows
from .barren import mark_barren
from .evidence import ChunkEvidence
from .stats import Stats
from .structure import Structure
from .triangulate import SAMPLE_ROWS


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk's rows are: a part of the source, and its distinct rows there."""

    part: int
    rows: slice


def chunk_refs(compiled: CompiledNetwork, source: EncodedSource, budget: MemoryBudget,
               keep_assign: bool = False) -> list[ChunkRef]:
    """The chunks of every part of ``source`` under ``budget`` (``keep_assign``: for an
    analysis that keeps every entry's states, see :func:`analyse_ref`)."""
    refs: list[ChunkRef] = []
    for k, part in enumerate(source.parts):
        def name(r: int, k: int = k) -> str:
            return describe_row(compiled, source, k, r)
        refs.extend(ChunkRef(k, sl) for sl in compiled.chunk_bounds(part.codes, budget, name,
                                                                    keep_assign))
    return refs


def sample_codes(source: EncodedSource, barren_of: Structure | None = None,
                 size: int = SAMPLE_ROWS) -> np.ndarray:
    """About ``size`` encoded rows spread over ``source``'s parts (the first parts if
    there are many), with the barren cells of ``barren_of``'s structure marked if it is
    given: what the clique tree is chosen on (:meth:`CompiledNetwork.for_rows`)."""
    parts, held = [], 0
    per_part = max(size // max(len(source.parts), 1), 64)
    for part in source.parts:
        codes = part.codes
        if len(codes) > per_part:
            codes = codes[np.linspace(0, len(codes) - 1, per_part).astype(np.int64)]
        parts.append(codes)
        held += len(codes)
        if held >= size:
            break
    if not parts:
        return np.zeros((0, 0), dtype=np.int64)
    codes = np.concatenate(parts)
    return mark_barren(barren_of, codes) if barren_of is not None else codes


def analyse_ref(compiled: CompiledNetwork, source: EncodedSource, ref: ChunkRef,
                keep_assign: bool = False, barren: bool = False) -> ChunkEvidence:
    """Analyse one chunk of ``source`` (``barren``: sum barren cells out first)."""
    part, sl = source.parts[ref.part], ref.rows
    values = part.values[sl] if part.values is not None else None
    return compiled.analyse(part.codes[sl], part.weights[sl], values, keep_assign, barren)


def iter_analysed(compiled: CompiledNetwork, source: EncodedSource, budget: MemoryBudget,
                  keep_assign: bool = False,
                  barren: bool = False) -> Iterator[tuple[ChunkRef, ChunkEvidence]]:
    """Each chunk of ``source``, analysed once (a single pass)."""
    for ref in chunk_refs(compiled, source, budget, keep_assign):
        yield ref, analyse_ref(compiled, source, ref, keep_assign, barren)


def describe_row(compiled: CompiledNetwork, source: EncodedSource, part: int, row: int) -> str:
    """``"row <label> (a='x', ...)"`` for distinct row ``row`` of encoded group ``part``,
    naming the input part it came from when the source had several."""
    text = source.parts[part].describe_row(row, list(compiled.network.variables.values()))
    origin = source.part_of(part, row)
    return text if origin is None else f"{text} of {origin}"


def impossible_error(compiled: CompiledNetwork, source: EncodedSource, ref: ChunkRef,
                     exc: ImpossibleRows, context: str = "") -> ImpossibleRowError:
    """The user-facing error for rows with probability zero under some parameters."""
    desc = describe_row(compiled, source, ref.part, ref.rows.start + int(exc.rows[0]))
    n = len(exc.rows)
    more = f" (and {n - 1} other distinct row(s) in the same chunk)" if n > 1 else ""
    if context == "network's own":
        remedy = ("init='network' uses the network's CPDs as given: fix their zero "
                  "entries, or start from init='random' or 'uniform'")
    else:
        remedy = ("start from init='random' or 'uniform', or use prior > 0 so that no "
                  "probability is exactly zero")
    return ImpossibleRowError(
        f"{desc} has probability zero under the {context or 'current'} parameters{more}. "
        f"A CPD gives probability 0 to something this row contains; {remedy}.")


def split_error(compiled: CompiledNetwork, source: EncodedSource, ref: ChunkRef,
                exc: SplitRows) -> BnemValueError:
    """The user-facing error for hard EM on rows no single clique can complete."""
    desc = describe_row(compiled, source, ref.part, ref.rows.start + int(exc.rows[0]))
    return BnemValueError(
        f"hard=True completes each row from one clique of the junction tree, but the "
        f"unobserved discrete variables of {desc} lie in several cliques ({len(exc.rows)} "
        "distinct row(s) of that chunk are like it). Use hard=False (soft EM), or observe "
        "more of those variables.")


class FitData(Protocol):
    """What the EM driver needs of its data: :class:`AnalysedData` in this process, or
    data held by Dask workers (:class:`bnem.em.distributed.DaskData`)."""

    compiled: CompiledNetwork
    obs_counts: np.ndarray

    @property
    def n_rows(self) -> int: ...

    @property
    def total_weight(self) -> float: ...

    @property
    def latent(self) -> tuple[str, ...]: ...

    @property
    def n_distinct(self) -> int: ...

    def stats(self, params: Parameters, hard: bool = False, context: str = "") -> Stats: ...

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def digest(self) -> str: ...

    def distinct_rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    def close(self) -> None: ...


class SpilledChunk:
    """A chunk's compact analysis in a file, read back at each E-step: for data files
    beyond the memory budget, cheaper than analysing the chunk again."""

    def __init__(self, path: str) -> None:
        self.path = path

    @classmethod
    def write(cls, folder: str, k: int, chunk: CompactChunk) -> "SpilledChunk":
        path = os.path.join(folder, f"analysis{k:07d}.pickle")
        try:
            with open(path, "wb") as handle:
                pickle.dump(chunk, handle, protocol=5)
        except OSError as exc:
            raise DataError(f"cannot keep the analysed data on disk at {path!r}: "
                            f"{exc.strerror or exc}; give spill_dir= a folder with room, or "
                            "raise memory_mb") from None
        return cls(path)

    def ready(self) -> ChunkEvidence:
        try:
            with open(self.path, "rb") as handle:
                chunk = pickle.load(handle)
        except OSError as exc:
            raise DataError(f"the analysed data kept on disk at {self.path!r} cannot be read "
                            f"back ({exc}); was its folder removed during the fit?") from None
        return chunk.ready()


class AnalysedData:
    """A source encoded and analysed once against a compiled network.

    Each chunk's analysis is kept within ``budget.cache_bytes``: every chunk first in
    compact form (about a fifth of the size, expanded at each E-step for a small extra
    cost), then upgraded to the ready form while memory allows; chunks beyond even the
    compact budget are, for data files, kept compact on disk beside the encoded rows
    and read back at each E-step, and otherwise analysed again at every E-step (slower,
    but memory stays bounded for any number of rows). Statistics are additive over
    chunks.
    """

    def __init__(self, compiled: CompiledNetwork, data: object,
                 budget: MemoryBudget = MemoryBudget(), barren: bool = False,
                 sample_weight: object = None, spill_dir: str | None = None,
                 once: bool = False) -> None:
        self.compiled = compiled
        self.once = once  # one E-step (a batch of online EM): compiled's own plan, and the
        # analysis kept as it is (compact forms pay off only over repeated E-steps)
        self.budget = budget
        self.barren = barren  # barren cells summed out (see bnem.inference.barren)
        source = encode_source(data, list(compiled.network.variables.values()),
                               sample_weight, spill_dir)
        try:  # rows identical across parts (files, batches) counted once where memory allows
            self.source = source.merged(budget.cache_bytes / 4)
        except BaseException:
            source.close()
            raise
        try:
            if not once:
                self.compiled = compiled.for_rows(
                    sample_codes(self.source, compiled.structure if barren else None))
            self.refs = chunk_refs(self.compiled, self.source, budget)
            self._kept = self._keep()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Remove what the source keeps on disk (data files' encoded rows)."""
        self.source.close()

    def _keep(self) -> dict[int, ChunkEvidence | CompactChunk | SpilledChunk]:
        kept: dict[int, ChunkEvidence | CompactChunk | SpilledChunk] = {}
        room, full_size = self.budget.cache_bytes, {}
        obs_counts = np.zeros(self.compiled.structure.n_params)
        spill = self.source.spill
        for k, ref in enumerate(self.refs):  # first every chunk in compact form, ...
            ev = analyse_ref(self.compiled, self.source, ref, barren=self.barren)
            obs_counts += ev.obs_counts
            if self.once:  # as analysed, while memory allows (else analysed again)
                if ev.nbytes <= room:
                    kept[k] = ev
                    room -= ev.nbytes
                continue
            small = compact(ev)
            full_size[k] = ev.nbytes
            if small.nbytes <= room:
                kept[k] = small
                room -= small.nbytes
            elif spill is not None:  # data files: the analysis goes to disk beside them
                kept[k] = SpilledChunk.write(spill.path, k, small)
        for k, chunk in list(kept.items()):  # ... then expanded while memory allows
            if isinstance(chunk, CompactChunk) and full_size[k] - chunk.nbytes <= room:
                room -= full_size[k] - chunk.nbytes
                kept[k] = chunk.ready()
        ready = {k: c for k, c in kept.items() if isinstance(c, ChunkEvidence)}
        if len(ready) == len(self.refs):  # all kept ready: int64 indices if they fit too
            extra = sum(widening_bytes(c) for c in ready.values())
            if extra <= room:
                room -= extra
                kept = {k: widen(c) for k, c in ready.items()}
        self.obs_counts = obs_counts
        self.kept_bytes = self.budget.cache_bytes - room
        return kept

    def __sizeof__(self) -> int:
        """Bytes held: the kept analysis and the encoded parts in memory. Dask reads this
        to place tasks next to the data (without it a fit's analysis looked tiny and was
        shipped between workers)."""
        held = int(self.kept_bytes) + object.__sizeof__(self)
        for part in self.source.parts:
            if isinstance(part, EncodedData):
                held += part.codes.nbytes + part.values.nbytes + part.weights.nbytes + \
                    part.inverse.nbytes
        return held

    @property
    def n_chunks(self) -> int:
        return len(self.refs)

    @property
    def n_streamed(self) -> int:
        """Chunks analysed again at every E-step (beyond the memory budget)."""
        return len(self.refs) - len(self._kept)

    @property
    def n_compact(self) -> int:
        """Chunks kept in compact form in memory."""
        return sum(isinstance(c, CompactChunk) for c in self._kept.values())

    @property
    def n_spilled(self) -> int:
        """Chunks whose compact analysis is kept on disk (data files beyond the budget)."""
        return sum(isinstance(c, SpilledChunk) for c in self._kept.values())

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    @property
    def total_weight(self) -> float:
        return self.source.total_weight

    @property
    def latent(self) -> tuple[str, ...]:
        return self.source.latent

    @property
    def n_distinct(self) -> int:
        return self.source.n_distinct

    def canonical_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row as ``(codes, values, weights)`` in the order encoding the whole
        table would give them (see :meth:`EncodedSource.canonical_rows`)."""
        return self.source.canonical_rows()

    def distinct_rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(codes, weights)`` of the distinct rows, part by part (one in memory at a
        time for data files)."""
        for part in self.source.parts:
            yield part.codes, part.weights

    def digest(self) -> str:
        """A hash of the encoded data (for checkpoints)."""
        d = hashlib.sha256()
        for part in self.source.parts:
            for a in (part.codes, part.values, part.weights, part.inverse):
                d.update(np.ascontiguousarray(a).tobytes())
        return d.hexdigest()

    def chunk(self, k: int) -> ChunkEvidence:
        """Chunk ``k``, ready to evaluate."""
        kept = self._kept.get(k)
        return analyse_ref(self.compiled, self.source, self.refs[k], barren=self.barren) \
            if kept is None else kept.ready()

    def stats(self, params: Parameters, hard: bool = False, context: str = "") -> Stats:
        """The E-step over all chunks: the sum of their statistics under ``params``.

        Raises
        ------
        ImpossibleRowError
            Naming the first row that has probability zero under ``params``.
        BnemValueError
            With ``hard``, naming a row no single clique can complete.
        """
        prepared = self.compiled.prepare(params)
        total = None
        for k, ref in enumerate(self.refs):
            try:
                part = self.compiled.estep(self.chunk(k), prepared, hard)
            except ImpossibleRows as exc:
                raise impossible_error(self.compiled, self.source, ref, exc, context) from None
            except SplitRows as exc:
                raise split_error(self.compiled, self.source, ref, exc) from None
            total = part if total is None else total + part
        assert total is not None  # a source has at least one row, so one chunk
        return total
