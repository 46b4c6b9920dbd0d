"""Hybrid (conditional linear Gaussian) networks: inference against an independent
oracle, EM against closed-form MLE, monotonicity, chunking, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError, DataError, DegenerateWarning, NetworkError
from conftest import assert_monotone
from hybrid_oracle import oracle, random_hybrid


def _blank(rng, df, frac, hide=()):
    df = df.drop(columns=list(hide))
    for c in df.columns:
        mask = rng.random(len(df)) < frac
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df.loc[mask, c] = np.nan
        else:
            df.loc[mask, c] = np.nan
    return df


@pytest.mark.parametrize("seed", range(12))
def test_log_prob_and_posteriors_match_enumeration(seed, monkeypatch):
    from bnem.inference import gaussian_ragged
    if seed % 2:  # every rare missing pattern through the batched path, or none
        monkeypatch.setattr(gaussian_ragged, "RAGGED_MAX_ROWS", 0)
    rng = np.random.default_rng(seed)
    net = random_hybrid(rng, n_discrete=int(rng.integers(1, 4)), n_continuous=int(rng.integers(1, 5)))
    hide = [net.discrete_nodes[0]] if seed % 3 == 0 else []
    if seed % 4 == 1:
        hide.append(net.continuous_nodes[-1])
    df = _blank(rng, net.sample(40, seed=seed), 0.3, hide)
    log_p, post = oracle(net, df)
    np.testing.assert_allclose(net.log_prob(df), log_p, rtol=0, atol=1e-10)
    for node in net.discrete_nodes:
        np.testing.assert_allclose(net.posterior(df, node).to_numpy(), post[node], rtol=0,
                                   atol=1e-10)


def test_log_space_fallback_agrees():
    """Rows with densities far below the linear range take the log-space path."""
    rng = np.random.default_rng(3)
    net = random_hybrid(rng, 2, 3)
    df = _blank(rng, net.sample(30, seed=1), 0.2)
    far = df.copy()
    cols = list(net.continuous_nodes)
    far[cols] = far[cols] * 60.0  # log densities of -1e4 and below
    log_p, post = oracle(net, far.iloc[:10])
    ours = net.log_prob(far.iloc[:10])
    np.testing.assert_allclose(ours, log_p, rtol=1e-12)
    assert (ours < -1000).any()
    for node in net.discrete_nodes:
        np.testing.assert_allclose(net.posterior(far.iloc[:10], node).to_numpy(), post[node],
                                   atol=1e-10)


def _sample_complete(rng):
    net = bnem.BayesianNetwork(
        {"a": ["x", "y"], "b": ["u", "v", "w"], "g1": "continuous", "g2": "continuous"},
        {"b": ["a"], "g1": ["a"], "g2": ["b", "g1"]},
        {"a": [0.3, 0.7], "b": [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]],
         "g1": {"intercept": [1.0, -2.0], "variance": [0.5, 2.0]},
         "g2": {"intercept": [0.0, 3.0, -1.0], "weights": [[1.5], [-0.5], [0.0]],
                "variance": [1.0, 0.2, 3.0]}})
    return net, net.sample(3000, seed=int(rng.integers(1000)))


def test_one_step_on_complete_data_is_closed_form_mle(rng):
    net, df = _sample_complete(rng)
    res = bnem.fit(net, df, max_iter=1, init="uniform", tol=0)
    assert_monotone(res)
    learned = res.network
    for k, state in enumerate(net.states("b")):
        rows = df["b"] == state
        design = np.column_stack([np.ones(rows.sum()), df.loc[rows, "g1"]])
        coef, rss, *_ = np.linalg.lstsq(design, df.loc[rows, "g2"].to_numpy(), rcond=None)
        cpd = learned.cpd("g2")
        np.testing.assert_allclose(cpd.intercept[k], coef[0], rtol=1e-10)
        np.testing.assert_allclose(cpd.weights[k, 0], coef[1], rtol=1e-10)
        np.testing.assert_allclose(cpd.variance[k], rss[0] / rows.sum(), rtol=1e-10)
    for k, state in enumerate(net.states("a")):
        x = df.loc[df["a"] == state, "g1"].to_numpy()
        np.testing.assert_allclose(learned.cpd("g1").intercept[k], x.mean(), rtol=1e-10)
        np.testing.assert_allclose(learned.cpd("g1").variance[k], x.var(), rtol=1e-10)
    counts = pd.crosstab(df["a"], df["b"]).to_numpy()
    np.testing.assert_allclose(learned.cpd("b").values, counts / counts.sum(1, keepdims=True),
                               rtol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_em_is_monotone_on_random_hybrid_networks(seed):
    rng = np.random.default_rng(100 + seed)
    net = random_hybrid(rng, 3, 4)
    df = _blank(rng, net.sample(400, seed=seed), 0.25, hide=[net.discrete_nodes[0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, max_iter=40, seed=seed, init=["random", "k-means++",
                                                               "complete-case"][seed % 3])
    assert_monotone(res)
    assert res.history.log_likelihood.iloc[-1] > res.history.log_likelihood.iloc[0]
    np.testing.assert_allclose(res.log_likelihood, res.network.log_likelihood(df), rtol=1e-10)


def test_chunked_and_cached_fits_are_identical(rng):
    net = random_hybrid(np.random.default_rng(7), 2, 3)
    df = _blank(rng, net.sample(600, seed=3), 0.3, hide=[net.discrete_nodes[0]])
    with pytest.warns(DeprecationWarning, match="chunk_rows is deprecated"):
        runs = [bnem.fit(net, df, max_iter=8, seed=1, tol=0, chunk_rows=c, memory_mb=m,
                         accelerate="none")  # plain EM: no extrapolation to amplify round-off
                for c, m in [(25_000, 512), (37, 512), (37, 0.05), (50, 0)]]
    for r in runs[1:]:
        assert_monotone(r)
        np.testing.assert_allclose(r.history.log_likelihood, runs[0].history.log_likelihood,
                                   rtol=1e-12)


def test_network_of_gaussian_nodes_only():
    net = bnem.BayesianNetwork(
        {"a": "continuous", "b": "continuous"}, {"b": ["a"]},
        {"a": {"intercept": 1.0, "variance": 2.0},
         "b": {"intercept": 0.5, "weights": [2.0], "variance": 0.5}})
    df = net.sample(2000, seed=0)
    res = bnem.fit(net, df, max_iter=2, init="uniform")
    assert_monotone(res)
    b = res.network.cpd("b")
    coef = np.polyfit(df["a"], df["b"], 1)
    np.testing.assert_allclose([b.weights[0], b.intercept], coef, rtol=1e-9)


def test_missing_continuous_cells_follow_the_sampled_truth():
    """Fitting with 30% of the Gaussian cells blanked recovers the regression."""
    net, df = _sample_complete(np.random.default_rng(5))
    holes = _blank(np.random.default_rng(6), df, 0.3)
    res = bnem.fit(net, holes, max_iter=300, tol=1e-9, init="complete-case")
    assert_monotone(res)
    g2 = res.network.cpd("g2")
    np.testing.assert_allclose(g2.weights[:, 0], [1.5, -0.5, 0.0], atol=0.1)
    np.testing.assert_allclose(g2.variance, [1.0, 0.2, 3.0], rtol=0.2)


# -- errors --------------------------------------------------------------------------

def test_discrete_node_with_continuous_parent_is_rejected():
    with pytest.raises(NetworkError, match="discrete node 'd' has continuous parent"):
        bnem.BayesianNetwork({"g": "continuous", "d": ["0", "1"]}, {"d": ["g"]})


@pytest.mark.parametrize("cpd, match", [
    ({"intercept": [0.0, 1.0, 2.0]}, r"intercept must have shape \(2,\)"),
    ({"variance": [1.0, -1.0]}, r"variance must be > 0, got -1.0 for \(d='1'\)"),
    ({"variance": [1.0, np.nan]}, "variance must be finite"),
    ({"weights": [[1.0, 2.0]]}, r"weights must have shape \(2, 1\)"),
    ({"mean": 1.0}, r"unknown key\(s\) \['mean'\]"),
    ([0.5, 0.5], "must be a GaussianCPD or a mapping"),
])
def test_bad_gaussian_cpds(cpd, match):
    with pytest.raises(NetworkError, match=match):
        bnem.BayesianNetwork({"d": ["0", "1"], "h": "continuous", "g": "continuous"},
                             {"g": ["d", "h"]}, {"g": cpd})


def test_gaussian_cpd_with_wrong_parents():
    cpd = bnem.GaussianCPD("g", ["d"], [], [0.0, 1.0], None, [1.0, 1.0])
    with pytest.raises(NetworkError, match="has discrete parents"):
        bnem.BayesianNetwork({"d": ["0", "1"], "g": "continuous"}, {"g": []}, {"g": cpd})


@pytest.mark.parametrize("values, match", [
    (["1.5", "abc", "abc"], r"value 'abc' \(in 2 row\(s\), first row 1\) is not a number"),
    ([1.0, np.inf, 2.0], r"1 infinite value\(s\)"),
    ([True, False, True], "has dtype bool, but 'g' is a continuous node"),
    ([True, None, False], r"value True \(bool, in row 0\) is not a real number"),
    (pd.to_datetime(["2020-01-01", "2020-01-02"]), "has dtype datetime64"),
    ([1 + 2j, 3.0], "has dtype complex128"),
    ([[1, 2], 3.0], r"value \[1, 2\] \(list, in row 0\)"),
])
def test_bad_continuous_cells(values, match):
    net = bnem.BayesianNetwork({"g": "continuous"})
    with pytest.raises(DataError, match=match):
        net.log_prob(pd.DataFrame({"g": values}))


def test_numeric_text_is_read_as_numbers():
    net = bnem.BayesianNetwork({"g": "continuous"})
    a = net.log_prob(pd.DataFrame({"g": ["1.5", None, "-2"]}))
    b = net.log_prob(pd.DataFrame({"g": [1.5, np.nan, -2.0]}))
    np.testing.assert_array_equal(a, b)
    assert a[1] == 0.0  # nothing observed: probability one


def test_posterior_of_a_continuous_node_is_refused():
    net = bnem.BayesianNetwork({"g": "continuous"})
    with pytest.raises(NetworkError, match="'g' is a continuous node; a discrete node was expected"):
        net.posterior(pd.DataFrame({"g": [1.0]}), "g")


def test_collapse_is_floored_with_a_warning_or_an_error_without_floor():
    # three identical points in one configuration: the variance is 0
    net = bnem.BayesianNetwork({"d": ["a", "b"], "g": "continuous"}, {"g": ["d"]})
    df = pd.DataFrame({"d": ["a", "a", "a", "b", "b", "b"], "g": [1.0, 1.0, 1.0, 0.0, 2.0, 5.0]})
    with pytest.warns(DegenerateWarning, match=r"held at min_variance=1e-06 \(e.g. g given \{'d': 'a'\}"):
        res = bnem.fit(net, df, max_iter=3, init="uniform")
    assert_monotone(res)
    assert res.floored_variances == [("g", {"d": "a"})]
    assert res.network.cpd("g").variance[0] == 1e-6
    with pytest.raises(bnem.BnemError, match="conditional variance of 'g' .* collapsed"):
        bnem.fit(net, df, max_iter=3, init="uniform", min_variance=0)


def test_mixture_inits_need_a_hybrid_network():
    net = bnem.BayesianNetwork({"d": ["a", "b"]})
    with pytest.raises(bnem.BnemError, match="no continuous nodes"):
        bnem.fit(net, pd.DataFrame({"d": ["a"]}), init="k-means++")


def test_min_variance_is_checked():
    net = bnem.BayesianNetwork({"g": "continuous"})
    with pytest.raises(bnem.BnemError, match="min_variance must be >= 0"):
        bnem.fit(net, pd.DataFrame({"g": [1.0, 2.0]}), min_variance=-1)


# -- hard assignments (classification EM) ----------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_hard_objective_is_the_classification_likelihood(seed):
    rng = np.random.default_rng(200 + seed)
    net = random_hybrid(rng, 2, 3)
    hidden = net.discrete_nodes[0]
    df = _blank(rng, net.sample(50, seed=seed), 0.0, hide=[hidden])
    other = [n for n in net.discrete_nodes if n != hidden]
    for n in other:  # some discrete cells missing too, within one clique of the tree
        df.loc[df.index[:5], n] = np.nan
    res = bnem.fit(net, df, hard=True, init="network", max_iter=0)
    oracle(net, df)
    assert res.history.columns.tolist() == ["iteration", "log_likelihood",
                                            "classification_log_likelihood", "delta", "seconds"]
    np.testing.assert_allclose(res.history.classification_log_likelihood.iloc[0],
                               oracle.max_log_joint.sum(), rtol=1e-11)
    np.testing.assert_allclose(res.history.log_likelihood.iloc[0], net.log_likelihood(df),
                               rtol=1e-11)


def test_hard_em_on_a_mixture_is_a_fixed_point_of_complete_data_mle():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal([0, 0], 1.0, size=(200, 2)),
                        rng.normal([3, 1], [0.5, 2.0], size=(150, 2))])
    df = pd.DataFrame(x, columns=["u", "v"])
    res = bnem.fit(bnem.gaussian_mixture(["u", "v"], 2), df, hard=True, seed=0, tol=0)
    assert res.converged
    assert_monotone(res)
    labels = res.network.posterior(df, "component").to_numpy().argmax(axis=1)
    w, means, covs = bnem.mixture_parameters(res.network)
    for k in range(2):
        pts = x[labels == k]
        np.testing.assert_allclose(w[k], len(pts) / len(x), rtol=1e-12)
        np.testing.assert_allclose(means[k], pts.mean(axis=0), rtol=1e-10)
        np.testing.assert_allclose(covs[k], np.cov(pts.T, bias=True), rtol=1e-9)


def test_hard_em_on_a_discrete_latent_class_model():
    net = bnem.BayesianNetwork({"h": ["0", "1"], **{f"x{i}": ["a", "b"] for i in range(4)}},
                               {f"x{i}": ["h"] for i in range(4)},
                               {"h": [0.4, 0.6], **{f"x{i}": [[0.9, 0.1], [0.2, 0.8]]
                                                     for i in range(4)}})
    df = net.sample(2000, seed=3, hide=["h"])
    res = bnem.fit(net, df, hard=True, seed=1, max_iter=100)
    assert_monotone(res)
    assert res.converged
    assert res.history.classification_log_likelihood.iloc[-1] <= res.log_likelihood


def test_hard_em_refuses_rows_whose_missing_values_span_cliques():
    net = bnem.BayesianNetwork({"a": ["0", "1"], "b": ["0", "1"], "c": ["0", "1"]},
                               {"b": ["a"], "c": ["b"]})
    df = pd.DataFrame({"a": [np.nan, "0"], "b": ["1", "0"], "c": [np.nan, "1"]})
    with pytest.raises(bnem.BnemError, match=r"hard=True .* row 0 \(a=missing, b='1', c=missing\)"):
        bnem.fit(net, df, hard=True)
    with pytest.raises(bnem.BnemError, match="hard must be True or False"):
        bnem.fit(net, df, hard="yes")


def test_chunks_shrink_for_large_interfaces(monkeypatch):
    from bnem.inference import budget
    net = random_hybrid(np.random.default_rng(9), 3, 3)
    df = _blank(np.random.default_rng(1), net.sample(300, seed=2), 0.2,
                hide=[net.discrete_nodes[0]])
    ref = net.log_prob(df)
    fit_ref = bnem.fit(net, df, max_iter=5, tol=0, seed=0)
    monkeypatch.setattr(budget.MemoryBudget, "gaussian_cells", 60)
    structure = bnem.compile(net).structure
    assert budget.MemoryBudget().rows_per_chunk(structure) < 30
    np.testing.assert_allclose(net.log_prob(df), ref, rtol=1e-13)
    small = bnem.fit(net, df, max_iter=5, tol=0, seed=0)
    assert_monotone(small)
    assert_monotone(fit_ref)
    np.testing.assert_allclose(small.history.log_likelihood, fit_ref.history.log_likelihood,
                               rtol=1e-12)


def test_bif_and_pgmpy_refuse_hybrid_networks(tmp_path):
    net = bnem.gaussian_mixture(["a"], 2)
    with pytest.raises(NetworkError, match="BIF cannot hold Gaussian nodes .*write_json"):
        bnem.write_bif(net, tmp_path / "x.bif")
    with pytest.raises(NetworkError, match="to_pgmpy converts discrete networks"):
        net.to_pgmpy()
    bnem.write_json(net, tmp_path / "x.json")
    assert bnem.read_json(tmp_path / "x.json") == net


# -- found in review ---------------------------------------------------------------

def test_large_regression_weights_keep_full_precision():
    from scipy.stats import norm
    net = bnem.BayesianNetwork({"a": "continuous", "b": "continuous"}, {"b": ["a"]},
                               {"b": {"weights": [1e8], "variance": 1.0}})
    got = net.log_prob(pd.DataFrame({"a": [0.3, np.nan, 0.3], "b": [0.3e8 + 0.5, 1.0, np.nan]}))
    expected = [norm.logpdf(0.3) + norm.logpdf(0.5), norm.logpdf(1.0, scale=np.sqrt(1e16 + 1)),
                norm.logpdf(0.3)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_a_column_constant_within_a_cluster_fits_cleanly(seed):
    """A stuck sensor in one plant: the full-covariance regressions on it are degenerate."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 3))
    x[:150] += 4
    x[:150, 0] = 2.0
    df = pd.DataFrame(x, columns=list("abc"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateWarning)
        res = bnem.fit(bnem.gaussian_mixture(list("abc"), 2), df, seed=seed)
    assert_monotone(res)
    np.testing.assert_allclose(res.log_likelihood, res.network.log_likelihood(df), rtol=1e-10)
    _, _, covs = bnem.mixture_parameters(res.network)
    assert np.isfinite(covs).all() and np.abs(covs).max() < 100


def test_latent_continuous_factor_is_learned():
    names = ["x1", "x2", "x3"]
    truth = bnem.BayesianNetwork({"f": "continuous", **{x: "continuous" for x in names}},
                                 {x: ["f"] for x in names},
                                 {"x1": {"weights": [2.0]}, "x2": {"weights": [-1.5]},
                                  "x3": {"weights": [1.0]}})
    df = truth.sample(2000, seed=0).drop(columns="f")
    for init in ("k-means++", "random", "uniform"):
        res = bnem.fit(truth, df, init=init, seed=1)
        assert_monotone(res)
        assert res.log_likelihood > truth.log_likelihood(df)  # at least as good as the truth
        w = np.array([res.network.cpd(x).weights[0] for x in names])
        np.testing.assert_allclose(np.abs(w / w[0]), [1.0, 0.75, 0.5], rtol=0.1)


def test_empty_configurations_name_the_discrete_node():
    net = bnem.BayesianNetwork({"x": "continuous", "a": ["0", "1"], "b": ["u", "v", "w"]},
                               {"b": ["a"], "x": ["b"]})
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": ["0"] * 50, "b": rng.choice(list("uvw"), 50),
                       "x": rng.normal(size=50)})
    with pytest.warns(DegenerateWarning, match=r"e.g. b given \{'a': '1'\}"):
        res = bnem.fit(net, df, max_iter=5)
    assert_monotone(res)
    assert res.empty_configurations == [("b", {"a": "1"})]


