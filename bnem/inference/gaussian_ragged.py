"""Many rare missing patterns of a full-covariance component, batched (inference layer).

Cost: one small QR factorisation per pattern and interface configuration and E-step,
so data where nearly every row has its own pattern cost ``O(rows x K x m^3)`` per
iteration (20,000 rows x 24 columns at 20% missing, 5 configurations: ~5 s here),
against ``O(rows x K x m^2)`` when patterns repeat.

With many coordinates missing at random almost every row has its own pattern, and a
loop over patterns becomes a loop over rows. Rare patterns (fewer than
``RAGGED_MAX_ROWS`` rows) are therefore grouped by their number ``q`` of observed
coordinates, and each group is handled with stacked arrays: one batched QR
factorisation for all its patterns and configurations, and per-row gathers of the
factors, in row blocks that bound memory. The mathematics is that of
:func:`bnem.inference.gaussian_density.log_density_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RAGGED_MAX_ROWS = 16       # patterns with fewer rows than this are batched
BLOCK_CELLS = 1 << 22      # rows x configurations x q x q per block


@dataclass(frozen=True)
class RaggedGroup:
    """Rare patterns with the same number ``q`` of observed coordinates (0 < q < m)."""

    rows: np.ndarray    # (R,) chunk rows
    pid: np.ndarray     # (R,) pattern of each row
    obs: np.ndarray     # (P, q) observed positions per pattern
    mis: np.ndarray     # (P, m - q) missing positions per pattern
    x: np.ndarray       # (R, q) observed values minus the chunk's centre


def ragged_groups(patterns: list, x_centred: np.ndarray, n_configs: int) -> tuple[list, list]:
    """Split patterns into ``(kept, groups)``: frequent ones stay as they are; rare ones
    are grouped by ``q``, at most ``BLOCK_CELLS / (n_configs m^2)`` patterns a group (the
    factorisations of a group take a few arrays of that size)."""
    kept: list = []
    rare: dict[int, list] = {}
    m = x_centred.shape[1]
    most = max(1, BLOCK_CELLS // (n_configs * m * m))
    for p in patterns:
        if p.rows.size >= RAGGED_MAX_ROWS or p.obs.size in (0, m):
            kept.append(p)
        else:
            rare.setdefault(p.obs.size, []).append(p)
    groups = []
    batches = [(q, pats[i:i + most]) for q, pats in sorted(rare.items())
               for i in range(0, len(pats), most)]
    for q, pats in batches:
        rows = np.concatenate([p.rows for p in pats])
        pid = np.repeat(np.arange(len(pats)), [p.rows.size for p in pats])
        obs = np.stack([p.obs for p in pats])
        mis = np.stack([p.mis for p in pats])
        x = np.take_along_axis(x_centred[rows], obs[pid], axis=1)
        groups.append(RaggedGroup(rows, pid, obs, mis, x))
    return kept, groups


@dataclass(frozen=True)
class RaggedMoments:
    """A group's deviations about the means ``(K, R, m)`` (conditional means for the
    missing cells) and per pattern the conditional covariances of its missing cells."""

    group: RaggedGroup
    dev: np.ndarray
    cond: np.ndarray

    def accumulate(self, resp: np.ndarray, m1: np.ndarray, m2: np.ndarray,
                   diag: np.ndarray) -> None:
        ragged_moments(self.group, self.dev, self.cond, resp, m1, m2)


def ragged_table(g: RaggedGroup, jg: Any, centre: np.ndarray, table: np.ndarray,
                 keep_moments: bool) -> RaggedMoments | None:
    """Fill ``table[:, g.rows]``; return the group's moment record (with ``keep_moments``)."""
    k, m = jg.mean.shape
    q = g.obs.shape[1]
    l_o = jg.factor[:, g.obs, :]                                   # (K, P, q, m)
    l_h = jg.factor[:, g.mis, :]                                   # (K, P, m - q, m)
    inv_t, logdet, gain, cond = _qr_factors(l_o, l_h)
    mu = jg.mean - centre                                          # (K, m) centred means
    n_rows = g.rows.size
    dev = np.empty((k, n_rows, m) if keep_moments else (0, 0, 0))
    block = max(1, BLOCK_CELLS // (k * max(q, m - q) * q))
    for start in range(0, n_rows, block):
        sl = slice(start, min(n_rows, start + block))
        pid = g.pid[sl]
        d_o = g.x[sl][None] - mu[:, g.obs[pid]]                    # (K, B, q)
        z = np.einsum("kbq,kbql->kbl", d_o, inv_t[:, pid])
        table[:, g.rows[sl]] = -0.5 * (q * np.log(2 * np.pi) + logdet[:, pid]
                                       + np.einsum("kbl,kbl->kb", z, z))
        if keep_moments:
            b = np.arange(sl.stop - sl.start)[:, None]
            dev[:, sl][:, b, g.obs[pid]] = d_o
            dev[:, sl][:, b, g.mis[pid]] = np.einsum("kbl,kbhl->kbh", z, gain[:, pid])
    return RaggedMoments(g, dev, cond) if keep_moments else None


def ragged_moments(g: RaggedGroup, dev: np.ndarray, cond: np.ndarray, resp: np.ndarray,
                   m1: np.ndarray, m2: np.ndarray) -> None:
    """Add a group's moments about the means (see ``accumulate_moments``)."""
    r = resp[g.rows].T                                             # (K, R)
    weighted = dev * r[:, :, None]
    m1 += weighted.sum(axis=1)
    m2 += np.matmul(weighted.transpose(0, 2, 1), dev)
    n_pat = g.obs.shape[0]
    totals = np.stack([np.bincount(g.pid, weights=rk, minlength=n_pat) for rk in r])  # (K, P)
    k = r.shape[0]
    kk = np.arange(k)[:, None, None, None]
    rows = g.mis[None, :, :, None]
    cols = g.mis[None, :, None, :]
    np.add.at(m2, (kk, rows, cols), totals[:, :, None, None] * cond)


def _qr_factors(l_o, l_h):
    """``(C^-T, log det, gain, conditional covariance)`` from a batched QR of
    ``L_o^T`` (as in :func:`bnem.inference.gaussian_density.log_density_table`)."""
    q = l_o.shape[2]
    qm, r = np.linalg.qr(l_o.transpose(0, 1, 3, 2), mode="complete")
    c_low = r[:, :, :q, :].transpose(0, 1, 3, 2)                   # (K, P, q, q)
    inv_t = np.linalg.solve(c_low, np.broadcast_to(np.eye(q), c_low.shape)).transpose(0, 1, 3, 2)
    logdet = 2.0 * np.log(np.abs(np.diagonal(c_low, axis1=2, axis2=3))).sum(axis=2)
    gain = np.matmul(l_h, qm[..., :q])                             # (K, P, m - q, q)
    g2 = np.matmul(l_h, qm[..., q:])
    return inv_t, logdet, gain, np.matmul(g2, g2.transpose(0, 1, 3, 2))

