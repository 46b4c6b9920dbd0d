"""The M-step of shared and tied Gaussian blocks (em layer).

:func:`bnem.em.gaussian_mstep.maximize_gaussians` fits every Gaussian node on its own;
this module then refits the nodes whose parameters are constrained
(:mod:`bnem.network.constraints`), from the same moments, by the exact constrained
maximum of the expected complete-data log-likelihood:

* a group sharing whole CPDs (``share(..., what="all")``): per configuration ``u`` of
  the discrete parents, the members' vectors ``[parents, node]`` are pooled as if they
  were more rows of one node (weights, means and scatter merged), and one regression
  is fitted on them;
* a group sharing its variance (``what="variance"``): each member keeps its own
  regression (the best one whatever the variance), and the variance of ``u`` is the
  members' residual sums of squares over their weights;
* a tied node (``tie_covariance``): one regression on the scatter *within*
  configurations summed over them, one variance (its residual over the total weight),
  and per configuration the intercept ``mean_node - weights . mean_parents``. In a
  full-covariance mixture in chain form this is the tied-covariance M-step of
  scikit-learn (a bijection of parameters, the same maximum).

Configurations without weight keep their previous parameters; variances are held at
``min_variance`` like the unconstrained M-step's (and reported the same way).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..inference.gaussian import Component, joint_factors
from ..inference.structure import Structure
from ..network.constraints import Constraints, tied_regression
from ..network.gaussian import GaussianCPD
from .gaussian_mstep import moments_to_scatter, pool
from .gaussian_roundoff import map_variance


def has_gaussian_blocks(constraints: Constraints, continuous: tuple) -> bool:
    """Whether any Gaussian node is shared or tied."""
    return bool(constraints.tied) or any(n in continuous for members in
                                         constraints.shared.values() for n in members)


def refitted_components(structure: Structure, constraints: Constraints) -> frozenset:
    """The components every node of which is tied, shares a whole CPD, or shares its
    variance and has no continuous parent: the unconstrained M-step need not fit them
    (this module refits them all)."""
    def refitted(comp: Component, j: int) -> bool:
        node = comp.nodes[j]
        group = constraints.group_of(node)
        return node in constraints.tied or group is not None and (
            constraints.shares_all(group) or comp.parents[j].size == 0)
    return frozenset(c for c, comp in enumerate(structure.components)
                     if all(refitted(comp, j) for j in range(comp.m)))


class _Stats:
    """Per node of a component: its regression statistics per own configuration,
    over ``[continuous parents..., node]``: weight ``n (G,)``, mean ``(G, p + 1)``,
    scatter about it ``(G, p + 1, p + 1)``."""

    def __init__(self, comp: Component, moments, previous: Mapping) -> None:
        centres = moments.centre if moments.centre is not None else \
            joint_factors(comp, previous).mean
        self.comp = comp
        self.n_k, self.mean, self.scatter = moments_to_scatter(moments, centres)
        self.index = {node: j for j, node in enumerate(comp.nodes)}

    def of(self, node: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        j = self.index[node]
        groups = self.comp.config_of[j]
        if size == self.n_k.size and np.array_equal(groups, np.arange(size)):
            n_u, mean_u, scat_u = self.n_k, self.mean, self.scatter  # (a mixture's nodes)
        else:
            n_u, mean_u, scat_u = pool(self.n_k, self.mean, self.scatter, groups, size)
        cols = np.append(self.comp.parents[j], j)
        return n_u, mean_u[:, cols], scat_u[:, cols[:, None], cols[None, :]]


def _solve(s_pp: np.ndarray, s_pj: np.ndarray) -> np.ndarray:
    """Least-squares weights per configuration (minimum norm where singular)."""
    if s_pp.shape[-1] == 0:
        return np.zeros(s_pj.shape)
    try:
        beta = np.linalg.solve(s_pp, s_pj[..., None])[..., 0]
        if np.isfinite(beta).all():
            return beta
    except np.linalg.LinAlgError:
        pass  # singular: collinear or constant parents
    return np.einsum("...ij,...j->...i", np.linalg.pinv(s_pp, hermitian=True), s_pj)


def _rss(beta: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Residual sums of squares about the best intercept, for weights ``beta``."""
    s_pp, s_pj, s_jj = s[..., :-1, :-1], s[..., :-1, -1], s[..., -1, -1]
    return np.maximum(s_jj - 2.0 * np.einsum("...p,...p->...", beta, s_pj)
                      + np.einsum("...p,...pq,...q->...", beta, s_pp, beta), 0.0)


