"""The interface of a CPD family on the EM side (see :mod:`bnem.em.families`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from ..notes import MStepNotes

if TYPE_CHECKING:
    from ...inference.stats import Stats
    from ...inference.structure import Structure
    from ...network.bayesnet import BayesianNetwork
    from ...network.parameters import Parameters
    from ..mstep import Maximizer


@dataclass(frozen=True)
class Context:
    """What a fit's families need: the network (with its shared, held and tied
    blocks), its compiled structure, the table M-step, and the options that concern
    parameters."""

    network: "BayesianNetwork"
    structure: "Structure"
    maximizer: "Maximizer"
    prior: float = 0.0
    min_variance: float = 0.0


class Family(Protocol):
    """One kind of CPD, on the EM side."""

    name: ClassVar[str]

    def __init__(self, context: Context) -> None: ...

    @staticmethod
    def present(network: "BayesianNetwork") -> bool:
        """Whether ``network`` has CPDs of this family."""
        ...

    def maximize(self, params: "Parameters", stats: "Stats") -> tuple[Any, MStepNotes]:
        """The new block from the statistics of an E-step at ``params``."""
        ...

    def blend(self, running: Any, batch: Any, keep: float, take: float,
              params: "Parameters") -> Any:
        """``keep * running + take * batch`` of two statistics blocks (``running`` None:
        ``take * batch``), ``batch`` from an E-step at ``params``: what online EM's
        running statistics are (statistics of different parameters may need a common
        origin first)."""
        ...

    def start_statistics(self, block: Any, weight: float) -> Any | None:
        """Statistics of total weight ``weight`` whose M-step gives ``block`` back (online
        EM's running statistics before the first batch), or None when the first batch's
        statistics are taken whole."""
        ...

    def constrain(self, block: Any) -> Any:
        """``block`` within the network's blocks (``block`` itself when none apply)."""
        ...

    def log_prior(self, block: Any) -> float:
        """The block's term of the MAP objective (0 for maximum likelihood)."""
        ...

    def size(self, block: Any) -> int:
        """The number of coordinates of :meth:`to_vector`."""
        ...

    def to_vector(self, block: Any) -> tuple[np.ndarray, np.ndarray]:
        """Unconstrained coordinates, and a mask of coordinates to keep as they are."""
        ...

    def from_vector(self, x: np.ndarray, keep: np.ndarray, like: Any) -> Any | None:
        """The block at coordinates ``x`` (None when they are beyond floating point)."""
        ...

    def metric(self, block: Any, stats: "Stats") -> np.ndarray:
        """Per coordinate, its weight in SQUAREM's step length."""
        ...

    @staticmethod
    def arrays(block: Any, key: str) -> dict[str, np.ndarray]:
        """The block as named arrays (checkpoints)."""
        ...

    @staticmethod
    def from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> Any:
        """The block :meth:`arrays` wrote."""
        ...

    @staticmethod
    def stats_arrays(block: Any, key: str) -> dict[str, np.ndarray]:
        """A statistics block as named arrays (online EM's checkpoints keep the running
        statistics, which no E-step can recompute)."""
        ...

    @staticmethod
    def stats_from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> Any:
        """The statistics block :meth:`stats_arrays` wrote (ValueError if damaged)."""
        ...
