"""One clique of the tree, sliced at the observed values of every row of a chunk
(inference layer).

In a given row a clique only ranges over its missing members, so its potential has
``prod(cards of missing members)`` entries (a clique whose members are all observed
drops out of that row). The slices of all rows are kept back to back in one ragged
array (one segment per row), with index arrays that say, for every entry, which
parameter each factor multiplies in and where the entry lands in the message to the
parent clique. A :class:`CliqueSlice` is immutable once built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ragged import narrow, pattern_keys, radix_strides, row_dot, segment_of_entries, starts
from .barren import BARREN
from .plan import Plan
from .structure import Structure


@dataclass(frozen=True)
class CliqueSlice:
    """The ragged slices of one clique over the rows of a chunk, ready to evaluate.

    Attributes
    ----------
    rows : (a,) chunk rows where the clique has a missing member (one segment each)
    seg : (a,) start of each row's segment among the ``n_entries`` entries
    group_rows : rows per missing pattern (segments are grouped by pattern)
    factors : per active factor, ``(factor id, (E,) index into the gathered vector)``;
        an index ``n_params`` is the padding entry 1.0 (family all observed in the row)
    count_index : the factors' indices, concatenated (``factors`` holds views of it)
    up_local : segments whose separator to the parent has a missing variable
    up_target : (E,) "out" position of each entry: in the separator message for an up
        segment, ``msg_size + j`` for the entries of the j-th root segment
    msg_seg, msg_entry_seg, msg_size : segments of the separator message
    root_local : segments that end here (separator all observed, or the root)
    child_links : per child clique, ``(child k, (E,) position in its message)``
    assign : (E, |C|) state of every clique variable at each entry, or None when the
        chunk was analysed for EM only (node marginals need it)
    """

    rows: np.ndarray
    seg: np.ndarray
    n_entries: int
    group_rows: np.ndarray
    factors: tuple
    count_index: np.ndarray
    up_local: np.ndarray
    up_target: np.ndarray
    msg_seg: np.ndarray
    msg_entry_seg: np.ndarray
    msg_size: int
    root_local: np.ndarray
    child_links: tuple = ()
    assign: np.ndarray | None = None

    @property
    def entry_seg(self) -> np.ndarray:
        """Segment (position in ``rows``) of each entry."""
        return segment_of_entries(self.seg, self.n_entries)

    @property
    def nbytes(self) -> int:
        """Memory held by this slice's arrays."""
        arrays = [self.rows, self.seg, self.group_rows, self.count_index, self.up_local,
                  self.up_target, self.msg_seg, self.msg_entry_seg, self.root_local]
        total = sum(a.nbytes for a in arrays) + sum(t.nbytes for _, t in self.child_links)
        return total + (self.assign.nbytes if self.assign is not None else 0)


@dataclass(frozen=True)
class SliceDraft:
    """A slice before its children are linked: the slice, and what linking needs."""

    slice: CliqueSlice
    assign: np.ndarray       # (E, |C|) states of each entry
    sep_weights: np.ndarray | None  # (len(up_local), |sep|) ravel weights of the message


def enumerate_slices(codes: np.ndarray, mis: np.ndarray, cvars: list, cards: np.ndarray,
                     bar: np.ndarray | None = None) -> tuple[Any, ...]:
    """Active rows grouped by pattern, and every entry's clique assignment.

    Rows sharing a pattern (which clique variables are missing, and which are barren:
    summed out, see :mod:`bnem.inference.barren`) share one template of the missing
    variables' joint states (last variable fastest), so each pattern costs one
    broadcast addition whatever its number of rows. Returns ``(rows, missing mask and
    barren mask of those rows, assignments, per-row lengths, rows per pattern)``.
    """
    rows = np.flatnonzero(mis.any(axis=1))
    mis_r = mis[rows]
    bar_r = None if bar is None or not bar[rows].any() else bar[rows]  # None: no barren cell
    if rows.size == 0:
        empty = np.zeros(0, np.int64)
        return rows, mis_r, bar_r, np.zeros((0, len(cvars)), dtype=np.int64), empty, empty
    keys = pattern_keys(mis_r if bar_r is None else np.hstack([mis_r, bar_r]))
    order = np.argsort(keys, kind="stable")
    rows, mis_r, keys = rows[order], mis_r[order], keys[order]
    free = mis_r
    if bar_r is not None:
        bar_r = bar_r[order]
        free = mis_r | bar_r
    observed = np.where(free, 0, codes[rows][:, cvars]).astype(np.int64)
    bounds = np.flatnonzero(np.diff(keys)) + 1
    counts = np.diff(np.concatenate([[0], bounds, [keys.size]]))
    lengths = np.empty(rows.size, dtype=np.int64)
    parts, start = [], 0
    for n_p in counts:
        free = np.flatnonzero(mis_r[start])
        states = np.indices([int(cards[j]) for j in free]).reshape(free.size, -1).T
        template = np.zeros((states.shape[0], len(cvars)), dtype=np.int64)
        template[:, free] = states
        block = observed[start:start + n_p]
        parts.append((block[:, None, :] + template[None]).reshape(-1, len(cvars)))
        lengths[start:start + n_p] = states.shape[0]
        start += n_p
    return rows, mis_r, bar_r, np.concatenate(parts), lengths, counts


