"""Shared and held parameters: properties of a network's CPD blocks (network layer).

A network's CPDs are *blocks* of parameters. Two properties of blocks constrain what
EM may do with them, whatever the CPD family:

* **shared**: several nodes use one block (one emission table for every item, one
  transition table for every time step). Their tables have the same shape; the M-step
  pools their expected counts and gives every member the same table.
  Gaussian nodes may share their whole CPD (intercepts, weights, variance: the same
  number of continuous parents and the same discrete-parent shape) or only their
  variance (per configuration of their discrete parents: a *spherical* mixture).
* **tied covariance**: a Gaussian node whose regression (weights and variance) is one
  for every configuration of its discrete parents, only the intercepts varying (in a
  full-covariance mixture, one covariance matrix for every component: scikit-learn's
  ``covariance_type="tied"``).
* **held**: entries kept at their given values. A *fixed* node holds its whole CPD
  (tables and Gaussian CPDs); a table may also hold some entries of its distributions
  (any values, not only zeros), and the free entries of a distribution share the rest
  of its mass in proportion to their expected counts (the Lagrange maximum).

:class:`Constraints` is the immutable record a :class:`~bnem.network.bayesnet.BayesianNetwork`
carries; the methods ``share``, ``fix`` and ``hold`` of the network return a new
network with more constraints. The M-step (:class:`bnem.em.mstep.Maximizer`), the
counts of free parameters (BIC/AIC) and the standard errors read them from here.

>>> c = Constraints().with_group("emission", ("X1", "X2"))
>>> c.group_of("X2"), c.representative("X2")
('emission', 'X1')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .bayesnet import BayesianNetwork


SHARE_WHAT = ("all", "variance")


@dataclass(frozen=True)
class Constraints:
    """Shared groups (name -> member nodes, the first the representative; ``what``:
    name -> ``"variance"`` for Gaussian nodes sharing their variance only), held entries
    (node -> boolean mask of its table's shape, or None for a whole CPD) and the
    Gaussian nodes whose covariance is tied across their discrete parents' states."""

    shared: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    held: Mapping[str, np.ndarray | None] = field(default_factory=dict)
    what: Mapping[str, str] = field(default_factory=dict)
    tied: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.shared) or bool(self.held) or bool(self.tied)

    def with_group(self, name: str, nodes: tuple[str, ...], what: str = "all") -> "Constraints":
        kinds = {**self.what, name: what} if what != "all" else dict(self.what)
        return Constraints({**self.shared, name: tuple(nodes)}, self.held, kinds, self.tied)

    def with_held(self, node: str, mask: np.ndarray | None) -> "Constraints":
        if mask is not None:
            mask = np.array(mask, dtype=bool)
            mask.setflags(write=False)
        return Constraints(self.shared, {**self.held, node: mask}, self.what, self.tied)

    def with_tied(self, nodes: tuple[str, ...]) -> "Constraints":
        return Constraints(self.shared, self.held, self.what,
                           self.tied + tuple(n for n in nodes if n not in self.tied))

    def shares_all(self, name: str) -> bool:
        """Whether group ``name`` shares whole CPDs (not only variances)."""
        return self.what.get(name, "all") == "all"

    def group_of(self, node: str) -> str | None:
        """The name of the shared group ``node`` belongs to, or None."""
        for name, members in self.shared.items():
            if node in members:
                return name
        return None

    def representative(self, node: str) -> str:
        """The first member of ``node``'s group (``node`` itself when not shared, or
        when its group shares variances only)."""
        name = self.group_of(node)
        return node if name is None or not self.shares_all(name) else self.shared[name][0]

    def is_fixed(self, node: str) -> bool:
        """Whether every parameter of ``node``'s CPD is held."""
        if node not in self.held:
            return False
        mask = self.held[node]
        return mask is None or bool(mask.all())

    def key(self) -> str:
        """A stable text of these constraints (checkpoint fingerprints, equality)."""
        held = {n: (None if m is None else np.flatnonzero(np.ravel(m)).tolist())
                for n, m in sorted(self.held.items())}
        return repr((sorted(self.shared.items()), held, sorted(self.what.items()),
                     sorted(self.tied)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraints) and self.key() == other.key()

    __hash__ = None  # type: ignore[assignment]


FULL_MASS_TOL = 1e-12  # held entries summing to within this of 1 leave nothing free


def free_table_parameters(shape: tuple, mask: np.ndarray | None,
                          values: np.ndarray | None = None) -> int:
    """Free parameters of one table of ``shape`` (``(*parent_cards, card)``) whose
    entries ``mask`` are held: per distribution, its free entries less one (their sum is
    fixed), none when fewer than two are free, or when the held entries (``values``)
    take all its mass (the free ones are then 0).

    >>> free_table_parameters((2, 3), None)
    0
    >>> free_table_parameters((2, 3), np.array([[True, False, False], [False] * 3]))
    3
    >>> free_table_parameters((1, 3), np.array([[True, True, False]]),
    ...                       np.array([[0.5, 0.5, 0.0]]))
    0
    """
    if mask is None:
        return 0
    card = shape[-1]
    held = np.asarray(mask, dtype=bool).reshape(-1, card)
    free = card - held.sum(axis=1)
    if values is not None:
        mass = np.where(held, np.asarray(values).reshape(-1, card), 0.0).sum(axis=1)
        free = np.where(mass >= 1.0 - FULL_MASS_TOL, 0, free)
    return int(np.maximum(free - 1, 0).sum())


# -- checks of what users declare (the network's share / fix / hold) -----------------
def _names(nodes: Any, what: str) -> tuple[str, ...]:
    from ..errors import BnemTypeError
    if isinstance(nodes, str):
        return (nodes,)
    try:
        out = tuple(nodes)
    except TypeError:
        raise BnemTypeError(f"{what} takes a node name or a list of node names, got "
                            f"{type(nodes).__name__}") from None
    bad = [n for n in out if not isinstance(n, str)]
    if bad:
        raise BnemTypeError(f"{what} takes node names (strings), got {bad[0]!r}")
    return out


def check_share(network: "BayesianNetwork", name: str, nodes: Any,
                what: str = "all") -> tuple[str, ...]:
    """The members of a new shared group, checked: at least two distinct nodes of one
    kind, in no other group; tables of one shape, or Gaussian CPDs of one shape (the
    discrete parents' states, and for ``what="all"`` the number of continuous
    parents)."""
    from ..errors import BnemTypeError, BnemValueError, NetworkError
    if not isinstance(name, str) or not name:
        raise BnemTypeError(f"a shared block's name is a non-empty string, got {name!r}")
    if what not in SHARE_WHAT:
        raise BnemValueError(f"share(what=...) is 'all' (the whole CPD) or 'variance' "
                             f"(Gaussian nodes' variances only), got {what!r}")
    members = _names(nodes, "share")
    for n in members:
        network.index(n)
    if len(set(members)) != len(members) or len(members) < 2:
        raise NetworkError(f"share({name!r}) needs at least two distinct nodes, got "
                           f"{list(members)}")
    c = network.constraints
    if name in c.shared:
        raise NetworkError(f"a shared block named {name!r} exists already "
                           f"({list(c.shared[name])}); choose another name")
    cont = [n for n in members if n in network.continuous_nodes]
    if cont and len(cont) != len(members):
        raise NetworkError(f"share({name!r}): {cont} are Gaussian nodes and the others "
                           "discrete; a shared block is one kind of CPD")
    if not cont and what != "all":
        raise NetworkError(f"share({name!r}, what={what!r}): only Gaussian nodes share a "
                           "variance; discrete tables share whole (what='all')")
    taken = {n: c.group_of(n) for n in members if c.group_of(n) is not None}
    if taken:
        raise NetworkError(f"share({name!r}): node(s) already share a block: {taken}")
    tied = [n for n in members if n in c.tied]
    if tied:
        raise NetworkError(f"share({name!r}): {tied} have a tied covariance; a node is "
                           "either shared or tied")
    if cont:
        return _check_gaussian_shapes(network, name, members, what)
    shapes = {n: tuple(int(k) for k in network.table_shapes[network.discrete_index(n)])
              for n in members}
    first = shapes[members[0]]
    odd = {n: s for n, s in shapes.items() if s != first}
    if odd:
        raise NetworkError(
            f"share({name!r}): shared tables must have one shape (parent states..., states); "
            f"{members[0]!r} has {first} but " + ", ".join(f"{n!r} has {s}"
                                                           for n, s in odd.items()))
    if len({_held_key(c, n) for n in members}) > 1:
        raise NetworkError(f"share({name!r}): the nodes hold different entries; hold the "
                           "same entries of every member (or share first, then hold: "
                           "holding entries of a shared table holds them in every member)")
    return members


def _check_gaussian_shapes(network: "BayesianNetwork", name: str, members: tuple[str, ...],
                           what: str) -> tuple[str, ...]:
    from ..errors import NetworkError
    cpds = {n: network.cpd(n) for n in members}
    first = cpds[members[0]]
    for n, cpd in cpds.items():
        if cpd.mean_shape != first.mean_shape:
            raise NetworkError(f"share({name!r}): {members[0]!r}'s discrete parents have "
                               f"states {first.mean_shape} but {n!r}'s {cpd.mean_shape}; "
                               "shared Gaussian CPDs have one configuration per state")
        if what == "all" and len(cpd.continuous_parents) != len(first.continuous_parents):
            raise NetworkError(f"share({name!r}): {members[0]!r} has "
                               f"{len(first.continuous_parents)} continuous parent(s) but "
                               f"{n!r} has {len(cpd.continuous_parents)}; sharing a whole "
                               "Gaussian CPD needs as many (or share what='variance')")
    held = [n for n in members if n in network.constraints.held]
    if held and len(held) != len(members):
        raise NetworkError(f"share({name!r}): {held} are fixed and the others not; fix "
                           "all of them, or none")
    return members


def check_tie(network: "BayesianNetwork", nodes: Any) -> tuple[str, ...]:
    """Gaussian nodes whose covariance is to be tied, checked."""
    from ..errors import NetworkError
    out = _names(nodes, "tie_covariance")
    for n in out:
        network.index(n)
    discrete = [n for n in out if n not in network.continuous_nodes]
    if discrete:
        raise NetworkError(f"tie_covariance: {discrete} are discrete; a tied covariance is "
                           "a Gaussian node's regression shared by its discrete parents' "
                           "states")
    shared = {n: network.constraints.group_of(n) for n in out
              if network.constraints.group_of(n) is not None}
    if shared:
        raise NetworkError(f"tie_covariance: node(s) share a block already: {shared}; a "
                           "node is either shared or tied")
    return out


def _held_key(c: Constraints, node: str) -> object:
    if node not in c.held:
        return None
    mask = c.held[node]
    return "all" if mask is None else tuple(np.flatnonzero(mask).tolist())


def with_groups(network: "BayesianNetwork", nodes: tuple[str, ...]) -> tuple[str, ...]:
    """``nodes`` and every node sharing a table with one of them (in order, once)."""
    c = network.constraints
    out: list[str] = []
    for n in nodes:
        group = c.group_of(n)
        for m in c.shared[group] if group is not None else (n,):
            if m not in out:
                out.append(m)
    return tuple(out)


def check_fix(network: "BayesianNetwork", nodes: Any) -> tuple[str, ...]:
    """Nodes to fix, checked: known, and with CPD values to keep; a shared table's
    members are fixed together."""
    from ..errors import NetworkError
    out = _names(nodes, "fix")
    for n in out:
        network.index(n)
    out = with_groups(network, out)
    placeholders = [n for n in out if n in network.placeholder_nodes]
    if placeholders:
        raise NetworkError(
            f"cannot fix {placeholders}: the network was built without CPD values for "
            "them (a placeholder: uniform, or intercept 0 and variance 1), so there is "
            "nothing to keep. Give their CPDs (BayesianNetwork(..., cpds=...) or "
            "net.with_cpds({...})) before fixing them.")
    return out


def check_hold(network: "BayesianNetwork", node: str, mask: object) -> np.ndarray | None:
    """A held-entry mask of ``node``'s table, checked (None when it holds all)."""
    from ..errors import BnemTypeError, NetworkError
    if not isinstance(node, str):
        raise BnemTypeError(f"hold takes one node name, got {node!r}")
    shape = tuple(int(k) for k in network.table_shapes[network.discrete_index(node)])
    try:
        arr = np.asarray(mask)
    except Exception:  # noqa: BLE001 - any object numpy cannot read
        arr = np.asarray(None)
    if arr.dtype != bool:
        raise BnemTypeError(f"hold({node!r}): the mask is an array of True/False of the "
                            f"table's shape {shape}, got {describe_array(arr)}")
    if arr.shape != shape:
        raise NetworkError(f"hold({node!r}): the mask has shape {arr.shape}; the table's "
                           f"shape is {shape} (parent states..., states)")
    if node in network.placeholder_nodes and arr.any():
        raise NetworkError(f"cannot hold entries of {node!r}: the network was built "
                           "without CPD values for it; give its CPD first")
    return None if arr.all() else arr


def describe_array(arr: np.ndarray) -> str:
    return f"an array of dtype {arr.dtype} and shape {arr.shape}"
