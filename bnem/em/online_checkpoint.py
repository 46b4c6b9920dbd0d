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

from ..errors import BnemValueError
from ..inference.stats import Stats
from ..network.bayesnet import BayesianNetwork
from ..network.parameters import Parameters
from .checkpoint import (network_fingerprint, options_record, read_archive, recorded_options,
                         restored_rng, write_archive)
from .families import BY_NAME
from .options import FitOptions

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
    rows: list = field(default_factory=list)      # the history so far
    seconds: float = 0.0


class OnlineCheckpointer:
    """Writes an online run's state to ``path`` (at most every ``every`` seconds)."""

    def __init__(self, path: Any, every: float, opts: FitOptions,
                 network: BayesianNetwork) -> None:
        self.path = os.fspath(path)
        self.every = every
        self.meta = {"format": FORMAT, "version": VERSION, "options": options_record(opts),
                     "network": network_fingerprint(network)}
        self.last = -np.inf

    def save(self, learner: Any, position: Position, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        arrays: dict[str, np.ndarray] = {}
        params, stats = learner.params, learner.statistics
        if params is not None:
            for name, block in params.blocks.items():
                arrays.update(BY_NAME[name].arrays(block, "params"))
        if stats is not None:
            for name, block in stats.blocks.items():
                arrays.update(BY_NAME[name].stats_arrays(block, "stats"))
        meta = dict(self.meta, learner={
            "params": params is not None, "families": list(params.blocks) if params else [],
            "stats": None if stats is None else {
                "families": list(stats.blocks), "weight": float(stats.weight),
                "log_likelihood": float(stats.log_likelihood),
                "classification": None if stats.classification is None
                else float(stats.classification)},
            "n_batches": learner.n_batches, "weight_seen": learner.weight_seen,
            "largest": learner._largest, "continued": learner._continued,
            "columns": learner._columns, "warned_small": learner._warned_small,
            "rng": learner._rng.bit_generator.state},
            position={"pass_index": position.pass_index,
                      "batches_done": position.batches_done,
                      "pass_weight": position.pass_weight, "seen": position.seen,
                      "n_rows": position.n_rows, "pass_ll": list(position.pass_ll),
                      "rows": [list(r) for r in position.rows],
                      "seconds": position.seconds})
        write_archive(self.path, meta, arrays)


def load(path: Any, learner: Any, network: BayesianNetwork, opts: FitOptions) -> Position:
    """Restore ``learner`` (fresh, from these options) from the checkpoint at ``path``;
    return the position to go on from.

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
        hint = " (it is a batch EM checkpoint: resume it with method='batch')" \
            if kind == "bnem-checkpoint" else ""
        raise BnemValueError(f"{name!r} is not a checkpoint of online EM{hint}")
    if meta.get("version") != VERSION:
        raise BnemValueError(f"{name!r}: online checkpoint version {meta.get('version')!r}, "
                             f"expected {VERSION}")
    if meta.get("network") != network_fingerprint(network):
        raise BnemValueError(f"cannot resume from {name!r}: it was written for another "
                             "network (the networks differ)")
    saved = recorded_options(meta["options"])
    differ = {k: (v, saved.get(k)) for k, v in options_record(opts).items()
              if saved.get(k) != v}
    if differ:
        raise BnemValueError(f"cannot resume from {name!r} with other options: "
                             + ", ".join(f"{k}={new!r} (checkpoint: {old!r})"
                                         for k, (new, old) in differ.items()))
    try:
        state, where = meta["learner"], meta["position"]
        if state["params"]:
            blocks = {f: BY_NAME[f].from_arrays(arrays, "params", network)
                      for f in state["families"]}
            learner.params = Parameters(blocks=blocks)
        if state["stats"] is not None:
            s = state["stats"]
            learner.statistics = Stats(
                blocks={f: BY_NAME[f].stats_from_arrays(arrays, "stats", network)
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
        position = Position(int(where["pass_index"]), int(where["batches_done"]),
                            where["pass_weight"], float(where["seen"]), int(where["n_rows"]),
                            [float(x) for x in where["pass_ll"]],
                            [tuple(r) for r in where["rows"]], float(where["seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BnemValueError(f"cannot resume from {name!r}: the checkpoint is damaged "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if position.batches_done < 0 or position.pass_index < 0 or \
            position.pass_index > opts.max_passes:
        raise BnemValueError(f"cannot resume from {name!r}: its position (pass "
                             f"{position.pass_index + 1}, batch {position.batches_done}) is "
                             f"outside max_passes={opts.max_passes}")
    return position
