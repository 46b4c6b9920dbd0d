"""Conditional linear Gaussian CPDs (network layer).

For every configuration ``u`` of the discrete parents, the node is a linear
regression on the continuous parents ``y`` with its own variance::

    X | u, y  ~  N(intercept[u] + weights[u] @ y, variance[u])

This is the convention of R's bnlearn and of Lauritzen's CG networks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas as pd

from ..errors import NetworkError


class GaussianCPD:
    """P(node | discrete parents, continuous parents) for a Gaussian node.

    Parameters
    ----------
    node : str
    discrete_parents : sequence of str
    continuous_parents : sequence of str
    intercept : array_like of shape ``discrete_cards`` (a scalar is broadcast)
    weights : array_like of shape ``(*discrete_cards, n_continuous_parents)``, optional
        Regression coefficients on the continuous parents; zeros by default.
    variance : array_like of shape ``discrete_cards`` (a scalar is broadcast)
        Must be finite and > 0.
    discrete_cards : sequence of int, optional
        Cards of the discrete parents; inferred from ``intercept`` when omitted.
    state_names : mapping parent -> state names, optional
        Used to name configurations in error messages.

    Raises
    ------
    NetworkError
        On a shape mismatch, a non-finite value or a variance <= 0 (the message names
        the node and the parent configuration).

    Examples
    --------
    >>> cpd = GaussianCPD("heat", ["plant"], [], intercept=[1.0, 5.0], variance=[0.5, 2.0])
    >>> cpd.mean_shape
    (2,)
    >>> cpd.parents, cpd.n_parameters
    (('plant',), 4)
    """

    __slots__ = ("node", "discrete_parents", "continuous_parents", "intercept", "weights",
                 "variance", "state_names")

    def __init__(self, node: str, discrete_parents: Iterable[str] = (),
                 continuous_parents: Iterable[str] = (), intercept: ArrayLike = 0.0,
                 weights: ArrayLike | None = None, variance: ArrayLike = 1.0,
                 discrete_cards: Iterable[int] | None = None,
                 state_names: Mapping[str, Sequence[str]] | None = None) -> None:
        self.node = node
        self.discrete_parents = tuple(discrete_parents)
        self.continuous_parents = tuple(continuous_parents)
        k = len(self.continuous_parents)
        b0 = _array(node, "intercept", intercept)
        if discrete_cards is None:
            if b0.ndim != len(self.discrete_parents):
                raise NetworkError(
                    f"Gaussian CPD of {node!r}: intercept must have one axis per discrete parent "
                    f"{list(self.discrete_parents)}, got shape {b0.shape}")
            discrete_cards = b0.shape
        shape = tuple(int(c) for c in discrete_cards)
        self.intercept = _shaped(node, "intercept", b0, shape)
        w = np.zeros(shape + (k,)) if weights is None else _array(node, "weights", weights)
        if w.ndim == 1 and k and w.shape == (k,):
            w = np.broadcast_to(w, shape + (k,))
        self.weights = _shaped(node, "weights", w, shape + (k,),
                               f"(*discrete parent cards, {k} continuous parents)")
        self.variance = _shaped(node, "variance", _array(node, "variance", variance), shape)
        #: state names of the discrete parents, when known (a network's CPDs know them)
        self.state_names: dict[str, tuple[str, ...]] | None = None
        if state_names is not None and all(p in state_names for p in self.discrete_parents):
            self.state_names = {p: tuple(str(s) for s in state_names[p])
                                for p in self.discrete_parents}
        bad = ~(self.variance > 0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = ", ".join(
                f"{p}={state_names[p][i]!r}" if state_names and p in state_names else f"{p}={i}"
                for p, i in zip(self.discrete_parents, idx))
            raise NetworkError(
                f"Gaussian CPD of {node!r}: variance must be > 0, got "
                f"{float(self.variance[idx])!r}" + (f" for ({where})" if where else ""))

    @classmethod
    def fitted(cls, like: "GaussianCPD", intercept: np.ndarray, weights: np.ndarray,
               variance: np.ndarray) -> "GaussianCPD":
        """``like``'s node and parents with new float arrays of ``like``'s shapes, taken
        as they are (no copy, no value checks; made read-only like ``__init__``'s): for
        arrays bnem computed itself, such as an M-step's, where the checks of
        ``__init__`` cost more than the arithmetic."""
        shape = like.intercept.shape
        if intercept.shape != shape or variance.shape != shape \
                or weights.shape != like.weights.shape:
            raise NetworkError(f"Gaussian CPD of {like.node!r}: fitted arrays of shapes "
                               f"{intercept.shape}, {weights.shape}, {variance.shape}; "
                               f"expected {shape}, {like.weights.shape}, {shape}")
        for arr in (intercept, weights, variance):
            arr.setflags(write=False)
        cpd = cls.__new__(cls)
        cpd.node, cpd.discrete_parents = like.node, like.discrete_parents
        cpd.continuous_parents = like.continuous_parents
        cpd.intercept, cpd.weights, cpd.variance = intercept, weights, variance
        cpd.state_names = like.state_names
        return cpd

    def to_frame(self) -> "pd.DataFrame":
        """The parameters as a DataFrame: one row per configuration of the discrete
        parents; columns ``intercept``, ``weight[parent]`` per continuous parent and
        ``variance``.

        >>> GaussianCPD("heat", ["plant"], ["age"], intercept=[1.0, 5.0], weights=[[0.5], [0.0]],
        ...             variance=[0.5, 2.0], state_names={"plant": ["A", "B"]}).to_frame()
               intercept  weight[age]  variance
        plant
        A            1.0          0.5       0.5
        B            5.0          0.0       2.0
        """
        from .frames import gaussian_frame
        return gaussian_frame(self, self.state_names)

    def __str__(self) -> str:
        given = f" | {', '.join(self.parents)}" if self.parents else ""
        return f"P({self.node}{given}): Gaussian\n{self.to_frame().to_string()}"

    def _repr_html_(self) -> str:
        from .frames import frame_html
        given = f" | {', '.join(self.parents)}" if self.parents else ""
        return frame_html(f"P({self.node}{given}): Gaussian", self.to_frame())

    @property
    def mean_shape(self) -> tuple[int, ...]:
        """Cards of the discrete parents (the shape of ``intercept`` and ``variance``)."""
        return self.intercept.shape

    @property
    def parents(self) -> tuple[str, ...]:
        """Discrete parents then continuous parents."""
        return self.discrete_parents + self.continuous_parents

    @property
    def n_parameters(self) -> int:
        """Free parameters: per discrete configuration an intercept, the weights, a variance."""
        return int(self.intercept.size * (len(self.continuous_parents) + 2))

    def __repr__(self) -> str:
        return (f"GaussianCPD({self.node!r} | discrete {list(self.discrete_parents)}, "
                f"continuous {list(self.continuous_parents)})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, GaussianCPD) and self.node == other.node
                and self.discrete_parents == other.discrete_parents
                and self.continuous_parents == other.continuous_parents
                and all(np.array_equal(getattr(self, a), getattr(other, a))
                        for a in ("intercept", "weights", "variance")))

    # unhashable, like TabularCPD; typeshed declares object.__hash__ as a method, so
    # setting it to None needs the ignore (typeshed's own idiom)
    __hash__ = None  # type: ignore[assignment]


def _array(node, what, value) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise NetworkError(f"Gaussian CPD of {node!r}: {what} is not numeric ({exc})") from None
    if not np.isfinite(arr).all():
        raise NetworkError(f"Gaussian CPD of {node!r}: {what} must be finite, got {arr.ravel()[~np.isfinite(arr.ravel())][0]}")
    return arr


def _shaped(node, what, arr, shape, described=None) -> np.ndarray:
    if arr.shape != shape:
        if arr.ndim == 0:
            arr = np.full(shape, float(arr))
        elif arr.size == int(np.prod(shape)) and arr.ndim == 1 and len(shape) > 1:
            arr = arr.reshape(shape)
        else:
            raise NetworkError(f"Gaussian CPD of {node!r}: {what} must have shape {shape}"
                               f"{' ' + described if described else ''}, got {arr.shape}")
    if not arr.flags.owndata:  # a view (reshaped or broadcast): take a copy of our own
        arr = np.array(arr, dtype=float)
    arr.setflags(write=False)
    return arr
