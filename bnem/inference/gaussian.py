"""Continuous components of hybrid networks (inference layer).

A *component* is a set of Gaussian nodes connected by continuous edges. Its
*interface* is the set of discrete parents of its nodes; components with the same
interface are merged (independent given it, their joint is block diagonal), so a
diagonal Gaussian mixture is one component, not one per column. Given the interface's
configuration ``d`` the component is one joint Gaussian ``N(mu_d, Sigma_d)``
(conditional linear Gaussian CPDs compose linearly), so in every row:

* the observed coordinates contribute the factor ``N(x_o; mu_d[o], Sigma_d[o, o])``
  over the interface: a per-row table that the discrete clique tree multiplies in
  like any other factor (missing coordinates are marginalised exactly);
* the missing coordinates have the conditional mean and covariance given ``x_o``,
  which the M-step needs as expected sufficient statistics.

Rows are grouped by which of the component's coordinates are observed; each group
costs one batched factorisation over the interface configurations (from the
regressions' triangular factor, shared by every chunk of the E-step) and a few
matrix products, whatever its number of rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..ragged import pattern_keys
from .gaussian_ragged import ragged_groups

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

    @property
    def independent(self) -> bool:
        """Whether no node has a continuous parent (diagonal covariances)."""
        return all(p.size == 0 for p in self.parents)

    @cached_property
    def is_chain(self) -> bool:
        """Whether node ``j`` has exactly the nodes before it as continuous parents and
        the whole interface, in order, as its own configurations (a full-covariance
        component; computed once, as the M-step asks at every iteration)."""
        whole = np.arange(self.size)
        return all(p.size == j and np.array_equal(p, np.arange(j))
                   for j, p in enumerate(self.parents)) \
            and all(np.array_equal(c, whole) for c in self.config_of)


def components(network: "BayesianNetwork") -> tuple:
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
    connected: dict[str, list[str]] = {}
    for c in network.topological_order:
        if c in col:
            connected.setdefault(find(c), []).append(c)
    groups: dict[tuple, list[str]] = {}  # connected groups merged by interface
    for nodes in connected.values():
        scope = tuple(sorted({network.discrete_index(p) for c in nodes
                              for p in network.cpd(c).discrete_parents}))
        groups.setdefault(scope, []).extend(nodes)
    out = []
    for scope, nodes in groups.items():
        order = {c: i for i, c in enumerate(network.topological_order)}
        nodes = sorted(nodes, key=order.__getitem__)
        scope_ids = list(scope)
        cards = tuple(int(network.cards[v]) for v in scope_ids)
        configs = np.indices(cards).reshape(len(cards), -1) if cards else np.zeros((0, 1), int)
        pos = {c: j for j, c in enumerate(nodes)}
        parents, config_of = [], []
        for c in nodes:
            cpd = network.cpd(c)
            parents.append(np.array([pos[p] for p in cpd.continuous_parents], dtype=np.int64))
            dp = [scope_ids.index(network.discrete_index(p)) for p in cpd.discrete_parents]
            if dp:
                config_of.append(np.ravel_multi_index(tuple(configs[dp]), cpd.mean_shape))
            else:
                config_of.append(np.zeros(configs.shape[1], dtype=np.int64))
        out.append(Component(tuple(nodes), np.array([col[c] for c in nodes], dtype=np.int64),
                             tuple(scope_ids), cards, tuple(parents), tuple(config_of)))
    return tuple(out)


def regression_arrays(comp: Component, cpds: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per interface configuration: intercepts ``(K, m)``, weights ``(K, m, m)``
    (``B[d, j, k]`` is node j's coefficient on node k) and variances ``(K, m)``."""
    k, m = comp.size, comp.m
    b0 = np.empty((k, m))
    var = np.empty((k, m))
    weights = np.zeros((k, m, m))
    chain = comp.is_chain  # then no gathers: configurations and parents in order
    for j, node in enumerate(comp.nodes):
        cpd = cpds[node]
        if chain:
            b0[:, j] = cpd.intercept.reshape(-1)
            var[:, j] = cpd.variance.reshape(-1)
            weights[:, j, :j] = cpd.weights.reshape(k, j)
            continue
        cfg = comp.config_of[j]
        b0[:, j] = cpd.intercept.reshape(-1)[cfg]
        var[:, j] = cpd.variance.reshape(-1)[cfg]
        if comp.parents[j].size:
            weights[:, j, comp.parents[j]] = cpd.weights.reshape(-1, comp.parents[j].size)[cfg]
    return b0, weights, var


@dataclass(frozen=True)
class JointGaussian:
    """A component's Gaussian given each interface configuration, kept in factored form.

    ``x = b0 + B x + e`` with ``e ~ N(0, diag(var))``, nodes in topological order so
    ``B`` is strictly lower triangular: ``x = A (b0 + e)`` with ``A = (I - B)^-1``
    unit lower triangular, ``mean = A b0`` and ``cov = L L^T`` for the lower
    triangular ``L = A diag(sqrt(var))``. Densities are computed from these factors,
    never by factorising ``cov`` itself (which can lose all precision when a
    regression weight is large).
    """

    b0: np.ndarray       # (K, m)
    weights: np.ndarray  # (K, m, m) B
    var: np.ndarray      # (K, m)
    mean: np.ndarray     # (K, m)

    @cached_property
    def factor(self) -> np.ndarray:
        """``L (K, m, m)``, with ``A`` by forward substitution, row by row (computed
        when first needed: rows with every coordinate observed use ``B`` directly)."""
        k, m = self.mean.shape
        a = np.zeros((k, m, m))
        for j in range(m):
            a[:, j, :j] = np.einsum("kp,kpq->kq", self.weights[:, j, :j], a[:, :j, :j])
            a[:, j, j] = 1.0
        return a * np.sqrt(self.var)[:, None, :]

    @property
    def cov(self) -> np.ndarray:
        return np.matmul(self.factor, self.factor.transpose(0, 2, 1))


