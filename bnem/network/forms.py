"""Table forms: discrete CPDs given by a few parameters (network layer).

A *form* makes a node's table a function of fewer parameters than its entries: a
noisy-OR (:mod:`bnem.network.noisy_or`: a link probability per present parent state
and a leak) or a Poisson count (:class:`Poisson`: a rate per parent configuration).
The table stays the node's CPD, so inference, sampling and every file format see a
table; what changes is what EM may do with it (the M-step of the form, in
:mod:`bnem.em.forms`) and what is counted as free (BIC, AIC, degrees of freedom).

Every form offers the same few things (:class:`TableForm`): its kind, the key of
JSON files, whether the Dirichlet ``prior=`` applies to it, its number of free
parameters, whether a table is of the form, and a line for ``bnem info``.
Adding a form is a class here (or in its own module), its M-step in
:mod:`bnem.em.forms` and its JSON entry in :mod:`bnem.io.json_constraints`.

>>> f = Poisson(3)
>>> t = f.table(np.array([0.5, 2.0]))
>>> t.shape, bool(np.allclose(t.sum(axis=-1), 1)), f.rates_of(t).round(12).tolist()
((2, 5), True, [0.5, 2.0])
>>> count_states(3)
('0', '1', '2', '3', '>3')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Sequence

import numpy as np
from scipy import special, stats

from ..errors import BnemTypeError, NetworkError


class TableForm(Protocol):
    """What every table form offers (see the module docstring)."""

    kind: ClassVar[str]        # its name in messages ("noisy-OR", "Poisson")
    json_key: ClassVar[str]    # its top-level key in JSON network files
    takes_prior: ClassVar[bool]  # whether the Dirichlet prior= smooths its table

    def key(self) -> tuple: ...
    def n_free(self, shape: Sequence[int]) -> int: ...
    def is_table(self, values: np.ndarray, tol: float = 1e-9) -> bool: ...
    def describe(self, node: str, family: Sequence[str], states: Any) -> str: ...


def count_states(max_count: int) -> tuple[str, ...]:
    """States of a count node: ``"0"`` .. ``str(max_count)``, then ``">max_count"`` (a
    Poisson node's last state holds the probability of a larger count)."""
    if isinstance(max_count, bool) or not isinstance(max_count, (int, np.integer)) \
            or max_count < 1:
        raise BnemTypeError(f"count_states(max_count): a whole number >= 1 (the largest "
                            f"count the data may hold), got {max_count!r}")
    return tuple(str(i) for i in range(int(max_count) + 1)) + (f">{int(max_count)}",)


@dataclass(frozen=True)
class Poisson:
    """A count node: states ``0 .. max_count`` and a last state for larger counts; in
    each configuration of its discrete parents, ``P(y) = rate^y e^-rate / y!`` and the
    last state ``P(Y > max_count)``, so the likelihood of a count is exactly Poisson."""

    max_count: int
    kind: ClassVar[str] = "Poisson"
    json_key: ClassVar[str] = "poisson"
    takes_prior: ClassVar[bool] = False

    def key(self) -> tuple:
        return ("poisson", self.max_count)

    def n_free(self, shape: Sequence[int]) -> int:
        return int(np.prod(shape[:-1], dtype=np.int64))

    def table(self, rates: np.ndarray) -> np.ndarray:
        """The table ``(*rates.shape, max_count + 2)`` of the rates."""
        rates = np.asarray(rates, dtype=float)
        ys = np.arange(self.max_count + 1)
        out = np.empty(rates.shape + (self.max_count + 2,))
        out[..., :-1] = stats.poisson.pmf(ys, rates[..., None])
        out[..., -1] = special.pdtrc(self.max_count, rates)
        return out

    def rates_of(self, values: np.ndarray) -> np.ndarray:
        """The rates of a table: exact for a Poisson table (``(k + 1) p(k + 1) / p(k)``
        at its most probable count ``k``); for another table, its mean (the last state
        counted as ``max_count + 1``)."""
        values = np.asarray(values, dtype=float)
        p = values[..., :-1]
        k = np.argmax(p[..., :-1], axis=-1)[..., None]
        at, after = np.take_along_axis(p, k, -1)[..., 0], np.take_along_axis(p, k + 1, -1)[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (k[..., 0] + 1) * after / at
        ys = np.arange(self.max_count + 2, dtype=float)
        mean = (values * ys).sum(axis=-1) / np.maximum(values.sum(axis=-1), 1e-300)
        return np.where(np.isfinite(ratio) & (at > 0), ratio, mean)

    def is_table(self, values: np.ndarray, tol: float = 1e-9) -> bool:
        return bool(np.allclose(self.table(self.rates_of(values)), values, rtol=0, atol=tol))

    def describe(self, node: str, family: Sequence[str], states: Any) -> str:
        return f"{node} (counts 0..{self.max_count}, one rate per parent configuration)"


def check_poisson(node: str, states: Sequence[str]) -> Poisson:
    """The Poisson form of a node with ``states``: ``"0"`` .. ``"M"`` and one more."""
    names = [str(s) for s in states]
    m = len(names) - 2
    if m < 1 or names[:-1] != [str(i) for i in range(m + 1)] or names[-1] != f">{m}":
        raise NetworkError(f"poisson({node!r}): a count node's states are '0', '1', ..., "
                           "'M' and '>M' for larger counts (bnem.count_states(M)); "
                           f"{node!r} has {names[:6] + (['...'] if len(names) > 6 else [])}")
    return Poisson(m)
