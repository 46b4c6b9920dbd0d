"""Compact storage of analysed chunks (inference layer).

Within one missing pattern of a clique, every per-entry index array is affine in the
row: value(row, j) = base(row) + template(j), because the pattern fixes which
variables vary, which families are active and which separator entries are hit. A
chunk can therefore be stored with one base per (row, array) and one template per
(pattern, array) -- about a fifth of the memory -- and expanded before use:
:class:`CompactChunk` is its own type, whose :meth:`~CompactChunk.ready` expands it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..ragged import narrow, narrowest, segment_of_entries, starts
from .evidence import ChunkEvidence
from .slices import CliqueSlice


@dataclass(frozen=True)
class Affine:
    """A per-entry index array stored as per-row bases plus per-pattern templates."""

    base: np.ndarray        # (a,) int32 or int64
    templates: np.ndarray   # the patterns' templates, concatenated (int16 where they fit:
                            # offsets within a row's slice, usually small)
    t_start: np.ndarray     # (n_patterns,) where each template starts
    wide: bool = True       # whether the full array needs int64 (else base and
                            # templates add up in int32 without overflow)

    @classmethod
    def compress(cls, values: np.ndarray, cs: CliqueSlice) -> "Affine":
        """``values`` (one per entry of ``cs``) as bases and templates."""
        seg = cs.seg
        lengths = np.diff(np.append(seg, cs.n_entries))
        first = starts(np.asarray(cs.group_rows, dtype=np.int64))  # a row of each pattern
        plen = lengths[first]
        t_start = starts(plen)
        at = np.repeat(seg[first] - t_start, plen) + np.arange(int(plen.sum()))
        templates = values[at] - np.repeat(values[seg[first]], plen)
        base = values[seg] if seg.size else np.zeros(0, dtype=np.int64)
        wide = values.dtype != np.int32  # the analysis narrows every array that fits
        return cls(narrow(base), narrowest(templates), narrow(t_start), wide)

    def expand(self, lengths: np.ndarray, tpos: np.ndarray | None) -> np.ndarray:
        """The full per-entry array, from each row's number of entries and each entry's
        position among the concatenated templates (see :func:`entry_positions`; None
        when every pattern has one row, so the templates are in entry order)."""
        templates = self.templates if tpos is None else self.templates.take(tpos)
        if self.wide:
            return narrow(np.repeat(self.base.astype(np.int64), lengths) + templates)
        out = np.repeat(self.base.astype(np.int32), lengths)  # the values fit in int32, so
        out += templates                                      # no partial sum overflows
        return out

    @property
    def nbytes(self) -> int:
        return self.base.nbytes + self.templates.nbytes + self.t_start.nbytes


def entry_positions(t_start: np.ndarray, n_templates: int,
                    group_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(entries of each row, template position of each entry)`` of a clique whose
    patterns' templates start at ``t_start`` (``n_templates`` entries in all) and
    cover ``group_rows`` rows each, in order. The positions are None when every
    pattern has one row: they are then ``0, 1, 2, ...`` (templates in entry order)."""
    plen = np.diff(np.append(t_start, n_templates))
    if int(group_rows.sum()) == group_rows.size:  # one row per pattern (none is empty)
        return plen, None
    row_pat = np.repeat(np.arange(plen.size), group_rows)
    lengths = plen[row_pat]
    tpos = np.repeat(t_start[row_pat] - starts(lengths), lengths)
    tpos += np.arange(tpos.size)
    return lengths, tpos


