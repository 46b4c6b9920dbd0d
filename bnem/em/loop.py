"""The EM loop: initialisation, restarts, convergence, history and the monotonicity check."""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._validation import check_choice, check_float, check_int, check_seed
from ..errors import BnemTypeError, BnemValueError, ConvergenceWarning, DegenerateWarning, MonotonicityError
from ..inference.hybrid import joints
from .estep import DEFAULT_CACHE_MB, DEFAULT_CHUNK_ROWS, CompiledData
from .gaussian_init import MIXTURE_INITS, initial_gaussians
from .gaussian_mstep import maximize_component
from .init import INITS, initial_theta
from .mstep import Maximizer
from .result import FitResult

logger = logging.getLogger("bnem")

MONOTONE_RTOL = 1e-9


@dataclass(frozen=True)
class Progress:
    """What a ``callback`` receives after every E-step."""

    restart: int
    iteration: int
    log_likelihood: float
    objective: float
    delta: float
    seconds: float


DEFAULT_MIN_VARIANCE = 1e-6
STOCHASTIC_INITS = ("random",) + MIXTURE_INITS


def fit(network, data, max_iter: int = 200, tol: float = 1e-6, seed=0, init: str | None = None,
        n_init: int = 1, prior: float = 0.0, callback=None, progress: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS, cache_mb: float = DEFAULT_CACHE_MB,
        min_variance: float = DEFAULT_MIN_VARIANCE, hard: bool = False) -> FitResult:
    """Learn the CPDs of ``network`` from ``data`` by EM.

    Parameters
    ----------
    network : BayesianNetwork
        Structure (and, for ``init="network"``, starting CPDs).
    data : pandas.DataFrame
        Columns named after nodes; NaN is missing; absent nodes are latent.
    max_iter : int
        Most M-steps to perform (>= 0).
    tol : float
        Stop when the objective rises by less than ``tol`` nats per row.
    seed : int or numpy Generator or None
        Seeds ``init="random"``; the same seed gives the same result.
    init : {"random", "uniform", "network", "complete-case", "k-means++", "random-rows", "random-resp"}
        Default: ``"random"`` for a discrete network, ``"k-means++"`` for a hybrid one.
        The last three apply to hybrid networks (Gaussian mixtures): they place each
        continuous component's interface configurations at k-means++ centres, at
        random rows, or give rows random responsibilities (see
        :mod:`bnem.em.gaussian_init`); discrete tables then start as for ``"random"``.
    n_init : int
        Number of random restarts; the one with the best final objective is kept.
    prior : float
        Dirichlet pseudo-count added to every expected count of a table (MAP-EM). The
        monotone objective is then the log posterior, shown in
        ``history.log_posterior``. Gaussian nodes are always fitted by maximum likelihood.
    callback : callable, optional
        Called with a :class:`Progress` after every E-step; returning ``True`` stops.
    progress : bool
        Show a one-line progress display on standard error.
    chunk_rows : int
        Distinct rows evaluated together (bounds the working memory of an E-step).
    cache_mb : float
        Memory for the per-chunk evidence analysis kept between iterations; chunks
        beyond it are re-analysed at every E-step (slower, bounded memory).
    min_variance : float
        Floor of every Gaussian node's conditional variance (like scikit-learn's
        ``reg_covar``, but a floor rather than an addition). A variance that hits it
        is reported by a ``DegenerateWarning`` naming the node and configuration.
        0 disables it (a collapsing component is then an error).
    hard : bool
        Classification EM: every row counts wholly for its most probable completion
        (k-means is the limit of this for a Gaussian mixture). The monotone objective
        is then the classification log-likelihood ``sum max_z log p(row, z)``, shown
        in ``history.classification_log_likelihood``. Each row's unobserved discrete
        variables must lie in one clique of the junction tree (true of mixtures and
        latent-class models).

    Returns
    -------
    FitResult

    Raises
    ------
    DataError, ImpossibleRowError, MonotonicityError, BnemValueError, BnemTypeError

    Warns
    -----
    ConvergenceWarning
        At ``max_iter`` without reaching ``tol``.
    DegenerateWarning
        When parent configurations had zero expected count, or a Gaussian variance
        was held at ``min_variance``.
    """
    from ..network.bayesnet import BayesianNetwork

    if not isinstance(network, BayesianNetwork):
        raise BnemTypeError(f"network must be a bnem.BayesianNetwork, got {type(network).__name__}")
    max_iter = check_int(max_iter, "max_iter", minimum=0)
    tol = check_float(tol, "tol", minimum=0.0)
    n_init = check_int(n_init, "n_init", minimum=1)
    prior = check_float(prior, "prior", minimum=0.0)
    chunk_rows = check_int(chunk_rows, "chunk_rows", minimum=1)
    cache_mb = check_float(cache_mb, "cache_mb", minimum=0.0)
    min_variance = check_float(min_variance, "min_variance", minimum=0.0)
    if not isinstance(hard, (bool, np.bool_)):
        raise BnemTypeError(f"hard must be True or False, got {hard!r}")
    if init is None:
        init = "k-means++" if network.is_hybrid else "random"
    check_choice(init, "init", INITS + MIXTURE_INITS)
    if init in MIXTURE_INITS and not network.is_hybrid:
        raise BnemValueError(
            f"init={init!r} places Gaussian components; this network has no continuous "
            f"nodes. Use one of {', '.join(map(repr, INITS))}.")
    if n_init > 1 and init not in STOCHASTIC_INITS:
        raise BnemValueError(
            f"n_init={n_init} restarts need a random start ({', '.join(map(repr, STOCHASTIC_INITS))}); "
            f"init={init!r} gives the same start every time")
    if callback is not None and not callable(callback):
        raise BnemTypeError(f"callback must be callable, got {type(callback).__name__}")
    rng = check_seed(seed)
    t0 = time.perf_counter()
    compiled = CompiledData(network, data, chunk_rows=chunk_rows, cache_mb=cache_mb)
    n_compact = sum(ev.is_compact for ev in compiled.cache.values())
    logger.info("compiled %d rows (%d distinct) in %.3f s; latent: %s; %.0f MB of analysis "
                "kept%s%s", compiled.encoded.n_rows, compiled.encoded.codes.shape[0],
                time.perf_counter() - t0, ", ".join(compiled.encoded.latent) or "none",
                compiled.cached_bytes / 2 ** 20,
                f", {n_compact} of {len(compiled.slices)} chunks compact" if n_compact else "",
                f", {compiled.n_streamed} of {len(compiled.slices)} chunks re-analysed every "
                "iteration (raise cache_mb to keep them)" if compiled.n_streamed else "")
    maximizer = Maximizer(network)
    runs = []
    for restart in range(n_init):
        theta0 = initial_theta("random" if init in MIXTURE_INITS else init, network, maximizer,
                               compiled, rng, prior)
        gauss0 = initial_gaussians(init, compiled, network, rng, min_variance) \
            if network.is_hybrid else None
        if restart == 0:
            _warn_symmetric(BayesianNetwork._from_flat(network, theta0, gauss0),
                            compiled.encoded.latent, init)
        runs.append(_run(compiled, maximizer, (theta0, gauss0), max_iter, tol, prior, callback,
                         progress, restart, t0, init, min_variance, hard))
        if runs[-1]["stopped"]:
            break
    best = max(range(len(runs)), key=lambda k: runs[k]["objective"])
    run = runs[best]
    if not run["converged"] and not run["stopped"] and max_iter > 0:
        warnings.warn(
            f"EM did not converge in max_iter={max_iter} iterations (last increase "
            f"{run['last_delta'] / compiled.total_weight:.3g} nats per row > tol={tol:g}). "
            "Increase max_iter, loosen tol, or try init='complete-case'.",
            ConvergenceWarning, stacklevel=2)
    empty = maximizer.describe_blocks(run["empty"]) if run["empty"] is not None else []
    empty += _describe_gaussian(network, run["gauss_empty"])
    floored = _describe_gaussian(network, run["floored"])
    if floored:
        warnings.warn(
            f"{len(floored)} Gaussian variance(s) were held at min_variance={min_variance:g} "
            f"(e.g. {floored[0][0]} given {floored[0][1]}): a component collapsed onto too few "
            "rows. Use fewer components, more data, or another start; see "
            "FitResult.floored_variances.", DegenerateWarning, stacklevel=2)
    collinear = _describe_gaussian(network, run["collinear"])
    if collinear:
        warnings.warn(
            f"the continuous parents of {collinear[0][0]} (given {collinear[0][1]}) are so "
            "nearly collinear that part of their joint effect could not be estimated "
            f"({len(collinear)} node configuration(s) in all); drop or combine one of the "
            "collinear parents.", DegenerateWarning, stacklevel=2)
    if empty:
        kept = "the prior's uniform distribution" if prior else "a uniform distribution"
        if run["gauss_empty"]:
            kept += " (Gaussian nodes: their previous parameters)"
        remedy = "" if prior else ", or use prior > 0 to smooth all distributions"
        warnings.warn(
            f"{len(empty)} parent configuration(s) had zero expected count and keep {kept} "
            f"(e.g. {empty[0][0]} given {empty[0][1]}): the data say nothing about them; see "
            f"FitResult.empty_configurations{remedy}.", DegenerateWarning, stacklevel=2)
    learned = BayesianNetwork._from_flat(network, run["theta"], run["gauss"])
    restarts = pd.DataFrame([{"restart": k, "log_likelihood": r["log_likelihood"],
                              "objective": r["objective"], "n_iter": r["n_iter"],
                              "converged": r["converged"]} for k, r in enumerate(runs)])
    result = FitResult(learned, run["history"], run["log_likelihood"], run["n_iter"],
                       run["converged"], compiled.encoded.n_rows, time.perf_counter() - t0,
                       empty, restarts, floored)
    logger.debug("%s", result.summary())
    return result


