"""The M-step of Gaussian nodes: weighted moments -> conditional linear Gaussians.

For each continuous component the E-step returns, per configuration ``d`` of its
interface, the weighted moment sums about a centre ``c_d``::

    N_d,   M1_d = sum r (x - c_d),   M2_d = sum r [(x - c_d)(x - c_d)^T + Cov(x | row)]

Each node ``j`` with continuous parents ``P`` and discrete-parent configuration ``u``
is then the weighted least-squares regression of ``x_j`` on ``[1, x_P]`` over the
interface configurations that agree with ``u``, from the scatter matrix about the
mean: one small symmetric eigen-solve per node and configuration (never an explicit
inverse; see :func:`_regress` for degenerate and collinear parents).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import BnemValueError
from ..inference.gaussian import Component, joint_factors
from ..inference.stats import Moments
from ..inference.structure import Structure
from ..network.gaussian import GaussianCPD


def maximize_gaussians(structure: Structure, moments: tuple, previous: Mapping,
                       min_variance: float) -> tuple[dict, list, list, list]:
    """New GaussianCPDs of every component from the moments of an E-step at the
    ``previous`` CPDs (the moments are about the means those CPDs give).

    Returns ``(cpds, floored, empty, collinear)`` as :func:`maximize_component`.
    """
    new = dict(previous)
    floored: list = []
    empty: list = []
    collinear: list = []
    for comp, st in zip(structure.components, moments):
        centres = joint_factors(comp, previous).mean
        cpds, fl, em, co = maximize_component(comp, st, centres, previous, min_variance)
        new.update(cpds)
        floored += fl
        empty += em
        collinear += co
    return new, sorted(set(floored)), sorted(set(empty)), sorted(set(collinear))


def moments_to_scatter(stats: Moments,
                       centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per interface configuration: weight, mean and scatter about the mean."""
    n_k, m1, m2 = stats.n, stats.m1, stats.m2
    safe = np.where(n_k > 0, n_k, 1.0)
    mean = centres + m1 / safe[:, None]
    scatter = m2 - np.einsum("ki,kj->kij", m1, m1) / safe[:, None, None]
    return n_k, mean, scatter


