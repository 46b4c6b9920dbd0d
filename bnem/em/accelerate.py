"""SQUAREM: accelerated EM that stays monotone (em layer).

Plain EM is a fixed-point map ``F`` (an E-step, then an M-step) whose rate is the
fraction of missing information: slow when much is latent. SQUAREM (Varadhan &
Roland 2008, step-length scheme 3) takes two EM steps from ``θ0``, ``θ1 = F(θ0)`` and
``θ2 = F(θ1)``, and extrapolates along them::

    r = θ1 - θ0,  v = θ2 - θ1 - r,  α = |r|_W / |v|_W clipped to [1, step_max]
    θ' = θ0 + 2 α r + α² v

in coordinates where every point is a valid network: each table's log probabilities
(mapped back by a softmax per distribution; entries that are 0 stay 0), Gaussian
intercepts and weights as they are, log variances. The step length is measured in
a metric of the complete-data information per row (:meth:`_Coordinates.metric`), not
in the raw coordinates: there, the log of a probability EM drives towards 0 moves by
a constant each step however little the likelihood cares, and such entries set ``α``
for all the others (on the benchmark's latent models the metric saves up to a third
of the E-steps, see ``benchmarks/README.md``). The E-step at ``θ'`` gives its
objective; the proposal is accepted if that objective is not below ``θ0``'s, and then
one stabilising EM step from ``θ'`` gives the next point (so the objective still never
decreases and the driver's monotonicity check holds). Otherwise the plain EM point
``θ2`` is taken. Either way a cycle costs three E-steps (at ``θ1``, ``θ'``, and the
next point; four in the rare case where the stabilised point still falls below the
current one, e.g. through the variance floor, and ``θ2`` is taken instead) and advances
at least two EM steps. The run stops when a whole cycle gains at most ``tol`` per row
(the driver's test between accepted points). Stopping as soon as a cycle's first EM
step gains that little (plain EM's test) saves a few E-steps but ends on slow stretches
that the extrapolation would still climb (``benchmarks/README.md``; a test pins this).
Extrapolated variances are held at ``min_variance`` like the M-step's. ``step_max``
grows fourfold after an accepted step that hit it and shrinks after a rejected one (as
in R's ``SQUAREM``); it is the step's state (``{"step_max": ...}``), passed in and
returned by :meth:`Squarem.advance`, kept by the run and saved by checkpoints.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ImpossibleRowError
from ..inference.stats import Stats
from ..network.parameters import Parameters
from .run import Point, Problem, StepState

STEP_FACTOR = 4.0  # ``mstep`` of R's SQUAREM


class _Coordinates:
    """Parameters <-> one unconstrained vector: each family's coordinates in turn (log
    tables, Gaussian coefficients and log variances; :mod:`bnem.em.families`)."""

    def __init__(self, families: tuple) -> None:
        self.families = families

    def to_vector(self, params: Parameters) -> tuple[np.ndarray, np.ndarray]:
        """The vector, and the mask of coordinates kept as they are (table entries that
        are exactly 0)."""
        parts = [f.to_vector(params.blocks[f.name]) for f in self.families]
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([x for x, _ in parts]), np.concatenate([k for _, k in parts])

    def to_params(self, x: np.ndarray, keep: np.ndarray, like: Parameters) -> Parameters | None:
        """The network at ``x`` (tables by a softmax per distribution, ``keep``
        entries 0; variances at least ``min_variance``), or None where a coordinate is
        beyond floating point (an extreme extrapolation)."""
        blocks, at = {}, 0
        for f in self.families:
            size = f.size(like.blocks[f.name])
            block = f.from_vector(x[at:at + size], keep[at:at + size], like.blocks[f.name])
            if block is None:
                return None  # beyond floats: no network (the caller takes the EM point)
            blocks[f.name] = block
            at += size
        return Parameters(blocks=blocks)

    def metric(self, params: Parameters, stats: Stats) -> np.ndarray:
        """Per coordinate of :meth:`to_vector`, its weight in the step length: the
        square root of its diagonal complete-data information per row, on the scale of
        the data rather than of the current conditional variances. A table's log
        probability weighs ``sqrt(P(x, u))`` (its expected count plus the prior, over the
        rows); per configuration ``u`` of a Gaussian CPD, of share ``P(u)`` of the
        rows, the intercept ``sqrt(P(u)) / s``, a coefficient that times its parent's
        ``s``, the log variance ``sqrt(P(u) / 2)``, where ``s`` is a node's standard
        deviation within its component's interface configurations, pooled over them,
        and at least ``sqrt(min_variance)`` (a conditional variance collapsing towards
        0 would otherwise weigh without bound and drive the steps). A slope's exact
        weight would use its parent's second moment about 0, not its spread; the
        spread keeps the metric from depending on where a parent column sits.
        """
        parts = [f.metric(params.blocks[f.name], stats) for f in self.families]
        metric = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return np.where(np.isfinite(metric), metric, 0.0)


class Squarem:
    """The SQUAREM step (see the module docstring); plugs into :func:`bnem.em.run.run`."""

    name = "squarem"

    def __init__(self, problem: Problem) -> None:
        self.coords = _Coordinates(problem.families)
        self.constrain = problem.constrain  # held entries and fixed CPDs back in place

    def init(self) -> StepState:
        return {"step_max": 1.0}

    def advance(self, point: Point, problem: Problem, context: str,
                state: StepState) -> tuple[Point, StepState]:
        step_max = float(state.get("step_max", 1.0))
        p1_params, notes1 = problem.maximize(point)
        p1 = problem.evaluate(p1_params, context)
        p2_params, notes2 = problem.maximize(p1)
        metric = self.coords.metric(p1_params, p1.stats)
        proposal = self._extrapolate(point.params, p1_params, p2_params, metric, step_max)
        if proposal is not None:
            params, alpha = proposal
            try:
                trial = problem.evaluate(params, context)
            except (ImpossibleRowError, np.linalg.LinAlgError):
                # the proposal left a row no probability, or its coefficients are so large
                # that its joint covariances are not numbers
                trial = None
            if trial is not None and math.isfinite(trial.objective) and \
                    trial.objective >= point.objective:
                stable, notes = problem.maximize(trial)
                nxt = problem.evaluate(stable, context, notes, step="squarem")
                if nxt.objective >= point.objective:  # (a floored variance could drop it)
                    if alpha >= step_max:
                        step_max *= STEP_FACTOR
                    return nxt, {**state, "step_max": step_max}
            if alpha >= step_max:
                step_max = max(1.0, step_max / STEP_FACTOR)
        return problem.evaluate(p2_params, context, notes2.after(notes1), step="em"), \
            {**state, "step_max": step_max}

    def _extrapolate(self, p0: Parameters, p1: Parameters, p2: Parameters,
                     metric: np.ndarray, step_max: float) -> tuple[Parameters, float] | None:
        x0, z0 = self.coords.to_vector(p0)
        x1, z1 = self.coords.to_vector(p1)
        x2, z2 = self.coords.to_vector(p2)
        free = ~(z0 | z1 | z2)
        r = np.where(free, x1 - x0, 0.0)
        v = np.where(free, x2 - x1, 0.0) - r
        wr, wv = r * metric, v * metric
        sv2 = float(wv @ wv)
        if not sv2 > 0 or not math.isfinite(sv2):
            return None  # at a fixed point (or a straight path): nothing to extrapolate
        alpha = min(step_max, max(1.0, math.sqrt(float(wr @ wr) / sv2)))
        x = np.where(free, x0 + 2.0 * alpha * r + alpha * alpha * v, x2)
        params = self.coords.to_params(x, z2, p2)
        return None if params is None else (self.constrain(params), alpha)
