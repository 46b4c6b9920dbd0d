"""Latent class regression: class membership that depends on covariates (models layer).

The model of poLCA's ``cbind(items) ~ x`` and stepmix's structural covariate model: a
hidden class ``C`` is the parent of every item, as in a latent-class model, and its
distribution depends on observed covariates ``z`` through a softmax,
``P(C = k | z) = softmax_k(b_k + w_k . z)`` with the first class as reference
(``b_0 = w_0 = 0``). Covariates are conditioned on, not modelled: the likelihood is
``sum_rows log sum_k P(C = k | z) P(items | C = k)`` and every covariate must be
observed in every row.

EM, exactly:

* E-step: ``log P(items_n | C = k)`` for every row and class by the network's own
  exact inference (each row once per class, with the class observed and a uniform
  class table; missing items summed out), and the responsibilities
  ``r_nk = P(C = k | items_n, z_n)``.
* M-step of the items: each row once per class with the class observed and weight
  ``w_n r_nk``, one EM step of :func:`bnem.fit` from the current CPDs (which is the
  exact M-step: its E-step over missing item cells is conditional on the class).
* M-step of the coefficients: a weighted multinomial logistic regression of ``r`` on
  ``z``, by Newton's method with step halving, so every step raises the expected
  complete-data log-likelihood (generalised EM). The observed log-likelihood therefore
  never falls; the loop checks it at every iteration.

Numeric covariates are centred and scaled inside (for the conditioning of Newton's
method) and their coefficients reported on the original scale; categorical ones are
dummy coded with their first level as reference.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..em.loop import fit as em_fit
from ..errors import (BnemTypeError, BnemValueError, ConvergenceWarning, DataError,
                      DegenerateWarning, MonotonicityError)
from ..data.variables import value_label
from ..network.bayesnet import BayesianNetwork

CLASS = "class"
DIVERGED = 30.0  # |coefficient| per standard deviation beyond which separation is warned
MONOTONE_RTOL = 1e-9


@dataclass(frozen=True)
class Design:
    """How covariate columns become the design matrix ``[1, z]``."""

    covariates: tuple[str, ...]
    columns: tuple[str, ...]                  # design columns after dummy coding
    center: np.ndarray                        # per design column (0 for dummies)
    scale: np.ndarray                         # per design column (1 for dummies)
    levels: dict = field(default_factory=dict)  # categorical covariate -> its levels

    @classmethod
    def of(cls, frame: pd.DataFrame, covariates: tuple[str, ...]) -> "Design":
        columns: list[str] = []
        center: list[float] = []
        scale: list[float] = []
        levels: dict[str, list] = {}
        for c in covariates:
            col = frame[c]
            _check_observed(col, c)
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                x = col.to_numpy(dtype=float)
                sd = float(np.std(x))
                if not sd > 0:
                    raise BnemValueError(f"covariate {c!r} is constant ({x[0]!r} in every row); "
                                         "it cannot be told from the intercept: drop it")
                columns.append(c)
                center.append(float(np.mean(x)))
                scale.append(sd)
            else:
                # the levels that occur (a declared but unused category has no rows to
                # estimate its coefficient from), in the categories' order if declared
                seen = list(col.cat.remove_unused_categories().cat.categories) \
                    if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.unique(), key=str)
                if len(seen) < 2:
                    raise BnemValueError(f"covariate {c!r} has one value ({seen[0]!r}) in every "
                                         "row; it cannot be told from the intercept: drop it")
                levels[c] = seen
                for level in seen[1:]:
                    columns.append(f"{c}[{level}]")
                    center.append(0.0)
                    scale.append(1.0)
        return cls(tuple(covariates), tuple(columns), np.array(center), np.array(scale), levels)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """``(n, 1 + len(columns))``: the intercept, then the scaled design columns."""
        n = len(frame)
        parts = [np.ones((n, 1))]
        for c in self.covariates:
            if c not in frame.columns:
                raise BnemValueError(f"X has no column {c!r}, a covariate of the model")
            col = frame[c]
            _check_observed(col, c)
            if c in self.levels:
                known = self.levels[c]
                odd = ~col.isin(known)
                if odd.any():
                    raise BnemValueError(
                        f"covariate {c!r}: value {col[odd].iloc[0]!r} (row "
                        f"{col.index[np.flatnonzero(odd.to_numpy())[0]]!r}) was not seen in "
                        f"fitting; known values are {known}")
                parts.append(np.column_stack([(col == level).to_numpy(dtype=float)
                                              for level in known[1:]]))
            else:
                x = pd.to_numeric(col, errors="coerce")
                if x.isna().any():
                    r = int(np.flatnonzero(x.isna().to_numpy())[0])
                    raise BnemValueError(f"covariate {c!r}: value {col.iloc[r]!r} (row "
                                         f"{col.index[r]!r}) is not a number")
                parts.append(x.to_numpy(dtype=float)[:, None])
        z = np.hstack(parts)
        z[:, 1:] = (z[:, 1:] - self.center) / self.scale
        return z

    def original(self, coef: np.ndarray) -> np.ndarray:
        """Coefficients on the scaled design, ``(K, 1 + p)``, on the original scale."""
        out = coef.copy()
        out[:, 1:] = coef[:, 1:] / self.scale
        out[:, 0] = coef[:, 0] - (coef[:, 1:] * (self.center / self.scale)).sum(axis=1)
        return out


def _check_observed(col: pd.Series, name: str) -> None:
    missing = col.isna().to_numpy()
    if missing.any():
        r = int(np.flatnonzero(missing)[0])
        raise DataError(f"covariate {name!r} is missing in {int(missing.sum())} row(s) (first "
                        f"row {col.index[r]!r}); latent class regression conditions on the "
                        "covariates, so each row needs them: drop or impute those rows")


def log_softmax(z: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``(n, K)``: ``log P(C = k | z)`` for coefficients ``coef (K, 1 + p)``."""
    eta = z @ coef.T
    top = eta.max(axis=1, keepdims=True)
    return eta - top - np.log(np.exp(eta - top).sum(axis=1, keepdims=True))


