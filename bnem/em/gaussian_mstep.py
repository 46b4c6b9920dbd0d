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

import numpy as np

from ..errors import BnemValueError
from ..network.gaussian import GaussianCPD


def moments_to_scatter(stats, centres):
    """Per interface configuration: weight, mean and scatter about the mean."""
    n_k, m1, m2 = stats
    safe = np.where(n_k > 0, n_k, 1.0)
    mean = centres + m1 / safe[:, None]
    scatter = m2 - np.einsum("ki,kj->kij", m1, m1) / safe[:, None, None]
    return n_k, mean, scatter


def _pool(n_k, mean, scatter, groups, n_groups):
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


def _regress(s_pp, s_pj, s_jj, n_u, min_variance):
    """Weighted least squares from scatter matrices, per configuration.

    Returns the coefficients ``beta (G, p)`` and the residual sums of squares
    ``S_jj - 2 beta.S_pj + beta' S_pp beta`` (non-negative for any ``beta``, unlike the
    shortcut ``S_jj - beta.S_pj``).

    A parent whose variance in a configuration is at most ``min_variance`` is constant
    there for every purpose of the fit (its coefficient would only fit round-off) and
    gets coefficient 0. The others are solved on their correlation scale by a
    symmetric eigendecomposition, ignoring directions with eigenvalues below 1e-12 of
    the largest: exactly collinear parents share their effect (the minimum-norm
    solution) instead of producing huge opposite coefficients.
    """
    p = s_pj.shape[1]
    diag = np.diagonal(s_pp, axis1=1, axis2=2)
    keep = diag > np.maximum(min_variance * n_u, 0.0)[:, None]
    scale = np.where(keep, np.sqrt(np.where(keep, diag, 1.0)), 1.0)
    corr = s_pp / (scale[:, :, None] * scale[:, None, :])
    corr = np.where(keep[:, :, None] & keep[:, None, :], corr, np.eye(p))
    rhs = np.where(keep, s_pj / scale, 0.0)
    w, v = np.linalg.eigh(corr)
    big = w > 1e-12 * w.max(axis=1, keepdims=True)
    inv_w = np.where(big, 1.0 / np.where(big, w, 1.0), 0.0)
    proj = np.einsum("gij,gi->gj", v, rhs) * inv_w
    beta = np.einsum("gij,gj->gi", v, proj) / scale
    rss = s_jj - 2.0 * np.einsum("gp,gp->g", beta, s_pj) + np.einsum("gp,gpq,gq->g", beta, s_pp, beta)
    return beta, rss


def maximize_component(comp, stats, centres, previous: dict, min_variance: float):
    """New GaussianCPDs of one component.

    Returns ``(cpds, floored, empty)``: ``floored`` and ``empty`` list
    ``(node, configuration index)`` whose variance hit ``min_variance``, or whose
    weight was zero (those keep their previous parameters).
    """
    n_k, mean, scatter = moments_to_scatter(stats, centres)
    cpds, floored, empty = {}, [], []
    for j, node in enumerate(comp.nodes):
        old = previous[node]
        n_groups = old.intercept.size
        n_u, mean_u, scat = _pool(n_k, mean, scatter, comp.config_of[j], n_groups)
        par = comp.parents[j]
        if par.size:
            beta, resid = _regress(scat[np.ix_(range(n_groups), par, par)], scat[:, par, j],
                                   scat[:, j, j], n_u, min_variance)
            b0 = mean_u[:, j] - np.einsum("kp,kp->k", beta, mean_u[:, par])
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
    return cpds, floored, empty
