"""Noisy-OR nodes: a binary table with one link probability per parent state (network layer).

A noisy-OR node ``X`` has an *absent* and a *present* state, and each of its parents
``U_i`` an absent state. Every parent in a non-absent state ``s`` causes ``X`` to be
present with its own *link probability* ``p[i][s]``, independently of the others, and a
*leak* ``p_leak`` causes it with no parent present:

``P(X = absent | u) = (1 - p_leak) * prod_i (1 - p[i][u_i])``  (``p[i][absent] = 0``).

A node with ``K`` parents of ``c_i`` states has ``sum_i (c_i - 1) + 1`` free parameters
(no ``+ 1`` without a leak) instead of ``prod_i c_i`` for a full binary table. Inference
sees the node's full table; EM learns the links from the table's expected counts (see
:mod:`bnem.em.noisy_or`).

:class:`NoisyOr` records which states are absent and whether there is a leak; it is
one of the network's :class:`~bnem.network.constraints.Constraints`. The functions here
turn link probabilities into the table (:func:`table`) and back (:func:`links_of`).

>>> spec = NoisyOr(absent=(0, 0, 0), leak=True)
>>> t = table(spec, [np.array([0.0, 0.8]), np.array([0.0, 0.5])], 0.1, (2, 2, 2))
>>> t[1, 1].round(4).tolist()        # both parents present: 1 - 0.9 * 0.2 * 0.5 absent
[0.09, 0.91]
>>> [p.round(4).tolist() for p in links_of(spec, t)[0]], round(links_of(spec, t)[1], 4)
([[0.0, 0.8], [0.0, 0.5]], 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from ..errors import BnemTypeError, NetworkError

# state names read as "absent" when ``absent=`` does not name one (case-insensitive)
ABSENT_NAMES = ("no", "false", "absent", "off", "none", "normal", "negative", "0", "n", "f")
PLACEHOLDER_LINK, PLACEHOLDER_LEAK = 0.5, 0.1  # the links of a node built without values


@dataclass(frozen=True)
class NoisyOr:
    """A noisy-OR node's absent states (indices: its parents' in parent order, then its
    own) and whether it has a leak."""

    absent: tuple[int, ...]
    leak: bool = True
    kind: ClassVar[str] = "noisy-OR"
    json_key: ClassVar[str] = "noisy_or"
    takes_prior: ClassVar[bool] = True

    @property
    def child_absent(self) -> int:
        return self.absent[-1]

    def key(self) -> tuple:
        return ("noisy_or", self.absent, self.leak)

    def n_free(self, shape: Sequence[int]) -> int:
        return n_free(self, shape)

    def is_table(self, values: np.ndarray, tol: float = 1e-9) -> bool:
        return is_noisy_or(self, values, tol)

    def describe(self, node: str, family: Sequence[str], states: Any) -> str:
        return describe(node, self, family, states)


def n_free(spec: NoisyOr, shape: Sequence[int]) -> int:
    """Free parameters of a noisy-OR table of ``shape`` (``(*parent_cards, 2)``)."""
    return int(sum(int(c) - 1 for c in shape[:-1])) + int(spec.leak)


def table(spec: NoisyOr, links: Sequence[np.ndarray], leak: float,
          shape: Sequence[int]) -> np.ndarray:
    """The table ``(*parent_cards, 2)`` of link probabilities ``links`` (one array per
    parent, over its states, 0 at its absent state) and leak ``leak``."""
    absent = np.full(tuple(int(c) for c in shape[:-1]), 1.0 - leak)
    for i, p in enumerate(links):
        view = [1] * len(links)
        view[i] = -1
        absent = absent * (1.0 - np.asarray(p, dtype=float)).reshape(view)
    out = np.empty(tuple(int(c) for c in shape))
    out[..., spec.child_absent] = absent
    out[..., 1 - spec.child_absent] = 1.0 - absent
    return out


def links_of(spec: NoisyOr, values: np.ndarray) -> tuple[list[np.ndarray], float]:
    """The link probabilities and leak read off a table: exact for a noisy-OR table;
    for any other table, a noisy-OR near it (each link from the configuration where only
    its parent is present, clipped to [0, 1]), which the M-step then improves."""
    values = np.asarray(values, dtype=float)
    k = values.ndim - 1
    base = tuple(spec.absent[:k])
    absent = values[..., spec.child_absent]
    none = float(absent[base]) if k else float(absent)
    leak = float(np.clip(1.0 - none, 0.0, 1.0)) if spec.leak else 0.0
    links = []
    for i in range(k):
        where: list[Any] = list(base)
        where[i] = slice(None)
        alone = absent[tuple(where)]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.clip(1.0 - alone / none, 0.0, 1.0) if none > 0 else \
                np.full(alone.shape, PLACEHOLDER_LINK)
        p = np.where(np.isfinite(p), p, PLACEHOLDER_LINK)
        p[spec.absent[i]] = 0.0
        links.append(p)
    return links, leak


def is_noisy_or(spec: NoisyOr, values: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether ``values`` is (to ``tol``) the table of some noisy-OR with ``spec``."""
    links, leak = links_of(spec, values)
    return bool(np.allclose(table(spec, links, leak, np.shape(values)), values, rtol=0,
                            atol=tol))


