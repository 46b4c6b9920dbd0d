"""``bnem.fit``: the EM driver as a template (em layer).

validate options (one table, :mod:`bnem.em.options`) -> compile the network and
analyse the data once (:mod:`bnem.inference.dataset`) -> for each restart: a start,
then a run of steps (:mod:`bnem.em.run`) -> keep the best -> warnings assembled in one
place (:mod:`bnem.em.report`) -> a :class:`~bnem.em.result.FitResult` whose
log-likelihood belongs to the returned parameters.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..atomic import atomic_open
from ..errors import BnemTypeError, BnemValueError, DataError, warnings_reissued
from ..locks import output_locks
from ..inference.budget import DEFAULT_MEMORY_MB, MemoryBudget
from ..inference.compiled import compile
from ..data.source import Kind, as_source
from ..inference.dataset import AnalysedData, FitData
from ..network.bayesnet import BayesianNetwork, as_network
from ..network.parameters import Parameters
from .accelerate import Squarem
from .checkpoint import (EARLIER_PHASE, Checkpointer, Resumed, RunState, fingerprint,
                         restored_rng)
from .checkpoint import load as load_checkpoint
from .interrupt import graceful_interrupt
from .mstep import Maximizer
from .online import fit_online, outcome_of
from .online_checkpoint import handed_over, online_phase_record
from .start import start_point
from .options import DEFAULT_MIN_VARIANCE, OPTIONS, STOCHASTIC_INITS, FitOptions, validate
from .report import check_observed, conclude, warn_symmetric
from .trace import LiveHistory
from .result import FitResult
from .run import (MONOTONE_RTOL, Observers, Problem, Progress, Resume, RunOutcome,
                  history_frame, run)

logger = logging.getLogger("bnem")

__all__ = ["fit", "Progress", "MONOTONE_RTOL", "DEFAULT_MIN_VARIANCE", "STOCHASTIC_INITS"]


def fit(network: BayesianNetwork, data: Any, *, max_iter: int = 200, tol: float = 1e-6,
        seed: Any = 0, init: str | None = None, n_init: int = 1, prior: float = 0.0,
        callback: Any = None, progress: bool = False, memory_mb: float = 512.0,
        min_variance: float = DEFAULT_MIN_VARIANCE, variance_prior: float = 0.0,
        variance_scale: float = 0.0, weight_prior: float = 0.0, hard: bool = False,
        accelerate: str = "auto", sample_weight: Any = None, sum_out_barren: bool = False,
        max_time: float | None = None,
        history_path: Any = None,
        checkpoint: Any = None, checkpoint_every: float = 0.0,
        resume: Any = None, spill_dir: Any = None, client: Any = None, fixed: Any = (),
        noisy_or: Any = (), poisson: Any = (), method: str = "batch", batch_rows: int = 10_000, max_passes: int = 2,
        step: Any = (0.7, 2.0), **deprecated: Any) -> FitResult:
    """Learn the CPDs of ``network`` from ``data`` by EM.

    Parameters
    ----------
    network : BayesianNetwork
        Structure (and, for ``init="network"``, starting CPDs).
    data : pandas.DataFrame, a list, tuple or iterator of DataFrames, or data files
        Columns named after nodes; NaN is missing; absent nodes are latent. Data files
        (CSV or Parquet: a path, a glob pattern such as ``"parts/*.parquet"``, a folder,
        a list of paths, or :func:`bnem.files` for reading options) are read in batches
        and their encoding kept on disk (see ``spill_dir``), so memory follows
        ``memory_mb``, not the number of rows.
    max_iter : int, default 200
        Most iterations (>= 0): one EM step each under plain EM; under SQUAREM (the
        default for soft EM, see ``accelerate``) an extrapolated step costing three
        E-steps, rarely four (``FitResult.n_estep`` counts them).
    tol : float, default 1e-6
        Stop when the objective rises by less than ``tol`` nats per row in an
        iteration.
    seed : int or numpy Generator or None, default 0
        Seeds the random starts; the same seed gives the same result.
    init : {"random", "uniform", "network", "complete-case", "k-means++", "random-rows", "random-resp"}
        Default: ``"random"`` for a discrete network, ``"k-means++"`` for a hybrid one
        (``"kmeans"``, scikit-learn's name for it in ``init_params``, is the same).
        The last three apply to hybrid networks (Gaussian mixtures): they place each
        continuous component's interface configurations at k-means++ centres, at
        random rows, or give rows random responsibilities (see
        :mod:`bnem.em.gaussian_init`); discrete tables then start as for ``"random"``.
        ``"random-resp"`` also applies to discrete networks with latent nodes (latent-
        class models): each row gets random responsibilities over the latent nodes'
        states and the tables start at the M-step of them (:mod:`bnem.em.resp_init`).
    n_init : int, default 1
        Number of random restarts; the one with the best final objective is kept.
    prior : float, default 0
        Dirichlet pseudo-count added to every expected count of a table (MAP-EM). The
        monotone objective is then the log posterior, shown in
        ``history.log_posterior``. Gaussian nodes take their own priors
        (``variance_prior``, ``weight_prior``).
    callback : callable, optional
        Called with a :class:`Progress` after every E-step; returning ``True`` stops.
    progress : bool, default False
        Show a one-line progress display on standard error.
    memory_mb : float, default 512
        Memory for the analysed data kept between iterations (chunks beyond it are
        analysed again at every E-step: slower, bounded memory); one chunk's working
        arrays take at most half of it. ``cache_mb`` is its deprecated name;
        ``chunk_rows`` (deprecated) also bounds the distinct rows per chunk.
    min_variance : float, default 1e-6
        Floor of every Gaussian node's conditional variance (like scikit-learn's
        ``reg_covar``, but a floor rather than an addition). A variance that hits it
        is reported by a ``DegenerateWarning`` naming the node and configuration.
        0 disables it (a collapsing component is then an error).
    variance_prior, variance_scale : float, default 0
        A prior on every Gaussian conditional variance: ``variance_prior`` (``nu``)
        pseudo-observations with variance ``variance_scale`` (``s2``), a scaled
        inverse-chi-squared prior. The M-step's variance is then its posterior mode
        ``(RSS + nu s2) / (n + nu + 2)`` rather than ``RSS / n``, so a component that
        would collapse onto a few rows keeps a variance near ``s2``; the history's
        ``log_posterior`` (with the tables' ``prior``, if any) is the monotone
        objective. Standard errors ignore it (likelihood information).
    weight_prior : float, default 0
        A normal prior ``N(0, variance / weight_prior)`` on each Gaussian node's weights
        on its continuous parents, per discrete-parent configuration (conjugate: it
        scales with the conditional variance; the intercept is not penalised). The
        M-step is then ridge regression, ``(S_pp + weight_prior I)^-1 S_pj`` from the
        centred scatter, and the variance ``(RSS + weight_prior |w|^2 [+ nu s2]) / (n
        + p [+ nu + 2])`` with ``p`` the node's continuous parents: the posterior mode.
        It keeps the weights finite with collinear or nearly constant parents. The
        history's ``log_posterior`` includes it; standard errors ignore it (likelihood
        information). Not with shared or tied Gaussian CPDs.
    hard : bool, default False
        Classification EM: every row counts wholly for its most probable completion
        (k-means is the limit of this for a Gaussian mixture). The monotone objective
        is then the classification log-likelihood ``sum max_z log p(row, z)``, shown
        in ``history.classification_log_likelihood``. Each row's unobserved discrete
        variables must lie in one clique of the junction tree (true of mixtures and
        latent-class models).
    accelerate : {"auto", "none", "squarem"}, default "auto"
        ``"auto"`` is ``"squarem"`` for soft EM and ``"none"`` for hard EM (on the 80
        paired starts of ``benchmarks/bench_accelerate.py`` SQUAREM needed 1.1-4.5x fewer
        E-steps by median, more on one start, and ended no lower). ``"none"``: plain EM,
        one E-step per iteration. ``"squarem"``: each iteration takes two EM steps,
        extrapolates along them (SQUAREM, :mod:`bnem.em.accelerate`) and keeps the
        extrapolation only if the objective does not drop, then takes one stabilising EM
        step; otherwise the second EM point. An iteration then costs three E-steps (four
        in a rare fallback); ``history`` gains ``n_estep`` (E-steps so far) and ``step``
        (``"squarem"`` or ``"em"``), and the objective still never decreases.
    spill_dir : path, optional
        For data files: the folder in which a temporary folder holds their encoded rows
        during the fit (removed afterwards); default the system's temporary folder.
    client : dask.distributed.Client, optional
        For a Dask DataFrame: the client whose workers run the E-steps (default: the
        active client).

    fixed : str or list of str, optional
        Nodes whose CPDs (tables or Gaussian) are kept as given while EM learns the
        rest (see :meth:`BayesianNetwork.fix`; the returned network keeps them fixed).
        Shared tables and held entries are declared on the network
        (:meth:`BayesianNetwork.share`, :meth:`BayesianNetwork.hold`).

    noisy_or : str or list of str, optional
        Two-state nodes learned as noisy-ORs of their parents, with default absent
        states (:meth:`BayesianNetwork.noisy_or`, which also takes the absent states,
        the leak and starting links; the returned network keeps them noisy-OR).

    poisson : str or list of str, optional
        Count nodes learned as Poisson, one rate per parent configuration
        (:meth:`BayesianNetwork.poisson`; states from :func:`bnem.count_states`).

    method : {"batch", "online", "online-then-batch"}, default "batch"
        ``"online"``: stepwise EM (:mod:`bnem.em.online`) over mini-batches of
        ``batch_rows`` consecutive rows, an M-step after each, for ``max_passes``
        passes over the data; any source works (a DataFrame, a list of DataFrames, data
        files read batch by batch, a Dask DataFrame: with a ``client`` (or an active
        dask.distributed client) each batch's E-step runs on the workers holding its
        rows, otherwise partitions are computed one at a time here; an iterator only
        for one pass). The history has a row per batch with the batch's log-likelihood
        before its update. With ``n_init`` starts, the one with the highest
        log-likelihood over its last pass is kept. ``"online-then-batch"``: then batch
        EM from the online result to ``tol`` or ``max_iter``; the history has both
        phases (``phase`` column), and one ``checkpoint`` file resumes either phase.
    batch_rows : int, default 10000
        Rows per mini-batch of online EM.
    max_passes : int, default 2
        Passes of online EM over the data.
    step : (alpha, t0), float or callable, default (0.7, 2.0)
        Online EM's step at batch ``t`` (``t = 0, 1, ...``; the first batch is blended
        with the start): ``min(1, (t + t0) ** -alpha)`` with ``alpha`` in ``(0.5, 1]`` for convergence
        (others warn), a constant in ``(0, 1]`` (which follows drifting data and does
        not converge), or a function of ``t``.

    The other options (``max_time``, ``history_path``, ``checkpoint``,
    ``checkpoint_every``, ``resume``, ``sample_weight``, ``sum_out_barren``) are
    described in :data:`bnem.em.options.OPTIONS`.

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
    network = as_network(network, "fit", data, needs_cpds=init == "network")
    arguments = locals()  # the signature's names are OPTIONS' (a test checks it)
    given = {o.name: arguments[o.name] for o in OPTIONS}
    if "cache_mb" in deprecated and memory_mb == DEFAULT_MEMORY_MB:
        del given["memory_mb"]  # the deprecated name stands in for the default
    opts = validate({**given, **deprecated}, network.is_hybrid)
    network = with_forms(network, opts)
    if opts.fixed:
        network = network.fix(opts.fixed)
    kind = as_source(data).kind
    if kind is Kind.SEQUENCES and opts.sample_weight is not None:
        raise BnemValueError("sample_weight= gives row weights; Sequences take one weight "
                             "per sequence: bnem.Sequences(..., sample_weight=[...])")
    if kind is Kind.SEQUENCES and (opts.method != "batch" or opts.client is not None):
        raise BnemValueError(
            "Sequences are learned by batch EM in this process (forward-backward over the "
            f"chain); drop method={opts.method!r}" if opts.method != "batch" else
            "Sequences are learned by batch EM in this process (forward-backward over the "
            "chain); drop client=")
    if opts.method != "batch":
        with output_locks({"history_path": opts.history_path, "checkpoint": opts.checkpoint}):
            handed = handed_over(opts.resume, network, opts) \
                if opts.method == "online-then-batch" and opts.resume is not None else None
            if handed is not None:  # the checkpoint is of the batch phase
                return _hand_off(handed, data, opts, resume=True)
            with graceful_interrupt() as interrupt:
                t0 = time.perf_counter()
                result, learner = fit_online(network, data, opts, interrupt, t0)
            assert learner.statistics is not None  # a source has at least one batch
            result.empty_configurations, result.floored_variances = conclude(
                network, outcome_of(learner, opts), learner.maximizer, opts,
                learner.statistics.weight, result.interrupted, False, interrupt.reason)
            if opts.method == "online" or result.stopped:
                return result
            return _hand_off(result, data, opts)
    with output_locks({"history_path": opts.history_path, "checkpoint": opts.checkpoint}):
        # (the body stays in fit itself: the warnings' stacklevel names the caller)
        rng = opts.rng()
        t0 = time.perf_counter()
        data_ = _analyse(network, data, opts, t0)
        try:
            _check_total_weight(data_.total_weight)
            check_observed(network, data_.latent)
            prints = fingerprint(network, data_) if opts.checkpoint or opts.resume else {}
            saved = load_checkpoint(opts.resume, network, opts, prints) if opts.resume else None
            with graceful_interrupt() as interrupt:
                problem = Problem(data_, Maximizer(network), opts, interrupt,
                                  n_estep=saved.n_estep if saved else 0)
                runs, t0 = _restarts_with_checkpoints(problem, rng, t0, prints, saved)
            best = max(runs, key=lambda r: r.point.objective)
            constant = _constant_columns(data_) if best.point.notes.floored else {}
        finally:
            data_.close()
        empty, floored = conclude(network, best, problem.maximizer, opts, data_.total_weight,
                                  runs[-1].interrupted, runs[-1].timed_out, interrupt.reason,
                                  constant)
        result = FitResult(best.point.params.to_network(network), best.history,
                           best.point.stats.log_likelihood, best.n_iter, best.converged,
                           data_.n_rows, time.perf_counter() - t0, empty, _restarts(runs), floored,
                           n_estep=problem.n_estep, interrupted=runs[-1].interrupted,
                           stop_signal=interrupt.signal if runs[-1].interrupted else None,
                           stopped=runs[-1].stopped, statistics=best.point.stats,
                           histories=_histories(runs), best_restart=runs.index(best))
        logger.debug("%s", result.summary())
        return result


