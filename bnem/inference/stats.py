"""Expected sufficient statistics: one additive type for every kernel (inference layer).

Every E-step kernel returns a :class:`Stats` for its chunk; chunks, files, restarts
and workers combine by ``+`` (or :meth:`Stats.total`), so where the chunks were
evaluated does not change the sum. A :class:`Stats` holds one statistics block per
CPD family, keyed like :class:`~bnem.network.parameters.Parameters` (``"table"``: the
expected counts, flat like the tables; ``"gaussian"``: the :class:`Moments` of each
continuous component); a family's blocks add by :data:`ADD` (``+`` unless
registered otherwise).

>>> import numpy as np
>>> a = Stats(np.array([1.0, 2.0]), log_likelihood=-3.0, weight=2.0)
>>> b = Stats(np.array([0.5, 0.5]), log_likelihood=-1.0, weight=1.0)
>>> s = a + b
>>> s.counts.tolist(), s.log_likelihood, s.weight
([1.5, 2.5], -4.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from ..network.parameters import GAUSSIAN, TABLE


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


def _add_moments(a: tuple, b: tuple) -> tuple:
    if len(a) != len(b):
        raise ValueError("bnem bug: adding statistics of different networks")
    return tuple(x + y for x, y in zip(a, b))


ADD: dict[str, Callable[[Any, Any], Any]] = {GAUSSIAN: _add_moments}  # others: ``+``


@dataclass(frozen=True, init=False, eq=False)
class Stats:
    """Expected sufficient statistics of some rows under one parameter set.

    ``Stats(counts, moments, log_likelihood, classification, weight)`` builds the
    blocks of bnem's two families.

    Attributes
    ----------
    blocks : mapping family -> statistics block
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

    blocks: Mapping[str, Any]
    log_likelihood: float
    classification: float | None
    weight: float

    def __init__(self, counts: np.ndarray | None = None, moments: tuple = (),
                 log_likelihood: float = 0.0, classification: float | None = None,
                 weight: float = 0.0, *, blocks: Mapping[str, Any] | None = None) -> None:
        if blocks is None:
            blocks = {TABLE: np.zeros(0) if counts is None else counts}
            if moments:
                blocks[GAUSSIAN] = tuple(moments)
        object.__setattr__(self, "blocks", dict(blocks))
        object.__setattr__(self, "log_likelihood", log_likelihood)
        object.__setattr__(self, "classification", classification)
        object.__setattr__(self, "weight", weight)

    @property
    def counts(self) -> np.ndarray:
        """The table family's block: expected counts, flat like the tables."""
        return self.blocks[TABLE]

    @property
    def moments(self) -> tuple:
        """The Gaussian family's block: :class:`Moments` per continuous component."""
        return self.blocks.get(GAUSSIAN, ())

    def __add__(self, other: "Stats") -> "Stats":
        if set(self.blocks) != set(other.blocks):
            raise ValueError("bnem bug: adding statistics of different networks")
        classification = None
        if self.classification is not None and other.classification is not None:
            classification = self.classification + other.classification
        elif self.classification is not None or other.classification is not None:
            raise ValueError("bnem bug: adding hard-EM and soft-EM statistics")
        blocks = {k: ADD.get(k, _plus)(v, other.blocks[k]) for k, v in self.blocks.items()}
        return Stats(blocks=blocks, log_likelihood=self.log_likelihood + other.log_likelihood,
                     classification=classification, weight=self.weight + other.weight)

    @staticmethod
    def total(parts: Iterable["Stats"]) -> "Stats":
        """The sum of ``parts`` (at least one)."""
        return reduce(lambda a, b: a + b, parts)


def _plus(a: Any, b: Any) -> Any:
    return a + b
