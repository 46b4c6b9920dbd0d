"""Expected sufficient statistics: one additive type for every kernel (inference layer).

Every E-step kernel returns a :class:`Stats` for its chunk; chunks, files, restarts
and workers combine by ``+`` (or :meth:`Stats.total`), so where the chunks were
evaluated does not change the sum.

>>> import numpy as np
>>> a = Stats(np.array([1.0, 2.0]), log_likelihood=-3.0, weight=2.0)
>>> b = Stats(np.array([0.5, 0.5]), log_likelihood=-1.0, weight=1.0)
>>> s = a + b
>>> s.counts.tolist(), s.log_likelihood, s.weight
([1.5, 2.5], -4.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import reduce

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Weighted moment sums of one continuous component, per interface configuration,
    about the current means ``c``: ``n = sum r``, ``m1 = sum r (x - c)``, ``m2 = sum r
    [(x - c)(x - c)^T + Cov(x | row)]`` (missing cells enter through their conditional
    mean and covariance)."""

    n: np.ndarray   # (K,)
    m1: np.ndarray  # (K, m)
    m2: np.ndarray  # (K, m, m)
    centre: np.ndarray | None = None  # (K, m) the means ``c`` when the E-step knows them
                                      # (the M-step then need not recompute them)

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.m1 + other.m1, self.m2 + other.m2, self.centre)


@dataclass(frozen=True)
class Stats:
    """Expected sufficient statistics of some rows under one parameter set.

    Attributes
    ----------
    counts : ndarray
        Expected counts of every table entry, flat like the parameter vector.
    moments : tuple of Moments
        Per continuous component (empty for a discrete network).
    log_likelihood : float
        Weighted observed-data log-likelihood of the rows.
    classification : float or None
        Weighted classification log-likelihood ``sum max_z log p(row, z)`` (hard EM
        only; None otherwise).
    weight : float
        Total row weight the statistics cover.
    """

    counts: np.ndarray
    moments: tuple = ()
    log_likelihood: float = 0.0
    classification: float | None = None
    weight: float = 0.0

    def __add__(self, other: "Stats") -> "Stats":
        if len(self.moments) != len(other.moments):
            raise ValueError("bnem bug: adding statistics of different networks")
        classification = None
        if self.classification is not None and other.classification is not None:
            classification = self.classification + other.classification
        elif self.classification is not None or other.classification is not None:
            raise ValueError("bnem bug: adding hard-EM and soft-EM statistics")
        return Stats(self.counts + other.counts,
                     tuple(a + b for a, b in zip(self.moments, other.moments)),
                     self.log_likelihood + other.log_likelihood, classification,
                     self.weight + other.weight)

    @staticmethod
    def total(parts: Iterable["Stats"]) -> "Stats":
        """The sum of ``parts`` (at least one)."""
        return reduce(lambda a, b: a + b, parts)
