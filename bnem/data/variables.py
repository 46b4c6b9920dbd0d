"""Discrete variables: a name and an ordered tuple of state names (data layer)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BnemTypeError, NetworkError


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
    """

    name: str
    states: tuple

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise BnemTypeError(f"variable name must be a non-empty string, got {self.name!r}")
        states = tuple(str(s) for s in self.states)
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

    def index(self, state) -> int:
        """Position of ``state`` in :attr:`states`."""
        try:
            return self.states.index(str(state))
        except ValueError:
            raise NetworkError(
                f"{state!r} is not a state of {self.name!r}; valid states: {list(self.states)}"
            ) from None
