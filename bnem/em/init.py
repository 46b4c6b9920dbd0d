"""Starting parameters for EM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork
    from .mstep import Maximizer

import numpy as np

INITS = ("random", "uniform", "network", "complete-case")
COMPLETE_CASE_PSEUDOCOUNT = 1e-3


RATE_FLOOR = 0.05  # the smallest start rate: a rate of 0 makes every count but 0 impossible


def random_counts(network: "BayesianNetwork", rng: np.random.Generator,
                  observed: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Random counts whose M-step is a random start: a flat Dirichlet's draw for every
    table; for a Poisson node whose counts the data show (``observed``: the weight of
    each count 0 .. M + 1 among them), rates drawn among those counts (each
    configuration's a random observed count plus a uniform draw in [-0.5, 0.5), at
    least :data:`RATE_FLOOR`) rather than
    the flat draw's, whose rates would all start near ``max_count / 2``. The nodes of a
    shared block get the same draw."""
    counts = rng.gamma(1.0, size=network.offsets[-1])
    forms, c = network.constraints.forms, network.constraints
    drawn: dict = {}
    for node, weights in (observed or {}).items():
        form = forms.get(node)
        if getattr(form, "kind", None) != "Poisson" or not weights.sum() > 0:
            continue
        i = network.discrete_index(node)
        lo, hi = int(network.offsets[i]), int(network.offsets[i + 1])
        key = c.group_of(node) or node
        if key not in drawn:  # (the uniform part keeps two configurations apart)
            size = (hi - lo) // int(network.cards[i])
            values = rng.choice(weights.size, size=size, p=weights / weights.sum())
            drawn[key] = np.maximum(values + rng.uniform(-0.5, 0.5, size), RATE_FLOOR)
        counts[lo:hi] = form.table(drawn[key]).ravel()  # type: ignore[union-attr]
    return counts


def initial_theta(init: str, network: "BayesianNetwork", maximizer: "Maximizer", obs_counts: np.ndarray,
                  rng: np.random.Generator, prior: float,
                  observed_counts: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Flat starting parameters.

    * ``random``: each distribution drawn from a flat Dirichlet (seeded); a Poisson
      node's rates drawn among its observed counts (``observed_counts``,
      :func:`random_counts`);
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
        theta, _ = maximizer.maximize(random_counts(network, rng, observed_counts))
    elif init == "uniform":
        theta, _ = maximizer.maximize(np.zeros(network.offsets[-1]))
    elif init == "network":
        theta = network.flat_params()
    else:
        theta, _ = maximizer.maximize(obs_counts,
                                      prior=max(prior, COMPLETE_CASE_PSEUDOCOUNT))
        unseen = maximizer.empty_blocks(obs_counts, forms=True)
        if unseen.any():
            drawn, _ = maximizer.maximize(random_counts(network, rng, observed_counts))
            fill = unseen[maximizer.block_of]
            theta[fill] = drawn[fill]
    return theta
