"""Evidence analysis of a chunk of encoded rows (inference layer).

Done once per chunk of data, independent of the parameters. The network's clique
tree is compiled once (:mod:`bnem.inference.plan`); each row then *slices* every
clique at its observed values: in a given row a clique only ranges over its
missing variables, so its potential has ``prod(cards of missing members)`` entries
(one entry when all members are observed, in which case the clique drops out of
that row). These per-row slices have different sizes, so every clique keeps the
slices of all rows of the chunk back to back in one *ragged* array (segments, one
per row); evaluation then costs a fixed number of numpy calls per clique, whatever
the rows look like, and work proportional to the sliced sizes.

A family whose members are all observed in a row contributes a constant count and
a constant log-likelihood term, gathered once here. A separator whose variables
are all observed in a row cuts the tree there: the message is a scalar and goes
straight into that row's log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InferenceTooLargeError
from .plan import Plan, compile_plan


PATTERN_BITS = 62  # cliques up to this many variables key their patterns by a bit mask
MAX_CHUNK_WORDS = 1 << 25  # 8-byte words of analysis arrays per chunk (256 MB)
MAX_ROW_ENTRIES = 1 << 24  # a row needing more sliced entries than this is refused


def row_entries(structure, codes: np.ndarray, plan_cache: dict | None = None):
    """Per row: sliced entries over all cliques, and the analysis words they take.

    Floats, so that huge counts never overflow. An entry of a clique with ``m``
    variables holds ``m`` states during analysis plus a few index words.
    """
    plan = network_plan(structure, plan_cache)
    log_cards = np.log(structure.cards.astype(float))
    missing = codes < 0
    entries = np.zeros(codes.shape[0])
    words = np.zeros(codes.shape[0])
    for c in plan.cliques:
        cv = list(c.vars)
        mis = missing[:, cv]
        size = np.where(mis.any(axis=1), np.exp(mis @ log_cards[cv]), 0.0)
        entries += size
        words += size * (len(cv) + len(c.factors) + 4)
    return entries, words


def plan_chunks(structure, codes: np.ndarray, max_rows: int, plan_cache: dict | None = None,
                describe_row=None) -> list:
    """Consecutive row slices with at most ``max_rows`` rows and ``MAX_CHUNK_WORDS``
    words of analysis arrays each (a heavier row gets a chunk of its own).

    Raises
    ------
    InferenceTooLargeError
        If one row alone needs more than ``MAX_ROW_ENTRIES`` entries.
    """
    n = codes.shape[0]
    entries, words = row_entries(structure, codes, plan_cache)
    too_big = np.flatnonzero(entries > MAX_ROW_ENTRIES)
    if too_big.size:
        r = int(too_big[0])
        who = describe_row(r) if describe_row else f"row {r}"
        raise InferenceTooLargeError(
            f"exact inference for {who} needs {entries[r]:.3g} joint states of its missing "
            f"variables (limit {MAX_ROW_ENTRIES}): too many missing or latent variables are "
            f"tied together; {too_big.size} row(s) are affected. Observe more of them, drop "
            "those rows, or simplify the network.")
    slices, start = [], 0
    cum = np.concatenate([[0.0], np.cumsum(words)])
    while start < n:
        stop = min(n, start + max_rows)
        limit = np.searchsorted(cum, cum[start] + MAX_CHUNK_WORDS, side="right") - 1
        stop = max(start + 1, min(stop, int(limit)))
        slices.append(slice(start, stop))
        start = stop
    return slices


@dataclass
class Affine:
    """A per-entry index array stored as per-row bases plus per-pattern templates."""

    base: np.ndarray        # (a,) int32 or int64
    templates: np.ndarray   # the patterns' templates, concatenated
    t_start: np.ndarray     # (n_patterns,) where each template starts

    @property
    def nbytes(self) -> int:
        return self.base.nbytes + self.templates.nbytes + self.t_start.nbytes


@dataclass
class CliqueSlice:
    """The ragged slices of one clique over the rows of a chunk."""

    rows: np.ndarray        # (a,) chunk rows where the clique has a missing member
    seg: np.ndarray         # (a,) start of each row's segment in the entries
    stored_entry_seg: np.ndarray | None  # (E,) segment of each entry (dropped after analysis
                                         # for EM; see the ``entry_seg`` property)
    assign: np.ndarray | None  # (E, |C|) state of every clique variable at each entry
    factors: list           # (family, flat param index per entry; n_params = padding 1.0)
    # separator to the parent (empty arrays for a root)
    up_local: np.ndarray    # segments whose separator has a missing variable
    up_target: np.ndarray   # (E,) "out" position of each entry: in the separator
                            # message for an up segment, msg_size + j for the entries
                            # of the j-th root segment (so one bincount gives both)
    msg_seg: np.ndarray     # segment starts of the separator message
    msg_entry_seg: np.ndarray  # segment of each message entry
    msg_size: int
    root_local: np.ndarray  # segments that end here (separator all observed, or root)
    # links from each child: entries of this clique and positions in the child's message
    n_entries: int = 0
    group_rows: np.ndarray | None = None   # rows per missing pattern (segments are grouped)
    count_index: np.ndarray | None = None  # the factors' indices, concatenated
    sep_weights: np.ndarray | None = None  # (len(up_local), |sep|) ravel weights (analysis)
    child_links: list = field(default_factory=list)  # (child k, (E,) position in its message)


    @property
    def entry_seg(self) -> np.ndarray:
        """Segment (position in ``rows``) of each entry; rebuilt if it was dropped."""
        if self.stored_entry_seg is not None:
            return self.stored_entry_seg
        lengths = np.diff(np.append(self.seg, self.n_entries))
        return np.repeat(np.arange(self.rows.size), lengths)


@dataclass
class ChunkEvidence:
    """Everything parameter-independent that the E-step needs for one chunk."""

    structure: object
    plan: Plan
    codes: np.ndarray       # (n, V) int codes, -1 = missing
    weights: np.ndarray     # (n,) row multiplicities
    obs_counts: np.ndarray  # (n_params,) counts from fully observed families
    cliques: list           # CliqueSlice per plan clique (schedule order)
    row_base: tuple = ()    # per component: start of its (K, n) table in the gathered
                            # vector [theta, 1.0 (padding), component tables...]
    continuous: list | None = None  # per component: its ComponentSlice (hybrid networks)
    values: np.ndarray | None = None  # (n, n_continuous) continuous cells, NaN = missing

    @property
    def n_gathered(self) -> int:
        """Length of the gathered vector (parameters, padding, per-row tables)."""
        if not self.row_base:
            return self.structure.n_params + 1
        last = self.structure.components[-1]
        return self.row_base[-1] + self.n_rows * last.size

    @property
    def n_rows(self) -> int:
        return self.codes.shape[0]

    @property
    def is_compact(self) -> bool:
        """Whether the per-entry arrays are stored compactly (see :func:`expand`)."""
        return any(isinstance(c.up_target, Affine) for c in self.cliques)

    @property
    def nbytes(self) -> int:
        """Memory held by this chunk's arrays."""
        # codes, weights and values are views of the encoded table: no extra memory
        total = self.obs_counts.nbytes
        for cs in self.continuous or ():
            total += cs.scope_config.nbytes + sum(p.rows.nbytes for p in cs.patterns)
            if cs.consistent is not None:
                total += cs.consistent.nbytes
        for cs in self.cliques:
            for value in vars(cs).values():
                if isinstance(value, (np.ndarray, Affine)):
                    total += value.nbytes
            total += sum(t.nbytes for _, t in cs.child_links)
            if cs.count_index is None:  # compact: the factors are stored separately
                total += sum(t.nbytes for _, t in cs.factors)
        return total


