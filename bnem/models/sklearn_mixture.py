"""``bnem.GaussianMixture``: a scikit-learn estimator that accepts missing cells (models layer).

It has the parameters, fitted attributes and methods of
``sklearn.mixture.GaussianMixture`` that apply, on arrays or DataFrames with NaN
allowed everywhere: missing cells are integrated out exactly, in fitting and in
scoring. Underneath it is :func:`bnem.gaussian_mixture` fitted by :func:`bnem.fit`
(``network_`` holds the fitted network). scikit-learn is imported only by this module,
which ``import bnem`` loads on first use of ``bnem.GaussianMixture``.

Differences from scikit-learn: ``init_params="kmeans"`` is k-means++ seeding then
Lloyd's iterations on the rows with missing cells filled by column means (bnem's own
k-means, so not the same clusters as scikit-learn's for a given ``random_state``),
``"random"`` random responsibilities and ``"random_from_data"`` random rows as
centres; covariances are floored at ``min_variance`` (per conditional
variance) rather than regularised by adding ``reg_covar`` (adding to the diagonal is
not the maximum of any objective, so the likelihood could fall between iterations,
which bnem checks; ``reg_covar=0`` is accepted). ``covariance_type`` is any of
scikit-learn's: ``"full"``, ``"diag"``, ``"tied"``, ``"spherical"``, with its
attribute and ``precisions_init`` shapes.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_choice, check_int
from .estimator_fit import fit_for_estimator as em_fit
from .estimator_fit import online_update
from ..errors import BnemTypeError, BnemValueError
from ..network.bayesnet import BayesianNetwork
from .mixture import COVARIANCES, gaussian_mixture, mixture_parameters

INIT_PARAMS = {"kmeans": "k-means++", "k-means++": "k-means++", "random": "random-resp",
               "random_from_data": "random-rows"}
HIDDEN = "component"

#: scikit-learn's estimator checks that bnem's estimators fail on purpose, with the
#: reason; pass it on: ``check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS)``
#: (scikit-learn has no estimator tag for this since 1.6).
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data":
        "random starts draw rows (k-means++, random rows) or per-row responsibilities, so a "
        "weighted row and its repeated copies give different starts and, from them, "
        "different local optima; from the same start the fits are equal",
}


@functools.lru_cache(maxsize=16)
def _structure(columns: tuple, n_components: int, covariance: str) -> BayesianNetwork:
    """The mixture network a fit without given parameters starts from (its parameters
    are not used: the start replaces them). Shared by fits of the same shape: a
    network never changes after construction, and a fit returns a copy."""
    return gaussian_mixture(list(columns), n_components, covariance, hidden=HIDDEN)


class DeclaredChecks:
    """The estimators' declaration of the scikit-learn checks they fail on purpose."""

    @staticmethod
    def expected_failed_checks() -> dict[str, str]:
        """scikit-learn's estimator checks this estimator fails on purpose, each with
        its reason: ``check_estimator(est, expected_failed_checks=est.expected_failed_checks())``
        (``check_sample_weight_equivalence_on_dense_data``: random starts depend on the
        rows, so weights and repeated rows start differently; from the same start the
        fits are equal)."""
        return dict(EXPECTED_FAILED_CHECKS)


