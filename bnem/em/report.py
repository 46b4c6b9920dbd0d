"""What a fit tells its user: every warning of ``bnem.fit`` is assembled here (em layer)."""

from __future__ import annotations

from collections.abc import Iterable

import warnings

import numpy as np

from ..errors import BnemValueError, ConvergenceWarning, DegenerateWarning, InterruptedWarning
from ..network.bayesnet import BayesianNetwork
from .mstep import Maximizer
from .options import FitOptions
from .run import MONOTONE_RTOL, RunOutcome


def describe_gaussian(network: BayesianNetwork, flagged: Iterable[tuple[str, int]]) -> list:
    """``(node, {discrete parent: state})`` for each flagged ``(node, configuration)``."""
    return [(node, network.configuration(network.cpd(node).discrete_parents, u))
            for node, u in flagged]


def warn_symmetric(start: BayesianNetwork, latent: Iterable[str], init: str) -> None:
    """Warn when the start gives all states of a latent discrete node the same
    parameters everywhere: EM can then never tell them apart."""
    for node in latent:
        if node not in start.discrete_nodes or len(start.states(node)) < 2:
            continue
        children = start.children(node)
        if children and all(_same_for_every_state(start, child, node) for child in children):
            warnings.warn(
                f"init={init!r} gives every state of the latent node {node!r} the same "
                "parameters in all its children, so EM cannot tell the states apart and will "
                "treat them as one. Use a random start (init='random' or, with Gaussian "
                "children, 'k-means++').", DegenerateWarning, stacklevel=3)


def check_observed(network: BayesianNetwork, latent: Iterable[str]) -> None:
    """Refuse data with no observed cell; warn for latent nodes that no observed node
    depends on (EM can only return their starting parameters)."""
    latent = set(latent)
    if latent >= set(network.nodes):
        raise BnemValueError(
            "the data have no observed cell (every column is missing or absent), so EM has "
            "nothing to learn from; expected at least one observed value of some node")
    blind = [n for n in network.nodes if n in latent and not _observed_below(network, n, latent)]
    if blind:
        warnings.warn(
            f"{len(blind)} latent node(s) ({', '.join(map(repr, blind[:5]))}"
            f"{', ...' if len(blind) > 5 else ''}) have no observed descendant: no data "
            "depend on them, so their parameters stay at the start and are not learned. "
            "Observe them or their children, or drop them.", DegenerateWarning, stacklevel=3)
    hidden = [n for n in network.continuous_nodes if n in latent and n not in blind]
    if hidden:
        warnings.warn(
            f"the Gaussian node(s) {', '.join(map(repr, hidden[:5]))}"
            f"{', ...' if len(hidden) > 5 else ''} are never observed (no column, or every "
            "cell missing): a shift or rescaling of such a node is absorbed by its children's "
            "intercepts and weights, so its mean and variance are not identified and the "
            "learned values depend on the start; only the distribution of the observed nodes "
            "is. Observe the node in some rows, or compare only the observed nodes.",
            DegenerateWarning, stacklevel=3)


def _observed_below(net: BayesianNetwork, node: str, latent: set) -> bool:
    stack, seen = list(net.children(node)), set()
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        if child not in latent:
            return True
        seen.add(child)
        stack.extend(net.children(child))
    return False


def _same_for_every_state(net: BayesianNetwork, child: str, node: str) -> bool:
    cpd = net.cpd(child)
    arrays: tuple
    if child in net.continuous_nodes:
        ax = cpd.discrete_parents.index(node)
        arrays = (cpd.intercept, cpd.weights, cpd.variance)
    else:
        ax = cpd.parents.index(node)
        arrays = (cpd.values,)
    return not any(np.ptp(a, axis=ax).any() for a in arrays)