@dataclass(frozen=True)
class CompactClique:
    """A :class:`~bnem.inference.slices.CliqueSlice` with its per-entry arrays affine
    and its segment arrays in int32."""

    rows: np.ndarray
    seg: np.ndarray
    n_entries: int
    group_rows: np.ndarray
    factor_ids: tuple
    factor_index: tuple     # Affine per factor
    up_local: np.ndarray
    up_target: Affine
    msg_seg: np.ndarray
    msg_size: int
    root_local: np.ndarray
    child_links: tuple      # (child k, Affine)

    @classmethod
    def of(cls, cs: CliqueSlice) -> "CompactClique":
        small = [a.astype(np.int32) for a in (cs.rows, cs.seg, cs.up_local, cs.root_local,
                                              cs.msg_seg)]
        return cls(small[0], small[1], cs.n_entries, cs.group_rows,
                   tuple(f for f, _ in cs.factors),
                   tuple(Affine.compress(idx, cs) for _, idx in cs.factors), small[2],
                   Affine.compress(cs.up_target, cs), small[4], cs.msg_size, small[3],
                   tuple((k, Affine.compress(t, cs)) for k, t in cs.child_links))

    def expand(self) -> CliqueSlice:
        """The evaluable slice."""
        e = self.n_entries
        sample = self.up_target  # every array of the clique has the same templates' lengths
        lengths, tpos = entry_positions(sample.t_start, sample.templates.size, self.group_rows)
        parts = [a.expand(lengths, tpos) for a in self.factor_index]
        count_index = narrow(np.concatenate(parts) if parts else np.zeros(0, np.int64))
        factors = tuple((f, count_index[j * e:(j + 1) * e]) for j, f in enumerate(self.factor_ids))
        seg, rows = self.seg.astype(np.int64), self.rows.astype(np.int64)
        msg_seg = self.msg_seg.astype(np.int64)
        return CliqueSlice(rows, seg, e, self.group_rows, factors, count_index,
                           self.up_local.astype(np.int64),
                           self.up_target.expand(lengths, tpos), msg_seg,
                           narrow(segment_of_entries(msg_seg, self.msg_size)), self.msg_size,
                           self.root_local.astype(np.int64),
                           tuple((k, a.expand(lengths, tpos)) for k, a in self.child_links))

    @property
    def nbytes(self) -> int:
        arrays = (self.rows, self.seg, self.group_rows, self.up_local, self.msg_seg,
                  self.root_local)
        return sum(a.nbytes for a in arrays) + self.up_target.nbytes + \
            sum(a.nbytes for a in self.factor_index) + sum(a.nbytes for _, a in self.child_links)


@dataclass(frozen=True)
class CompactChunk:
    """An analysed chunk kept compact; :meth:`ready` gives the evaluable
    :class:`~bnem.inference.evidence.ChunkEvidence`."""

    shell: ChunkEvidence    # the chunk without its cliques
    cliques: tuple          # CompactClique per plan clique

    def ready(self) -> ChunkEvidence:
        return dataclasses.replace(self.shell, cliques=tuple(c.expand() for c in self.cliques))

    @property
    def nbytes(self) -> int:
        return self.shell.nbytes + sum(c.nbytes for c in self.cliques)


def compact(ev: ChunkEvidence) -> CompactChunk:
    """``ev`` in compact form (see :class:`CompactChunk`)."""
    return CompactChunk(dataclasses.replace(ev, cliques=()),
                        tuple(CompactClique.of(cs) for cs in ev.cliques))


def _wide_clique(cs: CliqueSlice) -> CliqueSlice:
    e = cs.n_entries
    index = cs.count_index.astype(np.int64)
    return dataclasses.replace(
        cs, count_index=index,
        factors=tuple((f, index[j * e:(j + 1) * e]) for j, (f, _) in enumerate(cs.factors)),
        up_target=cs.up_target.astype(np.int64), msg_entry_seg=cs.msg_entry_seg.astype(np.int64),
        child_links=tuple((k, t.astype(np.int64)) for k, t in cs.child_links))


def widening_bytes(ev: ChunkEvidence) -> int:
    """Extra bytes :func:`widen` would take (its int32 index arrays, doubled)."""
    total = 0
    for cs in ev.cliques:
        arrays = [cs.count_index, cs.up_target, cs.msg_entry_seg] + [t for _, t in cs.child_links]
        total += sum(a.nbytes for a in arrays if a.dtype == np.int32)
    return total


def widen(ev: ChunkEvidence) -> ChunkEvidence:
    """``ev`` with its per-entry index arrays in int64: twice their memory, but numpy
    gathers and counts through int64 indices without converting them first (on small
    tables, where memory is not the bottleneck, about a tenth faster per E-step)."""
    return dataclasses.replace(ev, cliques=tuple(_wide_clique(cs) for cs in ev.cliques))