def _factor_indices(structure, clique, cvars, rows, mis_r, bar_r, assign, entry_seg, n_rows,
                    row_base) -> list:
    """``(factor id, flat index per entry)`` of every factor active in some row."""
    pos_of = {v: j for j, v in enumerate(cvars)}
    factors = []
    for f in clique.factors:
        row_factor = structure.row_factor(f)
        if row_factor is None:
            fam, strides, offset = structure.families[f], structure.strides[f], structure.offsets[f]
        else:  # a component's per-row table, (K, n): configuration c of row r is at
            fam, strides, _ = row_factor   # base + c * n + r
            strides = [st * n_rows for st in strides]
            offset = row_base[f - structure.n_vars] + rows[entry_seg]
        if not fam:
            continue
        at = [pos_of[v] for v in fam]
        active = mis_r[:, at].any(axis=1)
        if bar_r is not None:  # barren families are summed out
            active &= ~bar_r[:, at].any(axis=1)
        if not active.any():
            continue
        weights = np.zeros(len(cvars), dtype=np.int64)
        for v, st in zip(fam, strides):
            weights[pos_of[v]] = st
        idx = assign @ weights + offset
        if not active.all():  # entries of rows where the family is all observed
            idx[~active[entry_seg]] = structure.n_params  # -> the padding entry 1.0
        factors.append((f, idx))
    return factors


def slice_clique(structure: Structure, plan: Plan, k: int, codes: np.ndarray,
                 missing: np.ndarray, row_base: tuple = (),
                 barren: np.ndarray | None = None) -> SliceDraft:
    """Slice clique ``k`` of ``plan`` at the observed values of every row (``missing``:
    cells to sum over; ``barren``: cells summed out beforehand, with their families)."""
    clique = plan.cliques[k]
    cvars = list(clique.vars)
    cards = structure.cards[cvars]
    mis = missing[:, cvars]
    bar = None if barren is None else barren[:, cvars]
    rows, mis_r, bar_r, assign, lengths, group_rows = enumerate_slices(codes, mis, cvars,
                                                                       cards, bar)
    seg = starts(lengths)
    entry_seg = np.repeat(np.arange(rows.size), lengths)
    n_entries = int(entry_seg.size)
    found = _factor_indices(structure, clique, cvars, rows, mis_r, bar_r, assign, entry_seg,
                            codes.shape[0], row_base)
    count_index = narrow(np.concatenate([idx for _, idx in found]) if found else
                         np.zeros(0, np.int64))
    factors = tuple((f, count_index[j * n_entries:(j + 1) * n_entries])
                    for j, (f, _) in enumerate(found))
    # separator to the parent
    pos_of = {v: j for j, v in enumerate(cvars)}
    up_mask: np.ndarray
    if clique.parent is not None:
        sp = [pos_of[v] for v in clique.sep]
        up_mask = np.asarray(mis_r[:, sp].any(axis=1))
    else:
        sp, up_mask = [], np.zeros(rows.size, dtype=bool)
    up_local = np.flatnonzero(up_mask)
    sep_weights = None
    if sp:
        _, sep_strides, msg_len = radix_strides(mis_r[up_local][:, sp], cards[sp])
        sep_weights = np.where(mis_r[up_local][:, sp], sep_strides, 0)
    else:
        msg_len = np.zeros(0, dtype=np.int64)
    msg_seg = starts(msg_len)
    msg_size = int(msg_len.sum())
    root_pos = np.cumsum(~up_mask) - 1
    up_target = msg_size + root_pos[entry_seg]
    if up_local.size:
        rpos = np.full(rows.size, -1, dtype=np.int64)
        rpos[up_local] = np.arange(up_local.size)
        e = np.flatnonzero(up_mask[entry_seg])
        r = rpos[entry_seg[e]]
        assert sep_weights is not None  # set whenever some separator entry is missing
        up_target[e] = msg_seg[r] + row_dot(assign, e, sp, sep_weights, r)
    cs = CliqueSlice(rows, seg, n_entries, group_rows, factors, count_index, up_local,
                     narrow(up_target), msg_seg,
                     narrow(np.repeat(np.arange(msg_len.size), msg_len)), msg_size,
                     np.flatnonzero(~up_mask))
    return SliceDraft(cs, assign, sep_weights)


def link(plan: Plan, k: int, child: SliceDraft, parent: SliceDraft, n_rows: int) -> tuple:
    """``(k, position in child k's message of every entry of its parent)``."""
    clique = plan.cliques[k]
    pvars = list(plan.cliques[clique.parent].vars)
    sp = [pvars.index(v) for v in clique.sep]
    c, p = child.slice, parent.slice
    msg_rows = c.rows[c.up_local]
    rpos = np.full(n_rows, -1, dtype=np.int64)
    rpos[msg_rows] = np.arange(msg_rows.size)
    rp = rpos[p.rows][p.entry_seg]
    e = np.flatnonzero(rp >= 0)
    r = rp[e]
    target = np.full(rp.size, c.msg_size, dtype=np.int64)
    if e.size:
        assert child.sep_weights is not None  # the child sends a message in some row
        target[e] = c.msg_seg[r] + row_dot(parent.assign, e, sp, child.sep_weights, r)
    return (k, narrow(target))


def slice_all(structure: Structure, plan: Plan, codes: np.ndarray, row_base: tuple,
              keep_assign: bool) -> tuple:
    """Every clique of ``plan`` sliced and linked to its children (schedule order)."""
    missing = codes == -1
    barren = codes == BARREN
    drafts = [slice_clique(structure, plan, k, codes, missing, row_base,
                           barren if barren.any() else None)
              for k in range(len(plan.cliques))]
    links: list[list] = [[] for _ in drafts]
    for k, c in enumerate(plan.cliques):
        if c.parent is not None:
            links[c.parent].append(link(plan, k, drafts[k], drafts[c.parent], codes.shape[0]))
    return tuple(dataclasses.replace(d.slice, child_links=tuple(links[k]),
                                     assign=d.assign if keep_assign else None)
                 for k, d in enumerate(drafts))
