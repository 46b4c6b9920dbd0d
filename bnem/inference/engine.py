"""Batched evaluation of sliced clique trees on a chunk of rows (inference layer).

Every clique's ragged potential (see :mod:`bnem.inference.evidence`) is built in log
space from the gathered table entries, shifted by its per-row maximum and
exponentiated; every upward message is renormalised per row. So no product of many
small probabilities underflows, and the log-likelihood of a row is the sum of the
shifts and normalisers. There is no per-row Python loop: loops run over cliques and
factors only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import BnemValueError
from ..ragged import add_at
from . import fused
from .evidence import ChunkEvidence, observed_families, observed_log_terms


class ImpossibleRows(BnemValueError):
    """Rows of a chunk (chunk-local indices in ``rows``) with probability zero; the data
    path (:mod:`bnem.inference.dataset`) turns it into an :class:`ImpossibleRowError`
    naming the row."""

    def __init__(self, rows: np.ndarray) -> None:
        rows = np.unique(np.asarray(rows))
        super().__init__(f"impossible rows {rows[:5]}")
        self.rows = rows


LINEAR_FLOOR = 1e-250


class _Underflow(Exception):
    """Internal: a linear-space sum vanished; redo the chunk in log space."""


def _seg_sum(values, seg_of, n_seg):
    return np.bincount(seg_of, weights=values, minlength=n_seg)


def calibrate(evidence: ChunkEvidence, log_theta: np.ndarray | Callable[[], np.ndarray],
              want_beliefs: bool = True, theta: np.ndarray | None = None,
              row_weight: np.ndarray | None = None) -> tuple[np.ndarray, list]:
    """Run the upward (and, if asked, downward) pass over the sliced cliques.

    ``log_theta`` may be a function returning the log vector (it is only needed when
    the linear pass underflows).

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
    beliefs : list of ndarray (empty without want_beliefs)
        Per clique, the posterior of each entry times the row's weight (ragged, like
        the slice): each row's segment sums to ``row_weight`` (default 1).
    """
    if theta is not None:
        try:
            return _calibrate(evidence, theta, None, want_beliefs, row_weight)
        except _Underflow:
            pass
    if callable(log_theta):  # built only when needed
        log_theta = log_theta()
    return _calibrate(evidence, None, log_theta, want_beliefs, row_weight)


def _potential(cs, theta, log_theta, log_z, up):
    """Product of the clique's active factors and incoming messages, per entry.

    Padding entries gather 1. In log mode the product is a sum of logs, shifted by
    its per-row maximum before exponentiating (a clique may receive thousands of
    messages, whose plain product would underflow even when each is normalised).
    """
    if theta is not None:
        pot = None
        for _, idx in cs.factors:
            pot = theta.take(idx) if pot is None else pot * theta.take(idx)
        if pot is None:
            pot = np.ones(cs.n_entries)
        for child, target in cs.child_links:
            if up[child] is not None:
                pot *= up[child].take(target)
        return pot
    logpot = np.zeros(cs.n_entries)
    for _, idx in cs.factors:
        logpot += log_theta.take(idx)
    with np.errstate(divide="ignore"):
        for child, target in cs.child_links:
            if up[child] is not None:
                logpot += np.log(up[child].take(target))
    shift = np.maximum.reduceat(logpot, cs.seg)
    bad = ~np.isfinite(shift)
    if bad.any():
        raise ImpossibleRows(cs.rows[bad])
    log_z[cs.rows] += shift
    return np.exp(logpot - shift[cs.entry_seg])


def _calibrate(evidence, theta, log_theta, want_beliefs, row_weight=None):
    log_z, partial, up, root_sum = _upward(evidence, theta, log_theta)
    if not want_beliefs:
        return log_z, []
    weight = np.ones(evidence.n_rows) if row_weight is None else row_weight
    return log_z, _downward(evidence, partial, up, root_sum, weight, linear=theta is not None)


def _upward(evidence, theta, log_theta):
    """Collect pass: per clique, its potential times incoming messages (``partial``),
    its message to the parent (``up``, padded with 1.0) and its root-segment sums."""
    slices = evidence.cliques
    log_z = np.zeros(evidence.n_rows)
    partial: list = [None] * len(slices)
    up: list = [None] * len(slices)
    root_sum: list = [None] * len(slices)
    linear = theta is not None
    for k, cs in enumerate(slices):
        if cs.rows.size == 0:
            continue
        pot = _potential(cs, theta, log_theta, log_z, up)
        partial[k] = pot
        n_root = cs.root_local.size
        out: np.ndarray = np.bincount(cs.up_target, weights=pot,  # float: weights given
                                      minlength=cs.msg_size + max(n_root, 1))
        if n_root:
            s = out[cs.msg_size:].copy()
            _check_positive(s, cs.rows[cs.root_local], linear)
            log_z[cs.rows[cs.root_local]] += np.log(s)
            root_sum[k] = s
        if cs.up_local.size:
            if not linear:  # log mode: renormalise each row's message
                z = _seg_sum(out[:cs.msg_size], cs.msg_entry_seg, cs.up_local.size)
                _check_positive(z, cs.rows[cs.up_local], False)
                log_z[cs.rows[cs.up_local]] += np.log(z)
                out[:cs.msg_size] /= z[cs.msg_entry_seg]
            out[cs.msg_size] = 1.0  # the padding entry gathered by the parent
            up[k] = out[:cs.msg_size + 1]
    return log_z, partial, up, root_sum


def _downward(evidence, partial, up, root_sum, weight, linear):
    """Distribute pass: per clique, the row-weighted posterior of every entry."""
    slices = evidence.cliques
    beliefs: list = [None] * len(slices)
    down: list = [None] * len(slices)
    for k in range(len(slices) - 1, -1, -1):
        cs = slices[k]
        if cs.rows.size == 0:
            continue
        # the "in" factor of every entry: the down message for up segments (already
        # written by the parent), and weight / sum for root segments
        factor: np.ndarray = down[k] if down[k] is not None else \
            np.empty(cs.msg_size + cs.root_local.size)
        if cs.root_local.size:
            factor[cs.msg_size:] = weight[cs.rows[cs.root_local]] / root_sum[k]
        b = partial[k] * factor.take(cs.up_target)
        if not linear:  # messages were renormalised: rescale each row's beliefs
            b = _rescale(b, cs, weight)
        beliefs[k] = b
        for child, target in cs.child_links:
            u = up[child]
            if u is None:
                continue
            m = np.bincount(target, weights=b, minlength=u.size)[:-1]
            c = slices[child]
            down[child] = np.zeros(c.msg_size + c.root_local.size)
            np.divide(m, u[:-1], out=down[child][:c.msg_size], where=u[:-1] > 0)
    return beliefs


def _rescale(b, cs, weight):
    s = _seg_sum(b, cs.entry_seg, cs.rows.size)
    return b * (weight[cs.rows] / s)[cs.entry_seg]


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


@dataclass(frozen=True)
class TreeResult:
    """What one calibration of a chunk's sliced clique tree gives the E-step."""

    counts: np.ndarray          # expected counts, flat like theta
    log_likelihood: float       # weighted total over the chunk's rows
    table_posteriors: np.ndarray  # weighted posteriors of the per-row tables (hybrid), laid
                                  # out like them; empty for a discrete network


