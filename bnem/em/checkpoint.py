"""Checkpoints: save a fit after its iterations, resume it after a crash (em layer).

A checkpoint holds everything the rest of the fit depends on: the finished restarts
(their final parameters, statistics summary and history), the point the current
restart has reached (parameters, history, the previous objective, SQUAREM's step
bound), the random state from which later starts are drawn, the E-step count, the
options, and fingerprints of the network and of the encoded data. Resuming re-runs
the E-step at the saved point (not counted) and continues, so the result equals that
of an uninterrupted fit: the same CPDs and the same history but for ``seconds``.

The file is one ``.npz`` archive (arrays, plus the metadata as a JSON string; no
pickles, so loading one runs no code), written atomically by renaming.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..atomic import atomic_open
from ..errors import BnemValueError
from ..inference.dataset import FitData
from ..inference.stats import Stats
from ..network.bayesnet import BayesianNetwork
from ..network.parameters import Parameters
from .checkpoint_checks import Damaged, check_arrays, check_meta, check_rng
from .families import BY_NAME, family_types
from .notes import MStepNotes
from .options import OPTIONS, FitOptions
from .run import Point, Resume, RunOutcome

FORMAT = "bnem-checkpoint"
VERSION = 1
# ``method="online-then-batch"``: the finished online phase (metadata and arrays), saved
# in every checkpoint of the batch phase so that one file resumes the whole hand-off
EARLIER_PHASE: ContextVar[tuple[dict, dict[str, np.ndarray]] | None] = \
    ContextVar("bnem_earlier_phase", default=None)
# options that may change between a run and its resumption (declared in OPTIONS)
IGNORED = tuple(o.name for o in OPTIONS if o.resumable)


@dataclass(frozen=True)
class RunState:
    """Where a restart stands after an iteration: enough to carry on from it."""

    restart: int
    resume: Resume          # (with the step's state, e.g. SQUAREM's step bound)


@dataclass
class Resumed:
    """What a checkpoint gives back to ``fit``."""

    runs: list[RunOutcome]
    current: RunState | None
    rng_state: dict
    n_estep: int
    seconds: float


def fingerprint(network: BayesianNetwork, data: FitData) -> dict[str, str]:
    """Hashes of the network (structure, states, parameters, shared and held blocks)
    and of the encoded data."""
    return {"network": network_fingerprint(network), "data": data.digest()}


def network_fingerprint(network: BayesianNetwork) -> str:
    """A hash of the network: structure, states, parameters, shared and held blocks."""
    h = hashlib.sha256()
    for node in network.nodes:
        h.update(repr((node, network.parents(node), network.variable(node))).encode())
    h.update(np.ascontiguousarray(network.flat_params()).tobytes())
    for cpd in network.gaussian_cpds.values():
        for a in (cpd.intercept, cpd.weights, cpd.variance):
            h.update(np.ascontiguousarray(a, dtype=float).tobytes())
    if network.constraints:  # shared and held blocks change the fit
        h.update(network.constraints.key().encode())
    return h.hexdigest()


def recorded_options(saved: dict) -> dict:
    """A checkpoint's options, an option it does not name (one added since it was
    written) taken at its default."""
    defaults = {o.name: _recorded(o.default) for o in OPTIONS}
    return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def same_options(name: str, saved: dict, opts: FitOptions, hint: str = "") -> None:
    """Refuse to resume the checkpoint ``name`` (its recorded options ``saved``) with
    other options, naming each that differs."""
    recorded = recorded_options(saved)
    differ = {k: (v, recorded.get(k)) for k, v in _options(opts).items()
              if recorded.get(k) != v}
    if differ:
        raise BnemValueError(f"cannot resume from {name!r} with other options: "
                             + ", ".join(f"{k}={new!r} (checkpoint: {old!r})"
                                         for k, (new, old) in differ.items()) + hint)


def options_record(opts: FitOptions) -> dict:
    """The options a checkpoint records (those a resumed fit must repeat)."""
    return _options(opts)


def _recorded(value: Any) -> Any:
    """An option's value as a checkpoint records it: a tuple of numbers (online EM's
    ``step=(alpha, t0)``) as a list of floats, as JSON gives it back."""
    if isinstance(value, tuple) and value and \
            all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return [float(x) for x in value]
    return value


def _options(opts: FitOptions) -> dict:
    out = {}
    for name in opts.__dataclass_fields__:
        value = getattr(opts, name)
        if name in IGNORED:
            continue
        value = _recorded(value)
        if value is None or isinstance(value, (int, float, str, bool, list)):
            out[name] = value
    return out


class Checkpointer:
    """Writes a fit's state to ``path`` (at most every ``every`` seconds)."""

    def __init__(self, path: str | os.PathLike[str], every: float, opts: FitOptions,
                 prints: dict[str, str]) -> None:
        self.path = os.fspath(path)
        self.every = every
        self.meta = {"format": FORMAT, "version": VERSION, "options": _options(opts),
                     "fingerprint": prints}
        self.earlier = EARLIER_PHASE.get()
        if self.earlier is not None:
            self.meta["online_phase"] = self.earlier[0]
        self.last = -np.inf

    def save(self, runs: list[RunOutcome], current: RunState | None, rng: np.random.Generator,
             n_estep: int, seconds: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        arrays: dict[str, np.ndarray] = dict(self.earlier[1]) if self.earlier else {}
        meta = dict(self.meta, rng=rng.bit_generator.state, n_estep=n_estep, seconds=seconds,
                    runs=[_run_meta(r, f"run{k}", arrays) for k, r in enumerate(runs)],
                    current=None if current is None else _state_meta(current, arrays))
        write_archive(self.path, meta, arrays)


def write_archive(path: str, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` and ``meta`` (as JSON) in one ``.npz`` file, written atomically."""
    arrays["meta"] = np.array(json.dumps(meta, default=_plain))
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub


def read_archive(name: str) -> tuple[Any, dict[str, np.ndarray]]:
    """The metadata and arrays of a file :func:`write_archive` wrote (no pickles)."""
    try:
        with np.load(name, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        return json.loads(str(arrays.pop("meta"))), arrays
    except Exception as exc:  # a truncated or foreign file fails in many ways  # noqa: BLE001
        raise BnemValueError(f"cannot resume from {name!r}: not a readable bnem checkpoint "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None


def _plain(value: Any) -> Any:
    """numpy scalars in JSON as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot save {type(value).__name__} in a checkpoint")


def _params_arrays(params: Parameters, key: str, arrays: dict) -> None:
    for name, block in params.blocks.items():  # each family names its own arrays
        arrays.update(BY_NAME[name].arrays(block, key))


def _point_meta(point: Point, key: str, arrays: dict) -> dict:
    _params_arrays(point.params, key, arrays)
    arrays[f"{key}.counts"] = point.stats.counts
    n = point.notes
    return {"key": key, "objective": point.objective, "ll": point.stats.log_likelihood,
            "classification": point.stats.classification, "weight": point.stats.weight,
            "step": point.step, "notes": [list(map(list, x)) for x in (n.floored, n.empty,
                                                                     n.collinear)],
            "imprecise": list(map(list, n.imprecise)), "slack": n.slack}


def _run_meta(r: RunOutcome, key: str, arrays: dict) -> dict:
    return {"point": _point_meta(r.point, key, arrays), "n_iter": r.n_iter,
            "converged": r.converged, "stopped": r.stopped, "last_delta": r.last_delta,
            "rows": [list(row) for row in r.rows]}


def _state_meta(s: RunState, arrays: dict) -> dict:
    r = s.resume
    return {"restart": s.restart, "iteration": r.iteration, "prev": r.prev,
            "rows": [list(row) for row in r.rows], "step_state": dict(r.step_state),
            "point": _point_meta(r.point, "current", arrays)}


def load(path: str | os.PathLike[str], network: BayesianNetwork, opts: FitOptions,
         prints: dict[str, str]) -> Resumed:
    """Read a checkpoint written for this network, data and options.

    Raises
    ------
    BnemValueError
        If the file is not a bnem checkpoint, or was written for another network, other
        data or other options (naming which).
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise BnemValueError(f"cannot resume: checkpoint file {name!r} does not exist"
                             + (" (it is a directory)" if os.path.isdir(name) else ""))
    meta, arrays = read_archive(name)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or \
            meta.get("version") != VERSION:
        raise BnemValueError(f"{os.fspath(path)!r} is not a bnem checkpoint of version {VERSION}")
    try:
        check_meta(meta, opts.n_init)
    except Damaged as exc:
        raise BnemValueError(f"cannot resume from {name!r}: {exc}") from None
    for what in ("network", "data"):
        if meta["fingerprint"][what] != prints[what]:
            raise BnemValueError(f"cannot resume from {os.fspath(path)!r}: it was written for "
                                 f"another {what} (the {what} differ from the checkpoint's)")
    same_options(os.fspath(path), meta["options"], opts,
                 "; pass the checkpoint's values to resume it (accelerate defaults to "
                 "'squarem' for soft EM since this version)")
    try:  # the values, once they are known to be for this network
        keys = [r["point"]["key"] for r in meta["runs"]] + \
            ([meta["current"]["point"]["key"]] if meta["current"] is not None else [])
        for key in keys:
            check_arrays(arrays, key, network)
        check_rng(meta["rng"])
    except Damaged as exc:
        raise BnemValueError(f"cannot resume from {name!r}: {exc}") from None
    runs = [_outcome(m, network, arrays, opts) for m in meta["runs"]]
    current = None
    if meta["current"] is not None:
        c = meta["current"]
        resume = Resume(_point(c["point"], network, arrays), [tuple(r) for r in c["rows"]],
                        c["prev"], c["iteration"], _step_state(c))
        current = RunState(c["restart"], resume)
    return Resumed(runs, current, meta["rng"], meta["n_estep"], meta["seconds"])


def _step_state(c: dict) -> dict:
    """The step's saved state (files of the previous version saved SQUAREM's bound
    alone, as ``step_max``)."""
    if "step_state" in c:
        return {str(k): float(v) for k, v in c["step_state"].items()}
    return {"step_max": float(c["step_max"])} if "step_max" in c else {}


def _params(key: str, network: BayesianNetwork, arrays: dict) -> Parameters:
    return Parameters(blocks={family.name: family.from_arrays(arrays, key, network)
                              for family in family_types(network)})


def _point(m: dict, network: BayesianNetwork, arrays: dict) -> Point:
    key = m["key"]
    stats = Stats(arrays[f"{key}.counts"], (), m["ll"], m["classification"], m["weight"])
    floored, empty, collinear = (tuple(tuple(x) for x in n) for n in m["notes"])
    notes = MStepNotes(floored, empty, collinear,
                       tuple(tuple(x) for x in m.get("imprecise", [])),
                       float(m.get("slack", 0.0)))
    return Point(_params(key, network, arrays), stats, m["objective"], notes, m["step"])


def _outcome(m: dict, network: BayesianNetwork, arrays: dict, opts: FitOptions) -> RunOutcome:
    rows = tuple(tuple(r) for r in m["rows"])
    return RunOutcome(_point(m["point"], network, arrays), opts,
                      m["n_iter"], m["converged"], m["stopped"], m["last_delta"], rows=rows)


def restored_rng(state: dict[str, Any]) -> np.random.Generator:
    """A generator in the saved state (the bit generator named in it)."""
    bits = getattr(np.random, state["bit_generator"])()
    bits.state = state
    return np.random.Generator(bits)
