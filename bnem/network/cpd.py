"""Tabular CPDs of shape ``(*parent_cards, card)`` (network layer)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas as pd

from ..errors import NetworkError

SUM_TOLERANCE = 1e-6
EXACT_TOLERANCE = 1e-12


class TabularCPD:
    """Conditional probability table P(node | parents).

    ``values[u_1, ..., u_k, x]`` is ``P(node = x | parents = u)``; the table is
    normalised over its last axis.

    Parameters
    ----------
    node : str
    parents : sequence of str
    values : array_like of shape ``(*parent_cards, card)``
    cards : sequence of int, optional
        ``(*parent_cards, card)`` expected; checked against ``values.shape``.

    Raises
    ------
    NetworkError
        On a shape mismatch, a negative or non-finite entry, or a distribution
        that does not sum to 1 within 1e-6 (the message names the node and
        parent configuration).

    Notes
    -----
    Distributions that sum to 1 only within the 1e-6 tolerance (files often round,
    e.g. ``0.3333, 0.3333, 0.3334`` or 7 decimals) are divided by their sum, so that
    every table is normalised to round-off: summing out a variable then gives exactly
    1, and log-likelihoods do not depend on which variables inference happened to
    sum over. Deviations below 1e-12 are left as they are, so tables round-trip
    through files bit for bit.

    Examples
    --------
    >>> cpd = TabularCPD("wet", ["rain"], [[0.9, 0.1], [0.2, 0.8]])
    >>> cpd.family, cpd.card
    (('rain', 'wet'), 2)
    >>> TabularCPD("wet", ["rain"], [[0.9, 0.2], [0.2, 0.8]],
    ...            state_names={"rain": ["yes", "no"]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bnem.errors.NetworkError: CPD of 'wet' is not normalised: ... (rain=yes) sums to 1.1, ...
    """

    __slots__ = ("node", "parents", "values", "state_names")

    def __init__(self, node: str, parents: Iterable[str], values: ArrayLike,
                 cards: Iterable[int] | None = None,
                 state_names: Mapping[str, Sequence[str]] | None = None) -> None:
        self.node = node
        self.parents = tuple(parents)
        try:
            arr = np.array(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise NetworkError(f"CPD of {node!r}: values are not numeric ({exc})") from None
        if cards is not None:
            cards = tuple(int(c) for c in cards)
            if arr.shape != cards:
                if arr.size == int(np.prod(cards)) and arr.ndim <= 1:
                    arr = arr.reshape(cards)
                else:
                    raise NetworkError(
                        f"CPD of {node!r} must have shape {cards} "
                        f"(parents {list(self.parents)} then the node), got {arr.shape}"
                    )
        if arr.ndim != len(self.parents) + 1:
            raise NetworkError(
                f"CPD of {node!r} must have {len(self.parents) + 1} axes "
                f"(parents {list(self.parents)} then the node), got shape {arr.shape}"
            )
        _check_distribution(node, self.parents, arr, state_names)
        sums = arr.sum(axis=-1, keepdims=True)
        if (np.abs(sums - 1.0) > EXACT_TOLERANCE).any():
            arr = arr / sums  # accepted deviations (<= 1e-6) are removed exactly
        arr.setflags(write=False)
        self.values = arr
        #: state names of the family's variables, when known (a network's CPDs know them)
        self.state_names: dict[str, tuple[str, ...]] | None = None
        if state_names is not None and all(v in state_names for v in self.family):
            self.state_names = {v: tuple(str(s) for s in state_names[v]) for v in self.family}

    def to_frame(self) -> "pd.DataFrame":
        """The table as a DataFrame: one row per parent configuration (a MultiIndex named
        after the parents, the first slowest), one column per state of the node.

        >>> cpd = TabularCPD("wet", ["rain"], [[0.9, 0.1], [0.2, 0.8]],
        ...                  state_names={"rain": ["yes", "no"], "wet": ["yes", "no"]})
        >>> cpd.to_frame()
        wet   yes  no
        rain
        yes   0.9  0.1
        no    0.2  0.8
        """
        from .frames import table_frame
        return table_frame(self.node, self.parents, self.values, self.state_names)

    def __str__(self) -> str:
        given = f" | {', '.join(self.parents)}" if self.parents else ""
        return f"P({self.node}{given})\n{self.to_frame().to_string()}"

    def _repr_html_(self) -> str:
        from .frames import frame_html
        given = f" | {', '.join(self.parents)}" if self.parents else ""
        return frame_html(f"P({self.node}{given})", self.to_frame())

    @property
    def card(self) -> int:
        """Number of states of the node (the last axis of :attr:`values`)."""
        return self.values.shape[-1]

    @property
    def family(self) -> tuple[str, ...]:
        """Parents then the node."""
        return self.parents + (self.node,)

    def maximize(self, counts: ArrayLike, prior: float = 0.0) -> TabularCPD:
        """Return the MLE (``prior`` = 0) or Dirichlet-MAP CPD for expected ``counts``.

        A parent configuration with zero total (counts plus prior) keeps a uniform
        distribution.

        >>> cpd = TabularCPD("wet", ["rain"], [[0.5, 0.5], [0.5, 0.5]])
        >>> cpd.maximize([[3.0, 1.0], [0.0, 0.0]]).values.tolist()
        [[0.75, 0.25], [0.5, 0.5]]
        """
        table, _ = normalize_counts(np.asarray(counts, dtype=float) + prior)
        return TabularCPD(self.node, self.parents, table, state_names=self.state_names)

    def __repr__(self) -> str:
        return f"TabularCPD({self.node!r} | {list(self.parents)}, shape={self.values.shape})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TabularCPD) and self.node == other.node
                and self.parents == other.parents
                and self.values.shape == other.values.shape
                and bool(np.array_equal(self.values, other.values)))

    # unhashable (equality compares the tables); typeshed declares object.__hash__ as
    # a method, so setting it to None needs the ignore (typeshed's own idiom)
    __hash__ = None  # type: ignore[assignment]


def normalize_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``counts`` over the last axis.

    Returns the table and a boolean array over parent configurations marking those
    whose total was zero (they get a uniform distribution, never NaN).

    >>> table, empty = normalize_counts(np.array([[1.0, 3.0], [0.0, 0.0]]))
    >>> table.tolist(), empty.tolist()
    ([[0.25, 0.75], [0.5, 0.5]], [False, True])
    """
    totals = counts.sum(axis=-1, keepdims=True)
    empty = totals[..., 0] <= 0
    safe = np.where(totals > 0, totals, 1.0)
    table = counts / safe
    if empty.any():
        table[empty] = 1.0 / counts.shape[-1]
    return table, empty


def _check_distribution(node, parents, arr, state_names):
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NetworkError(
            f"CPD of {node!r} has an invalid entry {float(arr[idx])!r} at "
            f"{_describe(parents, idx[:-1], state_names)}; probabilities must be finite and >= 0"
        )
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0])
        raise NetworkError(
            f"CPD of {node!r} is not normalised: the distribution for "
            f"{_describe(parents, idx, state_names)} sums to {sums[idx]:.10g}, expected 1 "
            f"(within {SUM_TOLERANCE}); {int(off.sum())} configuration(s) affected"
        )


def _describe(parents, config, state_names) -> str:
    if not parents:
        return "the (parentless) node"
    parts = []
    for p, i in zip(parents, config):
        states = state_names.get(p) if state_names else None
        parts.append(f"{p}={states[i] if states else i}")
    return "parents (" + ", ".join(parts) + ")"
