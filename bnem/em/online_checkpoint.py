"""Checkpoints of online EM: save after batches, resume after a crash (em layer).

Online EM's state is not a point an E-step can rebuild: it is the running statistics
(blended over every batch so far), the parameters of their last M-step, the step
schedule's counters, the random state and the position in the data (pass, and batches
done in it). A checkpoint holds all of them, with the history so far, in one ``.npz``
archive (arrays, plus the metadata as JSON; no pickles), written atomically.

Resuming reads the data again from the start of the pass in progress, skips the
batches already learned (they are read, not learned twice) and goes on, so the result
equals that of an uninterrupted run: the same parameters and history but for
``seconds``. The batches must come in the same order, which files, lists of
DataFrames, DataFrames and Dask collections give (an iterator cannot be resumed).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import BnemValueError
from ..inference.stats import Stats
from ..network.bayesnet import BayesianNetwork
from ..network.parameters import Parameters
from .checkpoint import (network_fingerprint, options_record, read_archive, restored_rng,
                         same_options, write_archive)
from .families import BY_NAME
from .options import FitOptions
from .result import FitResult

FORMAT = "bnem-online-checkpoint"
VERSION = 1


@dataclass
class Position:
    """Where an online run stands in its data."""

    pass_index: int = 0                 # the pass in progress (from 0)
    batches_done: int = 0               # batches of that pass already learned
    pass_weight: float | None = None    # the first pass's total weight (the reference)
    seen: float = 0.0                   # weight of this pass so far
    n_rows: int = 0                     # rows of this pass so far
    pass_ll: list = field(default_factory=list)   # this pass's batch log-likelihoods
    rows: list = field(default_factory=list)      # the history of this start so far
    seconds: float = 0.0
    start: int = 0                      # the start (restart) in progress (from 0)
    starts: list = field(default_factory=list)    # the finished starts' records


class OnlineCheckpointer:
    """Writes an online run's state to ``path`` (at most every ``every`` seconds)."""

    def __init__(self, path: Any, every: float, opts: FitOptions,
                 network: BayesianNetwork) -> None:
        self.path = os.fspath(path)
        self.every = every
        self.meta = {"format": FORMAT, "version": VERSION, "options": options_record(opts),
                     "network": network_fingerprint(network)}
        self.last = -np.inf

    def save(self, learner: Any, position: Position, best: Any = None,
             force: bool = False) -> None:
        """Save the current start's ``learner`` at ``position`` and, with restarts, the
        ``best`` finished start's learner."""
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        arrays: dict[str, np.ndarray] = {}
        meta = dict(self.meta, learner=_learner_meta(learner, "", arrays),
                    best=None if best is None else _learner_meta(best, "best.", arrays),
                    position={"pass_index": position.pass_index,
                              "batches_done": position.batches_done,
                              "pass_weight": position.pass_weight, "seen": position.seen,
                              "n_rows": position.n_rows, "pass_ll": list(position.pass_ll),
                              "rows": [list(r) for r in position.rows],
                              "seconds": position.seconds, "start": position.start,
                              "starts": [dict(r, rows=[list(x) for x in r["rows"]])
                                         for r in position.starts]})
        write_archive(self.path, meta, arrays)