class GaussianMixture(DeclaredChecks, DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by exact EM, missing cells allowed (see the module
    docstring).

    Parameters beyond scikit-learn's: ``min_variance`` (the floor of every variance,
    instead of ``reg_covar``); ``variance_prior`` and ``variance_scale``, a prior on
    every conditional variance (``nu`` pseudo-observations of variance ``s2``; see
    :func:`bnem.fit`), which keeps a component from collapsing where scikit-learn adds
    ``reg_covar``; and ``step`` and ``fading``, online EM's step schedule and fading
    factor for :meth:`partial_fit` (see :class:`bnem.OnlineEM`).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.random.default_rng(0).normal(0, 1, (100, 2)),
    ...           np.random.default_rng(1).normal(6, 1, (100, 2))]
    >>> X[::7, 1] = np.nan
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> sorted(np.round(gm.means_[:, 0]).tolist())
    [0.0, 6.0]
    >>> gm.predict(np.array([[6.0, np.nan]])).shape
    (1,)
    """

    feature_names_in_: np.ndarray   # fitted attributes (set by fit)
    n_features_in_: int
    network_: BayesianNetwork

    def __init__(self, n_components: int = 1, *, covariance_type: str = "full",
                 tol: float = 1e-3, max_iter: int = 100, n_init: int = 1,
                 init_params: str = "kmeans", weights_init: Any = None, means_init: Any = None,
                 precisions_init: Any = None, random_state: Any = None,
                 warm_start: bool = False, verbose: int = 0,
                 min_variance: float = 1e-6, reg_covar: float = 0.0,
                 step: Any = (0.7, 2.0), fading: float | None = None,
                 variance_prior: float = 0.0, variance_scale: float = 0.0) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.min_variance = min_variance
        self.reg_covar = reg_covar
        self.step = step
        self.fading = fading
        self.variance_prior = variance_prior
        self.variance_scale = variance_scale

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "GaussianMixture":
        """Fit by EM; ``X`` is ``(n, d)``, NaN for missing cells."""
        df = self._frame(X, fitting=True)
        self._check_options(sample_weight)
        start, init = self._start()
        res = em_fit(start, df, max_iter=self.max_iter, tol=self.tol, seed=seed_of(self.random_state),
                     init=init, n_init=self.n_init if init != "network" else 1,
                     min_variance=self.min_variance, progress=bool(self.verbose),
                     sample_weight=sample_weight, accelerate="none",  # scikit-learn's steps
                     variance_prior=self.variance_prior, variance_scale=self.variance_scale)
        self.__dict__.pop("online_", None)  # partial_fit goes on from this fit
        self.network_ = res.network
        self.converged_ = res.converged
        self.n_iter_ = res.n_iter
        self.lower_bound_ = res.log_likelihood / res.n_rows
        self._fit_statistics = res.statistics  # partial_fit goes on from them
        self._set_parameters()
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "GaussianMixture":
        """One step of online EM on the batch ``X`` (see :class:`bnem.OnlineEM`): its
        E-step at the current parameters, the running statistics moved towards it by
        ``step`` (or discounted by ``fading``), an M-step. The first call starts as
        :meth:`fit` would (``init_params`` on this batch, or ``weights_init`` ...); after
        :meth:`fit` it goes on from the fitted parameters. ``n_iter_`` counts batches,
        ``lower_bound_`` is this batch's mean log-likelihood before its update."""
        first = not hasattr(self, "network_")
        df = self._frame(X, fitting=first)
        self._check_options(sample_weight)
        if first:
            start, init = self._start()
        else:
            start, init = self.network_, "network"
        report = online_update(self, df, sample_weight, start, init,
                               statistics=getattr(self, "_fit_statistics", None),
                               seed=seed_of(self.random_state), min_variance=self.min_variance,
                               variance_prior=self.variance_prior,
                               variance_scale=self.variance_scale)
        self.network_ = self.online_.network
        self.converged_ = False
        self.n_iter_ = self.online_.n_batches
        self.lower_bound_ = report.log_likelihood / report.weight
        self._set_parameters()
        return self

    def _check_options(self, sample_weight: Any) -> None:
        check_weights(sample_weight)
        check_choice(self.covariance_type, "covariance_type", COVARIANCES)
        if self.reg_covar != 0:
            raise BnemValueError(
                f"reg_covar={self.reg_covar!r}: bnem does not add to the covariances' "
                "diagonal (that is no M-step of any objective, so EM's likelihood could "
                "fall, which bnem checks); use min_variance, a floor of every conditional "
                "variance, instead (reg_covar=0 is accepted)")
        check_choice(self.init_params, "init_params", tuple(INIT_PARAMS))

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then the most probable component of every row."""
        return self.fit(X, y, sample_weight).predict(X)

    def _start(self) -> tuple[BayesianNetwork, str]:
        cols = list(self.feature_names_in_)
        if self.warm_start and hasattr(self, "network_"):
            return self.network_, "network"
        given = [a is not None for a in (self.weights_init, self.means_init,
                                         self.precisions_init)]
        if not any(given):
            k = check_int(self.n_components, "n_components", minimum=1)  # a cache key
            return _structure(tuple(cols), k, self.covariance_type), \
                INIT_PARAMS[self.init_params]
        if not all(given):
            raise BnemValueError("give weights_init, means_init and precisions_init together "
                                 "(bnem starts from all three), or none of them")
        prec = np.asarray(self.precisions_init, dtype=float)
        cov = np.linalg.inv(prec) if self.covariance_type in ("full", "tied") else 1.0 / prec
        return gaussian_mixture(cols, self.n_components, self.covariance_type,
                                weights=self.weights_init, means=self.means_init,
                                covariances=cov, hidden=HIDDEN), "network"

    def _set_parameters(self) -> None:
        w, means, covs = mixture_parameters(self.network_, HIDDEN)
        self.weights_, self.means_ = w, means
        if self.covariance_type in ("full", "tied"):
            if self.covariance_type == "tied":
                covs = covs[0]  # every component's (tied by the fit)
            self.covariances_ = covs
            self.precisions_ = np.linalg.inv(covs)
            chol = np.linalg.cholesky(covs)
            eye = np.broadcast_to(np.eye(covs.shape[-1]), covs.shape)
            self.precisions_cholesky_ = np.swapaxes(np.linalg.solve(chol, eye), -1, -2)
        elif self.covariance_type == "spherical":
            self.covariances_ = covs[:, 0, 0].copy()
            self.precisions_ = 1.0 / self.covariances_
            self.precisions_cholesky_ = np.sqrt(self.precisions_)
        else:
            self.covariances_ = np.diagonal(covs, axis1=1, axis2=2).copy()
            self.precisions_ = 1.0 / self.covariances_
            self.precisions_cholesky_ = np.sqrt(self.precisions_)

    # -- using the fitted model ---------------------------------------------------------
    def score_samples(self, X: Any) -> np.ndarray:
        """Per row ``log p(x)``, missing cells integrated out."""
        frame = self._frame(X)
        return self.network_.log_prob(frame)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean of :meth:`score_samples` (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, n_components)`` posterior of the component given each row."""
        frame = self._frame(X)
        return self.network_.posterior(frame, HIDDEN).to_numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable component of every row."""
        return self.predict_proba(X).argmax(axis=1)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)``: ``n_samples`` draws and their components."""
        check_is_fitted(self, "network_")
        draws = self.network_.sample(n_samples, seed=seed_of(self.random_state))
        X = draws[list(self.feature_names_in_)].to_numpy(dtype=float)
        return X, draws[HIDDEN].cat.codes.to_numpy().astype(int)

    def impute(self, X: Any, method: str = "mean") -> Any:
        """``X`` with its NaN cells filled from their posterior given the row
        (``"mean"``, ``"map"`` or ``"sample"``, see :meth:`bnem.BayesianNetwork.impute`;
        draws seeded by ``random_state``); a DataFrame for a DataFrame, else an array."""
        frame = self._frame(X)
        filled = self.network_.impute(frame, method=method, seed=seed_of(self.random_state))
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(filled.to_numpy(dtype=float), index=X.index, columns=X.columns)
        return filled.to_numpy(dtype=float)

    def bic(self, X: Any) -> float:
        """``-2 log L + p log n`` on ``X`` (scikit-learn's parameter count)."""
        n = len(X)
        return -2.0 * self.score(X) * n + self.network_.n_parameters * np.log(n)

    def aic(self, X: Any) -> float:
        """``-2 log L + 2 p`` on ``X``."""
        return -2.0 * self.score(X) * len(X) + 2.0 * self.network_.n_parameters

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing cells are integrated out
        return tags

    # -- input ---------------------------------------------------------------------------
    def _frame(self, X: Any, fitting: bool = False) -> pd.DataFrame:
        if not fitting:
            check_is_fitted(self, "network_")
        check_input(self, X)
        if isinstance(X, pd.DataFrame):
            names = [str(c) for c in X.columns]
            values = _numbers(X)
            if not fitting and names != list(self.feature_names_in_):
                raise BnemValueError(f"X has columns {names}, but the model was fitted on "
                                     f"{list(self.feature_names_in_)}")
        else:
            values = _numbers(X)
            names = [f"x{j}" for j in range(values.shape[1])]
        if fitting:
            self.n_features_in_ = values.shape[1]
            self.feature_names_in_ = np.array(names, dtype=object)
        elif values.shape[1] != self.n_features_in_:
            raise BnemValueError(f"X has {values.shape[1]} features, but "
                                 f"{type(self).__name__} is expecting {self.n_features_in_} "
                                 "features as input")
        if np.isinf(values).any():
            raise BnemValueError("X holds infinite values; use NaN for missing cells")
        return pd.DataFrame(values, columns=list(self.feature_names_in_))