def estep(evidence: ChunkEvidence, theta: np.ndarray, log_theta: np.ndarray | None = None,
          extra: tuple | None = None) -> TreeResult:
    """Expected counts (flat, like ``theta``) and the weighted total log-likelihood.

    ``extra`` = ``(linear, log)`` per-row tables of a hybrid network's components
    (see :func:`gathered`); their weighted posteriors are then returned too.

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
    lin, log = gathered(theta, log_theta, extra)
    done = fused.estep_counts(evidence, lin, LINEAR_FLOOR) \
        if extra is None and fused.wanted(evidence) else None
    if done is not None:  # the compiled kernel: the same linear pass, in one loop
        log_z, acc = done
    else:
        log_z, beliefs = calibrate(evidence, log, theta=lin, row_weight=evidence.weights)
        acc = add_at(lin.size, ((idx, b) for cs, b in zip(evidence.cliques, beliefs)
                                if b is not None for _, idx in cs.factors))
    total += float(evidence.weights @ log_z)
    p = theta.size
    return TreeResult(evidence.obs_counts + acc[:p], total, acc[p + 1:])


def gathered(theta: np.ndarray, log_theta: np.ndarray,
             extra: tuple | None = None) -> tuple[np.ndarray, Callable[[], np.ndarray]]:
    """The vectors the sliced cliques gather from: parameters, the padding entry
    (1, or 0 in log space) that inactive entries point at, then any per-row tables.

    The log vector is returned as a function (see :func:`calibrate`)."""
    if extra is None:
        return _pad(theta, 1.0), lambda: _pad(log_theta, 0.0)
    return (np.concatenate([theta, [1.0], extra[0]]),
            lambda: np.concatenate([log_theta, [0.0], extra[1]]))


def observed_impossible_rows(evidence: ChunkEvidence, theta: np.ndarray) -> np.ndarray:
    """Chunk-local rows whose fully observed families hit a zero probability."""
    with np.errstate(divide="ignore"):
        terms = observed_log_terms(evidence, np.log(theta))
    return np.flatnonzero(~np.isfinite(terms))


def _pad(values, pad):
    """Append the padding entry that inactive factor entries gather."""
    return np.append(values, pad)


def row_log_prob(evidence: ChunkEvidence, log_theta: np.ndarray,
                 extra: tuple | None = None) -> np.ndarray:
    """Per-row log P(observed part), shape ``(n_rows,)`` of the chunk (without the
    per-row constants of hybrid components, which the caller adds)."""
    lin, log = gathered(np.exp(log_theta), log_theta, extra)
    log_z, _ = calibrate(evidence, log, want_beliefs=False, theta=lin)
    return observed_log_terms(evidence, log_theta) + log_z


def node_marginals(evidence: ChunkEvidence, log_theta: np.ndarray, node: int,
                   extra: tuple | None = None) -> np.ndarray:
    """P(node | row) for every row of the chunk, shape ``(n, card)``."""
    structure, codes = evidence.structure, evidence.codes
    card = int(structure.cards[node])
    n = codes.shape[0]
    impossible = np.flatnonzero(~np.isfinite(observed_log_terms(evidence, log_theta)))
    if impossible.size:
        raise ImpossibleRows(impossible)
    out = np.zeros((n, card))
    obs = codes[:, node] >= 0
    out[np.flatnonzero(obs), codes[obs, node]] = 1.0
    if obs.all():
        return out
    lin, log = gathered(np.exp(log_theta), log_theta, extra)
    _, beliefs = calibrate(evidence, log, theta=lin)
    plan = evidence.plan
    k = min((k for k, c in enumerate(plan.cliques) if node in c.vars),
            key=lambda k: len(plan.cliques[k].vars))
    cs = evidence.cliques[k]
    j = list(plan.cliques[k].vars).index(node)
    key = cs.entry_seg.astype(np.int64) * card + cs.assign[:, j]
    marg = np.bincount(key, weights=beliefs[k], minlength=cs.rows.size * card)
    marg = marg.reshape(cs.rows.size, card)
    miss = codes[cs.rows, node] < 0
    out[cs.rows[miss]] = marg[miss]
    return out


def family_posteriors(evidence: ChunkEvidence, theta: np.ndarray) -> list:
    """Per-row posterior of every family, ``(n, *family cards)`` in parents-then-child order.

    Meant for tests and diagnostics: memory grows with rows x table sizes.
    """
    structure, codes = evidence.structure, evidence.codes
    with np.errstate(divide="ignore"):
        log_theta = np.log(theta)
    n = codes.shape[0]
    out = [np.zeros((n, int(structure.offsets[i + 1] - structure.offsets[i])))
           for i in range(structure.n_vars)]
    for i, full, idx in observed_families(structure, codes):
        out[i][full, idx - structure.offsets[i]] = 1.0
    _, beliefs = calibrate(evidence, _pad(log_theta, 0.0), theta=_pad(theta, 1.0))
    for cs, b in zip(evidence.cliques, beliefs):
        if b is None:
            continue
        for f, idx in cs.factors:
            e = idx < structure.n_params
            rows = cs.rows[cs.entry_seg[e]]
            np.add.at(out[f], (rows, idx[e] - structure.offsets[f]), b[e])
    return [t.reshape((n,) + tuple(int(structure.cards[v]) for v in fam))
            for t, fam in zip(out, structure.families)]