def _hand_off(online: FitResult, data: Any, opts: FitOptions, resume: bool = False
              ) -> FitResult:
    """``method="online-then-batch"``: batch EM from the online result (its kept start)
    to convergence. The history holds both phases (a ``phase`` column; the batch
    phase's ``seconds`` count from the fit's beginning, every online start included);
    ``restarts`` and ``histories`` list the online starts, the kept one's row in
    ``histories`` followed by the batch phase. With ``checkpoint=``, the batch phase's
    checkpoints carry the online phase too (``resume``: go on from one)."""
    given = {o.name: getattr(opts, o.name) for o in OPTIONS}
    given.update(method="batch", init="network", n_init=1, fixed=(), noisy_or=(), poisson=(),
                 history_path=None, resume=opts.resume if resume else None)
    if opts.max_time is not None:  # what is left of it
        given["max_time"] = max(opts.max_time - online.seconds, 0.0)
    if opts.chunk_rows is not None:
        given["chunk_rows"] = opts.chunk_rows
    token = EARLIER_PHASE.set(online_phase_record(online, opts)) if opts.checkpoint else None
    try:  # the batch phase's warnings, at the user's call to fit
        batch = warnings_reissued(3, fit, online.network, data, **given)
    finally:
        if token is not None:
            EARLIER_PHASE.reset(token)
    later = batch.history.assign(seconds=batch.history["seconds"] + online.seconds,
                                 phase="batch")
    ints = ("restart", "pass", "batch", "rows", "iteration", "n_estep")
    history = pd.concat([online.history.assign(phase="online"), later], ignore_index=True)
    history = history.astype({c: "Int64" for c in ints if c in history})
    kept = online.best_restart
    histories = pd.concat([online.histories.assign(phase="online"),
                           later.assign(restart=kept)], ignore_index=True)
    histories = histories.astype({c: "Int64" for c in ints if c in histories})
    if opts.history_path is not None:  # the live file held the online phase: now both
        with atomic_open(opts.history_path, "w", encoding="utf-8", newline="") as handle:
            (histories if opts.n_init > 1 else history).to_csv(handle, index=False)
    return dataclasses.replace(batch, history=history, seconds=online.seconds + batch.seconds,
                               n_estep=online.n_estep + batch.n_estep,
                               method="online-then-batch", restarts=online.restarts,
                               histories=histories, best_restart=kept)


