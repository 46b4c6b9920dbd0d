"""Batched evaluation of compiled evidence on a chunk of rows (inference layer).

All arrays put the row (component-instance) axis first; every clique potential is
built in log space from the gathered table slices, shifted by its per-row maximum
and exponentiated, and every upward message is renormalised per row, so no product
of many small probabilities underflows. There is no per-row Python loop: loops run
over component groups, cliques and factors only.
"""

from __future__ import annotations

import numpy as np

from .evidence import observed_log_terms

# Entries of one batched clique-tree evaluation (rows x total clique size) kept in
# memory at once; larger groups are processed in slices of rows.
BATCH_ENTRIES = 1 << 22


class ImpossibleRows(Exception):
    """Internal: rows (chunk-local indices) with probability zero."""

    def __init__(self, rows):
        super().__init__(f"impossible rows {rows[:5]}")
        self.rows = np.asarray(rows)


def _bshape(n, scope, clique_vars, cards):
    return (n,) + tuple(cards[v] if v in scope else 1 for v in clique_vars)


def _sum_to(arr, have, keep):
    """Sum ``arr`` (row axis first, axes ``have``) down to the axes ``keep`` (sorted)."""
    axes = tuple(1 + i for i, v in enumerate(have) if v not in keep)
    return arr.sum(axis=axes) if axes else arr


def run_group(group, log_theta, want_marginals: bool = True, rows_slice=None):
    """Evaluate one component group.

    Returns
    -------
    log_z : ndarray (n_g,)
        log of the sum over the component's states of the product of its factors.
    posts : list of ndarray (n_g, prod(scope cards)) or None
        Posterior of each factor's missing part, in ``FactorSlot.grid`` order.
    beliefs : list of ndarray
        Normalised clique beliefs (row axis first), for node marginals.
    """
    plan = group.plan
    cards = plan.cards
    sl = slice(None) if rows_slice is None else rows_slice
    factors = group.factors
    n = factors[0].base[sl].shape[0]
    cliques = plan.cliques
    log_z = np.zeros(n)
    partial = [None] * len(cliques)
    up = [None] * len(cliques)
    for k, c in enumerate(cliques):
        full = (n,) + tuple(cards[v] for v in c.vars)
        acc = None
        for f in c.factors:
            slot = factors[f]
            if slot.const is not None:
                vals = slot.const[sl]
            else:
                vals = log_theta[slot.base[sl, None] + slot.grid]
            vals = vals.reshape(_bshape(n, slot.scope, c.vars, cards))
            acc = vals if acc is None else acc + vals
        if acc is None:
            pot = np.ones(full)
        else:
            acc = np.broadcast_to(acc, full)
            shift = acc.reshape(n, -1).max(axis=1)
            bad = ~np.isfinite(shift)
            if bad.any():
                raise ImpossibleRows(group.rows[sl][bad])
            pot = np.exp(acc - shift.reshape((n,) + (1,) * len(c.vars)))
            log_z += shift
        for ch in c.children:
            pot = pot * up[ch].reshape(_bshape(n, cliques[ch].sep, c.vars, cards))
        partial[k] = pot
        msg = _sum_to(pot, c.vars, c.sep) if c.parent is not None else pot
        total = msg.reshape(n, -1).sum(axis=1)
        if not (total > 0).all():
            raise ImpossibleRows(group.rows[sl][~(total > 0)])
        log_z += np.log(total)
        if c.parent is not None:
            up[k] = msg / total.reshape((n,) + (1,) * len(c.sep))
        else:
            partial[k] = pot / total.reshape((n,) + (1,) * len(c.vars))
    if not want_marginals:
        return log_z, None, None
    beliefs = [None] * len(cliques)
    down = [None] * len(cliques)
    for k in range(len(cliques) - 1, -1, -1):
        c = cliques[k]
        b = partial[k]
        if c.parent is not None:
            b = b * down[k].reshape(_bshape(n, c.sep, c.vars, cards))
            b = b / b.reshape(n, -1).sum(axis=1).reshape((n,) + (1,) * len(c.vars))
        beliefs[k] = b
        for ch in c.children:
            m = _sum_to(b, c.vars, cliques[ch].sep)
            u = up[ch]
            down[ch] = np.divide(m, u, out=np.zeros_like(m), where=u > 0)
    posts = []
    for f, slot in enumerate(factors):
        c = cliques[plan.factor_clique[f]]
        posts.append(_sum_to(beliefs[plan.factor_clique[f]], c.vars, slot.scope).reshape(n, -1))
    return log_z, posts, beliefs