def softmax_mstep(z: np.ndarray, r: np.ndarray, w: np.ndarray, coef: np.ndarray,
                  max_steps: int = 50) -> np.ndarray:
    """The coefficients that raise ``sum_n w_n sum_k r_nk log P(C = k | z_n)`` from
    ``coef``: Newton steps on classes 1.., each halved until the objective does not
    fall (a step that cannot raise it ends the search)."""
    k, p = coef.shape
    if k == 1:
        return coef
    wr = w[:, None] * r
    logp = log_softmax(z, coef)
    current = float(np.sum(wr * logp))
    for _ in range(max_steps):
        pi = np.exp(logp)
        grad = (wr[:, 1:] - w[:, None] * pi[:, 1:]).T @ z              # (K-1, p)
        hess = np.empty((k - 1, p, k - 1, p))
        for a in range(1, k):
            for b in range(1, k):
                s = w * pi[:, a] * ((a == b) - pi[:, b])
                hess[a - 1, :, b - 1, :] = (z * s[:, None]).T @ z
        h = hess.reshape((k - 1) * p, (k - 1) * p)
        h = h + 1e-10 * max(float(np.trace(h)) / h.shape[0], 1e-300) * np.eye(h.shape[0])
        try:
            step = np.linalg.solve(h, grad.ravel())
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(h, grad.ravel(), rcond=None)[0]
        t = 1.0
        while t > 1e-8:
            trial = coef.copy()
            trial[1:] += t * step.reshape(k - 1, p)
            trial_logp = log_softmax(z, trial)
            value = float(np.sum(wr * trial_logp))
            if value >= current:
                break
            t /= 2
        else:
            return coef
        gain = value - current
        coef, current, logp = trial, value, trial_logp
        if gain <= 1e-13 * max(1.0, abs(current)) or np.max(np.abs(t * step)) < 1e-10:
            break
    return coef


def log_items_given_class(network: BayesianNetwork, items: pd.DataFrame, k: int) -> np.ndarray:
    """``(n, K)``: ``log P(items_n | C = k)``, missing items summed out (the network's
    class table is replaced by a uniform one; each row is scored once per class)."""
    uniform = network.with_cpds({CLASS: np.full(k, 1.0 / k)})
    stacked = _stacked(items, k)
    lp = np.asarray(uniform.log_prob(stacked)).reshape(k, len(items)).T
    return lp + math.log(k)