def network_plan(structure, plan_cache: dict | None = None) -> Plan:
    """The clique tree of the whole network (min-fill), cached in ``plan_cache``."""
    key = "network-plan"
    if plan_cache is not None and key in plan_cache:
        return plan_cache[key]
    plan = compile_plan(range(structure.n_vars), structure.factor_scopes,
                        {v: int(c) for v, c in enumerate(structure.cards)})
    if plan_cache is not None:
        plan_cache[key] = plan
    return plan


def analyse(structure, codes: np.ndarray, weights: np.ndarray,
            plan_cache: dict | None = None, keep_assign: bool = True,
            values: np.ndarray | None = None) -> ChunkEvidence:
    """Slice every clique of the network's plan at the observed values of each row.

    ``keep_assign=False`` drops the per-entry states once the index arrays are built
    (EM does not need them; node marginals do), saving a third of the memory.
    ``values`` are the rows' continuous cells (hybrid networks).
    """
    from .gaussian import slice_component

    plan = network_plan(structure, plan_cache)
    codes = np.asarray(codes)
    weights = np.asarray(weights, dtype=float)
    missing = codes < 0
    obs_counts = np.zeros(structure.n_params)
    for _, full, idx in observed_families(structure, codes):
        obs_counts += np.bincount(idx, weights=weights[full], minlength=structure.n_params)
    row_base, start = [], structure.n_params + 1
    for comp in structure.components:
        row_base.append(start)
        start += codes.shape[0] * comp.size
    row_base = tuple(row_base)
    cliques = [_slice_clique(structure, plan, k, codes, missing, row_base)
               for k in range(len(plan.cliques))]
    for k, c in enumerate(plan.cliques):
        if c.parent is not None:
            cliques[c.parent].child_links.append(
                _link(structure, plan, k, cliques[k], cliques[c.parent], missing))
    for cs in cliques:
        cs.sep_weights = None
        if not keep_assign:
            cs.assign = None
            cs.stored_entry_seg = None
        if cs.factors:  # one array per clique; the factors keep views into it
            cs.count_index = np.concatenate([idx for _, idx in cs.factors])
            e = cs.n_entries
            cs.factors = [(f, cs.count_index[j * e:(j + 1) * e])
                          for j, (f, _) in enumerate(cs.factors)]
    continuous = None
    if structure.components:
        continuous = [slice_component(comp, codes, values) for comp in structure.components]
    return ChunkEvidence(structure, plan, codes, weights, obs_counts, cliques, row_base,
                         continuous, values)


