"""``bnem.LatentClassModel``: latent class analysis as a scikit-learn estimator (models
layer; scikit-learn is imported only here, on first use of ``bnem.LatentClassModel``).

A hidden class node is the parent of every column: categorical columns get a table of
item-response probabilities per class, numeric columns a Gaussian per class
(``continuous="diag"``: independent within a class; ``"full"``: a full covariance
within a class, as in :func:`bnem.gaussian_mixture`). Missing cells are allowed
anywhere and integrated out exactly; ``sample_weight`` takes pattern frequencies.
Underneath it is a :class:`~bnem.network.bayesnet.BayesianNetwork` fitted by
:func:`bnem.fit` (``network_``), started by default from random responsibilities with
10 restarts and SQUAREM (see ``benchmarks/README.md``, "Starts for latent models").
"""

from __future__ import annotations

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
from ..network.from_data import column_states, looks_categorical
from .class_regression import Design, fit_regression, log_items_given_class, log_softmax
from .class_regression import standard_errors as regression_errors
from .sklearn_mixture import DeclaredChecks, check_input, check_weights, seed_of

CLASS = "class"


class LatentClassModel(DeclaredChecks, DensityMixin, BaseEstimator):
    """Latent class model fitted by exact EM, missing cells allowed (see the module
    docstring).

    Parameters
    ----------
    n_classes : int
    categorical : "auto", "all" or list of column names
        Which columns are categorical items: ``"auto"`` takes text, categories,
        booleans and whole-number columns with at most 10 distinct values (items coded
        0/1 or 1..5), and models the other numeric columns as Gaussian; ``"all"`` treats
        every column as categorical. A categorical column's declared categories are its
        states, seen in the data or not.
    continuous : {"diag", "full"}
        Covariance of the numeric columns within a class.
    tol, max_iter, n_init, init, prior, accelerate, min_variance
        As for :func:`bnem.fit` (defaults here: ``tol=1e-8``, ``n_init=10``,
        ``init="random-resp"``, ``accelerate="squarem"``).
    random_state : int, RandomState or None
    step, fading
        Online EM's step schedule and fading factor for :meth:`partial_fit` (see
        :class:`bnem.OnlineEM`).
    covariates : list of column names, optional
        Latent class regression (poLCA's ``cbind(items) ~ x``): these columns of ``X``
        are not items but covariates of class membership, ``P(class = k | z) =
        softmax_k(b_k + w_k . z)`` with class 0 as reference (numeric columns as they
        are, others dummy coded with their first level as reference). They must be
        observed in every row (a missing covariate is an error naming the row); items
        may have missing cells. The fit starts from the latent-class model without
        covariates (``n_init`` restarts) and runs EM with the covariates from there
        (:mod:`bnem.models.class_regression`); ``score`` is then the mean
        ``log P(items | covariates)``. ``coef_`` holds the coefficients.

    Attributes
    ----------
    network_ : BayesianNetwork
    weights_ : ndarray (n_classes,)
        Class sizes.
    item_probabilities_ : dict column -> DataFrame (classes x states)
    log_likelihood_, lower_bound_ (per row), n_iter_, converged_, n_features_in_,
    feature_names_in_
    coef_ : DataFrame (classes x [intercept, covariates])
        With ``covariates``: the log-odds of each class against class 0 (whose row is
        0), on the covariates' own scale. ``weights_`` is then the mean of the rows'
        class probabilities.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(0, 2, 400)
    >>> X = pd.DataFrame({f"q{j}": np.where(rng.random(400) < np.where(z, .9, .1), "yes", "no")
    ...                   for j in range(4)})
    >>> lca = LatentClassModel(2, random_state=0).fit(X)
    >>> sorted(np.round(lca.weights_, 1).tolist())
    [0.5, 0.5]
    """

    feature_names_in_: np.ndarray
    n_features_in_: int
    network_: BayesianNetwork

    def __init__(self, n_classes: int = 2, *, categorical: Any = "auto",
                 continuous: str = "diag", tol: float = 1e-8, max_iter: int = 5000,
                 n_init: int = 10, init: str = "random-resp", prior: float = 0.0,
                 accelerate: str = "squarem", min_variance: float = 1e-6,
                 random_state: Any = None, verbose: int = 0, step: Any = (0.7, 2.0),
                 fading: float | None = None, covariates: Any = None) -> None:
        self.n_classes = n_classes
        self.categorical = categorical
        self.continuous = continuous
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init = init
        self.prior = prior
        self.accelerate = accelerate
        self.min_variance = min_variance
        self.random_state = random_state
        self.verbose = verbose
        self.step = step
        self.fading = fading
        self.covariates = covariates

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing cells are integrated out
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "LatentClassModel":
        """Fit by EM; ``X`` is a DataFrame (or a 2-D array), NaN for missing cells."""
        frame = self._frame(X, fitting=True)
        check_weights(sample_weight)
        k = check_int(self.n_classes, "n_classes", minimum=1)
        check_choice(self.continuous, "continuous", ("diag", "full"))
        items = self._item_frame(frame)
        design = Design.of(frame, self._covariates) if self._covariates else None
        z = design.matrix(frame) if design is not None else None
        self.network_ = self._network(items, k)
        res = em_fit(self.network_, items, max_iter=self.max_iter, tol=self.tol,
                     seed=seed_of(self.random_state), init=self.init, n_init=self.n_init,
                     prior=self.prior, accelerate=self.accelerate,
                     min_variance=self.min_variance, progress=bool(self.verbose),
                     sample_weight=sample_weight)
        self.__dict__.pop("online_", None)  # partial_fit goes on from this fit
        self.network_ = res.network
        self.result_ = res
        self.converged_, self.n_iter_ = res.converged, res.n_iter
        self.log_likelihood_ = res.log_likelihood
        total = len(frame) if sample_weight is None else \
            float(np.asarray(sample_weight, dtype=float).sum())
        self.lower_bound_ = res.log_likelihood / total
        self._fit_statistics = res.statistics  # partial_fit goes on from them
        self.__dict__.pop("coef_", None)
        if design is not None:
            assert z is not None
            reg = fit_regression(res.network, items, z, _weights(sample_weight, len(items)),
                                 self.tol, self.max_iter, self.prior, self.min_variance)
            self.network_ = reg.network
            self.design_, self._coef = design, reg.coef
            self.regression_history_ = reg.history
            self.converged_, self.n_iter_ = reg.converged, reg.n_iter
            self.log_likelihood_ = reg.log_likelihood
            self.lower_bound_ = reg.log_likelihood / total
            self.coef_ = pd.DataFrame(design.original(reg.coef),
                                      index=pd.Index([str(i) for i in range(k)], name=CLASS),
                                      columns=["intercept", *design.columns])
            self._fit_statistics = None
            self._set_parameters()
            w = _weights(sample_weight, len(items))
            self.weights_ = (w @ reg.responsibilities) / w.sum()  # at the final parameters
            return self
        self._set_parameters()
        return self

    def partial_fit(self, X: Any, y: Any = None,
                    sample_weight: Any = None) -> "LatentClassModel":
        """One step of online EM on the batch ``X`` (see :class:`bnem.OnlineEM`). The
        first call builds the model from this batch (its items' states are the states
        seen in it, or a categorical column's declared categories: declare them when
        later batches may hold others) and starts as ``init`` says; after :meth:`fit` it
        goes on from the fitted parameters. ``n_iter_`` counts batches;
        ``log_likelihood_`` and ``lower_bound_`` are this batch's (total and per row)
        before its update."""
        if self.covariates:
            raise BnemValueError("partial_fit does not take covariates yet (latent class "
                                 "regression is fitted in batch: use fit)")
        first = not hasattr(self, "network_")
        frame = self._frame(X, fitting=first)
        check_weights(sample_weight)
        if first:
            k = check_int(self.n_classes, "n_classes", minimum=1)
            check_choice(self.continuous, "continuous", ("diag", "full"))
            start, init = self._network(frame, k), self.init
        else:
            start, init = self.network_, "network"
        report = online_update(self, frame, sample_weight, start, init,
                               statistics=getattr(self, "_fit_statistics", None),
                               seed=seed_of(self.random_state), prior=self.prior,
                               min_variance=self.min_variance)
        self.network_ = self.online_.network
        self.converged_, self.n_iter_ = False, self.online_.n_batches
        self.log_likelihood_ = report.log_likelihood
        self.lower_bound_ = report.log_likelihood / report.weight
        self._set_parameters()
        return self

    def _set_parameters(self) -> None:
        k = len(self.network_.states(CLASS))
        self.weights_ = np.asarray(self.network_.cpd(CLASS).values, dtype=float)
        self.item_probabilities_ = {
            c: pd.DataFrame(self.network_.cpd(c).values, columns=list(self.network_.states(c)),
                            index=pd.Index(range(k), name=CLASS))
            for c in self._items}

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        return self.fit(X, y, sample_weight).predict(X)

    def _network(self, frame: pd.DataFrame, k: int) -> BayesianNetwork:
        items = self._items
        numeric = [c for c in frame.columns if c not in items]
        variables: dict[str, Any] = {CLASS: [str(i) for i in range(k)]}
        parents: dict[str, list[str]] = {}
        for c in frame.columns:
            if c in items:
                variables[c] = column_states(frame[c], c)
                parents[c] = [CLASS]
            else:
                variables[c] = "continuous"
                earlier = numeric[:numeric.index(c)] if self.continuous == "full" else []
                parents[c] = [CLASS] + earlier
        return BayesianNetwork(variables, parents, name="latent-class")

    # -- using the fitted model ---------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, n_classes)``: P(class | observed cells of each row)."""
        frame = self._frame(X)
        if self._covariates:
            joint = self._joint(frame)
            top = joint.max(axis=1, keepdims=True)
            out = np.exp(joint - top)
            return out / out.sum(axis=1, keepdims=True)
        return self.network_.posterior(frame, CLASS).to_numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of every row (modal assignment)."""
        return self.predict_proba(X).argmax(axis=1)

    def score_samples(self, X: Any) -> np.ndarray:
        """Per row ``log p(observed cells)`` (with covariates: ``log p(observed items |
        covariates)``)."""
        frame = self._frame(X)
        if self._covariates:
            joint = self._joint(frame)
            top = joint.max(axis=1)
            with np.errstate(invalid="ignore"):
                return top + np.log(np.exp(joint - top[:, None]).sum(axis=1))
        return np.asarray(self.network_.log_prob(frame))

    def _joint(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, K)``: ``log P(class = k | z) + log P(items | class = k)``."""
        k = len(self.network_.states(CLASS))
        z = self.design_.matrix(frame)
        return log_softmax(z, self._coef) + \
            log_items_given_class(self.network_, self._item_frame(frame), k)

    def _n_parameters(self) -> int:
        """Free parameters: the items', and the class table's or, with covariates, the
        coefficients of classes 1.. ."""
        p = self.network_.n_parameters
        if self._covariates:
            k = len(self.network_.states(CLASS))
            p += (k - 1) * (self._coef.shape[1] - 1)
        return p

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Mean of :meth:`score_samples` (weighted by ``sample_weight``; higher is better)."""
        scores = self.score_samples(X)
        w = _weights(sample_weight, len(scores))
        return float(np.sum(w * scores) / np.sum(w))

    def impute(self, X: Any, method: str = "map") -> Any:
        """``X`` with its missing answers filled from their posterior given the row
        (``"map"``: the most probable answer, or for a numeric item the conditional mean
        under the most probable (class, value) pair; ``"mean"``; ``"sample"``: seeded by
        ``random_state``); see :meth:`bnem.BayesianNetwork.impute`. A DataFrame keeps its
        index and columns; other input gives an object array."""
        frame = self._frame(X)
        if self._covariates:
            raise BnemValueError("impute does not take covariates into account yet; fit "
                                 "without covariates to impute")
        filled = self.network_.impute(frame, method=method, seed=seed_of(self.random_state))
        if isinstance(X, pd.DataFrame):
            return filled.set_axis(X.index, axis=0).set_axis(X.columns, axis=1)
        return filled.to_numpy(dtype=object)

    def bic(self, X: Any, sample_weight: Any = None) -> float:
        """``-2 log L + p log n`` on ``X`` (``p`` = free parameters of the network;
        with ``sample_weight``, ``L`` and ``n`` are weighted: a table of response
        patterns gives the BIC of its expanded rows)."""
        n = float(np.sum(_weights(sample_weight, len(X))))
        return -2.0 * self.score(X, sample_weight=sample_weight) * n + \
            self._n_parameters() * np.log(n)

    def aic(self, X: Any, sample_weight: Any = None) -> float:
        n = float(np.sum(_weights(sample_weight, len(X))))
        return -2.0 * self.score(X, sample_weight=sample_weight) * n + \
            2.0 * self._n_parameters()

    def criteria(self, X: Any, sample_weight: Any = None) -> dict:
        """The fit indices latent-class software reports, on ``X``: ``log_likelihood``,
        ``n_parameters``, ``aic``, ``bic``, ``sabic`` (sample-size adjusted BIC),
        ``caic`` and ``entropy_r2`` (1: every row classified with certainty; NaN for one
        class), as :func:`bnem.select_cardinality` tabulates them. With
        ``sample_weight``, ``n`` and ``L`` are weighted (a table of response patterns
        gives its expanded rows' indices)."""
        from .selection import fit_indices

        w = _weights(sample_weight, len(X))
        n = float(np.sum(w))
        ll = self.score(X, sample_weight=sample_weight) * n
        post = self.predict_proba(X)
        return fit_indices(ll, self._n_parameters(), n, post,
                           None if sample_weight is None else w)

    def summary(self, X: Any = None, sample_weight: Any = None) -> pd.DataFrame:
        """Every parameter in a tidy table: ``parameter`` (``"class size"``,
        ``"response probability"``, or for a numeric item ``"intercept"``,
        ``"weight[column]"``, ``"variance"``), ``item``, ``class``, ``state``,
        ``estimate``, and with the data ``X`` the fit was on, ``se``: standard errors
        from the observed information (:func:`bnem.standard_errors`; NaN for
        parameters on the boundary, with a warning). With covariates the class sizes
        give way to ``"coefficient"`` rows (``item`` the design column), and the
        standard errors (categorical items only) come from the observed information of
        the coefficients and the items' log-odds together
        (:func:`bnem.models.class_regression.standard_errors`).

        >>> import pandas as pd
        >>> X = pd.DataFrame({"q0": ["a", "b"] * 50, "q1": ["a", "b", "b", "a"] * 25})
        >>> table = LatentClassModel(2, n_init=1, random_state=0).fit(X).summary()
        >>> list(table.columns)
        ['parameter', 'item', 'class', 'state', 'estimate']
        """
        check_is_fitted(self, "network_")
        coef_se = None
        if X is not None and self._covariates:
            frame = self._frame(X)
            items = self._item_frame(frame)
            coef_se, item_se = regression_errors(
                self.network_, items, self.design_.matrix(frame),
                _weights(sample_weight, len(items)), self._coef, self.design_)
            rows = _parameter_rows(self.network_)
            rows["se"] = [np.nan if node == CLASS else
                          item_se[node][int(parents.split("=")[1]),
                                        self.network_.states(node).index(state)]
                          for node, parents, state in zip(rows["node"], rows["parents"],
                                                          rows["state"])]
        elif X is not None:
            from ..em.information import standard_errors
            frame = self._frame(X)
            rows = standard_errors(self.network_, frame, sample_weight=sample_weight)
        else:
            rows = _parameter_rows(self.network_)
        kind = []
        for node, state in zip(rows["node"], rows["state"]):
            if node == CLASS:
                kind.append("class size")
            elif node in self._items:
                kind.append("response probability")
            else:
                kind.append(str(state))
        given = rows["parents"].astype(str)
        klass = given.str.extract(rf"(?:^|, ){CLASS}=([^,]*)")[0]
        out = pd.DataFrame({
            "parameter": kind,
            "item": np.where(rows["node"] == CLASS, "", rows["node"]),
            "class": np.where(rows["node"] == CLASS, rows["state"].astype(str),
                              klass.fillna("")),
            "state": np.where([k == "response probability" for k in kind],
                              rows["state"].astype(str), ""),
            "estimate": rows["estimate"].to_numpy(dtype=float),
        })
        if "se" in rows:
            out["se"] = rows["se"].to_numpy(dtype=float)
        if self._covariates:  # the class table is replaced by the coefficients
            coef = self.coef_.iloc[1:].stack()
            extra = pd.DataFrame({
                "parameter": "coefficient", "item": coef.index.get_level_values(1),
                "class": coef.index.get_level_values(0), "state": "",
                "estimate": coef.to_numpy(dtype=float)})
            if coef_se is not None:
                extra["se"] = coef_se[1:].ravel()
            out = pd.concat([out[out["parameter"] != "class size"], extra], ignore_index=True)
        return out

    def plot_profiles(self, ax: Any = None, states: Any = None) -> Any:
        """The class profiles: for each class, a line over the items of P(item = state |
        class), on ``ax`` or a new matplotlib Axes (returned; needs matplotlib).

        ``states`` maps an item to the state to show; by default a two-state item shows
        its second state and an item with more states shows every state
        (``item: state`` on the axis). Numeric items are left out."""
        from ..em.result import new_axes

        check_is_fitted(self, "network_")
        states = dict(states or {})
        labels, columns = [], []
        for item in self._items:
            probs = self.item_probabilities_[item]
            if item in states:
                chosen = [str(states[item])]
                if chosen[0] not in probs.columns:
                    raise BnemValueError(f"states[{item!r}] = {states[item]!r} is not a state of "
                                         f"{item!r}; states are {list(probs.columns)}")
            else:
                chosen = list(probs.columns[1:2]) if probs.shape[1] == 2 else list(probs.columns)
            for st in chosen:
                labels.append(f"{item}: {st}")
                columns.append(probs[st].to_numpy())
        if not columns:
            raise BnemValueError("the model has no categorical items to profile")
        values = np.column_stack(columns)          # classes x shown (item, state)
        axes = new_axes(ax)
        x = np.arange(len(labels))
        for k in range(values.shape[0]):
            axes.plot(x, values[k], marker="o",
                      label=f"class {k} ({self.weights_[k]:.0%})")
        axes.set_xticks(x, labels, rotation=45, ha="right")
        axes.set_ylim(-0.02, 1.02)
        axes.set_ylabel("P(item = state | class)")
        axes.legend(fontsize="small")
        return axes

    # -- input ---------------------------------------------------------------------------
    def _frame(self, X: Any, fitting: bool = False) -> pd.DataFrame:
        if not fitting:
            check_is_fitted(self, "network_")
        check_input(self, X)
        if isinstance(X, pd.DataFrame):
            frame = X.copy()
            frame.columns = [str(c) for c in X.columns]
        else:
            values = np.asarray(X, dtype=object)
            frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(values.shape[1])])
            frame = frame.infer_objects()
        if CLASS in frame.columns:
            raise BnemValueError(f"X has a column named {CLASS!r}, the name of the hidden "
                                 "class node; rename it")
        if fitting:
            self.n_features_in_ = frame.shape[1]
            self.feature_names_in_ = np.array(list(frame.columns), dtype=object)
            self._covariates = self._covariate_names(frame)
            self._items = self._categorical(self._item_frame(frame))
        elif frame.shape[1] != self.n_features_in_:
            raise BnemValueError(f"X has {frame.shape[1]} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input")
        elif list(frame.columns) != list(self.feature_names_in_):
            raise BnemValueError(f"X has columns {list(frame.columns)}, but the model was "
                                 f"fitted on {list(self.feature_names_in_)}")
        return frame

    def _covariate_names(self, frame: pd.DataFrame) -> tuple[str, ...]:
        if self.covariates is None:
            return ()
        given = [self.covariates] if isinstance(self.covariates, str) else self.covariates
        if not isinstance(given, (list, tuple, set, np.ndarray, pd.Index)):
            raise BnemTypeError(f"covariates must be a list of column names, got "
                                f"{self.covariates!r}")
        named = [str(c) for c in given]
        unknown = sorted(set(named) - set(frame.columns))
        if unknown:
            raise BnemValueError(f"covariates names column(s) {unknown} that X does not have; "
                                 f"columns are {list(frame.columns)}")
        if len(named) == frame.shape[1]:
            raise BnemValueError("every column of X is a covariate; a latent class model "
                                 "needs at least one item")
        return tuple(named)

    def _item_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns of ``frame`` that are items (all but the covariates)."""
        cov = getattr(self, "_covariates", ())
        return frame.drop(columns=list(cov)) if cov else frame

    def _categorical(self, frame: pd.DataFrame) -> list[str]:
        cols = list(frame.columns)
        if isinstance(self.categorical, str):
            check_choice(self.categorical, "categorical", ("auto", "all"))
            if self.categorical == "all":
                return cols
            return [c for c in cols if looks_categorical(frame[c])]
        if not isinstance(self.categorical, (list, tuple, set, np.ndarray, pd.Index)):
            raise BnemTypeError(f"categorical must be 'auto', 'all' or a list of column names, "
                                f"got {self.categorical!r}")
        named = [str(c) for c in self.categorical]
        covariates = sorted(set(named) & set(getattr(self, "_covariates", ())))
        if covariates:
            raise BnemValueError(f"categorical names {covariates}, which are covariates, not "
                                 "items (a categorical covariate is dummy coded on its own)")
        unknown = sorted(set(named) - set(cols))
        if unknown:
            raise BnemValueError(f"categorical names column(s) {unknown} that X does not have; "
                                 f"columns are {cols}")
        return [c for c in cols if c in named]


def _parameter_rows(network: BayesianNetwork) -> pd.DataFrame:
    """``node``, ``parents``, ``state``, ``estimate`` of every parameter, laid out as
    :func:`bnem.standard_errors` lays them out (without ``se``)."""
    rows = []
    for node in network.nodes:
        frame = network.cpd(node).to_frame()
        for config, values in frame.iterrows():
            labels = config if isinstance(config, tuple) else (config,)
            parents = ", ".join(f"{k}={v}" for k, v in zip(frame.index.names, labels)
                                if k is not None)
            for state, value in values.items():
                rows.append({"node": node, "parents": parents, "state": str(state),
                             "estimate": float(value)})
    return pd.DataFrame(rows, columns=["node", "parents", "state", "estimate"])


def _weights(sample_weight: Any, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    check_weights(sample_weight)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,) or not (np.isfinite(w) & (w >= 0)).all():
        raise BnemValueError(f"sample_weight must hold {n} finite weights >= 0, got shape "
                             f"{w.shape}")
    return w
