"""Shared and held blocks in the JSON network format (io layer).

Two optional top-level keys, written only when a network has such blocks:

``shared``
    An object: block name -> the names of the nodes sharing that table (at least two,
    discrete, tables of one shape; their ``cpd`` arrays are equal).
``held``
    An object: node name -> ``true`` (the whole CPD is fixed, any node type) or, for a
    discrete node, nested arrays of ``true``/``false`` of its ``cpd``'s shape marking
    the entries kept at their values.

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

KEYS = ("shared", "held")


def constraints_document(network: "BayesianNetwork") -> dict:
    """The top-level ``shared`` and ``held`` entries of ``network`` (empty if none)."""
    c = network.constraints
    out: dict[str, Any] = {}
    if c.shared:
        out["shared"] = {name: list(members) for name, members in c.shared.items()}
    if c.held:
        out["held"] = {node: True if network.constraints.is_fixed(node)
                       else np.asarray(mask).tolist() for node, mask in c.held.items()}
    return out


def apply_constraints(network: "BayesianNetwork", doc: dict, source: str) -> "BayesianNetwork":
    """``network`` with the blocks ``doc`` declares (held entries first, then sharing)."""
    held = doc.get("held", {})
    shared = doc.get("shared", {})
    for key, value in (("held", held), ("shared", shared)):
        if not isinstance(value, dict):
            raise JSONFormatError(f"{source}: '{key}' must be an object, got {describe(value)}")
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
        for name, members in shared.items():
            members = strings(members, f"{source}: shared[{name!r}]", "nodes")
            tables = [network.cpd(m).values for m in members if m in network.discrete_nodes]
            if any(not np.array_equal(t, tables[0]) for t in tables[1:]):
                raise JSONFormatError(f"{source}: shared[{name!r}]: the tables of "
                                      f"{members} differ; a shared block has one table")
            network = network.share(name, members)
    except JSONFormatError:
        raise
    except BnemError as e:
        raise JSONFormatError(f"{source}: {e}") from None
    return network


def _bools(value: list, where: str) -> np.ndarray:
    arr = np.asarray(value, dtype=object)
    if arr.dtype != object or not all(isinstance(v, bool) for v in arr.ravel()):
        raise JSONFormatError(f"{where}: expected nested arrays of true/false, got "
                              f"{describe(value)}")
    return arr.astype(bool)
