"""Gaussian mixtures as networks: parity with scikit-learn, missing cells, recovery,
model choice, anomaly scores."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import bnem
from bnem.errors import NetworkError
from conftest import assert_monotone

sklearn_mixture = pytest.importorskip("sklearn.mixture")

K, D = 5, 8


def _data(seed=0, n=3000, spread=1.5):
    """Overlapping clusters, so that EM is still moving after 30 iterations."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(K, D)) * spread
    parts = []
    for k in range(K):
        a = rng.normal(size=(D, D)) * 0.4
        parts.append(rng.multivariate_normal(means[k], a @ a.T + 0.5 * np.eye(D), size=n // K))
    x = np.concatenate(parts)
    return x[rng.permutation(len(x))]


def _start(x, seed, covariance):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(K, 5.0))
    m = x[rng.choice(len(x), K, replace=False)]
    if covariance == "full":
        c = np.array([np.cov(x.T) * rng.uniform(0.5, 1.5) for _ in range(K)])
        prec = np.linalg.inv(c)
    else:
        c = np.array([x.var(axis=0) * rng.uniform(0.5, 1.5, D) for _ in range(K)])
        prec = 1.0 / c
    return w, m, c, prec


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_same_iterations_as_scikit_learn(covariance):
    x = _data()
    n_iter = 30
    w, m, c, prec = _start(x, 1, covariance)
    cols = [f"x{j}" for j in range(D)]
    gm = bnem.gaussian_mixture(cols, K, covariance, weights=w, means=m, covariances=c)
    res = bnem.fit(gm, pd.DataFrame(x, columns=cols), init="network", max_iter=n_iter, tol=0,
                   accelerate="none",
                   min_variance=0)
    assert res.n_iter == n_iter
    assert_monotone(res)
    sk = sklearn_mixture.GaussianMixture(K, covariance_type=covariance, weights_init=w,
                                         means_init=m, precisions_init=prec, reg_covar=0,
                                         tol=0, max_iter=n_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(x)
    if hasattr(sk, "lower_bounds_"):  # per-iteration mean log-likelihood (sklearn >= 1.7)
        ours = res.history.log_likelihood.to_numpy()[:n_iter]
        np.testing.assert_allclose(ours, np.array(sk.lower_bounds_) * len(x), rtol=1e-8)
    else:
        np.testing.assert_allclose(res.history.log_likelihood.iloc[n_iter - 1],
                                   sk.lower_bound_ * len(x), rtol=1e-8)
    weights, means, covs = bnem.mixture_parameters(res.network)
    np.testing.assert_allclose(weights, sk.weights_, rtol=1e-8)
    np.testing.assert_allclose(means, sk.means_, rtol=1e-8, atol=1e-10)
    sk_covs = sk.covariances_ if covariance == "full" else \
        np.einsum("kd,de->kde", sk.covariances_, np.eye(D))
    np.testing.assert_allclose(covs, sk_covs, rtol=1e-8, atol=1e-10)
    # and the final parameters score the same under sklearn and bnem
    np.testing.assert_allclose(res.network.log_likelihood(pd.DataFrame(x, columns=cols)),
                               sk.score(x) * len(x), rtol=1e-10)


def test_mixture_parameters_round_trip():
    rng = np.random.default_rng(2)
    w = rng.dirichlet(np.ones(3))
    m = rng.normal(size=(3, 4))
    a = rng.normal(size=(3, 4, 4))
    c = a @ a.transpose(0, 2, 1) + np.eye(4)
    gm = bnem.gaussian_mixture(list("abcd"), 3, weights=w, means=m, covariances=c)
    w2, m2, c2 = bnem.mixture_parameters(gm)
    np.testing.assert_allclose(w2, w, rtol=1e-14)
    np.testing.assert_allclose(m2, m, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c2, c, rtol=1e-12, atol=1e-14)
    assert gm.n_parameters == 2 + 3 * 4 + 3 * 10  # scikit-learn's count


def test_missing_cells_score_the_marginal_mixture_density():
    rng = np.random.default_rng(4)
    w = rng.dirichlet(np.ones(3))
    m = rng.normal(size=(3, 5)) * 2
    a = rng.normal(size=(3, 5, 5))
    c = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(5)
    cols = list("vwxyz")
    gm = bnem.gaussian_mixture(cols, 3, weights=w, means=m, covariances=c)
    x = rng.normal(size=(300, 5)) * 2
    x[rng.random(x.shape) < 0.35] = np.nan
    x[0] = np.nan  # a row with nothing observed: p = 1
    ours = gm.log_prob(pd.DataFrame(x, columns=cols))
    expected = []
    for row in x:
        o = ~np.isnan(row)
        if not o.any():
            expected.append(0.0)
            continue
        dens = [w[k] * multivariate_normal(m[k][o], c[k][np.ix_(o, o)]).pdf(row[o])
                for k in range(3)]
        expected.append(np.log(sum(dens)))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    # diagonal model too
    v = rng.uniform(0.5, 2, size=(3, 5))
    gd = bnem.gaussian_mixture(cols, 3, "diag", weights=w, means=m, covariances=v)
    ours = gd.log_prob(pd.DataFrame(x, columns=cols))
    expected = [np.log(sum(w[k] * np.prod([np.exp(-0.5 * (r - m[k, j]) ** 2 / v[k, j])
                                           / np.sqrt(2 * np.pi * v[k, j])
                                           for j, r in enumerate(row) if r == r])
                           for k in range(3))) for row in x]
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)


@pytest.mark.slow
def test_mixed_latent_class_model_recovers_parameters_up_to_permutation():
    rng = np.random.default_rng(11)
    classes = ["c0", "c1", "c2"]
    variables = {"H": classes, **{f"d{i}": ["a", "b", "c"] for i in range(3)},
                 **{f"g{i}": "continuous" for i in range(3)}}
    parents = {f"d{i}": ["H"] for i in range(3)} | {f"g{i}": ["H"] for i in range(3)}
    cpds = {"H": [0.5, 0.3, 0.2]}
    for i in range(3):
        cpds[f"d{i}"] = rng.dirichlet(np.ones(3) * 0.7, size=3)
        cpds[f"g{i}"] = {"intercept": rng.normal(0, 4, size=3),
                         "variance": rng.uniform(0.5, 2.0, size=3)}
    truth = bnem.BayesianNetwork(variables, parents, cpds)
    full = truth.sample(20_000, seed=1)
    df = full.drop(columns="H")
    structure = bnem.BayesianNetwork(variables, parents)
    res = bnem.fit(structure, df, n_init=3, seed=0, tol=1e-8, max_iter=500)
    assert_monotone(res)
    perm = bnem.match_states(truth, res.network, df, "H")
    learned = bnem.relabel_states(res.network, "H", perm)
    np.testing.assert_allclose(learned.cpd("H").values, truth.cpd("H").values, atol=0.02)
    for i in range(3):
        np.testing.assert_allclose(learned.cpd(f"d{i}").values, truth.cpd(f"d{i}").values,
                                   atol=0.03)
        g, t = learned.cpd(f"g{i}"), truth.cpd(f"g{i}")
        np.testing.assert_allclose(g.intercept, t.intercept, atol=0.1)
        np.testing.assert_allclose(g.variance, t.variance, rtol=0.1)
    # the relabelled network is the same distribution
    np.testing.assert_allclose(learned.log_likelihood(df), res.log_likelihood, rtol=1e-12)


def test_best_permutation():
    a = np.array([[0.1, 5.0, 0.0], [0.0, 0.2, 3.0], [4.0, 0.0, 0.1]])
    assert bnem.best_permutation(a) == (1, 2, 0)
    big = np.eye(10)[::-1] * 3 + 0.01
    assert bnem.best_permutation(big) == tuple(range(9, -1, -1))
    with pytest.raises(bnem.BnemError, match="square"):
        bnem.best_permutation(np.ones((2, 3)))


def test_bic_picks_the_true_number_of_components():
    rng = np.random.default_rng(8)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    x = np.concatenate([rng.normal(c, 1.0, size=(300, 2)) for c in centres])
    df = pd.DataFrame(x, columns=["u", "v"])
    scores = {}
    for k in range(1, 6):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bnem.fit(bnem.gaussian_mixture(["u", "v"], k), df, n_init=3, seed=0)
        assert_monotone(res)
        scores[k] = bnem.bic(res.network, df)
        assert bnem.aic(res.network, df) == pytest.approx(
            -2 * res.log_likelihood + 2 * res.network.n_parameters)
    assert min(scores, key=scores.get) == 3, scores


@pytest.mark.slow
def test_kmeans_init_gets_close_to_the_truth_and_restarts_keep_the_best():
    x = _data(3, n=2000, spread=4.0)
    cols = [f"x{j}" for j in range(D)]
    df = pd.DataFrame(x, columns=cols)
    for init in ("k-means++", "random-rows", "random-resp"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bnem.fit(bnem.gaussian_mixture(cols, K), df, init=init, n_init=2, seed=0,
                           max_iter=300)
        assert_monotone(res)
        assert len(res.restarts) == 2
        assert res.log_likelihood == res.restarts.log_likelihood.max()


def test_anomaly_flags():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal([0, 0], 0.5, size=(500, 2)), rng.normal([5, 5], 0.5, size=(500, 2))])
    train = pd.DataFrame(x, columns=["a", "b"])
    res = bnem.fit(bnem.gaussian_mixture(["a", "b"], 2), train, seed=0)
    assert_monotone(res)
    threshold = bnem.anomaly_threshold(res.network, train, quantile=0.01)
    assert (res.network.log_prob(train) < threshold).mean() == pytest.approx(0.01, abs=0.002)
    new = pd.DataFrame({"a": [0.1, 5.0, 0.0, 2.5], "b": [0.0, np.nan, 5.0, 2.5]})
    flags = bnem.flag_anomalies(res.network, new, reference=train)
    assert flags.anomaly.tolist() == [False, False, True, True]
    assert flags.attrs["threshold"] == threshold
    np.testing.assert_array_equal(flags.log_prob, res.network.log_prob(new))
    with pytest.raises(bnem.BnemError, match="either threshold or reference"):
        bnem.flag_anomalies(res.network, new, threshold=1.0, reference=train)


