"""What an M-step reports besides its parameters (em layer)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class MStepNotes:
    """Gaussian configurations the M-step(s) that made a point had to treat specially,
    as ``(node, configuration index)``: variance floored, zero weight (previous
    parameters kept), collinear parents, variance below the round-off of its sums;
    and how much expected log-likelihood round-off can cost
    (:func:`bnem.em.gaussian_roundoff.roundoff_slack`)."""

    floored: tuple = ()
    empty: tuple = ()
    collinear: tuple = ()
    imprecise: tuple = ()
    slack: float = 0.0

    def after(self, earlier: "MStepNotes") -> "MStepNotes":
        """These notes for a point two M-steps from the last: ``earlier``'s round-off
        counts too."""
        return dataclasses.replace(self, imprecise=tuple(sorted(set(self.imprecise)
                                                                | set(earlier.imprecise))),
                                   slack=self.slack + earlier.slack)

    def __add__(self, other: "MStepNotes") -> "MStepNotes":
        """The notes of two families' M-steps of one point."""
        if other is NONE:
            return self
        if self is NONE:
            return other
        return MStepNotes(self.floored + other.floored, self.empty + other.empty,
                          self.collinear + other.collinear, self.imprecise + other.imprecise,
                          self.slack + other.slack)


NONE = MStepNotes()  # nothing to note (shared: the table family's every M-step)