def _radix_strides(mis, cards):
    """Per row: mixed-radix strides over the missing variables (observed: radix 1).

    Returns ``(radix, strides, lengths)``; the last missing variable varies fastest.
    """
    radix = np.where(mis, cards, 1).astype(np.int64)
    if radix.shape[1] == 0:
        return radix, radix, np.ones(radix.shape[0], dtype=np.int64)
    tail = np.cumprod(radix[:, ::-1], axis=1)[:, ::-1]
    strides = np.ones_like(radix)
    strides[:, :-1] = tail[:, 1:]
    return radix, strides, tail[:, 0]


def _enumerate_slices(codes, mis, cvars, cards):
    """Active rows grouped by missing pattern, and every entry's clique assignment.

    Rows sharing a pattern (which clique variables are missing) share one template
    of the missing variables' joint states (last variable fastest), so each
    pattern costs one broadcast addition whatever its number of rows.
    """
    rows = np.flatnonzero(mis.any(axis=1))
    mis_r = mis[rows]
    if rows.size == 0:
        return (rows, mis_r, np.zeros((0, len(cvars)), dtype=np.int64), np.zeros(0, np.int64),
                np.zeros(0, np.int64))
    if len(cvars) <= PATTERN_BITS:  # the pattern as an integer bit mask
        keys = mis_r.astype(np.int64) @ (np.int64(1) << np.arange(len(cvars), dtype=np.int64))
    else:
        packed = np.ascontiguousarray(np.packbits(mis_r, axis=1))
        keys = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(),
                         return_inverse=True)[1].ravel()
    order = np.argsort(keys, kind="stable")
    rows, mis_r, keys = rows[order], mis_r[order], keys[order]
    observed = np.where(mis_r, 0, codes[rows][:, cvars]).astype(np.int64)
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
    return rows, mis_r, np.concatenate(parts), lengths, counts