def _numbers(X: Any) -> np.ndarray:
    try:
        return np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=float)
    except (TypeError, ValueError) as exc:
        kind = BnemTypeError if isinstance(exc, TypeError) else BnemValueError
        raise kind(f"GaussianMixture takes numbers (NaN for missing cells); "
                   f"{str(exc)[:80]}. For categorical columns use bnem.LatentClassModel") \
            from None


def check_input(estimator: Any, X: Any) -> None:
    """Refuse what no bnem estimator takes, in scikit-learn's words: sparse or complex
    data, anything but a 2-D table, no rows or no columns."""
    name = type(estimator).__name__
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise BnemTypeError(f"{name} got sparse data: sparse input is not supported, dense "
                            "data is required (missing cells are NaN, not absent entries); "
                            "use X.toarray()")
    try:
        shape = X.shape if isinstance(X, pd.DataFrame) else np.asarray(X).shape
    except ValueError as exc:  # ragged nested lists
        raise BnemValueError(f"{name} expects a 2-D table of rows of equal length: "
                             f"{str(exc)[:120]}") from None
    if len(shape) != 2:
        raise BnemValueError(f"{name} expects 2-D data (rows, columns), got an array of shape "
                             f"{shape}. Reshape your data either using array.reshape(-1, 1) if "
                             "your data has a single feature or array.reshape(1, -1) if it "
                             "contains a single sample.")
    if shape[1] == 0:
        raise BnemValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum "
                             f"of 1 is required by {name}.")
    if shape[0] == 0:
        raise BnemValueError(f"Found array with 0 sample(s) (shape={shape}) while a minimum "
                             f"of 1 is required by {name}.")
    kinds = X.dtypes if isinstance(X, pd.DataFrame) else [np.asarray(X).dtype]
    if any(getattr(k, "kind", "") == "c" for k in kinds):
        raise BnemValueError(f"Complex data not supported by {name}; expected real numbers "
                             "or categories")


def check_weights(sample_weight: Any) -> None:
    """All-zero weights leave nothing to fit: say so in scikit-learn's words."""
    if sample_weight is None or isinstance(sample_weight, str):
        return
    try:
        w = np.asarray(sample_weight, dtype=float)
    except (TypeError, ValueError):
        raise BnemValueError(f"sample_weight must be numbers (one weight per row), got "
                             f"{type(sample_weight).__name__}") from None
    if w.size and np.all(w == 0):
        raise BnemValueError("every sample weight is zero; the fit needs some weight (all "
                             "sample weights are zero)")


def seed_of(random_state: Any) -> Any:
    """bnem's seed from scikit-learn's ``random_state`` (None, int or RandomState)."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2 ** 31))
    return random_state