def joint_factors(comp: Component, cpds: Mapping) -> JointGaussian:
    """The component's :class:`JointGaussian` per interface configuration.

    The means by forward substitution, node by node in topological order: ``mean_j =
    b0_j + B_j . mean``, each to ``eps (|b0_j| + |B_j| . |mean|)``; so ``A = (I -
    B)^-1``, when a pattern with missing coordinates needs the factor
    (:attr:`JointGaussian.factor`). (A general solve pivots: its ``A`` is not exactly triangular,
    and ``A b0`` sums terms of the size of the intercepts, which a parent far from 0
    with a steep slope makes ~1e12, and lost whole standard deviations of a
    grandchild's mean.)"""
    b0, weights, var = regression_arrays(comp, cpds)
    k, m = b0.shape
    mean = np.empty((k, m))
    for j in range(m):
        mean[:, j] = b0[:, j] + np.einsum("kp,kp->k", weights[:, j, :j], mean[:, :j])
    return JointGaussian(b0, weights, var, mean)


def joint(comp: Component, cpds: Mapping) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(K, m)`` and covariance ``(K, m, m)`` of the component given each
    interface configuration (see :class:`JointGaussian`)."""
    jg = joint_factors(comp, cpds)
    return jg.mean, jg.cov


@dataclass(frozen=True)
class Pattern:
    """Rows of a chunk sharing which coordinates of a component are observed."""

    rows: np.ndarray   # chunk-local rows
    obs: np.ndarray    # observed positions within the component
    mis: np.ndarray    # missing positions
    x: np.ndarray | None = None  # (n_p, |obs|) observed values minus the chunk's centre
    seen: np.ndarray | None = None  # diagonal components: (n_p, m) 1.0 where observed; the
                                    # pattern then holds every row and ``x`` is zero-filled

    def rows_of(self, array: np.ndarray) -> np.ndarray:
        """``array[rows]``, without a copy when the pattern holds every row in order."""
        return array if self.rows.size == array.shape[0] else array[self.rows]


@dataclass(frozen=True)
class ComponentSlice:
    """A component's data in one chunk (parameter independent)."""

    values: np.ndarray     # (n, m) the component's columns, NaN = missing
    patterns: list         # Pattern per observed/missing combination
    centre: np.ndarray     # (m,) mean of the observed cells (0 where none): values are
                           # handled minus this centre, so squares do not lose precision
    scope_config: np.ndarray  # (n,) interface configuration if all observed, else -1
    consistent: np.ndarray | None  # (K, n) configurations agreeing with observed members
    ragged: list = field(default_factory=list)  # rare patterns, batched (gaussian_ragged)

    @property
    def nbytes(self) -> int:
        """Memory held beyond the chunk's own values (row lists and masks)."""
        total = self.scope_config.nbytes + sum(p.rows.nbytes for p in self.patterns)
        return total + (self.consistent.nbytes if self.consistent is not None else 0)


def slice_component(comp: Component, codes: np.ndarray,
                    values: np.ndarray | None) -> ComponentSlice:
    """Group a chunk's rows by missing pattern and locate their interface states."""
    if values is None:
        raise ValueError("bnem bug: a continuous component needs the chunk's values")
    x = values[:, comp.columns]
    mis = np.isnan(x)
    n, m = x.shape
    seen_cells = (~mis).sum(axis=0)
    centre = np.where(seen_cells > 0, np.nansum(np.where(mis, 0.0, x), axis=0)
                      / np.maximum(seen_cells, 1), 0.0)
    if comp.independent:  # independent coordinates: masks instead of patterns
        seen_mask = (~mis).astype(float)
        full = Pattern(np.arange(n), np.arange(m), np.zeros(0, dtype=np.int64),
                       np.where(mis, 0.0, x - centre), seen_mask)
        return ComponentSlice(x, [full], centre, *interface_rows(comp, codes))
    keys = pattern_keys(mis)
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    patterns = []
    for grp in np.split(order, bounds):
        if grp.size == 0:
            continue
        miss = mis[grp[0]]
        rows, obs_at = np.sort(grp), np.flatnonzero(~miss)
        obs = x if rows.size == n else x[rows]
        patterns.append(Pattern(rows, obs_at, np.flatnonzero(miss),
                                (obs if obs_at.size == m else obs[:, obs_at]) - centre[obs_at]))
    patterns, ragged = ragged_groups(patterns, x - centre, comp.size)
    return ComponentSlice(x, patterns, centre, *interface_rows(comp, codes), ragged)


def interface_rows(comp: Component, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Per row the interface configuration (-1 unless fully observed), and the
    ``(K, n)`` mask of configurations consistent with the row (None: all are)."""
    n = codes.shape[0]
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
        consistent = ((sc[:, :, None] < 0) | (sc[:, :, None] == grid[None])).all(axis=1).T
        if consistent.all():  # e.g. a mixture's hidden node: every configuration allowed
            consistent = None
    return config, consistent
