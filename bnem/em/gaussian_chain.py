"""The M-step of a full-covariance component in one factorisation (em layer).

A component whose node ``j`` has the nodes before it as continuous parents and the
whole interface as discrete parents (a full-covariance mixture, or any complete
chain) needs, per configuration, the regression of every node on all the nodes
before it. These all come from one triangular factor of the parents' scatter on its
correlation scale: with ``R = L L^T`` and ``T = L^-1``, the coefficients of node ``j``
are ``T[:j, :j]^T T[:j, :j] S[:j, j]`` (the leading block of ``T`` inverts the
leading block of ``L``), so two batched products give every node's coefficients.

It is a faster route to the same answer as the general solver
(:func:`bnem.em.gaussian_mstep.maximize_component`), taken only where that solver would
estimate every coefficient: every configuration has weight, every parent varies
beyond the round-off of its sums, and the parents' correlation matrix has every
eigenvalue above ``MARGIN * COLLINEAR`` times the largest (then so has each leading
block, by interlacing, which is each node's own parents; the margin keeps the
general solver's own rounding from deciding otherwise); and, after the solve, every
residual sum of squares known to ``EXACT`` (a regression so nearly exact that its
variance is limited by round-off, which the two solvers' orders of computation make
differently, is the general solver's). Otherwise :func:`chain_fits` returns None and the
general solver runs. The round-off bounds are the general solver's.
"""

from __future__ import annotations

import functools

import numpy as np

from ..inference.gaussian import Component
from .gaussian_roundoff import (COLLINEAR, estep_slack, map_variance, mean_is_vague, residual_error,
                               roundoff_slack, scatter_noise)

MARGIN = 4.0  # the factorisation needs every eigenvalue above MARGIN * COLLINEAR
EXACT = 1e-9  # ... and every residual sum of squares known to this relative error


def is_chain(comp: Component) -> bool:
    """Whether node ``j`` of ``comp`` has exactly the nodes before it as continuous
    parents and the whole interface, in order, as its own configurations
    (:attr:`Component.is_chain <bnem.inference.gaussian.Component.is_chain>`)."""
    return comp.is_chain


def chain_fits(moments: tuple, olds: list, min_variance: float) -> tuple[dict, float] | None:
    """Per node ``j``, as :func:`bnem.em.gaussian_mstep._fit_batch` gives it: ``(has
    weight, intercepts, coefficients, variances, variance held at its floor, collinear,
    imprecise)`` per configuration, every value finite and every variance positive;
    and the round-off slack. None where the general solver is needed (see the module
    docstring; also where a value is not finite: the general solver reports it).
    ``moments``: ``(N, mean, scatter, cancelled, overall mean)`` per interface
    configuration; ``olds``: the previous CPDs in component order (their coefficients
    are kept where they fit better, as the general solver keeps them)."""
    n_k, mean, scatter, cancelled, overall = moments
    k, m = mean.shape
    diag = np.diagonal(scatter, axis1=1, axis2=2)
    noise = scatter_noise(n_k, diag, mean, cancelled)
    if not (n_k > 0).all() or not ((diag[:, :-1] > noise[:, :-1]) & (diag[:, :-1] > 0)).all():
        return None
    beta = _coefficients(scatter, diag)
    if beta is None:
        return None
    previous = np.zeros((k, m, m))
    for j, old in enumerate(olds):
        previous[:, j, :j] = old.weights.reshape(k, j)
    (rss, lin, quad), (rss_old, lin_old, quad_old) = _rss(beta, scatter, diag), \
        _rss(previous, scatter, diag)
    worse = rss_old < rss
    if worse.any():
        beta = np.where(worse[:, :, None], previous, beta)
        rss, lin, quad = (np.where(worse, a, b) for a, b in ((rss_old, rss), (lin_old, lin),
                                                            (quad_old, quad)))
    b0 = mean - np.einsum("kjp,kp->kj", beta, mean)
    var = map_variance(rss, n_k[:, None], min_variance)
    low = ~(var >= min_variance)
    var = np.where(low, min_variance, var)
    if not (np.isfinite(b0.sum() + beta.sum() + var.sum()) and var.min() > 0):
        return None  # the general solver reports what went wrong, node by node
    root = np.sqrt(cancelled)
    err = residual_error(diag, lin, quad, root, np.einsum("kjp,kp->kj", np.abs(beta), root),
                         _layout(k, m)[1])
    weight = n_k[:, None]  # each node's weight in each configuration, broadcast over nodes
    if (err > EXACT * weight * var).any():
        return None  # a nearly exact regression: its variance is round-off-limited, and
                     # the two solvers' round-off differs; the general solver decides
    slack, _ = roundoff_slack(weight, weight * var, err)  # none imprecise: err is below EXACT
    mean_p = np.repeat(mean, m, axis=0)  # (K m, m): row (k, j) holds configuration k's means
    if mean_is_vague(b0.ravel(), beta.reshape(k * m, m), mean_p, var.ravel()).any():
        return None  # a mean that is round-off: the general solver reports it
    _, own, node_of, par_of = _layout(k, m)
    slack += estep_slack(np.repeat(n_k, m), var.ravel(), beta.reshape(k * m, m), mean.ravel(),
                         mean_p, overall, node_of, par_of)
    ok, none = np.ones(k, dtype=bool), np.zeros(k, dtype=bool)  # none collinear or imprecise
    return {j: (ok, b0[:, j], beta[:, j, :j], var[:, j], low[:, j], none, none)
            for j in range(m)}, slack