def choose_absent(node: str, family: Sequence[str], states: Mapping[str, Sequence[str]],
                  given: Mapping[str, str] | None) -> tuple[int, ...]:
    """The absent state's index of each of ``family`` (parents, then ``node``): the
    state ``given`` names, else the one named like "no"/"false"/"absent"/"off"/"normal"
    (:data:`ABSENT_NAMES`), else the first."""
    given = dict(given or {})
    if not all(isinstance(k, str) for k in given):
        raise BnemTypeError(f"noisy_or({node!r}, absent=...): a mapping from variable "
                            f"names to their absent state, got keys {list(given)}")
    odd = [k for k in given if k not in family]
    if odd:
        raise NetworkError(f"noisy_or({node!r}, absent=...): {odd} are not {node!r} or "
                           f"its parents ({list(family[:-1])})")
    out = []
    for v in family:
        names = [str(s) for s in states[v]]
        if v in given:
            if str(given[v]) not in names:
                raise NetworkError(f"noisy_or({node!r}): absent state {given[v]!r} of "
                                   f"{v!r} is not one of its states {names}")
            out.append(names.index(str(given[v])))
            continue
        known = [i for i, s in enumerate(names) if s.strip().lower() in ABSENT_NAMES]
        out.append(known[0] if len(known) == 1 else 0)
    return tuple(out)


def given_links(node: str, spec: NoisyOr, parents: Sequence[str],
                states: Mapping[str, Sequence[str]], links: Mapping[str, Any],
                leak: Any) -> tuple[list[np.ndarray], float]:
    """Link arrays from a user's ``links`` mapping (parent -> probability, or parent ->
    {state: probability}; the absent state has none) and ``leak``, checked."""
    if not isinstance(links, Mapping):
        raise BnemTypeError(f"noisy_or({node!r}, links=...): a mapping parent -> "
                            f"probability (or -> {{state: probability}}), got "
                            f"{type(links).__name__}")
    odd = [p for p in links if p not in parents]
    if odd:
        raise NetworkError(f"noisy_or({node!r}, links=...): {odd} are not parents of "
                           f"{node!r} ({list(parents)})")
    missing = [p for p in parents if p not in links]
    if missing:
        raise NetworkError(f"noisy_or({node!r}, links=...): no link probability for "
                           f"parent(s) {missing}")
    out = []
    for i, p in enumerate(parents):
        names = [str(s) for s in states[p]]
        a = spec.absent[i]
        value = links[p]
        arr = np.zeros(len(names))
        if isinstance(value, Mapping):
            for s, v in value.items():
                if str(s) not in names or names.index(str(s)) == a:
                    raise NetworkError(f"noisy_or({node!r}, links={{{p!r}: ...}}): "
                                       f"{s!r} is not a present state of {p!r} (states "
                                       f"{names}, absent {names[a]!r})")
                arr[names.index(str(s))] = _probability(node, f"link of {p}={s}", v)
            lacking = [names[j] for j in range(len(names)) if j != a
                       and names[j] not in {str(s) for s in value}]
            if lacking:
                raise NetworkError(f"noisy_or({node!r}, links={{{p!r}: ...}}): no "
                                   f"probability for state(s) {lacking}")
        else:
            arr[:] = _probability(node, f"link of {p}", value)
            arr[a] = 0.0
        out.append(arr)
    p_leak = 0.0 if not spec.leak else _probability(node, "leak", leak)
    return out, p_leak


def _probability(node: str, what: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not 0.0 <= v <= 1.0 or isinstance(value, bool):
        raise NetworkError(f"noisy_or({node!r}): the {what} is a probability in [0, 1], "
                           f"got {value!r}")
    return v


def describe(node: str, spec: NoisyOr, family: Sequence[str],
             states: Mapping[str, Sequence[str]]) -> str:
    """One line naming a noisy-OR node and its absent states (``bnem info``)."""
    absent = ", ".join(f"{v}={states[v][a]}" for v, a in zip(family, spec.absent))
    return f"{node} (absent: {absent}; {'with' if spec.leak else 'no'} leak)"