def test_a_parent_with_small_but_real_variation_keeps_its_slope():
    rng = np.random.default_rng(0)
    z = np.repeat(["a", "b"], 200)
    x = np.where(z == "a", 5 + 1e-4 * rng.standard_normal(400), rng.normal(0, 1, 400))
    y = np.where(z == "a", 3 + 1e4 * (x - 5), 2 * x) + 0.1 * rng.standard_normal(400)
    net = bnem.BayesianNetwork({"z": ["a", "b"], "x": "continuous", "y": "continuous"},
                               {"y": ["z", "x"]})
    df = pd.DataFrame({"z": z, "x": x, "y": y})
    res = bnem.fit(net, df, max_iter=5)
    a = z == "a"
    slope, intercept = np.polyfit(x[a], y[a], 1)
    np.testing.assert_allclose(res.network.cpd("y").weights[0, 0], slope, rtol=1e-6)
    again = bnem.fit(res.network, df, init="network", max_iter=5)  # from the MLE: stays
    assert_monotone(again)


def test_nearly_collinear_parents_warn_and_stay_monotone():
    rng = np.random.default_rng(1)
    x1 = rng.normal(0, 1, 500)
    x2 = x1 + 1e-5 * rng.normal(0, 1, 500)
    y = (x1 - x2) / 1e-5 + 0.1 * rng.normal(size=500)
    net = bnem.BayesianNetwork(dict.fromkeys(["x1", "x2", "y"], "continuous"), {"y": ["x1", "x2"]})
    with pytest.warns(DegenerateWarning, match="continuous parents of y .* nearly collinear"):
        res = bnem.fit(net, pd.DataFrame({"x1": x1, "x2": x2, "y": y}), max_iter=50)
    assert_monotone(res)
    exact = bnem.fit(net, pd.DataFrame({"x1": x1, "x2": x1, "y": x1 + 0.1 * rng.normal(size=500)}))
    np.testing.assert_allclose(exact.network.cpd("y").weights, [0.5, 0.5], rtol=0.05)


