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

from .._validation import all_finite
from ..errors import BnemValueError, DataError, NetworkError
from ..inference.gaussian import Component, joint_factors
from ..inference.stats import Moments
from ..inference.structure import Structure
from ..network.gaussian import GaussianCPD
from .gaussian_chain import chain_fits, is_chain
from .gaussian_roundoff import (COLLINEAR, EPS, TINY, estep_slack, map_variance,
                               mean_is_vague, residual_error, roundoff_slack, scatter_noise,
                               weight_precision)


def maximize_gaussians(structure: Structure, moments: tuple, previous: Mapping,
                       min_variance: float, skip: frozenset = frozenset()
                       ) -> tuple[dict, list, list, list, list, float]:
    """New GaussianCPDs of every component (but those numbered in ``skip``, which keep
    ``previous``'s: refitted by another M-step) from the moments of an E-step at the
    ``previous`` CPDs (the moments are about the means those CPDs give).

    Returns ``(cpds, floored, empty, collinear, imprecise, slack)`` as
    :func:`maximize_component` (the slacks summed).
    """
    new = dict(previous)
    lists: tuple[list, list, list, list] = ([], [], [], [])
    slack = 0.0
    for c, (comp, st) in enumerate(zip(structure.components, moments)):
        if c in skip:
            continue
        centres = st.centre if st.centre is not None else joint_factors(comp, previous).mean
        cpds, *found, sl = maximize_component(comp, st, centres, previous, min_variance)
        new.update(cpds)
        for listed, more in zip(lists, found):
            listed += more
        slack += sl
    floored, empty, collinear, imprecise = (sorted(set(x)) for x in lists)
    return new, floored, empty, collinear, imprecise, slack


