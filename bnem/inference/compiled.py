"""``bnem.compile(network)``: the inference plan of a network, built once (inference layer).

A :class:`CompiledNetwork` holds everything about a network that does not depend on
the data or the parameters: the integer structure, the clique tree (min-fill) and the
continuous components. It is immutable and evaluated many times, like opt_einsum's
``contract_expression``:

* :meth:`~CompiledNetwork.analyse` slices a chunk of encoded rows once;
* :meth:`~CompiledNetwork.prepare` turns one parameter set into what the kernels read;
* :meth:`~CompiledNetwork.estep` is the E-step of one chunk, a pure function returning
  additive :class:`~bnem.inference.stats.Stats`; :meth:`~CompiledNetwork.log_prob` and
  :meth:`~CompiledNetwork.marginals` score and query a chunk.

Errors about rows are raised as :class:`ImpossibleRows` / :class:`SplitRows` with
chunk-local row numbers; :mod:`bnem.inference.dataset` names the rows.

>>> import bnem
>>> net = bnem.BayesianNetwork({"a": ["0", "1"], "b": ["0", "1"]}, {"b": ["a"]})
>>> compiled = bnem.compile(net)
>>> compiled
CompiledNetwork('unknown': 2 discrete nodes, 2 cliques, total size 6, largest 4)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BnemTypeError, BnemValueError
from ..network.parameters import Parameters
from .barren import BARREN
from .budget import MemoryBudget
from .engine import ImpossibleRows, estep as tree_estep, node_marginals, row_log_prob
from .evidence import ChunkEvidence, analyse, chunk_bounds
from .hard import SplitRows, hard_estep
from .hybrid import (component_tables, factor_caches, hybrid_estep, hybrid_hard_estep,
                     hybrid_interface_posteriors, hybrid_node_marginals, hybrid_row_log_prob)
from .plan import Plan, compile_plan
from .stats import Stats
from .structure import Structure

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

__all__ = ["CompiledNetwork", "Prepared", "compile", "ImpossibleRows", "SplitRows"]


@dataclass(frozen=True)
class Prepared:
    """One parameter set as the kernels read it: the flat tables, their logs and, per
    continuous component, its Gaussians with a memo of their factorisations (shared by
    the chunks of one E-step)."""

    theta: np.ndarray
    log_theta: np.ndarray
    caches: tuple = ()


@dataclass(frozen=True, repr=False)
class CompiledNetwork:
    """The inference plan of a network (see the module docstring)."""

    network: "BayesianNetwork"
    structure: Structure
    plan: Plan
    fixed_tree: bool = False  # True: for_rows keeps this plan (hard EM needs min-fill's)

    # -- description ------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Sizes that say what inference costs: cliques, total and largest clique size,
        the sorted clique sizes, and the continuous components."""
        sizes = self.plan.clique_sizes if self.network.discrete_nodes else []
        comps = [{"nodes": list(c.nodes),
                  "interface": [self.network.discrete_nodes[v] for v in c.scope],
                  "configurations": c.size} for c in self.structure.components]
        return {"cliques": len(sizes), "total_size": int(sum(sizes)),
                "largest": int(max(sizes) if sizes else 0),
                "clique_sizes": sorted((int(s) for s in sizes), reverse=True),
                "parameters": self.structure.n_params, "components": comps}

    def __repr__(self) -> str:
        d = self.describe()
        parts = [f"{len(self.network.discrete_nodes)} discrete nodes"]
        if self.network.continuous_nodes:
            parts.append(f"{len(self.network.continuous_nodes)} Gaussian nodes in "
                         f"{len(d['components'])} component(s)")
        parts.append(f"{d['cliques']} clique{'s' if d['cliques'] != 1 else ''}, total size "
                     f"{d['total_size']}, largest {d['largest']}")
        return f"CompiledNetwork({self.network.name!r}: {', '.join(parts)})"

    # -- data: analysed once per chunk --------------------------------------------
    def for_rows(self, codes: np.ndarray) -> "CompiledNetwork":
        """This network with the clique tree that costs least on rows like ``codes``
        (a sample of encoded rows; -1 = missing): see :mod:`bnem.inference.triangulate`.
        Plain min-fill is one of the candidates, so the plan is never costlier than it
        on those rows. A network compiled with ``fixed_tree=True`` keeps its plan: hard
        EM reads each row's completion off one clique, and a tree that is cheaper on
        average may split a row's missing variables over several cliques."""
        from .triangulate import search

        if self.fixed_tree or len(self.plan.cliques) <= 1 or len(codes) == 0:
            return self
        plan = search(range(self.structure.n_vars), self.structure.factor_scopes,
                      {v: int(c) for v, c in enumerate(self.structure.cards)},
                      np.asarray(codes) == -1)
        return dataclasses.replace(self, plan=plan)

    def chunk_bounds(self, codes: np.ndarray, budget: MemoryBudget,
                     describe_row: Callable[[int], str] | None = None,
                     keep_assign: bool = True) -> list:
        """Consecutive row slices of ``codes`` that each fit the ``budget`` (analysed
        with or without every entry's states, ``keep_assign``)."""
        return chunk_bounds(self.structure, self.plan, codes,
                            budget.rows_per_chunk(self.structure), budget.chunk_words,
                            describe_row, keep_assign)

    def analyse(self, codes: np.ndarray, weights: np.ndarray | None = None,
                values: np.ndarray | None = None, keep_assign: bool = True,
                barren: bool = False) -> ChunkEvidence:
        """Slice the clique tree at the observed values of each row (see
        :func:`bnem.inference.evidence.analyse`).

        ``codes`` is ``(n, discrete nodes)`` integer states (-1 = missing, -2 = barren:
        summed out with its family, see :mod:`bnem.inference.barren`), ``weights``
        ``(n,)`` (default 1), ``values`` ``(n, continuous nodes)`` floats (NaN =
        missing) for a hybrid network.

        Raises
        ------
        BnemTypeError, BnemValueError
            Arrays of the wrong kind, shape or range (saying what was expected).

        With ``barren``, the barren cells of every row are found and summed out first.
        """
        codes, weights, values = _checked_chunk(self.network, codes, weights, values)
        return analyse(self.structure, self.plan, codes, weights, values, keep_assign, barren)

    # -- parameters -------------------------------------------------------------------
    def prepare(self, params: Parameters) -> Prepared:
        """What the kernels need of ``params`` (log tables, the components' Gaussians)."""
        with np.errstate(divide="ignore"):
            log_theta = np.log(params.theta)
        caches = factor_caches(self.structure, params.gaussians) if self.structure.components \
            else ()
        return Prepared(params.theta, log_theta, caches)

    # -- kernels: one chunk ---------------------------------------------------------------
    def estep(self, ev: ChunkEvidence, prepared: Prepared, hard: bool = False,
              tables: tuple | None = None) -> Stats:
        """The E-step of one chunk: expected statistics and log-likelihood (``tables``:
        the chunk's :meth:`component_tables`, if already made).

        Raises
        ------
        ImpossibleRows
            Rows with probability zero under the parameters (chunk-local numbers).
        SplitRows
            With ``hard``: rows whose unobserved discrete variables span several cliques.
        """
        if self.structure.components:
            if hard:
                return hybrid_hard_estep(ev, prepared.theta, prepared.log_theta,
                                         prepared.caches)
            return hybrid_estep(ev, prepared.theta, prepared.log_theta, prepared.caches,
                                tables)
        weight = float(ev.weights.sum())
        if hard:
            h = hard_estep(ev, prepared.theta, prepared.log_theta)
            return Stats(h.counts, (), h.log_likelihood, h.classification, weight)
        tree = tree_estep(ev, prepared.theta, prepared.log_theta)
        return Stats(tree.counts, (), tree.log_likelihood, None, weight)

    def component_tables(self, ev: ChunkEvidence, prepared: Prepared) -> tuple | None:
        """A hybrid chunk's per-row Gaussian tables with their moments, for
        :meth:`log_prob` and then :meth:`estep` at the same parameters (None for a
        discrete network)."""
        if not self.structure.components:
            return None
        return component_tables(ev, prepared.caches, keep_moments=True)

    def log_prob(self, ev: ChunkEvidence, prepared: Prepared,
                 tables: tuple | None = None) -> np.ndarray:
        """Per-row log P(observed part) of a chunk (raises :class:`ImpossibleRows`)."""
        if self.structure.components:
            return hybrid_row_log_prob(ev, prepared.log_theta, prepared.caches, tables)
        return row_log_prob(ev, prepared.log_theta)

    def log_prob_or_minus_inf(self, ev: ChunkEvidence, prepared: Prepared) -> np.ndarray:
        """:meth:`log_prob` with -inf for the rows impossible under the parameters: each
        failed pass names some impossible rows, which are left out of the next (a few
        passes at most in practice; barren marks of the codes are kept)."""
        out = np.empty(ev.n_rows)
        bad = np.zeros(ev.n_rows, dtype=bool)
        sub = ev
        while True:
            keep = np.flatnonzero(~bad)
            if keep.size == 0:
                break
            if keep.size < ev.n_rows:
                sub = self.analyse(ev.codes[keep], ev.weights[keep],
                                   None if ev.values is None else ev.values[keep],
                                   keep_assign=False)
            try:
                out[keep] = self.log_prob(sub, prepared)
                break
            except ImpossibleRows as exc:
                bad[keep[exc.rows]] = True
        out[bad] = -np.inf
        return out

    def interface_posteriors(self, ev: ChunkEvidence, prepared: Prepared) -> list[np.ndarray]:
        """Per continuous component, ``(n, K)`` posterior of its interface configuration
        in each row (hybrid networks)."""
        return hybrid_interface_posteriors(ev, prepared.theta, prepared.log_theta,
                                           prepared.caches)

    def marginals(self, ev: ChunkEvidence, prepared: Prepared, node: int) -> np.ndarray:
        """P(discrete node | row), ``(n, card)``; ``ev`` must keep its assignments."""
        if self.structure.components:
            return hybrid_node_marginals(ev, prepared.log_theta, node, prepared.caches)
        return node_marginals(ev, prepared.log_theta, node)


