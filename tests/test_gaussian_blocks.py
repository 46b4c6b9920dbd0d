"""Shared and tied Gaussian CPDs: tied and spherical mixtures against scikit-learn, a
shared emission against EM written out by hand, the brute-force density with NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

import bnem
from bnem.errors import BnemValueError, NetworkError

from conftest import assert_monotone

sklearn_mixture = pytest.importorskip("sklearn.mixture")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        warnings.filterwarnings("ignore", message="Best performing initialization")
        yield


def _data(n_missing: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], [1, 2, 0.5], (100, 3)),
                   rng.normal([3, 1, 2], [1, 2, 0.5], (120, 3)),
                   rng.normal([-2, 4, 1], [1, 2, 0.5], (80, 3))])
    x = x @ np.array([[1, 0.3, 0], [0, 1, 0.2], [0, 0, 1]])
    if n_missing:
        x[rng.random(x.shape) < n_missing] = np.nan
    return x


def _start(kind: str, x: np.ndarray) -> dict:
    w0 = np.array([0.3, 0.3, 0.4])
    m0 = x[[0, 150, 250]]
    p0 = {"tied": np.eye(3) * 0.5, "spherical": np.array([1.0, 0.5, 2.0])}[kind]
    return dict(weights_init=w0, means_init=m0, precisions_init=p0)


@pytest.mark.parametrize("kind", ["tied", "spherical"])
@pytest.mark.parametrize("n_iter", [1, 7])
def test_same_iterations_as_scikit_learn(kind, n_iter):
    x = _data()
    common = dict(covariance_type=kind, tol=0, max_iter=n_iter, **_start(kind, x))
    sk = sklearn_mixture.GaussianMixture(3, reg_covar=0, **common).fit(x)
    mine = bnem.GaussianMixture(3, **common).fit(x)
    np.testing.assert_allclose(mine.weights_, sk.weights_, rtol=1e-9)
    np.testing.assert_allclose(mine.means_, sk.means_, rtol=1e-8, atol=1e-10)
    assert mine.covariances_.shape == sk.covariances_.shape
    np.testing.assert_allclose(mine.covariances_, sk.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mine.precisions_, sk.precisions_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mine.precisions_cholesky_, sk.precisions_cholesky_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(mine.score_samples(x), sk.score_samples(x), rtol=1e-10)
    assert mine.score(x) == pytest.approx(sk.score(x), rel=1e-10)
    assert mine.bic(x) == pytest.approx(sk.bic(x), rel=1e-10)  # the same parameter count
    assert mine.n_iter_ == n_iter


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_with_nan_the_likelihood_is_the_brute_force_marginal_density(kind):
    x = _data(n_missing=0.2)
    gm = bnem.GaussianMixture(3, covariance_type=kind, random_state=0, n_init=2).fit(x)
    cov = gm.covariances_ if kind == "tied" else None
    expected = np.empty(len(x))
    for i, row in enumerate(x):
        seen = ~np.isnan(row)
        if not seen.any():
            expected[i] = 0.0
            continue
        dens = 0.0
        for k in range(3):
            full = cov if kind == "tied" else np.eye(3) * gm.covariances_[k]
            dens += gm.weights_[k] * multivariate_normal(
                gm.means_[k, seen], full[np.ix_(seen, seen)]).pdf(row[seen])
        expected[i] = np.log(dens)
    np.testing.assert_allclose(gm.score_samples(x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gm.lower_bound_, gm.score(x), rtol=1e-10)
    if kind == "tied":  # every component's covariance is the one matrix
        _, _, covs = bnem.mixture_parameters(gm.network_)
        np.testing.assert_allclose(covs, np.broadcast_to(gm.covariances_, covs.shape),
                                   rtol=1e-12)


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_squarem_and_restarts_keep_the_blocks_and_climb(kind):
    x = _data(n_missing=0.1)
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    gm = bnem.gaussian_mixture(["a", "b", "c"], 3, kind)
    res = bnem.fit(gm, df, n_init=3, seed=2, max_iter=300, tol=1e-10)
    assert_monotone(res)
    _, _, covs = bnem.mixture_parameters(res.network)
    if kind == "tied":
        np.testing.assert_allclose(covs, np.broadcast_to(covs[0], covs.shape), rtol=1e-10)
    else:
        for c in covs:
            np.testing.assert_allclose(c, np.eye(3) * c[0, 0], rtol=1e-12, atol=1e-300)
    plain = bnem.fit(gm, df, n_init=3, seed=2, max_iter=3000, tol=1e-12, accelerate="none")
    assert abs(res.log_likelihood - plain.log_likelihood) < 1e-5 * len(df)


def test_a_shared_emission_equals_em_written_out_by_hand():
    """z -> x1, x2 sharing one Gaussian CPD: x1 and x2 are draws of one distribution per
    class; EM's update pools both columns."""
    rng = np.random.default_rng(3)
    z = rng.random(200) < 0.4
    x = np.where(z[:, None], rng.normal(2.0, 0.7, (200, 2)), rng.normal(-1.0, 1.5, (200, 2)))
    df = pd.DataFrame(x, columns=["x1", "x2"])
    net = bnem.BayesianNetwork({"z": ["a", "b"], "x1": "continuous", "x2": "continuous"},
                               {"x1": ["z"], "x2": ["z"]},
                               {"z": [0.5, 0.5], "x1": {"intercept": [1.0, -0.5],
                                                        "variance": [1.0, 2.0]}})
    net = net.share("emission", ["x1", "x2"])
    assert net.n_parameters == 1 + 4
    res = bnem.fit(net, df, init="network", max_iter=6, tol=0, accelerate="none")
    pi, mu, var = np.array([0.5, 0.5]), np.array([1.0, -0.5]), np.array([1.0, 2.0])
    lls = []
    for it in range(7):
        logp = np.log(pi) + sum(-0.5 * np.log(2 * np.pi * var) - (x[:, [j]] - mu) ** 2 /
                                (2 * var) for j in range(2))
        top = logp.max(axis=1, keepdims=True)
        lls.append(float((top[:, 0] + np.log(np.exp(logp - top).sum(axis=1))).sum()))
        if it == 6:
            break
        r = np.exp(logp - top)
        r /= r.sum(axis=1, keepdims=True)
        n = r.sum(axis=0)
        pi = n / n.sum()
        mu = (r * x.sum(axis=1, keepdims=True)).sum(axis=0) / (2 * n)
        var = sum((r * (x[:, [j]] - mu) ** 2).sum(axis=0) for j in range(2)) / (2 * n)
    np.testing.assert_allclose(res.history.log_likelihood, lls, rtol=1e-12)
    for node in ("x1", "x2"):
        cpd = res.network.cpd(node)
        np.testing.assert_allclose(cpd.intercept, mu, rtol=1e-11)
        np.testing.assert_allclose(cpd.variance, var, rtol=1e-11)