def _restarts_with_checkpoints(problem: Problem, rng: np.random.Generator, t0: float,
                               prints: dict, saved: Resumed | None
                               ) -> tuple[list[RunOutcome], float]:
    """Every restart (the finished ones of a checkpoint taken as they are), saving
    checkpoints on the way if asked; also the start time, moved back on a resume by the
    seconds the checkpoint had already run."""
    opts = problem.options
    runs: list[RunOutcome] = []
    current = None
    if saved is not None:
        runs, current, rng = saved.runs, saved.current, restored_rng(saved.rng_state)
        t0 = time.perf_counter() - saved.seconds
    live = LiveHistory(opts.history_path, opts, _restored_rows(runs, current)) \
        if opts.history_path else None
    try:
        runs = _each_restart(problem, rng, t0, prints, runs, current,
                             None if live is None else live.write)
    finally:
        if live is not None:
            live.close()
    return runs, t0


def _restored_rows(runs: list[RunOutcome], current: RunState | None) -> list:
    """The rows of a resumed fit so far, as ``(restart, HISTORY_COLUMNS tuple)``."""
    out = [(k, row) for k, r in enumerate(runs) for row in r.rows]
    if current is not None:
        out += [(current.restart, tuple(row)) for row in current.resume.rows]
    return out


def _each_restart(problem: Problem, rng: np.random.Generator, t0: float, prints: dict,
                  runs: list[RunOutcome], current: RunState | None,
                  on_row: Callable[[Progress], None] | None) -> list[RunOutcome]:
    """Run the restarts not finished yet, checkpointing if asked."""
    opts, data = problem.options, problem.data
    network = data.compiled.network
    saver = Checkpointer(opts.checkpoint, opts.checkpoint_every, opts, prints) \
        if opts.checkpoint else None
    for restart in range(len(runs), opts.n_init):
        if runs and runs[-1].stopped:
            break
        step = Squarem(problem) if opts.accelerate == "squarem" else None
        start: Parameters | Resume
        if current is not None and current.restart == restart:
            if current.resume.iteration >= opts.max_iter:
                raise BnemValueError(
                    f"max_iter={opts.max_iter} but the checkpoint is at iteration "
                    f"{current.resume.iteration} of restart {restart}; resume with a larger "
                    "max_iter")
            start = _resumed_point(problem, current)  # with the step's saved state
        else:
            start = start_point(problem, rng)
            if restart == 0:
                warn_symmetric(start.to_network(network), data.latent, opts.init)
        on_iteration = None if saver is None else _saving(saver, runs, restart, rng, problem, t0)
        runs.append(run(problem, start, restart, t0, step, Observers(on_row, on_iteration)))
        if saver is not None:
            saver.save(*_checkpoint_state(runs, restart), rng, problem.n_estep,
                       time.perf_counter() - t0, force=True)
    return runs