def test_kmeans_start_is_not_hurt_by_large_offsets():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 2))
    x = np.concatenate([rng.normal(c, 0.01, size=(100, 2)) for c in centres])
    start = {off: bnem.fit(bnem.gaussian_mixture(["u", "v"], 4), pd.DataFrame(x + off,
                                                                              columns=["u", "v"]),
                           max_iter=0, seed=0).log_likelihood for off in (0.0, 1e8)}
    assert start[1e8] == pytest.approx(start[0.0], rel=0.01)


def test_a_symmetric_start_is_warned_about():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": np.r_[rng.normal(0, 1, 100), rng.normal(5, 1, 100)],
                       "y": rng.normal(size=200)})
    gm = bnem.gaussian_mixture(["x", "y"], 2)  # default parameters: identical components
    for init in ("uniform", "network"):
        with pytest.warns(DegenerateWarning, match="every state of the latent node 'component'"):
            res = bnem.fit(gm, df, init=init)
        assert_monotone(res)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateWarning)
        res = bnem.fit(gm, df, seed=0)  # k-means++: no warning, and a better fit
    assert_monotone(res)


def test_blank_continuous_cells_are_missing():
    net = bnem.BayesianNetwork({"g": "continuous"})
    a = net.log_prob(pd.DataFrame({"g": ["1.5", "  ", None, " 2 "]}))
    b = net.log_prob(pd.DataFrame({"g": [1.5, np.nan, np.nan, 2.0]}))
    np.testing.assert_array_equal(a, b)


