"""Conversion to and from pgmpy's ``DiscreteBayesianNetwork`` (io layer).

This is the only module that sees pgmpy's table layout ``(card, prod(parent_cards))``
(evidence in the CPD's own order, last evidence variable varying fastest). pgmpy is
imported inside the functions, so ``import bnem`` does not import it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..data.variables import Variable
from ..errors import BnemTypeError, NetworkError
from .lost import warn_constraints_lost
from ..network.cpd import SUM_TOLERANCE, TabularCPD
from .bif_read import RENORMALIZE_LIMIT, BIFNormalizationWarning

if TYPE_CHECKING:
    from pgmpy.models import DiscreteBayesianNetwork

    from ..network.bayesnet import BayesianNetwork


def to_pgmpy(network: BayesianNetwork) -> DiscreteBayesianNetwork:
    """Convert a bnem network to a pgmpy ``DiscreteBayesianNetwork``.

    Each node gets a pgmpy ``TabularCPD`` whose evidence is the node's parents in
    bnem's order and whose ``state_names`` are the bnem state names.

    Parameters
    ----------
    network : BayesianNetwork

    Returns
    -------
    pgmpy.models.DiscreteBayesianNetwork

    Raises
    ------
    BnemTypeError
        ``network`` is not a bnem ``BayesianNetwork``.
    ImportError
        pgmpy is not installed.
    """
    from pgmpy.factors.discrete import TabularCPD as PgmpyCPD
    from pgmpy.models import DiscreteBayesianNetwork

    from ..network.bayesnet import BayesianNetwork

    if not isinstance(network, BayesianNetwork):
        raise BnemTypeError(f"to_pgmpy expects a bnem BayesianNetwork, got {type(network).__name__}")
    if network.is_hybrid:
        raise NetworkError(
            f"to_pgmpy converts discrete networks; this one has Gaussian nodes "
            f"({', '.join(network.continuous_nodes[:5])}). Save it with bnem.write_json.")
    warn_constraints_lost(network, "pgmpy")
    model = DiscreteBayesianNetwork()
    model.add_nodes_from(network.nodes)
    model.add_edges_from(network.edges)
    model.name = network.name
    cpds = []
    for node in network.nodes:
        cpd = cast(TabularCPD, network.cpd(node))  # the network is discrete (checked above)
        parents = list(cpd.parents)
        values = cpd.values.reshape(-1, cpd.card).T
        state_names = {v: list(network.states(v)) for v in [node] + parents}
        cpds.append(PgmpyCPD(
            node, cpd.card, values,
            evidence=parents or None,
            evidence_card=[len(network.states(p)) for p in parents] or None,
            state_names=state_names,
        ))
    model.add_cpds(*cpds)
    return model


def from_pgmpy(model: DiscreteBayesianNetwork, data: Any = None,
               latent: Any = None) -> BayesianNetwork:
    """Convert a pgmpy discrete Bayesian network to bnem.

    A node without a CPD takes its states from another CPD that names it (a child's
    ``state_names``), else from its column in ``data`` (see
    :meth:`bnem.BayesianNetwork.from_edges`), else from ``latent`` (its number of
    states); its table starts uniform. So ``bnem.fit(model, df)`` works on a pgmpy
    model that has only a structure, as pgmpy's own EM does (``latent`` is its
    ``latent_card``).

    Nodes keep pgmpy's node order; a node's parents follow the evidence order of its
    CPD; states come from the CPDs' ``state_names`` (converted with ``str``). When a
    child's CPD lists a parent's states in another order than the parent's own
    CPD, the child's table is permuted to the parent's order.

    Distributions that sum to 1 only within (1e-6, 1e-2] -- pgmpy itself accepts
    1e-2 -- are renormalised with a :class:`~bnem.io.bif_read.BIFNormalizationWarning`
    naming the nodes; larger deviations raise.

    Parameters
    ----------
    model : pgmpy.models.DiscreteBayesianNetwork
    data : pandas.DataFrame, optional
        Read only for the states of nodes without a CPD.
    latent : dict, optional
        Node → number of states (or state names), for latent nodes without a CPD.

    Returns
    -------
    BayesianNetwork

    Raises
    ------
    BnemTypeError
        ``model`` is not a pgmpy network, or a CPD is not a ``TabularCPD``.
    NetworkError
        A node has no CPD, a CPD's evidence differs from the node's parents in the
        graph, state names disagree between CPDs, or a distribution is off by more
        than 1e-2.
    CycleError
        The graph has a directed cycle.
    """
    from ..network.bayesnet import BayesianNetwork

    if not (hasattr(model, "get_cpds") and hasattr(model, "nodes")):
        raise BnemTypeError(f"from_pgmpy expects a pgmpy DiscreteBayesianNetwork, "
                            f"got {type(model).__name__}")
    nodes = [str(n) for n in model.nodes()]
    by_node = {}
    for cpd in model.get_cpds():
        if not hasattr(cpd, "get_values") or not hasattr(cpd, "state_names"):
            raise BnemTypeError(f"from_pgmpy handles TabularCPDs only, got {type(cpd).__name__}")
        by_node[str(cpd.variable)] = cpd
    missing = [n for n in nodes if n not in by_node]
    if missing:
        return _from_structure(model, nodes, by_node, missing, data, latent)
    states = {n: tuple(str(s) for s in by_node[n].state_names[n]) for n in nodes}
    parents, tables, off = {}, {}, []
    for node in nodes:
        cpd = by_node[node]
        evidence = [str(v) for v in cpd.variables[1:]]
        graph_parents = sorted(str(p) for p in model.get_parents(node))
        if sorted(evidence) != graph_parents:
            raise NetworkError(f"the CPD of {node!r} is conditioned on {evidence}, but its "
                               f"parents in the pgmpy graph are {graph_parents}")
        cards = [int(c) for c in cpd.cardinality[1:]]
        table = np.asarray(cpd.get_values(), dtype=float).T.reshape(cards + [len(states[node])])
        for axis, p in enumerate(evidence):
            table = _align(table, axis, node, p, cpd.state_names[cpd.variables[axis + 1]],
                           states[p])
        table, changed = _renormalize(node, table)
        if changed:
            off.append(node)
        parents[node], tables[node] = evidence, table
    if off:
        warnings.warn(f"renormalised distributions that summed to 1 only within "
                      f"{RENORMALIZE_LIMIT:g} in {len(off)} node(s): {off}",
                      BIFNormalizationWarning, stacklevel=2)
    name = getattr(model, "name", None)
    return BayesianNetwork([Variable(n, states[n]) for n in nodes], parents, tables,
                           name=str(name) if name else "unknown")


def _from_structure(model, nodes, by_node, missing, data, latent):
    """A pgmpy model some of whose nodes have no CPD: states from the CPDs that name
    them, the data or ``latent``; the given CPDs kept."""
    import pandas as pd
    from ..network.from_data import network_from_edges

    known: dict[str, list[str]] = {}
    for node, cpd in by_node.items():  # a node's own CPD names its states first
        known[node] = [str(s) for s in cpd.state_names[cpd.variable]]
    for cpd in by_node.values():
        for v, names in cpd.state_names.items():
            known.setdefault(str(v), [str(s) for s in names])
    latent = {str(k): v for k, v in dict(latent or {}).items()}
    declared = {str(n) for n in getattr(model, "latents", ()) or ()}
    unknown = [n for n in missing if n not in known and n not in latent and
               (data is None or n not in map(str, data.columns) or n in declared)]
    if unknown:
        where = "" if data is not None else (" (their states are read from a DataFrame of the "
                                             "data; files and Dask collections are not read "
                                             "for this)")
        raise NetworkError(
            f"the pgmpy model has no CPD for {unknown} and their states are unknown"
            f"{where}: give their CPDs, the data with their columns, or, for latent nodes, "
            f"their number of states: bnem.BayesianNetwork.from_pgmpy(model, data, "
            f"latent={{{unknown[0]!r}: 2}})")
    frame = data if data is not None else pd.DataFrame()
    edges = [(str(p), str(c)) for p, c in model.edges()]
    net = network_from_edges(edges, frame, latent={n: latent[n] for n in missing if n in latent},
                             nodes=nodes, discrete=[n for n in missing if n not in latent],
                             given_states={n: known[n] for n in nodes if n in known},
                             name=str(getattr(model, "name", None) or "unknown"))
    cpds = {}
    for node, cpd in by_node.items():
        evidence = [str(v) for v in cpd.variables[1:]]
        if sorted(evidence) != sorted(net.parents(node)):
            raise NetworkError(f"the CPD of {node!r} is conditioned on {evidence}, but its "
                               f"parents in the pgmpy graph are {sorted(net.parents(node))}")
        cards = [int(c) for c in cpd.cardinality[1:]]
        table = np.asarray(cpd.get_values(), dtype=float).T.reshape(
            cards + [len(net.states(node))])
        for axis, p in enumerate(evidence):
            table = _align(table, axis, node, p, cpd.state_names[cpd.variables[axis + 1]],
                           net.states(p))
        order = [evidence.index(p) for p in net.parents(node)]
        cpds[node] = np.transpose(table, order + [len(order)]) if order else table
    return net.with_cpds(cpds) if cpds else net


def _align(table, axis, node, parent, cpd_states, parent_states):
    """Permute ``axis`` of ``table`` from the child's view of the parent's states."""
    cpd_states = [str(s) for s in cpd_states]
    if tuple(cpd_states) == parent_states:
        return table
    if sorted(cpd_states) != sorted(parent_states):
        raise NetworkError(f"the CPD of {node!r} gives parent {parent!r} the states "
                           f"{cpd_states}, but {parent!r}'s own CPD has {list(parent_states)}")
    order = [cpd_states.index(s) for s in parent_states]
    return np.take(table, order, axis=axis)


def _renormalize(node, table):
    dev = np.abs(table.sum(axis=-1) - 1.0)
    if not (dev > SUM_TOLERANCE).any():
        return table, False
    if (dev > RENORMALIZE_LIMIT).any():
        raise NetworkError(f"the CPD of {node!r} has a distribution summing to "
                           f"{float(table.sum(axis=-1).flat[int(dev.argmax())]):.10g}, "
                           f"expected 1 (within {RENORMALIZE_LIMIT:g})")
    table = table.copy()
    off = dev > SUM_TOLERANCE
    table[off] /= table[off].sum(axis=-1, keepdims=True)
    return table, True