@pytest.mark.parametrize("kwargs, match", [
    ({"columns": "ab", "n_components": 2}, "got the string 'ab'"),
    ({"columns": ["a", "a"], "n_components": 2}, r"columns repeat: \['a'\]"),
    ({"columns": ["component"], "n_components": 2}, "also a column"),
    ({"columns": ["a"], "n_components": 0}, "n_components must be >= 1"),
    ({"columns": ["a"], "n_components": 2, "covariance": "banded"}, "covariance must be one of"),
    ({"columns": ["a"], "n_components": 2, "weights": [0.5, 0.6]}, "not normalised"),
    ({"columns": ["a"], "n_components": 2, "means": [1.0, 2.0]}, r"means must have shape \(2, 1\)"),
    ({"columns": ["a", "b"], "n_components": 1, "covariances": [[[1.0, 2.0], [2.0, 1.0]]]},
     r"covariances\[0\] is not positive definite"),
    ({"columns": ["a", "b"], "n_components": 1, "covariances": [[[1.0, 0.5], [0.4, 1.0]]]},
     r"covariances\[0\] is not symmetric"),
    ({"columns": ["a", "b"], "n_components": 1, "covariance": "diag",
      "covariances": [[1.0, 0.0]]}, r"variance of 'b' in component 0 must be > 0"),
])
def test_gaussian_mixture_errors(kwargs, match):
    with pytest.raises(bnem.BnemError, match=match):
        bnem.gaussian_mixture(**kwargs)


