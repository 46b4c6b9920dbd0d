"""Online EM: running expected statistics updated batch by batch (em layer).

Stepwise EM (Cappe and Moulines 2009; Liang and Klein 2009) reads the rows as
mini-batches. After batch ``t`` (``t = 0, 1, ...``) the running statistics ``s`` move
towards the batch's statistics ``s_b`` (its E-step at the current parameters)::

    s <- (1 - eta_t) s + eta_t (W / w_b) s_b          eta_t = min(1, (t + t0) ** -alpha)

starting from statistics of the start parameters (tables: the start's probabilities as
counts of weight ``W``, so that a state the first batches lack keeps some probability;
Gaussian moments: the first batch's, taken whole), and an M-step follows, family by family, exactly as in batch EM (shared, held and
tied blocks included). ``w_b`` is the batch's row weight and ``W`` the weight of a
whole pass (while the first pass runs: the weight seen so far), so the statistics
stay on the scale of the data and a Dirichlet ``prior`` weighs as much as in batch
EM. A batch lighter than the heaviest so far (a short last batch) has its step cut in
proportion. With one batch of all rows and a step of 1, every update is one iteration
of batch EM. ``alpha`` in ``(0.5, 1]`` meets the conditions under which stepwise EM
converges (the steps sum to infinity, their squares do not); a constant step keeps
following the latest batches (for drifting data) and does not converge.

With a ``fading`` factor ``f`` in ``(0, 1]`` the statistics are instead discounted
sums, ``s <- f s + s_b`` (Hugin's adaptation with fading, Netica's experience
counts): after ``k`` batches ``s = sum_j f ** (k - 1 - j) s_j``.

Statistics of different parameters are combined through each family's ``blend``
(Gaussian moments are moved to a common centre first).

:class:`OnlineEM` is the learner (``update(batch)``; the estimators' ``partial_fit``
use it); :func:`fit_online` is ``bnem.fit(..., method="online")``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..data.batches import batches
from ..data.source import Kind, as_source, other_columns
from ..errors import (BnemTypeError, BnemValueError, ConvergenceWarning, DataError,
                      ImpossibleRowError)
from ..inference.budget import MemoryBudget
from ..inference.compiled import compile
from ..inference.dataset import AnalysedData
from ..inference.stats import Stats
from . import online_checkpoint
from ..network.bayesnet import BayesianNetwork, as_network
from ..network.parameters import Parameters
from .families import Context, families_for
from .gaussian_roundoff import VarianceFloor
from .interrupt import InterruptFlag
from .mstep import Maximizer
from .notes import NONE as NO_NOTES
from .notes import MStepNotes
from .options import FitOptions, validate
from .report import warn_symmetric
from .result import FitResult
from .run import Problem, Progress, RunOutcome, Point
from .start import start_point
from .trace import LiveCSV

logger = logging.getLogger("bnem")

ONLINE_COLUMNS = ["pass", "batch", "rows", "log_likelihood", "log_likelihood_per_row",
                  "step_size", "seconds"]
SECONDS = ONLINE_COLUMNS.index("seconds")


def schedule(step: Any) -> Callable[[int], float]:
    """The step size at batch ``t = 0, 1, ...`` for a checked ``step`` option."""
    if callable(step):
        def called(t: int) -> float:
            value = step(t)
            if not isinstance(value, (int, float, np.integer, np.floating)) or \
                    not 0.0 < float(value) <= 1.0:
                raise BnemValueError(f"step({t}) returned {value!r}; a step must be a number "
                                     "in (0, 1]")
            return float(value)
        return called
    if isinstance(step, tuple):
        alpha, t0 = step
        return lambda t: float((t + t0) ** -alpha)
    return lambda t: float(step)


def warn_schedule(step: Any, stacklevel: int = 3) -> None:
    """Warn when a step schedule does not meet stepwise EM's convergence conditions."""
    if isinstance(step, tuple) and step[0] <= 0.5:
        warnings.warn(
            f"step=(alpha={step[0]:g}, t0={step[1]:g}): with alpha <= 0.5 the squared steps "
            "do not sum to a finite value, so stepwise EM need not converge; use alpha in "
            "(0.5, 1] (0.7 is usual)", ConvergenceWarning, stacklevel=stacklevel)
    elif isinstance(step, float) and step < 1.0:
        warnings.warn(
            f"step={step:g} is constant: the parameters keep following the latest batches "
            "and do not converge (what drifting data need); use (alpha, t0) steps to "
            "converge", ConvergenceWarning, stacklevel=stacklevel)


