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
* **form**: a table given by a few parameters (:mod:`bnem.network.forms`): a noisy-OR
  of its parents (a link probability per present parent state and a leak), or a
  Poisson count (a rate per parent configuration).

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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from .._validation import node_names
from ..errors import BnemTypeError, BnemValueError, NetworkError
from .gaussian import GaussianCPD
from .forms import TableForm


class Network(Protocol):
    """What the checks here read of a :class:`~bnem.network.bayesnet.BayesianNetwork`
    (a protocol, so that this module need not import the network's, which imports it)."""

    constraints: "Constraints"
    discrete_nodes: tuple
    continuous_nodes: tuple
    table_shapes: tuple

    def index(self, node: str) -> int: ...
    def discrete_index(self, node: str) -> int: ...
    def cpd(self, node: str) -> Any: ...
    @property
    def placeholder_nodes(self) -> frozenset: ...
    @property
    def fixed_nodes(self) -> tuple: ...


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
    forms: Mapping[str, TableForm] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.shared) or bool(self.held) or bool(self.tied) or bool(self.forms)

    def with_group(self, name: str, nodes: tuple[str, ...], what: str = "all") -> "Constraints":
        kinds = {**self.what, name: what} if what != "all" else dict(self.what)
        return replace(self, shared={**self.shared, name: tuple(nodes)}, what=kinds)

    def with_held(self, node: str, mask: np.ndarray | None) -> "Constraints":
        if mask is not None:
            mask = np.array(mask, dtype=bool)
            mask.setflags(write=False)
        return replace(self, held={**self.held, node: mask})

    def with_tied(self, nodes: tuple[str, ...]) -> "Constraints":
        return replace(self, tied=self.tied + tuple(n for n in nodes if n not in self.tied))

    def with_form(self, node: str, form: TableForm) -> "Constraints":
        return replace(self, forms={**self.forms, node: form})

    def of_kind(self, kind: str) -> dict:
        """Node -> form, for the nodes whose table has the form named ``kind``."""
        return {n: f for n, f in self.forms.items() if f.kind == kind}

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
        base: tuple = (sorted(self.shared.items()), held, sorted(self.what.items()),
                       sorted(self.tied))
        if self.forms:  # (keys of networks without table forms are as they were)
            base += (sorted((n, f.key()) for n, f in self.forms.items()),)
        return repr(base)

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
def check_share(network: Network, name: str, nodes: Any,
                what: str = "all") -> tuple[str, ...]:
    """The members of a new shared group, checked: at least two distinct nodes of one
    kind, in no other group; tables of one shape, or Gaussian CPDs of one shape (the
    discrete parents' states, and for ``what="all"`` the number of continuous
    parents)."""
    if not isinstance(name, str) or not name:
        raise BnemTypeError(f"a shared block's name is a non-empty string, got {name!r}")
    if what not in SHARE_WHAT:
        raise BnemValueError(f"share(what=...) is 'all' (the whole CPD) or 'variance' "
                             f"(Gaussian nodes' variances only), got {what!r}")
    members = node_names(nodes, "share")
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
    if len({c.forms[n].key() if n in c.forms else None for n in members}) > 1:
        raise NetworkError(f"share({name!r}): some of the nodes have a table form (noisy-OR, "
                           "Poisson) and others not, or another; share first, then declare "
                           "the form on one member: it applies to every member")
    if len({_held_key(c, n) for n in members}) > 1:
        raise NetworkError(f"share({name!r}): the nodes hold different entries; hold the "
                           "same entries of every member (or share first, then hold: "
                           "holding entries of a shared table holds them in every member)")
    return members


def _check_gaussian_shapes(network: Network, name: str, members: tuple[str, ...],
                           what: str) -> tuple[str, ...]:
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


def check_tie(network: Network, nodes: Any) -> tuple[str, ...]:
    """Gaussian nodes whose covariance is to be tied, checked."""
    out = node_names(nodes, "tie_covariance")
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


def with_groups(network: Network, nodes: tuple[str, ...]) -> tuple[str, ...]:
    """``nodes`` and every node sharing a table with one of them (in order, once)."""
    c = network.constraints
    out: list[str] = []
    for n in nodes:
        group = c.group_of(n)
        for m in c.shared[group] if group is not None else (n,):
            if m not in out:
                out.append(m)
    return tuple(out)


def check_fix(network: Network, nodes: Any) -> tuple[str, ...]:
    """Nodes to fix, checked: known, and with CPD values to keep; a shared table's
    members are fixed together."""
    out = node_names(nodes, "fix")
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


def check_hold(network: Network, node: str, mask: object) -> np.ndarray | None:
    """A held-entry mask of ``node``'s table, checked (None when it holds all)."""
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
    form = network.constraints.forms.get(node)
    if form is not None and not arr.all():
        raise NetworkError(f"cannot hold entries of {node!r}: it is a {form.kind} node, whose "
                           "table is given by its parameters; fix it whole instead")
    if node in network.placeholder_nodes and arr.any():
        raise NetworkError(f"cannot hold entries of {node!r}: the network was built "
                           "without CPD values for it; give its CPD first")
    return None if arr.all() else arr


