"""Latent class regression: class membership depending on covariates, checked against
an independent likelihood and its finite-difference gradient."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    sex = rng.choice(["f", "m"], n)
    eta = -3.7 + 0.08 * age + 0.7 * (sex == "m")
    z = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    X = pd.DataFrame({f"q{j}": np.where(rng.random(n) < np.where(z, 0.85, 0.2), "yes", "no")
                      for j in range(4)})
    X.iloc[::7, 2] = np.nan
    X["age"], X["sex"] = age, sex
    return X


def _loglik(X, coef, probs):
    """sum_n log sum_k softmax_k(coef . [1, age, sex=m]) prod_j P(q_j | k), by hand."""
    design = np.column_stack([np.ones(len(X)), X["age"], (X["sex"] == "m").astype(float)])
    eta = design @ coef.T
    log_pi = eta - np.log(np.exp(eta).sum(axis=1, keepdims=True))
    total = log_pi.copy()
    for item, table in probs.items():  # table: classes x ["no", "yes"]
        col = X[item]
        for k in range(coef.shape[0]):
            p = np.where(col == "yes", table[k, 1], np.where(col == "no", table[k, 0], 1.0))
            total[:, k] += np.log(p)
    return float(np.log(np.exp(total).sum(axis=1)).sum())


def test_fit_is_a_stationary_point_of_the_independent_likelihood():
    X = _data()
    lca = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=2, random_state=0,
                                tol=1e-12).fit(X)
    assert list(lca.coef_.columns) == ["intercept", "age", "sex[m]"]
    coef = lca.coef_.to_numpy()
    probs = {q: lca.item_probabilities_[q][["no", "yes"]].to_numpy() for q in
             ["q0", "q1", "q2", "q3"]}
    ll = _loglik(X, coef, probs)
    assert lca.log_likelihood_ == pytest.approx(ll, rel=1e-10)
    assert lca.score(X) == pytest.approx(ll / len(X), rel=1e-10)
    history = lca.regression_history_["log_likelihood"]
    assert history.is_monotonic_increasing and lca.converged_
    # every free parameter is at the maximum along its own axis: the Newton step from
    # central differences of the independent likelihood, g / |H|, is tiny
    def newton_step(f, x0, h):
        up, mid, down = f(x0 + h), f(x0), f(x0 - h)
        g, curv = (up - down) / (2 * h), (up - 2 * mid + down) / h ** 2
        assert curv < 0
        return abs(g / curv)

    for k, j, h in [(1, 0, 1e-3), (1, 1, 1e-5), (1, 2, 1e-3)]:
        def f(v, k=k, j=j):
            c = coef.copy()
            c[k, j] = v
            return _loglik(X, c, probs)
        assert newton_step(f, coef[k, j], h) < 1e-4, (k, j)
    for q in probs:
        for k in range(2):
            def f(logit, q=q, k=k):
                p = dict(probs)
                t = p[q].copy()
                t[k, 1] = 1 / (1 + np.exp(-logit))
                t[k, 0] = 1 - t[k, 1]
                p[q] = t
                return _loglik(X, coef, p)
            assert newton_step(f, np.log(probs[q][k, 1] / probs[q][k, 0]), 1e-3) < 1e-4, (q, k)
    # the slopes are near the truth (age 0.08, sex 0.7) up to class labelling
    sign = 1 if lca.item_probabilities_["q0"].loc[1, "yes"] > 0.5 else -1
    assert sign * coef[1, 1] == pytest.approx(0.08, abs=0.03)
    assert sign * coef[1, 2] == pytest.approx(0.7, abs=0.35)


def test_covariates_only_raise_the_likelihood_and_change_the_posterior():
    X = _data(n=800, seed=1)
    plain = bnem.LatentClassModel(2, n_init=2, random_state=0).fit(X.drop(columns=["age", "sex"]))
    reg = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=2, random_state=0).fit(X)
    assert reg.log_likelihood_ >= plain.log_likelihood_ - 1e-8  # nested, started from it
    post = reg.predict_proba(X)
    np.testing.assert_allclose(post.sum(axis=1), 1.0)
    np.testing.assert_allclose(reg.weights_, post.mean(axis=0), atol=1e-6)
    c = reg.criteria(X)
    assert c["n_parameters"] == plain.network_.n_parameters - 1 + 3  # class table -> 3 coefs
    assert c["bic"] == pytest.approx(reg.bic(X))
    summary = reg.summary()
    assert set(summary.loc[summary["parameter"] == "coefficient", "item"]) == \
        {"intercept", "age", "sex[m]"}
    assert "class size" not in set(summary["parameter"])
    table = bnem.select_cardinality(reg, X, [1, 2])
    assert list(table["k"]) == [1, 2]


@pytest.mark.parametrize("change, message", [
    (lambda X: X.assign(age=X["age"].where(X.index != 5)), r"covariate 'age' is missing in 1 "
                                                           r"row\(s\) \(first row 5\)"),
    (lambda X: X.assign(age=1.0), "covariate 'age' is constant"),
    (lambda X: X.assign(sex="f"), "covariate 'sex' has one value"),
])
def test_covariate_errors(change, message):
    X = change(_data(n=200))
    with pytest.raises(bnem.BnemError, match=message):
        bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=1).fit(X)


def test_covariate_misuse_is_refused_clearly():
    X = _data(n=300)
    with pytest.raises(bnem.BnemError, match=r"covariates names column\(s\) \['income'\]"):
        bnem.LatentClassModel(2, covariates=["income"]).fit(X)
    reg = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=1, random_state=0).fit(X)
    with pytest.raises(bnem.BnemError, match="value 'x' .* was not seen in fitting"):
        reg.predict_proba(X.assign(sex="x"))
    with pytest.raises(bnem.BnemError, match="partial_fit does not take covariates"):
        reg.partial_fit(X)
    with pytest.raises(bnem.BnemError, match="impute does not take covariates"):
        reg.impute(X)
    numeric = X.assign(score=np.random.default_rng(0).normal(size=len(X)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=1, max_iter=15,
                                      random_state=0).fit(numeric)
        assert mixed.coef_.shape == (2, 3)  # numeric items: fitted by the network's steps
        with pytest.raises(bnem.BnemError, match="need categorical items only"):
            mixed.summary(numeric)


def test_closed_form_item_steps_equal_the_networks_and_squarem_the_same_optimum():
    from bnem.models.class_regression import Design, fit_regression

    X = _data(n=600, seed=3)
    items = X.drop(columns=["age", "sex"])
    start = bnem.LatentClassModel(2, n_init=1, random_state=0).fit(items).network_
    z = Design.of(X, ("age", "sex")).matrix(X)
    w = np.ones(len(X))
    args = dict(tol=0.0, max_iter=6, prior=0.5, min_variance=1e-6, accelerate=False)
    closed = fit_regression(start, items, z, w, closed_form=True, **args)
    network = fit_regression(start, items, z, w, closed_form=False, **args)
    np.testing.assert_allclose(closed.history["log_likelihood"],
                               network.history["log_likelihood"], rtol=1e-11)
    np.testing.assert_allclose(closed.coef, network.coef, rtol=1e-8, atol=1e-10)
    for q in items.columns:
        np.testing.assert_allclose(closed.network.cpd(q).values, network.network.cpd(q).values,
                                   rtol=1e-9)
    plain = fit_regression(start, items, z, w, tol=1e-11, max_iter=5000, prior=0.0,
                           min_variance=1e-6, accelerate=False)
    fast = fit_regression(start, items, z, w, tol=1e-11, max_iter=5000, prior=0.0,
                          min_variance=1e-6, accelerate=True)
    assert fast.converged and plain.converged and fast.n_iter < plain.n_iter
    assert fast.log_likelihood == pytest.approx(plain.log_likelihood, abs=1e-6 * len(X))
    assert "squarem" in set(fast.history["step"])
    np.testing.assert_allclose(fast.coef, plain.coef, atol=1e-3)


def test_standard_errors_equal_the_inverse_hessian_of_the_independent_likelihood():
    X = _data(n=1500)
    lca = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=2, random_state=0,
                                tol=1e-12).fit(X)
    coef = lca.coef_.to_numpy()
    qs = ["q0", "q1", "q2", "q3"]
    logits = np.array([[np.log(lca.item_probabilities_[q].loc[c, "yes"] /
                               lca.item_probabilities_[q].loc[c, "no"]) for q in qs]
                       for c in range(2)])

    def f(theta):
        c = coef.copy()
        c[1] = theta[:3]
        lg = theta[3:].reshape(2, 4)
        py = 1 / (1 + np.exp(-lg))
        return _loglik(X, c, {q: np.column_stack([1 - py[:, j], py[:, j]])
                              for j, q in enumerate(qs)})

    theta = np.concatenate([coef[1], logits.ravel()])
    h = np.array([1e-3, 1e-5, 1e-3] + [1e-3] * 8)
    hess = np.empty((11, 11))
    for i in range(11):
        for j in range(11):
            e_i, e_j = np.eye(11)[i] * h[i], np.eye(11)[j] * h[j]
            hess[i, j] = (f(theta + e_i + e_j) - f(theta + e_i - e_j) - f(theta - e_i + e_j)
                          + f(theta - e_i - e_j)) / (4 * h[i] * h[j])
    se = np.sqrt(np.diagonal(np.linalg.inv(-hess)))
    table = lca.summary(X)
    got = table[table["parameter"] == "coefficient"]["se"].to_numpy()
    np.testing.assert_allclose(got, se[:3], rtol=2e-3)
    py = 1 / (1 + np.exp(-logits))
    for j, q in enumerate(qs):
        rows = table[(table["item"] == q) & (table["state"] == "yes")]
        expected = py[:, j] * (1 - py[:, j]) * se[3:].reshape(2, 4)[:, j]
        np.testing.assert_allclose(rows["se"].to_numpy(), expected, rtol=2e-3)


def test_answers_some_class_never_gives_do_not_stop_the_fit():
    """Classes that always answer 'a' drive other answers' probabilities to 0; SQUAREM's
    extrapolation must not turn that into an 'impossible row' (a second review's case)."""
    rng = np.random.default_rng(0)
    n = 300
    z = rng.integers(0, 3, n)
    X = pd.DataFrame({f"q{j}": rng.choice(list("abc"), n) for j in range(5)})
    for j in range(5):
        X.loc[z == j % 3, f"q{j}"] = "a"
        X.loc[rng.random(n) < .15, f"q{j}"] = np.nan
    X["x"], X["g"] = z + rng.normal(size=n), rng.choice(["u", "v", "w"], n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = bnem.LatentClassModel(3, covariates=["x", "g"], n_init=2, random_state=0).fit(X)
    assert fast.converged_ and fast.regression_history_["log_likelihood"].is_monotonic_increasing


def test_declared_but_unused_levels_are_not_covariates():
    X = _data(n=400)
    X["sex"] = pd.Categorical(X["sex"], categories=["m", "f", "x"])  # no "x" rows
    reg = bnem.LatentClassModel(2, covariates=["age", "sex"], n_init=1, random_state=0).fit(X)
    assert list(reg.coef_.columns) == ["intercept", "age", "sex[f]"]
    assert np.isfinite(reg.summary(X)["se"]).all()