@dataclasses.dataclass(frozen=True)
class BatchReport:
    """What one :meth:`OnlineEM.update` did."""

    batch: int              # 0-based number of the update
    rows: int
    weight: float
    log_likelihood: float   # of the batch, at the parameters before its update
    step_size: float        # eta (NaN with a fading factor)


class OnlineEM:
    """A network's running expected statistics and parameters, updated one batch of
    rows at a time (see the module docstring).

    Parameters
    ----------
    network : BayesianNetwork
        The structure (with its shared, held, tied and fixed blocks) and, for
        ``init="network"``, the starting CPDs.
    step : (alpha, t0), float or callable, default (0.7, 2.0)
        Stepwise EM's step (ignored with ``fading``).
    fading : float in (0, 1], optional
        Keep discounted sums of the batches' statistics instead (``1``: plain sums,
        every batch counts equally).
    init, seed, prior, min_variance, variance_prior, variance_scale, weight_prior, hard,
    memory_mb,
    sum_out_barren, fixed
        As for :func:`bnem.fit`; a start other than ``"network"`` is drawn from the
        first batch.

    Examples
    --------
    >>> import bnem
    >>> net = bnem.BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]},
    ...                            {"wet": ["rain"]})
    >>> df = net.sample(400, seed=1)
    >>> learner = bnem.OnlineEM(net, init="uniform")
    >>> reports = [learner.update(df.iloc[i:i + 100]) for i in range(0, 400, 100)]
    >>> [r.rows for r in reports], learner.n_batches
    ([100, 100, 100, 100], 4)
    >>> bool(abs(learner.network.cpd("rain").values.sum() - 1) < 1e-12)
    True
    """

    def __init__(self, network: BayesianNetwork, *, step: Any = (0.7, 2.0),
                 fading: float | None = None, init: str | None = "network", seed: Any = 0,
                 prior: float = 0.0, min_variance: float | None = None, hard: bool = False,
                 memory_mb: float | None = None, sum_out_barren: bool = False,
                 fixed: Any = (), variance_prior: float = 0.0,
                 variance_scale: float = 0.0, weight_prior: float = 0.0) -> None:
        network = as_network(network, "OnlineEM", needs_cpds=init == "network")
        given = {"init": init, "seed": seed, "prior": prior, "hard": hard,
                 "sum_out_barren": sum_out_barren, "fixed": fixed, "step": step,
                 "accelerate": "none", "variance_prior": variance_prior,
                 "variance_scale": variance_scale, "weight_prior": weight_prior}
        if min_variance is not None:
            given["min_variance"] = min_variance
        if memory_mb is not None:
            given["memory_mb"] = memory_mb
        opts = validate(given, network.is_hybrid)
        if fading is not None:
            fading = float(fading) if isinstance(fading, (int, float, np.integer,
                                                          np.floating)) \
                and not isinstance(fading, bool) else fading
            if not isinstance(fading, float) or not 0.0 < fading <= 1.0:
                raise BnemValueError(f"fading must be a number in (0, 1], got {fading!r}")
        else:
            warn_schedule(opts.step)
        self._setup(network.fix(opts.fixed) if opts.fixed else network, opts, fading)

    def _setup(self, network: BayesianNetwork, opts: FitOptions,
               fading: float | None) -> None:
        self.options = opts
        self.fading = fading
        self._template = network
        self._compiled = compile(network, opts.hard)
        self._planned: Any = None
        self.maximizer = Maximizer(network)
        self._families = families_for(Context(network, self._compiled.structure,
                                              self.maximizer, opts.prior,
                                              VarianceFloor(opts.min_variance,
                                                            opts.variance_prior,
                                                            opts.variance_scale,
                                                            opts.weight_prior)))
        self._schedule = schedule(opts.step)
        self._rng = opts.rng()
        self._budget = MemoryBudget(opts.memory_mb)
        self._barren = opts.sum_out_barren and not opts.hard and not network.is_hybrid
        self._reset()

    def _reset(self) -> None:
        """No batch learned: the start's parameters (or none, to be drawn)."""
        network, opts = self._template, self.options
        self.params: Parameters | None = Parameters.of(network) \
            if opts.init == "network" else None
        self.statistics: Stats | None = None
        self.notes: MStepNotes = NO_NOTES
        self.n_batches = 0
        self.weight_seen = 0.0
        self._columns: list[str] | None = None
        self._warned_small = False
        self._largest = 0.0       # the largest batch weight so far: a smaller batch's step
        self._continued = False   # is cut in proportion (a short last batch moves less)

    def continue_from(self, statistics: Stats) -> None:
        """Go on from a batch fit whose last E-step gave ``statistics`` (at the current
        parameters): they become the running statistics, and the step schedule goes on
        as if that fit's rows had come in batches the size of the next one."""
        self.statistics = statistics
        self.weight_seen = float(statistics.weight)
        self._continued = True

    def fresh(self) -> "OnlineEM":
        """A learner with this one's set-up (network, options, compiled plan) and
        nothing learned, drawing its start from this one's random generator: the next
        start of a fit with restarts."""
        other = copy.copy(self)
        other._reset()
        return other

    @classmethod
    def from_options(cls, network: BayesianNetwork, opts: FitOptions) -> "OnlineEM":
        """A learner with a fit's checked options (``bnem.fit(..., method="online")``)."""
        learner = cls.__new__(cls)
        learner._setup(network, opts, None)
        return learner

    @property
    def network(self) -> BayesianNetwork:
        """The network with the current parameters."""
        if self.params is None:
            raise BnemValueError("no batch has been learned yet: call update(batch) first")
        return self.params.to_network(self._template)

    def update(self, batch: pd.DataFrame, sample_weight: Any = None,
               reference_weight: float | None = None, label: str = "") -> BatchReport:
        """Learn from one batch of rows: its E-step at the current parameters, the
        running statistics moved towards it, an M-step.

        ``reference_weight``: the weight ``W`` the statistics are scaled to (default:
        the weight seen so far). ``label`` names the batch in errors.

        Raises
        ------
        DataError
            The batch has other columns than the first batch, no rows, or weight 0
            (or any error of encoding it, naming the row).
        ImpossibleRowError
            A row has probability 0 under the current parameters.
        """
        name = label or f"batch {self.n_batches + 1}"
        if not isinstance(batch, pd.DataFrame):
            raise BnemTypeError(f"a batch must be a pandas DataFrame, got {type(batch).__name__}")
        if len(batch) == 0:
            raise DataError(f"{name} has no rows; expected at least one")
        columns = [str(c) for c in batch.columns]
        if self._columns is None:
            self._columns = columns
        elif sorted(columns) != sorted(self._columns):
            raise other_columns(name, "the first batch", columns, self._columns)
        if self._planned is None:  # the clique tree is chosen on the first batch's rows
            data = AnalysedData(self._compiled, batch, self._budget, self._barren,
                                sample_weight)
            self._planned = data.compiled
        else:  # and kept: choosing it again for every batch cost a third of a pass
            data = AnalysedData(self._planned, batch, self._budget, self._barren,
                                sample_weight, once=True)
        try:
            self._warn_small(data.latent, len(batch), name)
            if self.params is None:  # a start drawn from the first batch
                self.params = start_point(Problem(data, self.maximizer, self.options),
                                          self._rng)
                warn_symmetric(self.params.to_network(self._template), data.latent,
                               self.options.init)
            elif self.n_batches == 0 and not self._continued:
                warn_symmetric(self.params.to_network(self._template), data.latent,
                               self.options.init)
            try:
                stats = data.stats(self.params, self.options.hard, f"current ({name})")
            except ImpossibleRowError as exc:
                raise self._impossible(exc) from None
        finally:
            data.close()
        return self.learn(stats, len(batch), reference_weight)

    def _warn_small(self, latent: Any, rows: int, name: str) -> None:
        """Warn once when a batch has fewer rows than a latent node has states."""
        latent = [n for n in latent if n in self._template.discrete_nodes]
        states = max((len(self._template.states(n)) for n in latent), default=0)
        if rows < states and not self._warned_small:
            self._warned_small = True
            warnings.warn(f"{name} has {rows} row(s), fewer than the {states} states of "
                          f"latent node {max(latent, key=lambda n: len(self._template.states(n)))!r}: "
                          "such small batches move the parameters by noise; use larger "
                          "batches (batch_rows)", ConvergenceWarning, stacklevel=3)

    def _impossible(self, exc: ImpossibleRowError) -> ImpossibleRowError:
        if self.n_batches == 0:
            return exc
        return ImpossibleRowError(
            f"{exc} In online EM this is usually a state that the batches learned "
            "so far never showed, so their M-step gave it probability 0: use "
            "prior > 0 (e.g. prior=1), or larger or shuffled batches.")

    def update_on_cluster(self, remote: Any, pieces: list, rows: int,
                          sample_weight: str | None = None,
                          reference_weight: float | None = None,
                          label: str = "") -> BatchReport:
        """:meth:`update` for a batch whose rows stay on a Dask cluster
        (:class:`bnem.em.distributed.RemoteBatches`): its E-step runs on a worker. A
        start's first batch (which chooses the plan and draws the start) comes here."""
        name = label or f"batch {self.n_batches + 1}"
        if self.params is None or self._planned is None or self._columns is None:
            return self.update(remote.frame(pieces), sample_weight, reference_weight, name)
        try:
            stats, latent = remote.stats(self._planned, pieces, self.params,
                                         self.options.hard, self._budget, self._barren,
                                         sample_weight, self._columns, name)
        except ImpossibleRowError as exc:
            raise self._impossible(exc) from None
        self._warn_small(latent, rows, name)
        return self.learn(stats, rows, reference_weight)

    def learn(self, stats: Stats, rows: int, reference_weight: float | None = None
              ) -> BatchReport:
        """Move the running statistics towards a batch's ``stats`` (its E-step at the
        current parameters, of ``rows`` rows), then an M-step (the second half of
        :meth:`update`)."""
        assert self.params is not None, "learn() needs a start: update() the first batch"
        if not stats.weight > 0:  # nothing to learn: the statistics stay as they are
            self.n_batches += 1
            return BatchReport(self.n_batches - 1, rows, 0.0, 0.0, 0.0)
        if self._continued and self.n_batches == 0:
            self.n_batches = max(1, round(self.weight_seen / stats.weight))
        self.weight_seen += stats.weight
        self._largest = max(self._largest, float(stats.weight))
        reference = reference_weight or self.weight_seen
        if self.fading is not None:
            keep, take, eta = self.fading, 1.0, math.nan
        else:
            eta = min(self._schedule(self.n_batches), 1.0) * stats.weight / self._largest
            keep, take = 1.0 - eta, eta * reference / stats.weight
        running = self.statistics
        if running is not None:
            before, before_weight = dict(running.blocks), running.weight
        elif self.fading is None:  # the start, as statistics of the reference weight
            before = {f.name: f.start_statistics(self.params.blocks[f.name], reference)
                      for f in self._families}
            before_weight = reference
        else:
            before, before_weight = {f.name: None for f in self._families}, 0.0
        blocks = {f.name: f.blend(before[f.name], stats.blocks[f.name],
                                  keep if before[f.name] is not None else 0.0,
                                  take, self.params)
                  for f in self._families}
        weight = take * stats.weight + keep * before_weight
        self.statistics = Stats(blocks=blocks, log_likelihood=stats.log_likelihood,
                                classification=stats.classification, weight=weight)
        new, notes = {}, NO_NOTES
        for family in self._families:
            new[family.name], found = family.maximize(self.params, self.statistics)
            notes = notes + found
        self.params, self.notes = Parameters(blocks=new), notes
        report = BatchReport(self.n_batches, rows, float(stats.weight),
                             float(stats.log_likelihood), eta)
        self.n_batches += 1
        return report


