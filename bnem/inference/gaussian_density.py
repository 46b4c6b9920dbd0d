"""Log densities of a continuous component's rows (inference layer): per chunk and
interface configuration, ``log N(x_o; mean[o], cov[o, o])`` of every row's observed
coordinates (:func:`log_density_table`), from factorisations of the component's
:class:`~bnem.inference.gaussian.JointGaussian` shared by a chunk's patterns
(:class:`FactorCache`), with the records the M-step's moments need
(:mod:`bnem.inference.gaussian_moments`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaussian import LOG_2PI, ComponentSlice, JointGaussian
from .gaussian_moments import DiagMoments, FullMoments
from .gaussian_ragged import ragged_table


@dataclass(frozen=True)
class Factorisation:
    """What the densities and moments of one observed set ``o`` (missing ``h``) need, per
    interface configuration (see :func:`log_density_table`); None where not applicable."""

    inv_t: np.ndarray | None    # (K, |o|, |o|) C^-T
    stacked: np.ndarray | None  # (|o|, K |o|) the C^-T side by side
    logdet: np.ndarray | None   # (K,) log det cov[o, o]
    gain: np.ndarray | None     # (K, |h|, |o|) cov[h, o] C^-T
    cond: np.ndarray | None     # (K, |h|, |h|) conditional covariance of h given o

    @classmethod
    def of(cls, jg: JointGaussian, o: np.ndarray, h: np.ndarray) -> "Factorisation":
        m = jg.mean.shape[1]
        inv_t = stacked = logdet = gain = cond = None
        if o.size == m:
            inv_t = (np.eye(m) - jg.weights).transpose(0, 2, 1) / np.sqrt(jg.var)[:, None, :]
            logdet = np.log(jg.var).sum(axis=1)
        elif o.size:
            q, r = np.linalg.qr(jg.factor[:, o, :].transpose(0, 2, 1), mode="complete")
            c_low = r[:, :o.size, :].transpose(0, 2, 1)                  # (K, |o|, |o|) = C
            eye = np.broadcast_to(np.eye(o.size), c_low.shape)
            inv_t = np.linalg.solve(c_low, eye).transpose(0, 2, 1)       # C^-T
            logdet = 2.0 * np.log(np.abs(np.diagonal(c_low, axis1=1, axis2=2))).sum(axis=1)
            l_h = jg.factor[:, h, :]
            gain = np.matmul(l_h, q[:, :, :o.size])                      # (K, |h|, |o|)
            g2 = np.matmul(l_h, q[:, :, o.size:])
            cond = np.matmul(g2, g2.transpose(0, 2, 1))
        else:
            l_h = jg.factor[:, h, :]
            cond = np.matmul(l_h, l_h.transpose(0, 2, 1))
        if inv_t is not None:  # (|o|, K |o|): block k is inv_t[k]
            stacked = inv_t.transpose(1, 0, 2).reshape(o.size, -1)
        return cls(inv_t, stacked, logdet, gain, cond)


class FactorCache:
    """The factorisations of one component's Gaussians for one E-step, shared by its
    chunks. Rows are ordered by pattern, so a chunk only needs its predecessor's: the
    cache keeps the current chunk's patterns only (memory stays bounded)."""

    def __init__(self, jg: JointGaussian) -> None:
        self.joint = jg
        self._held: dict[bytes, Factorisation] = {}

    def for_patterns(self, patterns: list) -> list:
        """The :class:`Factorisation` of each pattern, computing only new ones."""
        held = {}
        for p in patterns:
            key = p.obs.tobytes()
            if key not in held:
                held[key] = self._held.get(key) or Factorisation.of(self.joint, p.obs, p.mis)
        self._held = held
        return [held[p.obs.tobytes()] for p in patterns]


