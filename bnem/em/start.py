"""Where a run of EM starts: parameters from the options' ``init`` and the data (em
layer)."""

from __future__ import annotations

import numpy as np

from ..errors import BnemValueError, ImpossibleRowError
from ..network.parameters import Parameters
from .gaussian_init import MIXTURE_INITS, initial_gaussians
from .init import initial_theta
from .resp_init import random_resp_theta
from .run import Problem


REDRAWS = 20  # random starts drawn for one restart before a row's impossibility is final


def start_point(problem: Problem, rng: np.random.Generator) -> Parameters:
    """Starting parameters for one restart. A random start of a network with Poisson
    nodes can leave an observed count impossible under every state (its probability
    below the float range); such a start is drawn again, up to :data:`REDRAWS` times."""
    observed = _observed_counts(problem)
    for attempt in range(REDRAWS):
        params = _drawn(problem, rng, observed)
        if not observed or problem.options.init not in ("random", "complete-case"):
            return params
        try:
            problem.evaluate(params, count=False)
            return params
        except ImpossibleRowError as exc:
            if attempt == REDRAWS - 1:
                raise ImpossibleRowError(
                    f"{exc} ({REDRAWS} random starts of the Poisson rates all left a row "
                    "impossible: use init='random-resp', or give the rates with "
                    "net.poisson(node, rates=...) and init='network')") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _drawn(problem: Problem, rng: np.random.Generator,
           observed: dict[str, np.ndarray]) -> Parameters:
    opts, data = problem.options, problem.data
    network = data.compiled.network
    if opts.init == "random-resp" and not network.is_hybrid:
        return problem.constrain(Parameters(_random_resp(problem, rng)))
    table_init = "random" if opts.init in MIXTURE_INITS else opts.init
    theta = initial_theta(table_init, network, problem.maximizer, data.obs_counts, rng,
                          opts.prior, observed)
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


def _observed_counts(problem: Problem) -> dict[str, np.ndarray]:
    """Per Poisson node the data show, the weight of each of its states (counts 0 .. M,
    then above M) among the rows: one pass over the distinct rows per fit (kept on the
    problem), only when the network has Poisson nodes."""
    network = problem.data.compiled.network
    forms = network.constraints.forms
    nodes = [n for n, f in forms.items() if getattr(f, "kind", None) == "Poisson"]
    if not nodes:
        return {}
    kept = getattr(problem, "observed_counts", None)
    if kept is not None:
        return kept
    index = [network.discrete_index(n) for n in nodes]
    sizes = [int(network.cards[i]) for i in index]
    hist = [np.zeros(k) for k in sizes]
    for codes, w in problem.data.distinct_rows():
        for h, i, k in zip(hist, index, sizes):
            seen = codes[:, i] >= 0
            h += np.bincount(codes[seen, i], weights=w[seen], minlength=k)
    out = {n: h for n, h in zip(nodes, hist) if h.sum() > 0}
    problem.observed_counts = out  # type: ignore[attr-defined]
    return out