def pool(n_k: np.ndarray, mean: np.ndarray, scatter: np.ndarray, groups: np.ndarray,
         n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge interface configurations into a node's own configurations (parallel axes)."""
    n_u = np.bincount(groups, weights=n_k, minlength=n_groups)
    safe = np.where(n_u > 0, n_u, 1.0)
    mean_u = np.zeros((n_groups, mean.shape[1]))
    np.add.at(mean_u, groups, n_k[:, None] * mean)
    mean_u /= safe[:, None]
    shift = mean - mean_u[groups]
    scatter_u = np.zeros((n_groups,) + scatter.shape[1:])
    np.add.at(scatter_u, groups, scatter + n_k[:, None, None] * np.einsum("ki,kj->kij", shift, shift))
    return n_u, mean_u, scatter_u


COLLINEAR = 1e-8  # eigenvalues of the parents' correlation matrix below this (relative
                  # to the largest) are not estimated: the normal equations would lose
                  # every digit (they square the condition number)


def _regress(s_pp, s_pj, s_jj, n_u, mean_p, previous):
    """Weighted least squares from scatter matrices, per configuration.

    Returns the coefficients ``beta (G, p)`` and the residual sums of squares
    ``S_jj - 2 beta.S_pj + beta' S_pp beta`` (valid for any ``beta`` with the best
    intercept, and non-negative, unlike the shortcut ``S_jj - beta.S_pj``).

    A parent that does not vary in a configuration beyond round-off (variance below
    1e-12 of its squared mean, or exactly zero) gets coefficient 0: any coefficient
    would only fit round-off. The others are solved on their correlation scale by a
    symmetric eigendecomposition, ignoring directions with eigenvalues below
    ``COLLINEAR`` times the largest (collinear parents share their effect: the
    minimum-norm solution). Finally, where the ``previous`` coefficients leave a
    smaller residual, they are kept, so the M-step never lowers the expected
    log-likelihood.

    Also returns, per configuration, whether an ignored direction carried signal (it
    would have explained more than 1e-6 of the residual): the caller warns.
    """
    p = s_pj.shape[1]
    diag = np.diagonal(s_pp, axis1=1, axis2=2)
    keep = diag > 1e-12 * n_u[:, None] * mean_p * mean_p
    keep &= diag > 0
    scale = np.where(keep, np.sqrt(np.where(keep, diag, 1.0)), 1.0)
    corr = s_pp / (scale[:, :, None] * scale[:, None, :])
    corr = np.where(keep[:, :, None] & keep[:, None, :], corr, np.eye(p))
    rhs = np.where(keep, s_pj / scale, 0.0)
    w, v = np.linalg.eigh(corr)
    big = w > COLLINEAR * w.max(axis=1, keepdims=True)
    inv_w = np.where(big, 1.0 / np.where(big, w, 1.0), 0.0)
    along = np.einsum("gij,gi->gj", v, rhs)
    proj = along * inv_w
    beta = np.einsum("gij,gj->gi", v, proj) / scale
    rss = _rss(beta, s_pp, s_pj, s_jj)
    rss_old = _rss(previous, s_pp, s_pj, s_jj)
    worse = rss_old < rss
    lost = np.where(big, 0.0, along * along / np.maximum(w, np.finfo(float).tiny)).sum(axis=1)
    collinear = lost > 1e-6 * np.maximum(rss, np.finfo(float).tiny)
    return np.where(worse[:, None], previous, beta), np.where(worse, rss_old, rss), collinear


def _rss(beta, s_pp, s_pj, s_jj):
    return s_jj - 2.0 * np.einsum("gp,gp->g", beta, s_pj) + \
        np.einsum("gp,gpq,gq->g", beta, s_pp, beta)


def maximize_component(comp: Component, stats: Moments, centres: np.ndarray, previous: Mapping,
                       min_variance: float) -> tuple[dict, list, list, list]:
    """New GaussianCPDs of one component.

    Returns ``(cpds, floored, empty, collinear)``: lists of ``(node, configuration
    index)`` whose variance hit ``min_variance``, whose weight was zero (those keep
    their previous parameters), or whose continuous parents were too collinear for
    part of their effect to be estimated.
    """
    n_k, mean, scatter = moments_to_scatter(stats, centres)
    cpds: dict[str, GaussianCPD] = {}
    floored: list = []
    empty: list = []
    collinear: list = []
    for j, node in enumerate(comp.nodes):
        old = previous[node]
        n_groups = old.intercept.size
        n_u, mean_u, scat = pool(n_k, mean, scatter, comp.config_of[j], n_groups)
        par = comp.parents[j]
        if par.size:
            beta, resid, lost = _regress(scat[np.ix_(range(n_groups), par, par)], scat[:, par, j],
                                   scat[:, j, j], n_u, mean_u[:, par],
                                   old.weights.reshape(n_groups, par.size))
            b0 = mean_u[:, j] - np.einsum("kp,kp->k", beta, mean_u[:, par])
            collinear.extend((node, int(u)) for u in np.flatnonzero(lost & (n_u > 0)))
        else:
            beta = np.zeros((n_groups, 0))
            resid = scat[:, j, j]
            b0 = mean_u[:, j]
        ok = n_u > 0
        var = np.where(ok, resid / np.where(ok, n_u, 1.0), 1.0)
        low = ok & ~(var >= min_variance)
        if low.any():
            floored.extend((node, int(u)) for u in np.flatnonzero(low))
            var = np.where(low, min_variance, var)
        if not ok.all():
            empty.extend((node, int(u)) for u in np.flatnonzero(~ok))
            b0 = np.where(ok, b0, old.intercept.ravel())
            beta = np.where(ok[:, None], beta, old.weights.reshape(n_groups, -1))
            var = np.where(ok, var, old.variance.ravel())
        if not (var > 0).all():
            u = int(np.flatnonzero(~(var > 0))[0])
            raise BnemValueError(
                f"the conditional variance of {node!r} (configuration {u} of its discrete "
                f"parents) collapsed to {var[u]:.3g}: its data are explained exactly (too few "
                "rows for the configuration, or a duplicated column). Use min_variance > 0 "
                "(e.g. 1e-6), fewer components, or more data.")
        shape = old.mean_shape
        cpds[node] = GaussianCPD(node, old.discrete_parents, old.continuous_parents,
                                 b0.reshape(shape), beta.reshape(shape + (par.size,)),
                                 var.reshape(shape), discrete_cards=shape)
    return cpds, floored, empty, collinear