def log_density_table(cs: ComponentSlice, cache: FactorCache, keep_moments: bool,
                      diagonal: bool = False) -> tuple[np.ndarray, list]:
    """Per row and interface configuration, log N(x_o; mean[o], cov[o, o]).

    Per pattern and configuration: rows with every coordinate observed use the
    regressions directly, ``z_j = (x_j - b0_j - B_j x) / sqrt(var_j)`` (the density is
    the product of the nodes' conditionals); otherwise ``cov[o, o] = L_o L_o^T`` is
    factorised by a QR decomposition of ``L_o^T = Q R``, so ``C = R^T`` is its
    Cholesky factor and ``z = C^-1 (x_o - mean_o)``. All configurations come from one
    matrix product of the centred values with the stacked ``C^-T``.

    Returns ``(table (K, n), moments)``; with ``keep_moments``, ``moments`` holds per
    pattern a record of what the M-step needs (:mod:`bnem.inference.gaussian_moments`):
    the whitened deviations, the means, the gain ``cov[h, o] C^-T = L_h Q_1`` giving
    the conditional means of the missing coordinates ``h``, and their conditional
    covariance ``(L_h Q_2)(L_h Q_2)^T``.
    """
    jg = cache.joint
    if diagonal:
        return _diagonal_table(cs, jg.mean, jg.var, keep_moments)
    n = cs.values.shape[0]
    k, m = jg.mean.shape
    table = np.zeros((k, n))
    moments: list = []
    for p, fac in zip(cs.patterns, cache.for_patterns(cs.patterns)):
        o = p.obs
        # (K, |o|) in centred coordinates
        mu_o = jg.mean - cs.centre if o.size == m else jg.mean[:, o] - cs.centre[o]
        z = None
        if o.size:
            offset = np.einsum("ko,kol->kl", mu_o, fac.inv_t).reshape(-1)
            z = p.x @ fac.stacked
            z -= offset
            z = z.reshape(-1, k, o.size)                             # (n_p, K, |o|)
            part = -0.5 * (o.size * LOG_2PI + fac.logdet[:, None]  # (K, n_p), row-major:
                           + np.einsum("nkj,nkj->kn", z, z, order="C"))  # fast sums over K
            if p.rows.size == n:  # the pattern holds every row, in order
                table = part
            else:
                table[:, p.rows] = part
        if keep_moments:
            moments.append(FullMoments(p, z, mu_o, fac.gain, fac.cond))
    for g in cs.ragged:
        part = ragged_table(g, jg, cs.centre, table, keep_moments)
        if keep_moments:
            moments.append(part)
    return table, moments


def _diagonal_table(cs, mean, var, keep_moments):
    """:func:`log_density_table` for independent coordinates, with the whole chunk in
    one masked pattern, whatever the missing cells: three matrix products with the
    square expanded where that is exact enough (:func:`_expansion_is_exact`); else,
    for clusters far from the chunk's centre (at +-1e6 with spread 1 the expansion lost
    7 nats over 2e5 rows), deviations from each configuration's mean, squared
    (``rows_per_chunk`` bounds that ``(K, n, m)`` array)."""
    p = cs.patterns[0]
    mu = mean - cs.centre                       # (K, m) means in centred coordinates
    log_norm = np.log(2 * np.pi * var) @ p.seen.T
    if _expansion_is_exact(p.x, mu, var):  # three matrix products
        sq = p.x * p.x                          # zero where missing
        table = -0.5 * ((1.0 / var) @ sq.T - 2.0 * ((mu / var) @ p.x.T)
                        + (mu * mu / var) @ p.seen.T + log_norm)
        return table, ([DiagMoments(p, None, sq, var, mu)] if keep_moments else [])
    dev = np.where(p.seen[None] > 0, p.x[None, :, :] - mu[:, None, :], 0.0)  # (K, n, m)
    sq = dev * dev
    table = -0.5 * (np.einsum("knm,km->kn", sq, 1.0 / var) + log_norm)
    return table, ([DiagMoments(p, dev, sq, var, mu)] if keep_moments else [])


EXPANSION_ERROR = 1e-11  # nats per row the expanded square may lose to round-off


def _expansion_is_exact(x: np.ndarray, mu: np.ndarray, var: np.ndarray) -> bool:
    """Whether ``x^2/v - 2 mu x/v + mu^2/v`` loses less than ``EXPANSION_ERROR`` per row
    against ``(x - mu)^2 / v``: its terms are at most ``(|x| + |mu|)^2 / v``, known to
    eps of their size."""
    if x.size == 0:
        return True
    big = np.abs(x).max(axis=0)
    terms = ((big[None] + np.abs(mu)) ** 2 / var).sum(axis=1)
    return bool(4 * np.finfo(float).eps * terms.max() < EXPANSION_ERROR)
