"""The ``BayesianNetwork`` value: variables, a DAG, one CPD per node (network layer)."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._validation import all_finite
from ..data.variables import ContinuousVariable, Variable
from ..errors import BnemTypeError, BnemValueError, NetworkError
from . import facades
from . import noisy_or as _noisy
from .constraints import (Constraints, check_fix, check_form, check_hold, check_share,
                          check_shared_values,
                          check_tie, check_tied_values, free_table_parameters,
                          gaussian_parameters, share_value, tied_regression, with_groups)
from .cpd import TabularCPD
from .forms import check_poisson, count_states
from .gaussian import GaussianCPD
from .dag import build_dag, topological_order


CONTINUOUS = "continuous"


class BayesianNetwork:
    """A discrete or hybrid (conditional linear Gaussian) Bayesian network.

    Parameters
    ----------
    variables : sequence of Variable / ContinuousVariable, or mapping name -> states
        In the mapping form, the value ``"continuous"`` makes a Gaussian node.
    parents : mapping name -> sequence of parent names, optional
        Nodes not listed have no parents.
    cpds : mapping name -> CPD, optional
        Discrete nodes: a TabularCPD or an array of shape ``(*parent_cards, card)``.
        Continuous nodes: a GaussianCPD or a mapping with ``intercept``, ``weights``
        (one per continuous parent, last axis) and ``variance``, each indexed by the
        discrete parents' states. Nodes without a CPD get a uniform table, or
        intercept 0, weights 0 and variance 1 (useful for a structure to be learned).

    Raises
    ------
    NetworkError
        Unknown parent, duplicate node, bad CPD shape or normalisation, a discrete
        node with a continuous parent.
    CycleError
        The parents form a directed cycle (named in the message).

    Examples
    --------
    >>> net = BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]},
    ...                       {"wet": ["rain"]},
    ...                       {"rain": [0.2, 0.8], "wet": [[0.9, 0.1], [0.1, 0.9]]})
    >>> net.nodes
    ('rain', 'wet')
    """

    def __init__(self, variables: Sequence | Mapping, parents: Mapping | None = None,
                 cpds: Mapping | None = None,
                 name: str = "unknown"):
        self.name = name
        self._variables = _as_variables(variables)
        self.nodes = tuple(v.name for v in self._variables)
        self._id = {n: i for i, n in enumerate(self.nodes)}
        parents = _as_parents(parents)
        graph = build_dag(self.nodes, parents)
        self._parents = {n: tuple(parents.get(n, ())) for n in self.nodes}
        self.topological_order = tuple(topological_order(graph, self.nodes))
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for c in self.nodes:
            for p in self._parents[c]:
                children[p].append(c)
        self._children = {n: tuple(v) for n, v in children.items()}
        kinds = {v.name: v.is_continuous for v in self._variables}
        for n in self.nodes:
            cont = [p for p in self._parents[n] if kinds[p]]
            if cont and not kinds[n]:
                raise NetworkError(
                    f"discrete node {n!r} has continuous parent(s) {cont}; a discrete node may "
                    "only have discrete parents (conditional linear Gaussian networks). Reverse "
                    "the edge(s) or discretise the parent(s).")
        self.discrete_nodes = tuple(n for n in self.nodes if not kinds[n])
        self.continuous_nodes = tuple(n for n in self.nodes if kinds[n])
        self._did = {n: i for i, n in enumerate(self.discrete_nodes)}
        disc = [v for v in self._variables if not v.is_continuous]
        self.cards = np.array([v.card for v in disc], dtype=np.int64)
        # integer ids inside the discrete part: positions in ``discrete_nodes``
        self.parent_ids = tuple(tuple(self._did[p] for p in self._parents[n])
                                for n in self.discrete_nodes)
        shapes = [tuple(self.cards[list(pids)]) + (self.cards[i],)
                  for i, pids in enumerate(self.parent_ids)]
        sizes = np.array([_table_size(n, s) for n, s in zip(self.discrete_nodes, shapes)],
                         dtype=np.int64)
        self.table_shapes = tuple(shapes)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        for a in (self.cards, self.offsets):  # shared with copies (from_flat)
            a.setflags(write=False)
        given = dict(cpds or {})
        self._cpds = self._build_cpds(given)
        # nodes whose CPD was not given (a placeholder): they cannot be held fixed
        self._defaulted = frozenset(n for n in self.nodes if given.get(n) is None)
        self.constraints = Constraints()

    @property
    def is_hybrid(self) -> bool:
        """Whether the network has continuous (Gaussian) nodes."""
        return bool(self.continuous_nodes)

    def discrete_index(self, node: str) -> int:
        """Integer id of a discrete ``node`` among :attr:`discrete_nodes`."""
        self.index(node)
        try:
            return self._did[node]
        except KeyError:
            raise NetworkError(f"{node!r} is a continuous node; a discrete node was expected "
                               f"(discrete nodes: {list(self.discrete_nodes)})") from None

    # -- construction helpers -------------------------------------------------
    def _build_cpds(self, cpds: dict) -> dict:
        unknown = [k for k in cpds if k not in self._id]
        if unknown:
            raise NetworkError(f"CPDs given for unknown node(s) {unknown}; nodes are {list(self.nodes)}")
        states = {v.name: v.states for v in self._variables}
        out: dict[str, TabularCPD | GaussianCPD] = {}
        for i, node in enumerate(self.discrete_nodes):
            shape = self.table_shapes[i]
            given = cpds.get(node)
            if given is None:
                out[node] = TabularCPD(node, self._parents[node], np.full(shape, 1.0 / shape[-1]),
                                       state_names=states)
                continue
            if isinstance(given, GaussianCPD):
                raise NetworkError(f"{node!r} is a discrete node but was given a GaussianCPD")
            if isinstance(given, TabularCPD):
                if given.parents != self._parents[node]:
                    raise NetworkError(
                        f"CPD of {node!r} is conditioned on {list(given.parents)}, "
                        f"but the network gives it parents {list(self._parents[node])}"
                    )
                given = given.values
            out[node] = TabularCPD(node, self._parents[node], given, cards=shape, state_names=states)
        for node in self.continuous_nodes:
            out[node] = self._gaussian_cpd(node, cpds.get(node))
        return {n: out[n] for n in self.nodes}

    def _gaussian_cpd(self, node, given, keep: bool = False) -> GaussianCPD:
        """The CPD of continuous ``node`` from what was given; with ``keep``, a given
        :class:`GaussianCPD` of the right parents and shapes, finite and with positive
        variances, is itself the answer (otherwise the checks say what is wrong)."""
        disc = tuple(p for p in self._parents[node] if p in self._did)
        cont = tuple(p for p in self._parents[node] if p not in self._did)
        shape = tuple(int(self.cards[self._did[p]]) for p in disc)
        if keep and isinstance(given, GaussianCPD) and given.discrete_parents == disc \
                and given.continuous_parents == cont and given.mean_shape == shape \
                and _valid_values(given):
            return given
        if given is None:
            return GaussianCPD(node, disc, cont, 0.0, None, 1.0, discrete_cards=shape,
                               state_names={p: self.states(p) for p in disc})
        if isinstance(given, TabularCPD):
            raise NetworkError(f"{node!r} is a continuous node but was given a TabularCPD")
        if isinstance(given, GaussianCPD):
            if given.discrete_parents != disc or given.continuous_parents != cont:
                raise NetworkError(
                    f"Gaussian CPD of {node!r} has discrete parents {list(given.discrete_parents)} "
                    f"and continuous parents {list(given.continuous_parents)}, but the network "
                    f"gives it discrete {list(disc)} and continuous {list(cont)}")
            given = {"intercept": given.intercept, "weights": given.weights,
                     "variance": given.variance}
        if not isinstance(given, Mapping):
            raise NetworkError(
                f"the CPD of continuous node {node!r} must be a GaussianCPD or a mapping with "
                f"keys 'intercept', 'weights', 'variance'; got {type(given).__name__}")
        extra = set(given) - {"intercept", "weights", "variance"}
        if extra:
            raise NetworkError(f"Gaussian CPD of {node!r}: unknown key(s) {sorted(extra)}; "
                               "expected 'intercept', 'weights', 'variance'")
        return GaussianCPD(node, disc, cont, given.get("intercept", 0.0), given.get("weights"),
                           given.get("variance", 1.0), discrete_cards=shape,
                           state_names={p: self.states(p) for p in disc})

    @classmethod
    def from_flat(cls, template: "BayesianNetwork", theta: np.ndarray,
                  gaussians: Mapping | None = None) -> "BayesianNetwork":
        """A copy of ``template`` whose tables are read from the flat vector ``theta``
        (and whose Gaussian CPDs are ``gaussians``, or the template's).

        The copy shares the template's structure, which never changes after
        construction (so the DAG is not checked again); its tables are checked as any
        :class:`TabularCPD`, and Gaussian CPDs (immutable) are taken as they are once
        their parents are checked."""
        new = copy.copy(template)
        states = {v.name: v.states for v in template._variables}
        cpds: dict[str, Any] = {}
        for i, n in enumerate(template.discrete_nodes):
            shape = template.table_shapes[i]
            cpds[n] = TabularCPD(n, template._parents[n],
                                 theta[template.offsets[i]:template.offsets[i + 1]].reshape(shape),
                                 cards=shape, state_names=states)
        for n in template.continuous_nodes:
            cpds[n] = template._gaussian_cpd(n, (gaussians or template._cpds)[n], keep=True)
        new._cpds = {n: cpds[n] for n in template.nodes}
        new._defaulted = frozenset()
        return new

    # -- accessors ---------------------------------------------------------------
    @property
    def variables(self) -> dict:
        """Mapping node name -> :class:`Variable`."""
        return {v.name: v for v in self._variables}

    def variable(self, node: str) -> Variable:
        return self._variables[self.index(node)]

    def states(self, node: str) -> tuple:
        return self.variable(node).states

    def index(self, node: str) -> int:
        """Integer id of ``node``."""
        try:
            return self._id[node]
        except KeyError:
            raise NetworkError(f"{node!r} is not a node; nodes are {list(self.nodes)}") from None
        except TypeError:
            raise BnemTypeError(f"node names are strings, got {node!r}") from None

    def parents(self, node: str) -> tuple:
        self.index(node)
        return self._parents[node]

    def children(self, node: str) -> tuple:
        self.index(node)
        return self._children[node]

    def cpd(self, node: str) -> Any:  # TabularCPD or GaussianCPD, by the node's kind
        """The node's :class:`TabularCPD` (discrete) or :class:`GaussianCPD` (continuous)."""
        self.index(node)
        return self._named(self._cpds[node])

    def _named(self, cpd: Any) -> Any:
        """``cpd`` with its family's state names (CPDs built outside the constructor,
        such as an M-step's, get them here; the names depend only on the structure)."""
        if getattr(cpd, "state_names", None) is None:  # (pickled by an older bnem: unset)
            family = cpd.discrete_parents if isinstance(cpd, GaussianCPD) else cpd.family
            cpd.state_names = {v: self.states(v) for v in family}
        return cpd

    def configuration(self, parents: Sequence[str], index: int) -> dict:
        """The states of ``parents`` at their joint configuration number ``index`` (C
        order, the last parent fastest), as ``{parent: state}``.

        >>> net = BayesianNetwork({"a": ["x", "y"], "b": ["u", "v", "w"]})
        >>> net.configuration(["a", "b"], 4)
        {'a': 'y', 'b': 'v'}
        """
        parents = tuple(parents)
        if not parents:
            return {}
        cards = tuple(len(self.states(p)) for p in parents)
        config = np.unravel_index(int(index), cards)
        return {p: self.states(p)[int(k)] for p, k in zip(parents, config)}

    @property
    def cpds(self) -> dict:
        return {n: self._named(c) for n, c in self._cpds.items()}

    @property
    def edges(self) -> list:
        return [(p, n) for n in self.nodes for p in self._parents[n]]

    @property
    def n_parameters(self) -> int:
        """Number of free parameters: configs * (card - 1) per table, plus per Gaussian
        node and discrete parent configuration an intercept, the weights and a variance;
        a shared block counted once, held entries and fixed CPDs not at all (see
        :meth:`share`, :meth:`fix`, :meth:`hold`)."""
        c = self.constraints
        total = gaussian_parameters(self)
        for node, shape in zip(self.discrete_nodes, self.table_shapes):
            if c.representative(node) != node:
                continue  # counted with its group's first member
            if node in c.held:
                total += free_table_parameters(shape, c.held[node], self._cpds[node].values)
            elif node in c.forms:
                total += c.forms[node].n_free(shape)
            else:
                total += int(np.prod(shape[:-1])) * (shape[-1] - 1)
        return int(total)

    # -- shared and held blocks (bnem.network.constraints) -------------------------
    @property
    def shared_groups(self) -> dict:
        """Mapping group name -> the nodes sharing one CPD (see :meth:`share`)."""
        return dict(self.constraints.shared)

    @property
    def placeholder_nodes(self) -> frozenset:
        """Nodes built without CPD values (a uniform table, or intercept 0 and variance
        1, stand in); fitted networks have none."""
        return self._defaulted

    @property
    def fixed_nodes(self) -> tuple:
        """Nodes whose whole CPD is held at its values (see :meth:`fix`)."""
        return tuple(n for n in self.nodes if self.constraints.is_fixed(n))

    def held_mask(self, node: str) -> np.ndarray | None:
        """Boolean mask (the table's shape) of the held entries of discrete ``node``'s
        table, or None when none are held. For a continuous node: None, or True when its
        CPD is fixed."""
        self.index(node)
        if node not in self.constraints.held:
            return None
        mask = self.constraints.held[node]
        if node in self._did:
            shape = self.table_shapes[self._did[node]]
            return np.ones(shape, dtype=bool) if mask is None else mask.copy()
        return np.array(True)

    def share(self, name: str, nodes: Sequence[str], what: str = "all") -> "BayesianNetwork":
        """A copy of this network in which ``nodes`` share one CPD, the block ``name``.

        Discrete nodes share tables of the same shape (the same number of states, and
        parents with the same numbers of states, in order): EM pools their expected
        counts and gives them one table. Gaussian nodes share their whole CPD
        (``what="all"``: intercepts, weights and variance; the same discrete-parent
        states and number of continuous parents, matched by position) or only their
        variance (``what="variance"``: per discrete configuration one variance, each
        node keeping its own regression; a spherical mixture): EM pools their
        regression statistics. BIC, AIC and standard errors count a shared parameter
        once. The copy's CPDs of ``nodes`` take the values (or variance) of the first
        node listed; a node may belong to one group only.

        >>> net = BayesianNetwork({"z": ["a", "b"], "x1": ["0", "1"], "x2": ["0", "1"]},
        ...                       {"x1": ["z"], "x2": ["z"]})
        >>> tied = net.share("item", ["x1", "x2"])
        >>> tied.shared_groups, net.n_parameters, tied.n_parameters
        ({'item': ('x1', 'x2')}, 5, 3)
        """
        members = check_share(self, name, nodes, what)
        new = self.with_cpds({n: self._shared_value(members[0], n, what)
                              for n in members[1:]})
        new.constraints = self.constraints.with_group(name, members, what)
        if members[0] in self._defaulted:  # the others hold the first's placeholder now
            new._defaulted = new._defaulted | set(members)
        return new

    def _shared_value(self, first: str, node: str, what: str) -> Any:
        """What ``node`` holds once it shares ``first``'s CPD (or variance)."""
        cpd = self._cpds[first]
        if node in self._did:
            return cpd.values
        own = self._cpds[node]
        if what == "variance":
            return {"intercept": own.intercept, "weights": own.weights,
                    "variance": cpd.variance}
        return {"intercept": cpd.intercept, "weights": cpd.weights, "variance": cpd.variance}

    def tie_covariance(self, nodes: Sequence[str] | str) -> "BayesianNetwork":
        """A copy of this network in which each of the Gaussian ``nodes`` has one
        regression (weights on its continuous parents, and variance) for every
        configuration of its discrete parents, only the intercepts varying: in a
        full-covariance mixture, one covariance matrix for all components (scikit-
        learn's ``covariance_type="tied"``). The copy's weights and variances are the
        means over the configurations of the given ones.

        >>> net = BayesianNetwork({"z": ["a", "b"], "x": "continuous"}, {"x": ["z"]})
        >>> net.n_parameters, net.tie_covariance("x").n_parameters
        (5, 4)
        """
        tied = check_tie(self, nodes)
        values = {}
        for n in tied:
            cpd = self._cpds[n]
            weights, variance = tied_regression(cpd)
            if weights is not cpd.weights:  # (tied already, e.g. read from a file: kept)
                values[n] = {"intercept": cpd.intercept, "weights": weights,
                             "variance": variance}
        new = self.with_cpds(values) if values else copy.copy(self)
        new._defaulted = self._defaulted
        new.constraints = self.constraints.with_tied(tied)
        return new

    def fix(self, nodes: Sequence[str] | str) -> "BayesianNetwork":
        """A copy of this network whose ``nodes`` keep their CPDs (tables or Gaussian)
        as they are while EM learns the rest (fixing a shared table fixes every member).

        >>> net = BayesianNetwork({"a": ["y", "n"], "b": ["y", "n"]}, {"b": ["a"]},
        ...                       {"a": [0.3, 0.7]})
        >>> net.fix("a").fixed_nodes, net.fix("a").n_parameters
        (('a',), 2)
        """
        new = copy.copy(self)
        constraints = self.constraints
        for node in check_fix(self, nodes):
            constraints = constraints.with_held(node, None)
        new.constraints = constraints
        return new

    def hold(self, node: str, mask: Any) -> "BayesianNetwork":
        """A copy of this network in which the entries ``mask`` of discrete ``node``'s
        table (a boolean array of the table's shape ``(*parent_cards, card)``) keep their
        values; in each distribution the free entries share the remaining probability in
        proportion to their expected counts. Holding entries of a shared table holds
        them in every member.

        >>> net = BayesianNetwork({"a": ["x", "y", "z"]}, cpds={"a": [0.5, 0.25, 0.25]})
        >>> net.hold("a", [True, False, False]).n_parameters
        1
        """
        held = check_hold(self, node, mask)
        new = copy.copy(self)
        for member in with_groups(self, (node,)):  # a shared table holds them in every member
            new.constraints = new.constraints.with_held(member, held)
        return new

    def noisy_or(self, node: str, absent: Mapping[str, str] | None = None,
                 leak: bool | float = True,
                 links: Mapping[str, Any] | None = None) -> "BayesianNetwork":
        """A copy of this network in which the two-state ``node`` is a noisy-OR of its
        parents: each parent in a present state ``s`` causes ``node``'s present state
        with its own link probability, independently of the others, and a leak causes
        it with no parent present (:mod:`bnem.network.noisy_or`). EM learns the links
        and the leak from incomplete data, and BIC, AIC and the degrees of freedom count
        one parameter per present parent state plus the leak, not the full table.

        Parameters
        ----------
        absent : mapping variable -> state, optional
            The absent state of ``node`` and of each parent. A variable not named takes
            its state called "no", "false", "absent", "off", "none", "normal",
            "negative" or "0" (case-insensitive), or else its first state.
        leak : bool or float, default True
            False: no leak (held at 0). True: a learned leak. A number: a learned leak
            starting at (or, for a fixed node, kept at) that value.
        links : mapping, optional
            Parent -> link probability (a two-state parent), or parent -> {present
            state: probability}. Without it the links are read off the node's current
            table (a node built without values starts with links 0.5 and leak 0.1).

        A shared table's members become noisy-OR nodes together; ``links_of`` reads
        the learned links back.

        >>> net = BayesianNetwork({"flu": ["no", "yes"], "cold": ["no", "yes"],
        ...                        "fever": ["no", "yes"]}, {"fever": ["flu", "cold"]})
        >>> no = net.noisy_or("fever", links={"flu": 0.8, "cold": 0.3}, leak=0.05)
        >>> no.n_parameters, net.n_parameters
        (5, 6)
        >>> no.cpd("fever").values[1, 1].round(3).tolist()  # flu and cold: 1 - .95*.2*.7
        [0.133, 0.867]
        """
        check_form(self, node, "noisy_or")
        if not isinstance(leak, (bool, np.bool_)) and not isinstance(leak, (int, float)):
            raise BnemTypeError(f"noisy_or({node!r}, leak=...): True, False or a "
                                f"probability, got {leak!r}")
        if not isinstance(leak, (bool, np.bool_)) and leak == 0:
            raise NetworkError(f"noisy_or({node!r}, leak=0): a learned leak starting at 0 "
                               "could never move; leak=False means no leak")
        if absent is not None and not isinstance(absent, Mapping):
            raise BnemTypeError(f"noisy_or({node!r}, absent=...): a mapping from variable "
                                f"names to their absent state, e.g. {{{node!r}: 'no'}}; "
                                f"got {absent!r}")
        parents = self._parents[node]
        family = parents + (node,)
        states = {v: self.states(v) for v in family}
        spec = _noisy.NoisyOr(_noisy.choose_absent(node, family, states, absent),
                              leak is not False)
        shape = self.table_shapes[self._did[node]]
        placeholder = node in self._defaulted and links is None
        if links is not None:
            ps, p_leak = _noisy.given_links(node, spec, parents, states, links,
                                            _noisy.PLACEHOLDER_LEAK if leak is True else leak)
        elif placeholder:
            ps = [np.where(np.arange(c) == a, 0.0, _noisy.PLACEHOLDER_LINK)
                  for c, a in zip(shape[:-1], spec.absent)]
            p_leak = _noisy.PLACEHOLDER_LEAK if spec.leak else 0.0
        else:
            ps, p_leak = _noisy.links_of(spec, self._cpds[node].values)
        if spec.leak and not isinstance(leak, (bool, np.bool_)):
            p_leak = _noisy._probability(node, "leak", leak)
        values = _noisy.table(spec, ps, p_leak, shape)
        if links is None and not placeholder and isinstance(leak, (bool, np.bool_)) and \
                _noisy.is_noisy_or(spec, self._cpds[node].values, tol=1e-12):
            values = self._cpds[node].values  # a noisy-OR table already: kept as it is
        return self._with_form(node, spec, values, placeholder)

    def _with_form(self, node: str, form: Any, values: np.ndarray,
                   placeholder: bool) -> "BayesianNetwork":
        """A copy with ``node`` (and its shared group) given ``form`` and ``values``."""
        new = self.with_cpds({node: values})
        if placeholder:
            new._defaulted = self._defaulted
        for member in with_groups(self, (node,)):
            new.constraints = new.constraints.with_form(member, form)
        return new

    @property
    def noisy_or_nodes(self) -> tuple:
        """The noisy-OR nodes (see :meth:`noisy_or`)."""
        return tuple(n for n in self.nodes if n in self.constraints.of_kind("noisy-OR"))

    def poisson(self, node: str, rates: Any = None) -> "BayesianNetwork":
        """A copy of this network in which the count ``node`` is Poisson: its states
        are ``"0"`` .. ``"M"`` and a last one for larger counts (build them with
        :func:`bnem.count_states`), and in each configuration of its parents its table
        is the Poisson distribution of one rate (the last state: ``P(Y > M)``), so the
        likelihood of an observed count is exactly Poisson. EM learns the rates (the
        closed-form M-step, a missing count summed out exactly), BIC and AIC count one
        parameter per parent configuration, and the Dirichlet ``prior=`` does not apply
        to it. ``rates``: a number or an array of the parents' states; without it they
        are read off the current table (a node built without values starts at rate 1).

        >>> net = BayesianNetwork({"z": ["a", "b"], "y": count_states(4)}, {"y": ["z"]})
        >>> pois = net.poisson("y", rates=[0.5, 3.0])
        >>> pois.rates_of("y").tolist(), pois.n_parameters
        ([0.5, 3.0], 3)
        """
        check_form(self, node, "poisson")
        form = check_poisson(node, self.states(node))
        shape = self.table_shapes[self._did[node]]
        placeholder = node in self._defaulted and rates is None
        if rates is None:
            given = np.ones(shape[:-1]) if placeholder else \
                form.rates_of(self._cpds[node].values)
        else:
            try:
                given = np.broadcast_to(np.asarray(rates, dtype=float), shape[:-1])
            except (TypeError, ValueError):
                raise NetworkError(f"poisson({node!r}, rates=...): a non-negative number or "
                                   f"an array of shape {tuple(int(k) for k in shape[:-1])} (the parents' "
                                   f"states), got {rates!r}") from None
            if not (np.isfinite(given).all() and (given >= 0).all()):
                raise NetworkError(f"poisson({node!r}): rates are finite and >= 0, got "
                                   f"{np.asarray(rates).tolist()}")
        values = form.table(given)
        lost = ~np.isclose(form.rates_of(values), given, rtol=1e-9, atol=0)
        if rates is not None and lost.any():
            raise NetworkError(f"poisson({node!r}): rate {float(given[lost].flat[0])!r} "
                               f"puts almost all its mass above the largest count "
                               f"{form.max_count}, where the table cannot tell rates apart; "
                               "give the node more states (bnem.count_states(M) with a "
                               "larger M)")
        if rates is None and not placeholder and form.is_table(self._cpds[node].values, 1e-12):
            values = self._cpds[node].values  # a Poisson table already: kept as it is
        return self._with_form(node, form, values, placeholder)

    @property
    def poisson_nodes(self) -> tuple:
        """The Poisson count nodes (see :meth:`poisson`)."""
        return tuple(n for n in self.nodes if n in self.constraints.of_kind("Poisson"))

    def rates_of(self, node: str) -> np.ndarray:
        """A Poisson node's rates, an array of its parents' states (see :meth:`poisson`)."""
        return self._form(node, "Poisson", "poisson").rates_of(self._cpds[node].values)

    def _form(self, node: str, kind: str, method: str) -> Any:
        """``node``'s table form of ``kind`` (an error naming the nodes that have one)."""
        self.index(node)
        form = self.constraints.of_kind(kind).get(node)
        if form is None:
            have = [n for n in self.nodes if n in self.constraints.of_kind(kind)]
            raise NetworkError(f"{node!r} is not a {kind} node ({kind} nodes: {have}); "
                               f"declare it with net.{method}(node)")
        return form

    def links_of(self, node: str) -> pd.Series:
        """A noisy-OR node's link probabilities, indexed by (parent, present state),
        and its leak (index ``("leak", "")``), read off its table.

        >>> net = BayesianNetwork({"a": ["no", "yes"], "x": ["no", "yes"]}, {"x": ["a"]})
        >>> net.noisy_or("x", links={"a": 0.9}, leak=0.2).links_of("x").round(3).tolist()
        [0.9, 0.2]
        """
        spec = self._form(node, "noisy-OR", "noisy_or")
        ps, p_leak = _noisy.links_of(spec, self._cpds[node].values)
        index, values = [], []
        for i, p in enumerate(self._parents[node]):
            for j, s in enumerate(self.states(p)):
                if j != spec.absent[i]:
                    index.append((p, s))
                    values.append(float(ps[i][j]))
        index.append(("leak", ""))
        values.append(p_leak)
        return pd.Series(values, index=pd.MultiIndex.from_tuples(index,
                                                                names=["parent", "state"]),
                         name=node)

    @property
    def gaussian_cpds(self) -> dict:
        """Mapping continuous node -> :class:`GaussianCPD`."""
        return {n: self._named(self._cpds[n]) for n in self.continuous_nodes}

    def flat_params(self) -> np.ndarray:
        """All discrete CPD tables concatenated in node order (C order within a table)."""
        if not self.discrete_nodes:
            return np.zeros(0)
        return np.concatenate([self._cpds[n].values.ravel() for n in self.discrete_nodes])

    def with_cpds(self, cpds: Mapping) -> "BayesianNetwork":
        """A new network with some CPDs replaced."""
        merged = {n: getattr(c, "values", c) for n, c in self._cpds.items()}
        merged.update(cpds)
        c = self.constraints
        given_in: dict[str, str] = {}
        for node in cpds:  # a shared block has one value: the members not given take it
            group = c.group_of(node) if isinstance(node, str) else None
            if group is not None and group not in given_in:
                given_in[group] = node
                for member in c.shared[group]:
                    if member not in cpds:
                        merged[member] = share_value(merged[member], cpds[node],
                                                      c.shares_all(group))
        new = BayesianNetwork(self._variables, self._parents, merged, name=self.name)
        new.constraints = self.constraints
        new._defaulted = frozenset(n for n in self._defaulted if n not in cpds)
        for group, node in given_in.items():
            check_shared_values(new, group, node)
        check_tied_values(new, [n for n in cpds if n in c.tied])
        _check_form_values(new, [n for n in c.forms if n in cpds or any(
            c.group_of(n) == g for g in given_in)])
        return new

    def __repr__(self):
        kind = f" ({len(self.continuous_nodes)} continuous)" if self.continuous_nodes else ""
        return (f"BayesianNetwork({self.name!r}: {len(self.nodes)} nodes{kind}, {len(self.edges)} edges, "
                f"{self.n_parameters} free parameters)")

    def to_frame(self) -> pd.DataFrame:
        """The nodes as a DataFrame indexed by node: ``kind`` (discrete or continuous),
        ``states`` (their names, or ``"continuous"``), ``parents`` and ``fixed`` (held as
        given by a fit).

        >>> BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]},
        ...                 {"wet": ["rain"]}).to_frame()
                  kind   states parents  fixed
        node
        rain  discrete  yes, no          False
        wet   discrete  yes, no    rain  False
        """
        fixed = set(self.fixed_nodes)
        return pd.DataFrame({
            "kind": ["continuous" if n in self.continuous_nodes else "discrete"
                     for n in self.nodes],
            "states": [", ".join(self.states(n)) if n in self.discrete_nodes else "continuous"
                       for n in self.nodes],
            "parents": [", ".join(self._parents[n]) for n in self.nodes],
            "fixed": [n in fixed for n in self.nodes],
        }, index=pd.Index(self.nodes, name="node"))

    def _repr_html_(self) -> str:
        from .frames import frame_html
        return frame_html(repr(self), self.to_frame())

    def __eq__(self, other):
        return (isinstance(other, BayesianNetwork) and self._variables == other._variables
                and self._parents == other._parents and self._cpds == other._cpds
                and self.constraints == other.constraints)

    __hash__ = None  # type: ignore[assignment]  # mutable value: not hashable

    # -- sampling ----------------------------------------------------------------
    def sample(self, n: int, seed: Any = None, missing: float = 0.0,
               hide: Sequence[str] = ()) -> pd.DataFrame:
        """Forward-sample ``n`` rows; see :func:`bnem.network.sampling.sample`."""
        from .sampling import sample
        return sample(self, n, seed=seed, missing=missing, hide=hide)

    # -- conveniences whose work is done by upper layers (network/facades.py) -------
    def log_prob(self, data: Any) -> np.ndarray:
        """Per-row log P(observed part of the row); missing cells and latent nodes marginalised."""
        return facades.call("log_prob", self, data)

    def log_likelihood(self, data: Any) -> float:
        """Total observed-data log-likelihood of ``data`` (a DataFrame)."""
        return facades.call("log_likelihood", self, data)

    def posterior(self, data: Any, node: str) -> pd.DataFrame:
        """DataFrame of P(node | row), one column per state, indexed like ``data``."""
        return facades.call("posterior", self, data, node)

    def impute(self, data: pd.DataFrame, method: str = "map", seed: Any = 0) -> pd.DataFrame:
        """``data`` with missing cells filled from their posterior given the row
        (``"map"``: most probable state; ``"sample"``: a joint draw per row); see
        :func:`bnem.inference.impute.impute`."""
        return facades.call("impute", self, data, method, seed)

    # -- interop (io layer) ----------------------------------------------------------
    def to_pgmpy(self) -> Any:
        """Convert to a ``pgmpy`` discrete Bayesian network."""
        return facades.call("to_pgmpy", self)

    @classmethod
    def from_pgmpy(cls, model: Any, data: Any = None,
                   latent: Mapping | None = None) -> "BayesianNetwork":
        """Build from a ``pgmpy`` discrete Bayesian network (see :func:`bnem.from_pgmpy`:
        nodes without a CPD take their states from ``data`` or ``latent``)."""
        return facades.call("from_pgmpy", model, data, latent)

    @classmethod
    def from_edges(cls, edges: Any, data: Any, *, latent: Mapping | None = None,
                   nodes: Sequence | None = None, discrete: Sequence = (),
                   continuous: Sequence = (), name: str = "unknown") -> "BayesianNetwork":
        """A network from its edges, with the states read from a table.

        Parameters
        ----------
        edges : list of (parent, child) pairs
            The arcs. Every node they name is a node of the network.
        data : pandas.DataFrame
            Each node's column gives its kind and states: text, categories, booleans
            and whole numbers with at most 10 distinct values are discrete, with the
            observed values as states (sorted; a categorical column's categories in
            their order); other numbers are continuous (Gaussian).
        latent : dict, optional
            Nodes with no data, each with its number of states (``{"H": 3}``), its
            state names, or ``"continuous"``.
        nodes : list of str, optional
            Nodes without edges (and the order of the nodes; by default, the order in
            which the edges name them).
        discrete, continuous : list of str, optional
            Override the kind read from the data (``discrete=["age"]`` makes a column of
            many whole numbers discrete).
        name : str, optional

        Returns
        -------
        BayesianNetwork
            Uniform tables and standard Gaussians: a structure for :func:`bnem.fit`,
            whose ``init`` replaces them.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"smoke": ["yes", "no", "no"], "cough": ["yes", None, "no"]})
        >>> net = BayesianNetwork.from_edges([("H", "smoke"), ("H", "cough")], df,
        ...                                   latent={"H": 2})
        >>> net.nodes, net.states("smoke")
        (('H', 'smoke', 'cough'), ('no', 'yes'))
        """
        from .from_data import network_from_edges
        return network_from_edges(edges, data, latent=latent, nodes=nodes, discrete=discrete,
                                  continuous=continuous, name=name)


def as_network(network: Any, who: str, data: Any = None, needs_cpds: bool = False
               ) -> "BayesianNetwork":
    """``network`` as a :class:`BayesianNetwork`: a pgmpy model is converted (nodes
    without a CPD take their states from ``data``, which must then be a DataFrame; with
    ``needs_cpds`` every node must have one); anything else is refused with the remedy.
    """
    if isinstance(network, BayesianNetwork):
        return network
    module = type(network).__module__ or ""
    if module.split(".")[0] == "pgmpy":
        if needs_cpds and hasattr(network, "get_cpds"):
            have = {str(c.variable) for c in network.get_cpds()}
            lacking = [str(n) for n in network.nodes() if str(n) not in have]
            if lacking:
                remedy = "add them, or use another init ('random', 'uniform', ...)" \
                    if who in ("fit", "OnlineEM") else \
                    "add them (or learn them first: bnem.fit(model, data).network)"
                need = "init='network' starts from the model's CPDs" \
                    if who in ("fit", "OnlineEM") else f"{who} evaluates the model's CPDs"
                raise BnemValueError(
                    f"{who}: the pgmpy model has no CPD for {lacking}, and {need}; {remedy}")
        frame = data if isinstance(data, pd.DataFrame) else None
        return facades.call("from_pgmpy", network, frame, None)
    hint = ""
    if isinstance(network, (str, bytes)) or hasattr(network, "__fspath__"):
        hint = ("; to read a network file, use bnem.read_network(path), or "
                "bnem.load_network(name) for a bundled one")
    elif isinstance(network, (list, tuple)):
        hint = "; to build one from edges, use bnem.BayesianNetwork.from_edges(edges, data)"
    raise BnemTypeError(f"{who}: network must be a bnem.BayesianNetwork, got "
                        f"{type(network).__name__} (a pgmpy model is converted too){hint}")


MAX_TABLE_ENTRIES = 1 << 31  # 16 GiB of float64 for one table


def _check_form_values(network: BayesianNetwork, nodes: list) -> None:
    """Nodes with a table form given new tables must be given tables of that form."""
    for node in nodes:
        form = network.constraints.forms[node]
        if not form.is_table(network.cpd(node).values):
            how = "its links (net.noisy_or(node, links={...}, leak=...))" \
                if form.kind == "noisy-OR" else "its rates (net.poisson(node, rates=...))"
            raise NetworkError(f"{node!r} is a {form.kind} node, but the table given is not "
                               f"a {form.kind} table; give {how} instead")


def _valid_values(cpd: GaussianCPD) -> bool:
    """Whether ``cpd``'s intercepts and weights are finite and its variances finite and
    positive."""
    return all_finite(cpd.intercept, cpd.weights, cpd.variance) \
        and bool(cpd.variance.min() > 0)


def _table_size(node: str, shape: tuple) -> int:
    """Entries of a node's table, refused before anything is allocated if too large."""
    problem = table_size_problem(node, shape)
    if problem:
        raise NetworkError(problem)
    return math.prod(int(c) for c in shape)


def table_size_problem(node: str, shape: Sequence[int]) -> str | None:
    """Why a table of ``shape`` (parents' states..., the node's states) is too large to
    hold, or None; every reader checks this before allocating a table."""
    size = math.prod(int(c) for c in shape)
    if size <= MAX_TABLE_ENTRIES:
        return None
    return (f"the table of {node!r} ({len(shape) - 1} parent(s)) would have {size:.3g} entries "
            f"({size * 8 / 2 ** 30:.3g} GiB); bnem holds tables of at most {MAX_TABLE_ENTRIES} "
            "entries. Give the node fewer parents (or parents with fewer states).")


def _as_parents(parents) -> dict:
    """``{child: [parent, ...]}``; a single string is one parent, None is none."""
    if parents is None:
        return {}
    if not isinstance(parents, Mapping):
        raise BnemTypeError(f"parents must be a mapping node -> parent names, got "
                            f"{type(parents).__name__}")
    out = {}
    for child, pars in parents.items():
        if pars is None:
            pars = []
        elif isinstance(pars, str):
            pars = [pars]
        try:
            out[child] = list(pars)
        except TypeError:
            raise BnemTypeError(f"parents of {child!r} must be a sequence of node names, "
                                f"got {pars!r}") from None
    return out


def _as_variables(variables) -> list:
    if isinstance(variables, Mapping):
        variables = [ContinuousVariable(str(k)) if isinstance(v, str) and v == CONTINUOUS
                     else Variable(str(k), v) for k, v in variables.items()]
    else:
        variables = list(variables)
        for v in variables:
            if not isinstance(v, (Variable, ContinuousVariable)):
                raise BnemTypeError(
                    "variables must be Variable / ContinuousVariable objects or a mapping "
                    f"name -> states (or 'continuous'), got {v!r}"
                )
    names = [v.name for v in variables]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise NetworkError(f"node name(s) {dup} appear more than once")
    if not variables:
        raise NetworkError("a network needs at least one variable, got none")
    return variables
