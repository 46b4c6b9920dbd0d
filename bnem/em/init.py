"""Starting parameters for EM."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork
    from .mstep import Maximizer

import numpy as np

INITS = ("random", "uniform", "network", "complete-case")
COMPLETE_CASE_PSEUDOCOUNT = 1e-3


def random_counts(network: "BayesianNetwork", rng: np.random.Generator,
                  count_means: dict[str, float] | None = None) -> np.ndarray:
    """Random counts whose M-step is a random start: a flat Dirichlet's draw for every
    table; for a Poisson node whose counts the data show (``count_means``: their mean),
    tables of rates drawn around that mean (the mean times a Gamma(2, 1/2) factor)
    rather than the flat draw's, whose rates would all start near ``max_count / 2``."""
    counts = rng.gamma(1.0, size=network.offsets[-1])
    forms = network.constraints.forms
    for node, mean in (count_means or {}).items():
        form = forms.get(node)
        if getattr(form, "kind", None) != "Poisson" or not mean > 0:
            continue
        i = network.discrete_index(node)
        lo, hi = int(network.offsets[i]), int(network.offsets[i + 1])
        width = int(network.cards[i])
        rates = mean * rng.gamma(2.0, 0.5, size=(hi - lo) // width)
        counts[lo:hi] = form.table(rates).ravel()  # type: ignore[union-attr]
    return counts


def initial_theta(init: str, network: "BayesianNetwork", maximizer: "Maximizer", obs_counts: np.ndarray,
                  rng: np.random.Generator, prior: float,
                  count_means: dict[str, float] | None = None) -> np.ndarray:
    """Flat starting parameters.

    * ``random``: each distribution drawn from a flat Dirichlet (seeded); a Poisson
      node's rates drawn around its observed mean (``count_means``,
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
        theta, _ = maximizer.maximize(random_counts(network, rng, count_means))
    elif init == "uniform":
        theta, _ = maximizer.maximize(np.zeros(network.offsets[-1]))
    elif init == "network":
        theta = network.flat_params()
    else:
        theta, _ = maximizer.maximize(obs_counts,
                                      prior=max(prior, COMPLETE_CASE_PSEUDOCOUNT))
        unseen = maximizer.empty_blocks(obs_counts, forms=True)
        if unseen.any():
            drawn, _ = maximizer.maximize(random_counts(network, rng, count_means))
            fill = unseen[maximizer.block_of]
            theta[fill] = drawn[fill]
    return theta