def _hidden_gaussian_parent():
    return bnem.BayesianNetwork(
        {"x": "continuous", "y": "continuous", "z": "continuous"}, {"y": ["x"], "z": ["x"]},
        {"y": {"intercept": 1.0, "weights": [2.0], "variance": 0.5},
         "z": {"intercept": -1.0, "weights": [1.0], "variance": 0.3}})


@pytest.mark.parametrize("how", ["no column", "all missing"])
def test_never_observed_gaussian_node_is_flagged_unidentified(how):
    net = _hidden_gaussian_parent()
    df = net.sample(400, seed=1)
    df = df.drop(columns="x") if how == "no column" else df.assign(x=np.nan)
    fits = []
    for seed in (0, 1):
        with pytest.warns(DegenerateWarning, match=r"Gaussian node\(s\) 'x' are never observed"):
            fits.append(bnem.fit(net, df, seed=seed, max_iter=500, tol=1e-10))
    # the warning is true: two starts reach the same likelihood with different parameters of x
    assert fits[0].log_likelihood == pytest.approx(fits[1].log_likelihood, rel=1e-7)
    a, b = (f.network.cpd("x") for f in fits)
    assert abs(float(a.intercept - b.intercept)) > 0.1 or abs(float(a.variance - b.variance)) > 0.1


def test_observed_gaussian_and_mixture_latents_are_not_flagged():
    net = _hidden_gaussian_parent()
    df = net.sample(200, seed=2)
    df.loc[::3, "x"] = np.nan  # observed in some rows: identified
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateWarning)
        bnem.fit(net, df, seed=0, max_iter=50)
        mix = bnem.gaussian_mixture(["a", "b"], 2)
        bnem.fit(mix, mix.sample(200, seed=0).drop(columns=mix.discrete_nodes[0]),
                 seed=0, max_iter=20)