def _stacked(items: pd.DataFrame, k: int) -> pd.DataFrame:
    """Every row once per class, the class observed (class-major)."""
    frames = [items.assign(**{CLASS: str(c)}) for c in range(k)]
    out = pd.concat(frames, ignore_index=True)
    out[CLASS] = pd.Categorical(out[CLASS], categories=[str(c) for c in range(k)])
    return out


def item_mstep(network: BayesianNetwork, items: pd.DataFrame, r: np.ndarray, w: np.ndarray,
               prior: float, min_variance: float) -> tuple[BayesianNetwork, list]:
    """The items' M-step for responsibilities ``r``: one EM step of :func:`bnem.fit` on
    every row once per class (class observed, weight ``w_n r_nk``; rows of weight 0
    left out) from ``network``; the warnings it issued are returned."""
    k = r.shape[1]
    stacked = _stacked(items, k)
    weights = (r * w[:, None]).T.ravel()
    keep = weights > 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = em_fit(network, stacked[keep], init="network", max_iter=1, tol=0.0,
                     accelerate="none", sample_weight=weights[keep], prior=prior,
                     min_variance=min_variance, seed=0)
    kept = [c for c in caught if not issubclass(c.category, ConvergenceWarning)]
    return res.network, kept


class CategoricalItems:
    """The E- and M-steps of items that are all categorical children of the class only
    (a latent-class model without numeric items) in closed form, vectorised over rows:
    ``log P(items_n | k) = sum_j log theta_j[k, x_nj]`` over the observed answers, and
    expected counts in which a missing answer of a row counts ``theta_j[k, s]`` for
    each state (what the network's exact E-step gives for such a network)."""

    def __init__(self, network: BayesianNetwork, items: pd.DataFrame) -> None:
        self.names = list(items.columns)
        self.codes = []
        for name in self.names:
            lookup = {s: i for i, s in enumerate(network.states(name))}
            raw, uniques = pd.factorize(items[name], use_na_sentinel=True)
            index = np.array([lookup.get(value_label(u), -2) for u in uniques] + [-1],
                             dtype=np.int64)
            codes = index[raw]                    # raw -1 (missing) picks the last entry
            if (codes == -2).any():  # not reached for the data of the fit
                raise DataError(f"item {name!r} holds a value that is not one of its states")
            self.codes.append(codes)
        self.cards = [len(network.states(n)) for n in self.names]

    @staticmethod
    def applies(network: BayesianNetwork, items: pd.DataFrame) -> bool:
        return not network.continuous_nodes and all(
            network.parents(n) == (CLASS,) for n in items.columns) and \
            set(network.nodes) == {CLASS, *items.columns}

    def log_given_class(self, tables: list[np.ndarray]) -> np.ndarray:
        n, k = len(self.codes[0]) if self.codes else 0, tables[0].shape[0]
        out = np.zeros((n, k))
        with np.errstate(divide="ignore"):
            for codes, table in zip(self.codes, tables):
                # one row per state, then a row of zeros that a missing answer (-1) picks
                logs = np.vstack([np.log(table.T), np.zeros((1, k))])
                out += logs[codes]
        return out

    def maximize(self, tables: list[np.ndarray], r: np.ndarray, w: np.ndarray,
                 prior: float) -> tuple[list[np.ndarray], list[str]]:
        wr = r * w[:, None]                                   # (n, K)
        out, empty = [], []
        for name, codes, table, card in zip(self.names, self.codes, tables, self.cards):
            slot = np.where(codes >= 0, codes, card)            # missing: slot ``card``
            counts = np.stack([np.bincount(slot, weights=wr[:, c], minlength=card + 1)
                               for c in range(wr.shape[1])])
            counts = counts[:, :card] + counts[:, card:] * table  # missing answers
            counts += prior
            total = counts.sum(axis=1, keepdims=True)
            if (total <= 0).any():
                empty.append(name)
            out.append(np.where(total > 0, counts / np.where(total > 0, total, 1.0),
                                1.0 / card))
        return out, empty


