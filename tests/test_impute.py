"""network.impute: missing cells filled from their posterior, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import load


def joint(net, assignment):
    """P(full assignment) as the product of the CPDs (independent of bnem's inference)."""
    p = 1.0
    for node in net.nodes:
        idx = tuple(net.states(q).index(assignment[q]) for q in net.parents(node))
        p *= net.cpd(node).values[idx + (net.states(node).index(assignment[node]),)]
    return p


def exact_posterior(net, row):
    """{completion of the missing cells: probability} given the observed cells of row."""
    free = [n for n in net.nodes if pd.isna(row.get(n))]
    table = {}
    for values in itertools.product(*(net.states(n) for n in free)):
        full = {**{n: row[n] for n in net.nodes if n not in free}, **dict(zip(free, values))}
        table[values] = joint(net, full)
    total = sum(table.values())
    return free, {k: v / total for k, v in table.items()}


def test_map_is_each_cells_most_probable_state():
    net = load("asia")
    df = net.sample(40, seed=3, missing=0.35).astype(object)
    filled = net.impute(df)
    assert filled.notna().all().all()
    for r in range(len(df)):
        row = df.iloc[r].to_dict()
        free, post = exact_posterior(net, row)
        for j, node in enumerate(free):
            marginal = {}
            for values, p in post.items():
                marginal[values[j]] = marginal.get(values[j], 0.0) + p
            best = max(marginal.values())
            assert marginal[filled.iloc[r][node]] == pytest.approx(best, rel=1e-9)
        for node in net.nodes:  # observed cells untouched
            if node not in free:
                assert filled.iloc[r][node] == row[node]


def test_sample_draws_jointly_from_the_posterior():
    net = load("asia")
    row = {"asia": None, "tub": None, "smoke": "yes", "lung": None, "bronc": "yes",
           "either": None, "xray": "yes", "dysp": "yes"}
    n = 20000
    df = pd.DataFrame([row] * n, dtype=object)
    draws = net.impute(df, method="sample", seed=1)
    free, post = exact_posterior(net, row)
    counts = draws[free].value_counts(normalize=True)
    for values, p in post.items():
        seen = float(counts.get(values, 0.0))
        assert abs(seen - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-4, (values, seen, p)
    again = net.impute(df, method="sample", seed=1)
    assert draws.equals(again)  # seeded


def test_impute_errors():
    net = load("asia")
    with pytest.raises(bnem.BnemError, match="takes a pandas DataFrame"):
        net.impute([1, 2])
    with pytest.raises(bnem.BnemError, match="method"):
        net.impute(net.sample(5, seed=1), method="mode")
    gm = bnem.gaussian_mixture(["x"], 2)
    with pytest.raises(bnem.BnemError, match="discrete cells only"):
        gm.impute(pd.DataFrame({"x": [1.0, np.nan]}))
    zero = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["p", "q"]}, {"b": ["a"]},
                                {"a": [1.0, 0.0], "b": [[0.5, 0.5], [0.5, 0.5]]})
    with pytest.raises(bnem.ImpossibleRowError):
        zero.impute(pd.DataFrame({"a": ["y"], "b": [None]}))


def test_filled_cells_keep_the_column_types():
    net = bnem.BayesianNetwork({"a": ["0", "1"], "b": ["1", "2"]}, {"b": ["a"]})
    df = pd.DataFrame({"a": pd.array([0, None, 1], dtype="Int64"),
                       "b": pd.Categorical(["1", None, "2"])})
    out = net.impute(df)
    assert str(out["a"].dtype) == "Int64" and isinstance(out["b"].dtype, pd.CategoricalDtype)
    assert out["a"].tolist() == [0, out["a"].iloc[1], 1] and out["a"].iloc[1] in (0, 1)
