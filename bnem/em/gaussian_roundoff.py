"""Round-off bounds of the Gaussian M-step (em layer): how well scatter sums, residual
sums of squares and the E-step's log densities are known in floating point, so that
EM's monotonicity check allows what arithmetic cannot promise and no more."""

from __future__ import annotations

import numpy as np

TINY = np.finfo(float).tiny
EPS = np.finfo(float).eps
VALUE_DIGITS = 1e3  # a value is taken as known to VALUE_DIGITS * eps of its size


def scatter_noise(n: np.ndarray, scatter_diag: np.ndarray, mean: np.ndarray,
                  cancelled: np.ndarray) -> np.ndarray:
    """The round-off of each variable's scatter about its mean: the sum ``M2 - M1^2 /
    N`` loses ``eps`` of what it cancels (``cancelled = M1^2 / N``, large while the
    mean is far from the centre the moments were taken about) and of itself, and every
    value is known to ``VALUE_DIGITS * eps`` of its size only. A variable whose
    scatter is not above this does not vary (a parent ~1e6 with spread 1 does)."""
    return 64 * EPS * (np.abs(scatter_diag) + cancelled) + \
        n[:, None] * (VALUE_DIGITS * EPS * mean) ** 2


COLLINEAR = 1e-8  # eigenvalues of the parents' correlation matrix below this (relative
                  # to the largest) are not estimated: the normal equations would lose
                  # every digit (they square the condition number)

def residual_error(s_jj: np.ndarray, lin: np.ndarray, quad: np.ndarray, c_j: np.ndarray,
                   c_beta: np.ndarray, n_parents: np.ndarray) -> np.ndarray:
    """What a residual sum of squares ``S_jj - 2 lin + quad`` (``lin = beta.S_pj``,
    ``quad = beta' S_pp beta``) is known to: the magnitude of its terms and of what the
    scatter sums cancelled (``(c_j + c_beta)^2``, with ``c_beta = |beta|.c_p`` and the
    ``c`` the square roots of ``M1^2 / N``), times ``8 (p + 1) eps`` for ``p`` parents."""
    terms = np.abs(s_jj) + 2 * np.abs(lin) + np.abs(quad) + (c_j + c_beta) ** 2
    return 8 * (n_parents + 1) * EPS * terms


PRECISE = 0.1  # a residual sum of squares known to this relative error or better counts
               # toward the slack; a worse one is reported as imprecise


def roundoff_slack(n_u: np.ndarray, rss: np.ndarray,
                   err: np.ndarray) -> tuple[float, np.ndarray]:
    """How far the expected log-likelihood can fall short of its maximum because each
    residual sum of squares ``rss`` (``n`` times the variance used) is only known to
    ``err``, and which are not known to ``PRECISE`` (those are left out of the slack:
    their variance is round-off).

    A variance off by the relative ``d`` loses about ``n d^2 / 4``; the slack takes
    ``n d^2 / 2``. Nearly exact regressions (``R^2`` within ~1e-12 of 1) subtract sums
    ~1e12 times their difference, so their variance is known to a few digits only;
    EM's monotonicity then holds only up to this slack (the driver's check allows it).
    """
    d = err / np.maximum(rss, TINY)
    vague = d > PRECISE
    return float(np.sum(np.where(vague, 0.0, n_u * d * d)) / 2.0), vague


def estep_slack(n_u: np.ndarray, var: np.ndarray, beta: np.ndarray, mean_j: np.ndarray,
                mean_p: np.ndarray, overall: np.ndarray, node_of: np.ndarray,
                par_of: np.ndarray) -> float:
    """The E-step's own round-off: a row's log density is known to ``eps |x - c| /
    sigma``, with ``c`` the centre the E-step subtracts (about the component's overall
    mean); ``par_of`` holds each row's parent positions (-1 for an empty slot)."""
    from_centre = np.where(par_of >= 0, np.abs(mean_p - overall[par_of]), 0.0)
    size = np.abs(mean_j - overall[node_of]) + np.einsum("gp,gp->g", np.abs(beta), from_centre)
    return float(np.sum(4 * EPS * n_u * size / np.sqrt(var)))