@dataclass
class RegressionFit:
    network: BayesianNetwork      # the items' CPDs (the class table: mean responsibilities)
    coef: np.ndarray              # (K, 1 + p) on the scaled design
    history: pd.DataFrame
    log_likelihood: float
    n_iter: int
    converged: bool
    responsibilities: np.ndarray


def fit_regression(network: BayesianNetwork, items: pd.DataFrame, z: np.ndarray,
                   w: np.ndarray, tol: float, max_iter: int, prior: float,
                   min_variance: float, closed_form: bool = True,
                   accelerate: bool = True) -> RegressionFit:
    """EM for latent class regression from ``network`` (a fitted latent-class model:
    its item CPDs, and its class table as the intercepts) and no slopes.

    Categorical items only: the items' steps in closed form (:class:`CategoricalItems`,
    unless ``closed_form`` is False) and, with ``accelerate``, SQUAREM over the items'
    log probabilities and the coefficients (an extrapolated point is kept only when its
    objective is at least the second EM step's; every iteration is three E-steps).
    Otherwise plain EM by the network's inference and M-step. ``tol`` is per row: EM
    stops when an iteration raises the objective by less than ``tol`` times the rows."""
    if not isinstance(items, pd.DataFrame):
        raise BnemTypeError("items must be a DataFrame")
    k = len(network.states(CLASS))
    sizes = np.clip(np.asarray(network.cpd(CLASS).values, dtype=float), 1e-12, None)
    coef = np.zeros((k, z.shape[1]))
    coef[:, 0] = np.log(sizes) - math.log(sizes[0])
    total = float(w.sum())
    fast = CategoricalItems(network, items) \
        if closed_form and CategoricalItems.applies(network, items) else None
    items_now: Any = [np.asarray(network.cpd(n).values, dtype=float) for n in items.columns] \
        if fast is not None else network
    caught: list = []

    def estep(params: tuple, strict: bool = True) -> tuple[float, float, np.ndarray]:
        held, c = params
        given = fast.log_given_class(held) if fast is not None else \
            log_items_given_class(held, items, k)
        joint = log_softmax(z, c) + given
        top = joint.max(axis=1, keepdims=True)
        if not strict and not np.isfinite(top).all():  # an extrapolation gone too far
            return -math.inf, -math.inf, np.zeros_like(joint)
        if not np.isfinite(top).all():
            bad = int(np.flatnonzero(~np.isfinite(top[:, 0]))[0])
            raise DataError(f"row {items.index[bad]!r} has probability zero under every class "
                            "(an answer no class gives any probability); use prior > 0")
        ll_rows = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
        ll = float(w @ ll_rows)
        objective = ll + (_log_prior_tables(held, prior) if fast is not None
                          else _log_prior(held, prior))
        return objective, ll, np.exp(joint - ll_rows[:, None])

    def mstep(params: tuple, r: np.ndarray) -> tuple:
        held, c = params
        if fast is not None:
            held, empty = fast.maximize(held, r, w, prior)
            caught[:] = [warnings.WarningMessage(
                f"latent class regression: no class weight for item(s) {empty} in some "
                "class; their answer probabilities there stay uniform", DegenerateWarning,
                "", 0)] if empty else []
        else:
            held, caught[:] = item_mstep(held, items, r, w, prior, min_variance)
        return held, softmax_mstep(z, r, w, c)

    point = (items_now, coef)
    objective, ll, r = estep(point)
    rows = [(0, ll, math.nan, "start")]
    converged, it = False, 0
    squarem = accelerate and fast is not None and k > 1
    for it in range(1, max_iter + 1):
        prev, start = objective, point
        p1 = mstep(point, r)
        o1, l1, r1 = estep(p1)
        step = "em"
        if squarem:
            p2 = mstep(p1, r1)
            o2, l2, r2 = estep(p2)
            point, objective, ll, r = p2, o2, l2, r2
            trial = _squarem_point(start, p1, p2)
            if trial is not None:
                ot, lt, rt = estep(trial, strict=False)
                if ot >= o2:
                    point, objective, ll, r, step = trial, ot, lt, rt, "squarem"
        else:
            point, objective, ll, r = p1, o1, l1, r1
        delta = objective - prev
        if objective < prev - MONOTONE_RTOL * max(1.0, abs(prev)):
            raise MonotonicityError(
                f"latent class regression: the objective fell at iteration {it}: "
                f"{prev:.12g} -> {objective:.12g}. This is a bug in bnem; please report it.")
        rows.append((it, ll, delta, step))
        if delta <= tol * total:
            converged = True
            break
    held, coef = point
    if fast is not None:
        sizes = (w @ r) / total
        network = network.with_cpds({CLASS: sizes / sizes.sum(),
                                     **dict(zip(items.columns, held))})
    else:
        network = held
    for c in _unique(caught):
        warnings.warn(c.message, c.category, stacklevel=4)
    if np.max(np.abs(coef[:, 1:]), initial=0.0) > DIVERGED:
        warnings.warn("latent class regression: some coefficients exceed "
                      f"{DIVERGED:g} per standard deviation of their covariate: the "
                      "covariates (nearly) separate the classes, and those coefficients "
                      "grow without bound as EM goes on; read them as very large",
                      DegenerateWarning, stacklevel=4)
    history = pd.DataFrame(rows, columns=["iteration", "log_likelihood", "delta", "step"])
    return RegressionFit(network, coef, history, ll, it, converged, r)


