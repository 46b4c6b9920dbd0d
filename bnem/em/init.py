"""Starting parameters for EM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork
    from .mstep import Maximizer

import numpy as np

INITS = ("random", "uniform", "network", "complete-case")
COMPLETE_CASE_PSEUDOCOUNT = 1e-3


def initial_theta(init: str, network: "BayesianNetwork", maximizer: "Maximizer", obs_counts: np.ndarray,
                  rng: np.random.Generator, prior: float) -> np.ndarray:
    """Flat starting parameters.

    * ``random``: each distribution drawn from a flat Dirichlet (seeded);
    * ``uniform``: every distribution uniform;
    * ``network``: the CPDs of the network passed in;
    * ``complete-case``: the MLE from the rows where a family is fully observed, with
      a pseudo-count of ``max(prior, 1e-3)`` so that no probability starts at zero
      (a state never seen among complete cases would make other rows impossible).
      Parent configurations with no complete case at all (every family of a latent
      node) are drawn like ``random``: a uniform start there would be symmetric,
      and EM can never break that symmetry.
    """
    if init == "random":
        theta, _ = maximizer.maximize(rng.gamma(1.0, size=network.offsets[-1]))
    elif init == "uniform":
        theta, _ = maximizer.maximize(np.zeros(network.offsets[-1]))
    elif init == "network":
        theta = network.flat_params()
    else:
        theta, _ = maximizer.maximize(obs_counts,
                                      prior=max(prior, COMPLETE_CASE_PSEUDOCOUNT))
        unseen = maximizer.empty_blocks(obs_counts, forms=True)
        if unseen.any():
            drawn, _ = maximizer.maximize(rng.gamma(1.0, size=network.offsets[-1]))
            fill = unseen[maximizer.block_of]
            theta[fill] = drawn[fill]
    return theta
