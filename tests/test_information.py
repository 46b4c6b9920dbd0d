"""Standard errors from the observed information, against closed forms and finite
differences of the log-likelihood itself."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from conftest import load


def test_complete_data_gives_the_multinomial_closed_form():
    net = bnem.BayesianNetwork({"a": ["x", "y", "z"], "b": ["p", "q"]}, {"b": ["a"]})
    df = net.with_cpds({"a": [0.5, 0.3, 0.2], "b": [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8]]}
                       ).sample(5000, seed=2)
    res = bnem.fit(net, df, seed=0)
    table = res.standard_errors(df)
    n_a = df["a"].value_counts()
    for _, row in table.iterrows():
        n = len(df) if row["node"] == "a" else n_a[row["parents"].split("=")[1]]
        p = row["estimate"]
        assert row["se"] == pytest.approx(np.sqrt(p * (1 - p) / n), rel=1e-4)


def test_hessian_matches_second_differences_of_the_log_likelihood():
    """Missing cells and a latent node: the information from the exact gradient equals
    minus the second differences of bnem's observed-data log-likelihood."""
    truth = bnem.BayesianNetwork({"c": ["0", "1"], "u": ["a", "b"], "v": ["a", "b"],
                                  "w": ["a", "b"]}, {"u": ["c"], "v": ["c"], "w": ["c"]},
                                 {"c": [0.4, 0.6], "u": [[0.9, 0.1], [0.2, 0.8]],
                                  "v": [[0.7, 0.3], [0.1, 0.9]], "w": [[0.85, 0.15], [0.1, 0.9]]})
    df = truth.sample(3000, seed=1, missing=0.2).drop(columns=["c"])
    net = bnem.BayesianNetwork({"c": ["0", "1"], "u": ["a", "b"], "v": ["a", "b"],
                                "w": ["a", "b"]}, {"u": ["c"], "v": ["c"], "w": ["c"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(net, df, seed=0, tol=1e-12, max_iter=5000,
                          accelerate="squarem").network
    table = bnem.standard_errors(fitted, df)
    theta = fitted.flat_params()
    free = [0, 2, 4, 6, 8, 10, 12]  # the first state of every two-state distribution

    def loglik(t):
        return fitted.with_cpds({n: t[fitted.offsets[i]:fitted.offsets[i + 1]].reshape(
            fitted.table_shapes[i]) for i, n in enumerate(fitted.discrete_nodes)}
        ).log_likelihood(df)

    h = 1e-4
    info = np.zeros((7, 7))
    for a, i in enumerate(free):
        for b, j in enumerate(free):
            def shifted(di, dj):
                t = theta.copy()
                t[i] += di
                t[i + 1] -= di
                t[j] += dj
                t[j + 1] -= dj
                return loglik(t)
            info[a, b] = -(shifted(h, h) - shifted(h, -h) - shifted(-h, h) + shifted(-h, -h)) \
                / (4 * h * h)
    expected = np.sqrt(np.diagonal(np.linalg.inv(info)))
    np.testing.assert_allclose(table["se"].to_numpy()[free], expected, rtol=1e-4)  # 9e-7 seen
    np.testing.assert_allclose(table["se"].to_numpy()[1::2], table["se"].to_numpy()[0::2],
                               rtol=1e-9)  # two states: the same standard error


def test_boundary_and_unidentified_parameters_get_nan_and_a_warning():
    net = bnem.BayesianNetwork({"a": ["x", "y"], "b": ["p", "q"]}, {"b": ["a"]})
    df = pd.DataFrame({"a": ["x"] * 30 + ["y"] * 30, "b": ["p"] * 30 + ["p"] * 10 + ["q"] * 20})
    res = bnem.fit(net, df)
    with pytest.warns(bnem.DegenerateWarning, match="boundary"):
        table = res.standard_errors(df)
    assert table.loc[(table.node == "b") & (table.parents == "a=x"), "se"].isna().all()
    assert table.loc[table.node == "a", "se"].notna().all()
    lca = bnem.BayesianNetwork({"c": ["0", "1"], "u": ["x", "y"]}, {"u": ["c"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(lca, df.rename(columns={"a": "u"})[["u"]], seed=1).network
    with pytest.warns(bnem.DegenerateWarning, match="not identified"):
        assert bnem.standard_errors(fitted, df.rename(columns={"a": "u"})[["u"]])["se"] \
            .isna().all()


def test_identified_parameters_keep_their_errors_next_to_unidentified_ones():
    net = bnem.BayesianNetwork({"a": ["x", "y", "z"], "b": ["p", "q"]}, {"b": ["a"]})
    df = pd.DataFrame({"a": ["x"] * 20 + ["y"] * 20,
                       "b": ["p", "q"] * 10 + ["p"] * 5 + ["q"] * 15})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = bnem.fit(net, df).standard_errors(df)
    b_x = table[(table.node == "b") & (table.parents == "a=x")]
    np.testing.assert_allclose(b_x["se"], np.sqrt(0.25 / 20), rtol=1e-4)
    assert table[(table.node == "b") & (table.parents == "a=z")]["se"].isna().all()


def test_two_items_two_classes_is_flagged_unidentified():
    truth = bnem.BayesianNetwork({"c": ["0", "1"], "u": ["a", "b"], "v": ["a", "b"]},
                                 {"u": ["c"], "v": ["c"]},
                                 {"c": [0.4, 0.6], "u": [[0.9, 0.1], [0.2, 0.8]],
                                  "v": [[0.7, 0.3], [0.1, 0.9]]})
    df = truth.sample(2000, seed=0).drop(columns=["c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(truth, df, init="random-resp", seed=0, tol=1e-10,
                          max_iter=3000).network
    with pytest.warns(bnem.DegenerateWarning, match="not identified"):
        table = bnem.standard_errors(fitted, df)
    assert table["se"].isna().all()


def test_opg_matches_finite_difference_scores_of_each_row():
    """method='opg': sum over rows of the outer product of each row's score, the scores
    checked against central differences of bnem's per-row log-likelihood."""
    truth = bnem.BayesianNetwork({"c": ["0", "1"], "u": ["a", "b"], "v": ["a", "b", "c"],
                                  "w": ["a", "b"]}, {"u": ["c"], "v": ["c"], "w": ["c"]},
                                 {"c": [0.4, 0.6], "u": [[0.9, 0.1], [0.2, 0.8]],
                                  "v": [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]],
                                  "w": [[0.85, 0.15], [0.1, 0.9]]})
    df = truth.sample(2000, seed=5, missing=0.15).drop(columns=["c"])
    net = bnem.BayesianNetwork({n: truth.states(n) for n in truth.nodes},
                               {n: truth.parents(n) for n in truth.nodes})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(net, df, seed=0, tol=1e-12, max_iter=5000).network
    opg = bnem.standard_errors(fitted, df, method="opg")
    theta = fitted.flat_params()
    blocks = [(o, fitted.table_shapes[i][-1]) for i, _ in enumerate(fitted.discrete_nodes)
              for o in range(fitted.offsets[i], fitted.offsets[i + 1],
                             fitted.table_shapes[i][-1])]
    free = [(o + k, o + c - 1) for o, c in blocks for k in range(c - 1)]

    def per_row(t):
        return fitted.with_cpds({n: t[fitted.offsets[i]:fitted.offsets[i + 1]].reshape(
            fitted.table_shapes[i]) for i, n in enumerate(fitted.discrete_nodes)}
        ).log_prob(df)

    h = 1e-6
    scores = np.zeros((len(df), len(free)))
    for j, (a, last) in enumerate(free):
        up, down = theta.copy(), theta.copy()
        up[a] += h
        up[last] -= h
        down[a] -= h
        down[last] += h
        scores[:, j] = (per_row(up) - per_row(down)) / (2 * h)
    expected = np.sqrt(np.diagonal(np.linalg.inv(scores.T @ scores)))
    np.testing.assert_allclose(opg["se"].to_numpy()[[a for a, _ in free]], expected, rtol=1e-5)
    hessian = bnem.standard_errors(fitted, df)  # a different estimate, close at this size
    np.testing.assert_allclose(opg["se"], hessian["se"], rtol=0.25)
    assert not np.allclose(opg["se"], hessian["se"], rtol=1e-6)
    with pytest.raises(bnem.BnemError, match="'hessian'.*or 'opg'"):
        bnem.standard_errors(fitted, df, method="sandwich")


def test_opg_memory_is_bounded_and_chunking_changes_nothing(monkeypatch):
    """The OPG's dense per-row arrays are held to a quarter of the budget by smaller
    chunks; the result does not depend on the chunking."""
    from bnem.em import information
    from bnem.inference.budget import MemoryBudget
    b = information.opg_budget(400_000, 300_000)
    assert b.chunk_rows * 8 * (2 * 400_000 + 3 * 300_000) <= b.memory_mb * 2 ** 20 / 4
    assert information.opg_budget(10, 5).chunk_rows == MemoryBudget().chunk_rows
    net = load("asia")
    df = net.sample(500, seed=2, missing=0.2)
    whole = bnem.standard_errors(net, df, method="opg")
    monkeypatch.setattr(information, "opg_budget", lambda n, f: MemoryBudget(512, chunk_rows=7))
    chunked = bnem.standard_errors(net, df, method="opg")
    np.testing.assert_allclose(chunked["se"], whole["se"], rtol=1e-10, equal_nan=True)


def test_gaussian_parameters_have_the_regression_closed_forms():
    """Complete data: x ~ N(b, v) and y | x a linear regression; the observed
    information at the MLE gives se(b) = sqrt(v / n), se(v) = v sqrt(2 / n), and for y
    the least-squares errors with the MLE residual variance."""
    net = bnem.BayesianNetwork({"x": "continuous", "y": "continuous"}, {"y": ["x"]},
                               {"x": {"intercept": 1.0, "variance": 4.0},
                                "y": {"intercept": -2.0, "weights": [0.5], "variance": 1.0}})
    df = net.sample(3000, seed=3)
    fitted = bnem.fit(net, df, seed=0, tol=1e-12, max_iter=500).network
    table = bnem.standard_errors(fitted, df).set_index(["node", "state"])
    n, x, y = len(df), df["x"].to_numpy(), df["y"].to_numpy()
    vx = x.var()
    assert table.loc[("x", "intercept"), "se"] == pytest.approx(np.sqrt(vx / n), rel=1e-4)
    assert table.loc[("x", "variance"), "se"] == pytest.approx(vx * np.sqrt(2 / n), rel=1e-4)
    sxx = ((x - x.mean()) ** 2).sum()
    slope, icpt = np.polyfit(x, y, 1)
    v = ((y - icpt - slope * x) ** 2).mean()
    assert table.loc[("y", "weight[x]"), "estimate"] == pytest.approx(slope, rel=1e-8)
    assert table.loc[("y", "weight[x]"), "se"] == pytest.approx(np.sqrt(v / sxx), rel=1e-4)
    assert table.loc[("y", "intercept"), "se"] == pytest.approx(
        np.sqrt(v * (1 / n + x.mean() ** 2 / sxx)), rel=1e-4)
    assert table.loc[("y", "variance"), "se"] == pytest.approx(v * np.sqrt(2 / n), rel=1e-4)


def test_mixture_errors_match_second_differences_of_the_log_likelihood():
    """A 1-D two-component mixture (component latent): the information from the exact
    gradient equals minus the second differences of bnem's log-likelihood, in the
    parametrisation of the table (first state) and the Gaussians (mean, variance)."""
    truth = bnem.gaussian_mixture(["x"], 2, weights=[0.35, 0.65], means=[[-2.0], [1.5]],
                                  covariances=[[[1.0]], [[0.5]]])
    df = truth.sample(1500, seed=4).drop(columns="component")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = bnem.fit(bnem.gaussian_mixture(["x"], 2), df, seed=0, tol=1e-13,
                          max_iter=5000).network
    table = bnem.standard_errors(fitted, df)
    comp = fitted.discrete_nodes[0]
    p0 = fitted.cpd(comp).values[0]
    g = fitted.cpd("x")
    params = np.array([p0, *g.intercept.ravel(), *g.variance.ravel()])

    def loglik(t):
        return fitted.with_cpds({comp: [t[0], 1 - t[0]],
                                 "x": {"intercept": t[1:3], "variance": t[3:5]}}
                                ).log_likelihood(df)

    steps = np.array([1e-4, 1e-3, 1e-3, 1e-3, 1e-3])
    info = np.zeros((5, 5))
    for a in range(5):
        for b in range(5):
            def shifted(da, db):
                t = params.copy()
                t[a] += da * steps[a]
                t[b] += db * steps[b]
                return loglik(t)
            info[a, b] = -(shifted(1, 1) - shifted(1, -1) - shifted(-1, 1) + shifted(-1, -1)) \
                / (4 * steps[a] * steps[b])
    expected = np.sqrt(np.diagonal(np.linalg.inv(info)))
    ours = np.concatenate([table["se"].to_numpy()[[0]],
                           table[table["node"] == "x"]["se"].to_numpy()])
    assert list(table[table["node"] == "x"]["state"]) == ["intercept", "variance"] * 2
    np.testing.assert_allclose(ours[[0, 1, 3, 2, 4]], expected, rtol=1e-4)


def test_errors_do_not_depend_on_the_units():
    """Found by review: parameters in very different units (a mean of 5,000, a variance
    of a million, a probability) must not look unidentified. Rescaling x by 1000 scales
    its errors by 1000 (variance: 1e6) and leaves the others unchanged."""
    net = bnem.BayesianNetwork({"c": ["a", "b"], "x": "continuous"}, {"x": ["c"]},
                               {"c": [0.3, 0.7], "x": {"intercept": [0.0, 3.0],
                                                       "variance": [1.0, 2.0]}})
    df = net.sample(2000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", bnem.DegenerateWarning)
        small = bnem.standard_errors(bnem.fit(net, df, seed=0, tol=1e-12).network, df)
        big_df = df.assign(x=df["x"] * 1000.0)
        big_net = net.with_cpds({"x": {"intercept": [0.0, 3000.0], "variance": [1e6, 2e6]}})
        big = bnem.standard_errors(bnem.fit(big_net, big_df, seed=0, tol=1e-12).network, big_df)
    factor = np.where(big["state"] == "variance", 1e6,
                      np.where(big["node"] == "x", 1e3, 1.0))
    np.testing.assert_allclose(big["se"].to_numpy(), small["se"].to_numpy() * factor, rtol=1e-6)


def test_variances_held_at_the_floor_are_on_the_boundary():
    """A variance the M-step held at min_variance is not a maximum of the likelihood:
    NaN and a warning, from the fit's result or given the floor."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(0.0, 0.05, 500)})
    mix = bnem.gaussian_mixture(["x"], 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(mix, df, seed=0, min_variance=0.1, max_iter=50)
    assert res.floored_variances
    with pytest.warns(bnem.DegenerateWarning, match="variance held at min_variance"):
        table = res.standard_errors(df)
    variances = table[table["state"] == "variance"]
    assert variances["se"].isna().all()
    with pytest.warns(bnem.DegenerateWarning, match="variance held at min_variance"):
        direct = bnem.standard_errors(res.network, df, min_variance=0.1)
    assert direct[direct["state"] == "variance"]["se"].isna().all()