def _squarem_point(p0: tuple, p1: tuple, p2: tuple) -> tuple | None:
    """SQUAREM's extrapolation from ``p0`` through two EM steps ``p1``, ``p2``, in the
    items' log probabilities (entries at 0 stay 0) and the coefficients; None when the
    steps are too small to extrapolate or the result is not finite."""
    def vec(p: tuple) -> np.ndarray:
        held, c = p
        with np.errstate(divide="ignore"):
            logs = [np.log(t).ravel() for t in held]
        return np.concatenate(logs + [c[1:].ravel()])
    x0, x1, x2 = vec(p0), vec(p1), vec(p2)
    # log probabilities near 0 (running off to -inf at a steady pace) are left as the
    # second EM step has them: extrapolated, they would swamp the others
    tiny = math.log(1e-10)
    finite = np.isfinite(x0) & np.isfinite(x1) & np.isfinite(x2)
    n_coef = x0.size - sum(t.size for t in p0[0])
    finite[:x0.size - n_coef] &= (x2[:x0.size - n_coef] > tiny)
    r = np.where(finite, x1 - x0, 0.0)
    v = np.where(finite, x2 - x1, 0.0) - r
    rr, vv = float(r @ r), float(v @ v)
    if not (rr > 0 and vv > 0):
        return None
    alpha = min(-math.sqrt(rr / vv), -1.0)
    x = np.where(finite, x0 - 2 * alpha * r + alpha ** 2 * v, x2)
    if not np.all(np.isfinite(x[finite])):
        return None
    held, c = p2
    out, pos = [], 0
    for t in held:
        logs = x[pos:pos + t.size].reshape(t.shape)
        pos += t.size
        top = logs.max(axis=1, keepdims=True)
        e = np.exp(logs - top)
        out.append(e / e.sum(axis=1, keepdims=True))
    coef = c.copy()
    coef[1:] = x[pos:].reshape(c[1:].shape)
    return out, coef


def _log_prior(network: BayesianNetwork, prior: float) -> float:
    """The items' Dirichlet term of the MAP objective (the class table is not a
    parameter here)."""
    if not prior:
        return 0.0
    total = 0.0
    for node in network.discrete_nodes:
        if node != CLASS:
            with np.errstate(divide="ignore"):
                total += prior * float(np.sum(np.log(network.cpd(node).values)))
    return total


def _log_prior_tables(tables: list[np.ndarray], prior: float) -> float:
    if not prior:
        return 0.0
    with np.errstate(divide="ignore"):
        return prior * float(sum(np.sum(np.log(t)) for t in tables))