def fit_online(network: BayesianNetwork, data: Any, opts: FitOptions,
               interrupt: InterruptFlag, t0: float) -> tuple[FitResult, OnlineEM]:
    """``bnem.fit(..., method="online")``: ``opts.max_passes`` passes of stepwise EM
    over ``data`` in batches of ``opts.batch_rows`` rows, from each of ``opts.n_init``
    starts; the start with the highest log-likelihood over its last pass (the sum of
    its batches' log-likelihoods, each before its update) is kept. A start stopped
    part-way (``callback``, ``max_time``, a signal) is listed but not compared: its
    last pass is incomplete.

    Returns the result (its ``seconds``: the whole fit's, checkpointed runs included)
    and the kept start's learner."""
    _check_online(data, opts)
    warn_schedule(opts.step, stacklevel=4)
    learner = OnlineEM.from_options(network, opts)
    best: OnlineEM | None = None
    if opts.resume:
        at, best = online_checkpoint.load(opts.resume, learner, network, opts)
    else:
        at = online_checkpoint.Position()
    t0 -= at.seconds                       # seconds run on from the checkpoint's
    saver = online_checkpoint.OnlineCheckpointer(opts.checkpoint, opts.checkpoint_every,
                                                 opts, network) if opts.checkpoint else None
    several = opts.n_init > 1
    starts: list[dict[str, Any]] = list(at.starts)  # the finished starts: objective, rows

    def labelled(start: int, rows: list) -> list[list]:
        return [([start] if several else []) + list(r) for r in rows]

    live = LiveCSV(opts.history_path, (["restart"] if several else []) + ONLINE_COLUMNS,
                   [x for k, r in enumerate(starts) for x in labelled(k, r["rows"])]
                   + labelled(at.start, at.rows)) if opts.history_path else None
    run = _StartRun(learner, at, t0)
    try:
        for start in range(at.start, opts.n_init):
            if start != at.start:  # a new start, drawn from the same random stream
                learner = learner.fresh()
                run = _StartRun(learner, online_checkpoint.Position(start=start), t0)
            run.go(data, opts, t0, interrupt, saver, best, starts,
                   _writer(live, labelled, start))
            if not run.complete:
                break  # stopped part-way through this start
            starts.append(run.record())
            if best is None or starts[-1]["objective"] > \
                    max(r["objective"] for r in starts[:-1]):
                best = learner
            if run.stopped:  # (on this start's last batch)
                break
            if saver is not None and start + 1 < opts.n_init:  # the next start, unbegun
                saver.save(learner.fresh(), online_checkpoint.Position(
                    start=start + 1, starts=list(starts), seconds=time.perf_counter() - t0),
                    best, force=True)
    finally:
        if live is not None:
            live.close()
    if saver is not None and learner.params is not None:  # where it ended
        if len(starts) == opts.n_init:  # finished: resuming it gives the result at once
            current = dataclasses.replace(run.position(t0, starts[:-1]),
                                          pass_index=opts.max_passes, batches_done=0,
                                          seen=0.0)
            saver.save(learner, current, best if current.start > 0 else None, force=True)
        elif not run.complete:  # stopped part-way through a start
            saver.save(learner, run.position(t0, starts), best, force=True)
        else:  # stopped at the end of a start: the next one, unbegun
            saver.save(learner.fresh(), online_checkpoint.Position(
                start=len(starts), starts=list(starts), seconds=time.perf_counter() - t0),
                best, force=True)
    listed = list(starts)
    if not run.complete:
        listed.append(run.record())
    if starts:
        kept = int(np.argmax([r["objective"] for r in starts]))
        chosen = best if best is not None else learner
    else:  # stopped during the first start: what it has learned so far
        kept, chosen = 0, learner
    if not run.complete and starts:  # not comparable: its last pass is incomplete
        listed[-1] = dict(listed[-1], objective=math.nan)
    record = listed[kept]
    history = _online_history(record["rows"])
    histories = _online_history([r for k, x in enumerate(listed) for r in
                                 labelled(k, x["rows"])] if several else record["rows"],
                                several)
    if not several:
        histories.insert(0, "restart", 0)
    result = FitResult(chosen.network, history, record["objective"], int(record["n_batches"]),
                       False, int(record["n_rows"]), time.perf_counter() - t0,
                       restarts=pd.DataFrame({
                           "restart": np.arange(len(listed)),
                           "log_likelihood": [r["objective"] for r in listed],
                           "objective": [r["objective"] for r in listed],
                           "n_iter": [int(r["n_batches"]) for r in listed],
                           "converged": [False] * len(listed)}),
                       n_estep=sum(int(r["n_batches"]) for r in listed),
                       interrupted=interrupt.requested,
                       stop_signal=interrupt.signal if interrupt.requested else None,
                       method="online", stopped=run.stopped, histories=histories,
                       best_restart=kept)
    if run.timed_out:
        warnings.warn(f"online EM stopped at max_time={opts.max_time:g} s after batch "
                      f"{learner.n_batches}" + (f" of start {run.at.start + 1}" if several
                                                else ""),
                      ConvergenceWarning, stacklevel=4)
    return result, chosen


