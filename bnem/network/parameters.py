"""The numbers of a network as EM moves them (network layer).

A :class:`Parameters` value is what one EM iteration maps to the next: one *block*
per CPD family, keyed by the family's name (:data:`TABLE`: the discrete tables as one
flat vector, node order, C order within a table, see
:meth:`BayesianNetwork.flat_params`; :data:`GAUSSIAN`: the Gaussian CPDs by node).
The EM side of each family (:mod:`bnem.em.families`) reads and writes its own block.

>>> import numpy as np
>>> p = Parameters(np.array([0.2, 0.8]))
>>> sorted(p.blocks), p.theta.tolist(), p.gaussians
(['table'], [0.2, 0.8], {})
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .bayesnet import BayesianNetwork

TABLE = "table"
GAUSSIAN = "gaussian"


@dataclass(frozen=True, init=False, eq=False)
class Parameters:
    """One parameter block per CPD family (``blocks``); ``Parameters(theta, gaussians)``
    builds the two families bnem has (the Gaussian block left out when empty)."""

    blocks: Mapping[str, Any]

    def __init__(self, theta: np.ndarray | None = None,
                 gaussians: Mapping | None = None, *,
                 blocks: Mapping[str, Any] | None = None) -> None:
        if blocks is None:
            blocks = {TABLE: np.zeros(0) if theta is None else theta}
            if gaussians:
                blocks[GAUSSIAN] = gaussians
        object.__setattr__(self, "blocks", dict(blocks))

    @property
    def theta(self) -> np.ndarray:
        """The flat tables (the table family's block)."""
        return self.blocks[TABLE]

    @property
    def gaussians(self) -> Mapping:
        """The Gaussian CPDs by node (empty for a discrete network)."""
        return self.blocks.get(GAUSSIAN, {})

    def with_block(self, family: str, block: Any) -> "Parameters":
        """These parameters with ``family``'s block replaced."""
        return Parameters(blocks={**self.blocks, family: block})

    @classmethod
    def of(cls, network: "BayesianNetwork") -> "Parameters":
        """The parameters of ``network``."""
        return cls(network.flat_params(), network.gaussian_cpds)

    def to_network(self, template: "BayesianNetwork") -> "BayesianNetwork":
        """A copy of ``template`` carrying these parameters."""
        return template.from_flat(template, self.theta, self.gaussians or None)