def _run(compiled, maximizer, state, max_iter, tol, prior, callback, progress, restart, t0,
         init, min_variance, hard):
    theta, gauss = state
    rows = []
    prev = -math.inf
    converged = stopped = False
    weight = compiled.total_weight
    floored, gauss_empty, collinear = set(), set(), set()
    for it in range(max_iter + 1):
        context = "initial" if it == 0 else f"iteration-{it}"
        if it == 0 and init == "network":
            context = "network's own"
        jp = None if gauss is None else joints(compiled.structure, gauss)
        e = compiled.expected_counts(theta, context, jp, hard)
        counts, stats, ll = e.counts, e.stats, e.log_likelihood
        objective = (ll if not hard else e.classification) + maximizer.log_prior(theta, prior)
        delta = objective - prev if it else math.nan
        seconds = time.perf_counter() - t0
        rows.append((it, ll, objective, delta, seconds))
        logger.info("restart %d iteration %d: log-likelihood %.6f%s", restart, it, ll,
                    "" if it == 0 else f" (+{delta:.6g})")
        if progress:
            _show_progress(restart, it, ll, delta, seconds)
        if it and math.isfinite(prev) and objective < prev - MONOTONE_RTOL * max(1.0, abs(prev)):
            raise MonotonicityError(
                f"EM objective decreased at iteration {it} (restart {restart}): "
                f"{prev:.12g} -> {objective:.12g}. This is a bug in bnem; please report it "
                "with the network and data.")
        if callback is not None and callback(Progress(restart, it, ll, objective, delta, seconds)):
            stopped = True
            break
        if it and delta <= tol * weight:
            converged = True
            break
        if it == max_iter:
            break
        theta, _ = maximizer.maximize(counts, prior)
        if gauss is not None:
            gauss, floored, gauss_empty, collinear = _maximize_gaussians(
                compiled.structure, stats, jp, gauss, min_variance)
        prev = objective
    if progress:
        sys.stderr.write("\n")
    empty = maximizer.empty_blocks(counts)
    columns = ["iteration", "log_likelihood", "objective", "delta", "seconds"]
    history = pd.DataFrame(rows, columns=columns)
    if hard or prior:  # the monotone objective differs from the log-likelihood
        name = ("classification_" if hard else "") + ("log_posterior" if prior
                                                       else "log_likelihood")
        history = history.rename(columns={"objective": name})
    else:
        history = history.drop(columns="objective")
    return {"theta": theta, "gauss": gauss, "history": history, "log_likelihood": ll,
            "objective": objective, "n_iter": it, "converged": converged, "stopped": stopped,
            "last_delta": delta, "empty": empty, "floored": sorted(floored), "collinear": sorted(collinear),
            "gauss_empty": sorted(gauss_empty)}