def _checked_chunk(network: "BayesianNetwork", codes: np.ndarray, weights: np.ndarray | None,
                   values: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    codes = np.asarray(codes)
    n_disc, n_cont = len(network.discrete_nodes), len(network.continuous_nodes)
    if codes.ndim != 2 or codes.shape[1] != n_disc:
        raise BnemValueError(f"codes must have shape (rows, {n_disc}) (one column per discrete "
                             f"node), got shape {codes.shape}")
    if codes.dtype.kind not in "iu":
        raise BnemTypeError(f"codes must be integer states (-1 = missing), got dtype {codes.dtype}")
    bad = ((codes < -1) & (codes != BARREN)) | (codes >= network.cards)
    if bad.any():
        r, j = (int(x) for x in np.argwhere(bad)[0])
        raise BnemValueError(f"codes[{r}, {j}] = {codes[r, j]} is not a state of "
                             f"{network.discrete_nodes[j]!r} (expected -1 .. {network.cards[j] - 1})")
    n = codes.shape[0]
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (n,) or not (np.isfinite(weights) & (weights >= 0)).all():
        raise BnemValueError(f"weights must be {n} finite numbers >= 0, got shape "
                             f"{weights.shape}")
    if n_cont:
        if values is None or np.shape(values) != (n, n_cont):
            raise BnemValueError(f"values must have shape ({n}, {n_cont}) (one column per "
                                 f"continuous node), got {None if values is None else np.shape(values)}")
        values = np.asarray(values, dtype=float)
    return codes, weights, values


def compile(network: "BayesianNetwork", fixed_tree: bool = False) -> CompiledNetwork:
    """Compile ``network``'s inference plan once (structure, min-fill clique tree,
    continuous components); see :class:`CompiledNetwork`. With ``fixed_tree``,
    :meth:`CompiledNetwork.for_rows` keeps the min-fill tree.

    Raises
    ------
    BnemTypeError
        If ``network`` is not a :class:`bnem.BayesianNetwork`.
    """
    from ..network.bayesnet import as_network

    network = as_network(network, "compile")
    structure = Structure.of(network)
    plan = compile_plan(range(structure.n_vars), structure.factor_scopes,
                        {v: int(c) for v, c in enumerate(structure.cards)})
    return CompiledNetwork(network, structure, plan, fixed_tree)