@pytest.mark.parametrize("seed", range(5))
def test_one_step_matches_least_squares_on_random_hybrid_networks(seed):
    """The batched M-step (all nodes of a component in one solve, whatever their
    discrete and continuous parents) gives each node's weighted least squares per
    discrete-parent configuration on complete data."""
    rng = np.random.default_rng(300 + seed)
    net = random_hybrid(rng, 3, 5)
    df = net.sample(2000, seed=seed)
    learned = bnem.fit(net, df, max_iter=1, init="uniform", tol=0, accelerate="none").network
    checked = 0
    for node in net.continuous_nodes:
        cpd = learned.cpd(node)
        dpar, cpar = list(cpd.discrete_parents), list(cpd.continuous_parents)
        for idx in np.ndindex(*cpd.mean_shape):
            rows = np.ones(len(df), dtype=bool)
            for p, i in zip(dpar, idx):
                rows &= (df[p] == net.states(p)[i]).to_numpy()
            if rows.sum() <= len(cpar) + 1:
                continue
            design = np.column_stack([np.ones(rows.sum())] + [df.loc[rows, c] for c in cpar])
            coef, rss, *_ = np.linalg.lstsq(design, df.loc[rows, node].to_numpy(), rcond=None)
            np.testing.assert_allclose(cpd.intercept[idx], coef[0], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(cpd.weights[idx], coef[1:], rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(cpd.variance[idx], rss[0] / rows.sum(), rtol=1e-9)
            checked += 1
    assert checked >= len(net.continuous_nodes)


def test_mstep_batches_bound_the_padding():
    """A mixture's nodes make one batch; a node with many continuous parents is not
    padded together with narrow ones (its padding would dwarf their work)."""
    from bnem.em.gaussian_mstep import PAD_CELLS, _batches
    assert _batches([0, 1, 2, 3], [3, 3, 3, 3]) == [[0, 1, 2, 3]]
    counts, sizes = [0] * 100 + [1, 2, 300], [10] * 103
    batches = _batches(counts, sizes)
    assert batches[0][:100] == list(range(100)) and [102] in batches
    for b in batches[1:]:
        padded = sum(sizes[j] for j in b) * max(counts[j] for j in b) ** 2
        assert padded <= max(2 * sum(sizes[j] * counts[j] ** 2 for j in b), PAD_CELLS)


def test_exactly_collinear_parents_without_signal_do_not_warn():
    """x2 = -3 x1 exactly: the dropped direction carries nothing, so no collinearity
    warning (its eigenvalue is round-off, sometimes negative)."""
    net = bnem.BayesianNetwork(
        {"d": ["a", "b"], "x1": "continuous", "x2": "continuous", "z": "continuous",
         "y": "continuous"},
        {"x1": ["d"], "x2": ["x1"], "z": [], "y": ["d", "x1", "x2", "z"]})
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x1 = rng.normal(size=200) * 1e3
        df = pd.DataFrame({"d": rng.choice(["a", "b"], 200), "x1": x1, "x2": -3.0 * x1,
                           "z": rng.normal(size=200) * 1e-3,
                           "y": 2 * x1 + rng.normal(size=200)})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = bnem.fit(net, df, max_iter=1, init="uniform", tol=0, accelerate="none",
                           min_variance=1e-9)
        assert not any("collinear" in str(w.message) for w in caught), seed
        fitted = res.network.cpd("y").weights
        np.testing.assert_allclose(fitted[:, 0] - 3 * fitted[:, 1], 2.0, atol=1e-2)


def test_collinearity_warning_does_not_depend_on_other_nodes():
    """y's nearly collinear parents carry signal: the warning fires whether or not an
    unrelated node with 200 continuous parents shares y's M-step batch."""
    rng = np.random.default_rng(1)
    n, gap = 500, 1e-10
    x1 = rng.normal(size=n)
    x2 = x1 + gap * rng.normal(size=n)
    cols = {"x1": x1, "x2": x2, "y": (x1 - x2) / gap + 0.1 * rng.normal(size=n)}
    zs = [f"z{i}" for i in range(200)]
    cols.update({z: rng.normal(size=n) for z in zs})
    cols["w"] = sum(cols[z] for z in zs[:5]) + rng.normal(size=n)
    df = pd.DataFrame(cols)
    for names, parents in [(["x1", "x2", "y"], {"y": ["x1", "x2"]}),
                           (["x1", "x2", "y"] + zs + ["w"], {"y": ["x1", "x2"], "w": zs})]:
        net = bnem.BayesianNetwork(dict.fromkeys(names, "continuous"), parents)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bnem.fit(net, df[names], max_iter=3)
        assert any("collinear" in str(m.message) and "y" in str(m.message) for m in caught), \
            len(names)


def test_nearly_exact_regression_stays_monotone_and_reaches_the_mle():
    """y = 1000 x1 + N(0, 1) with x1 of spread 1000: R^2 is 1 - 1e-12, so the M-step's
    variance is known to about three digits (its scatter sums are ~1e14 for a residual
    sum of 200). EM's check allows that round-off (it used to raise MonotonicityError
    on some seeds), and the fit is the closed-form MLE to what that precision allows
    (seen: 6e-8 relative; about 1e-16 for well-conditioned data)."""
    net = bnem.BayesianNetwork(dict.fromkeys(["x1", "y"], "continuous"), {"y": ["x1"]})
    for seed in range(10):
        rng = np.random.default_rng(seed)
        x1 = rng.normal(size=200) * 1e3
        y = 1e3 * x1 + rng.normal(size=200)
        res = bnem.fit(net, pd.DataFrame({"x1": x1, "y": y}), seed=0)
        design = np.column_stack([np.ones(200), x1])
        coef, rss, *_ = np.linalg.lstsq(design, y, rcond=None)
        best = -100 * (np.log(2 * np.pi * x1.var()) + 1) - 100 * (np.log(2 * np.pi * rss[0] / 200) + 1)
        assert res.log_likelihood == pytest.approx(best, rel=1e-6), seed


def test_exact_linear_column_below_roundoff_is_a_data_error_not_a_bug():
    """x2 = -3 x1 exactly and min_variance far below round-off: x2's variance is
    round-off and so is its likelihood. Where EM's objective then falls, the error
    names the column and says what to do (it used to say "this is a bug in bnem");
    with the default min_variance the variance is floored and EM is monotone."""
    net = bnem.BayesianNetwork(dict.fromkeys(["x1", "x2", "y"], "continuous"),
                               {"x2": ["x1"], "y": ["x1", "x2"]})
    raised = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x1 = 1e3 + rng.normal(size=200)
        df = pd.DataFrame({"x1": x1, "x2": -3.0 * x1, "y": 2 * x1 + rng.normal(size=200)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                bnem.fit(net, df, max_iter=5, init="uniform", tol=0, accelerate="none",
                         min_variance=1e-30)
            except DataError as exc:
                assert "'x2'" in str(exc) and "round-off" in str(exc) and "min_variance" in str(exc)
                raised += 1
        with pytest.warns(DegenerateWarning, match="held at min_variance"):
            res = bnem.fit(net, df, max_iter=5, init="uniform", tol=0, accelerate="none")
        assert_monotone(res)
        assert res.network.cpd("x2").variance == 1e-6
    assert raised >= 1  # seeds 0 and 4 fell before (MonotonicityError)


def test_kmeans_start_is_a_lloyd_fixed_point(monkeypatch):
    """init='k-means++' runs Lloyd's iterations after the seeding: every row is at its
    nearest weighted cluster mean (seeding alone is not, on overlapping blobs)."""
    from bnem.em import gaussian_init
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(c, 1.0, (60, 2)) for c in ((0, 0), (2.5, 0), (0, 2.5))])
    w = rng.uniform(0.5, 2.0, len(x))
    allowed = np.ones((len(x), 3), dtype=bool)

    def fixed_points():
        out = []
        for seed in range(5):
            r = gaussian_init._responsibilities("k-means++", x, w, allowed, 3,
                                                np.random.default_rng(seed))
            label = r.argmax(axis=1)
            centres = np.array([np.average(x[label == k], axis=0, weights=w[label == k])
                                for k in range(3)])
            dist = ((x[:, None, :] - centres[None]) ** 2).sum(axis=2)
            out.append(bool(np.array_equal(dist.argmin(axis=1), label)))
        return out

    assert all(fixed_points())
    monkeypatch.setattr(gaussian_init, "LLOYD_ITERATIONS", 0)
    assert not all(fixed_points())  # the check can fail: seeding alone is not one


def test_kmeans_seeding_draw_is_numpy_choice():
    """The k-means++ seeding draws rows by inverse CDF: the same row from the same
    stream as ``Generator.choice(n, p=p)`` (starts, and so results, unchanged), also
    where some probabilities are 0."""
    from bnem.em.gaussian_init import _draw
    for seed in range(300):
        gen = np.random.default_rng(seed + 1000)
        p = gen.random(int(gen.integers(1, 60))) ** 3
        if seed % 3 == 0 and p.size > 1:
            p[::2] = 0.0
        p = p / p.sum()
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        assert [_draw(ours, p) for _ in range(4)] == [int(theirs.choice(p.size, p=p))
                                                     for _ in range(4)]


def test_parents_with_a_large_offset_keep_their_slopes():
    """Parents around 1e6 with spread 1 vary far above round-off (their deviations
    are taken about a centre): their coefficients are the least-squares ones. They
    used to be taken as constant (spread below 1e-6 of the mean) and set to 0."""
    rng = np.random.default_rng(5)
    x = 1e6 + rng.normal(size=(1000, 3))
    y = 1e6 + x @ np.array([1.0, -2.0, 0.5]) + 0.5 * rng.normal(size=1000)
    net = bnem.BayesianNetwork(dict.fromkeys(["a", "b", "c", "y"], "continuous"),
                               {"y": ["a", "b", "c"]})
    df = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    cpd = bnem.fit(net, df, seed=0, max_iter=20).network.cpd("y")
    centred = x - x.mean(axis=0)
    coef, rss, *_ = np.linalg.lstsq(np.column_stack([np.ones(1000), centred]), y, rcond=None)
    np.testing.assert_allclose(cpd.weights, coef[1:], rtol=1e-6)
    np.testing.assert_allclose(cpd.variance, rss[0] / 1000, rtol=1e-6)


def test_far_offset_cluster_converges_without_a_false_alarm():
    """x ~ 1e8 + N(0, 1) in one cluster, y = 2x + N(0, 0.01): the objective is only known
    to about eps * 1e8 / 0.1 per row, so EM jitters at convergence. The check allows the
    E-step's own round-off (it raised MonotonicityError, 'a bug'), and the fit is the
    complete-data MLE."""
    net = bnem.BayesianNetwork({"z": ["a", "b"], "x": "continuous", "y": "continuous"},
                               {"x": ["z"], "y": ["z", "x"]})
    rng = np.random.default_rng(0)
    z = np.repeat(["a", "b"], 250)
    x = rng.normal(size=500) + np.where(z == "b", 1e8, 0)
    y = 2 * x + 0.1 * rng.normal(size=500)
    df = pd.DataFrame({"z": z, "x": x, "y": y})
    res = bnem.fit(net, df, seed=0, tol=0, max_iter=50, accelerate="none")
    best = 250 * np.log(0.5) * 2
    for k in ("a", "b"):
        xs, ys = x[z == k], y[z == k]
        design = np.column_stack([np.ones(250), xs - xs.mean()])
        _, rss, *_ = np.linalg.lstsq(design, ys, rcond=None)
        best += -125 * (np.log(2 * np.pi * xs.var()) + 1) - 125 * (np.log(2 * np.pi * rss[0] / 250) + 1)
    assert res.log_likelihood == pytest.approx(best, rel=1e-8)


def test_diagonal_mixture_far_from_the_centre_has_an_exact_likelihood():
    """Clusters at +-1e5 with spread 1, diagonal covariances: deviations are taken from
    each component's mean before squaring (expanding the square lost whole nats and
    raised a false MonotonicityError at +-1e6). The reported log-likelihood equals a
    direct computation from the fitted parameters."""
    from scipy.special import logsumexp
    from bnem.models.mixture import mixture_parameters
    rng = np.random.default_rng(0)
    n = 20_000
    side = rng.choice([-1.0, 1.0], n)
    x = side[:, None] * 1e5 + rng.normal(size=(n, 2))
    df = pd.DataFrame(x, columns=["a", "b"])
    net = bnem.gaussian_mixture(["a", "b"], 2, covariance="diag")
    res = bnem.fit(net, df, seed=0, max_iter=20, tol=0, accelerate="none")
    w, means, covs = mixture_parameters(res.network, "component")
    var = np.diagonal(covs, axis1=1, axis2=2)
    logp = np.log(w) - 0.5 * (((x[:, None, :] - means[None]) ** 2 / var[None]).sum(axis=2)
                              + np.log(2 * np.pi * var).sum(axis=1))
    assert res.log_likelihood == pytest.approx(float(logsumexp(logp, axis=1).sum()), rel=1e-12)
    assert_monotone(res)


def test_diagonal_paths_agree_on_ordinary_data(monkeypatch):
    """The expanded-square path (used where it is exact enough) and the deviations
    path give the same fit on standardised data with missing cells."""
    from bnem.inference import gaussian_density
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 3)) + rng.normal(0, 3, (3, 3))[rng.integers(0, 3, 3000)]
    x[rng.random(x.shape) < 0.2] = np.nan
    df = pd.DataFrame(x, columns=list("abc"))
    net = bnem.gaussian_mixture(list("abc"), 3, covariance="diag")
    fast = bnem.fit(net, df, seed=0, max_iter=10, tol=0, accelerate="none")
    monkeypatch.setattr(gaussian_density, "EXPANSION_ERROR", 0.0)  # the deviations path
    exact = bnem.fit(net, df, seed=0, max_iter=10, tol=0, accelerate="none")
    np.testing.assert_allclose(fast.history.log_likelihood, exact.history.log_likelihood,
                               rtol=1e-12)