def maximize_blocks(structure: Structure, moments: tuple, previous: Mapping, new: dict,
                    constraints: Constraints, min_variance: float
                    ) -> tuple[dict, list, list]:
    """``new`` (the unconstrained M-step's CPDs) with every shared or tied Gaussian
    node refitted; also the ``(node, configuration)`` whose variance was floored, and
    those without weight (their previous parameters kept)."""
    stats: dict[str, _Stats] = {}
    for comp, mom in zip(structure.components, moments):
        st = None
        for node in comp.nodes:
            if node in constraints.tied or constraints.group_of(node) is not None:
                st = st or _Stats(comp, mom, previous)
                stats[node] = st
    out, floored, empty = dict(new), [], []
    for node in constraints.tied:
        if node in stats and not constraints.is_fixed(node):
            out[node], low, unseen = _tied(node, stats[node], previous[node], min_variance)
            floored += [(node, int(u)) for u in low]
            empty += [(node, int(u)) for u in unseen]
    for name, members in constraints.shared.items():
        if members[0] not in stats or constraints.is_fixed(members[0]):
            continue
        fit = _shared_all if constraints.shares_all(name) else _shared_variance
        cpds, low, unseen = fit(members, stats, previous, out, min_variance)
        out.update(cpds)
        floored += [(m, int(u)) for m in members for u in low]
        empty += [(m, int(u)) for m in members for u in unseen]
    return out, floored, empty


def _tied(node: str, st: _Stats, old: GaussianCPD,
          min_variance: float) -> tuple[GaussianCPD, np.ndarray, np.ndarray]:
    """The node's CPD, its floored configurations and those without weight."""
    g = old.intercept.size
    n_u, mean_u, scat_u = st.of(node, g)
    n = n_u.sum()
    if not n > 0:
        return old, np.zeros(0, dtype=int), np.arange(g)
    within = scat_u.sum(axis=0)
    beta = _solve(within[:-1, :-1], within[:-1, -1])
    previous = old.weights.reshape(g, -1)[0]
    rss, rss_old = _rss(beta, within), _rss(previous, within)
    if rss_old < rss:  # round-off: never a worse regression than the one held
        beta, rss = previous, rss_old
    var = float(map_variance(np.asarray(rss), np.asarray(n), min_variance))
    low = not var >= min_variance
    var = float(min_variance) if low else var
    ok = n_u > 0
    b0 = np.where(ok, mean_u[:, -1] - mean_u[:, :-1] @ beta, old.intercept.ravel())
    shape = old.mean_shape
    return GaussianCPD.fitted(old, b0.reshape(shape),
                              np.broadcast_to(beta, (g, beta.size)).reshape(old.weights.shape)
                              .copy(), np.full(shape, float(var))), \
        np.arange(g)[ok] if low else np.zeros(0, dtype=int), np.flatnonzero(~ok)


def _pooled_members(members: tuple, stats: dict, g: int) -> tuple:
    """The members' ``[parents, node]`` statistics merged per configuration."""
    parts = [stats[m].of(m, g) for m in members]
    n_all = np.concatenate([p[0] for p in parts])
    mean_all = np.concatenate([p[1] for p in parts])
    scat_all = np.concatenate([p[2] for p in parts])
    groups = np.tile(np.arange(g), len(members))
    return pool(n_all, mean_all, scat_all, groups, g)