def check_form(network: Network, node: str, what: str) -> None:
    """A node that may take a table form (``what``: the method's name): discrete, no
    held entries (for a noisy-OR: two states)."""
    if not isinstance(node, str):
        raise BnemTypeError(f"{what} takes one node name, got {node!r}")
    shape = network.table_shapes[network.discrete_index(node)]
    if what == "noisy_or" and int(shape[-1]) != 2:
        raise NetworkError(f"noisy_or({node!r}): a noisy-OR node has two states (absent, "
                           f"present); {node!r} has {int(shape[-1])} (graded noisy-MAX "
                           "nodes are not supported yet)")
    held = network.constraints.held
    partly = [m for m in with_groups(network, (node,)) if m in held and
              not network.constraints.is_fixed(m)]
    if partly:
        raise NetworkError(f"{what}({node!r}): {partly} hold some entries; the table is "
                           "given by its parameters (fix it whole, or hold nothing)")


def describe_array(arr: np.ndarray) -> str:
    return f"an array of dtype {arr.dtype} and shape {arr.shape}"


def share_value(own: Any, given: Any, whole: bool) -> Any:
    """What a member of a shared group holds once another member is given ``given``:
    the same CPD, or (a shared variance) its own regression with the given variance."""
    if whole:
        return given
    variance = given.variance if isinstance(given, GaussianCPD) else \
        given.get("variance", 1.0) if isinstance(given, Mapping) else None
    if variance is None:
        raise NetworkError("a node sharing its variance takes a GaussianCPD or a mapping "
                           f"with 'variance'; got {type(given).__name__}")
    if isinstance(own, GaussianCPD):
        own = {"intercept": own.intercept, "weights": own.weights}
    return {**own, "variance": variance}


def check_shared_values(network: Network, group: str, given: str) -> None:
    """The members of a shared group hold one CPD (or one variance)."""
    c = network.constraints
    members = c.shared[group]

    def arrays(node: str) -> list:
        cpd = network.cpd(node)
        if node in network.discrete_nodes:
            return [cpd.values]
        return [cpd.intercept, cpd.weights, cpd.variance] if c.shares_all(group) \
            else [cpd.variance]
    first = arrays(given)
    odd = [m for m in members if not all(np.array_equal(a, b)
                                         for a, b in zip(arrays(m), first))]
    if odd:
        what = "CPD" if c.shares_all(group) else "variance"
        raise NetworkError(f"with_cpds: {list(members)} share the block {group!r} (one "
                           f"{what}), but {odd} were given another {what} than {given!r}; "
                           "give one of them, or the same to all")


def check_tied_values(network: Network, nodes: list) -> None:
    """Tied nodes given new CPDs must have one regression for every configuration."""
    for node in nodes:
        cpd = network.cpd(node)
        g = cpd.intercept.size
        w = cpd.weights.reshape(g, -1)
        if not ((w == w[:1]).all() and (cpd.variance == cpd.variance.flat[0]).all()):
            raise NetworkError(
                f"{node!r} has a tied covariance: its weights and variance must be the same "
                "for every configuration of its discrete parents (only the intercepts vary); "
                f"got weights {w.tolist()} and variances {cpd.variance.ravel().tolist()}")


def gaussian_parameters(network: Network) -> int:
    """Free Gaussian parameters: per node and configuration an intercept, the weights
    and a variance; a whole shared CPD once, a shared variance once per configuration,
    a tied node's weights and variance once; none of a fixed CPD."""
    c = network.constraints
    total = 0
    for node in network.continuous_nodes:
        cpd = network.cpd(node)
        if c.is_fixed(node) or c.representative(node) != node:
            continue
        g, p = cpd.intercept.size, len(cpd.continuous_parents)
        group = c.group_of(node)
        if node in c.tied:
            total += g + p + 1
        elif group is not None and c.shared[group][0] != node:  # shares a variance only
            total += g * (p + 1)
        else:
            total += g * (p + 2)
    return total


def tied_regression(cpd: GaussianCPD) -> tuple[np.ndarray, np.ndarray]:
    """The weights and variances of a Gaussian CPD with its regression tied across the
    configurations of its discrete parents: its own arrays when they are tied already,
    else the means over the configurations."""
    g = cpd.intercept.size
    w = cpd.weights.reshape(g, -1)
    if (w == w[:1]).all() and (cpd.variance == cpd.variance.flat[0]).all():
        return cpd.weights, cpd.variance
    return (np.broadcast_to(w.mean(axis=0), cpd.weights.shape).copy(),
            np.full(cpd.mean_shape, float(cpd.variance.mean())))