def test_fitted_cpds_equal_checked_ones_and_non_finite_fits_are_caught():
    """The M-step builds its CPDs without ``__init__``'s checks: the result equals the
    checked construction, and a non-finite parameter is still an error, not a CPD."""
    from bnem.em.gaussian_mstep import _new_cpd
    from bnem.network.gaussian import GaussianCPD

    old = GaussianCPD("y", ["z"], ["x"], [0.0, 1.0], [[1.0], [2.0]], [1.0, 2.0])
    ok = np.array([True, False])
    b0, beta, var = np.array([3.0, 9.0]), np.array([[0.5], [9.0]]), np.array([0.25, 9.0])
    new = _new_cpd(old, ok, b0, beta, var)
    assert new == GaussianCPD("y", ["z"], ["x"], [3.0, 1.0], [[0.5], [2.0]], [0.25, 2.0])
    assert not any(a.flags.writeable for a in (new.intercept, new.weights, new.variance))
    with pytest.raises(NetworkError, match=r"fitted arrays of shapes \(3,\)"):
        GaussianCPD.fitted(old, np.zeros(3), np.zeros((2, 1)), np.ones(2))
    with pytest.raises(NetworkError, match=r"M-step of 'y' gave a non-finite"):
        _new_cpd(old, ok, np.array([np.inf, 0.0]), beta, var)
    every = np.array([True, True])  # the quick check (one sum) and its fallbacks
    for bad in (np.array([np.nan, 0.0]), np.array([np.inf, -np.inf])):
        with pytest.raises(NetworkError, match=r"M-step of 'y' gave a non-finite"):
            _new_cpd(old, every, b0, bad[:, None], var)
    with pytest.raises(BnemValueError, match=r"variance of 'y' \(configuration 1"):
        _new_cpd(old, every, b0, beta, np.array([1.0, 0.0]))
    huge = _new_cpd(old, every, np.array([1e308, 1e308]), beta, var)  # the sum overflows
    assert huge.intercept.tolist() == [1e308, 1e308]


def _chain_case(rng, m, k, cov=None, mean=None, n=None):
    """A full-covariance component, exact moments of weights ``n``, means and
    covariances (random where not given), and random previous CPDs."""
    from bnem.inference.gaussian import components
    from bnem.inference.stats import Moments
    gm = bnem.gaussian_mixture([f"x{i}" for i in range(m)], k, covariance="full")
    n = rng.uniform(1, 100, k) if n is None else n
    if cov is None:
        a = rng.normal(size=(k, m, m)) * rng.uniform(0.1, 3, (k, 1, m))
        cov = a @ np.swapaxes(a, 1, 2) + 1e-3 * np.eye(m)
    mean = rng.normal(0, 3, (k, m)) if mean is None else mean
    centres = mean + rng.normal(0, 0.5, (k, m)) * np.sqrt(np.einsum("kii->ki", cov))
    m1 = (mean - centres) * n[:, None]
    safe = np.where(n > 0, n, 1.0)
    stats = Moments(n, m1, cov * n[:, None, None] + np.einsum("ki,kj->kij", m1, m1)
                    / safe[:, None, None], centres)
    prev = {node: bnem.GaussianCPD(node, c.discrete_parents, c.continuous_parents,
                                   rng.normal(size=c.intercept.shape),
                                   rng.normal(size=np.shape(c.weights)) * 0.3,
                                   rng.uniform(0.5, 2, c.intercept.shape))
            for node, c in gm.gaussian_cpds.items()}
    return components(gm)[0], stats, centres, prev


def _both_solvers(monkeypatch, comp, stats, centres, prev, min_variance=1e-6):
    """maximize_component with the factorisation allowed, then with the general solver
    only; and whether the factorisation was taken."""
    import bnem.em.gaussian_mstep as gm_step
    assert gm_step.is_chain(comp)
    calls = []
    real = gm_step.chain_fits
    with monkeypatch.context() as mp:
        mp.setattr(gm_step, "chain_fits", lambda *a: calls.append(real(*a)) or calls[-1])
        fast = gm_step.maximize_component(comp, stats, centres, prev, min_variance)
    with monkeypatch.context() as mp:
        mp.setattr(gm_step, "is_chain", lambda c: False)
        slow = gm_step.maximize_component(comp, stats, centres, prev, min_variance)
    return fast, slow, calls[-1] is not None


def _assert_same(comp, fast, slow):
    for node in comp.nodes:
        for part in ("intercept", "weights", "variance"):
            np.testing.assert_allclose(getattr(fast[0][node], part), getattr(slow[0][node], part),
                                       rtol=1e-9, atol=1e-12, err_msg=f"{node} {part}")
    assert fast[1:5] == slow[1:5]
    assert fast[5] == pytest.approx(slow[5], rel=1e-6)


@pytest.mark.parametrize("seed", range(30))
def test_full_covariance_factorisation_equals_the_general_solver(seed, monkeypatch):
    """A full-covariance component is solved from one triangular factor
    (bnem.em.gaussian_chain): the general solver's CPDs, flags and round-off slack."""
    rng = np.random.default_rng(seed)
    case = _chain_case(rng, int(rng.integers(1, 7)), int(rng.integers(1, 5)))
    fast, slow, taken = _both_solvers(monkeypatch, *case)
    assert taken
    _assert_same(case[0], fast, slow)