def _checkpoint_state(runs: list[RunOutcome],
                      restart: int) -> tuple[list[RunOutcome], RunState | None]:
    """What to save once a restart has returned: a finished restart as finished; one
    stopped early (Ctrl-C, max_time, a callback) as the restart in progress, so that
    resuming carries on with it."""
    last = runs[-1]
    if not last.stopped or last.converged:
        return runs, None
    state = Resume(last.point, list(last.rows), last.point.objective, last.n_iter,
                   last.step_state)
    return runs[:-1], RunState(restart, state)


def _saving(saver: Checkpointer, runs: list[RunOutcome], restart: int,
            rng: np.random.Generator, problem: Problem,
            t0: float) -> Callable[[Resume], None]:
    def save(state: Resume) -> None:
        saver.save(runs, RunState(restart, state), rng, problem.n_estep,
                   time.perf_counter() - t0)
    return save


def _resumed_point(problem: Problem, current: RunState) -> Resume:
    """The saved point with its full statistics again (an E-step not counted)."""
    saved = current.resume.point
    point = problem.evaluate(saved.params, "resumed", saved.notes, saved.step, count=False)
    if abs(point.objective - saved.objective) > 1e-9 * max(1.0, abs(saved.objective)):
        raise BnemValueError(
            f"the checkpoint's objective {saved.objective!r} is not reproduced here "
            f"({point.objective!r}): it was written by another version of bnem; start the "
            "fit afresh")
    return Resume(point, current.resume.rows, current.resume.prev, current.resume.iteration,
                  current.resume.step_state)


