"""The Gaussian variance prior (MAP-EM): the M-step's variance is the posterior mode
(RSS + nu s2) / (n + nu + 2) on every path (independent nodes, regressions, full-
covariance chains, shared and tied variances), and the log posterior never falls."""

import numpy as np
import pandas as pd
import pytest

import bnem

NU, S2 = 4.0, 2.5


def _mode(rss, n):
    return (rss + NU * S2) / (n + NU + 2)


def test_complete_data_regression_gets_the_posterior_mode():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, 200)
    y = 0.5 + 1.5 * x + rng.normal(0, 0.7, 200)
    net = bnem.BayesianNetwork({"x": "continuous", "y": "continuous"}, {"y": ["x"]})
    res = bnem.fit(net, pd.DataFrame({"x": x, "y": y}), variance_prior=NU, variance_scale=S2,
                   init="network", max_iter=3, tol=0)
    rss_x = float(((x - x.mean()) ** 2).sum())
    design = np.column_stack([np.ones_like(x), x])
    coef, rss_y, *_ = np.linalg.lstsq(design, y, rcond=None)
    assert res.network.cpd("x").variance == pytest.approx(_mode(rss_x, 200), rel=1e-10)
    assert res.network.cpd("y").variance == pytest.approx(_mode(float(rss_y[0]), 200), rel=1e-9)
    np.testing.assert_allclose([res.network.cpd("y").intercept, res.network.cpd("y").weights[0]],
                               coef, rtol=1e-9)
    assert "log_posterior" in res.history.columns
    plain = bnem.fit(net, pd.DataFrame({"x": x, "y": y}), init="network", max_iter=3, tol=0)
    assert plain.network.cpd("x").variance == pytest.approx(rss_x / 200, rel=1e-10)


@pytest.mark.parametrize("covariance", ["full", "diag", "spherical", "tied"])
def test_every_mixture_path_with_one_component_gets_the_mode(covariance):
    rng = np.random.default_rng(1)
    X = rng.multivariate_normal([0, 1], [[2.0, 0.8], [0.8, 1.0]], 300)
    df = pd.DataFrame(X, columns=["a", "b"])
    net = bnem.gaussian_mixture(["a", "b"], 1, covariance=covariance)
    res = bnem.fit(net, df, variance_prior=NU, variance_scale=S2, init="network",
                   max_iter=2, tol=0)
    rss_a = float(((X[:, 0] - X[:, 0].mean()) ** 2).sum())
    if covariance in ("full", "tied"):   # b given a: the regression residual
        design = np.column_stack([np.ones(300), X[:, 0]])
        rss_b = float(np.linalg.lstsq(design, X[:, 1], rcond=None)[1][0])
    else:
        rss_b = float(((X[:, 1] - X[:, 1].mean()) ** 2).sum())
    va, vb = (float(np.ravel(res.network.cpd(n).variance)[0]) for n in ("a", "b"))
    if covariance == "spherical":  # one variance shared by the columns: the pooled mode
        assert va == vb == pytest.approx(_mode(rss_a + rss_b, 600), rel=1e-9)
    else:
        assert va == pytest.approx(_mode(rss_a, 300), rel=1e-9)
        assert vb == pytest.approx(_mode(rss_b, 300), rel=1e-9)


def test_a_prior_keeps_a_component_from_collapsing_and_the_objective_climbs():
    rng = np.random.default_rng(2)
    x = np.r_[rng.normal(0, 1, 200), np.full(3, 8.0)]   # three identical far rows
    df = pd.DataFrame({"x": x, "y": rng.normal(0, 1, x.size)})
    df.iloc[::11, 1] = np.nan
    net = bnem.gaussian_mixture(["x", "y"], 3, covariance="diag")
    res = bnem.fit(net, df, variance_prior=2.0, variance_scale=0.5, seed=0, n_init=3)
    post = res.history["log_posterior"]
    assert post.is_monotonic_increasing
    smallest = min(float(np.min(res.network.cpd(n).variance)) for n in ("x", "y"))
    assert smallest >= 2.0 * 0.5 / (x.size + 4.0)  # never below the prior's own floor
    assert not res.floored_variances


def test_variance_prior_needs_a_scale():
    net = bnem.gaussian_mixture(["x"], 2)
    with pytest.raises(bnem.BnemError, match="variance_prior=1.0 needs variance_scale > 0"):
        bnem.fit(net, pd.DataFrame({"x": [0.0, 1.0, 2.0]}), variance_prior=1.0)


def test_a_checkpoint_from_before_the_variance_prior_still_resumes(tmp_path):
    import json
    import zipfile

    net = bnem.load_network("asia")
    df = net.sample(300, seed=1, missing=0.2)
    ckpt = tmp_path / "run.ckpt"
    with pytest.warns(bnem.ConvergenceWarning):
        bnem.fit(net, df, max_iter=2, tol=0, checkpoint=ckpt)
    with np.load(ckpt) as archive:  # drop the new options, as an older bnem wrote it
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    for name in ("variance_prior", "variance_scale"):
        meta["options"].pop(name)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(ckpt, **arrays)
    assert zipfile.is_zipfile(ckpt)
    with pytest.warns(bnem.ConvergenceWarning):  # accepted: the missing options are defaults
        res = bnem.fit(net, df, max_iter=2, tol=0, resume=ckpt)
    assert res.n_iter == 2


def test_gaussian_mixture_estimator_takes_the_prior():
    rng = np.random.default_rng(3)
    X = np.r_[rng.normal(0, 1, (150, 2)), np.full((3, 2), 9.0)]   # three identical rows
    plain = bnem.GaussianMixture(3, covariance_type="diag", random_state=0, n_init=3,
                                 min_variance=1e-3)
    with pytest.warns(bnem.DegenerateWarning):
        plain.fit(X)
    assert plain.covariances_.min() == pytest.approx(1e-3)   # collapsed onto the floor
    prior = bnem.GaussianMixture(3, covariance_type="diag", random_state=0, n_init=3,
                                 min_variance=1e-3, variance_prior=2.0, variance_scale=0.5)
    prior.fit(X)
    assert prior.covariances_.min() > 2.0 * 0.5 / (len(X) + 4)
    prior.partial_fit(X[:50])  # online steps carry the prior too
    assert np.isfinite(prior.score(X))
