"""Filling missing cells from their posterior given the row (inference layer).

``method="map"``: each missing discrete cell gets its most probable state given the
observed cells of its row (the mode of its marginal posterior). These per-cell modes
are not the most probable joint completion and may even combine into a row the network
gives probability zero; use ``"mpe"`` for the most probable joint completion of each row
(max-product, :func:`bnem.most_probable`; discrete networks) or ``"sample"`` for rows
that are jointly consistent draws.
``method="mean"``: discrete cells as ``"map"``; continuous cells get their posterior
mean. ``method="sample"``: the missing cells of a row are drawn jointly from their
posterior, one discrete node after another, each draw conditioned on the observed cells
and on the draws before it, then the continuous cells given all of them (the chain
rule, so the completed row is an exact draw from P(missing | observed)). Continuous
cells under ``"map"`` take the mode of the joint posterior of their component's
Gaussian and its discrete parent (see :mod:`bnem.inference.impute_gaussian`). Observed
cells are never changed; nodes without a column are not added.

>>> import pandas as pd
>>> from bnem.network.bayesnet import BayesianNetwork
>>> net = BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]}, {"wet": ["rain"]},
...                       {"rain": [0.2, 0.8], "wet": [[0.9, 0.1], [0.1, 0.9]]})
>>> impute(net, pd.DataFrame({"rain": [None, "no"], "wet": ["yes", None]}))
  rain wet
0  yes yes
1   no  no
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._validation import check_choice, check_seed
from ..errors import BnemTypeError, BnemValueError
from ..data.variables import value_label
from .api import interface_posteriors, most_probable, posterior
from .impute_gaussian import draw_rows, impute_continuous

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

METHODS = ("map", "mean", "sample", "mpe")


def impute(network: "BayesianNetwork", data: pd.DataFrame, method: str = "map",
           seed: Any = 0) -> pd.DataFrame:
    """A copy of ``data`` with every missing cell of a node's column filled (see the
    module docstring).

    Raises
    ------
    BnemTypeError
        ``data`` is not a DataFrame.
    BnemValueError
        An unknown method.
    ImpossibleRowError
        A row with probability zero under the network (its posterior is undefined).
    """
    if not isinstance(data, pd.DataFrame):
        raise BnemTypeError(f"impute takes a pandas DataFrame, got {type(data).__name__}")
    check_choice(method, "method", METHODS)
    rng = check_seed(seed)
    out = data.copy()
    if method == "mpe":
        completed, _ = most_probable(network, data)
        for node in network.discrete_nodes:
            if node in out.columns:
                missing = out[node].isna().to_numpy()
                if missing.any():
                    out[node] = _filled(out[node], missing,
                                        completed[node].astype(str).to_numpy()[missing].tolist())
        return out
    for node in network.discrete_nodes:
        if node not in out.columns:
            continue
        missing = out[node].isna().to_numpy()
        if not missing.any():
            continue
        probs = posterior(network, out if method == "sample" else data, node).to_numpy()
        if method == "map":
            pick = probs[missing].argmax(axis=1)
        else:
            pick = draw_rows(probs[missing], rng)
        out[node] = _filled(out[node], missing, [network.states(node)[k] for k in pick])
    if network.continuous_nodes:  # given every discrete cell drawn (sample) or observed
        given = _with_hidden_drawn(network, out, rng) if method == "sample" else data
        impute_continuous(network, out, method, rng,
                          lambda: interface_posteriors(network, given))
    return out


def _with_hidden_drawn(network: "BayesianNetwork", frame: pd.DataFrame,
                       rng: np.random.Generator) -> pd.DataFrame:
    """``frame`` plus a drawn column for every discrete node it lacks (chain rule, like
    the cells), so that components sharing such a node are drawn from the same value
    of it: the continuous cells of a row stay one joint draw."""
    work = frame.copy()
    for node in network.discrete_nodes:
        if node in work.columns:
            continue
        probs = posterior(network, work, node).to_numpy()
        pick = draw_rows(probs, rng)
        work[node] = np.array(network.states(node), dtype=object)[pick]
    return work


def _filled(column: pd.Series, missing: np.ndarray, states: list[str]) -> pd.Series:
    """``column`` with its missing cells set to ``states``, in the column's own terms:
    the raw value an observed cell used for that state (``0`` for state ``"0"`` in an
    integer column), a category of a categorical column, else the state name."""
    seen = column.dropna().unique()
    raw = {value_label(v): v for v in seen}
    values = np.array([raw.get(s, s) for s in states], dtype=object)
    if isinstance(column.dtype, pd.CategoricalDtype):
        extra = [v for v in dict.fromkeys(values.tolist()) if v not in column.cat.categories]
        column = column.cat.add_categories(extra) if extra else column.copy()
        column[missing] = values
        return column
    if pd.api.types.is_numeric_dtype(column) and all(isinstance(v, (int, float, np.number))
                                                     for v in values):
        out = column.copy()
        out[missing] = values.astype(float) if out.dtype.kind == "f" else values
        return out
    out = column.astype(object)
    out[missing] = values
    return out
