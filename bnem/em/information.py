"""Standard errors of the CPD tables and Gaussian parameters from the observed
information (em layer).

Gaussian nodes' intercepts, weights and variances enter the same information matrix:
their exact gradient comes from the E-step's moments
(:mod:`bnem.em.gaussian_information`), differenced like the tables' with steps of
1e-4 of each node's residual standard deviation (its variance, for the variance).

Each distribution (a node's table row for one parent configuration) of ``c`` states is
parametrised by its first ``c - 1`` probabilities, the last being one minus their sum
(the simplex constraint). The gradient of the observed-data log-likelihood in these
free parameters is exact, from one E-step (Fisher's identity):
``dL/dθ_k = n_k / θ_k - n_c / θ_c`` with ``n`` the expected counts. The observed
information is minus the Hessian, obtained by central differences of that exact
gradient (two E-steps per free parameter); its inverse is the covariance of the free
parameters, and the last state's variance follows by the delta method
(``Var(1 - Σθ_k) = 1ᵀ Σ 1``). A singular information (unidentified parameters, such as
label-switching directions of an over-parametrised latent model) and estimates on the
boundary (a probability below 1e-8, where the likelihood is not differentiable) give
NaN standard errors and a ``DegenerateWarning``; parameters the data do identify keep
theirs. ``method="opg"`` uses instead the outer product of the rows' scores, ``sum_r
w_r s_r s_r'`` (each row's exact gradient, from its family posteriors), the
estimate R's poLCA reports; it agrees with the Hessian form when the model is right
and the sample large. The information is that of the likelihood: with ``prior > 0`` (MAP) the
standard errors ignore the prior.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BnemTypeError, BnemValueError, DegenerateWarning
from ..inference.budget import CHUNK_ROWS, DEFAULT_MEMORY_MB, MemoryBudget
from ..inference.compiled import compile
from ..inference.dataset import AnalysedData
from ..inference.engine import family_posteriors
from ..inference.gaussian import joint
from ..inference.structure import Structure
from ..network import noisy_or as noisy_table
from ..network.bayesnet import BayesianNetwork, as_network
from ..network.parameters import Parameters
from . import gaussian_information
from .mstep import Maximizer
from .options import DEFAULT_MIN_VARIANCE

BOUNDARY = 1e-8
NULL_RATIO = 1e-5  # an eigenvalue this small next to the largest is no information (a
# 2-class model on 2 items, unidentified, gives ratios 2e-6-4e-6 from the finite
# differences and an optimum reached to tol 1e-10)
METHODS = ("hessian", "opg")
MAX_FREE = 5000  # the Hessian has MAX_FREE^2 entries and costs 2 MAX_FREE E-steps


def standard_errors(network: BayesianNetwork, data: Any, method: str = "hessian",
                    sample_weight: Any = None,
                    min_variance: float = DEFAULT_MIN_VARIANCE) -> pd.DataFrame:
    """Standard errors of every table entry and Gaussian parameter of ``network`` (at
    its CPDs, normally a fitted network) on ``data``; see the module docstring.
    ``method``: ``"hessian"`` (the observed information) or ``"opg"`` (outer product of
    the rows' scores; discrete networks only). A Gaussian variance at or below
    ``min_variance`` (the fit's floor, default ``bnem.fit``'s) is on the boundary.

    Returns
    -------
    pandas.DataFrame
        Columns ``node``, ``parents`` (the configuration, as text), ``state`` (a
        table's state; ``rate`` for a learned Poisson node, one row per configuration;
        ``link`` (``parents`` names the parent's present state) and ``leak`` for a
        learned noisy-OR node; or ``intercept``, ``weight[parent]``, ``variance``),
        ``estimate``, ``se``.
    """
    network = as_network(network, "standard_errors", needs_cpds=True)
    if method not in METHODS:
        raise BnemValueError(f"method={method!r}: expected 'hessian' (the observed "
                             "information, from the exact gradient) or 'opg' (the outer "
                             "product of the rows' scores, as poLCA reports)")
    if network.is_hybrid and method == "opg":
        raise BnemValueError("method='opg' covers discrete networks only, for now; use "
                             "method='hessian' for a network with Gaussian nodes")
    c = network.constraints
    shared_or = [n for n, f in c.forms.items() if f.kind == "noisy-OR"
                 and n not in network.fixed_nodes and c.group_of(n)]
    if shared_or:
        raise BnemValueError(f"standard errors of shared noisy-OR links ({shared_or}) are "
                             "not supported yet; fix those nodes (net.fix(...)) to get the "
                             "other parameters' standard errors given them")
    maximizer = Maximizer(network)
    theta = network.flat_params()
    rates = _Forms([_Rates(network), _Links(network)])
    if rates.size and method == "opg":
        raise BnemValueError("method='opg' does not cover Poisson rates or noisy-OR links "
                             "yet; use method='hessian'")
    layout = _Layout(maximizer, rates.entries)
    free, last = layout.free, layout.last
    point = _Point(network, theta, layout, rates)
    n_free = free.size + rates.size + point.gkeep.size
    if n_free > MAX_FREE:
        raise BnemValueError(f"{n_free} free parameters: the information matrix would need "
                             f"{2 * n_free} E-steps and {n_free ** 2 * 8 / 2 ** 30:.1f} "
                             f"GiB; at most {MAX_FREE} are supported")
    budget = opg_budget(theta.size, free.size) if method == "opg" else MemoryBudget()
    data_ = AnalysedData(compile(network), data, budget, sample_weight=sample_weight)
    try:
        info = -_hessian(data_, point) if method == "hessian" else \
            _opg(data_, theta, layout)
    finally:
        data_.close()
    boundary = np.concatenate([(theta[free] < BOUNDARY) | (theta[last] < BOUNDARY),
                               rates.boundary(),
                               point.held_variances(min_variance)[point.gkeep]])
    cov, bad = _covariance(info, boundary)
    nd = free.size
    se = _all_states(cov[:nd, :nd], theta, layout, maximizer)
    rate_se = np.sqrt(np.clip(np.diagonal(cov)[nd:nd + rates.size], 0.0, None))
    rate_se[bad[nd:nd + rates.size]] = np.nan
    se[np.isin(maximizer.block_of, maximizer.block_of[free[bad[:nd]]])] = np.nan
    se = se[layout.tie]  # a shared table's members: its first table's errors
    ng = nd + rates.size  # where the Gaussian parameters start
    gauss_se = np.sqrt(np.clip(np.diagonal(cov)[ng:], 0.0, None))
    gauss_se[bad[ng:]] = np.nan
    gauss_se = gauss_se[point.gtie]  # shared and tied copies: their parameter's error
    tables = _table(network, maximizer, theta, se)
    if rates.size:  # a Poisson node's table is its rates (a row per configuration), a
        # noisy-OR node's its links and leak
        tables = pd.concat([tables[~tables["node"].isin(rates.nodes)],
                            rates.table(network, rate_se)], ignore_index=True)
        order = {n: k for k, n in enumerate(network.nodes)}
        tables = tables.iloc[np.argsort(tables["node"].map(order).to_numpy(),
                                        kind="stable")].reset_index(drop=True)
    if not network.continuous_nodes:
        return tables
    return pd.concat([tables, _gaussian_table(network, point, gauss_se)], ignore_index=True)


class _Layout:
    """The tables' free parameters under the network's shared and held blocks.

    In each distribution of a table that is not a later member of a shared group, the
    entries not held are free but one: the last free entry is one minus the held mass
    minus the others. ``free`` holds the positions of the free parameters, ``last``
    for each the position of its distribution's last free entry; moving a parameter
    moves it in every member of its shared group (``tie``: each entry's position in its
    group's first table), so its gradient is the sum of the members' gradients."""

    def __init__(self, maximizer: Maximizer, given: np.ndarray | None = None) -> None:
        n = maximizer.block_of.size
        blocks = maximizer.constrained
        self.tie = np.arange(n) if blocks is None else blocks.tie
        held = np.zeros(n, dtype=bool) if blocks is None else blocks.held
        if given is not None:  # entries another parameter gives (a Poisson node's)
            held = held | given
        candidate = (self.tie == np.arange(n)) & ~held  # free entries of first tables
        pos = np.where(candidate, np.arange(n), -1)
        last_of_block = np.maximum.reduceat(pos, maximizer.block_start) if n else pos
        last = last_of_block[maximizer.block_of]
        self.is_last = candidate & (np.arange(n) == last)
        self.free = np.flatnonzero(candidate & ~self.is_last)
        self.last = last[self.free]
        self.shared = bool(blocks is not None and blocks.shared)

    def pooled(self, values: np.ndarray) -> np.ndarray:
        """Per entry (last axis), the sum over the members of its shared group, at the
        first member's position."""
        if not self.shared:
            return values
        out = np.zeros_like(values)
        np.add.at(out.T, self.tie, values.T)  # (a view: entries on the first axis)
        return out

    def move(self, theta: np.ndarray, j: int, h: float) -> np.ndarray:
        """``theta`` with free parameter ``j`` moved by ``h`` (its distribution's last
        free entry by ``-h``), in every member of a shared group."""
        step = np.zeros_like(theta)
        step[self.free[j]], step[self.last[j]] = h, -h
        return theta + (step[self.tie] if self.shared else step)


class _Point:
    """The parameters the information is taken at: the tables' free entries, then the
    Gaussian nodes' (see :mod:`bnem.em.gaussian_information`); fixed Gaussian CPDs are
    not free."""

    def __init__(self, network: BayesianNetwork, theta: np.ndarray, layout: _Layout,
                 rates: "_Forms") -> None:
        self.theta, self.layout, self.rates = theta, layout, rates
        self.free, self.last = layout.free, layout.last
        self.fixed = [n for n in network.continuous_nodes if n in network.fixed_nodes]
        self.order = [n for n in network.continuous_nodes if n not in self.fixed]
        self.cpds = dict(network.gaussian_cpds)
        self.gauss = gaussian_information.pack(self.cpds, self.order)
        # shared and tied Gaussian parameters: each copy's position in the free vector
        rep = gaussian_information.representatives(self.cpds, self.order,
                                                   network.constraints)
        self.gkeep = np.flatnonzero(rep == np.arange(rep.size))
        self.gtie = np.searchsorted(self.gkeep, rep)
        spread = _parent_spread(network, self.cpds)
        scale = []  # a step size per Gaussian parameter, in its own units: the residual
        for node in self.order:  # spread (a weight's: over its parent's spread)
            cpd = self.cpds[node]
            sd = np.sqrt(cpd.variance.ravel())
            weights = [sd / spread[p] for p in cpd.continuous_parents]
            scale.append(np.column_stack([sd] + weights + [sd * sd]).ravel())
        self.steps = 1e-4 * (np.concatenate(scale) if scale else np.zeros(0))

    def held_variances(self, min_variance: float) -> np.ndarray:
        """Per free Gaussian parameter, whether it is a variance held at ``min_variance``
        (the M-step's floor: a boundary, where the likelihood has no maximum)."""
        held = []
        for node in self.order:
            cpd = self.cpds[node]
            at_floor = cpd.variance.ravel() <= min_variance * (1 + 1e-9)
            k = len(cpd.continuous_parents)
            held.append(np.column_stack([np.zeros((at_floor.size, k + 1), dtype=bool),
                                         at_floor]).ravel())
        return np.concatenate(held) if held else np.zeros(0, dtype=bool)

    def gradient(self, data: AnalysedData, theta: np.ndarray, gauss: np.ndarray,
                 rates: np.ndarray | None = None) -> np.ndarray:
        """The exact gradient (Fisher's identity: one E-step) in the free table entries,
        the Poisson rates and the free Gaussian parameters, at ``theta`` (its Poisson
        tables those of ``rates``, default the point's) and ``gauss``."""
        rates = self.rates.values if rates is None else rates
        theta = self.rates.put(theta, rates)
        cpds = gaussian_information.unpack(gauss, self.cpds, self.order)
        stats = data.stats(Parameters(theta, cpds if self.order else {}))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_entry = self.layout.pooled(stats.counts / theta)
        table = per_entry[self.free] - per_entry[self.last]
        full = gaussian_information.gradient(data.compiled.structure, stats.moments, cpds,
                                             self.order)
        return np.concatenate([table, self.rates.gradient(stats.counts, rates),
                               np.bincount(self.gtie, weights=full,
                                           minlength=self.gkeep.size)])

    def move_gaussian(self, gauss: np.ndarray, j: int, h: float) -> np.ndarray:
        """``gauss`` with free Gaussian parameter ``j`` moved by ``h`` in every copy."""
        return gauss + h * (self.gtie == j)


def opg_budget(n_params: int, n_free: int,
               memory_mb: float = DEFAULT_MEMORY_MB) -> MemoryBudget:
    """The default memory budget, with chunks small enough that :func:`_opg`'s dense
    per-row arrays (family posteriors and expected counts of every entry, scores of
    every free parameter, twice) take at most a quarter of it."""
    per_row = 8 * (2 * n_params + 3 * n_free)  # posteriors and counts, scores twice
    rows = int(memory_mb * 2 ** 20 / 4 // max(per_row, 1))
    return MemoryBudget(memory_mb, chunk_rows=max(1, min(CHUNK_ROWS, rows)))


def _opg(data: AnalysedData, theta: np.ndarray, layout: _Layout) -> np.ndarray:
    """Sum over rows of ``w s s'``, ``s`` each row's exact score in the free parameters
    (its expected counts, from the per-row family posteriors, through the gradient
    formula above)."""
    free, last = layout.free, layout.last
    info = np.zeros((free.size, free.size))
    for k in range(data.n_chunks):
        ev = data.chunk(k)
        posts = family_posteriors(ev, theta)
        counts = np.concatenate([p.reshape(p.shape[0], -1) for p in posts], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_entry = layout.pooled(counts / theta)
        scores = per_entry[:, free] - per_entry[:, last]
        info += scores.T @ (ev.weights[:, None] * scores)
    return info


def _parent_spread(network: BayesianNetwork, cpds: dict) -> dict[str, float]:
    """Each Gaussian node's marginal standard deviation, averaged over its component's
    interface configurations (the unit of a regression weight on it)."""
    out = {}
    for comp in Structure.of(network).components:
        cov = joint(comp, cpds)[1]
        for j, node in enumerate(comp.nodes):
            out[node] = float(np.sqrt(np.mean(cov[:, j, j])))
    return out


def _hessian(data: AnalysedData, point: _Point) -> np.ndarray:
    theta, free, last, gauss = point.theta, point.free, point.last, point.gauss
    rates, n_rates = point.rates.values, point.rates.size
    p = free.size + n_rates + point.gkeep.size
    hess = np.zeros((p, p))
    for j in range(p):  # one column per free parameter: two E-steps each
        up, down = theta.copy(), theta.copy()
        g_up, g_down = gauss.copy(), gauss.copy()
        r_up, r_down = rates, rates
        if j < free.size:
            h = 1e-4 * min(theta[free[j]], theta[last[j]])
            if h <= 0:
                hess[:, j] = np.nan
                continue
            up, down = point.layout.move(theta, j, h), point.layout.move(theta, j, -h)
        elif j < free.size + n_rates:
            k = j - free.size
            h = point.rates.step(k)
            if h <= 0:
                hess[:, j] = np.nan
                continue
            r_up, r_down = rates.copy(), rates.copy()
            r_up[k] += h
            r_down[k] -= h
        else:
            k = j - free.size - n_rates
            h = point.steps[point.gkeep[k]]
            g_up = point.move_gaussian(gauss, k, h)
            g_down = point.move_gaussian(gauss, k, -h)
        hess[:, j] = (point.gradient(data, up, g_up, r_up)
                      - point.gradient(data, down, g_down, r_down)) / (2 * h)
    return (hess + hess.T) / 2


class _Rates:
    """The rates of the network's learned Poisson nodes (not fixed): free parameters in
    their own right, each configuration's table given by its rate. A shared block's
    members have one set of rates (its first member's), whose gradient is the sum of
    the members'."""

    def __init__(self, network: BayesianNetwork) -> None:
        c = network.constraints
        self.nodes = [n for n, f in c.forms.items() if f.kind == "Poisson"
                      and n not in network.fixed_nodes]
        units: dict[str, list[str]] = {}  # first member (or the node) -> its members
        for n in self.nodes:
            group = c.group_of(n)
            members = [m for m in c.shared[group] if m in self.nodes] if group else [n]
            units.setdefault(members[0], members)
        self.units = []  # (form, configurations, states, [each member's span])
        self.entries = np.zeros(int(network.offsets[-1]), dtype=bool)
        values = []
        for first, members in units.items():
            spans = []
            for m in members:
                i = network.discrete_index(m)
                lo, hi = int(network.offsets[i]), int(network.offsets[i + 1])
                spans.append((lo, hi))
                self.entries[lo:hi] = True
            card = int(network.cards[network.discrete_index(first)])
            self.units.append((c.forms[first], (spans[0][1] - spans[0][0]) // card, card,
                               spans))
            values.append(network.rates_of(first).ravel())
        self.values = np.concatenate(values) if values else np.zeros(0)
        self.size = self.values.size

    def _each(self, rates: np.ndarray) -> Iterator[tuple[Any, int, list, np.ndarray]]:
        """Per unit: its form, its states, its members' spans in ``theta``, its rates."""
        at = 0
        for form, n, card, spans in self.units:
            yield form, card, spans, rates[at:at + n]
            at += n

    def boundary(self) -> np.ndarray:
        return self.values < BOUNDARY

    def step(self, k: int) -> float:
        return 1e-4 * self.values[k]

    def put(self, theta: np.ndarray, rates: np.ndarray) -> np.ndarray:
        """``theta`` (changed in place) with each Poisson node's table that of
        ``rates``."""
        for form, _, spans, r in self._each(rates):
            table = form.table(r).ravel()
            for lo, hi in spans:
                theta[lo:hi] = table
        return theta

    def gradient(self, counts: np.ndarray, rates: np.ndarray) -> np.ndarray:
        """``d/d rate`` of the expected complete-data log-likelihood of ``counts`` (by
        Fisher's identity, the observed log-likelihood's): ``sum_y n_y (y / rate - 1)``
        over the counts 0..M, and ``n_tail P(Y = M) / P(Y > M)`` for the last state;
        summed over a shared block's members."""
        out = []
        for form, card, spans, r in self._each(rates):
            n = np.sum([counts[lo:hi].reshape(-1, card) for lo, hi in spans], axis=0)
            m = form.max_count
            ys = np.arange(m + 1)
            table = form.table(r)
            with np.errstate(divide="ignore", invalid="ignore"):  # (a rate of 0: boundary)
                tail = np.where(n[:, -1] > 0, n[:, -1] * table[:, m] / table[:, -1], 0.0)
                out.append((n[:, :-1] * (ys / r[:, None] - 1.0)).sum(axis=1) + tail)
        return np.concatenate(out) if out else np.zeros(0)

    def table(self, network: BayesianNetwork, se: np.ndarray) -> pd.DataFrame:
        """One row per configuration of every learned Poisson node (a shared block's
        members: its rates and their errors)."""
        rows, errors = [], []
        at = 0
        for (form, card, spans, r), (_, n, _, _) in zip(self._each(self.values), self.units):
            for lo, _ in spans:
                node = network.discrete_nodes[int(np.searchsorted(network.offsets, lo,
                                                                  side="right")) - 1]
                for u, rate in enumerate(r):
                    parents = _configuration(network, network.parents(node), u)
                    rows.append({"node": node, "parents": parents, "state": "rate",
                                 "estimate": float(rate)})
                    errors.append(float(se[at + u]))
            at += n
        out = pd.DataFrame(rows, columns=["node", "parents", "state", "estimate"])
        out["se"] = errors
        return out


class _Links:
    """The links and leaks of the network's learned noisy-OR nodes (not fixed, not
    shared): per node, each parent's present states' link probabilities, then the leak
    (:mod:`bnem.network.noisy_or`). With ``a(u) = (1 - leak) prod_i (1 - p_i[u_i])`` the
    child's absent probability, the exact gradient in a link is ``-sum_{u: u_i = s}
    w(u) / (1 - p_i[s])`` and in the leak ``-sum_u w(u) / (1 - leak)``, where ``w(u) =
    n_absent(u) - n_present(u) a(u) / (1 - a(u))`` from the expected counts."""

    def __init__(self, network: BayesianNetwork) -> None:
        c = network.constraints
        learned = [n for n, f in c.forms.items() if f.kind == "noisy-OR"
                   and n not in network.fixed_nodes]
        self.nodes = []  # those with a link or a leak (one without either is a fixed
        self.units = []  # table: not free, listed as a table) and per node (spec, shape,
        # span, [(parent index, present state)], leak)
        self.entries = np.zeros(int(network.offsets[-1]), dtype=bool)
        values = []
        for node in learned:
            spec: Any = c.forms[node]
            i = network.discrete_index(node)
            lo, hi = int(network.offsets[i]), int(network.offsets[i + 1])
            self.entries[lo:hi] = True
            parents = network.parents(node)
            shape = tuple(len(network.states(p)) for p in parents) + (2,)
            links, leak = noisy_table.links_of(spec, network.cpd(node).values)
            where = [(k, s) for k, p in enumerate(parents) for s in range(shape[k])
                     if s != spec.absent[k]]
            if not where and not spec.leak:
                continue
            self.nodes.append(node)
            self.units.append((spec, shape, (lo, hi), where, spec.leak))
            values.append(np.r_[[links[k][s] for k, s in where], [leak] if spec.leak else []])
        self.values = np.concatenate(values) if values else np.zeros(0)
        self.size = self.values.size

    def _each(self, values: np.ndarray) -> Iterator[tuple[Any, tuple, tuple, list, bool,
                                                          list, float]]:
        """Per node: its spec, shape, span, present (parent, state) pairs, leak flag,
        link arrays and leak at ``values``."""
        at = 0
        for spec, shape, span, where, has_leak in self.units:
            n = len(where) + int(has_leak)
            v = values[at:at + n]
            links = [np.zeros(c) for c in shape[:-1]]
            for (k, s), p in zip(where, v):
                links[k][s] = p
            yield spec, shape, span, where, has_leak, links, float(v[-1]) if has_leak else 0.0
            at += n

    def put(self, theta: np.ndarray, values: np.ndarray) -> np.ndarray:
        for spec, shape, (lo, hi), _, _, links, leak in self._each(values):
            theta[lo:hi] = noisy_table.table(spec, links, leak, shape).ravel()
        return theta

    def gradient(self, counts: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = []
        for spec, shape, (lo, hi), where, has_leak, links, leak in self._each(values):
            n = counts[lo:hi].reshape(shape)
            a = noisy_table.table(spec, links, leak, shape)[..., spec.child_absent]
            with np.errstate(divide="ignore", invalid="ignore"):
                w = n[..., spec.child_absent] - np.where(
                    n[..., 1 - spec.child_absent] > 0,
                    n[..., 1 - spec.child_absent] * a / (1.0 - a), 0.0)
                for k, s in where:
                    out.append(-np.take(w, s, axis=k).sum() / (1.0 - links[k][s]))
                if has_leak:
                    out.append(-w.sum() / (1.0 - leak))
        return np.asarray(out, dtype=float)

    def table(self, network: BayesianNetwork, se: np.ndarray) -> pd.DataFrame:
        rows, at = [], 0
        for node, (_, _, _, where, has_leak, links, leak) in zip(self.nodes,
                                                                 self._each(self.values)):
            parents = network.parents(node)
            for k, s in where:
                rows.append({"node": node, "parents": f"{parents[k]}="
                             f"{network.states(parents[k])[s]}", "state": "link",
                             "estimate": float(links[k][s]), "se": float(se[at])})
                at += 1
            if has_leak:
                rows.append({"node": node, "parents": "", "state": "leak",
                             "estimate": leak, "se": float(se[at])})
                at += 1
        return pd.DataFrame(rows, columns=["node", "parents", "state", "estimate", "se"])

    def boundary(self) -> np.ndarray:
        return (self.values < BOUNDARY) | (self.values > 1.0 - BOUNDARY)

    def step(self, k: int) -> float:
        return 1e-4 * min(self.values[k], 1.0 - self.values[k])


class _Forms:
    """The table forms' own parameters (Poisson rates, noisy-OR links and leaks), one
    vector: free parameters of the information beside the tables' entries."""

    def __init__(self, parts: list) -> None:
        self.parts = [p for p in parts if p.size]
        self.size = sum(p.size for p in self.parts)
        self.values = np.concatenate([p.values for p in self.parts]) if self.parts \
            else np.zeros(0)
        self.entries = np.logical_or.reduce([p.entries for p in parts])  # (one per kind)
        self.nodes = [n for p in self.parts for n in p.nodes]

    def _split(self, values: np.ndarray) -> Iterator[tuple[Any, np.ndarray]]:
        at = 0
        for p in self.parts:
            yield p, values[at:at + p.size]
            at += p.size

    def put(self, theta: np.ndarray, values: np.ndarray) -> np.ndarray:
        if not self.size:
            return theta
        theta = theta.copy()
        for p, v in self._split(values):
            theta = p.put(theta, v)
        return theta

    def gradient(self, counts: np.ndarray, values: np.ndarray) -> np.ndarray:
        out = [p.gradient(counts, v) for p, v in self._split(values)]
        return np.concatenate(out) if out else np.zeros(0)

    def boundary(self) -> np.ndarray:
        out = [p.boundary() for p in self.parts]
        return np.concatenate(out) if out else np.zeros(0, dtype=bool)

    def step(self, k: int) -> float:
        for p in self.parts:
            if k < p.size:
                return p.step(k)
            k -= p.size
        raise IndexError(k)  # pragma: no cover

    def table(self, network: BayesianNetwork, se: np.ndarray) -> pd.DataFrame:
        frames = [p.table(network, v) for p, v in self._split(se)]
        return pd.concat(frames, ignore_index=True)


def _covariance(info: np.ndarray, boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse information over the identified parameters off the boundary; the rest
    flagged. Directions of (numerically) zero information — eigenvalues below
    ``NULL_RATIO`` of the largest, well above the finite-difference noise — are
    unidentified: every parameter that loads on one gets NaN, the others keep the
    pseudo-inverse's variances (the information splits into separate blocks there)."""
    bad = boundary.copy()
    if bad.any():
        warnings.warn(f"{int(bad.sum())} free parameter(s) are on the boundary (a probability "
                      f"or a Poisson rate below {BOUNDARY:g}, a noisy-OR link or leak "
                      "within it of 0 or 1, or a variance held at min_variance); they "
                      "(and a probability's distribution) get NaN standard errors",
                      DegenerateWarning, stacklevel=3)
    keep = np.flatnonzero(~bad)
    cov = np.full(info.shape, np.nan)
    sub = info[np.ix_(keep, keep)]
    if not keep.size:
        return cov, bad
    if not np.isfinite(sub).all():
        warnings.warn("the observed information could not be computed (a row may have "
                      "probability zero near these parameters); standard errors are NaN",
                      DegenerateWarning, stacklevel=3)
        bad[:] = True
        return cov, bad
    # equilibrated first: parameters in different units (a probability, a mean in
    # thousands, a variance in millions) give informations many orders apart, and the
    # null test and the inverse must not depend on the units
    diag = np.diagonal(sub).copy()
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    eig, vec = np.linalg.eigh(sub / np.outer(scale, scale))
    null = eig <= NULL_RATIO * max(eig.max(), 0.0)
    flat = ~(diag > 0)  # no curvature at all (or the wrong sign): not identified
    if null.any() or flat.any():
        loads = ((vec[:, null] ** 2).sum(axis=1) > 1e-6) | flat
        bad[keep[loads]] = True
        warnings.warn(f"the observed information is singular: {int(loads.sum())} free "
                      "parameter(s) are not identified by these data (e.g. classes that can "
                      "be swapped, too many states for the data, or configurations the data "
                      "never reach); their standard errors are NaN", DegenerateWarning,
                      stacklevel=3)
    inverse = (vec[:, ~null] / eig[~null]) @ vec[:, ~null].T
    cov[np.ix_(keep, keep)] = inverse / np.outer(scale, scale)
    return cov, bad


def _all_states(cov: np.ndarray, theta: np.ndarray, layout: _Layout,
                maximizer: Maximizer) -> np.ndarray:
    """Standard errors of every entry of the first tables: a free parameter's from its
    variance, a distribution's last free entry's by the delta method; 0 for the one free
    entry of a distribution (determined by the held ones, or a single state), NaN for
    held entries (not estimated)."""
    free, last = layout.free, layout.last
    se = np.where(layout.is_last, 0.0, np.nan)  # alone in its distribution: determined
    se[free] = np.sqrt(np.clip(np.diagonal(cov), 0.0, None))
    block = maximizer.block_of[free]
    for b in np.unique(block):  # the last state: Var(1 - sum) = 1' Sigma_block 1
        idx = np.flatnonzero(block == b)
        se[last[idx[0]]] = np.sqrt(max(float(cov[np.ix_(idx, idx)].sum()), 0.0))
    return se


def _gaussian_table(network: BayesianNetwork, point: _Point, se: np.ndarray) -> pd.DataFrame:
    rows = []
    order = point.order + point.fixed  # fixed CPDs: not estimated, NaN standard errors
    values = np.concatenate([point.gauss, gaussian_information.pack(point.cpds, point.fixed)])
    errors = np.concatenate([se, np.full(values.size - se.size, np.nan)])
    for (node, u, label), value, err in zip(
            gaussian_information.names(point.cpds, order), values, errors):
        cpd = point.cpds[node]
        parents = _configuration(network, cpd.discrete_parents, u)
        rows.append({"node": node, "parents": parents, "state": label,
                     "estimate": float(value), "se": float(err)})
    return pd.DataFrame(rows, columns=["node", "parents", "state", "estimate", "se"])


def _table(network: BayesianNetwork, maximizer: Maximizer, theta: np.ndarray,
           se: np.ndarray) -> pd.DataFrame:
    rows = []
    for b in range(maximizer.block_card.size):
        i = int(maximizer.block_node[b])
        node = network.discrete_nodes[i]
        card = int(maximizer.block_card[b])
        config = int(maximizer.block_start[b] - network.offsets[i]) // card
        parents = _configuration(network, network.parents(node), config)
        for k, state in enumerate(network.states(node)):
            pos = int(maximizer.block_start[b]) + k
            rows.append({"node": node, "parents": parents, "state": state,
                         "estimate": float(theta[pos]), "se": float(se[pos])})
    return pd.DataFrame(rows)


def _configuration(network: BayesianNetwork, parents: tuple, index: int) -> str:
    """Configuration ``index`` of ``parents`` as the output's text, ``"a=x, b=y"``."""
    return ", ".join(f"{k}={v}" for k, v in network.configuration(parents, index).items())
