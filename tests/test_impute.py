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


def _mixture(rng, k=3, d=3):
    means = rng.normal(0.0, 2.0, (k, d))
    covs = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        covs.append(a @ a.T / d + 0.3 * np.eye(d))
    weights = rng.dirichlet(np.full(k, 3.0))
    net = bnem.gaussian_mixture([f"x{i}" for i in range(d)], k, weights=weights, means=means,
                                covariances=np.array(covs))
    return net, weights, means, np.array(covs)


def _oracle(x, weights, means, covs):
    """Per row: the posterior over components and each component's conditional mean and
    covariance of the missing coordinates (scipy's densities, numpy's solves)."""
    from scipy.stats import multivariate_normal
    o, h = np.flatnonzero(~np.isnan(x)), np.flatnonzero(np.isnan(x))
    post, cmeans, ccovs = [], [], []
    for w, mu, cov in zip(weights, means, covs):
        dens = multivariate_normal(mu[o], cov[np.ix_(o, o)]).pdf(x[o]) if o.size else 1.0
        post.append(w * dens)
        gain = cov[np.ix_(h, o)] @ np.linalg.inv(cov[np.ix_(o, o)]) if o.size else \
            np.zeros((h.size, 0))
        cmeans.append(mu[h] + gain @ (x[o] - mu[o]))
        ccovs.append(cov[np.ix_(h, h)] - gain @ cov[np.ix_(o, h)])
    post = np.array(post) / sum(post)
    return h, post, np.array(cmeans), np.array(ccovs)


@pytest.mark.parametrize("seed", range(4))
def test_continuous_mean_and_map_match_closed_form(seed):
    rng = np.random.default_rng(seed)
    net, weights, means, covs = _mixture(rng)
    df = net.sample(40, seed=seed).drop(columns="component")
    df = df.mask(rng.random(df.shape) < 0.4)
    df.iloc[0] = np.nan  # a row with nothing observed: the prior mean
    mean = net.impute(df, method="mean")
    mode = net.impute(df, method="map")
    for r in range(len(df)):
        x = df.iloc[r].to_numpy(dtype=float)
        if not np.isnan(x).any():
            continue
        h, post, cm, cc = _oracle(x, weights, means, covs)
        np.testing.assert_allclose(mean.iloc[r].to_numpy()[h], post @ cm, rtol=1e-9, atol=1e-9)
        best = np.argmax(np.log(post) - 0.5 * np.linalg.slogdet(cc)[1])
        np.testing.assert_allclose(mode.iloc[r].to_numpy()[h], cm[best], rtol=1e-9, atol=1e-9)
        obs = ~np.isnan(x)  # observed cells untouched
        np.testing.assert_array_equal(mean.iloc[r].to_numpy()[obs], x[obs])


def test_continuous_sample_reproduces_the_posterior():
    rng = np.random.default_rng(7)
    net, weights, means, covs = _mixture(rng, k=2, d=3)
    x = np.array([means[0, 0] + 0.5, np.nan, np.nan])
    h, post, cm, cc = _oracle(x, weights, means, covs)
    n = 20_000
    df = pd.DataFrame(np.tile(x, (n, 1)), columns=["x0", "x1", "x2"])
    draws = net.impute(df, method="sample", seed=3)[["x1", "x2"]].to_numpy()
    assert (net.impute(df.iloc[:50], method="sample", seed=3).to_numpy() ==
            net.impute(df.iloc[:50], method="sample", seed=3).to_numpy()).all()  # seeded
    exp_mean = post @ cm
    exp_cov = sum(p * (c + np.outer(m - exp_mean, m - exp_mean)) for p, m, c in zip(post, cm, cc))
    se = np.sqrt(np.diag(exp_cov) / n)
    assert (np.abs(draws.mean(axis=0) - exp_mean) < 4 * se).all()
    np.testing.assert_allclose(np.cov(draws.T), exp_cov, rtol=0.06, atol=0.02)
    assert (draws[:, 0] != draws[0, 0]).any()  # draws, not a fill


def test_hybrid_impute_fills_discrete_and_continuous_cells_consistently():
    net = bnem.BayesianNetwork(
        {"c": ["lo", "hi"], "x": "continuous", "y": "continuous"}, {"x": ["c"], "y": ["c", "x"]},
        {"c": [0.5, 0.5], "x": {"intercept": [0.0, 10.0], "variance": [1.0, 1.0]},
         "y": {"intercept": [0.0, 0.0], "weights": [[1.0], [-1.0]], "variance": [0.1, 0.1]}})
    df = pd.DataFrame({"c": [None, "hi", None], "x": [9.5, np.nan, np.nan],
                       "y": [np.nan, -11.0, np.nan]})
    out = net.impute(df, method="sample", seed=0)
    assert out.loc[0, "c"] == "hi" and out.notna().all().all()
    assert abs(out.loc[0, "y"] + 9.5) < 2  # y = -x given hi
    assert abs(out.loc[1, "x"] - 120 / 11) < 2
    # the third row: c drawn first, then x and y from that component
    assert (out.loc[2, "c"] == "hi") == (out.loc[2, "x"] > 5)
    # x | hi ~ N(10, 1) and y = -x + N(0, 0.1): given y = -11, x has precision 1 + 10
    # and mean (10 / 1 + 11 / 0.1) / 11 = 120 / 11
    mean = net.impute(df, method="mean")
    assert mean.loc[1, "x"] == pytest.approx(120 / 11, rel=1e-12)
    assert mean.loc[0, "c"] == "hi" and mean.loc[2, "c"] in ("lo", "hi")