def _unique(caught: list) -> list:
    seen, out = set(), []
    for c in caught:
        key = (c.category, str(c.message))
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def standard_errors(network: BayesianNetwork, items: pd.DataFrame, z: np.ndarray,
                    w: np.ndarray, coef: np.ndarray, design: Design,
                    step: float = 1e-5) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Standard errors from the observed information, for categorical items.

    The free parameters are the coefficients of classes 1.. (on the scaled design) and,
    per item and class, the log-odds of states 1.. against state 0. The gradient of the
    observed log-likelihood is exact (Fisher's identity: the E-step's responsibilities);
    its central differences give the observed information, whose inverse is the
    covariance. Coefficients are carried to the covariates' own scale, and response
    probabilities get theirs by the delta method. A probability below 1e-8 (on the
    boundary, where log-odds run off) holds its item's distribution in that class fixed:
    their standard errors are NaN. Returns ``(coef_se (K, 1 + p), {item: se (K, S)})``;
    NaN throughout when the information is singular.
    """
    if not CategoricalItems.applies(network, items):
        raise BnemValueError("standard errors of a latent class regression need categorical "
                             "items only (no numeric ones) for now")
    fast = CategoricalItems(network, items)
    k, p = coef.shape
    names = list(items.columns)
    tables = [np.asarray(network.cpd(n).values, dtype=float) for n in names]
    free_items = [(j, c) for j, t in enumerate(tables) for c in range(k)
                  if t[c].min() >= 1e-8 and t.shape[1] > 1]
    n_coef = (k - 1) * p

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        c = coef.copy()
        c[1:] = theta[:n_coef].reshape(k - 1, p)
        ts = [t.copy() for t in tables]
        pos = n_coef
        for j, cls in free_items:
            s = ts[j].shape[1]
            eta = np.concatenate([[0.0], theta[pos:pos + s - 1]])
            pos += s - 1
            e = np.exp(eta - eta.max())
            ts[j][cls] = e / e.sum()
        return c, ts

    def gradient(theta: np.ndarray) -> np.ndarray:
        c, ts = unpack(theta)
        joint = log_softmax(z, c) + fast.log_given_class(ts)
        top = joint.max(axis=1, keepdims=True)
        r = np.exp(joint - top)
        r /= r.sum(axis=1, keepdims=True)
        pi = np.exp(log_softmax(z, c))
        parts = [((w[:, None] * (r - pi))[:, 1:]).T @ z]
        wr = w[:, None] * r
        for j, cls in free_items:
            codes, s = fast.codes[j], ts[j].shape[1]
            seen = codes >= 0
            counts = np.bincount(codes[seen], weights=wr[seen, cls], minlength=s)
            parts.append(counts[1:] - counts.sum() * ts[j][cls][1:])
        return np.concatenate([x.ravel() for x in parts])

    theta0 = [coef[1:].ravel()]
    for j, cls in free_items:
        theta0.append(np.log(tables[j][cls][1:] / tables[j][cls][0]))
    theta = np.concatenate(theta0)
    hess = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[i] += step
        down[i] -= step
        hess[:, i] = (gradient(up) - gradient(down)) / (2 * step)
    info = -(hess + hess.T) / 2
    coef_se = np.full(coef.shape, np.nan)
    item_se = {n: np.full(t.shape, np.nan) for n, t in zip(names, tables)}
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return coef_se, item_se
    if not np.all(np.isfinite(cov)) or np.any(np.diagonal(cov) <= 0):
        return coef_se, item_se
    coef_se[0] = 0.0                    # the reference class: fixed at 0
    cc = cov[:n_coef, :n_coef]
    to_original = np.eye(p)
    to_original[0, 1:] = -design.center / design.scale
    to_original[1:, 1:] = np.diag(1.0 / design.scale)
    for c in range(1, k):
        block = cc[(c - 1) * p:c * p, (c - 1) * p:c * p]
        coef_se[c] = np.sqrt(np.clip(np.diagonal(to_original @ block @ to_original.T), 0, None))
    pos = n_coef
    for j, cls in free_items:
        t = tables[j][cls]
        s = t.size
        block = cov[pos:pos + s - 1, pos:pos + s - 1]
        pos += s - 1
        jac = (np.diag(t) - np.outer(t, t))[:, 1:]
        item_se[names[j]][cls] = np.sqrt(np.clip(np.diagonal(jac @ block @ jac.T), 0, None))
    return coef_se, item_se