def _learner_meta(learner: Any, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """A learner's state: its blocks into ``arrays`` (keys under ``prefix``), the rest
    as metadata."""
    params, stats = learner.params, learner.statistics
    if params is not None:
        for name, block in params.blocks.items():
            arrays.update(BY_NAME[name].arrays(block, prefix + "params"))
    if stats is not None:
        for name, block in stats.blocks.items():
            arrays.update(BY_NAME[name].stats_arrays(block, prefix + "stats"))
    return {"params": params is not None, "families": list(params.blocks) if params else [],
            "stats": None if stats is None else {
                "families": list(stats.blocks), "weight": float(stats.weight),
                "log_likelihood": float(stats.log_likelihood),
                "classification": None if stats.classification is None
                else float(stats.classification)},
            "n_batches": learner.n_batches, "weight_seen": learner.weight_seen,
            "largest": learner._largest, "continued": learner._continued,
            "columns": learner._columns, "warned_small": learner._warned_small,
            "rng": learner._rng.bit_generator.state}


def _restore_learner(learner: Any, state: dict, prefix: str, arrays: dict[str, np.ndarray],
                     network: BayesianNetwork) -> None:
    if state["params"]:
        blocks = {f: BY_NAME[f].from_arrays(arrays, prefix + "params", network)
                  for f in state["families"]}
        learner.params = Parameters(blocks=blocks)
    if state["stats"] is not None:
        s = state["stats"]
        learner.statistics = Stats(
            blocks={f: BY_NAME[f].stats_from_arrays(arrays, prefix + "stats", network)
                    for f in s["families"]},
            log_likelihood=float(s["log_likelihood"]),
            classification=s["classification"], weight=float(s["weight"]))
    learner.n_batches = int(state["n_batches"])
    learner.weight_seen = float(state["weight_seen"])
    learner._largest = float(state["largest"])
    learner._continued = bool(state["continued"])
    learner._columns = state["columns"]
    learner._warned_small = bool(state["warned_small"])
    learner._rng = restored_rng(state["rng"])


def load(path: Any, learner: Any, network: BayesianNetwork,
         opts: FitOptions) -> tuple[Position, Any]:
    """Restore ``learner`` (fresh, from these options) from the checkpoint at ``path``;
    return the position to go on from and, with restarts past the first, the best
    finished start's learner.

    Raises
    ------
    BnemValueError
        The file is missing, not an online checkpoint, damaged, or written for another
        network or other options (naming which).
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise BnemValueError(f"cannot resume: checkpoint file {name!r} does not exist")
    meta, arrays = read_archive(name)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        kind = meta.get("format") if isinstance(meta, dict) else None
        hint = "" if kind != "bnem-checkpoint" else \
            " (it is a checkpoint of the batch phase of method='online-then-batch': resume " \
            "it with that method)" if "online_phase" in meta else \
            " (it is a batch EM checkpoint: resume it with method='batch')"
        raise BnemValueError(f"{name!r} is not a checkpoint of online EM{hint}")
    if meta.get("version") != VERSION:
        raise BnemValueError(f"{name!r}: online checkpoint version {meta.get('version')!r}, "
                             f"expected {VERSION}")
    if meta.get("network") != network_fingerprint(network):
        raise BnemValueError(f"cannot resume from {name!r}: it was written for another "
                             "network (the networks differ)")
    same_options(name, meta["options"], opts)
    best = None
    try:
        where = meta["position"]
        _restore_learner(learner, meta["learner"], "", arrays, network)
        if meta.get("best") is not None:
            best = learner.fresh()
            _restore_learner(best, meta["best"], "best.", arrays, network)
        position = Position(int(where["pass_index"]), int(where["batches_done"]),
                            where["pass_weight"], float(where["seen"]), int(where["n_rows"]),
                            [float(x) for x in where["pass_ll"]],
                            [tuple(r) for r in where["rows"]], float(where["seconds"]),
                            int(where.get("start", 0)),
                            [dict(r, rows=[tuple(x) for x in r["rows"]])
                             for r in where.get("starts", [])])
    except (KeyError, TypeError, ValueError) as exc:
        raise BnemValueError(f"cannot resume from {name!r}: the checkpoint is damaged "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if position.batches_done < 0 or position.pass_index < 0 or \
            position.pass_index > opts.max_passes or not 0 <= position.start < opts.n_init \
            or len(position.starts) != position.start or \
            (best is None) != (position.start == 0):
        raise BnemValueError(f"cannot resume from {name!r}: its position (start "
                             f"{position.start + 1}, pass {position.pass_index + 1}, batch "
                             f"{position.batches_done}) is outside n_init={opts.n_init}, "
                             f"max_passes={opts.max_passes}, or the checkpoint is damaged")
    return position, best


def online_phase_record(online: Any, opts: FitOptions) -> tuple[dict, dict[str, np.ndarray]]:
    """A finished online phase of ``method="online-then-batch"`` (a ``FitResult``) and
    the fit's options, as the metadata and arrays the batch phase's checkpoints carry."""
    arrays: dict[str, np.ndarray] = {}
    params = Parameters.of(online.network)
    for name, block in params.blocks.items():
        arrays.update(BY_NAME[name].arrays(block, "online_phase"))
    meta = {"families": list(params.blocks), "options": options_record(opts),
            "history": _frame_record(online.history),
            "histories": _frame_record(online.histories),
            "restarts": _frame_record(online.restarts), "best_restart": int(online.best_restart),
            "log_likelihood": float(online.log_likelihood), "n_iter": int(online.n_iter),
            "n_rows": int(online.n_rows), "n_estep": int(online.n_estep),
            "seconds": float(online.seconds)}
    return meta, arrays


def _frame_record(frame: pd.DataFrame) -> dict:
    return {"columns": [str(c) for c in frame.columns],
            "rows": [[_plain(v) for v in row] for row in frame.itertuples(index=False)]}


def _frame(record: dict) -> pd.DataFrame:
    frame = pd.DataFrame(record["rows"], columns=record["columns"])
    ints = ("restart", "pass", "batch", "rows", "n_iter")
    return frame.astype({c: "int64" for c in ints if c in frame.columns})


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def handed_over(path: Any, network: BayesianNetwork, opts: FitOptions) -> Any:
    """For ``resume=`` with ``method="online-then-batch"``: the finished online phase (a
    ``FitResult``) when the checkpoint at ``path`` is of the batch phase, or ``None``
    when it is of the online phase (or missing: the online phase's reading says so).

    Raises
    ------
    BnemValueError
        The file is a checkpoint of a plain batch fit, it was written with other
        options, or its online phase is damaged.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        return None
    meta, arrays = read_archive(name)
    if not isinstance(meta, dict) or meta.get("format") != "bnem-checkpoint":
        return None
    if "online_phase" not in meta:
        raise BnemValueError(f"{name!r} is a checkpoint of batch EM, not of "
                             "method='online-then-batch': resume it with method='batch'")
    record = meta["online_phase"]
    same_options(name, record.get("options", {}), opts)
    try:
        params = Parameters(blocks={f: BY_NAME[f].from_arrays(arrays, "online_phase", network)
                                    for f in record["families"]})
        return FitResult(params.to_network(network), _frame(record["history"]),
                         float(record["log_likelihood"]), int(record["n_iter"]), False,
                         int(record["n_rows"]), float(record["seconds"]),
                         restarts=_frame(record["restarts"]),
                         n_estep=int(record["n_estep"]), method="online",
                         histories=_frame(record["histories"]),
                         best_restart=int(record["best_restart"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BnemValueError(f"cannot resume from {name!r}: its online phase is damaged "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None