def conclude(network: BayesianNetwork, outcome: RunOutcome, maximizer: Maximizer,
             options: FitOptions, total_weight: float,
             interrupted: bool = False, timed_out: bool = False,
             reason: str = "Ctrl-C", constant: dict | None = None) -> tuple[list, list]:
    """Issue the warnings a finished fit calls for; return its empty configurations
    and floored variances (see :class:`~bnem.em.result.FitResult`). ``reason`` names
    what interrupted it (``Ctrl-C``, ``SIGTERM``, ``SIGHUP``); ``constant``: the continuous
    columns whose observed values are all equal (column -> value)."""
    if interrupted:
        warnings.warn(
            f"fit interrupted ({reason}) after finishing its iteration: returning the best "
            "parameters found so far (FitResult.interrupted is True)",
            InterruptedWarning, stacklevel=3)
    if timed_out:
        warnings.warn(
            f"EM stopped at max_time={options.max_time:g} s before converging (last increase "
            f"{outcome.last_delta / total_weight:.3g} nats per row); the best parameters so far "
            "are returned. Allow more time, or resume from a checkpoint.",
            ConvergenceWarning, stacklevel=3)
    if not outcome.converged and not outcome.stopped and options.max_iter > 0:
        warnings.warn(
            f"EM did not converge in max_iter={options.max_iter} iterations (last increase "
            f"{outcome.last_delta / total_weight:.3g} nats per row > tol={options.tol:g}). "
            "Increase max_iter, loosen tol, or try init='complete-case'.",
            ConvergenceWarning, stacklevel=3)
    notes = outcome.point.notes
    _warn_roundoff_stop(outcome)
    empty = maximizer.describe_blocks(maximizer.empty_blocks(outcome.point.stats.counts))
    empty += describe_gaussian(network, notes.empty)
    floored = describe_gaussian(network, notes.floored)
    constant = constant or {}
    flat = sorted({node for node, _ in floored if node in constant})
    if flat:
        warnings.warn(
            f"column(s) {flat} are constant (every observed value of {flat[0]!r} is "
            f"{constant[flat[0]]:g}): a constant has no spread, so its variance was held at "
            f"min_variance={options.min_variance:g}. Drop the column, or model it as "
            "discrete.", DegenerateWarning, stacklevel=3)
        floored_rest = [f for f in floored if f[0] not in flat]
    else:
        floored_rest = floored
    if floored_rest:
        warnings.warn(
            f"{len(floored_rest)} Gaussian variance(s) were held at min_variance="
            f"{options.min_variance:g} (e.g. {floored_rest[0][0]} given {floored_rest[0][1]}): a component "
            "collapsed onto too few rows, a column is a linear function of its parents, or "
            "the column's own spread is on the scale of "
            f"min_variance (a standard deviation of {options.min_variance ** 0.5:.3g} in the "
            "column's units; min_variance is absolute, like scikit-learn's reg_covar). Use "
            "fewer components, more data or another start; or rescale the column or lower "
            "min_variance. See FitResult.floored_variances.", DegenerateWarning, stacklevel=3)
    collinear = describe_gaussian(network, notes.collinear)
    if collinear:
        warnings.warn(
            f"the continuous parents of {collinear[0][0]} (given {collinear[0][1]}) are so "
            "nearly collinear that part of their joint effect could not be estimated "
            f"({len(collinear)} node configuration(s) in all); drop or combine one of the "
            "collinear parents.", DegenerateWarning, stacklevel=3)
    if empty:
        kept = "the prior's uniform distribution" if options.prior else "a uniform distribution"
        if notes.empty:
            kept += " (Gaussian nodes: their previous parameters)"
        remedy = "" if options.prior else ", or use prior > 0 to smooth all distributions"
        warnings.warn(
            f"{len(empty)} parent configuration(s) had zero expected count and keep {kept} "
            f"(e.g. {empty[0][0]} given {empty[0][1]}): the data say nothing about them; see "
            f"FitResult.empty_configurations{remedy}.", DegenerateWarning, stacklevel=3)
    return empty, floored


def _warn_roundoff_stop(outcome: RunOutcome) -> None:
    """A run that converged on a step that lowered the objective (within the round-off
    the monotonicity check allows, beyond the ordinary relative one) stopped where the
    arithmetic, not EM, sets the precision: say so, and what to do."""
    drop = -outcome.last_delta
    if outcome.converged and drop > MONOTONE_RTOL * max(1.0, abs(outcome.point.objective)):
        warnings.warn(
            f"EM stopped where its objective is round-off: the last step lowered it by "
            f"{drop:.3g} nats, within what floating point can promise for these values "
            f"(up to {outcome.point.notes.slack:.3g} nats). Typical causes: a continuous "
            "column far from 0 for its spread (e.g. 1e7 +- 1e-5) that is the parent of "
            "another, or a column that is a linear function of others to nearly every "
            "digit. Centre or rescale such columns (or drop the column) for a more "
            "precise fit.", ConvergenceWarning, stacklevel=4)
