"""Per-chunk evaluation of hybrid networks: component tables into the clique tree
(inference layer).

Each continuous component contributes, per row, a table of log densities over its
interface configurations (:func:`bnem.inference.gaussian_density.log_density_table`).

* Rows whose interface is fully observed: the table entry of the observed
  configuration is a constant of the row (added to its log-likelihood), and the
  configuration gets the row's whole weight.
* Other rows: the table, shifted by its per-row maximum over the configurations
  that agree with the row's observed discrete values, is appended to the gathered
  parameter vector; the clique tree multiplies it in like a CPD entry and returns
  the posterior of every configuration. The shift is added back to the row.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .engine import ImpossibleRows, estep, node_marginals, row_log_prob
from .evidence import ChunkEvidence
from .gaussian import joint_factors
from .gaussian_density import FactorCache, log_density_table
from .gaussian_moments import accumulate_moments
from .hard import hard_estep
from .stats import Stats
from .structure import Structure


def factor_caches(structure: Structure, cpds: Mapping) -> tuple:
    """A :class:`~bnem.inference.gaussian_density.FactorCache` over the Gaussian of every
    component, for one parameter set."""
    return tuple(FactorCache(joint_factors(comp, cpds)) for comp in structure.components)


def component_tables(ev: ChunkEvidence, caches: tuple,
                     keep_moments: bool = False) -> tuple[tuple, np.ndarray, list]:
    """Gathered per-row tables, per-row constants and (optionally) moment records.

    Returns ``(extra, const, parts)``: ``extra = (linear, log)`` flat tables laid out
    like ``ev.row_base`` (each ``(K, n)``: configuration-major, so that reductions over
    configurations run along contiguous rows); ``const (n,)`` the per-row log terms
    taken out of the tree; ``parts`` per component ``(table, moments)``.
    """
    n = ev.n_rows
    const = np.zeros(n)
    lin_parts, log_parts, parts = [], [], []
    for comp, cs, cache in zip(ev.structure.components, ev.continuous, caches):
        table, moments = log_density_table(cs, cache, keep_moments, comp.independent)
        seen = cs.scope_config >= 0
        if seen.any():
            rows = np.flatnonzero(seen)
            const[rows] += table[cs.scope_config[rows], rows]
        if not seen.any() and cs.consistent is None:  # e.g. a mixture's hidden node
            shift = table.max(axis=0)
            const += shift
            log = table - shift
        else:
            log = np.zeros_like(table)
            if not seen.all():
                free = np.flatnonzero(~seen)
                t = table[:, free]
                if cs.consistent is not None:
                    t = np.where(cs.consistent[:, free], t, -np.inf)
                shift = t.max(axis=0)
                const[free] += shift
                log[:, free] = t - shift
        with np.errstate(under="ignore"):
            lin = np.exp(log)
        lin_parts.append(lin.ravel())
        log_parts.append(log.ravel())
        parts.append((table, moments))
    extra = (np.concatenate(lin_parts), np.concatenate(log_parts))
    return extra, const, parts


def hybrid_estep(ev: ChunkEvidence, theta: np.ndarray, log_theta: np.ndarray,
                 caches: tuple, tables: tuple | None = None) -> Stats:
    """Expected counts, per-component moment sums and the weighted log-likelihood of
    one chunk (see :func:`bnem.inference.gaussian_moments.accumulate_moments`).
    ``tables``: this chunk's :func:`component_tables` with moments, if already made
    (they depend on the rows and parameters, not on the row weights)."""
    if _hidden_root_only(ev):
        return _hidden_root_estep(ev, log_theta, caches[0])
    extra, const, parts = tables if tables is not None else \
        component_tables(ev, caches, keep_moments=True)
    tree = estep(ev, theta, log_theta, extra)
    moments = []
    p0 = ev.structure.n_params + 1
    for comp, cs, base, (_, records), cache in zip(ev.structure.components, ev.continuous,
                                                    ev.row_base, parts, caches):
        post = tree.table_posteriors[base - p0: base - p0 + ev.n_rows * comp.size]
        resp = post.reshape(comp.size, ev.n_rows).T
        rows = np.flatnonzero(cs.scope_config >= 0)
        resp[rows, cs.scope_config[rows]] += ev.weights[rows]
        moments.append(accumulate_moments(records, resp, comp.m, comp.independent,
                                          cache.joint.mean))
    return Stats(tree.counts, tuple(moments), tree.log_likelihood + float(ev.weights @ const),
                 None, float(ev.weights.sum()))


def _hidden_root_only(ev: ChunkEvidence) -> bool:
    """Whether the network is one discrete node, unobserved in every row of the chunk,
    over which one continuous component is defined (a Gaussian mixture): the clique
    tree is then that node alone, and the posterior of each row a normalised product."""
    structure = ev.structure
    return structure.n_vars == 1 and len(structure.components) == 1 \
        and structure.components[0].scope == (0,) and bool((ev.codes[:, 0] == -1).all())


def _hidden_root_rows(ev: ChunkEvidence, log_theta: np.ndarray, cache: FactorCache,
                      keep_moments: bool) -> tuple[np.ndarray, np.ndarray, list]:
    """For a chunk that :func:`_hidden_root_only` accepts, in log space: per row
    ``log p(x)``, the log-sum-exp over ``k`` of ``log theta_k + log N(x; k)``; the
    posterior of each ``k`` ``(K, n)``, their normalised exponentials (the clique
    tree's quantities, without its passes); and the moment records.

    Raises
    ------
    ImpossibleRows
        Rows no ``k`` can explain.
    """
    comp, cs = ev.structure.components[0], ev.continuous[0]
    table, records = log_density_table(cs, cache, keep_moments, comp.independent)
    joint = table + log_theta[:, None]                       # (K, n)
    shift = joint.max(axis=0)
    if not np.isfinite(shift).all():
        raise ImpossibleRows(np.flatnonzero(~np.isfinite(shift)))
    with np.errstate(under="ignore"):
        post = np.exp(joint - shift)
    total = post.sum(axis=0)
    return shift + np.log(total), post / total, records


def _hidden_root_estep(ev: ChunkEvidence, log_theta: np.ndarray, cache: FactorCache) -> Stats:
    """:func:`hybrid_estep` of a chunk that :func:`_hidden_root_only` accepts."""
    comp = ev.structure.components[0]
    row_ll, post, records = _hidden_root_rows(ev, log_theta, cache, True)
    resp = (post * ev.weights).T                             # (n, K): weight x posterior
    moments = accumulate_moments(records, resp, comp.m, comp.independent, cache.joint.mean)
    return Stats(ev.obs_counts + moments.n, (moments,), float(ev.weights @ row_ll),
                 None, float(ev.weights.sum()))


def hybrid_interface_posteriors(ev: ChunkEvidence, theta: np.ndarray, log_theta: np.ndarray,
                                caches: tuple) -> list[np.ndarray]:
    """Per component, ``(n, K)``: the posterior of its interface configuration in each
    row of the chunk (one-hot where the interface is observed)."""
    extra, _, _ = component_tables(ev, caches)
    tree = estep(ev, theta, log_theta, extra)
    out = []
    p0 = ev.structure.n_params + 1
    for comp, cs, base in zip(ev.structure.components, ev.continuous, ev.row_base):
        post = tree.table_posteriors[base - p0: base - p0 + ev.n_rows * comp.size]
        resp = post.reshape(comp.size, ev.n_rows).T.copy()
        rows = np.flatnonzero(cs.scope_config >= 0)
        resp[rows, cs.scope_config[rows]] += ev.weights[rows]
        out.append(resp / np.where(ev.weights > 0, ev.weights, 1.0)[:, None])
    return out


def hybrid_hard_estep(ev: ChunkEvidence, theta: np.ndarray, log_theta: np.ndarray,
                      caches: tuple) -> Stats:
    """:func:`bnem.inference.hard.hard_estep` for a hybrid chunk: each row's weight goes
    wholly to its completed interface configuration."""
    extra, const, parts = component_tables(ev, caches, keep_moments=True)
    hard = hard_estep(ev, theta, log_theta, extra)
    shift = float(ev.weights @ const)
    moments = []
    for comp, (_, records), cache in zip(ev.structure.components, parts, caches):
        resp = np.zeros((ev.n_rows, comp.size))
        if comp.scope:
            config = np.ravel_multi_index(tuple(hard.completed[:, list(comp.scope)].T),
                                          comp.scope_cards)
        else:
            config = np.zeros(ev.n_rows, dtype=np.int64)
        resp[np.arange(ev.n_rows), config] = ev.weights
        moments.append(accumulate_moments(records, resp, comp.m, comp.independent,
                                          cache.joint.mean))
    return Stats(hard.counts, tuple(moments), hard.log_likelihood + shift,
                 hard.classification + shift, float(ev.weights.sum()))


def hybrid_row_log_prob(ev: ChunkEvidence, log_theta: np.ndarray, caches: tuple,
                        tables: tuple | None = None) -> np.ndarray:
    """Per-row log p(observed part) of a hybrid chunk (``tables`` as for
    :func:`hybrid_estep`)."""
    if _hidden_root_only(ev):
        return _hidden_root_rows(ev, log_theta, caches[0], False)[0]
    extra, const, _ = tables if tables is not None else component_tables(ev, caches)
    return row_log_prob(ev, log_theta, extra) + const


def hybrid_node_marginals(ev: ChunkEvidence, log_theta: np.ndarray, node: int,
                          caches: tuple) -> np.ndarray:
    """P(discrete node | row) for every row of a hybrid chunk."""
    extra, _, _ = component_tables(ev, caches)
    return node_marginals(ev, log_theta, node, extra)
