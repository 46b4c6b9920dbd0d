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
        centres = st.centre if st.centre is not None else joint_factors(comp, previous).mean
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

    Every node's regression is solved in one batch: each node's continuous parents
    are gathered into the first slots of ``p_max`` (the most any node has), the
    empty slots have no variance, so :func:`_regress` gives them coefficient 0 as
    it does a constant parent (one eigen-solve call for the whole component).

    Returns ``(cpds, floored, empty, collinear)``: lists of ``(node, configuration
    index)`` whose variance hit ``min_variance``, whose weight was zero (those keep
    their previous parameters), or whose continuous parents were too collinear for
    part of their effect to be estimated.
    """
    n_k, mean, scatter = moments_to_scatter(stats, centres)
    olds = [previous[node] for node in comp.nodes]
    sizes = [old.intercept.size for old in olds]
    starts = np.cumsum([0] + sizes[:-1])
    slots, filled = _parent_slots(comp)
    prev_w = np.zeros((sum(sizes), slots.shape[1]))
    for j, (old, start) in enumerate(zip(olds, starts)):
        prev_w[start:start + sizes[j], :comp.parents[j].size] = old.weights.reshape(sizes[j], -1)
    n_u, s_pp, s_pj, s_jj, mean_p, mean_j = _stacked(comp, n_k, mean, scatter, sizes, slots,
                                                     filled)
    if slots.shape[1]:
        beta, resid, lost = _regress(s_pp, s_pj, s_jj, n_u, mean_p, prev_w)
    else:  # no node has a continuous parent
        beta, resid, lost = prev_w, s_jj, np.zeros(s_jj.shape, dtype=bool)
    b0 = mean_j - np.einsum("kp,kp->k", beta, mean_p)
    ok = n_u > 0
    var = np.where(ok, resid / np.where(ok, n_u, 1.0), 1.0)
    low = ok & ~(var >= min_variance)
    var = np.where(low, min_variance, var)
    cpds: dict[str, GaussianCPD] = {}
    notes: tuple[list, list, list] = ([], [], [])
    for j, (node, old, start) in enumerate(zip(comp.nodes, olds, starts)):
        at = slice(start, start + sizes[j])
        for flags, found in zip((low[at], ~ok[at], lost[at] & ok[at]), notes):
            if flags.any():
                found.extend((node, int(u)) for u in np.flatnonzero(flags))
        cpds[node] = _new_cpd(old, ok[at], b0[at], beta[at, :comp.parents[j].size], var[at])
    return (cpds,) + notes


def _new_cpd(old: GaussianCPD, ok: np.ndarray, b0: np.ndarray, beta: np.ndarray,
             var: np.ndarray) -> GaussianCPD:
    """The node's new CPD; configurations without weight keep ``old``'s parameters."""
    n, shape = ok.size, old.mean_shape
    b0 = np.where(ok, b0, old.intercept.ravel())
    beta = np.where(ok[:, None], beta, old.weights.reshape(n, -1))
    var = np.where(ok, var, old.variance.ravel())
    _check_variance(old.node, var)
    return GaussianCPD(old.node, old.discrete_parents, old.continuous_parents,
                       b0.reshape(shape), beta.reshape(shape + (beta.shape[1],)),
                       var.reshape(shape), discrete_cards=shape)


def _stacked(comp: Component, n_k: np.ndarray, mean: np.ndarray, scatter: np.ndarray,
             sizes: list, slots: np.ndarray, filled: np.ndarray) -> tuple:
    """Every node's regression inputs, its own configurations stacked node after node:
    ``n_u (G,)``, ``S_pp (G, p_max, p_max)``, ``S_pj (G, p_max)``, ``S_jj (G,)`` and
    the means of parents and node. Nodes with the same discrete-parent grouping share
    one pooling (none at all for a node whose discrete parents are the whole
    interface, as in a mixture) and one gather."""
    by_groups: dict = {}
    for j, (groups, size) in enumerate(zip(comp.config_of, sizes)):
        by_groups.setdefault((size, groups.tobytes()), []).append(j)
    parts: dict = {}
    for (size, _), nodes in by_groups.items():
        groups = comp.config_of[nodes[0]]
        same = size == n_k.size and np.array_equal(groups, np.arange(size))
        n_u, mean_u, scat = (n_k, mean, scatter) if same else pool(n_k, mean, scatter, groups,
                                                                   size)
        js = np.array(nodes)
        sl, mk = slots[js], filled[js].astype(float)            # (J, p)
        s_pp = scat[:, sl[:, :, None], sl[:, None, :]] * (mk[:, :, None] * mk[:, None, :])
        s_pj = scat[:, sl, js[:, None]] * mk                    # (G, J, p)
        for i, j in enumerate(nodes):
            parts[j] = (n_u, s_pp[:, i], s_pj[:, i], scat[:, j, j], mean_u[:, sl[i]] * mk[i],
                        mean_u[:, j])
    ordered = [parts[j] for j in range(comp.m)]
    return tuple(np.concatenate(a) for a in zip(*ordered))


def _parent_slots(comp: Component) -> tuple[np.ndarray, np.ndarray]:
    """``(m, p_max)`` positions of each node's continuous parents (padded with 0) and
    which slots are filled."""
    p_max = max([p.size for p in comp.parents] + [0])
    slots = np.zeros((comp.m, p_max), dtype=np.intp)
    filled = np.zeros((comp.m, p_max), dtype=bool)
    for j, par in enumerate(comp.parents):
        slots[j, :par.size] = par
        filled[j, :par.size] = True
    return slots, filled


def _check_variance(node: str, var: np.ndarray) -> None:
    if not (var > 0).all():
        u = int(np.flatnonzero(~(var > 0))[0])
        raise BnemValueError(
            f"the conditional variance of {node!r} (configuration {u} of its discrete "
            f"parents) collapsed to {var[u]:.3g}: its data are explained exactly (too few "
            "rows for the configuration, or a duplicated column). Use min_variance > 0 "
            "(e.g. 1e-6), fewer components, or more data.")