def _analyse(network: BayesianNetwork, data: Any, opts: FitOptions, t0: float) -> FitData:
    budget = MemoryBudget(opts.memory_mb) if opts.chunk_rows is None else \
        MemoryBudget(opts.memory_mb, opts.chunk_rows)
    barren = opts.sum_out_barren and not opts.hard and not network.is_hybrid
    kind = as_source(data).kind
    if kind is Kind.SEQUENCES:
        from ..inference.chain import ChainData
        chained = ChainData(compile(network), data, budget)
        logger.info("%d sequences (%d steps) for forward-backward over the chain %r in %.3f s",
                    len(data), len(data.steps), chained.chain, time.perf_counter() - t0)
        return chained
    if kind is Kind.DASK:
        from .distributed import DaskData
        on_dask = DaskData(compile(network, opts.hard), data, budget, barren, opts.sample_weight,
                           opts.client)
        logger.info("analysed %d rows (%d distinct) in %d Dask partitions in %.3f s; "
                    "latent: %s", on_dask.n_rows, on_dask.n_distinct, on_dask.n_partitions,
                    time.perf_counter() - t0, ", ".join(on_dask.latent) or "none")
        return on_dask
    if opts.client is not None:
        raise BnemValueError("client= runs the E-steps of a Dask DataFrame on its cluster; "
                             f"the data here are a {type(data).__name__}. Pass a Dask "
                             "DataFrame (e.g. dask.dataframe.read_parquet(...)), or drop client=")
    analysed = AnalysedData(compile(network, opts.hard), data, budget, barren, opts.sample_weight,
                            opts.spill_dir)
    n = analysed.n_chunks
    logger.info("compiled %d rows (%d distinct) in %.3f s; latent: %s; %.0f MB of analysis "
                "kept%s%s%s", analysed.n_rows, analysed.n_distinct,
                time.perf_counter() - t0, ", ".join(analysed.latent) or "none",
                analysed.kept_bytes / 2 ** 20,
                f", {analysed.n_compact} of {n} chunks compact" if analysed.n_compact else "",
                f", {analysed.n_spilled} of {n} chunks kept on disk" if analysed.n_spilled
                else "",
                f", {analysed.n_streamed} of {n} chunks re-analysed every iteration (raise "
                "memory_mb to keep them)" if analysed.n_streamed else "")
    return analysed


