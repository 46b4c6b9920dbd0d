"""One EM run from one start: steps, history, convergence, the monotonicity check
(em layer).

The run is a loop over *points* (parameters with the statistics and objective of
their E-step). A :class:`Step` turns the current point into the next one; plain EM
(:class:`PlainEM`) is one M-step and one E-step, and an accelerated step (SQUAREM)
plugs in at the same seam, evaluating what it needs through the same
:class:`Problem`. A step keeps no memory of its own: whatever it carries from one
iteration to the next (SQUAREM's step bound) is an explicit *step state*, a mapping of
names to numbers that ``advance`` receives and returns, the run keeps, and a
checkpoint saves (as optax's ``(init, update)`` pairs do). Whatever the step, the
loop records every accepted point and checks that the objective never decreases;
what happens after each point (a live history, a checkpoint) is passed in as
:class:`Observers`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from ..errors import DataError, MonotonicityError
from ..inference.dataset import FitData
from ..inference.stats import Stats
from ..network.parameters import Parameters
from .families import Context, families_for
from .gaussian_roundoff import VarianceFloor
from .interrupt import InterruptFlag
from .mstep import Maximizer
from .notes import NONE as NO_NOTES
from .notes import MStepNotes
from .options import FitOptions

logger = logging.getLogger("bnem")

MONOTONE_RTOL = 1e-9


@dataclass(frozen=True)
class Progress:
    """What a ``callback`` receives after every E-step.

    ``seconds`` and ``n_estep`` count from the start of this restart (as the history's
    columns do); ``elapsed`` is the time since the fit began (what ``max_time``
    bounds)."""

    restart: int
    iteration: int
    log_likelihood: float
    objective: float
    delta: float
    seconds: float
    n_estep: int = 0
    step: str = "em"
    elapsed: float = math.nan


@dataclass(frozen=True)
class Point:
    """Parameters, the statistics of their E-step, and their objective."""

    params: Parameters
    stats: Stats
    objective: float
    notes: MStepNotes = field(default_factory=MStepNotes)
    step: str = "em"          # what produced it: "start", "em", "squarem"


class Problem:
    """The data, the CPD families and the options of one fit: what a step needs to
    evaluate (E-step) and maximise (M-step, family by family: :mod:`bnem.em.families`).
    Counts every E-step it runs."""

    def __init__(self, data: FitData, maximizer: Maximizer, options: FitOptions,
                 interrupt: InterruptFlag | None = None, n_estep: int = 0) -> None:
        self.data = data
        self.maximizer = maximizer
        self.options = options
        self.families = families_for(Context(data.compiled.network, data.compiled.structure,
                                             maximizer, options.prior,
                                             VarianceFloor(options.min_variance,
                                                           options.variance_prior,
                                                           options.variance_scale,
                                                           options.weight_prior)))
        self.interrupt = interrupt or InterruptFlag()
        self.n_estep = n_estep  # E-steps so far (a resumed fit's include the checkpoint's)

    def evaluate(self, params: Parameters, context: str = "",
                 notes: MStepNotes | None = None, step: str = "em",
                 count: bool = True) -> Point:
        """The E-step at ``params`` and the objective EM increases there."""
        try:
            stats = self.data.stats(params, self.options.hard, context)
        finally:  # an E-step that found a row impossible (a rejected proposal) counts too
            self.n_estep += count
        fit = stats.classification if self.options.hard else stats.log_likelihood
        assert fit is not None  # hard E-steps always return the classification objective
        objective = fit
        for family in self.families:
            objective += family.log_prior(params.blocks[family.name])
        return Point(params, stats, objective, notes or NO_NOTES, step)

    def maximize(self, point: Point) -> tuple[Parameters, MStepNotes]:
        """The M-step from ``point``'s statistics, CPD family by family (each within
        the network's shared, held and tied blocks)."""
        blocks, notes = {}, NO_NOTES
        for family in self.families:
            blocks[family.name], found = family.maximize(point.params, point.stats)
            notes = notes + found
        return Parameters(blocks=blocks), notes

    def constrain(self, params: Parameters) -> Parameters:
        """``params`` within the network's shared, held and tied blocks (a start, or an
        extrapolated point); ``params`` itself when there are none."""
        if not self.data.compiled.network.constraints:
            return params
        return Parameters(blocks={f.name: f.constrain(params.blocks[f.name])
                                  for f in self.families})


StepState = Mapping[str, float]  # what a step carries between iterations (JSON-able)


