"""A network from its edges and a table: states read from the data (network layer).

``BayesianNetwork.from_edges([("smoke", "lung"), ...], df, latent={"H": 2})`` is the
way in for a user who has a structure and data but no CPDs: every column named by an
edge (or by ``nodes``) becomes a node, discrete or Gaussian as its values say, with
the states the column holds; latent nodes are declared with their number of states.
The CPDs start uniform (a fit's ``init`` replaces them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..data.variables import value_label
from ..errors import BnemTypeError, BnemValueError, NetworkError

if TYPE_CHECKING:
    from .bayesnet import BayesianNetwork

ITEM_CODES = 10  # whole-number columns with at most this many values are categorical


def looks_categorical(column: pd.Series) -> bool:
    """Text, categories and booleans are categorical; so are numeric columns whose
    observed values are all whole numbers with at most ``ITEM_CODES`` distinct values
    (codes 0/1 or 1..5); other numbers are continuous.

    >>> looks_categorical(pd.Series([1, 2, 2, 5])), looks_categorical(pd.Series([0.5, 1.2]))
    (True, False)
    >>> looks_categorical(pd.Series(["0.5", "1.2"])), looks_categorical(pd.Series(["a", "1"]))
    (False, True)
    """
    if pd.api.types.is_bool_dtype(column) or isinstance(column.dtype, pd.CategoricalDtype):
        return True
    if not pd.api.types.is_numeric_dtype(column):
        # text (as read_table reads every cell) is a number column when every value parses
        seen = column.dropna()
        parsed = pd.to_numeric(seen, errors="coerce")
        if not len(seen) or parsed.isna().any():
            return True
        column = parsed
    values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)
    return bool(values.size) and bool(np.all(values == np.round(values))) and \
        np.unique(values).size <= ITEM_CODES


def column_states(column: pd.Series, name: str, remedy: str = "drop it") -> list[str]:
    """The state names of a categorical column: a categorical dtype's categories (in
    their order, unseen ones included), otherwise the observed values' labels, sorted.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = [value_label(v) for v in column.cat.categories]
    else:
        labels = sorted({value_label(v) for v in pd.unique(column.dropna().to_numpy())})
    if not labels:
        raise BnemValueError(f"column {name!r} has no observed value, so its states are "
                             f"unknown; {remedy}")
    return labels


def _latent_states(name: str, spec: Any) -> list[str] | str:
    if isinstance(spec, str) and spec == "continuous":
        return "continuous"
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec < 2:
            raise BnemValueError(f"latent node {name!r}: expected at least 2 states, got {spec}")
        return [str(i) for i in range(int(spec))]
    if isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) >= 2:
        return [str(s) for s in spec]
    raise BnemValueError(f"latent node {name!r}: expected a number of states (an int >= 2), "
                         f"a list of state names or 'continuous', got {spec!r}")


def network_from_edges(edges: Iterable, data: Any, *, latent: Mapping | None = None,
                       nodes: Sequence | None = None, discrete: Sequence = (),
                       continuous: Sequence = (), name: str = "unknown",
                       given_states: Mapping | None = None) -> "BayesianNetwork":
    """See :meth:`bnem.BayesianNetwork.from_edges`."""
    from .bayesnet import BayesianNetwork

    if not isinstance(data, pd.DataFrame):
        raise BnemTypeError(f"from_edges: expected the data as a pandas DataFrame (states are "
                            f"read from its columns), got {type(data).__name__}; read a file "
                            "with bnem.read_table(path) first")
    if isinstance(edges, (str, bytes)) or not isinstance(edges, Iterable):
        raise BnemTypeError(f"from_edges: expected edges as a list of (parent, child) pairs, "
                            f"got {type(edges).__name__}")
    pairs = []
    for e in edges:
        if isinstance(e, (str, bytes)) or not isinstance(e, Sequence) or len(e) != 2:
            raise BnemValueError(f"from_edges: every edge must be a (parent, child) pair, "
                                 f"got {e!r}")
        pairs.append((str(e[0]), str(e[1])))
    latent = {str(k): v for k, v in (latent or {}).items()}
    given_states = dict(given_states or {})
    order: list[str] = []
    for n in list(map(str, nodes or ())) + [n for e in pairs for n in e] + list(latent):
        if n not in order:
            order.append(n)
    columns = {str(c): c for c in data.columns}
    for forced, label in ((discrete, "discrete"), (continuous, "continuous")):
        unknown = [str(n) for n in forced if str(n) not in order]
        if unknown:
            raise BnemValueError(f"from_edges: {label}= names {unknown}, which no edge or "
                                 f"node names; nodes are {order}")
    both = sorted(set(map(str, discrete)) & set(map(str, continuous)))
    if both:
        raise BnemValueError(f"from_edges: {both} named both discrete and continuous")
    variables: dict[str, Any] = {}
    for n in order:
        if n in latent:
            if n in columns and data[columns[n]].notna().any():
                raise BnemValueError(f"from_edges: {n!r} is declared latent but the data has "
                                     "values in its column; drop the column or the declaration")
            variables[n] = _latent_states(n, latent[n])
        elif n in given_states:
            variables[n] = list(given_states[n])
        elif n not in columns:
            raise BnemValueError(
                f"from_edges: node {n!r} has no column in the data, so its states are "
                f"unknown; declare it latent with its number of states (latent={{{n!r}: 2}}) "
                f"or fix the name (columns are {list(columns)[:20]})")
        else:
            col = data[columns[n]]
            is_discrete = n in map(str, discrete) or (
                n not in map(str, continuous) and looks_categorical(col))
            variables[n] = column_states(
                col, n, f"declare it latent with its number of states (latent={{{n!r}: 2}})"
            ) if is_discrete else "continuous"
    parents: dict[str, list[str]] = {}
    for p, c in pairs:
        parents.setdefault(c, [])
        if p not in parents[c]:
            parents[c].append(p)
    for c, ps in parents.items():
        cont = [p for p in ps if variables[p] == "continuous"]
        if cont and variables[c] != "continuous":
            raise NetworkError(
                f"from_edges: discrete node {c!r} has parent(s) {cont}, which hold numbers "
                "with more than 10 distinct values or fractions and so were read as "
                "continuous; a discrete node may only have discrete parents. Pass "
                f"discrete={cont} to treat them as categories, or reverse the edge(s)")
    return BayesianNetwork(variables, parents, name=name)
