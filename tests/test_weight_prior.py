"""A normal prior on the Gaussian nodes' weights (fit(weight_prior=)): ridge M-step,
the posterior mode in closed form, and the log posterior it adds."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem
from bnem.errors import BnemValueError

LAM, NU, S2 = 3.0, 2.0, 0.4


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.choice(["a", "b"], n)
    x1 = rng.normal(size=n)
    x2 = x1 + rng.normal(scale=0.01, size=n)       # nearly collinear parents
    y = np.where(d == "a", 1 + 2 * x1 - x2, -1 + 0.5 * x2) + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"d": d, "x1": x1, "x2": x2, "y": y})


NET = bnem.BayesianNetwork({"d": ["a", "b"], "x1": "continuous", "x2": "continuous",
                            "y": "continuous"}, {"y": ["d", "x1", "x2"], "x2": ["x1"]})


def _posterior_mode(df, nu, s2, lam=LAM):
    """Per state of d: the ridge weights, intercept and variance's mode of y."""
    out = {}
    for label in ("a", "b"):
        rows = df[df.d == label]
        X, Y = rows[["x1", "x2"]].to_numpy(), rows.y.to_numpy()
        Xc, Yc = X - X.mean(0), Y - Y.mean()
        beta = np.linalg.solve(Xc.T @ Xc + lam * np.eye(2), Xc.T @ Yc)
        rss = ((Yc - Xc @ beta) ** 2).sum()
        extra = nu + 2 if nu else 0
        out[label] = (beta, Y.mean() - beta @ X.mean(0),
                      (rss + lam * beta @ beta + nu * s2) / (len(rows) + 2 + extra))
    return out


@pytest.mark.parametrize("nu", [0.0, NU])
def test_complete_data_m_step_is_the_closed_form_posterior_mode(nu):
    df = _data()
    res = bnem.fit(NET, df, weight_prior=LAM, variance_prior=nu,
                   variance_scale=S2 if nu else 0.0, tol=1e-12, max_iter=5)
    cpd = res.network.cpd("y")
    for k, (beta, b0, var) in enumerate(_posterior_mode(df, nu, S2).values()):
        np.testing.assert_allclose(cpd.weights[k], beta, rtol=1e-10)
        assert cpd.intercept[k] == pytest.approx(b0, rel=1e-10)
        assert cpd.variance[k] == pytest.approx(var, rel=1e-10)
    # x2 on x1 is ridge too (one parent); x1, a root, has no weights and its variance
    # is the plain (or variance-prior) mode
    x1 = df.x1.to_numpy()
    expect = ((x1 - x1.mean()) ** 2).sum()
    expect = (expect + nu * S2) / (len(df) + nu + 2) if nu else expect / len(df)
    assert float(res.network.cpd("x1").variance) == pytest.approx(expect, rel=1e-10)
    # without the prior the nearly collinear weights are far larger
    plain = bnem.fit(NET, df, tol=1e-12, max_iter=5).network.cpd("y")
    assert np.abs(plain.weights).max() > 5 * np.abs(cpd.weights).max()


def test_the_log_posterior_adds_the_weight_and_variance_priors():
    df = _data()
    res = bnem.fit(NET, df, weight_prior=LAM, variance_prior=NU, variance_scale=S2,
                   tol=1e-12, max_iter=5)
    last = res.history.iloc[-1]
    net, by_hand = res.network, 0.0
    for node in ("x1", "x2", "y"):
        cpd = net.cpd(node)
        v = np.ravel(cpd.variance)
        w = np.asarray(cpd.weights).reshape(v.size, -1)
        by_hand += (-(NU / 2 + 1) * np.log(v) - NU * S2 / (2 * v)).sum()
        by_hand += (-(w.shape[1] / 2) * np.log(v) - LAM * (w * w).sum(axis=1) / (2 * v)).sum()
    assert last.log_posterior - last.log_likelihood == pytest.approx(by_hand, rel=1e-10)


def test_with_missing_responses_em_reaches_the_complete_case_posterior_mode():
    # parents observed in every row, y missing in a fifth: the imputed rows lie on the
    # fitted line, so EM's fixed point is the posterior mode of the complete cases
    df = _data(400, seed=3)
    rng = np.random.default_rng(4)
    gaps = df.assign(y=df.y.mask(rng.random(len(df)) < 0.2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(NET, gaps, weight_prior=LAM, variance_prior=NU, variance_scale=S2,
                       tol=1e-14, max_iter=2000)
    assert np.all(np.diff(res.history.log_posterior) >= -1e-9)
    cpd = res.network.cpd("y")
    for k, (beta, b0, var) in enumerate(_posterior_mode(gaps.dropna(), NU, S2).values()):
        np.testing.assert_allclose(cpd.weights[k], beta, rtol=1e-6)
        assert cpd.intercept[k] == pytest.approx(b0, rel=1e-6)
        assert cpd.variance[k] == pytest.approx(var, rel=1e-6)


def test_weight_prior_errors_and_online():
    df = _data(200)
    with pytest.raises(BnemValueError, match="weight_prior"):
        bnem.fit(NET, df, weight_prior=-1.0)
    shared = bnem.BayesianNetwork({"a": "continuous", "b": "continuous", "c": "continuous"},
                                  {"b": ["a"], "c": ["a"]}).share("bc", ["b", "c"])
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=list("abc"))
    with pytest.raises(BnemValueError, match="not available with shared or tied"):
        bnem.fit(shared, frame, weight_prior=1.0)
    # online EM: one batch of every row with step 1 is an iteration of batch EM
    batch = bnem.fit(NET, df, weight_prior=LAM, accelerate="none", max_iter=3, tol=0.0,
                     init="network")
    online = bnem.fit(NET, df, weight_prior=LAM, method="online", batch_rows=len(df),
                      max_passes=3, step=1.0, init="network")
    np.testing.assert_allclose(online.network.cpd("y").weights,
                               batch.network.cpd("y").weights, rtol=1e-10)


def test_review_findings_small_spread_parent_and_huge_weights():
    # a parent of tiny spread must not swamp the others' directions (the ridge system
    # is scaled to a unit diagonal before the collinearity cut)
    rng = np.random.default_rng(0)
    n = 200
    x1 = rng.normal(size=n)
    x2 = 0.6 * x1 + 0.8 * rng.normal(size=n)
    df = pd.DataFrame(dict(x1=x1, x2=x2, x3=rng.normal(0, 1e-5, n),
                           y=1 + 2 * x1 - x2 + rng.normal(0, 0.5, n)))
    net = bnem.BayesianNetwork({c: "continuous" for c in df}, {"y": ["x1", "x2", "x3"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "collinear" warning either
        got = bnem.fit(net, df, weight_prior=1.0, min_variance=1e-12).network.cpd("y")
    X = df[["x1", "x2", "x3"]].to_numpy()
    Xc = X - X.mean(0)
    beta = np.linalg.solve(Xc.T @ Xc + np.eye(3), Xc.T @ (df.y - df.y.mean()).to_numpy())
    np.testing.assert_allclose(np.ravel(got.weights), beta, rtol=1e-8, atol=1e-12)
    # without the prior, weights beyond 1e154 are fitted as before (no 0 * inf penalty)
    wide = pd.DataFrame(dict(x1=rng.normal(size=n), x3=rng.normal(0, 1e-157, n)))
    wide["y"] = 2 * wide.x1 + rng.normal(size=n)
    huge = bnem.BayesianNetwork({c: "continuous" for c in wide}, {"y": ["x1", "x3"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(huge, wide, max_iter=5)
    assert np.abs(res.network.cpd("y").weights).max() > 1e150
