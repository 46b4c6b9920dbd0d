"""Directed-acyclic-graph utilities over node names (network layer)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import networkx as nx

from ..errors import CycleError, NetworkError


def build_dag(nodes: Collection[str], parents: Mapping[str, Sequence[str]]) -> nx.DiGraph:
    """Return the DAG ``parent -> child`` for ``parents``; reject unknown names and cycles.

    Raises
    ------
    NetworkError
        If a parent is not a node, or a node is its own parent / repeats a parent.
    CycleError
        If the relation has a directed cycle; the message names the cycle.

    Examples
    --------
    >>> sorted(build_dag(["rain", "sprinkler", "wet"], {"wet": ["rain", "sprinkler"]}).edges)
    [('rain', 'wet'), ('sprinkler', 'wet')]
    >>> build_dag(["a", "b"], {"a": ["b"], "b": ["a"]})
    Traceback (most recent call last):
    ...
    bnem.errors.CycleError: the network has a directed cycle: a -> b -> a
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    known = set(nodes)
    for child, pars in parents.items():
        if child not in known:
            raise NetworkError(f"parents given for {child!r}, which is not a node")
        if len(set(pars)) != len(pars):
            raise NetworkError(f"node {child!r} lists a parent twice: {list(pars)}")
        for p in pars:
            if p not in known:
                raise NetworkError(
                    f"node {child!r} has parent {p!r}, which is not a node of the network"
                )
            graph.add_edge(p, child)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    path = " -> ".join([str(u) for u, _ in cycle] + [str(cycle[0][0])])
    raise CycleError(f"the network has a directed cycle: {path}")


def topological_order(graph: nx.DiGraph, order_hint: Iterable[str]) -> list[str]:
    """Topological order that follows ``order_hint`` wherever the edges allow.

    >>> graph = build_dag(["wet", "rain", "cloudy"], {"wet": ["rain"]})
    >>> topological_order(graph, ["wet", "rain", "cloudy"])
    ['rain', 'wet', 'cloudy']
    """
    rank = {n: i for i, n in enumerate(order_hint)}
    return list(nx.lexicographical_topological_sort(graph, key=lambda n: rank[n]))
