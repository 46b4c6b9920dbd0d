"""Batched evaluation of sliced clique trees on a chunk of rows (inference layer).

Every clique's ragged potential (see :mod:`bnem.inference.evidence`) is built in log
space from the gathered table entries, shifted by its per-row maximum and
exponentiated; every upward message is renormalised per row. So no product of many
small probabilities underflows, and the log-likelihood of a row is the sum of the
shifts and normalisers. There is no per-row Python loop: loops run over cliques and
factors only.
"""

from __future__ import annotations

import numpy as np

from .evidence import observed_log_terms


class ImpossibleRows(Exception):
    """Internal: rows (chunk-local indices) with probability zero."""

    def __init__(self, rows):
        rows = np.unique(np.asarray(rows))
        super().__init__(f"impossible rows {rows[:5]}")
        self.rows = rows


LINEAR_FLOOR = 1e-250


class _Underflow(Exception):
    """Internal: a linear-space sum vanished; redo the chunk in log space."""


def _seg_sum(values, seg_of, n_seg):
    return np.bincount(seg_of, weights=values, minlength=n_seg)


def calibrate(evidence, log_theta, want_beliefs: bool = True, theta=None):
    """Run the upward (and, if asked, downward) pass over the sliced cliques.

    With ``theta`` given (padded), the pass first runs on plain probabilities with
    unnormalised messages (fewest passes over memory). If any row's sum falls below
    ``LINEAR_FLOOR`` (possible underflow, or a true zero), it is redone in log space:
    potentials shifted by their per-row maximum and every message renormalised per
    row, which never underflows and tells an impossible row from a tiny one.

    Returns
    -------
    log_z : ndarray (n,)
        Per row, log of the sum over its missing values of the product of the
        factors with a missing member (observed-only families excluded).
    beliefs : list of ndarray or None
        Per clique, the normalised posterior of each entry (ragged, like the slice).
    """
    if theta is not None:
        try:
            return _calibrate(evidence, theta, None, want_beliefs)
        except _Underflow:
            pass
    return _calibrate(evidence, None, log_theta, want_beliefs)


def _potential(cs, theta, log_theta, log_z, up):
    """Product of the clique's active factors and incoming messages, per entry.

    Padding entries gather 1. In log mode the product is a sum of logs, shifted by
    its per-row maximum before exponentiating (a clique may receive thousands of
    messages, whose plain product would underflow even when each is normalised).
    """
    if theta is not None:
        pot = None
        for _, idx in cs.factors:
            pot = theta[idx] if pot is None else pot * theta[idx]
        if pot is None:
            pot = np.ones(cs.entry_seg.size)
        for child, target in cs.child_links:
            if up[child] is not None:
                pot *= up[child][target]
        return pot
    logpot = np.zeros(cs.entry_seg.size)
    for _, idx in cs.factors:
        logpot += log_theta[idx]
    with np.errstate(divide="ignore"):
        for child, target in cs.child_links:
            if up[child] is not None:
                logpot += np.log(up[child][target])
    shift = np.maximum.reduceat(logpot, cs.seg)
    bad = ~np.isfinite(shift)
    if bad.any():
        raise ImpossibleRows(cs.rows[bad])
    log_z[cs.rows] += shift
    return np.exp(logpot - shift[cs.entry_seg])


def _finish_message(msg, cs, rows, normalise, log_z=None):
    """Pad ``msg`` with 1.0; in log mode first divide each row's segment by its sum."""
    out = np.empty(msg.size + 1)
    out[-1] = 1.0
    if not normalise:
        out[:-1] = msg
        return out
    s = _seg_sum(msg, cs.msg_entry_seg, cs.up_local.size)
    if log_z is not None:
        _check_positive(s, rows, False)
        log_z[rows] += np.log(s)
    else:
        s[s <= 0] = 1.0
    np.divide(msg, s[cs.msg_entry_seg], out=out[:-1])
    return out


def _calibrate(evidence, theta, log_theta, want_beliefs):
    n = evidence.n_rows
    log_z = np.zeros(n)
    slices = evidence.cliques
    partial = [None] * len(slices)
    up = [None] * len(slices)
    linear = theta is not None
    for k, cs in enumerate(slices):
        if cs.rows.size == 0:
            continue
        pot = _potential(cs, theta, log_theta, log_z, up)
        partial[k] = pot
        if cs.up_local.size:
            msg = np.bincount(cs.up_target, weights=pot, minlength=cs.msg_size + 1)[:-1]
            up[k] = _finish_message(msg, cs, cs.rows[cs.up_local], not linear, log_z)
        if cs.root_local.size:
            s = _seg_sum(pot, cs.entry_seg, cs.rows.size)[cs.root_local]
            _check_positive(s, cs.rows[cs.root_local], linear)
            log_z[cs.rows[cs.root_local]] += np.log(s)
    if not want_beliefs:
        return log_z, None
    beliefs = [None] * len(slices)
    down = [None] * len(slices)
    for k in range(len(slices) - 1, -1, -1):
        cs = slices[k]
        if cs.rows.size == 0:
            continue
        b = partial[k]
        if down[k] is not None:
            b = b * down[k][cs.up_target]
        beliefs[k] = b  # unnormalised: see belief_weights
        for child, target in cs.child_links:
            u = up[child]
            if u is None:
                continue
            m = np.bincount(target, weights=b, minlength=u.size)[:-1]
            np.divide(m, u[:-1], out=m, where=u[:-1] > 0)
            m[u[:-1] <= 0] = 0.0
            down[child] = _finish_message(m, slices[child], None, not linear)
    return log_z, beliefs


