"""Variables: discrete (a name and ordered state names) and continuous (data layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BnemTypeError, NetworkError


def value_label(value: object) -> str:
    """The text a state name or a data cell is matched by.

    Strings are kept; booleans give ``"True"``/``"False"``; integers and floats with
    an integral value give their decimal text (``3`` and ``3.0`` both give ``"3"``);
    other floats give their shortest text at their own precision (``0.1`` for a
    float32 0.1); anything else ``str(value)``.

    Examples
    --------
    >>> [value_label(v) for v in ("yes", True, 3, 3.0, 2.5)]
    ['yes', 'True', '3', '3', '2.5']
    >>> value_label(np.float32(0.1))
    '0.1'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isfinite(value) and float(value).is_integer():
            return str(int(value))
        return str(value) if isinstance(value, (float, np.float64)) else \
            np.format_float_positional(value, unique=True, trim="-")
    return str(value)


@dataclass(frozen=True)
class Variable:
    """A discrete variable with named, ordered states.

    Parameters
    ----------
    name : str
        Node name; columns of a data table are matched to it.
    states : sequence of str
        State names in the order used by CPD tables (last axis).

    Raises
    ------
    NetworkError
        If there are fewer than one state or a state name repeats.

    Examples
    --------
    >>> Variable("rain", ("yes", "no")).card
    2
    >>> Variable("size", [1, 2.0, "big"]).states
    ('1', '2', 'big')
    """

    name: str
    states: tuple[str, ...]

    is_continuous = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise BnemTypeError(f"variable name must be a non-empty string, got {self.name!r}")
        if isinstance(self.states, str):
            raise BnemTypeError(
                f"states of {self.name!r} must be a sequence of state names, got the string "
                f"{self.states!r} (write [{self.states!r}] for a single state)")
        try:
            states = tuple(value_label(s) for s in self.states)
        except TypeError:
            raise BnemTypeError(f"states of {self.name!r} must be a sequence of state names, "
                                f"got {self.states!r}") from None
        if len(states) < 1:
            raise NetworkError(f"variable {self.name!r} needs at least one state, got none")
        if len(set(states)) != len(states):
            seen, dup = set(), []
            for s in states:
                if s in seen:
                    dup.append(s)
                seen.add(s)
            raise NetworkError(f"variable {self.name!r} repeats state name(s) {dup}")
        object.__setattr__(self, "states", states)

    @property
    def card(self) -> int:
        """Number of states."""
        return len(self.states)

    def index(self, state: object) -> int:
        """Position of ``state`` in :attr:`states`.

        >>> Variable("rain", ("yes", "no")).index("no")
        1
        """
        try:
            return self.states.index(value_label(state))
        except ValueError:
            raise NetworkError(
                f"{state!r} is not a state of {self.name!r}; valid states: {list(self.states)}"
            ) from None


@dataclass(frozen=True)
class ContinuousVariable:
    """A real-valued variable (a Gaussian node of a hybrid network).

    Examples
    --------
    >>> ContinuousVariable("heat").is_continuous
    True
    """

    name: str

    is_continuous = True
    states = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise BnemTypeError(f"variable name must be a non-empty string, got {self.name!r}")