def _check_total_weight(total: float) -> None:
    if not total > 0:
        raise DataError(f"the rows' weights sum to {total:g}: every row has weight 0, so "
                        "there is nothing to fit. Give some rows a positive sample_weight "
                        "(weights are frequencies, >= 0).")
    if not np.isfinite(total):
        raise DataError("the rows' weights sum beyond the float range; rescale them "
                        "(divide them all by the same factor)")


def _constant_columns(data_: FitData) -> dict[str, float]:
    """Continuous columns whose observed values are all equal, with that value (read
    part by part; empty for data on a Dask cluster, whose parts stay there)."""
    parts = getattr(getattr(data_, "source", None), "parts", None)
    lo = hi = None
    names: tuple = ()
    for part in parts or ():
        values = part.values
        if values.size == 0:
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        lo = low if lo is None else np.fmin(lo, low)
        hi = high if hi is None else np.fmax(hi, high)
        names = part.continuous
    if lo is None or hi is None:
        return {}
    return {n: float(a) for n, a, b in zip(names, lo, hi) if a == b}


def with_forms(network: BayesianNetwork, opts: FitOptions) -> BayesianNetwork:
    """``network`` with the nodes of ``noisy_or=`` and ``poisson=`` given their form (a
    node that has it already keeps it as declared: its absent states, its values)."""
    for node in opts.noisy_or:
        if node not in network.noisy_or_nodes:
            network = network.noisy_or(node)
    for node in opts.poisson:
        if node not in network.poisson_nodes:
            network = network.poisson(node)
    return network


def _histories(runs: list[RunOutcome]) -> pd.DataFrame:
    """Every restart's history, one after the other, with a leading ``restart`` column
    (one frame from all the runs' rows: a frame per run, then their concatenation, cost
    a fifth of a small mixture's fit)."""
    out = history_frame([row for r in runs for row in r.rows], runs[0].options)
    out.insert(0, "restart", np.repeat(np.arange(len(runs)), [len(r.rows) for r in runs]))
    return out


def _restarts(runs: list[RunOutcome]) -> pd.DataFrame:
    # column by column: a frame from a list of records costs more than a small restart
    return pd.DataFrame({"restart": np.arange(len(runs)),
                         "log_likelihood": [r.point.stats.log_likelihood for r in runs],
                         "objective": [r.point.objective for r in runs],
                         "n_iter": [r.n_iter for r in runs],
                         "converged": [r.converged for r in runs]})
