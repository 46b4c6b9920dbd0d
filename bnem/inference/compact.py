"""Compact storage of analysed chunks (inference layer).

Within one missing pattern of a clique, every per-entry index array is affine in the
row: value(row, j) = base(row) + template(j), because the pattern fixes which
variables vary, which families are active and which separator entries are hit. A
chunk can therefore be stored with one base per (row, array) and one template per
(pattern, array) -- about a fifth of the memory -- and expanded before use.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .evidence import Affine, ChunkEvidence, _starts


def _compress(values, cs) -> Affine:
    seg = cs.seg
    lengths = np.diff(np.append(seg, cs.n_entries))
    first = _starts(np.asarray(cs.group_rows, dtype=np.int64))
    parts = [values[seg[r]:seg[r] + lengths[r]] - values[seg[r]] for r in first]
    base = values[seg] if seg.size else np.zeros(0, dtype=np.int64)
    small = base.size == 0 or base.max() < 2 ** 31
    templates = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return Affine(base.astype(np.int32 if small else np.int64), templates,
                  _starts(np.array([p.size for p in parts], dtype=np.int64)))


def _expand(a: Affine, cs) -> np.ndarray:
    out, row = [], 0
    for g, n_p in enumerate(cs.group_rows):
        t0 = a.t_start[g]
        t1 = a.t_start[g + 1] if g + 1 < a.t_start.size else a.templates.size
        block = a.base[row:row + n_p].astype(np.int64)[:, None] + a.templates[t0:t1][None, :]
        out.append(block.ravel())
        row += n_p
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


_SEGMENT_ARRAYS = ("rows", "seg", "up_local", "root_local", "msg_seg")


def compact(ev: ChunkEvidence) -> ChunkEvidence:
    """A copy of ``ev`` whose per-entry arrays are :class:`Affine` (see :func:`expand`)."""
    cliques = []
    for cs in ev.cliques:
        c = dataclasses.replace(cs)
        c.factors = [(f, _compress(idx, cs)) for f, idx in cs.factors]
        c.up_target = _compress(cs.up_target, cs)
        c.child_links = [(k, _compress(t, cs)) for k, t in cs.child_links]
        c.count_index, c.msg_entry_seg, c.assign, c.stored_entry_seg = None, None, None, None
        for name in _SEGMENT_ARRAYS:  # segment-sized index arrays fit in int32 here
            setattr(c, name, getattr(cs, name).astype(np.int32))
        cliques.append(c)
    return dataclasses.replace(ev, cliques=cliques)


def expand(ev: ChunkEvidence) -> ChunkEvidence:
    """The evaluable form of a :func:`compact` chunk."""
    cliques = []
    for cs in ev.cliques:
        c = dataclasses.replace(cs)
        for name in _SEGMENT_ARRAYS:
            setattr(c, name, getattr(cs, name).astype(np.int64))
        if cs.factors:
            c.count_index = np.concatenate([_expand(a, cs) for _, a in cs.factors])
            e = cs.n_entries
            c.factors = [(f, c.count_index[j * e:(j + 1) * e]) for j, (f, _) in enumerate(cs.factors)]
        c.up_target = _expand(cs.up_target, cs)
        c.child_links = [(k, _expand(a, cs)) for k, a in cs.child_links]
        lengths = np.diff(np.append(cs.msg_seg, cs.msg_size))
        c.msg_entry_seg = np.repeat(np.arange(cs.msg_seg.size), lengths)
        cliques.append(c)
    return dataclasses.replace(ev, cliques=cliques)