def _maximize_gaussians(structure, stats, joint_params, gauss, min_variance):
    new, floored, empty, collinear = dict(gauss), set(), set(), set()
    for comp, st, jg in zip(structure.components, stats, joint_params):
        cpds, fl, em, co = maximize_component(comp, st, jg.mean, gauss, min_variance)
        new.update(cpds)
        floored.update(fl)
        empty.update(em)
        collinear.update(co)
    return new, floored, empty, collinear


def _warn_symmetric(start, latent, init):
    """Warn when the start gives all states of a latent discrete node the same
    parameters everywhere: EM can then never tell them apart."""
    for node in latent:
        if node not in start.discrete_nodes or len(start.states(node)) < 2:
            continue
        children = start.children(node)
        if not children:
            continue
        same = True
        for child in children:
            cpd = start.cpd(child)
            if child in start.continuous_nodes:
                ax = cpd.discrete_parents.index(node)
                arrays = (cpd.intercept, cpd.weights, cpd.variance)
            else:
                ax = cpd.parents.index(node)
                arrays = (cpd.values,)
            if any(np.ptp(a, axis=ax).any() for a in arrays):
                same = False
                break
        if same:
            warnings.warn(
                f"init={init!r} gives every state of the latent node {node!r} the same "
                "parameters in all its children, so EM cannot tell the states apart and will "
                "treat them as one. Use a random start (init='random' or, with Gaussian "
                "children, 'k-means++').", DegenerateWarning, stacklevel=3)


def _describe_gaussian(network, flagged):
    """(node, {discrete parent: state}) for each flagged (node, configuration index)."""
    out = []
    for node, u in flagged:
        cpd = network.cpd(node)
        config = np.unravel_index(u, cpd.mean_shape) if cpd.discrete_parents else ()
        out.append((node, {p: network.states(p)[int(k)]
                           for p, k in zip(cpd.discrete_parents, config)}))
    return out


def _show_progress(restart, it, ll, delta, seconds):
    sys.stderr.write(f"\r[bnem] restart {restart} iteration {it:4d}  log-likelihood {ll:.6f}  "
                     f"delta {delta:.3g}  {seconds:.1f}s")
    sys.stderr.flush()
