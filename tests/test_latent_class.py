"""bnem.LatentClassModel: latent class analysis as a scikit-learn estimator."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import bnem

pytest.importorskip("sklearn")


def survey(n=1500, seed=0, missing=0.1):
    rng = np.random.default_rng(seed)
    z = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    probs = np.array([[0.9, 0.8, 0.85, 0.1, 0.2], [0.2, 0.9, 0.1, 0.8, 0.7],
                      [0.1, 0.1, 0.2, 0.15, 0.9]])
    X = pd.DataFrame({f"q{j}": np.where(rng.random(n) < probs[z, j], "yes", "no")
                      for j in range(5)}).astype(object)
    X = X.mask(rng.random(X.shape) < missing)
    return X, z


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def test_equals_bnem_fit_on_the_same_network():
    X, _ = survey()
    lca = quiet(bnem.LatentClassModel(3, random_state=4, n_init=3).fit, X)
    net = bnem.BayesianNetwork({"class": ["0", "1", "2"], **{c: ["no", "yes"] for c in X}},
                               {c: ["class"] for c in X})
    res = quiet(bnem.fit, net, X, seed=4, n_init=3, init="random-resp", tol=1e-8,
                max_iter=5000, accelerate="squarem")
    np.testing.assert_allclose(lca.network_.flat_params(), res.network.flat_params(),
                               rtol=1e-12, atol=1e-14)
    assert lca.log_likelihood_ == res.log_likelihood
    assert lca.weights_.shape == (3,) and lca.weights_.sum() == pytest.approx(1.0)
    assert list(lca.item_probabilities_["q0"].columns) == ["no", "yes"]


def test_recovers_classes_and_predicts_with_missing_cells():
    X, z = survey(n=3000, missing=0.2)
    lca = quiet(bnem.LatentClassModel(3, random_state=0).fit, X)
    proba = lca.predict_proba(X)
    assert proba.shape == (3000, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = lca.predict(X)
    # classes match the truth up to relabelling for most rows
    agree = max(np.mean(np.array(p)[labels] == z) for p in
                __import__("itertools").permutations(range(3)))
    assert agree > 0.8
    np.testing.assert_allclose(np.sort(lca.weights_), np.sort([0.5, 0.3, 0.2]), atol=0.06)
    assert lca.score(X) == pytest.approx(lca.log_likelihood_ / len(X), rel=1e-9)
    assert lca.bic(X) == pytest.approx(-2 * lca.log_likelihood_ +
                                       lca.network_.n_parameters * np.log(len(X)), rel=1e-9)


def test_frequency_table_equals_expanded_rows():
    X, _ = survey(n=800, missing=0.0)
    freq = X.value_counts().rename("n").reset_index()
    a = quiet(bnem.LatentClassModel(2, random_state=1, n_init=2).fit, X)
    b = quiet(bnem.LatentClassModel(2, random_state=1, n_init=2).fit,
              freq.drop(columns="n"), sample_weight=freq["n"].to_numpy())
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-8)


def test_mixed_categorical_and_numeric_columns():
    rng = np.random.default_rng(2)
    z = rng.integers(0, 2, 1000)
    X = pd.DataFrame({"smoker": np.where(rng.random(1000) < np.where(z, .8, .2), "y", "n"),
                      "bmi": rng.normal(np.where(z, 30, 22), 2),
                      "age": rng.normal(np.where(z, 60, 35), 5)})
    X.loc[::9, "bmi"] = np.nan
    for cov in ("diag", "full"):
        lca = quiet(bnem.LatentClassModel(2, continuous=cov, random_state=0, n_init=3).fit, X)
        assert lca.network_.is_hybrid
        assert np.mean(lca.predict(X) == z) in (pytest.approx(1, abs=0.05),
                                                pytest.approx(0, abs=0.05))
    items = quiet(bnem.LatentClassModel(2, categorical="all", random_state=0, n_init=1,
                                        max_iter=5).fit, X[["smoker"]].assign(code=z + 1))
    assert list(items.item_probabilities_["code"].columns) == ["1", "2"]


def test_clone_and_bad_input():
    from sklearn.base import clone

    X, _ = survey(n=200)
    lca = bnem.LatentClassModel(2, n_init=1)
    assert clone(lca).get_params() == lca.get_params()
    with pytest.raises(bnem.BnemError, match="column named 'class'"):
        lca.fit(X.rename(columns={"q0": "class"}))
    with pytest.raises(bnem.BnemError, match="categorical names column"):
        bnem.LatentClassModel(2, categorical=["nope"]).fit(X)
    with pytest.raises(bnem.BnemError, match="has no observed value"):
        bnem.LatentClassModel(2).fit(X.assign(q9=np.nan).astype(object))
    fitted = quiet(bnem.LatentClassModel(2, n_init=1, random_state=0).fit, X)
    with pytest.raises(bnem.BnemError, match="was fitted on"):
        fitted.predict(X[["q1", "q0", "q2", "q3", "q4"]])




@pytest.mark.parametrize("make", [lambda: bnem.GaussianMixture(2, max_iter=20),
                                  lambda: bnem.LatentClassModel(2, n_init=1, max_iter=20)],
                         ids=["GaussianMixture", "LatentClassModel"])
def test_scikit_learn_estimator_checks(make):
    """Every applicable check of scikit-learn passes but the one listed in
    the estimator declares (array-API input is skipped by scikit-learn itself)."""
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make()
        declared = est.expected_failed_checks()
        assert list(declared) == ["check_sample_weight_equivalence_on_dense_data"]
        results = check_estimator(est, expected_failed_checks=declared, on_fail=None)
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []
    assert len(results) > 40


def test_review_followups():
    rng = np.random.default_rng(0)
    z = rng.integers(0, 2, 500)
    coded = pd.DataFrame({f"q{j}": (rng.random(500) < np.where(z, 0.85, 0.15)).astype(int)
                          for j in range(5)})
    lca = quiet(bnem.LatentClassModel(2, random_state=0, n_init=3).fit, coded)
    assert not lca.network_.is_hybrid  # 0/1 items are categorical under "auto"
    assert lca.log_likelihood_ < 0
    X, _ = survey(n=400, missing=0.0)
    freq = X.value_counts().rename("n").reset_index()
    w = freq["n"].to_numpy()
    fitted = quiet(bnem.LatentClassModel(2, random_state=1, n_init=2).fit,
                   freq.drop(columns="n"), sample_weight=w)
    assert fitted.bic(freq.drop(columns="n"), sample_weight=w) == pytest.approx(
        fitted.bic(X), rel=1e-9)
    assert fitted.lower_bound_ == pytest.approx(fitted.score(X), rel=1e-9)
    cats = pd.DataFrame({"q": pd.Categorical(["p", "q"] * 50, categories=["p", "q", "r"])})
    unseen = pd.DataFrame({"q": pd.Categorical(["r"], categories=["p", "q", "r"])})
    model = quiet(bnem.LatentClassModel(2, n_init=1, random_state=0, prior=1.0).fit, cats)
    assert model.predict(unseen).shape == (1,)  # a declared category is a state
    mle = quiet(bnem.LatentClassModel(2, n_init=1, random_state=0).fit, cats)
    with pytest.raises(bnem.ImpossibleRowError):  # never seen: probability 0 without a prior
        mle.predict(unseen)
    for bad, match in [(dict(categorical=None), "categorical must be"),
                       (dict(categorical=True), "categorical must be")]:
        with pytest.raises(bnem.BnemError, match=match):
            bnem.LatentClassModel(2, **bad).fit(X)
    with pytest.raises(bnem.BnemError, match="sample_weight must be numbers"):
        bnem.LatentClassModel(2).fit(X, sample_weight=["a"] * len(X))
    with pytest.raises(bnem.BnemError, match="rows of equal length"):
        bnem.GaussianMixture(2).fit([[1.0, 2.0], [3.0]])
    with pytest.raises(bnem.BnemError, match="takes numbers"):
        bnem.GaussianMixture(2).fit(pd.DataFrame({"a": ["x"] * 10, "b": [1.0] * 10}))


def test_impute_fills_missing_answers_from_the_fitted_network():
    rng = np.random.default_rng(3)
    z = rng.integers(0, 2, 400)
    X = pd.DataFrame({f"q{j}": np.where(rng.random(400) < np.where(z == 0, 0.85, 0.15),
                                        "yes", "no") for j in range(4)},
                     index=np.arange(400) + 1000)
    X["score"] = np.where(z == 0, 2.0, -2.0) + rng.normal(size=400)
    holes = X.mask(rng.random(X.shape) < 0.15)
    lca = bnem.LatentClassModel(2, random_state=0).fit(holes)
    filled = lca.impute(holes)
    assert list(filled.index) == list(holes.index) and filled.notna().all().all()
    net_fill = lca.network_.impute(holes.set_axis(range(400)), method="map")
    assert (filled.to_numpy() == net_fill.to_numpy()).all()
    kept = holes.notna().to_numpy()
    assert (filled.to_numpy()[kept] == holes.to_numpy()[kept]).all()
    arrays = bnem.LatentClassModel(2, random_state=0).fit(holes.to_numpy())
    out = arrays.impute(holes.to_numpy(), method="mean")
    assert isinstance(out, np.ndarray) and out.shape == holes.shape
    assert not pd.isna(out).any()


def _survey(n=600, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n)
    X = pd.DataFrame({f"q{j}": np.where(rng.random(n) < np.where(z, 0.85, 0.2), "yes", "no")
                      for j in range(4)})
    X["score"] = rng.normal(np.where(z, 1.0, -1.0), 1.0)
    X.iloc[::9, 1] = np.nan
    return X


def test_summary_criteria_and_selection_on_the_estimator():
    X = _survey()
    lca = quiet(bnem.LatentClassModel(2, n_init=2, random_state=0).fit, X)
    plain = lca.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.DegenerateWarning)
        full = lca.summary(X)
    pd.testing.assert_frame_equal(plain, full.drop(columns="se"))
    sizes = plain[plain["parameter"] == "class size"]
    np.testing.assert_array_equal(sizes["estimate"], lca.weights_)
    q0 = plain[(plain["item"] == "q0") & (plain["state"] == "yes")]
    np.testing.assert_array_equal(q0["estimate"], lca.item_probabilities_["q0"]["yes"])
    assert set(plain.loc[plain["item"] == "score", "parameter"]) == {"intercept", "variance"}
    se = bnem.standard_errors(lca.network_, X)
    np.testing.assert_array_equal(full["se"], se["se"])
    # the indices, against their formulas
    c = lca.criteria(X)
    n, p = len(X), lca.network_.n_parameters
    assert c["bic"] == pytest.approx(lca.bic(X)) and c["aic"] == pytest.approx(lca.aic(X))
    assert c["sabic"] == pytest.approx(-2 * c["log_likelihood"] + p * np.log((n + 2) / 24))
    post = lca.predict_proba(X)
    entropy = -np.sum(post * np.log(post))
    assert c["entropy_r2"] == pytest.approx(1 - entropy / (n * np.log(2)))
    # select_cardinality takes the estimator: clones with its settings
    table = quiet(bnem.select_cardinality, lca, X, range(1, 3))
    assert list(table["k"]) == [1, 2] and table.attrs["best"]["bic"] == 2
    assert table.attrs["fits"][2].get_params()["random_state"] == 0
    assert table.loc[1, "log_likelihood"] == pytest.approx(lca.log_likelihood_, rel=1e-12)
    with pytest.raises(bnem.BnemError, match="set the other options on the estimator"):
        bnem.select_cardinality(lca, X, range(1, 3), max_iter=3)


def test_class_profile_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X = _survey()
    lca = quiet(bnem.LatentClassModel(2, n_init=1, random_state=0).fit, X)
    ax = lca.plot_profiles()
    lines = ax.get_lines()
    assert len(lines) == 2
    for k, line in enumerate(lines):  # binary items: P(second state | class)
        expected = [lca.item_probabilities_[q].iloc[k, 1] for q in ["q0", "q1", "q2", "q3"]]
        np.testing.assert_allclose(line.get_ydata(), expected)
    ax = lca.plot_profiles(states={"q0": "yes"})
    assert [t.get_text() for t in ax.get_xticklabels()][0] == "q0: yes"
    with pytest.raises(bnem.BnemError, match="not a state of 'q0'"):
        lca.plot_profiles(states={"q0": "maybe"})
    import matplotlib.pyplot as plt
    plt.close("all")
