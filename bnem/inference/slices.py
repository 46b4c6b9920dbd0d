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

from ..ragged import narrow, pattern_keys, radix_strides, segment_of_entries, starts
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
class Layout:
    """Where the entries of one clique's slices lie, and the template they share.

    Rows are grouped by pattern (which members are missing, which barren). A
    pattern's *template* enumerates the joint states of its missing members (last
    member fastest); every per-entry index array of the clique is, within a pattern,
    affine in the row: ``base[row] + template[j]``, so it is built from one value per
    row and one per template entry (:meth:`expand`), with no loop over patterns.
    """

    rows: np.ndarray        # (a,) active rows, grouped by pattern
    row_pat: np.ndarray     # (a,) pattern of each row
    group_rows: np.ndarray  # (P,) rows per pattern
    pmis: np.ndarray        # (P, |C|) members summed over in each pattern
    pbar: np.ndarray | None  # (P, |C|) barren members of each pattern (None: none)
    obs: np.ndarray         # (a, |C|) observed state of each member (0 where not observed)
    lengths: np.ndarray     # (a,) entries of each row
    seg: np.ndarray         # (a,) start of each row's entries
    digits: np.ndarray      # (T, |C|) state of each missing member at each template entry
    t_pat: np.ndarray       # (T,) pattern of each template entry
    tpos: np.ndarray        # (E,) template entry of each entry

    @property
    def n_entries(self) -> int:
        return int(self.tpos.size)

    def expand(self, base: np.ndarray, template: np.ndarray) -> np.ndarray:
        """The per-entry array ``base[row] + template[j]`` (int32 where it fits)."""
        return narrow(np.repeat(base, self.lengths) + template[self.tpos])

    def message_template(self, cols: list[int],
                         cards: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each entry lands in a separator message over the members ``cols``
        (cardinalities ``cards``), whose layout a row's pattern fixes: per pattern,
        whether the separator has a missing member (else there is no message) and the
        message's length; per template entry, its offset in the message (0 where none).
        The child's up-message and the parent's link to it both use this."""
        has: np.ndarray = np.asarray(self.pmis[:, cols].any(axis=1))
        lengths = np.zeros(has.size, dtype=np.int64)
        offset = np.zeros(self.t_pat.size, dtype=np.int64)
        if has.any():
            _, strides, lengths = radix_strides(self.pmis[:, cols], cards)
            for j, c in enumerate(cols):
                offset += self.digits[:, c] * strides[self.t_pat, j]
            offset[~has[self.t_pat]] = 0
        return has, lengths, offset


def _digits(position: np.ndarray, radix: np.ndarray, t_pat: np.ndarray) -> np.ndarray:
    """Each template entry's ``position`` within its pattern written in the mixed radix
    of the pattern's members (last fastest; observed members have radix 1, so digit 0).
    Column by column in int32: a chunk's entries number far below 2**31, and int32
    division is several times faster than int64."""
    out = np.zeros((position.size, radix.shape[1]), dtype=np.int32)
    q = position.astype(np.int32)
    r32 = radix.astype(np.int32)
    for c in range(radix.shape[1] - 1, -1, -1):
        if (r32[:, c] == 1).all():
            continue  # observed in every pattern
        r = r32[t_pat, c]
        np.remainder(q, r, out=out[:, c])
        np.floor_divide(q, r, out=q)
    return out


def layout(codes: np.ndarray, mis: np.ndarray, cvars: list, cards: np.ndarray,
           bar: np.ndarray | None = None) -> Layout:
    """The :class:`Layout` of a clique over ``cvars`` (``mis``/``bar``: its members'
    missing and barren cells in every row of the chunk)."""
    rows = np.flatnonzero(mis.any(axis=1))
    mis_r = mis[rows]
    bar_r = None if bar is None or not bar[rows].any() else bar[rows]  # None: no barren cell
    keys = pattern_keys(mis_r if bar_r is None else np.hstack([mis_r, bar_r]))
    order = np.argsort(keys, kind="stable")
    rows, mis_r, keys = rows[order], mis_r[order], keys[order]
    free = mis_r
    if bar_r is not None:
        bar_r = bar_r[order]
        free = mis_r | bar_r
    obs = np.where(free, 0, codes[rows][:, cvars]).astype(np.int64)
    first = np.concatenate([[0], np.flatnonzero(np.diff(keys)) + 1]) if rows.size else \
        np.zeros(0, dtype=np.int64)
    group_rows = np.diff(np.append(first, rows.size))
    row_pat = np.repeat(np.arange(first.size), group_rows)
    pmis = mis_r[first]
    radix, strides, plen = radix_strides(pmis, cards)
    t_start = starts(plen)
    t_pat = np.repeat(np.arange(first.size), plen)
    digits = _digits(np.arange(t_pat.size) - t_start[t_pat], radix, t_pat)
    lengths = plen[row_pat]
    seg = starts(lengths)
    tpos = np.arange(int(lengths.sum())) + np.repeat(t_start[row_pat] - seg, lengths)
    return Layout(rows, row_pat, group_rows, pmis, None if bar_r is None else bar_r[first],
                  obs, lengths, seg, digits, t_pat, tpos)


@dataclass(frozen=True)
class SliceDraft:
    """A slice before its children are linked: the slice and its layout."""

    slice: CliqueSlice
    layout: Layout


def _factor_indices(structure: Structure, clique: Any, cvars: list, lay: Layout, n_rows: int,
                    row_base: tuple) -> list:
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
            offset = row_base[f - structure.n_vars] + lay.rows
        if not fam:
            continue
        at = [pos_of[v] for v in fam]
        active: np.ndarray = np.asarray(lay.pmis[:, at].any(axis=1))  # per pattern
        if lay.pbar is not None:  # barren families are summed out
            active &= ~lay.pbar[:, at].any(axis=1)
        if not active.any():
            continue
        weights = np.zeros(len(cvars), dtype=np.int64)
        for v, st in zip(fam, strides):
            weights[pos_of[v]] = st
        base = lay.obs @ weights + offset
        template = lay.digits @ weights
        if not active.all():  # rows where the family is all observed
            base[~active[lay.row_pat]] = structure.n_params  # -> the padding entry 1.0
            template[~active[lay.t_pat]] = 0
        factors.append((f, lay.expand(base, template)))
    return factors


def slice_clique(structure: Structure, plan: Plan, k: int, codes: np.ndarray,
                 missing: np.ndarray, row_base: tuple = (),
                 barren: np.ndarray | None = None, keep_assign: bool = False) -> SliceDraft:
    """Slice clique ``k`` of ``plan`` at the observed values of every row (``missing``:
    cells to sum over; ``barren``: cells summed out beforehand, with their families)."""
    clique = plan.cliques[k]
    cvars = list(clique.vars)
    cards = structure.cards[cvars]
    lay = layout(codes, missing[:, cvars], cvars, cards,
                 None if barren is None else barren[:, cvars])
    rows, n_entries = lay.rows, lay.n_entries
    found = _factor_indices(structure, clique, cvars, lay, codes.shape[0], row_base)
    count_index = narrow(np.concatenate([idx for _, idx in found]) if found else
                         np.zeros(0, np.int64))
    factors = tuple((f, count_index[j * n_entries:(j + 1) * n_entries])
                    for j, (f, _) in enumerate(found))
    # separator to the parent: per pattern, does it have a missing member?
    pos_of = {v: j for j, v in enumerate(cvars)}
    sp = [pos_of[v] for v in clique.sep] if clique.parent is not None else []
    up_pat, pat_len, template = lay.message_template(sp, cards[sp])
    up_mask = up_pat[lay.row_pat]
    up_local = np.flatnonzero(up_mask)
    msg_len = pat_len[lay.row_pat[up_local]]
    msg_seg = starts(msg_len)
    msg_size = int(msg_len.sum())
    base = msg_size + np.cumsum(~up_mask) - 1  # root segments: after the message
    base[up_local] = msg_seg
    cs = CliqueSlice(rows, lay.seg, n_entries, lay.group_rows, factors, count_index, up_local,
                     lay.expand(base, template), msg_seg,
                     narrow(np.repeat(np.arange(msg_len.size), msg_len)), msg_size,
                     np.flatnonzero(~up_mask),
                     assign=(np.repeat(lay.obs, lay.lengths, axis=0) + lay.digits[lay.tpos]
                             if keep_assign else None))
    return SliceDraft(cs, lay)


def link(plan: Plan, k: int, child: SliceDraft, parent: SliceDraft, n_rows: int,
         cards: np.ndarray) -> tuple:
    """``(k, position in child k's message of every entry of its parent)``.

    A parent row's entries hit the child's message exactly when the separator has a
    missing member in that row (the child then sends one); else the padding entry."""
    clique = plan.cliques[k]
    pvars = list(plan.cliques[clique.parent].vars)
    sp = [pvars.index(v) for v in clique.sep]
    c, lay = child.slice, parent.layout
    rpos = np.full(n_rows, -1, dtype=np.int64)
    rpos[c.rows[c.up_local]] = np.arange(c.up_local.size)
    rp = rpos[lay.rows]
    has = rp >= 0
    base = np.full(lay.rows.size, c.msg_size, dtype=np.int64)
    base[has] = c.msg_seg[rp[has]]
    _, _, template = lay.message_template(sp, cards[[pvars[j] for j in sp]])
    return (k, lay.expand(base, template))


def slice_all(structure: Structure, plan: Plan, codes: np.ndarray, row_base: tuple,
              keep_assign: bool) -> tuple:
    """Every clique of ``plan`` sliced and linked to its children (schedule order; a
    child's layout is dropped once its parent is linked to it)."""
    missing = codes == -1
    barren = codes == BARREN
    bar = barren if barren.any() else None
    drafts: list[SliceDraft | None] = [None] * len(plan.cliques)
    done: list[CliqueSlice] = []
    for k, clique in enumerate(plan.cliques):
        draft = slice_clique(structure, plan, k, codes, missing, row_base, bar, keep_assign)
        links = []
        for child in clique.children:
            child_draft = drafts[child]
            assert child_draft is not None  # children come first in the schedule
            links.append(link(plan, child, child_draft, draft, codes.shape[0],
                              structure.cards))
            drafts[child] = None
        drafts[k] = draft
        done.append(dataclasses.replace(draft.slice, child_links=tuple(links)))
    return tuple(done)