MEAN_DIGITS = 1e-6  # a conditional mean known to worse than this many standard deviations
                    # makes the node's likelihood round-off-limited


def mean_is_vague(b0: np.ndarray, beta: np.ndarray, mean_p: np.ndarray,
                  var: np.ndarray) -> np.ndarray:
    """Where a node's mean, formed as ``b0 + beta . mean_p`` by the E-step (forward
    substitution), is known to worse than ``MEAN_DIGITS`` of its standard deviation:
    ``eps (|b0| + |beta| . |mean_p|) / sigma``; large only where a parent far from 0
    for its spread has a steep slope (a column at 1e7 +- 1e-5 before another gives
    slopes ~3e5 and intercepts ~3e12). A fall of EM's objective there is round-off,
    and said so (:func:`bnem.em.run._check_monotone`)."""
    formed = np.abs(b0) + np.einsum("gp,gp->g", np.abs(beta), np.abs(mean_p))
    return EPS * formed > MEAN_DIGITS * np.sqrt(var)


class VarianceFloor(float):
    """``min_variance``, carrying the Gaussian variance prior when one is asked for.

    A scaled inverse-chi-squared prior with ``nu`` pseudo-observations of variance
    ``s2`` on every conditional variance makes the M-step's variance
    ``(RSS + nu s2) / (n + nu + 2)`` (the posterior mode given the regression) instead
    of ``RSS / n``; the floor still applies after it. The value is the floor itself, so
    every M-step that compares with ``min_variance`` works unchanged.

    It also carries ``lam``, the precision of the conjugate normal prior on the weights
    (``N(0, variance / lam)`` each, :func:`bnem.fit`'s ``weight_prior``): the M-step is
    then ridge regression and the variance's mode counts the ``p`` weights' prior too
    (:func:`map_variance`).
    """

    nu: float
    s2: float
    lam: float

    def __new__(cls, floor: float, nu: float = 0.0, s2: float = 0.0,
                lam: float = 0.0) -> "VarianceFloor":
        obj = super().__new__(cls, floor)
        obj.nu, obj.s2, obj.lam = float(nu), float(s2), float(lam)
        return obj


def weight_precision(floor: float) -> float:
    """The weight prior's precision carried by ``floor`` (0: none)."""
    return float(getattr(floor, "lam", 0.0))


def map_variance(rss: np.ndarray, n: np.ndarray, floor: float,
                 parents: np.ndarray | int = 0) -> np.ndarray:
    """``rss / n``, or with :class:`VarianceFloor`'s priors its posterior mode: with the
    weight prior, ``rss`` includes its penalty ``lam |w|^2`` and the ``parents`` weights
    each count once in the denominator."""
    nu = getattr(floor, "nu", 0.0)
    extra = np.asarray(parents, dtype=float) if weight_precision(floor) else 0.0
    if not nu:
        return rss / (n + extra)
    return (rss + nu * floor.s2) / (n + extra + nu + 2.0)  # type: ignore[attr-defined]


def weight_log_prior(weights: np.ndarray, variances: np.ndarray, floor: float) -> float:
    """The weight prior's log density (up to a constant) at ``weights`` ``(configs, p)``
    with conditional ``variances`` ``(configs,)``: ``sum -p/2 log v - lam |w|^2 / 2v``."""
    lam = weight_precision(floor)
    w = np.asarray(weights, dtype=float).reshape(np.size(variances), -1)
    if not lam or w.shape[1] == 0:
        return 0.0
    v = np.ravel(np.asarray(variances, dtype=float))
    return float(-(w.shape[1] / 2) * np.log(v).sum() - lam / 2 * ((w * w).sum(axis=1) / v).sum())


def variance_log_prior(variances: np.ndarray, floor: float) -> float:
    """The prior's log density (up to a constant) at ``variances``."""
    nu = getattr(floor, "nu", 0.0)
    if not nu:
        return 0.0
    v = np.asarray(variances, dtype=float)
    return float(-(nu / 2 + 1) * np.log(v).sum() - nu * floor.s2 / 2 * (1 / v).sum())  # type: ignore[attr-defined]
