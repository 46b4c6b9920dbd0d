"""The numbers of a network as EM moves them (network layer).

A :class:`Parameters` value is what one EM iteration maps to the next: the discrete
tables as one flat vector (node order, C order within a table; see
:meth:`BayesianNetwork.flat_params`) and the Gaussian CPDs by node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .gaussian import GaussianCPD

if TYPE_CHECKING:
    from .bayesnet import BayesianNetwork


@dataclass(frozen=True)
class Parameters:
    """Flat tables ``theta`` and the Gaussian CPDs (empty for a discrete network)."""

    theta: np.ndarray
    gaussians: Mapping[str, GaussianCPD] = field(default_factory=dict)

    @classmethod
    def of(cls, network: "BayesianNetwork") -> "Parameters":
        """The parameters of ``network``."""
        return cls(network.flat_params(), network.gaussian_cpds)

    def to_network(self, template: "BayesianNetwork") -> "BayesianNetwork":
        """A copy of ``template`` carrying these parameters."""
        return template.from_flat(template, self.theta, self.gaussians or None)
