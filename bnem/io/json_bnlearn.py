"""Gaussian networks of R's bnlearn in the JSON layout pgmpy ships (io layer).

pgmpy's ``utils/example_models/{ecoli70,magic-niab,magic-irri,arth150}.json`` (and
``LinearGaussianBayesianNetwork.save``) use this layout::

    {
      "nodes": ["a", "b"],
      "arcs": [["a", "b"]],
      "cpds": {
        "a": {"coefficients": {"(Intercept)": [1.5]}, "variance": [0.25], "parents": []},
        "b": {"coefficients": {"(Intercept)": [0.1], "a": [2.0]}, "variance": [1.0],
              "parents": ["a"]}
      }
    }

Every node is Gaussian: ``b = 0.1 + 2.0 * a + N(0, 1.0)``. ``variance`` is the
residual *variance* (pgmpy's loader takes its square root as the standard
deviation); it is kept exactly as written. Each number may be bare or, as in the
files, wrapped in a one-element array. A node's parents are the ``parents`` of its
CPD, in that order; ``arcs`` must list the same edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..data.variables import ContinuousVariable
from .json_checks import JSONFormatError, build, check_object, describe, number, strings

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

_CPD_KEYS = ("coefficients", "variance", "parents")
INTERCEPT = "(Intercept)"


def from_bnlearn(doc: dict[str, Any], source: str, name: str = "unknown") -> BayesianNetwork:
    """Build a network of Gaussian nodes from a parsed bnlearn/pgmpy JSON document.

    Parameters
    ----------
    doc : dict
        The parsed JSON object, with keys ``nodes``, ``arcs`` and ``cpds``.
    source : str
        Names the file in error messages.
    name : str
        The network's name.

    Returns
    -------
    BayesianNetwork

    Raises
    ------
    JSONFormatError
        A missing or unknown key, a CPD for no node (or a node without one), a
        coefficient missing for a parent, ``arcs`` that disagree with the CPDs'
        parents, a value that is not a finite number, a variance <= 0.
    CycleError
        The arcs form a directed cycle.

    Examples
    --------
    >>> doc = {"nodes": ["a", "b"], "arcs": [["a", "b"]],
    ...        "cpds": {"a": {"coefficients": {"(Intercept)": [1.5]}, "variance": [0.25],
    ...                       "parents": []},
    ...                 "b": {"coefficients": {"(Intercept)": [0.1], "a": [2.0]},
    ...                       "variance": [1.0], "parents": ["a"]}}}
    >>> net = from_bnlearn(doc, "<doc>", "tiny")
    >>> net.parents("b"), net.cpd("b").weights.tolist(), float(net.cpd("a").variance)
    (('a',), [2.0], 0.25)
    """
    check_object(doc, f"{source}: top level", ("nodes", "arcs", "cpds"), ("nodes", "arcs", "cpds"))
    nodes = strings(doc["nodes"], f"{source}: top level", "nodes")
    if not nodes or len(set(nodes)) != len(nodes):
        raise JSONFormatError(f"{source}: 'nodes' must list distinct node names, at least one; "
                              f"got {describe(doc['nodes'])}")
    cpds = doc["cpds"]
    _check_cpd_names(cpds, nodes, source)
    parents, params = {}, {}
    for node in nodes:
        parents[node], params[node] = _cpd(cpds[node], f"{source}: node {node!r}", set(nodes))
    _check_arcs(doc["arcs"], parents, source)
    from ..network.bayesnet import BayesianNetwork
    return build(source, BayesianNetwork, [ContinuousVariable(n) for n in nodes], parents,
                 params, name=name)


def _check_cpd_names(cpds, nodes: list, source: str) -> None:
    check_object(cpds, f"{source}: 'cpds'", (), cpds if isinstance(cpds, dict) else ())
    missing = [n for n in nodes if n not in cpds]
    unknown = [n for n in cpds if n not in set(nodes)]
    if missing:
        raise JSONFormatError(f"{source}: 'cpds' has no entry for node(s) {missing}; expected "
                              "one entry per name in 'nodes'")
    if unknown:
        raise JSONFormatError(f"{source}: 'cpds' has entries for {unknown}, which 'nodes' "
                              "does not list")


def _cpd(entry, where: str, nodes: set) -> tuple:
    """``(parents, {"intercept", "weights", "variance"})`` of one node's CPD entry."""
    check_object(entry, f"{where} (in 'cpds')", _CPD_KEYS, _CPD_KEYS)
    parents = strings(entry["parents"], where, "parents")
    unknown = [p for p in parents if p not in nodes]
    if unknown:
        raise JSONFormatError(f"{where}: parent {unknown[0]!r} is not a node")
    if len(set(parents)) != len(parents):
        raise JSONFormatError(f"{where}: 'parents' lists a node twice: {parents}")
    keys = (INTERCEPT, *parents)
    check_object(entry["coefficients"], f"{where}: 'coefficients'", keys, keys)
    coef = entry["coefficients"]
    return parents, {"intercept": _scalar(coef[INTERCEPT], where, f"coefficients[{INTERCEPT!r}]"),
                     "weights": [_scalar(coef[p], where, f"coefficients[{p!r}]") for p in parents],
                     "variance": _scalar(entry["variance"], where, "variance")}


def _scalar(value, where: str, field: str) -> float:
    """A number, bare or as a one-element array (bnlearn's export wraps each one)."""
    if isinstance(value, list):
        if len(value) != 1:
            raise JSONFormatError(f"{where}: {field}: expected a number or an array of one "
                                  f"number, got {describe(value)}")
        value = value[0]
    return number(value, where, field)


def _check_arcs(arcs, parents: dict, source: str) -> None:
    where = f"{source}: 'arcs'"
    if not isinstance(arcs, list):
        raise JSONFormatError(f"{where}: expected an array of [parent, child] pairs, "
                              f"got {describe(arcs)}")
    into: dict[str, set[str]] = {n: set() for n in parents}
    for i, arc in enumerate(arcs):
        if (not isinstance(arc, list) or len(arc) != 2
                or not all(isinstance(a, str) and a in parents for a in arc)):
            raise JSONFormatError(f"{where}[{i}]: expected a [parent, child] pair of node "
                                  f"names, got {describe(arc)}")
        into[arc[1]].add(arc[0])
    for node, pars in parents.items():
        if set(pars) != into[node]:
            raise JSONFormatError(
                f"{source}: node {node!r}: its CPD's parents {sorted(pars)} differ from the "
                f"arcs into it {sorted(into[node])}")