def _keeps_previous(rng):
    comp, stats, centres, prev = _chain_case(rng, 4, 2)
    from bnem.em.gaussian_mstep import maximize_component
    best = maximize_component(comp, stats, centres, prev, 1e-6)[0]  # previous = the optimum
    return comp, stats, centres, best


def _floored(rng):
    comp, stats, centres, prev = _chain_case(rng, 4, 2)
    return comp, stats, centres, prev, 50.0  # above most residual variances


def _later_column_far_away(rng):
    """A column at 1e6 with spread 1 after the others: coefficients of earlier nodes
    on it must be exactly 0, or they move those nodes' intercepts. (Further from 0 for
    its spread, past ~4e6 standard deviations, its mean would be round-off, which the
    factorisation leaves to the general solver.)"""
    m = 6
    a = rng.normal(size=(1, m, m))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(m)
    d = np.sqrt(cov[:, 4, 4])[:, None]  # unit spread
    cov[:, 4, :] /= d
    cov[:, :, 4] /= d
    mean = rng.normal(size=(1, m))
    mean[0, 4] = 1e6
    return _chain_case(rng, m, 1, cov, mean)


@pytest.mark.parametrize("build", [_keeps_previous, _floored, _later_column_far_away])
def test_factorisation_branches_equal_the_general_solver(build, monkeypatch):
    """Previous coefficients kept where they fit at least as well, variances held at
    min_variance, and a later column far from 0 with a tiny spread."""
    rng = np.random.default_rng(7)
    case = build(rng)
    fast, slow, taken = _both_solvers(monkeypatch, *case)
    assert taken
    _assert_same(case[0], fast, slow)
    if build is _floored:
        assert fast[1]  # some variance was floored
    if build is _later_column_far_away:
        c = fast[0]["x3"]
        assert np.asarray(c.weights).shape == (1, 3)


def _zero_weight(rng):
    return _chain_case(rng, 3, 3, n=np.array([5.0, 0.0, 7.0]))


def _constant_parent(rng):
    a = rng.normal(size=(2, 4, 4))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(4)
    cov[:, 1, :] = 0.0
    cov[:, :, 1] = 0.0
    return _chain_case(rng, 4, 2, cov)


def _collinear(rng, gap=1e-12):
    a = rng.normal(size=(1, 5, 5))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(5)
    cov[:, 2, :] = cov[:, 0, :]
    cov[:, :, 2] = cov[:, :, 0]
    cov[:, 2, 2] += gap * cov[:, 0, 0]
    return _chain_case(rng, 5, 1, cov)


def _near_threshold(rng):
    from bnem.em.gaussian_roundoff import COLLINEAR
    return _collinear(rng, gap=2 * COLLINEAR)  # smallest eigenvalue ~COLLINEAR


def _nearly_exact(rng):
    a = rng.normal(size=(1, 4, 4))
    cov = a @ np.swapaxes(a, 1, 2) + np.eye(4)
    w = rng.normal(size=3)
    cov[:, 3, :3] = cov[:, :3, :3] @ w  # x3 = w . x0..2
    cov[:, :3, 3] = cov[:, 3, :3]
    cov[:, 3, 3] = w @ cov[0, :3, :3] @ w * (1 + 1e-11)
    return _chain_case(rng, 4, 1, cov)


def _far_centres(rng):
    """Moments taken about centres 1e4 standard deviations from the means (an E-step
    far from the optimum): the sums cancel 8 digits, the variances are not exact."""
    comp, stats, centres, prev = _chain_case(rng, 3, 2)
    from bnem.inference.stats import Moments
    n, mean = stats.n, centres + stats.m1 / stats.n[:, None]
    cov = (stats.m2 - np.einsum("ki,kj->kij", stats.m1, stats.m1) / n[:, None, None]) \
        / n[:, None, None]
    far = mean + 1e4 * np.sqrt(np.einsum("kii->ki", cov))
    m1 = (mean - far) * n[:, None]
    return comp, Moments(n, m1, cov * n[:, None, None] + np.einsum("ki,kj->kij", m1, m1)
                         / n[:, None, None], far), far, prev


@pytest.mark.parametrize("build", [_zero_weight, _constant_parent, _collinear,
                                   _near_threshold, _nearly_exact, _far_centres])
def test_factorisation_leaves_hard_cases_to_the_general_solver(build, monkeypatch):
    """Zero weight, a constant parent, collinear parents (also near the threshold, where
    the two solvers' rounding could disagree), a nearly exact regression: not taken,
    so the answer is the general solver's."""
    rng = np.random.default_rng(3)
    case = build(rng)
    fast, slow, taken = _both_solvers(monkeypatch, *case)
    assert not taken
    _assert_same(case[0], fast, slow)


@pytest.mark.parametrize("seed", range(20))
def test_factorisation_coefficients_are_least_squares(seed):
    """Every node's coefficients on the nodes before it, from one factor, equal a
    direct least-squares solve; on itself and on later nodes they are exactly 0 (the
    inverse of a triangular factor by a pivoting solver is not exactly triangular)."""
    from bnem.em.gaussian_chain import _coefficients
    rng = np.random.default_rng(seed)
    m, k = 6, 3
    a = rng.normal(size=(k, m, m)) * rng.uniform(0.01, 100, (k, 1, m))
    scatter = a @ np.swapaxes(a, 1, 2) + np.eye(m)
    beta = _coefficients(scatter, np.einsum("kii->ki", scatter))
    assert np.all(beta[:, ~np.tri(m, k=-1, dtype=bool)] == 0.0)
    for g in range(k):
        for j in range(1, m):
            want = np.linalg.solve(scatter[g, :j, :j], scatter[g, :j, j])
            np.testing.assert_allclose(beta[g, j, :j], want, rtol=1e-9, atol=1e-12)


def test_chain_layout_is_recognised_only_for_full_chains():
    from bnem.em.gaussian_chain import is_chain
    from bnem.inference.gaussian import components
    assert is_chain(components(bnem.gaussian_mixture(["a", "b", "c"], 2, covariance="full"))[0])
    assert not is_chain(components(bnem.gaussian_mixture(["a", "b"], 2, covariance="diag"))[0])
    net = bnem.BayesianNetwork({"z": ["0", "1"], "w": ["0", "1"], "a": "continuous",
                                "b": "continuous"}, {"a": ["z"], "b": ["w", "a"]})
    assert not is_chain(components(net)[0])  # b's configurations are not the interface's


def _far_mixture(seed):
    """Full covariance: a column at 1e7 +- 1e-5 before others (fitted slopes ~3e5,
    intercepts ~3e12), one nearly linear column, 5% of cells missing."""
    rng = np.random.default_rng(seed)
    m, n = 7, 400
    x = rng.normal(size=(n, m)) @ rng.normal(size=(m, m))
    x[n // 2:] += 4 * rng.normal(size=m)
    x[:, 3] = x[:, :3] @ rng.normal(size=3) + 3e-3 * rng.normal(size=n)
    x[:, 5] = 1e7 + 1e-5 * (x[:, 5] - x[:, 5].mean()) / x[:, 5].std()
    x[rng.random((n, m)) < 0.05] = np.nan
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(m)])
    return bnem.gaussian_mixture(list(df.columns), 2, covariance="full"), df