def test_mixture_parameters_errors():
    with pytest.raises(NetworkError, match="needs continuous nodes"):
        bnem.mixture_parameters(bnem.BayesianNetwork({"d": ["a", "b"]}))
    net = bnem.BayesianNetwork({"d": ["a", "b"], "e": ["a", "b"], "g": "continuous",
                                "h": "continuous"}, {"g": ["d"], "h": ["e"]})
    with pytest.raises(NetworkError, match="same single discrete parent"):
        bnem.mixture_parameters(net)
    with pytest.raises(bnem.BnemError, match="must be a bnem.BayesianNetwork"):
        bnem.mixture_parameters("net")


def test_anomaly_threshold_ignores_impossible_rows_and_flags_them():
    net = bnem.BayesianNetwork({"z": ["0", "1"], "x": "continuous"}, {"x": ["z"]},
                               {"z": [1.0, 0.0], "x": {"intercept": [0.0, 5.0]}})
    df = pd.DataFrame({"z": ["0"] * 98 + ["1", "1"],
                       "x": np.random.default_rng(0).normal(size=100)})
    df.loc[5, "x"] = 8.0
    flags = bnem.flag_anomalies(net, df, quantile=0.015)
    assert np.isfinite(flags.attrs["threshold"])
    assert flags.anomaly[[5, 98, 99]].all()
    assert flags.anomaly.sum() == 4