def _with_last(items: Any) -> Iterator[tuple[Any, bool]]:
    """``(item, whether it is the last)``, one item read ahead."""
    it = iter(items)
    try:
        held = next(it)
    except StopIteration:
        return
    for item in it:
        yield held, False
        held = item
    yield held, True


def _writer(live: LiveCSV | None, labelled: Callable[[int, list], list[list]],
            start: int) -> Callable[[tuple], None] | None:
    """Writes a start's history rows to the live file (labelled with the start)."""
    if live is None:
        return None
    return lambda row: live.write(labelled(start, [row])[0])


def _online_history(rows: list, several: bool = False) -> pd.DataFrame:
    columns = (["restart"] if several else []) + ONLINE_COLUMNS
    types = {c: "int64" for c in ("restart", "pass", "batch", "rows") if c in columns}
    return pd.DataFrame([list(r) for r in rows], columns=columns).astype(types)


class _StartRun:
    """One start's passes over the data, from a position (a checkpoint's, or the
    start's beginning). Its history's ``seconds`` count from the start's beginning (as
    batch EM's restarts' do); ``max_time`` bounds the whole fit's."""

    def __init__(self, learner: OnlineEM, at: "online_checkpoint.Position",
                 t0: float) -> None:
        self.learner, self.at = learner, at
        self.rows: list[tuple] = list(at.rows)
        self.pass_weight: float | None = at.pass_weight
        self.pass_ll: list[float] = list(at.pass_ll)
        self.n_rows = at.n_rows
        self.p, self.done, self.seen = at.pass_index, at.batches_done, at.seen
        self.stopped = self.timed_out = False
        self.complete = False   # every pass of the start learned
        # the first start's clock is the fit's; a later one's starts with it (on a
        # resume: back by the seconds its history had reached)
        self.begun = t0 if at.start == 0 else \
            time.perf_counter() - (float(at.rows[-1][SECONDS]) if at.rows else 0.0)

    def record(self) -> dict[str, Any]:
        """The start as the fit lists it."""
        return {"objective": float(sum(self.pass_ll)), "n_batches": self.learner.n_batches,
                "n_rows": self.n_rows, "rows": self.rows}

    def position(self, t0: float, starts: list) -> "online_checkpoint.Position":
        """Where the start stands (``starts``: the finished ones before it)."""
        return online_checkpoint.Position(self.p, self.done, self.pass_weight, self.seen,
                                          self.n_rows, list(self.pass_ll), list(self.rows),
                                          time.perf_counter() - t0, self.at.start,
                                          list(starts))

    def go(self, data: Any, opts: FitOptions, t0: float, interrupt: InterruptFlag,
           saver: "online_checkpoint.OnlineCheckpointer | None", best: OnlineEM | None,
           starts: list, write: Callable[[tuple], None] | None) -> None:
        learner = self.learner
        variables = list(learner._template.variables.values())
        weight_column = opts.sample_weight if isinstance(opts.sample_weight, str) else None
        cluster = None
        if as_source(data).kind is Kind.DASK:
            from .distributed import RemoteBatches, cluster_client
            client = cluster_client(opts.client)
            cluster = RemoteBatches(client, data, opts.batch_rows) if client else None
        try:
            self._passes(data, opts, t0, interrupt, saver, best, starts, write, variables,
                         weight_column, cluster)
        finally:
            if cluster is not None:
                cluster.close()

    def _passes(self, data: Any, opts: FitOptions, t0: float, interrupt: InterruptFlag,
                saver: "online_checkpoint.OnlineCheckpointer | None", best: OnlineEM | None,
                starts: list, write: Callable[[tuple], None] | None, variables: list,
                weight_column: str | None, cluster: Any) -> None:
        at, learner = self.at, self.learner
        for p in range(at.pass_index, opts.max_passes):
            self.p = p
            skip = at.batches_done if p == at.pass_index else 0
            if p != at.pass_index:
                self.seen, self.pass_ll, self.n_rows = 0.0, [], 0
            self.done = skip
            source = cluster if cluster is not None else \
                batches(data, opts.batch_rows, variables, opts.sample_weight)
            for k, ((label, frame, w), last) in enumerate(_with_last(source)):
                if k < skip:
                    continue  # learned before the checkpoint
                if cluster is not None:  # (frame: the batch's pieces; w: its rows)
                    report = learner.update_on_cluster(cluster, frame, w, weight_column,
                                                       self.pass_weight, label)
                else:
                    report = learner.update(frame, w if w is not None else weight_column,
                                            self.pass_weight, label)
                self.seen += report.weight
                self.n_rows += report.rows
                self.done += 1
                self.pass_ll.append(report.log_likelihood)
                now = time.perf_counter()
                seconds, elapsed = now - self.begun, now - t0
                per_row = report.log_likelihood / report.weight if report.weight else math.nan
                row = (p + 1, report.batch + 1, report.rows, report.log_likelihood, per_row,
                       report.step_size, seconds)
                self.rows.append(row)
                if write is not None:
                    write(row)
                if saver is not None:
                    saver.save(learner, self.position(t0, starts), best)
                logger.info("start %d pass %d batch %d (%s): log-likelihood %.6f per row, "
                            "step %.4g", at.start + 1, p + 1, report.batch + 1, label, row[4],
                            report.step_size)
                progress = Progress(at.start, report.batch + 1, report.log_likelihood,
                                    report.log_likelihood, math.nan, seconds,
                                    learner.n_batches, "online", elapsed)
                if opts.callback is not None and opts.callback(progress):
                    self.stopped = True
                if interrupt.requested:
                    self.stopped = True
                if opts.max_time is not None and elapsed >= opts.max_time:
                    self.stopped = self.timed_out = True
                if self.stopped:
                    self.complete = last and p == opts.max_passes - 1
                    return
            self.pass_weight = self.pass_weight or self.seen
            if saver is not None and p + 1 < opts.max_passes:  # the next pass, from its start
                self.p, self.done, self.seen, self.pass_ll, self.n_rows = p + 1, 0, 0.0, [], 0
                saver.save(learner, self.position(t0, starts), best, force=True)
        self.complete = True



