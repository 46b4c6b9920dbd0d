"""Continuous components of hybrid networks (inference layer).

A *component* is a set of Gaussian nodes connected by continuous edges. Its
*interface* is the set of discrete parents of its nodes. Given the interface's
configuration ``d`` the component is one joint Gaussian ``N(mu_d, Sigma_d)``
(conditional linear Gaussian CPDs compose linearly), so in every row:

* the observed coordinates contribute the factor ``N(x_o; mu_d[o], Sigma_d[o, o])``
  over the interface: a per-row table that the discrete clique tree multiplies in
  like any other factor (missing coordinates are marginalised exactly);
* the missing coordinates have the conditional mean and covariance given ``x_o``,
  which the M-step needs as expected sufficient statistics.

Rows are grouped by which of the component's coordinates are observed; each group
costs one batched Cholesky over the interface configurations and a few matrix
products, whatever its number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOG_2PI = math.log(2 * math.pi)


@dataclass(frozen=True)
class Component:
    """Parameter-independent description of one continuous component.

    ``nodes`` are in topological order; ``columns`` are their positions among the
    network's continuous nodes; ``scope`` the sorted discrete ids of the interface
    (C order over ``scope_cards``, last fastest). For node ``j``: ``parents[j]`` are
    the positions (within the component) of its continuous parents and
    ``config_of[j]`` maps each interface configuration to the index of the node's
    own discrete-parent configuration.
    """

    nodes: tuple
    columns: np.ndarray
    scope: tuple
    scope_cards: tuple
    parents: tuple
    config_of: tuple

    @property
    def size(self) -> int:
        return int(math.prod(self.scope_cards))

    @property
    def m(self) -> int:
        return len(self.nodes)


def components(network) -> tuple:
    """The continuous components of ``network`` (empty for a discrete network)."""
    cont = network.continuous_nodes
    if not cont:
        return ()
    col = {c: j for j, c in enumerate(cont)}
    root = {c: c for c in cont}

    def find(c):
        while root[c] != c:
            root[c] = root[root[c]]
            c = root[c]
        return c

    for c in cont:
        for p in network.parents(c):
            if p in col:
                root[find(p)] = find(c)
    groups = {}
    for c in network.topological_order:
        if c in col:
            groups.setdefault(find(c), []).append(c)
    out = []
    for nodes in groups.values():
        scope = sorted({network.discrete_index(p) for c in nodes
                        for p in network.cpd(c).discrete_parents})
        cards = tuple(int(network.cards[v]) for v in scope)
        configs = np.indices(cards).reshape(len(cards), -1) if cards else np.zeros((0, 1), int)
        pos = {c: j for j, c in enumerate(nodes)}
        parents, config_of = [], []
        for c in nodes:
            cpd = network.cpd(c)
            parents.append(np.array([pos[p] for p in cpd.continuous_parents], dtype=np.int64))
            dp = [scope.index(network.discrete_index(p)) for p in cpd.discrete_parents]
            if dp:
                config_of.append(np.ravel_multi_index(tuple(configs[dp]), cpd.mean_shape))
            else:
                config_of.append(np.zeros(configs.shape[1], dtype=np.int64))
        out.append(Component(tuple(nodes), np.array([col[c] for c in nodes], dtype=np.int64),
                             tuple(scope), cards, tuple(parents), tuple(config_of)))
    return tuple(out)


def regression_arrays(comp: Component, cpds: dict):
    """Per interface configuration: intercepts ``(K, m)``, weights ``(K, m, m)``
    (``B[d, j, k]`` is node j's coefficient on node k) and variances ``(K, m)``."""
    k, m = comp.size, comp.m
    b0 = np.empty((k, m))
    var = np.empty((k, m))
    weights = np.zeros((k, m, m))
    for j, node in enumerate(comp.nodes):
        cpd = cpds[node]
        cfg = comp.config_of[j]
        b0[:, j] = cpd.intercept.reshape(-1)[cfg]
        var[:, j] = cpd.variance.reshape(-1)[cfg]
        if comp.parents[j].size:
            weights[:, j, comp.parents[j]] = cpd.weights.reshape(-1, comp.parents[j].size)[cfg]
    return b0, weights, var


def joint(comp: Component, cpds: dict):
    """Mean ``(K, m)`` and covariance ``(K, m, m)`` of the component given each
    interface configuration: ``x = b0 + B x + e`` so ``x = A (b0 + e)``, ``A = (I - B)^-1``."""
    b0, weights, var = regression_arrays(comp, cpds)
    eye = np.broadcast_to(np.eye(comp.m), weights.shape)
    a = np.linalg.solve(eye - weights, eye)
    mean = np.einsum("kij,kj->ki", a, b0)
    cov = np.einsum("kij,kj,klj->kil", a, var, a)
    cov = 0.5 * (cov + cov.transpose(0, 2, 1))
    return mean, cov


@dataclass
class Pattern:
    """Rows of a chunk sharing which coordinates of a component are observed."""

    rows: np.ndarray   # chunk-local rows
    obs: np.ndarray    # observed positions within the component
    mis: np.ndarray    # missing positions


@dataclass
class ComponentSlice:
    """A component's data in one chunk (parameter independent)."""

    values: np.ndarray     # (n, m) the component's columns, NaN = missing
    patterns: list         # Pattern per observed/missing combination
    scope_config: np.ndarray  # (n,) interface configuration if all observed, else -1
    consistent: np.ndarray | None  # (n, K) configurations agreeing with observed members


def slice_component(comp: Component, codes: np.ndarray, values: np.ndarray) -> ComponentSlice:
    """Group a chunk's rows by missing pattern and locate their interface states."""
    x = values[:, comp.columns]
    mis = np.isnan(x)
    n, m = x.shape
    keys = mis.astype(np.int64) @ (np.int64(1) << np.arange(m, dtype=np.int64)) if m < 63 else \
        np.unique(np.packbits(mis, axis=1), axis=0, return_inverse=True)[1].ravel()
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    patterns = []
    for grp in np.split(order, bounds):
        if grp.size == 0:
            continue
        miss = mis[grp[0]]
        patterns.append(Pattern(np.sort(grp), np.flatnonzero(~miss), np.flatnonzero(miss)))
    sc = codes[:, list(comp.scope)].astype(np.int64) if comp.scope else np.zeros((n, 0), np.int64)
    seen = (sc >= 0).all(axis=1)
    config = np.full(n, -1, dtype=np.int64)
    if comp.scope:
        config[seen] = np.ravel_multi_index(tuple(sc[seen].T), comp.scope_cards)
    else:
        config[:] = 0
    consistent = None
    if comp.scope and not seen.all():
        grid = np.indices(comp.scope_cards).reshape(len(comp.scope), -1)  # (|scope|, K)
        consistent = ((sc[:, :, None] < 0) | (sc[:, :, None] == grid[None])).all(axis=1)
    return ComponentSlice(x, patterns, config, consistent)


def log_density_table(cs: ComponentSlice, mean, cov, keep_moments: bool):
    """Per row and interface configuration, log N(x_o; mean[o], cov[o, o]).

    Returns ``(table (n, K), moments)``; with ``keep_moments``, ``moments`` holds per
    pattern the deviations of the completed rows from ``mean`` (observed values, and
    conditional means for missing ones), ``(K, n_p, m)``, and the conditional
    covariance of the missing block ``(K, |mis|, |mis|)``: what the M-step needs.
    """
    n = cs.values.shape[0]
    k = mean.shape[0]
    table = np.zeros((n, k))
    moments = []
    for p in cs.patterns:
        o, h = p.obs, p.mis
        dev = np.empty((k, p.rows.size, mean.shape[1])) if keep_moments else None
        if o.size:
            chol = np.linalg.cholesky(cov[np.ix_(range(k), o, o)])
            eye = np.broadcast_to(np.eye(o.size), chol.shape)
            inv_chol = np.linalg.solve(chol, eye)       # (K, |o|, |o|), lower triangular
            diff = cs.values[p.rows][:, o][None] - mean[:, None, o]     # (K, n_p, |o|)
            z = np.matmul(diff, inv_chol.transpose(0, 2, 1))
            logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
            table[p.rows] = (-0.5 * (o.size * LOG_2PI + logdet[:, None]
                                     + np.einsum("knj,knj->kn", z, z))).T
        if not keep_moments:
            continue
        cond = None
        if o.size:
            dev[:, :, o] = diff
        if h.size:
            s_ho = cov[np.ix_(range(k), h, o)]
            if o.size:
                gain = np.matmul(s_ho, inv_chol.transpose(0, 2, 1))       # (K, |h|, |o|)
                dev[:, :, h] = np.matmul(z, gain.transpose(0, 2, 1))
                cond = cov[np.ix_(range(k), h, h)] - np.matmul(gain, gain.transpose(0, 2, 1))
            else:
                dev[:, :, h] = 0.0
                cond = cov[np.ix_(range(k), h, h)].copy()
        moments.append((p, dev, cond))
    return table, moments


def accumulate_moments(moments, resp, m: int):
    """Weighted moment sums about the current means from per-pattern deviations.

    ``resp`` is ``(n, K)``: each row's weight times its posterior over interface
    configurations. Returns ``N (K,)``, ``M1 (K, m)`` and ``M2 (K, m, m)`` with
    ``M1 = sum r (x - mean)`` and ``M2 = sum r [(x - mean)(x - mean)^T + Cov(x | row)]``.
    """
    k = resp.shape[1]
    n_k = resp.sum(axis=0)
    m1 = np.zeros((k, m))
    m2 = np.zeros((k, m, m))
    for p, dev, cond in moments:
        r = resp[p.rows].T                       # (K, n_p)
        weighted = dev * r[:, :, None]
        m1 += weighted.sum(axis=1)
        m2 += np.matmul(weighted.transpose(0, 2, 1), dev)
        if cond is not None:
            m2[np.ix_(range(k), p.mis, p.mis)] += r.sum(axis=1)[:, None, None] * cond
    return n_k, m1, m2