@pytest.mark.slow
def test_best_permutation_is_exact_above_eight_states():
    rng = np.random.default_rng(0)
    a = rng.random((9, 9))
    a[np.arange(9), rng.permutation(9)] += 1.5
    import itertools
    best = max(itertools.permutations(range(9)), key=lambda p: a[np.arange(9), list(p)].sum())
    assert bnem.best_permutation(a) == best
    with pytest.raises(bnem.BnemError, match="matrix of numbers"):
        bnem.best_permutation([["a", "b"], ["c", "d"]])


def test_hidden_name_is_checked():
    with pytest.raises(bnem.BnemError, match="hidden must be a non-empty string"):
        bnem.gaussian_mixture(["a"], 2, hidden=3)


@pytest.mark.parametrize("path", ["batched", "per-configuration", "ragged"])
def test_one_em_step_with_missing_cells_matches_a_direct_computation(path, monkeypatch):
    """Responsibilities, conditional means and covariances of the missing cells, row by
    row with numpy, against one bnem iteration (each code path for patterns)."""
    from bnem.inference import gaussian_moments, gaussian_ragged
    monkeypatch.setattr(gaussian_ragged, "RAGGED_MAX_ROWS", 10 ** 9 if path == "ragged" else 0)
    if path == "per-configuration":
        monkeypatch.setattr(gaussian_moments, "SMALL_PATTERN_CELLS", 0)
    rng = np.random.default_rng(21)
    k, d, n = 3, 4, 250
    w = rng.dirichlet(np.ones(k) * 3)
    mu = rng.normal(size=(k, d)) * 2
    a = rng.normal(size=(k, d, d))
    cov = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    x = rng.normal(size=(n, d)) * 2
    x[rng.random(x.shape) < 0.3] = np.nan
    cols = list("abcd")
    gm = bnem.gaussian_mixture(cols, k, weights=w, means=mu, covariances=cov)
    res = bnem.fit(gm, pd.DataFrame(x, columns=cols), init="network", max_iter=1, tol=0,
                   accelerate="none")
    assert_monotone(res)
    n_k, s1, s2 = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    for row in x:
        o = ~np.isnan(row)
        h = ~o
        log_r = np.log(w) + np.array([multivariate_normal(mu[c][o], cov[c][np.ix_(o, o)])
                                      .logpdf(row[o]) if o.any() else 0.0 for c in range(k)])
        r = np.exp(log_r - log_r.max())
        r /= r.sum()
        for c in range(k):
            full = row.copy()
            extra = np.zeros((d, d))
            if h.any():
                sol = np.linalg.solve(cov[c][np.ix_(o, o)], cov[c][np.ix_(o, h)]) if o.any() \
                    else np.zeros((0, h.sum()))
                full[h] = mu[c][h] + (row[o] - mu[c][o]) @ sol
                extra[np.ix_(h, h)] = cov[c][np.ix_(h, h)] - cov[c][np.ix_(h, o)] @ sol
            n_k[c] += r[c]
            s1[c] += r[c] * full
            s2[c] += r[c] * (np.outer(full, full) + extra)
    means = s1 / n_k[:, None]
    covs = s2 / n_k[:, None, None] - np.einsum("ki,kj->kij", means, means)
    w2, m2, c2 = bnem.mixture_parameters(res.network)
    assert res.history.log_likelihood.iloc[0] == pytest.approx(
        gm.log_likelihood(pd.DataFrame(x, columns=cols)), rel=1e-12)
    np.testing.assert_allclose(w2, n_k / n, rtol=1e-10)
    np.testing.assert_allclose(m2, means, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c2, covs, rtol=1e-8, atol=1e-11)


def test_rare_patterns_in_small_batches_give_the_same_answers(monkeypatch):
    from bnem.inference import gaussian_ragged
    rng = np.random.default_rng(5)
    cols = [f"c{i}" for i in range(6)]
    x = rng.normal(size=(300, 6))
    x[rng.random(x.shape) < 0.3] = np.nan
    df = pd.DataFrame(x, columns=cols)
    gm = bnem.gaussian_mixture(cols, 3, means=rng.normal(size=(3, 6)))
    ref = bnem.fit(gm, df, init="network", max_iter=3, tol=0)
    monkeypatch.setattr(gaussian_ragged, "BLOCK_CELLS", 200)  # one pattern a group, 1-row blocks
    small = bnem.fit(gm, df, init="network", max_iter=3, tol=0)
    assert_monotone(ref)
    assert_monotone(small)
    np.testing.assert_allclose(small.history.log_likelihood, ref.history.log_likelihood,
                               rtol=1e-12)
