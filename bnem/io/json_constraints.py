"""Shared and held blocks in the JSON network format (io layer).

Two optional top-level keys, written only when a network has such blocks:

``shared``
    An object: block name -> the names of the nodes sharing that CPD (at least two of
    one kind, of one shape; their arrays are equal), or, for Gaussian nodes sharing
    their variance only, ``{"nodes": [...], "what": "variance"}``.
``tied``
    An array of Gaussian nodes whose weights and variance are one for every
    configuration of their discrete parents (a tied covariance).
``held``
    An object: node name -> ``true`` (the whole CPD is fixed, any node type) or, for a
    discrete node, nested arrays of ``true``/``false`` of its ``cpd``'s shape marking
    the entries kept at their values.
``noisy_or``
    An object: node name -> ``{"absent": {variable: state}, "leak": true/false}``, the
    absent state of the node and of each parent and whether it has a leak. The node's
    ``cpd`` is its noisy-OR table (its links are read off it).
``poisson``
    An array of count nodes whose tables are Poisson (states ``"0"`` .. ``"M"`` and one
    for larger counts; the ``cpd`` is the Poisson table of one rate per configuration).

>>> import bnem
>>> net = bnem.BayesianNetwork({"z": ["a", "b"], "x1": ["0", "1"], "x2": ["0", "1"]},
...                            {"x1": ["z"], "x2": ["z"]}, {"z": [0.4, 0.6]})
>>> doc = constraints_document(net.share("item", ["x1", "x2"]).fix("z"))
>>> doc
{'shared': {'item': ['x1', 'x2']}, 'held': {'z': True}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BnemError
from .json_checks import JSONFormatError
from .json_checks import describe, strings

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

KEYS = ("shared", "held", "tied", "noisy_or", "poisson")


def constraints_document(network: "BayesianNetwork") -> dict:
    """The top-level ``shared`` and ``held`` entries of ``network`` (empty if none)."""
    c = network.constraints
    out: dict[str, Any] = {}
    if c.shared:
        out["shared"] = {name: list(members) if c.shares_all(name) else
                         {"nodes": list(members), "what": c.what[name]}
                         for name, members in c.shared.items()}
    if c.held:
        out["held"] = {node: True if network.constraints.is_fixed(node)
                       else np.asarray(mask).tolist() for node, mask in c.held.items()}
    if c.tied:
        out["tied"] = list(c.tied)
    noisy, poisson = c.of_kind("noisy-OR"), c.of_kind("Poisson")
    if noisy:
        out["noisy_or"] = {}
        for node, spec in noisy.items():
            family = network.parents(node) + (node,)
            out["noisy_or"][node] = {
                "absent": {v: network.states(v)[a] for v, a in zip(family, spec.absent)},
                "leak": spec.leak}
    if poisson:
        out["poisson"] = list(poisson)
    return out


def apply_constraints(network: "BayesianNetwork", doc: dict, source: str) -> "BayesianNetwork":
    """``network`` with the blocks ``doc`` declares (held entries first, then sharing)."""
    held = doc.get("held", {})
    shared = doc.get("shared", {})
    for key, value in (("held", held), ("shared", shared)):
        if not isinstance(value, dict):
            raise JSONFormatError(f"{source}: '{key}' must be an object, got {describe(value)}")
    tied = strings(doc.get("tied", []), source, "tied")
    poisson = strings(doc.get("poisson", []), source, "poisson")
    noisy = doc.get("noisy_or", {})
    if not isinstance(noisy, dict):
        raise JSONFormatError(f"{source}: 'noisy_or' must be an object, got {describe(noisy)}")
    try:
        for node, mask in held.items():
            where = f"{source}: held[{node!r}]"
            if mask is True:
                network = network.fix(node)
            elif isinstance(mask, list):
                network = network.hold(node, _bools(mask, where))
            else:
                raise JSONFormatError(f"{where}: expected true or nested arrays of "
                                      f"true/false, got {describe(mask)}")
        for node, entry in noisy.items():
            network = _noisy_or(network, node, entry, f"{source}: noisy_or[{node!r}]")
        for node in poisson:
            before = network.cpd(node).values
            network = network.poisson(node)
            if not np.array_equal(network.cpd(node).values, before):
                raise JSONFormatError(f"{source}: poisson: {node!r}'s cpd is not a Poisson "
                                      "table; write it from its rates")
        for name, entry in shared.items():
            where = f"{source}: shared[{name!r}]"
            members, what = _group(entry, where)
            if what == "all" and not _equal_cpds([network.cpd(m) for m in members
                                                  if m in network.nodes]):
                raise JSONFormatError(f"{where}: the CPDs of {members} differ; a shared "
                                      "block has one CPD")
            network = network.share(name, members, what)
        if tied:
            network = network.tie_covariance(tied)
    except JSONFormatError:
        raise
    except BnemError as e:
        raise JSONFormatError(f"{source}: {e}") from None
    return network


def _noisy_or(network: "BayesianNetwork", node: str, entry: Any,
              where: str) -> "BayesianNetwork":
    """``network`` with ``node`` declared noisy-OR as ``entry`` says; its table must be
    a noisy-OR table already (the file's numbers are kept)."""
    if not isinstance(entry, dict) or set(entry) - {"absent", "leak"}:
        raise JSONFormatError(f"{where}: expected an object with 'absent' (variable -> "
                              f"state) and 'leak' (true/false), got {describe(entry)}")
    absent, leak = entry.get("absent", {}), entry.get("leak", True)
    if not isinstance(absent, dict) or not all(isinstance(v, str) for v in absent.values()):
        raise JSONFormatError(f"{where}: 'absent' maps variable names to state names, got "
                              f"{describe(absent)}")
    if not isinstance(leak, bool):
        raise JSONFormatError(f"{where}: 'leak' is true or false, got {describe(leak)}")
    before = network.cpd(node).values if node in network.nodes else None
    network = network.noisy_or(node, absent=absent, leak=leak)
    if before is not None and not np.array_equal(network.cpd(node).values, before):
        raise JSONFormatError(f"{where}: the node's cpd is not a noisy-OR table (with the "
                              "absent states and leak declared); write it from its links")
    return network


def _group(entry: Any, where: str) -> tuple[list[str], str]:
    """A shared group's members and what they share, from its list or object form."""
    if isinstance(entry, dict):
        if set(entry) - {"nodes", "what"} or "nodes" not in entry:
            raise JSONFormatError(f"{where}: expected an array of node names or an object "
                                  f"with 'nodes' and 'what', got keys {sorted(entry)}")
        what = entry.get("what", "all")
        if what not in ("all", "variance"):
            raise JSONFormatError(f"{where}: 'what' is \"all\" or \"variance\", got "
                                  f"{describe(what)}")
        return strings(entry["nodes"], where, "nodes"), what
    return strings(entry, where, "nodes"), "all"


def _equal_cpds(cpds: list) -> bool:
    """Whether the CPDs hold the same numbers (tables, or Gaussian arrays)."""
    def arrays(cpd: Any) -> list:
        return [cpd.values] if hasattr(cpd, "values") else \
            [cpd.intercept, cpd.weights, cpd.variance]
    first = arrays(cpds[0]) if cpds else []
    return all(len(arrays(c)) == len(first) and all(
        np.shape(a) == np.shape(b) and np.array_equal(a, b)
        for a, b in zip(arrays(c), first)) for c in cpds[1:])


def _bools(value: list, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object or not all(isinstance(v, bool) for v in arr.ravel()):
        raise JSONFormatError(f"{where}: expected nested arrays of true/false, got "
                              f"{describe(value)}")
    return arr.astype(bool)