def _far_chain(seed):
    """A CLG chain a -> b -> d with a at 1e7 +- 1e-5 and b = 3e5 (a - 1e7) + N(0, 1)."""
    rng = np.random.default_rng(seed)
    n = 2000
    c = rng.integers(0, 2, n)
    a = 1e7 + 1e-5 * (rng.normal(size=n) + 2.0 * c)
    b = 3e5 * (a - 1e7) + rng.normal(size=n)
    d = b + 0.5 * c + 1e-3 * rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": b, "d": d}).mask(rng.random((n, 3)) < 0.05)
    net = bnem.BayesianNetwork({"c": ["0", "1"], "a": "continuous", "b": "continuous",
                                "d": "continuous"}, {"a": ["c"], "b": ["a"], "d": ["c", "b"]})
    return net, df


@pytest.mark.parametrize("build", [_far_mixture, _far_chain])
def test_a_steep_slope_on_a_far_parent_is_the_datas_round_off_not_a_bug(build):
    """A node's mean formed from a parent at 1e7 +- 1e-5 with a slope ~3e5 is known to
    eps * 3e12 only. These fits raised 'a bug in bnem' (MonotonicityError) on most
    seeds. The E-step now forms means by forward substitution (fewer falls), and a
    fall that involves a mean known to worse than 1e-6 sd is a DataError that names
    the node and says what to do; the fits that finish have a finite, increasing
    history."""
    outcomes = []
    for seed in range(8):
        net, df = build(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = bnem.fit(net, df, seed=seed, tol=1e-8, max_iter=200,
                               accelerate="none", min_variance=1e-14)
            except DataError as exc:
                assert "known only to round-off" in str(exc)
                assert "centre or rescale that column" in str(exc)
                outcomes.append("data")
                continue
        ll = res.history.log_likelihood.to_numpy()
        assert np.isfinite(ll).all() and ll[-1] >= ll[0]
        outcomes.append("fit")
    assert "fit" in outcomes


def test_chain_conditioning_check_equals_the_eigenvalue_criterion():
    """The factorised M-step settles "every eigenvalue above MARGIN * COLLINEAR times the
    largest" by a bound where it can and by an eigen-solve otherwise: the answer is the
    eigen-solve's, on matrices well inside, well outside and around the threshold."""
    from bnem.em.gaussian_chain import MARGIN, _conditioned
    from bnem.em.gaussian_roundoff import COLLINEAR
    rng = np.random.default_rng(3)
    answers = []
    for trial in range(400):
        p = int(rng.integers(2, 7))
        q, _ = np.linalg.qr(rng.normal(size=(p, p)))
        ratio = MARGIN * COLLINEAR * 10.0 ** rng.uniform(-1.5, 1.5) if trial % 2 else \
            10.0 ** rng.uniform(-4, 0)
        eig = np.concatenate([[ratio], rng.uniform(ratio, 1.0, p - 2), [1.0]])
        cov = (q * eig) @ q.T
        d = np.sqrt(np.diag(cov))
        corr = (cov / d[:, None] / d[None, :])[None]
        try:
            inv_l = np.tril(np.linalg.inv(np.linalg.cholesky(corr)))
        except np.linalg.LinAlgError:
            continue
        w = np.linalg.eigvalsh(corr)[0]
        expected = bool(w[0] > MARGIN * COLLINEAR * w[-1])
        assert _conditioned(corr, inv_l) == expected
        answers.append(expected)
    assert 50 < sum(answers) < len(answers) - 50  # both answers, many times


def test_mixture_estep_without_the_clique_tree_equals_the_tree():
    """A chunk whose one discrete node is hidden in every row (a Gaussian mixture) is
    evaluated without the clique tree's passes: same counts, moments and log-likelihood
    as the tree, and the same log p(x) per row, full and diagonal, with missing cells,
    row weights and a component of weight 0; the shortcut is taken only there; a row no
    component can explain is an impossible row."""
    from bnem.inference import hybrid
    from bnem.inference.compiled import compile
    from bnem.inference.dataset import AnalysedData
    from bnem.inference.engine import ImpossibleRows
    from bnem.network.parameters import Parameters
    rng = np.random.default_rng(11)
    x = rng.normal(size=(150, 3)) + np.repeat([[0, 0, 0], [3, 1, 0], [0, 4, 2]], 50, axis=0)
    x[rng.random(x.shape) < 0.15] = np.nan
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    weights = rng.uniform(0.2, 3.0, len(df))
    for covariance in ("full", "diag"):
        net = bnem.fit(bnem.gaussian_mixture(["a", "b", "c"], 3, covariance=covariance), df,
                       seed=1, max_iter=3, tol=1e-2).network
        hidden = net.discrete_nodes[0]
        for theta in (net.flat_params(), np.array([0.6, 0.0, 0.4])):
            data = AnalysedData(compile(net), df, sample_weight=weights)
            params = Parameters(theta, net.gaussian_cpds)
            taken = []
            real = hybrid._hidden_root_estep
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(hybrid, "_hidden_root_estep",
                           lambda *a: taken.append(1) or real(*a))
                fast = data.stats(params)
                mp.setattr(hybrid, "_hidden_root_only", lambda ev: False)
                tree = data.stats(params)
                general = params.to_network(net).log_prob(df)
            assert taken and len(taken) == len(data.refs)
            np.testing.assert_allclose(params.to_network(net).log_prob(df), general, rtol=1e-13,
                                       atol=1e-14)
            np.testing.assert_allclose(fast.counts, tree.counts, rtol=1e-12, atol=1e-12)
            assert fast.log_likelihood == pytest.approx(tree.log_likelihood, rel=1e-13)
            for f, t in zip(fast.moments, tree.moments):
                for a, b in ((f.n, t.n), (f.m1, t.m1), (f.m2, t.m2)):
                    np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)
        seen = df.assign(**{hidden: rng.choice(net.states(hidden), len(df))})
        observed = AnalysedData(compile(net), seen)
        assert not any(hybrid._hidden_root_only(observed.chunk(k))
                       for k in range(len(observed.refs)))
    chunk = data.chunk(0)
    caches = data.compiled.prepare(params).caches
    with pytest.raises(ImpossibleRows):
        hybrid._hidden_root_estep(chunk, np.full(3, -np.inf), caches[0])


def test_start_data_are_held_across_restarts_only_when_small(monkeypatch):
    """What the starts need of the data is computed once per fit and held while the data
    live, unless it is larger than START_CACHE_BYTES; either way the fit is the same."""
    from bnem.em import gaussian_init
    rng = np.random.default_rng(2)
    df = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    net = bnem.gaussian_mixture(["a", "b", "c"], 2)
    computed = []
    real = gaussian_init._mean_filled
    monkeypatch.setattr(gaussian_init, "_mean_filled",
                        lambda *a: computed.append(1) or real(*a))
    held = bnem.fit(net, df, n_init=4, seed=3, max_iter=5, tol=1e-3)
    assert len(computed) == 1 and len(gaussian_init._ROWS) == 0  # released with the data
    monkeypatch.setattr(gaussian_init, "START_CACHE_BYTES", 0)
    computed.clear()
    again = bnem.fit(net, df, n_init=4, seed=3, max_iter=5, tol=1e-3)
    assert len(computed) == 4
    assert again.log_likelihood == held.log_likelihood