def moments_to_scatter(stats: Moments,
                       centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per interface configuration: weight, mean and scatter about the mean."""
    n_k, m1, m2 = stats.n, stats.m1, stats.m2
    safe = np.where(n_k > 0, n_k, 1.0)
    mean = centres + m1 / safe[:, None]
    scatter = m2 - (m1 / safe[:, None])[:, :, None] * m1[:, None, :]  # (no m1^2: huge
    # row weights would overflow it where every moment is representable)
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


def _regress(s_pp, s_pj, s_jj, n_u, noise_p, previous, lam=0.0):
    """Weighted least squares from scatter matrices, per configuration.

    Returns the coefficients ``beta (G, p)`` and the residual sums of squares
    ``S_jj - 2 beta.S_pj + beta' S_pp beta`` (valid for any ``beta`` with the best
    intercept, and non-negative, unlike the shortcut ``S_jj - beta.S_pj``).

    A parent that does not vary in a configuration beyond round-off (its scatter not
    above ``noise_p``, the round-off of its sums, see :func:`scatter_noise`; or zero)
    gets coefficient 0: any coefficient would only fit round-off. The others are solved
    on their correlation scale by a symmetric eigendecomposition, ignoring directions
    with eigenvalues below ``COLLINEAR`` times the largest (collinear parents share
    their effect: the minimum-norm solution). Finally, where the ``previous``
    coefficients leave a smaller residual, they are kept, so the M-step never lowers
    the expected log-likelihood.

    Also returns, per configuration, whether an ignored direction carried signal (it
    would have explained more than 1e-6 of the residual): the caller warns.

    With ``lam > 0`` (the weight prior's precision) it is ridge regression: ``lam`` is
    added to ``S_pp``'s diagonal, which is then scaled to a unit diagonal (so a parent
    of small spread does not swamp the others' directions), and the residual returned,
    and compared with the previous coefficients', is the penalised
    ``RSS + lam |beta|^2``.
    """
    p = s_pj.shape[1]
    diag = np.diagonal(s_pp, axis1=1, axis2=2)
    keep = (diag > noise_p) & (diag > 0)
    # (with the prior, scaled by the diagonal of S_pp + lam I: a unit diagonal again)
    scale = np.where(keep, np.sqrt(np.where(keep, diag + lam if lam else diag, 1.0)), 1.0)
    corr = s_pp / (scale[:, :, None] * scale[:, None, :])
    corr = np.where(keep[:, :, None] & keep[:, None, :], corr, np.eye(p))
    if lam:
        corr = corr + np.eye(p) * np.where(keep, lam / (scale * scale), 0.0)[:, None, :]
    rhs = np.where(keep, s_pj / scale, 0.0)
    w, v = np.linalg.eigh(corr)
    big = w > COLLINEAR * w.max(axis=1, keepdims=True)
    inv_w = np.where(big, 1.0 / np.where(big, w, 1.0), 0.0)
    along = np.einsum("gij,gi->gj", v, rhs)
    proj = along * inv_w
    beta = np.einsum("gij,gj->gi", v, proj) / scale
    rss = _rss(beta, s_pp, s_pj, s_jj)
    rss_old = _rss(previous, s_pp, s_pj, s_jj)
    if lam:  # (only then: 0 * an overflowed |beta|^2 would be NaN)
        rss = rss + lam * np.einsum("gp,gp->g", beta, beta)
        rss_old = rss_old + lam * np.einsum("gp,gp->g", previous, previous)
    worse = rss_old < rss
    # a direction's eigenvalue is only known to about p * eps of the largest (p the
    # node's own parents, not the batch's padded width): below that, even negative, it
    # is zero, and its share of the residual is round-off
    own = np.maximum(keep.sum(axis=1, keepdims=True), 1)
    floor = own * EPS * w.max(axis=1, keepdims=True)
    lost = np.where(big, 0.0, along * along / np.maximum(w, np.maximum(floor, TINY))).sum(axis=1)
    collinear = lost > 1e-6 * np.maximum(rss, TINY)
    return np.where(worse[:, None], previous, beta), np.where(worse, rss_old, rss), collinear


def _rss(beta, s_pp, s_pj, s_jj):
    return s_jj - 2.0 * np.einsum("gp,gp->g", beta, s_pj) + \
        np.einsum("gp,gpq,gq->g", beta, s_pp, beta)


PAD_CELLS = 1 << 16  # a batch may pad its parents' matrices up to this many cells in all,
                     # or up to twice its unpadded cells, whichever is more


def maximize_component(comp: Component, stats: Moments, centres: np.ndarray, previous: Mapping,
                       min_variance: float) -> tuple[dict, list, list, list, list, float]:
    """New GaussianCPDs of one component.

    Nodes are regressed in batches (:func:`_batches`): within a batch each node's
    continuous parents are gathered into the first slots of the batch's widest node;
    the empty slots have no variance, so :func:`_regress` gives them coefficient 0 as
    it does a constant parent. The nodes with continuous parents of a small mixture make
    one batch (one eigen-solve call); padding never takes more than twice the unpadded
    cells beyond ``PAD_CELLS`` (in eigen-solve flops, at most about 2.8 times).

    Returns ``(cpds, floored, empty, collinear, imprecise, slack)``: lists of ``(node,
    configuration index)`` whose variance hit ``min_variance``, whose weight was zero
    (those keep their previous parameters), whose continuous parents were too
    collinear for part of their effect to be estimated, or whose variance is not known
    to one digit (below the round-off of its sums: a column that is a linear function
    of its parents); and how far round-off can leave the expected log-likelihood below
    its maximum in the other configurations (:func:`roundoff_slack`).
    """
    n_k, mean, scatter = moments_to_scatter(stats, centres)
    _check_finite(comp, n_k, mean, scatter)
    cancelled = n_k[:, None] * (mean - centres) ** 2  # what M2 - M1^2 / N cancels
    overall = (n_k @ mean) / max(float(n_k.sum()), TINY)  # ~ where the E-step centres data
    olds = [previous[node] for node in comp.nodes]
    sizes = [old.intercept.size for old in olds]
    moments = (n_k, mean, scatter, cancelled, overall)
    chain = chain_fits(moments, olds, min_variance) \
        if is_chain(comp) and not weight_precision(min_variance) else None
    if chain is not None:  # a full-covariance component, well conditioned: one factor
        fits, slack = chain
    else:
        fits, slack = {}, 0.0
        for nodes in _batches([p.size for p in comp.parents], sizes):
            found, batch_slack = _fit_batch(comp, nodes, moments, olds, sizes, min_variance)
            fits.update(found)
            slack += batch_slack
    cpds: dict[str, GaussianCPD] = {}
    notes: tuple[list, list, list, list] = ([], [], [], [])
    for j, (node, old) in enumerate(zip(comp.nodes, olds)):
        ok, b0, beta, var, low, lost, vague = fits[j]
        if chain is not None:  # every configuration fitted, none collinear or imprecise,
            notes[0].extend((node, int(u)) for u in np.flatnonzero(low))  # values checked
            shape = old.mean_shape
            cpds[node] = GaussianCPD.fitted(old, b0.reshape(shape),
                                            beta.reshape(shape + (beta.shape[1],)),
                                            var.reshape(shape))
            continue
        if (low | lost | vague).any() or not ok.all():
            for flags, listed in zip((low, ~ok, lost & ok, vague & ok), notes):
                listed.extend((node, int(u)) for u in np.flatnonzero(flags))
        cpds[node] = _new_cpd(old, ok, b0, beta, var)
    return (cpds,) + notes + (slack,)


def _batches(counts: list[int], sizes: list[int]) -> list[list[int]]:
    """Nodes grouped for :func:`_fit_batch`, by increasing parent count: a node joins
    the current batch while the padded cells (configurations x widest parents
    squared) stay within twice the unpadded ones or ``PAD_CELLS`` (so nodes without
    continuous parents join a wide node only when that is cheap)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for j in sorted(range(len(counts)), key=counts.__getitem__):
        trial = current + [j]
        padded = sum(sizes[i] for i in trial) * counts[j] ** 2
        exact = sum(sizes[i] * counts[i] ** 2 for i in trial)
        if current and padded > max(2 * exact, PAD_CELLS):
            batches.append(current)
            trial = [j]
        current = trial
    return [b for b in batches + [current] if b]


def _fit_batch(comp: Component, nodes: list[int], moments: tuple, olds: list,
               sizes: list[int], min_variance: float) -> tuple[dict, float]:
    """Per node of the batch, per own configuration: ``(has weight, intercepts,
    coefficients, variances, variance held at its floor, collinear)``; and the batch's
    round-off slack (:func:`roundoff_slack`); ``imprecise`` flags where it could not
    be counted. ``moments``: ``(N, mean, scatter, cancelled)`` per interface
    configuration, and the component's overall mean.

    A residual sum of squares is known to ``err`` only: the magnitude of the terms
    :func:`_rss` adds, times ``8 (p + 1) eps`` (``p`` the node's continuous parents)."""
    width = max(comp.parents[j].size for j in nodes)
    slots = np.zeros((len(nodes), width), dtype=np.intp)
    filled = np.zeros((len(nodes), width), dtype=bool)
    prev = []
    for i, j in enumerate(nodes):
        slots[i, :comp.parents[j].size] = comp.parents[j]
        filled[i, :comp.parents[j].size] = True
        w = np.zeros((sizes[j], width))
        w[:, :comp.parents[j].size] = olds[j].weights.reshape(sizes[j], -1)
        prev.append(w)
    n_u, s_pp, s_pj, s_jj, mean_p, mean_j, noise_p, c_p, c_j = _stacked(
        comp, nodes, moments, sizes, slots, filled)
    own_row = np.repeat(np.arange(len(nodes)), [sizes[j] for j in nodes])  # stack -> batch row
    if width:
        beta, resid, lost = _regress(s_pp, s_pj, s_jj, n_u, noise_p, np.concatenate(prev),
                                     weight_precision(min_variance))
    else:
        beta, resid, lost = np.zeros((s_jj.size, 0)), s_jj, np.zeros(s_jj.size, dtype=bool)
    b0 = mean_j - np.einsum("kp,kp->k", beta, mean_p)
    ok = n_u > 0
    var = np.where(ok, map_variance(resid, np.where(ok, n_u, 1.0), min_variance,
                                    filled.sum(axis=1)[own_row]), 1.0)
    low = ok & ~(var >= min_variance)
    var = np.where(low, min_variance, var)
    err = residual_error(s_jj, np.einsum("gp,gp->g", beta, s_pj),
                         np.einsum("gp,gpq,gq->g", beta, s_pp, beta), c_j,
                         np.einsum("gp,gp->g", np.abs(beta), c_p), filled.sum(axis=1)[own_row])
    # judged at the variance used: a floor above round-off makes it exact enough
    slack, vague = roundoff_slack(np.where(ok, n_u, 0.0), np.where(ok, n_u * var, 1.0), err)
    node_of, par_of = np.array(nodes)[own_row], np.where(filled, slots, -1)[own_row]
    slack += estep_slack(np.where(ok & ~vague, n_u, 0.0), var, beta, mean_j, mean_p,
                          moments[4], node_of, par_of)
    vague = vague | mean_is_vague(b0, beta, mean_p, var)  # reported, not in the slack
    out, start = {}, 0
    for j in nodes:
        at = slice(start, start + sizes[j])
        out[j] = (ok[at], b0[at], beta[at, :comp.parents[j].size], var[at], low[at], lost[at],
                  vague[at])
        start += sizes[j]
    return out, slack


def _new_cpd(old: GaussianCPD, ok: np.ndarray, b0: np.ndarray, beta: np.ndarray,
             var: np.ndarray) -> GaussianCPD:
    """The node's new CPD; configurations without weight keep ``old``'s parameters."""
    n, shape = ok.size, old.mean_shape
    if not ok.all():
        b0 = np.where(ok, b0, old.intercept.ravel())
        beta = np.where(ok[:, None], beta, old.weights.reshape(n, -1))
        var = np.where(ok, var, old.variance.ravel())
    if not (all_finite(b0, beta, var) and var.min() > 0):
        _check_variance(old.node, var)
        raise NetworkError(f"the M-step of {old.node!r} gave a non-finite intercept, "
                           "weight or variance from finite data. This is a bug in bnem; "
                           "please report it with the network and data.")
    return GaussianCPD.fitted(old, b0.reshape(shape), beta.reshape(shape + (beta.shape[1],)),
                              var.reshape(shape))


def _stacked(comp: Component, nodes: list[int], moments: tuple, sizes: list,
             slots: np.ndarray, filled: np.ndarray) -> tuple:
    """The regression inputs of ``nodes`` (parents at ``slots`` where ``filled``, one
    row per node), their own configurations stacked node after node: ``n_u (G,)``,
    ``S_pp (G, p, p)``, ``S_pj (G, p)``, ``S_jj (G,)``, the means of parents and
    node, the parents' scatter round-off (:func:`scatter_noise`), and the square roots
    of what the scatter sums cancelled for parents and node (empty slots hold zeros).
    Nodes with the same discrete-parent grouping share one pooling (none at all for a
    node whose discrete parents are the whole interface, as in a mixture) and one
    gather."""
    by_groups: dict = {}
    for i, j in enumerate(nodes):
        by_groups.setdefault((sizes[j], comp.config_of[j].tobytes()), []).append(i)
    parts: dict = {}
    n_k, mean, scatter, cancelled = moments[:4]
    for (size, _), rows in by_groups.items():
        groups = comp.config_of[nodes[rows[0]]]
        if size == n_k.size and np.array_equal(groups, np.arange(size)):
            n_u, mean_u, scat, canc = n_k, mean, scatter, cancelled
        else:
            n_u, mean_u, scat = pool(n_k, mean, scatter, groups, size)
            canc = np.stack([np.bincount(groups, weights=c, minlength=size)
                             for c in cancelled.T], axis=1)
        noise = scatter_noise(n_u, np.diagonal(scat, axis1=1, axis2=2), mean_u, canc)
        js = np.array([nodes[i] for i in rows], dtype=np.intp)
        sl, mk = slots[rows], filled[rows]                      # (J, p)
        s_pp = np.where(mk[:, :, None] & mk[:, None, :], scat[:, sl[:, :, None], sl[:, None, :]],
                        0.0)
        s_pj = np.where(mk, scat[:, sl, js[:, None]], 0.0)      # (G, J, p)
        m_p = np.where(mk, mean_u[:, sl], 0.0)
        z_p = np.where(mk, noise[:, sl], 0.0)
        root = np.sqrt(canc)
        c_p = np.where(mk, root[:, sl], 0.0)
        for r, (i, j) in enumerate(zip(rows, js)):
            parts[i] = (n_u, s_pp[:, r], s_pj[:, r], scat[:, j, j].copy(), m_p[:, r],
                        mean_u[:, j].copy(), z_p[:, r], c_p[:, r],
                        root[:, j].copy())  # copies: the pooled scatter can go
    ordered = [parts[i] for i in range(len(nodes))]
    return tuple(np.concatenate(a) for a in zip(*ordered))


def _check_finite(comp: Component, n_k: np.ndarray, mean: np.ndarray,
                  scatter: np.ndarray) -> None:
    """Refuse moment sums that overflowed (values or row weights near the float
    range's square root): every parameter fitted from them would be meaningless."""
    if all_finite(n_k, mean, scatter):
        return
    raise DataError(
        f"the weighted sums of squares of {list(comp.nodes)} overflow the float range: "
        f"the values are too large for their row weights (weights summing to "
        f"{float(n_k.sum()):.3g}). Rescale those columns (e.g. to other units), "
        "or the weights (divide them all by the same factor).")


def _check_variance(node: str, var: np.ndarray) -> None:
    if not (var > 0).all():
        u = int(np.flatnonzero(~(var > 0))[0])
        raise BnemValueError(
            f"the conditional variance of {node!r} (configuration {u} of its discrete "
            f"parents) collapsed to {var[u]:.3g}: its data are explained exactly (too few "
            "rows for the configuration, or a duplicated column). Use min_variance > 0 "
            "(e.g. 1e-6), fewer components, or more data.")
