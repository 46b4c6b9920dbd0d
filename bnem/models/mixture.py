"""Gaussian mixtures as networks: a hidden discrete parent with Gaussian children.

A full-covariance mixture on columns ``x1..xd`` is ``Z -> x1..xd`` plus the chain
``x1 -> x2 -> ... `` (every ``xj`` has parents ``Z, x1..x(j-1)``): the regressions of
each column on the earlier ones, per component, are exactly a full covariance
matrix written as a product of triangular factors. A diagonal mixture has no edges
among the columns. A tied mixture (one covariance for every component) is the full
one with each column's regression tied across the components
(:meth:`BayesianNetwork.tie_covariance`); a spherical one (one variance per
component) the diagonal one whose columns share their variance
(``share(..., what="variance")``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from .._validation import check_choice, check_int
from ..errors import BnemTypeError, NetworkError
from ..inference.gaussian import components, joint
from ..network.bayesnet import BayesianNetwork, as_network
from ..network.cpd import TabularCPD

COVARIANCES = ("full", "diag", "tied", "spherical")
SPHERICAL_BLOCK = "spherical"  # the name of a spherical mixture's shared variance


def gaussian_mixture(columns: Iterable[str], n_components: int, covariance: str = "full",
                     weights: ArrayLike | None = None, means: ArrayLike | None = None,
                     covariances: ArrayLike | None = None, hidden: str = "component",
                     name: str = "gaussian-mixture") -> BayesianNetwork:
    """A Gaussian mixture model over ``columns`` as a hybrid network.

    Parameters
    ----------
    columns : sequence of str
        Names of the continuous columns (in this order for ``means``/``covariances``).
    n_components : int
        States of the hidden node, named ``"0"``, ``"1"``, ...
    covariance : {"full", "diag", "tied", "spherical"}
        As scikit-learn's ``covariance_type``: a full matrix per component, a diagonal
        one, one full matrix for all components, one variance per component.
    weights : array_like (K,), optional
        Mixing proportions (default uniform).
    means : array_like (K, d), optional
        Component means (default zeros).
    covariances : array_like, optional
        ``(K, d, d)`` symmetric positive definite matrices for ``"full"``, ``(K, d)``
        variances for ``"diag"``, one ``(d, d)`` matrix for ``"tied"``, ``(K,)``
        variances for ``"spherical"`` (default identity).
    hidden : str
        Name of the hidden node.

    Returns
    -------
    BayesianNetwork
        Fit it with :func:`bnem.fit` (which starts from k-means++ by default; pass
        ``init="network"`` to start from the parameters given here).

    Raises
    ------
    NetworkError
        Bad shapes, weights not summing to 1, a covariance that is not symmetric
        positive definite (naming the component), a repeated column.

    Examples
    --------
    >>> gm = gaussian_mixture(["vibration", "heat"], 2)
    >>> gm.parents("heat")
    ('component', 'vibration')
    """
    cols = _columns(columns, hidden)
    k = check_int(n_components, "n_components", minimum=1)
    check_choice(covariance, "covariance", COVARIANCES)
    d = len(cols)
    w = np.full(k, 1.0 / k) if weights is None else _array(weights, "weights", (k,))
    mu = np.zeros((k, d)) if means is None else _array(means, "means", (k, d))
    if covariance == "tied" and covariances is not None:
        covariances = np.broadcast_to(_array(covariances, "covariances", (d, d)), (k, d, d))
    if covariance == "spherical" and covariances is not None:
        covariances = np.outer(_array(covariances, "covariances", (k,)), np.ones(d))
    if covariance in ("full", "tied"):
        cov = np.broadcast_to(np.eye(d), (k, d, d)) if covariances is None else \
            _array(covariances, "covariances", (k, d, d))
        _check_spd(cov)
    else:
        var = np.ones((k, d)) if covariances is None else _array(covariances, "covariances", (k, d))
        if not (var > 0).all():
            c, j = np.argwhere(~(var > 0))[0]
            raise NetworkError(f"covariances: variance of {cols[j]!r} in component {c} must be "
                               f"> 0, got {var[c, j]!r}")
        cov = np.einsum("kd,de->kde", var, np.eye(d))
    variables = {hidden: [str(i) for i in range(k)], **{c: "continuous" for c in cols}}
    parents, cpds = {}, {hidden: w}
    for j, c in enumerate(cols):
        earlier = list(range(j)) if covariance in ("full", "tied") else []
        parents[c] = [hidden] + [cols[i] for i in earlier]
        cpds[c] = _regression(mu, cov, j, earlier)
    net = BayesianNetwork(variables, parents, cpds, name=name)
    if covariance == "tied":
        return net.tie_covariance(cols)
    if covariance == "spherical" and d > 1:
        return net.share(SPHERICAL_BLOCK, cols, what="variance")
    return net


def _regression(mu, cov, j, earlier):
    """Regression of column j on ``earlier`` columns in every component (solves only)."""
    if not earlier:
        return {"intercept": mu[:, j], "weights": np.zeros((mu.shape[0], 0)),
                "variance": cov[:, j, j]}
    p = np.array(earlier)
    s_pp = cov[np.ix_(np.arange(cov.shape[0]), p, p)]
    s_pj = cov[:, p, j]
    beta = np.linalg.solve(s_pp, s_pj[..., None])[..., 0]
    return {"intercept": mu[:, j] - np.einsum("kp,kp->k", beta, mu[:, p]),
            "weights": beta, "variance": cov[:, j, j] - np.einsum("kp,kp->k", beta, s_pj)}


def mixture_parameters(network: BayesianNetwork, hidden: str | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(weights (K,), means (K, d), covariances (K, d, d))`` of a mixture network.

    Works for any network whose continuous nodes all depend on one parentless
    discrete node (the mixture's hidden node) and on no other discrete node; columns
    are in the order of ``network.continuous_nodes``. Covariances are always full
    matrices (diagonal for a ``"diag"`` mixture).

    Raises
    ------
    NetworkError
        If the network is not such a mixture (the message says why).

    Examples
    --------
    >>> gm = gaussian_mixture(["x", "y"], 2, weights=[0.3, 0.7], means=[[0, 0], [1, 2]],
    ...                       covariances=[[[1, 0.5], [0.5, 2]], [[1, 0], [0, 1]]])
    >>> weights, means, covariances = mixture_parameters(gm)
    >>> weights.tolist(), means.tolist()
    ([0.3, 0.7], [[0.0, 0.0], [1.0, 2.0]])
    >>> covariances[0].tolist()
    [[1.0, 0.5], [0.5, 2.0]]
    """
    network = as_network(network, "mixture_parameters", needs_cpds=True)
    if not network.continuous_nodes:
        raise NetworkError("mixture_parameters needs continuous nodes; this network has none")
    comps = components(network)
    scopes = {tuple(network.discrete_nodes[v] for v in c.scope) for c in comps}
    if hidden is None:
        if len(scopes) != 1 or len(next(iter(scopes))) != 1:
            raise NetworkError(
                "mixture_parameters expects every continuous node to have the same single "
                f"discrete parent (the hidden node); found discrete parent sets {sorted(scopes)}")
        hidden = next(iter(scopes))[0]
    elif scopes != {(hidden,)}:
        raise NetworkError(f"not every continuous node depends on {hidden!r} alone among "
                           f"discrete nodes; found discrete parent sets {sorted(scopes)}")
    if network.parents(hidden):
        raise NetworkError(f"the hidden node {hidden!r} has parents {list(network.parents(hidden))};"
                           " a mixture's hidden node has none")
    weights = np.array(cast(TabularCPD, network.cpd(hidden)).values)  # hidden is discrete
    k, d = weights.size, len(network.continuous_nodes)
    means, covs = np.zeros((k, d)), np.zeros((k, d, d))
    cpds = network.gaussian_cpds
    for comp in comps:
        mean, cov = joint(comp, cpds)
        cols = comp.columns
        means[:, cols] = mean
        covs[np.ix_(range(k), cols, cols)] = cov
    return weights, means, covs


