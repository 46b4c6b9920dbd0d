"""Starting parameters for EM."""

from __future__ import annotations

import numpy as np

INITS = ("random", "uniform", "network", "complete-case")
COMPLETE_CASE_PSEUDOCOUNT = 1e-3


def initial_theta(init: str, network, maximizer, compiled, rng: np.random.Generator,
                  prior: float) -> np.ndarray:
    """Flat starting parameters.

    * ``random``: each distribution drawn from a flat Dirichlet (seeded);
    * ``uniform``: every distribution uniform;
    * ``network``: the CPDs of the network passed in;
    * ``complete-case``: the MLE from the rows where a family is fully observed, with
      a pseudo-count of ``max(prior, 1e-3)`` so that no probability starts at zero
      (a state never seen among complete cases would make other rows impossible).
    """
    if init == "random":
        theta, _ = maximizer.maximize(rng.gamma(1.0, size=network.offsets[-1]))
    elif init == "uniform":
        theta, _ = maximizer.maximize(np.zeros(network.offsets[-1]))
    elif init == "network":
        theta = network.flat_params()
    else:
        theta, _ = maximizer.maximize(compiled.obs_counts,
                                      prior=max(prior, COMPLETE_CASE_PSEUDOCOUNT))
    return theta