def _slice_clique(structure, plan, k, codes, missing, row_base=()) -> CliqueSlice:
    clique = plan.cliques[k]
    cvars = list(clique.vars)
    cards = structure.cards[cvars]
    mis = missing[:, cvars]
    rows, mis_r, assign, lengths, group_rows = _enumerate_slices(codes, mis, cvars, cards)
    seg = _starts(lengths)
    entry_seg = np.repeat(np.arange(rows.size), lengths)
    pos_of = {v: j for j, v in enumerate(cvars)}
    factors = []
    for f in clique.factors:
        row_factor = structure.row_factor(f)
        if row_factor is None:
            fam, strides, offset = structure.families[f], structure.strides[f], structure.offsets[f]
        else:  # a component's per-row table, (K, n): configuration c of row r is at
            fam, strides, _ = row_factor   # base + c * n + r
            strides = [st * codes.shape[0] for st in strides]
            offset = row_base[f - structure.n_vars] + rows[entry_seg]
        if not fam:
            continue
        active = mis_r[:, [pos_of[v] for v in fam]].any(axis=1)
        if not active.any():
            continue
        weights = np.zeros(len(cvars), dtype=np.int64)
        for v, st in zip(fam, strides):
            weights[pos_of[v]] = st
        idx = assign @ weights + offset
        if not active.all():  # entries of rows where the family is all observed
            idx[~active[entry_seg]] = structure.n_params  # -> the padding entry 1.0
        factors.append((f, idx))
    # separator to the parent
    if clique.parent is not None:
        sp = [pos_of[v] for v in clique.sep]
        up_mask = mis_r[:, sp].any(axis=1)
    else:
        sp, up_mask = [], np.zeros(rows.size, dtype=bool)
    up_local = np.flatnonzero(up_mask)
    if sp:
        _, sep_strides, msg_len = _radix_strides(mis_r[up_local][:, sp], cards[sp])
        sep_weights = np.where(mis_r[up_local][:, sp], sep_strides, 0)
    else:
        msg_len, sep_weights = np.zeros(0, dtype=np.int64), None
    msg_seg = _starts(msg_len)
    msg_size = int(msg_len.sum())
    root_pos = np.cumsum(~up_mask) - 1
    up_target = msg_size + root_pos[entry_seg]
    if up_local.size:
        rpos = np.full(rows.size, -1, dtype=np.int64)
        rpos[up_local] = np.arange(up_local.size)
        e = np.flatnonzero(up_mask[entry_seg])
        r = rpos[entry_seg[e]]
        up_target[e] = msg_seg[r] + _rowdot(assign, e, sp, sep_weights, r)
    cs = CliqueSlice(rows, seg, entry_seg, assign, factors, up_local, up_target, msg_seg,
                     np.repeat(np.arange(msg_len.size), msg_len), msg_size,
                     np.flatnonzero(~up_mask), n_entries=int(entry_seg.size),
                     group_rows=group_rows)
    cs.sep_weights = sep_weights
    return cs


def _link(structure, plan, k, child, parent, missing):
    """Map the parent's entries onto the child's separator message."""
    clique = plan.cliques[k]
    pvars = list(plan.cliques[clique.parent].vars)
    sp = [pvars.index(v) for v in clique.sep]
    msg_rows = child.rows[child.up_local]
    rpos = np.full(missing.shape[0], -1, dtype=np.int64)
    rpos[msg_rows] = np.arange(msg_rows.size)
    rp = rpos[parent.rows][parent.entry_seg]
    e = np.flatnonzero(rp >= 0)
    r = rp[e]
    target = np.full(rp.size, child.msg_size, dtype=np.int64)
    target[e] = child.msg_seg[r] + _rowdot(parent.assign, e, sp, child.sep_weights, r)
    return (k, target)


def _rowdot(assign, e, cols, weights, r) -> np.ndarray:
    """``sum_j assign[e, cols[j]] * weights[r, j]``, column by column (few columns)."""
    out = np.zeros(e.size, dtype=np.int64)
    for j, c in enumerate(cols):
        out += assign[e, c] * weights[r, j]
    return out


def _starts(lengths) -> np.ndarray:
    out = np.zeros(lengths.size, dtype=np.int64)
    if lengths.size > 1:
        np.cumsum(lengths[:-1], out=out[1:])
    return out


def observed_families(structure, codes: np.ndarray):
    """Yield ``(node id, rows where its family is fully observed, flat parameter index)``."""
    missing = codes < 0
    for i, fam in enumerate(structure.families):
        full = np.flatnonzero(~missing[:, list(fam)].any(axis=1))
        if full.size:
            idx = np.full(full.size, structure.offsets[i], dtype=np.int64)
            for v, s in zip(fam, structure.strides[i]):
                idx += codes[full, v].astype(np.int64) * s
            yield i, full, idx


def observed_log_terms(evidence, log_theta) -> np.ndarray:
    """Per row, the sum of log P(x | u) over its fully observed families."""
    out = np.zeros(evidence.codes.shape[0])
    for _, full, idx in observed_families(evidence.structure, evidence.codes):
        out[full] += log_theta[idx]
    return out