def outcome_of(learner: OnlineEM, opts: FitOptions) -> RunOutcome:
    """The learner's state as a finished run (for the warnings batch EM also gives)."""
    assert learner.params is not None and learner.statistics is not None
    point = Point(learner.params, learner.statistics, math.nan, learner.notes, "online")
    return RunOutcome(point, dataclasses.replace(opts, max_iter=0), learner.n_batches, True,
                      False, math.nan)


def _check_online(data: Any, opts: FitOptions) -> None:
    source = as_source(data)
    if opts.resume is not None and source.once:
        raise BnemValueError("resume= reads the data again from the start of the pass in "
                             "progress, but an iterator can be read once: pass a list of "
                             "DataFrames, files or a DataFrame")
    if opts.client is not None and source.kind is not Kind.DASK:
        raise BnemValueError("client= runs online EM's E-steps on a Dask cluster, batch by "
                             f"batch; the data here are a {type(data).__name__}. Pass a Dask "
                             "DataFrame (e.g. dask.dataframe.read_parquet(...)), or drop "
                             "client=")
    if source.kind is Kind.DASK:
        if not hasattr(data, "columns") or not hasattr(data, "get_partition"):
            raise BnemTypeError(f"online EM reads a Dask DataFrame, got a "
                                f"{type(data).__module__.split('.')[0]} "
                                f"{type(data).__name__}; make it a DataFrame first (e.g. "
                                "dask.dataframe.from_dask_array(x, columns=[...]))")
        if opts.sample_weight is not None and not isinstance(opts.sample_weight, str):
            raise BnemTypeError("with a Dask DataFrame, sample_weight must name a column of "
                                f"it, got {type(opts.sample_weight).__name__}")
    if (opts.max_passes > 1 or opts.n_init > 1 or opts.method == "online-then-batch") \
            and source.once:
        why = f"max_passes={opts.max_passes}" if opts.max_passes > 1 else \
            f"n_init={opts.n_init} (each start reads the data)" if opts.n_init > 1 else \
            "method='online-then-batch' (its batch phase reads the data again)"
        raise BnemValueError(f"{why} needs data that can be read again, but an iterator "
                             "can be read once: pass a list of DataFrames, files or a "
                             "DataFrame" + (", or use max_passes=1 and n_init=1"
                                            if opts.method == "online" else ""))
