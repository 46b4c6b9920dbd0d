"""bnem.GaussianMixture: scikit-learn's estimator API, missing cells allowed."""

import warnings
from itertools import permutations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import bnem


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 1.0, -2.0], [-3.0, 3.0, 1.0]])
    z = rng.integers(0, 3, n)
    return centres[z] + rng.normal(size=(n, 3)) * [1.0, 0.5, 1.5], z


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        yield


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_same_iterations_as_scikit_learn(kind):
    X, _ = _data()
    rng = np.random.default_rng(1)
    w0 = np.array([0.3, 0.3, 0.4])
    m0 = X[rng.choice(len(X), 3, replace=False)]
    p0 = np.stack([np.eye(3)] * 3) if kind == "full" else np.ones((3, 3))
    common = dict(covariance_type=kind, tol=0, max_iter=7, weights_init=w0, means_init=m0,
                  precisions_init=p0)
    sk = SkGaussianMixture(3, reg_covar=0, **common).fit(X)
    mine = bnem.GaussianMixture(3, **common).fit(X)
    np.testing.assert_allclose(mine.weights_, sk.weights_, rtol=1e-9)
    np.testing.assert_allclose(mine.means_, sk.means_, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mine.covariances_, sk.covariances_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(mine.precisions_cholesky_, sk.precisions_cholesky_, rtol=1e-7)
    np.testing.assert_allclose(mine.score_samples(X), sk.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(mine.predict_proba(X), sk.predict_proba(X), atol=1e-9)
    assert mine.score(X) == pytest.approx(sk.score(X), rel=1e-12)
    assert mine.n_iter_ == 7 and mine.n_features_in_ == 3


def test_missing_cells_are_allowed_everywhere():
    X, z = _data()
    X[np.random.default_rng(2).random(X.shape) < 0.2] = np.nan
    gm = bnem.GaussianMixture(3, random_state=0, n_init=3, max_iter=300).fit(X)
    proba = gm.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    frame = pd.DataFrame(X, columns=["x0", "x1", "x2"])
    np.testing.assert_allclose(gm.score_samples(X), gm.network_.log_prob(frame))
    labels = gm.predict(X)
    agree = max(np.mean(labels == np.array(perm)[z]) for perm in permutations(range(3)))
    assert agree > 0.9
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=1e-10)


def test_scikit_learn_tools_work():
    X, _ = _data()
    X[::11, 2] = np.nan
    gm = bnem.GaussianMixture(2, random_state=0)
    assert clone(gm).get_params() == gm.get_params()
    pipe = make_pipeline(StandardScaler(), bnem.GaussianMixture(3, random_state=0)).fit(X)
    assert np.isfinite(pipe.score(X))
    search = GridSearchCV(bnem.GaussianMixture(random_state=0),
                          {"n_components": [1, 3]}, cv=3).fit(X)
    assert search.best_params_["n_components"] == 3
    sample, comps = search.best_estimator_.sample(50)
    assert sample.shape == (50, 3) and comps.shape == (50,)


def test_information_criteria_and_diag_attributes():
    X, _ = _data()
    gm = bnem.GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    assert gm.covariances_.shape == (3, 3) and gm.precisions_cholesky_.shape == (3, 3)
    net_bic = bnem.bic(gm.network_, pd.DataFrame(X, columns=["x0", "x1", "x2"]))
    assert gm.bic(X) == pytest.approx(net_bic, rel=1e-10)
    assert gm.aic(X) < gm.bic(X)


@pytest.mark.parametrize("call, match", [
    (lambda gm, X: gm.predict(X[:, :2]), "X has 2 features, but GaussianMixture is expecting 3 features as input"),
    (lambda gm, X: gm.score(np.where(X > 5, np.inf, X)), "infinite values"),
    (lambda gm, X: bnem.GaussianMixture(2, covariance_type="banded").fit(X),
     "covariance_type must be one of 'full', 'diag', 'tied', 'spherical'"),
    (lambda gm, X: bnem.GaussianMixture(2, means_init=X[:2]).fit(X),
     "give weights_init, means_init and precisions_init together"),
    (lambda gm, X: bnem.GaussianMixture([2]).fit(X),
     r"n_components must be an integer, got \[2\] \(list\)"),
    (lambda gm, X: bnem.GaussianMixture(0).fit(X), "n_components must be >= 1, got 0"),
])
def test_errors_are_clear(call, match):
    X, _ = _data(100)
    gm = bnem.GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(bnem.BnemError, match=match):
        call(gm, X)


def test_fits_of_the_same_shape_share_the_start_structure_not_the_result():
    """Fits without given parameters start from one cached network per shape; each fit
    returns its own network, and the cached one keeps its parameters."""
    from bnem.models.sklearn_mixture import _structure
    X, _ = _data(100)
    a = bnem.GaussianMixture(2, random_state=0).fit(X)
    b = bnem.GaussianMixture(2, random_state=1).fit(X[::-1])
    start = _structure(("x0", "x1", "x2"), 2, "full")
    assert a.network_ is not b.network_ and a.network_ is not start
    assert start.cpd("component").values.tolist() == [0.5, 0.5]
    assert _structure(("x0", "x1", "x2"), 2, "full") is start


def test_unfitted_use_is_refused():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        bnem.GaussianMixture().predict(np.zeros((2, 2)))


def test_import_bnem_does_not_import_scikit_learn():
    import subprocess
    import sys
    code = "import sys, bnem; print('sklearn' in sys.modules); bnem.GaussianMixture; " \
           "print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_estimator_warnings_point_at_the_users_line():
    """The warnings of the fit behind GaussianMixture.fit, LatentClassModel.fit and
    select_cardinality are shown at the user's line (they pointed inside bnem), and the
    user's filters still apply (an 'error' filter raises at that call)."""
    import bnem
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)) + rng.integers(0, 2, (200, 1)) * 3
    items = pd.DataFrame(rng.integers(0, 2, (200, 4)).astype(str), columns=list("abcd"))
    net = bnem.BayesianNetwork({"z": ["0"], **{i: ["0", "1"] for i in "abcd"}},
                               {i: ["z"] for i in "abcd"})
    for fit in (lambda: bnem.GaussianMixture(2, max_iter=1, random_state=0).fit(x),
                lambda: bnem.LatentClassModel(2, max_iter=1, random_state=0).fit(items),
                lambda: bnem.select_cardinality(net, items, "z", [2], n_init=1, max_iter=1)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit()
        mine = [w for w in caught if issubclass(w.category, bnem.ConvergenceWarning)]
        assert mine and all(w.filename == __file__ for w in mine), \
            [(w.filename, w.lineno) for w in caught]
        with warnings.catch_warnings():
            warnings.simplefilter("error", bnem.ConvergenceWarning)
            with pytest.raises(bnem.ConvergenceWarning, match="did not converge"):
                fit()