def test_gaussian_mixture_estimator_imputes_like_its_network():
    rng = np.random.default_rng(11)
    net, _, _, _ = _mixture(rng, k=2, d=3)
    X = net.sample(300, seed=2).drop(columns="component").to_numpy().copy()
    X[rng.random(X.shape) < 0.2] = np.nan
    gm = bnem.GaussianMixture(2, random_state=0).fit(X)
    filled = gm.impute(X)
    assert isinstance(filled, np.ndarray) and not np.isnan(filled).any()
    frame = pd.DataFrame(X, columns=list(gm.feature_names_in_))
    np.testing.assert_array_equal(filled, gm.network_.impute(frame, method="mean").to_numpy())
    np.testing.assert_array_equal(filled[~np.isnan(X)], X[~np.isnan(X)])
    named = pd.DataFrame(X, columns=["a", "b", "c"], index=range(5, 305))
    out = bnem.GaussianMixture(2, random_state=0).fit(named).impute(named, method="map")
    assert list(out.columns) == ["a", "b", "c"] and list(out.index) == list(named.index)


def test_continuous_map_integrates_out_nodes_without_a_column():
    """Found by review: a Gaussian node with no column must not steer the mode."""
    net = bnem.BayesianNetwork(
        {"z": ["0", "1"], "a": "continuous", "hidden": "continuous"},
        {"a": ["z"], "hidden": ["z"]},
        {"z": [0.6, 0.4], "a": {"intercept": [-10.0, 10.0], "variance": [1.0, 1.0]},
         "hidden": {"intercept": [0.0, 0.0], "variance": [100.0, 0.01]}})
    out = net.impute(pd.DataFrame({"z": [None], "a": [np.nan]}), method="map")
    assert out.loc[0, "a"] == pytest.approx(-10.0)  # z = 0 is more probable; same spread
    kept = pd.DataFrame({"z": ["0", None], "a": pd.array([1, 2], dtype="Int64")})
    assert net.impute(kept, method="mean")["a"].dtype == "Int64"  # no gap: untouched
    boxed = pd.DataFrame({"z": ["0", "1"], "a": pd.Series([pd.NA, 3.5], dtype=object)})
    filled = net.impute(boxed, method="mean")
    assert filled["a"].tolist() == [-10.0, 3.5]


def test_continuous_mean_with_two_discrete_parents_matches_closed_form():
    """x | a, b ~ N(mu_ab, v_ab), y | x ~ N(x, 0.5): given y, P(a, b | y) is proportional
    to P(a) P(b) N(y; mu_ab, v_ab + 0.5) and E[x | y, a, b] = mu_ab + v_ab (y - mu_ab) /
    (v_ab + 0.5)."""
    from scipy.stats import norm
    mu, v = np.array([[0.0, 2.0], [4.0, 6.0]]), np.array([[1.0, 0.5], [2.0, 1.5]])
    pa, pb = np.array([0.3, 0.7]), np.array([0.6, 0.4])
    net = bnem.BayesianNetwork(
        {"a": ["0", "1"], "b": ["0", "1"], "x": "continuous", "y": "continuous"},
        {"x": ["a", "b"], "y": ["x"]},
        {"a": pa, "b": pb, "x": {"intercept": mu, "variance": v},
         "y": {"intercept": 0.0, "weights": [1.0], "variance": 0.5}})
    ys = np.array([-1.0, 1.0, 3.0, 5.0, 7.5])
    df = pd.DataFrame({"a": [None, None, "1", None, None], "b": [None] * 5,
                       "x": [np.nan] * 5, "y": ys})
    out = net.impute(df, method="mean")
    for r, y in enumerate(ys):
        prior = np.outer(pa, pb)
        if r == 2:
            prior[0] = 0.0  # a observed as "1"
        post = prior * norm.pdf(y, mu, np.sqrt(v + 0.5))
        post /= post.sum()
        expected = (post * (mu + v * (y - mu) / (v + 0.5))).sum()
        assert out.loc[r, "x"] == pytest.approx(expected, rel=1e-10)
    drawn = net.impute(df, method="sample", seed=1)
    assert drawn.notna().all().all() and (drawn["y"] == df["y"]).all()


def test_sample_is_joint_across_components_sharing_a_hidden_node():
    """Found by review: c has no column and is a parent of two components (x | c and
    y | c, z); their cells must be drawn from the same value of c, so x and y correlate
    as the posterior says (about 0.96 here), not independently."""
    net = bnem.BayesianNetwork(
        {"c": ["0", "1"], "z": ["0", "1"], "x": "continuous", "y": "continuous"},
        {"x": ["c"], "y": ["c", "z"]},
        {"c": [0.5, 0.5], "z": [0.5, 0.5],
         "x": {"intercept": [-3.0, 3.0], "variance": [0.5, 0.5]},
         "y": {"intercept": [[-3.0, -3.0], [3.0, 3.0]], "variance": [[0.5, 0.5], [0.5, 0.5]]}})
    df = pd.DataFrame({"z": ["0"] * 4000, "x": np.nan, "y": np.nan})
    draws = net.impute(df, method="sample", seed=2)
    assert np.corrcoef(draws["x"], draws["y"])[0, 1] > 0.9