def test_shared_regressions_pool_the_members_rows():
    """Complete data: sharing y1 | x1 and y2 | x2 fits one regression on both pairs."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (300, 2))
    y = 1.5 + 2.0 * x + rng.normal(0, 0.3, (300, 2))
    df = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y1": y[:, 0], "y2": y[:, 1]})
    net = bnem.BayesianNetwork({c: "continuous" for c in df},
                               {"y1": ["x1"], "y2": ["x2"]}).share("reg", ["y1", "y2"])
    res = bnem.fit(net, df, init="k-means++", max_iter=1, accelerate="none")
    design = np.column_stack([np.ones(600), np.r_[x[:, 0], x[:, 1]]])
    target = np.r_[y[:, 0], y[:, 1]]
    coef, rss, *_ = np.linalg.lstsq(design, target, rcond=None)
    for node in ("y1", "y2"):
        cpd = res.network.cpd(node)
        np.testing.assert_allclose([float(cpd.intercept), float(cpd.weights[0])], coef,
                                   rtol=1e-10)
        np.testing.assert_allclose(float(cpd.variance), rss[0] / 600, rtol=1e-10)


def test_bad_gaussian_blocks_say_what_was_expected():
    net = bnem.BayesianNetwork({"z": ["a", "b"], "w": ["u", "v", "t"], "x": "continuous",
                                "y": "continuous", "q": "continuous"},
                               {"x": ["z"], "y": ["w"], "q": ["z", "x"]})
    with pytest.raises(NetworkError, match=r"states \(2,\) but 'y''s \(3,\)"):
        net.share("g", ["x", "y"])
    with pytest.raises(NetworkError, match="1 continuous parent"):
        net.share("g", ["q", "x"])
    net.share("g", ["q", "x"], what="variance")  # variances only: any parents
    with pytest.raises(NetworkError, match="discrete; a shared block is one kind"):
        net.share("g", ["x", "z"])
    with pytest.raises(NetworkError, match="only Gaussian nodes share a variance"):
        net.share("g", ["z", "w"], what="variance")
    with pytest.raises(BnemValueError, match="'all'.*'variance'"):
        net.share("g", ["x", "q"], what="mean")
    with pytest.raises(NetworkError, match="tie_covariance: \\['z'\\] are discrete"):
        net.tie_covariance(["z"])
    with pytest.raises(NetworkError, match="either shared or tied"):
        net.share("g", ["q", "x"], what="variance").tie_covariance("x")
    with pytest.raises(BnemValueError, match="reg_covar"):
        bnem.GaussianMixture(2, reg_covar=1e-6).fit(_data()[:, :2])


def _unpack_mixture(kind: str, phi: np.ndarray) -> dict:
    """The CPDs of a 2-component tied or spherical mixture on ``a``, ``b`` from its free
    parameters (one per shared or tied quantity)."""
    z = [phi[0], 1 - phi[0]]
    if kind == "tied":
        return {"component": z,
                "a": {"intercept": phi[1:3], "variance": [phi[3]] * 2},
                "b": {"intercept": phi[4:6], "weights": [[phi[6]], [phi[6]]],
                      "variance": [phi[7]] * 2}}
    return {"component": z, "a": {"intercept": phi[1:3], "variance": phi[5:7]},
            "b": {"intercept": phi[3:5], "variance": phi[5:7]}}


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_standard_errors_of_shared_and_tied_gaussians_equal_finite_differences(kind):
    rng = np.random.default_rng(11)
    x = np.vstack([rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], 250),
                   rng.multivariate_normal([3, 1], [[1, 0.5], [0.5, 1]], 150)])
    x[rng.random(x.shape) < 0.05] = np.nan
    df = pd.DataFrame(x, columns=["a", "b"])
    res = bnem.fit(bnem.gaussian_mixture(["a", "b"], 2, kind), df, seed=0, n_init=3,
                   tol=1e-13, max_iter=5000)
    net = res.network
    a, b = net.cpd("a"), net.cpd("b")
    w0 = float(net.cpd("component").values[0])
    if kind == "tied":
        phi = np.r_[w0, a.intercept, a.variance[0], b.intercept, b.weights[0, 0], b.variance[0]]
    else:
        phi = np.r_[w0, a.intercept, b.intercept, a.variance]

    def ll(p):
        return net.with_cpds(_unpack_mixture(kind, p)).log_likelihood(df)

    np.testing.assert_allclose(ll(phi), res.log_likelihood, rtol=1e-12)
    k = phi.size
    h = 1e-4 * np.maximum(np.abs(phi), 0.1)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hess[i, j] = (ll(phi + e_i + e_j) - ll(phi + e_i - e_j) - ll(phi - e_i + e_j)
                          + ll(phi - e_i - e_j)) / (4 * h[i] * h[j])
    expected = np.sqrt(np.diagonal(np.linalg.inv(-hess)))
    table = res.standard_errors(df)
    se = {(r.node, r.parents, r.state): r.se for r in table.itertuples()}
    if kind == "tied":
        keys = [("component", "", "0"), ("a", "component=0", "intercept"),
                ("a", "component=1", "intercept"), ("a", "component=0", "variance"),
                ("b", "component=0", "intercept"), ("b", "component=1", "intercept"),
                ("b", "component=0", "weight[a]"), ("b", "component=0", "variance")]
        copies = [(("a", "component=1", "variance"), ("a", "component=0", "variance")),
                  (("b", "component=1", "weight[a]"), ("b", "component=0", "weight[a]"))]
    else:
        keys = [("component", "", "0"), ("a", "component=0", "intercept"),
                ("a", "component=1", "intercept"), ("b", "component=0", "intercept"),
                ("b", "component=1", "intercept"), ("a", "component=0", "variance"),
                ("a", "component=1", "variance")]
        copies = [(("b", "component=0", "variance"), ("a", "component=0", "variance")),
                  (("b", "component=1", "variance"), ("a", "component=1", "variance"))]
    got = np.array([se[key] for key in keys])
    np.testing.assert_allclose(got, expected, rtol=2e-3)
    for copy, original in copies:  # one parameter: one standard error
        assert se[copy] == se[original]


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_json_round_trips_gaussian_blocks(tmp_path, kind):
    df = pd.DataFrame(_data()[:80], columns=["a", "b", "c"])
    fitted = bnem.fit(bnem.gaussian_mixture(["a", "b", "c"], 2, kind), df, seed=0).network
    bnem.write_json(fitted, tmp_path / "gm.json")
    back = bnem.read_json(tmp_path / "gm.json")
    assert back == fitted and back.n_parameters == fitted.n_parameters
    text = (tmp_path / "gm.json").read_text()
    assert ('"tied": ["a", "b", "c"]' in text) == (kind == "tied")
    assert ('"what": "variance"' in text) == (kind == "spherical")


def test_json_refuses_a_shared_block_whose_cpds_differ():
    from bnem.io.json_checks import JSONFormatError
    from bnem.io.json_format import format_json, parse_json
    net = bnem.BayesianNetwork({"z": ["a", "b"], "x": "continuous", "y": "continuous"},
                               {"x": ["z"], "y": ["z"]},
                               {"x": {"intercept": [0.0, 1.0]}, "y": {"intercept": [0.0, 2.0]}})
    text = format_json(net).rstrip().rstrip("}") + ', "shared": {"e": ["x", "y"]}}'
    with pytest.raises(JSONFormatError, match=r"CPDs of \['x', 'y'\] differ"):
        parse_json(text, "net.json")
    text = format_json(net).rstrip().rstrip("}") + \
        ', "shared": {"e": {"nodes": ["x", "y"], "what": "mean"}}}'
    with pytest.raises(JSONFormatError, match="'what' is"):
        parse_json(text, "net.json")
    text = format_json(net).rstrip().rstrip("}") + \
        ', "shared": {"e": {"nodes": ["x", "y"], "what": "variance"}}}'
    assert parse_json(text, "net.json").shared_groups == {"e": ("x", "y")}


@pytest.mark.parametrize("kind", ["tied", "spherical"])
def test_an_empty_component_is_reported(kind):
    rng = np.random.default_rng(0)
    g = bnem.gaussian_mixture(["a", "b"], 2, kind, means=[[0, 0], [1e6, 1e6]])
    with pytest.warns(bnem.DegenerateWarning, match="zero expected count"):
        res = bnem.fit(g, pd.DataFrame(rng.normal(size=(200, 2)), columns=list("ab")),
                       init="network", accelerate="none")
    assert ("a", {"component": "1"}) in res.empty_configurations
