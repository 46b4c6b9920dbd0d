"""Where a run of EM starts: parameters from the options' ``init`` and the data (em
layer)."""

from __future__ import annotations

import numpy as np

from ..errors import BnemValueError
from ..network.parameters import Parameters
from .gaussian_init import MIXTURE_INITS, initial_gaussians
from .init import initial_theta
from .resp_init import random_resp_theta
from .run import Problem


def start_point(problem: Problem, rng: np.random.Generator) -> Parameters:
    """Starting parameters for one restart."""
    opts, data = problem.options, problem.data
    network = data.compiled.network
    if opts.init == "random-resp" and not network.is_hybrid:
        return problem.constrain(Parameters(_random_resp(problem, rng)))
    table_init = "random" if opts.init in MIXTURE_INITS else opts.init
    theta = initial_theta(table_init, network, problem.maximizer, data.obs_counts, rng,
                          opts.prior, _count_means(problem))
    if not network.is_hybrid:
        return problem.constrain(Parameters(theta))
    return problem.constrain(Parameters(theta, initial_gaussians(opts.init, data, rng,
                                                                 opts.min_variance)))


def _random_resp(problem: Problem, rng: np.random.Generator) -> np.ndarray:
    """A discrete network's ``random-resp`` start (:mod:`bnem.em.resp_init`)."""
    data, network = problem.data, problem.data.compiled.network
    latent = [network.discrete_index(n) for n in data.latent if n in network.discrete_nodes]
    if not latent:
        raise BnemValueError("init='random-resp' draws random responsibilities for the "
                             "latent nodes (nodes absent from the data or entirely missing); "
                             "these data have none. Use init='random' or 'complete-case'.")
    return random_resp_theta(network, problem.maximizer, data.distinct_rows(), latent, rng,
                             problem.options.prior)


def _count_means(problem: Problem) -> dict[str, float]:
    """The observed mean count of every Poisson node (a count above its ``max_count``
    taken as ``max_count + 1``), for random starts near the data; one pass over the
    distinct rows, only when the network has Poisson nodes."""
    network = problem.data.compiled.network
    forms = network.constraints.forms
    nodes = [n for n, f in forms.items() if getattr(f, "kind", None) == "Poisson"]
    if not nodes:
        return {}
    index = [network.discrete_index(n) for n in nodes]
    totals, weights = np.zeros(len(nodes)), np.zeros(len(nodes))
    for codes, w in problem.data.distinct_rows():
        values = codes[:, index].astype(float)
        seen = values >= 0
        totals += np.where(seen, values, 0.0).T @ w
        weights += seen.T.astype(float) @ w
    return {n: float(t / c) for n, t, c in zip(nodes, totals, weights) if c > 0}