@dataclass(frozen=True)
class Resume:
    """A run's state after iteration ``iteration``: where a checkpoint resumes it."""

    point: Point
    rows: list
    prev: float
    iteration: int
    step_state: StepState = field(default_factory=dict)


class Step(Protocol):
    """The seam of accelerated EM: from the current point to the next accepted one,
    with the step's state passed in and the new one returned."""

    def init(self) -> StepState: ...

    def advance(self, point: Point, problem: Problem, context: str,
                state: StepState) -> tuple[Point, StepState]: ...


class PlainEM:
    """One EM step: the M-step from the point's statistics, then its E-step."""

    def init(self) -> StepState:
        return {}

    def advance(self, point: Point, problem: Problem, context: str,
                state: StepState) -> tuple[Point, StepState]:
        params, notes = problem.maximize(point)
        return problem.evaluate(params, context, notes), state


@dataclass(frozen=True)
class Observers:
    """Called by a run: ``on_row`` with every history row (the live history),
    ``on_iteration`` with the run's state after every iteration but the last
    (checkpoints)."""

    on_row: Callable[[Progress], None] | None = None
    on_iteration: Callable[[Resume], None] | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How one run ended."""

    point: Point              # the last point (the returned parameters)
    options: FitOptions       # what the history's columns depend on
    n_iter: int
    converged: bool
    stopped: bool             # the callback asked to stop (or Ctrl-C)
    last_delta: float
    interrupted: bool = False  # Ctrl-C
    timed_out: bool = False    # max_time reached
    rows: tuple = ()           # the history as HISTORY_COLUMNS tuples (for checkpoints)
    step_state: StepState = field(default_factory=dict)  # the step's, at the last point

    @property
    def history(self) -> pd.DataFrame:
        """The run's history frame, built on demand (a fit shows only the best run's;
        a frame costs about half a millisecond, a noticeable part of a small restart)."""
        return history_frame(list(self.rows), self.options)


HISTORY_COLUMNS = ["iteration", "log_likelihood", "objective", "delta", "seconds", "n_estep",
                   "step"]
_DTYPES = {"iteration": "int64", "log_likelihood": "float64", "objective": "float64",
           "delta": "float64", "seconds": "float64", "n_estep": "int64", "step": None}


def run(problem: Problem, start: Parameters | Resume, restart: int, t0: float,
        step: Step | None = None, observers: Observers = Observers()) -> RunOutcome:
    """EM from ``start`` (or from where a checkpoint left it, step state included)
    until ``tol``, ``max_iter`` or the callback stops it."""
    opts, step = problem.options, step or PlainEM()
    rows: list[tuple] = []
    prev, delta = -math.inf, math.nan
    first_it = 0
    state = step.init()
    # the history's seconds and E-steps count from this restart's start
    began, estep0 = time.perf_counter(), problem.n_estep
    if isinstance(start, Resume):
        point, rows, prev, first_it = start.point, list(start.rows), start.prev, start.iteration + 1
        state = {**state, **start.step_state}
        if rows:  # go on counting from the checkpoint's last row
            began -= float(rows[-1][4])
            estep0 -= int(rows[-1][5])
    else:
        first = "network's own" if opts.init == "network" else "initial"
        point = problem.evaluate(start, first, step="start")
        _check_finite_start(point)
    converged = stopped = timed_out = False
    it = first_it
    for it in range(first_it, opts.max_iter + 1):
        if it:
            point, state = step.advance(point, problem, f"iteration-{it}", state)
        delta = point.objective - prev if it else math.nan
        _check_monotone(prev, point.objective, it, restart, point.notes)
        now = time.perf_counter()
        seconds, elapsed, n_estep = now - began, now - t0, problem.n_estep - estep0
        ll = point.stats.log_likelihood
        rows.append((it, ll, point.objective, delta, seconds, n_estep, point.step))
        progress = Progress(restart, it, ll, point.objective, delta, seconds, n_estep,
                            point.step, elapsed)
        _report(opts, progress)
        if observers.on_row is not None:
            observers.on_row(progress)
        # converged is judged first: a stop asked for at the converging iteration still
        # ends a finished run (a checkpoint then saves it as finished, not to resume)
        converged = bool(it and delta <= opts.tol * point.stats.weight)
        if opts.callback is not None and opts.callback(progress):
            stopped = True
            break
        if problem.interrupt.requested:
            stopped = True
            break
        if opts.max_time is not None and elapsed >= opts.max_time and it < opts.max_iter \
                and not converged:
            stopped = timed_out = True
            break
        if converged:
            break
        prev = point.objective
        if observers.on_iteration is not None and it < opts.max_iter:
            observers.on_iteration(Resume(point, rows, prev, it, state))
    if opts.progress:
        sys.stderr.write("\n")
    return RunOutcome(point, opts, it, converged, stopped, delta,
                      problem.interrupt.requested, timed_out, tuple(rows), state)


def _check_finite_start(point: Point) -> None:
    """A start whose rows are all possible (the E-step raises otherwise) has a finite
    log-likelihood, unless a sum overflows the float range."""
    if not math.isfinite(point.stats.log_likelihood):
        raise DataError(
            f"the weighted log-likelihood of the start is {point.stats.log_likelihood} "
            "although every row is possible: a sum overflows the float range (row weights "
            f"summing to {point.stats.weight:.3g}, or values very far from the start's "
            "means for its variances). Rescale the weights (divide them all by the same "
            "factor) or the columns, or start elsewhere.")


def _check_monotone(prev: float, objective: float, it: int, restart: int,
                    notes: MStepNotes) -> None:
    """EM never lowers the objective: beyond relative round-off, and beyond what the
    M-step's own round-off allows (``notes.slack``, nearly exact regressions). A drop
    where some variance was below the round-off of its sums is the data's doing, and
    said so."""
    if it and math.isfinite(prev) and \
            objective < prev - MONOTONE_RTOL * max(1.0, abs(prev)) - notes.slack:
        if notes.imprecise:
            node, u = notes.imprecise[0]
            raise DataError(
                f"EM's objective fell at iteration {it} (restart {restart}): "
                f"{prev:.12g} -> {objective:.12g}, because the likelihood of {node!r} "
                f"(configuration {u} of its discrete parents) is known only to round-off. "
                "Either its variance is below the round-off of its sums (the column is a "
                "linear function of its continuous parents to nearly every digit: raise "
                "min_variance to a variance it can really have, or drop the column or the "
                "edge); or its mean is formed from a continuous parent far from 0 for its "
                "spread with a steep slope (e.g. a parent column at 1e7 +- 1e-5: centre or "
                "rescale that column); or its values lie far from the current means for "
                "their spread, as from init='uniform' or 'random' on columns offset by 1e7 "
                "or more (start from init='k-means++', the default for these networks, or "
                "centre the column).")
        raise MonotonicityError(
            f"EM objective decreased at iteration {it} (restart {restart}): "
            f"{prev:.12g} -> {objective:.12g}. This is a bug in bnem; please report it "
            "with the network and data.")


def _report(opts: FitOptions, p: Progress) -> None:
    logger.info("restart %d iteration %d: log-likelihood %.6f%s", p.restart, p.iteration,
                p.log_likelihood, "" if p.iteration == 0 else f" (+{p.delta:.6g})")
    if opts.progress:
        sys.stderr.write(f"\r[bnem] restart {p.restart} iteration {p.iteration:4d}  "
                         f"log-likelihood {p.log_likelihood:.6f}  delta {p.delta:.3g}  "
                         f"{p.seconds:.1f}s")
        sys.stderr.flush()


def history_columns(opts: FitOptions) -> list[str]:
    """The history's columns for these options, in the order of ``HISTORY_COLUMNS``
    (``objective`` under the monotone objective's name, or left out when that is the
    log-likelihood; ``n_estep`` and ``step`` only for accelerated EM)."""
    out = []
    for c in HISTORY_COLUMNS:
        if c in ("n_estep", "step") and opts.accelerate == "none":
            continue  # every row is one EM step: the extra columns say nothing
        if c == "objective":
            map_em = bool(opts.prior or opts.variance_prior or opts.weight_prior)  # a prior
            if not (opts.hard or map_em):
                continue
            c = ("classification_" if opts.hard else "") + ("log_posterior" if map_em
                                                             else "log_likelihood")
        out.append(c)
    return out


def history_frame(rows: list, opts: FitOptions) -> pd.DataFrame:
    """The history DataFrame of ``HISTORY_COLUMNS`` rows (see :func:`history_columns`)."""
    names = history_columns(opts)
    keep = [j for j, c in enumerate(HISTORY_COLUMNS)
            if c not in ("n_estep", "step") or opts.accelerate != "none"
            if c != "objective" or opts.hard or opts.prior or opts.variance_prior
            or opts.weight_prior]
    # column by column: a frame from a list of rows costs milliseconds per restart
    columns = list(zip(*rows)) if rows else [()] * len(HISTORY_COLUMNS)
    return pd.DataFrame({name: np.array(columns[j], dtype=_DTYPES[HISTORY_COLUMNS[j]] or object)
                         for name, j in zip(names, keep)})
