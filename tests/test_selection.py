"""bnem.select_cardinality: fit indices over the number of latent classes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import bnem


def three_class_survey(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    probs = np.array([[0.9, 0.85, 0.9, 0.1, 0.15, 0.2], [0.15, 0.9, 0.1, 0.85, 0.8, 0.9],
                      [0.1, 0.1, 0.15, 0.1, 0.9, 0.1]])
    return pd.DataFrame({f"q{j}": np.where(rng.random(n) < probs[z, j], "yes", "no")
                         for j in range(6)})


def test_indices_follow_their_formulas_and_bic_finds_three_classes():
    df = three_class_survey()
    net = bnem.BayesianNetwork({"c": ["a"], **{q: ["no", "yes"] for q in df}},
                               {q: ["c"] for q in df})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bnem.select_cardinality(net, df, "c", range(1, 5), n_init=4, seed=1,
                                        accelerate="squarem", tol=1e-8, max_iter=3000)
    assert list(table["k"]) == [1, 2, 3, 4]
    assert table.attrs["best"]["bic"] == 3
    n = len(df)
    for _, row in table.iterrows():
        ll, p = row["log_likelihood"], row["n_parameters"]
        assert p == 6 * row["k"] + row["k"] - 1
        assert row["bic"] == pytest.approx(-2 * ll + p * math.log(n))
        assert row["aic"] == pytest.approx(-2 * ll + 2 * p)
        assert row["sabic"] == pytest.approx(-2 * ll + p * math.log((n + 2) / 24))
        assert row["caic"] == pytest.approx(-2 * ll + p * (math.log(n) + 1))
        fitted = table.attrs["fits"][row["k"]].network
        assert bnem.bic(fitted, df) == pytest.approx(row["bic"], rel=1e-10)
    assert np.isnan(table["entropy_r2"].iloc[0])
    assert ((table["entropy_r2"].iloc[1:] > 0) & (table["entropy_r2"].iloc[1:] <= 1)).all()
    # more classes never lower the maximised likelihood (nested models, good optima)
    assert (np.diff(table["log_likelihood"]) > -1e-6).all()


def test_bad_arguments():
    df = three_class_survey(n=100)
    net = bnem.BayesianNetwork({"c": ["a", "b"], **{q: ["no", "yes"] for q in df}},
                               {q: ["c"] for q in df})
    with pytest.raises(bnem.BnemError, match="is not a discrete node"):
        bnem.select_cardinality(net, df, "zz", [2])
    with pytest.raises(bnem.BnemError, match="is observed in the data"):
        bnem.select_cardinality(net, df.assign(c="a"), "c", [2])
    with pytest.raises(bnem.BnemError, match="ks is empty"):
        bnem.select_cardinality(net, df, "c", [])
    with pytest.raises(bnem.BnemError, match="ks must be"):
        bnem.select_cardinality(net, df, "c", [0, 2])


def test_plots_show_the_numbers():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    df = three_class_survey(n=300)
    net = bnem.BayesianNetwork({"c": ["a"], **{q: ["no", "yes"] for q in df}},
                               {q: ["c"] for q in df})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bnem.select_cardinality(net, df, "c", [1, 2], n_init=1, max_iter=20)
    ax = bnem.plot_cardinality(table)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["BIC"].get_ydata(), table["bic"])
    res = table.attrs["fits"][2]
    trace = res.plot().get_lines()[0]  # one restart: one line, from iteration 1
    np.testing.assert_allclose(trace.get_ydata(), res.history["log_likelihood"].iloc[1:])
    with pytest.raises(bnem.BnemError, match="no column 'nope'"):
        res.plot(column="nope")


def test_selection_argument_errors():
    df = three_class_survey(n=50)
    net = bnem.BayesianNetwork({"c": ["a", "b"], **{q: ["no", "yes"] for q in df}},
                               {q: ["c"] for q in df})
    with pytest.raises(bnem.BnemError, match="ks must be a list"):
        bnem.select_cardinality(net, df, "c", 2)
    with pytest.raises(bnem.BnemError, match="needs random starts"):
        bnem.select_cardinality(net, df, "c", [2], init="network")
    with pytest.raises(bnem.BnemError, match="takes the table"):
        bnem.plot_cardinality([1, 2])
    with pytest.raises(bnem.BnemError, match="must be a bnem.BayesianNetwork"):
        bnem.standard_errors("net", df)


@pytest.mark.parametrize("as_column", [True, False])
def test_a_pattern_table_with_counts_gives_the_expanded_rows_indices(as_column):
    df = three_class_survey(n=600, seed=4)
    freq = df.value_counts().rename("n").reset_index()
    net = bnem.BayesianNetwork({"c": ["a"], **{q: ["no", "yes"] for q in df}},
                               {q: ["c"] for q in df})
    opts = dict(n_init=2, seed=3, tol=1e-10, max_iter=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = bnem.select_cardinality(net, df, "c", [1, 2, 3], **opts)
        weighted = bnem.select_cardinality(
            net, freq if as_column else freq.drop(columns="n"), "c", [1, 2, 3],
            sample_weight="n" if as_column else freq["n"].to_numpy(), **opts)
    assert len(freq) < len(df)
    cols = ["log_likelihood", "aic", "bic", "sabic", "caic", "entropy_r2"]
    np.testing.assert_allclose(weighted[cols].to_numpy(), full[cols].to_numpy(), rtol=1e-7)
    with pytest.raises(bnem.BnemError, match="names no column"):
        bnem.select_cardinality(net, freq, "c", [2], sample_weight="count")