def _shared_all(members: tuple, stats: dict, previous: Mapping, new: dict,
                min_variance: float) -> tuple[dict, np.ndarray, np.ndarray]:
    first = previous[members[0]]
    g = first.intercept.size
    n_u, mean_u, scat_u = _pooled_members(members, stats, g)
    beta = _solve(scat_u[:, :-1, :-1], scat_u[:, :-1, -1])
    old_beta = first.weights.reshape(g, -1)
    rss, rss_old = _rss(beta, scat_u), _rss(old_beta, scat_u)
    worse = rss_old < rss
    beta = np.where(worse[:, None], old_beta, beta)
    rss = np.where(worse, rss_old, rss)
    ok = n_u > 0
    var = np.where(ok, map_variance(rss, np.where(ok, n_u, 1.0), min_variance),
                   first.variance.ravel())
    low = ok & ~(var >= min_variance)
    var = np.where(low, min_variance, var)
    b0 = np.where(ok, mean_u[:, -1] - np.einsum("gp,gp->g", beta, mean_u[:, :-1]),
                  first.intercept.ravel())
    beta = np.where(ok[:, None], beta, old_beta)
    out = {}
    for m in members:
        old = previous[m]
        out[m] = GaussianCPD.fitted(old, b0.reshape(old.mean_shape).copy(),
                                    beta.reshape(old.weights.shape).copy(),
                                    var.reshape(old.mean_shape).copy())
    return out, np.flatnonzero(low), np.flatnonzero(~ok)


def _shared_variance(members: tuple, stats: dict, previous: Mapping, new: dict,
                     min_variance: float) -> tuple[dict, np.ndarray, np.ndarray]:
    """Each member's own regression (a member without continuous parents: its mean,
    fitted here, the unconstrained M-step having skipped it), one variance."""
    g = previous[members[0]].intercept.size
    n_tot, rss_tot = np.zeros(g), np.zeros(g)
    intercepts = {}
    for m in members:
        n_u, mean_u, scat_u = stats[m].of(m, g)
        n_tot += n_u
        if previous[m].continuous_parents:
            rss_tot += _rss(new[m].weights.reshape(g, -1), scat_u)
        else:
            rss_tot += np.maximum(scat_u[:, 0, 0], 0.0)
            intercepts[m] = np.where(n_u > 0, mean_u[:, 0], previous[m].intercept.ravel())
    ok = n_tot > 0
    var = np.where(ok, map_variance(rss_tot, np.where(ok, n_tot, 1.0), min_variance),
                   previous[members[0]].variance.ravel())
    low = ok & ~(var >= min_variance)
    var = np.where(low, min_variance, var)
    out = {}
    for m in members:
        cpd = new[m]
        b0 = intercepts[m].reshape(cpd.mean_shape) if m in intercepts else cpd.intercept
        out[m] = GaussianCPD.fitted(cpd, b0, cpd.weights, var.reshape(cpd.mean_shape).copy())
    return out, np.flatnonzero(low), np.flatnonzero(~ok)


def project_blocks(gaussians: Mapping, constraints: Constraints) -> dict:
    """``gaussians`` made to satisfy the blocks (a start, or an extrapolated point):
    a shared group takes its first member's CPD (or variance); a tied node the mean of
    its weights and of its variances over the configurations."""
    out = dict(gaussians)
    for name, members in constraints.shared.items():
        if members[0] not in out:
            continue
        first = out[members[0]]
        for m in members[1:]:
            cpd = out[m]
            if constraints.shares_all(name):
                out[m] = GaussianCPD.fitted(cpd, first.intercept.copy(), first.weights.copy(),
                                            first.variance.copy())
            else:
                out[m] = GaussianCPD.fitted(cpd, cpd.intercept, cpd.weights,
                                            first.variance.copy())
    for node in constraints.tied:
        cpd = out[node]
        weights, variance = tied_regression(cpd)
        if weights is not cpd.weights:
            out[node] = GaussianCPD.fitted(cpd, cpd.intercept, weights, variance)
    return out
