"""Expected sufficient statistics of continuous components: weighted moments about
the current means, from the per-pattern records of
:func:`bnem.inference.gaussian_density.log_density_table` (inference layer).

Each record (:class:`FullMoments`, :class:`DiagMoments`, and
:class:`~bnem.inference.gaussian_ragged.RaggedMoments` for batched rare patterns)
adds its rows' moments with its own ``accumulate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import Moments

SMALL_PATTERN_CELLS = 1 << 16  # patterns up to this many rows x configurations x coordinates
                               # get their moments in one batch


@dataclass(frozen=True)
class FullMoments:
    """A pattern's whitened deviations ``z (n_p, K, |o|)``, centred means ``mu_o``, the
    gain and the conditional covariance of its missing coordinates."""

    pattern: Any
    z: np.ndarray | None
    mu_o: np.ndarray
    gain: np.ndarray | None
    cond: np.ndarray | None

    def accumulate(self, resp: np.ndarray, m1: np.ndarray, m2: np.ndarray,
                   diag: np.ndarray) -> None:
        _full_moments(self.pattern, self.z, self.mu_o, self.gain, self.cond,
                      self.pattern.rows_of(resp), m1.shape[1], m1, m2)


@dataclass(frozen=True)
class DiagMoments:
    """Independent coordinates, the whole chunk in one masked pattern: each
    configuration's deviations from its mean ``dev (K, n, m)`` and their squares ``sq``
    (zero where missing); or, where expanding the square is exact enough (``dev`` None),
    the squares of the centred values ``sq (n, m)``; the variances and centred means."""

    pattern: Any
    dev: np.ndarray | None
    sq: np.ndarray
    var: np.ndarray
    mu: np.ndarray

    def accumulate(self, resp: np.ndarray, m1: np.ndarray, m2: np.ndarray,
                   diag: np.ndarray) -> None:
        r = self.pattern.rows_of(resp)
        if self.dev is None:
            _expanded_moments(self.pattern, self.sq, self.mu, self.var, r, m1, diag)
        else:
            _diagonal_moments(self.pattern, self.dev, self.sq, self.var, r, m1, diag)


def accumulate_moments(moments: list, resp: np.ndarray, m: int, diagonal: bool = False,
                       centre: np.ndarray | None = None) -> Moments:
    """Weighted moment sums about the current means from per-pattern deviations.

    ``resp`` is ``(n, K)``: each row's weight times its posterior over interface
    configurations. Returns :class:`~bnem.inference.stats.Moments` ``N (K,)``,
    ``M1 (K, m)`` and ``M2 (K, m, m)`` with
    ``M1 = sum r (x - mean)`` and ``M2 = sum r [(x - mean)(x - mean)^T + Cov(x | row)]``.
    With ``diagonal``, only the diagonal of the first term is computed (all the
    M-step needs when no node has a continuous parent). ``centre``: the means the
    records were taken about, kept on the result for the M-step.
    """
    k = resp.shape[1]
    n_k = resp.sum(axis=0)
    m1 = np.zeros((k, m))
    m2 = np.zeros((k, m, m))
    diag = np.zeros((k, m))
    for part in moments:
        part.accumulate(resp, m1, m2, diag)
    if diagonal:
        m2 += np.einsum("kj,ji->kji", diag, np.eye(m))
    return Moments(n_k, m1, m2, centre)


def _expanded_moments(p, sq, mu, var, r, m1, diag):
    """:func:`_diagonal_moments` with the square expanded (values near their means):
    ``sum r (x - mu) = r^T x - (r^T s) mu`` and ``sum r (x - mu)^2 = r^T x^2 - 2 mu r^T x
    + (r^T s) mu^2`` over observed cells, plus the missing cells' variances."""
    rt = r.T
    rx = rt @ p.x
    rs = rt @ p.seen
    m1 += rx - rs * mu
    diag += rt @ sq - 2.0 * mu * rx + rs * mu * mu + (r.sum(axis=0)[:, None] - rs) * var


def _diagonal_moments(p, dev, sq, var, r, m1, diag):
    """Add the moments about the means for independent coordinates (masked): per
    configuration, ``sum r (x - mu)`` and ``sum r (x - mu)^2`` over observed cells from
    the deviations themselves; a missing cell's deviation is 0 in expectation and adds
    its conditional variance, ``(r^T (1 - s)) var``."""
    m1 += np.einsum("nk,knm->km", r, dev)
    rs = r.T @ p.seen
    diag += np.einsum("nk,knm->km", r, sq) + (r.sum(axis=0)[:, None] - rs) * var


def _full_moments(p, z, mu_o, gain, cond, r, m, m1, m2):
    """Add a pattern's moments about the means (two-pass: deviations first, then their
    weighted products, like a centred covariance). Small patterns are done for all
    configurations at once; large ones one configuration at a time (less memory)."""
    o, h = p.obs, p.mis
    n_p, k = r.shape
    if n_p * k * m <= SMALL_PATTERN_CELLS:
        if not h.size:  # every coordinate observed (``o`` is then 0..m-1)
            dev = p.x[None] - mu_o[:, None, :]
        else:
            dev = np.empty((k, n_p, m))
            if o.size:
                dev[:, :, o] = p.x[None] - mu_o[:, None, :]
            dev[:, :, h] = np.matmul(z.transpose(1, 0, 2), gain.transpose(0, 2, 1)) \
                if o.size else 0.0
        r_t = np.ascontiguousarray(r.T)  # (K, n_p): a strided one makes matmul slow
        m1 += np.matmul(r_t[:, None, :], dev)[:, 0, :]
        weighted = dev * r_t[:, :, None]
        m2 += np.matmul(weighted.transpose(0, 2, 1), dev)
    else:
        dev = np.empty((n_p if h.size else 0, m))  # filled per configuration if h
        weighted = np.empty((n_p, m))
        for c in range(k):
            if not h.size:
                dev = p.x - mu_o[c]
            else:
                if o.size:
                    dev[:, o] = p.x - mu_o[c]
                dev[:, h] = z[:, c, :] @ gain[c].T if o.size else 0.0
            rc = r[:, c]
            m1[c] += rc @ dev
            np.multiply(dev, rc[:, None], out=weighted)
            m2[c] += weighted.T @ dev
    if cond is not None:
        m2[np.ix_(range(k), h, h)] += r.sum(axis=0)[:, None, None] * cond
