"""Model choice and anomaly scores from a fitted network (models layer)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._validation import check_float
from ..data.source import DataSource, Kind, as_frames, as_source
from ..errors import BnemTypeError, BnemValueError
from ..network.bayesnet import BayesianNetwork, as_network


def _network(network):
    return as_network(network, "the score", needs_cpds=True)


def bic(network: BayesianNetwork, data: DataSource) -> float:
    """Bayesian information criterion ``-2 log L + p log n`` (lower is better).

    ``p`` is :attr:`BayesianNetwork.n_parameters` (for a Gaussian mixture the same
    count as scikit-learn's: ``K - 1`` weights, ``K d`` means and the covariance
    entries) and ``n`` the number of rows of ``data``.

    >>> net = BayesianNetwork({"rain": ["yes", "no"]}, cpds={"rain": [0.5, 0.5]})
    >>> data = pd.DataFrame({"rain": ["yes", "no", "no", "no"]})
    >>> bool(np.isclose(bic(net, data), 8 * math.log(2) + 1 * math.log(4)))
    True
    """
    total, n = _sum_and_count(_network(network).log_prob(data))  # one pass, any source
    return -2.0 * total + network.n_parameters * math.log(n)


def aic(network: BayesianNetwork, data: DataSource) -> float:
    """Akaike information criterion ``-2 log L + 2 p`` (lower is better).

    >>> net = BayesianNetwork({"rain": ["yes", "no"]}, cpds={"rain": [0.5, 0.5]})
    >>> data = pd.DataFrame({"rain": ["yes", "no", "no", "no"]})
    >>> bool(np.isclose(aic(net, data), 8 * math.log(2) + 2 * 1))
    True
    """
    ll = _network(network).log_likelihood(data)
    return -2.0 * ll + 2.0 * network.n_parameters


def anomaly_threshold(network: BayesianNetwork, data: DataSource,
                      quantile: float = 0.01) -> float:
    """The ``quantile`` of the per-row log densities ``log p(x)`` of ``data``.

    Computed on the training data, rows scoring below it are the rarest
    ``quantile`` fraction of what the model has seen. Rows impossible under the
    network (``-inf``) are left out of the quantile (they are always flagged).
    """
    quantile = check_float(quantile, "quantile", minimum=0.0, maximum=1.0)
    return _quantile(_scores(network, data), quantile)


def _scores(network: BayesianNetwork, data: DataSource) -> np.ndarray:
    """Per-row log densities as an array (a Dask DataFrame's are gathered: the quantile
    is exact)."""
    scores = _network(network).log_prob(data)
    if as_source(data).kind is Kind.DASK:
        return scores.compute().to_numpy()
    return np.asarray(scores)


def _sum_and_count(scores: object) -> tuple[float, int]:
    if as_source(scores).kind is Kind.DASK:
        import dask
        total, n = dask.compute(scores.sum(), scores.count())  # type: ignore[attr-defined]
        return float(total), int(n)
    values = np.asarray(scores)
    return float(values.sum()), int(values.size)


def _quantile(scores: np.ndarray, quantile: float) -> float:
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        raise BnemValueError("every row of the reference data has probability zero under the "
                             "network; no threshold can be taken from it")
    return float(np.quantile(finite, quantile))


def flag_anomalies(network: BayesianNetwork, data: DataSource, threshold: float | None = None,
                   reference: DataSource | None = None, quantile: float = 0.01) -> pd.DataFrame:
    """Score every row by ``log p(x)`` (missing cells marginalised) and flag the rare ones.

    Parameters
    ----------
    network : BayesianNetwork
    data : pandas.DataFrame
        Rows to score.
    threshold : float, optional
        Flag rows with ``log p(x) < threshold``.
    reference : pandas.DataFrame, optional
        Without ``threshold``, it is the ``quantile`` of the scores of ``reference``
        (the training data); without either, of ``data`` itself.
    quantile : float

    Returns
    -------
    pandas.DataFrame
        Indexed like ``data``: ``log_prob`` and ``anomaly`` (bool); the threshold
        used is in ``.attrs["threshold"]``.

    Examples
    --------
    >>> net = BayesianNetwork({"rain": ["yes", "no"]}, cpds={"rain": [0.2, 0.8]})
    >>> flag_anomalies(net, pd.DataFrame({"rain": ["no", "yes", None]}), threshold=-1.0)
       log_prob  anomaly
    0 -0.223144    False
    1 -1.609438     True
    2  0.000000    False
    """
    if threshold is not None and reference is not None:
        raise BnemValueError("give either threshold or reference data, not both")
    quantile = check_float(quantile, "quantile", minimum=0.0, maximum=1.0)
    if as_source(data).kind is Kind.DASK:
        raise BnemTypeError("flag_anomalies returns one row per input row; for a Dask "
                            "DataFrame use network.log_prob(ddf) (a Dask Series) and compare "
                            "it with anomaly_threshold(network, reference)")
    frames = as_frames(data)  # an iterator of parts is read once
    scores = _scores(network, frames)
    if threshold is None:
        threshold = _quantile(scores if reference is None else _scores(network, reference),
                              quantile)
    else:
        threshold = check_float(threshold, "threshold")
    index = frames.index if isinstance(frames, pd.DataFrame) else \
        frames[0].index.append([f.index for f in frames[1:]]) \
        if isinstance(frames, list) and isinstance(frames[0], pd.DataFrame) else \
        pd.RangeIndex(len(scores))
    out = pd.DataFrame({"log_prob": scores, "anomaly": scores < threshold}, index=index)
    out.attrs["threshold"] = threshold
    return out