def _columns(columns, hidden):
    if not isinstance(hidden, str) or not hidden:
        raise BnemTypeError(f"hidden must be a non-empty string (the hidden node's name), "
                            f"got {hidden!r}")
    if isinstance(columns, str):
        raise BnemTypeError(f"columns must be a sequence of column names, got the string "
                            f"{columns!r} (write [{columns!r}] for one column)")
    try:
        cols = [c for c in columns]
    except TypeError:
        raise BnemTypeError(f"columns must be a sequence of names, got {columns!r}") from None
    bad = [c for c in cols if not isinstance(c, str) or not c]
    if bad:
        raise BnemTypeError(f"column names must be non-empty strings, got {bad[0]!r}")
    if not cols:
        raise NetworkError("gaussian_mixture needs at least one column, got none")
    if len(set(cols)) != len(cols):
        raise NetworkError(f"columns repeat: {sorted({c for c in cols if cols.count(c) > 1})}")
    if hidden in cols:
        raise NetworkError(f"the hidden node's name {hidden!r} is also a column; pass "
                           "hidden='another-name'")
    return cols


def _array(value, what, shape):
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"{what} must be numeric ({exc})") from None
    if arr.shape != shape:
        raise NetworkError(f"{what} must have shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise NetworkError(f"{what} must be finite")
    return arr


def _check_spd(cov):
    for c in range(cov.shape[0]):
        if not np.allclose(cov[c], cov[c].T, rtol=1e-10, atol=1e-12):
            raise NetworkError(f"covariances[{c}] is not symmetric")
        try:
            np.linalg.cholesky(cov[c])
        except np.linalg.LinAlgError:
            raise NetworkError(f"covariances[{c}] is not positive definite") from None