@functools.lru_cache(maxsize=64)
def _layout(k: int, m: int) -> tuple[np.ndarray, ...]:
    """For ``k`` configurations of ``m`` nodes: ``before[j, p]``, whether ``p < j``
    (node ``j``'s parents); ``own``, ``0..m-1``; and per row ``(k, j)`` of the
    configurations stacked node after node, the node ``j`` and its parents' positions
    (-1 for no parent). Read-only, shared by every M-step of that size."""
    before = np.tri(m, k=-1, dtype=bool)
    own = np.arange(m)
    node_of = np.tile(own, k)
    par_of = np.tile(np.where(before, own, -1), (k, 1))
    for a in (before, own, node_of, par_of):
        a.setflags(write=False)
    return before, own, node_of, par_of


def _coefficients(scatter: np.ndarray, diag: np.ndarray) -> np.ndarray | None:
    """``beta (K, m, m)``: row ``j`` holds node ``j``'s coefficients on nodes ``< j``
    (zero elsewhere); None where the parents' correlation matrix is too close to
    singular for every direction to be estimated."""
    k, m = diag.shape
    if m == 1:
        return np.zeros((k, 1, 1))
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    corr = scatter / (scale[:, :, None] * scale[:, None, :])
    parents = corr[:, :-1, :-1]
    try:  # inv pivots: its upper triangle is round-off, not 0, until tril
        inv_l = np.tril(np.linalg.inv(np.linalg.cholesky(parents)))  # (K, m-1, m-1)
    except np.linalg.LinAlgError:
        return None
    if not _conditioned(parents, inv_l):
        return None
    y = inv_l @ corr[:, :-1, :]                                    # (K, m-1, m)
    before = _layout(k, m)[0]
    y = np.where(before.T[:-1], y, 0.0)  # (m-1, m): parent i of node j where i < j
    scaled = np.matmul(y.transpose(0, 2, 1), inv_l)               # (K, m, m-1): [j, p]
    beta = np.zeros((k, m, m))
    beta[:, :, :-1] = scaled * scale[:, :, None] / scale[:, None, :-1]
    # a node's coefficients on itself and on later nodes are exactly 0 (the intercepts
    # and residuals below use the whole matrix; later columns may have large means)
    return np.where(before, beta, 0.0)


def _conditioned(parents: np.ndarray, inv_l: np.ndarray) -> bool:
    """Whether every eigenvalue of each correlation matrix ``parents = L L^T`` is above
    ``MARGIN * COLLINEAR`` times its largest (with a margin: near the threshold, the
    general solver's per-node eigen-solves and this one round differently, and only the
    general solver may drop a direction). Usually settled without an eigen-solve: the
    smallest eigenvalue is at least ``1 / |L^-1|_F^2`` and the largest at most the
    trace; the eigenvalues are computed only where that bound, halved for the round-off
    of ``L^-1``, does not settle it."""
    low = 1.0 / np.einsum("kij,kij->k", inv_l, inv_l)
    high = np.einsum("kii->k", parents)
    if (low > 2.0 * MARGIN * COLLINEAR * high).all():
        return True
    w = np.linalg.eigvalsh(parents)
    return bool((w[:, 0] > MARGIN * COLLINEAR * w[:, -1]).all())


def _rss(beta: np.ndarray, scatter: np.ndarray,
         diag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each node's residual sum of squares ``S_jj - 2 beta.S_pj + beta' S_pp beta`` for
    coefficients ``beta`` (valid for any coefficients with the best intercept), with
    its terms ``beta.S_pj`` and ``beta' S_pp beta``, each ``(K, m)``."""
    bs = beta @ scatter                                   # row j: beta_j' S
    lin = np.diagonal(bs, axis1=1, axis2=2)               # beta_j . S[:, j]
    quad = (bs * beta).sum(axis=2)
    return diag - 2.0 * lin + quad, lin, quad
