"""Choosing the number of states of a latent node: fit indices over k (models layer).

:func:`select_cardinality` refits a network with a latent node given k = 1, 2, ...
states and tabulates what latent-class software reports for each k: log-likelihood,
free parameters, AIC, BIC, sample-size-adjusted BIC (SABIC), consistent AIC (CAIC) and
the entropy R² of the classification, with the best k by each criterion.

With ``n`` rows (the total weight with ``sample_weight``: a table of response patterns
with counts gives the same indices as its expanded rows), ``p`` free parameters and ``L`` the log-likelihood:
``AIC = -2L + 2p``, ``BIC = -2L + p log n``, ``SABIC = -2L + p log((n + 2) / 24)``,
``CAIC = -2L + p (log n + 1)``, and entropy R² ``= 1 - sum_rows H(class | row) /
(n log k)`` (1: every row classified with certainty; undefined for k = 1). SABIC's
penalty is negative below 22 rows, where it favours the largest k: read it only on
larger samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .._validation import check_int
from ..data.variables import Variable
from .estimator_fit import fit_for_estimator as fit_at_users_line
from ..errors import BnemTypeError, BnemValueError
from ..network.bayesnet import BayesianNetwork, as_network

CRITERIA = ("aic", "bic", "sabic", "caic")


def with_cardinality(network: BayesianNetwork, node: str, k: int) -> BayesianNetwork:
    """``network`` with ``node`` given states ``"0"`` .. ``"k-1"`` (default CPDs), its
    shared and tied blocks kept, and its held CPDs and entries kept with their values
    (those of a family that involves ``node`` cannot be: an error says so)."""
    variables = [Variable(node, tuple(str(i) for i in range(k))) if v.name == node else v
                 for v in network.variables.values()]
    parents = {n: list(network.parents(n)) for n in network.nodes}
    c = network.constraints
    involved = [n for n in c.held if n == node or node in network.parents(n)]
    if involved:
        raise BnemValueError(f"cannot vary the states of {node!r}: the CPD(s) of {involved}, "
                             "which depend on it, are fixed or hold entries (their values "
                             "have its number of states)")
    kept = {n: network.cpd(n) for n in c.held}
    out = BayesianNetwork(variables, parents, kept, name=network.name)
    for n in c.held:
        out = out.fix(n) if c.is_fixed(n) else out.hold(n, network.held_mask(n))
    for n, form in c.forms.items():  # (absent states kept by name; ``node``'s: its first)
        if form.kind == "Poisson":
            out = out.poisson(n)
            continue
        family = network.parents(n) + (n,)
        spec: Any = form  # a NoisyOr
        out = out.noisy_or(n, absent={v: network.states(v)[a] for v, a in
                                      zip(family, spec.absent) if v != node},
                           leak=spec.leak)
    for name, members in c.shared.items():
        out = out.share(name, members, c.what.get(name, "all"))
    return out.tie_covariance(c.tied) if c.tied else out


def select_cardinality(network: BayesianNetwork, data: Any, node: Any = None,
                       ks: Iterable[int] | None = None,
                       n_init: int = 10, seed: Any = 0, init: str | None = None,
                       **fit_options: Any) -> pd.DataFrame:
    """Fit ``network`` with ``node`` given each number of states in ``ks``.

    ``network`` may also be a :class:`bnem.LatentClassModel`: then
    ``select_cardinality(lca, X, ks)`` (or ``ks=``) fits a clone of it with each number
    of classes, with its own settings (``n_init`` and the other options are its
    parameters; ``sample_weight=`` is passed to its ``fit``), and ``.attrs["fits"]``
    holds the fitted estimators.

    ``node`` must be latent in ``data`` (no column, or an entirely missing one). Every
    fit uses ``n_init`` restarts from ``seed`` (``init``: ``"random-resp"`` for a
    discrete network, the :func:`bnem.fit` default for a hybrid one) and the other
    ``fit_options``.

    Returns
    -------
    pandas.DataFrame
        One row per k: ``k``, ``log_likelihood``, ``n_parameters``, ``aic``, ``bic``,
        ``sabic``, ``caic``, ``entropy_r2``, ``converged``; ``.attrs["best"]`` maps each
        criterion to the k that minimises it, and ``.attrs["fits"]`` holds the
        :class:`~bnem.em.result.FitResult` of each k.

    Raises
    ------
    BnemValueError
        ``node`` not discrete, observed in the data, or ``ks`` empty or not >= 1.
    """
    if not isinstance(network, BayesianNetwork) and hasattr(network, "n_classes") \
            and hasattr(network, "fit"):
        if ks is None and node is not None and not isinstance(node, str):
            node, ks = None, node  # select_cardinality(lca, X, range(1, 5))
        extra = sorted(set(fit_options) - {"sample_weight"})
        extra += [name for name, value, default in (("n_init", n_init, 10), ("seed", seed, 0),
                                                    ("init", init, None)) if value != default]
        if node is not None or extra:
            raise BnemValueError(f"select_cardinality of a {type(network).__name__} takes the "
                                 "data, ks and sample_weight; set the other options on the "
                                 f"estimator (got {['node'] if node is not None else []+ extra})")
        return _select_estimator(network, data, ks, fit_options.get("sample_weight"))
    network = as_network(network, "select_cardinality", data)
    if ks is None:
        raise BnemValueError("select_cardinality needs ks, the numbers of states to try "
                             "(e.g. range(1, 6))")
    if node not in network.discrete_nodes:
        raise BnemValueError(f"node {node!r} is not a discrete node of the network; expected "
                             f"one of {list(network.discrete_nodes)[:10]}")
    if not isinstance(ks, Iterable) or isinstance(ks, str):
        raise BnemTypeError(f"ks must be a list or range of numbers of states, got {ks!r}")
    if init == "network":
        raise BnemValueError("init='network' would start every k from the same default "
                             "(symmetric) tables; select_cardinality needs random starts")
    ks = sorted({check_int(k, "ks", minimum=1) for k in ks})
    if not ks:
        raise BnemValueError("ks is empty; expected numbers of states such as range(1, 6)")
    if isinstance(data, pd.DataFrame) and node in data.columns and data[node].notna().any():
        raise BnemValueError(f"node {node!r} is observed in the data; select_cardinality "
                             "chooses the states of a latent node (drop its column)")
    if fit_options.get("fixed"):  # held with their values before the states are varied
        network = network.fix(fit_options.pop("fixed"))
    weights, rows_only = _weights(data, fit_options.get("sample_weight"))
    init = init or ("random-resp" if not network.is_hybrid else None)
    rows, fits = [], {}
    for k in ks:
        net = with_cardinality(network, node, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            res = fit_at_users_line(net, data, n_init=n_init, seed=seed, init=init,
                                    **fit_options)
        fits[k] = res
        rows.append(_indices(k, res, rows_only, node, weights))
    table = pd.DataFrame(rows)
    table.attrs["best"] = {c: ks[int(np.argmin(table[c].to_numpy()))] for c in CRITERIA}
    table.attrs["fits"] = fits
    return table


def plot_cardinality(table: pd.DataFrame, ax: Any = None,
                     criteria: Iterable[str] = ("aic", "bic", "sabic", "caic")) -> Any:
    """The information criteria of a :func:`select_cardinality` table against k, on
    ``ax`` or a new matplotlib Axes (returned). Needs matplotlib."""
    from ..em.result import new_axes

    if not isinstance(table, pd.DataFrame):
        raise BnemTypeError(f"plot_cardinality takes the table select_cardinality returns, "
                            f"got {type(table).__name__}")
    missing = [c for c in criteria if c not in table.columns]
    if missing or "k" not in table.columns:
        raise BnemValueError(f"expected a select_cardinality table with columns k and "
                             f"{list(criteria)}; missing {missing or ['k']}")
    axes = new_axes(ax)
    for c in criteria:
        axes.plot(table["k"], table[c], marker="o", label=c.upper())
    axes.set_xlabel("number of states (k)")
    axes.set_ylabel("criterion (lower is better)")
    axes.legend()
    return axes


def _weights(data: Any, sample_weight: Any) -> tuple[np.ndarray | None, Any]:
    """The row weights (None: all 1) and the data without a weights column."""
    if sample_weight is None:
        return None, data
    if isinstance(sample_weight, str):
        if not isinstance(data, pd.DataFrame) or sample_weight not in data.columns:
            raise BnemValueError(f"sample_weight={sample_weight!r} names no column of the "
                                 "data; expected the name of a column of counts")
        return pd.to_numeric(data[sample_weight], errors="coerce").to_numpy(dtype=float), \
            data.drop(columns=sample_weight)
    return np.asarray(sample_weight, dtype=float), data  # fit checks shape and values


def _indices(k: int, res: Any, data: Any, node: str, weights: np.ndarray | None) -> dict:
    n = float(res.n_rows) if weights is None else float(weights.sum())  # respondents
    post = res.network.posterior(data, node).to_numpy() if k > 1 else None
    return {"k": k, **fit_indices(res.log_likelihood, res.network.n_parameters, n, post,
                                  weights), "converged": res.converged}


def fit_indices(ll: float, p: int, n: float, post: np.ndarray | None,
                weights: np.ndarray | None = None) -> dict:
    """``log_likelihood``, ``n_parameters``, AIC, BIC, SABIC, CAIC and the entropy R² of
    the class posteriors ``post`` (rows x k; ``None`` or one column: NaN), for ``n``
    rows (the total weight) and ``p`` free parameters (see the module docstring)."""
    row = {"log_likelihood": ll, "n_parameters": p, "aic": -2 * ll + 2 * p,
           "bic": -2 * ll + p * math.log(n), "sabic": -2 * ll + p * math.log((n + 2) / 24),
           "caic": -2 * ll + p * (math.log(n) + 1), "entropy_r2": np.nan}
    if post is not None and post.shape[1] > 1:
        h_row = -np.sum(np.where(post > 0, post * np.log(np.where(post > 0, post, 1.0)), 0.0),
                        axis=1)
        h = float(h_row.sum() if weights is None else weights @ h_row)
        row["entropy_r2"] = 1.0 - h / (n * math.log(post.shape[1]))
    return row


def _select_estimator(estimator: Any, data: Any, ks: Any,
                      sample_weight: Any = None) -> pd.DataFrame:
    """:func:`select_cardinality` for a :class:`~bnem.LatentClassModel`: a clone with each
    number of classes, fitted with the estimator's own settings."""
    from sklearn.base import clone

    if not isinstance(ks, Iterable) or isinstance(ks, str):
        raise BnemTypeError(f"ks must be a list or range of numbers of classes, got {ks!r}")
    ks = sorted({check_int(k, "ks", minimum=1) for k in ks})
    if not ks:
        raise BnemValueError("ks is empty; expected numbers of classes such as range(1, 6)")
    rows, fits = [], {}
    for k in ks:
        est = clone(estimator).set_params(n_classes=k)
        est.fit(data, sample_weight=sample_weight)
        fits[k] = est
        rows.append({"k": k, **est.criteria(data, sample_weight=sample_weight),
                     "converged": est.converged_})
    table = pd.DataFrame(rows)
    table.attrs["best"] = {c: ks[int(np.argmin(table[c].to_numpy()))] for c in CRITERIA}
    table.attrs["fits"] = fits
    return table