def belief_weights(cs, b, row_weight=None):
    """Normalise a clique's unnormalised beliefs per row, times optional row weights."""
    s = _seg_sum(b, cs.entry_seg, cs.rows.size)
    scale = 1.0 / s if row_weight is None else row_weight[cs.rows] / s
    return b * scale[cs.entry_seg]


def _check_positive(s, rows, linear=False):
    if linear:
        # unnormalised linear sums: anything near the bottom of the float range
        # (or a zero, which may be an underflow) is redone in log space
        if not (s > LINEAR_FLOOR).all():
            raise _Underflow()
        return
    bad = ~(s > 0)
    if bad.any():
        raise ImpossibleRows(rows[bad])


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
    seen = evidence.obs_counts > 0
    if (theta[seen] <= 0).any():
        raise ImpossibleRows(observed_impossible_rows(evidence, theta))
    total = float(evidence.obs_counts[seen] @ log_theta[seen])
    log_z, beliefs = calibrate(evidence, _pad(log_theta, 0.0), theta=_pad(theta, 1.0))
    total += float(evidence.weights @ log_z)
    parts = []
    for cs, b in zip(evidence.cliques, beliefs):
        if b is None or not cs.factors:
            continue
        bw = belief_weights(cs, b, evidence.weights)
        parts.extend(bw for _ in cs.factors)
    counts = evidence.obs_counts.copy()
    if parts:
        counts += np.bincount(evidence.count_index, weights=np.concatenate(parts),
                              minlength=counts.size + 1)[:-1]
    return counts, total


def observed_impossible_rows(evidence, theta):
    """Chunk-local rows whose fully observed families hit a zero probability."""
    with np.errstate(divide="ignore"):
        terms = observed_log_terms(evidence, np.log(theta))
    return np.flatnonzero(~np.isfinite(terms))


def _pad(values, pad):
    """Append the padding entry that inactive factor entries gather."""
    return np.append(values, pad)


def row_log_prob(evidence, log_theta):
    """Per-row log P(observed part), shape ``(n_rows,)`` of the chunk."""
    log_z, _ = calibrate(evidence, _pad(log_theta, 0.0), want_beliefs=False,
                         theta=_pad(np.exp(log_theta), 1.0))
    return observed_log_terms(evidence, log_theta) + log_z


def node_marginals(evidence, log_theta, node: int) -> np.ndarray:
    """P(node | row) for every row of the chunk, shape ``(n, card)``."""
    structure, codes = evidence.structure, evidence.codes
    card = int(structure.cards[node])
    n = codes.shape[0]
    out = np.zeros((n, card))
    obs = codes[:, node] >= 0
    out[np.flatnonzero(obs), codes[obs, node]] = 1.0
    if obs.all():
        return out
    _, beliefs = calibrate(evidence, _pad(log_theta, 0.0), theta=_pad(np.exp(log_theta), 1.0))
    plan = evidence.plan
    k = min((k for k, c in enumerate(plan.cliques) if node in c.vars),
            key=lambda k: len(plan.cliques[k].vars))
    cs = evidence.cliques[k]
    j = list(plan.cliques[k].vars).index(node)
    key = cs.entry_seg.astype(np.int64) * card + cs.assign[:, j]
    marg = np.bincount(key, weights=belief_weights(cs, beliefs[k]), minlength=cs.rows.size * card)
    marg = marg.reshape(cs.rows.size, card)
    miss = codes[cs.rows, node] < 0
    out[cs.rows[miss]] = marg[miss]
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
    _, beliefs = calibrate(evidence, _pad(log_theta, 0.0), theta=_pad(theta, 1.0))
    for cs, b in zip(evidence.cliques, beliefs):
        if b is None:
            continue
        b = belief_weights(cs, b)
        for f, idx in cs.factors:
            e = idx < structure.n_params
            rows = cs.rows[cs.entry_seg[e]]
            np.add.at(out[f], (rows, idx[e] - structure.offsets[f]), b[e])
    return [t.reshape((n,) + tuple(int(structure.cards[v]) for v in fam))
            for t, fam in zip(out, structure.families)]