def _slices(group):
    n = group.rows.size
    per_row = max(1, sum(group.plan.clique_sizes))
    step = max(1, BATCH_ENTRIES // per_row)
    if step >= n:
        return [None]
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def run_flat(flat, log_theta):
    """Evaluate every flat component instance at once.

    Returns per-instance log Z and the normalised posterior of every joint state
    (slot), in the block's ragged layout.
    """
    log_joint = np.add.reduceat(log_theta[flat.index], flat.slot_start)
    shift = np.maximum.reduceat(log_joint, flat.inst_start)
    bad = ~np.isfinite(shift)
    if bad.any():
        raise ImpossibleRows(flat.inst_rows[bad])
    p = np.exp(log_joint - shift[flat.slot_inst])
    z = np.add.reduceat(p, flat.inst_start)
    p /= z[flat.slot_inst]
    return shift + np.log(z), p


def estep(evidence, theta, log_theta=None):
    """Expected counts (flat, like ``theta``) and the weighted total log-likelihood.

    Raises
    ------
    ImpossibleRows
        If a row has probability zero under ``theta``.
    """
    if log_theta is None:
        with np.errstate(divide="ignore"):
            log_theta = np.log(theta)
    counts = evidence.obs_counts.copy()
    seen = evidence.obs_counts > 0
    if (theta[seen] <= 0).any():
        raise ImpossibleRows(observed_impossible_rows(evidence, theta))
    total = float(evidence.obs_counts[seen] @ log_theta[seen])
    w_all = evidence.weights
    flat = evidence.flat
    if flat is not None:
        log_z, p = run_flat(flat, log_theta)
        w = w_all[flat.inst_rows]
        total += float(w @ log_z)
        p *= w[flat.slot_inst]
        counts += np.bincount(flat.index, weights=np.repeat(p, flat.slot_len),
                              minlength=counts.size)
    idx_parts, val_parts = [], []
    for group in evidence.groups:
        for sl in _slices(group):
            log_z, posts, _ = run_group(group, log_theta, rows_slice=sl)
            rows = group.rows if sl is None else group.rows[sl]
            w = w_all[rows]
            total += float(w @ log_z)
            for slot, post in zip(group.factors, posts):
                if slot.family < 0:
                    continue
                base = slot.base if sl is None else slot.base[sl]
                idx_parts.append((base[:, None] + slot.grid).ravel())
                val_parts.append((post * w[:, None]).ravel())
    if idx_parts:
        counts += np.bincount(np.concatenate(idx_parts), weights=np.concatenate(val_parts),
                              minlength=counts.size)
    return counts, total


def observed_impossible_rows(evidence, theta):
    """Chunk-local rows whose fully observed families hit a zero probability."""
    with np.errstate(divide="ignore"):
        terms = observed_log_terms(evidence, np.log(theta))
    return np.flatnonzero(~np.isfinite(terms))


def row_log_prob(evidence, log_theta):
    """Per-row log P(observed part), shape ``(n_rows,)`` of the chunk."""
    out = observed_log_terms(evidence, log_theta)
    if evidence.flat is not None:
        log_z, _ = run_flat(evidence.flat, log_theta)
        np.add.at(out, evidence.flat.inst_rows, log_z)
    for group in evidence.groups:
        for sl in _slices(group):
            log_z, _, _ = run_group(group, log_theta, want_marginals=False, rows_slice=sl)
            rows = group.rows if sl is None else group.rows[sl]
            out[rows] += log_z  # a row has at most one instance per group
    return out


def family_posteriors(evidence, theta):
    """Per-row posterior of every family, ``(n, *family cards)`` in parents-then-child order.

    Meant for tests and diagnostics: memory grows with rows x table sizes.
    """
    structure, codes = evidence.structure, evidence.codes
    with np.errstate(divide="ignore"):
        log_theta = np.log(theta)
    n = codes.shape[0]
    missing = codes < 0
    out = []
    for i, fam in enumerate(structure.families):
        size = int(structure.offsets[i + 1] - structure.offsets[i])
        table = np.zeros((n, size))
        full = np.flatnonzero(~missing[:, list(fam)].any(axis=1))
        local = np.zeros(full.size, dtype=np.int64)
        for v, s in zip(fam, structure.strides[i]):
            local += codes[full, v].astype(np.int64) * s
        table[full, local] = 1.0
        out.append(table)
    flat = evidence.flat
    if flat is not None:
        _, p = run_flat(flat, log_theta)
        entry_p = np.repeat(p, flat.slot_len)
        entry_row = np.repeat(flat.inst_rows[flat.slot_inst], flat.slot_len)
        fam_of = np.searchsorted(structure.offsets, flat.index, side="right") - 1
        for i in np.unique(fam_of):
            sel = fam_of == i
            np.add.at(out[i], (entry_row[sel], flat.index[sel] - structure.offsets[i]),
                      entry_p[sel])
    for group in evidence.groups:
        _, posts, _ = run_group(group, log_theta)
        for slot, post in zip(group.factors, posts):
            if slot.family < 0:
                continue
            local = slot.base[:, None] - structure.offsets[slot.family] + slot.grid
            out[slot.family][group.rows[:, None], local] = post
    return [t.reshape((n,) + tuple(int(structure.cards[v]) for v in fam))
            for t, fam in zip(out, structure.families)]
