"""Checks of a checkpoint's contents before a fit resumes from it (em layer).

A checkpoint is an ``.npz`` file anyone can open and edit. Everything read back is
checked against what the writer produces and against the network: the metadata's
fields and types, the run and restart numbers, the parameters' shapes and values (each
table a distribution, variances positive), the statistics' shapes, the step state and
the random state (only numpy's bit generators, with a state they accept). A problem
is a :class:`~bnem.errors.BnemValueError` naming the field, never a traceback from
inside, nor a silently different fit.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

import numpy as np

from ..errors import BnemValueError
from ..network.bayesnet import BayesianNetwork

BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
STEPS = ("start", "em", "squarem")
NORMALISED = 1e-6  # a saved table sums to 1 within this (the writer's are exact to ~1e-15)


class Damaged(BnemValueError):
    """A checkpoint whose contents are not what bnem writes."""


def _fail(what: str) -> NoReturn:
    raise Damaged(f"{what}; the file was edited or damaged: start the fit afresh (or "
                  "resume from an intact copy)")


def _int(value: Any, what: str, low: int = 0, high: float = math.inf) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bounds = f">= {low}" if high == math.inf else f"in [{low}, {int(high)}]"
        _fail(f"{what} is {value!r}, expected a whole number {bounds}")
    return value


def _float(value: Any, what: str, finite: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (finite and not math.isfinite(value)) or math.isnan(value):
        _fail(f"{what} is {value!r}, expected a {'finite ' if finite else ''}number")
    return float(value)


def _dict(value: Any, what: str, keys: tuple) -> dict:
    if not isinstance(value, dict):
        _fail(f"{what} is a {type(value).__name__}, expected an object")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(f"{what} lacks {missing}")
    return value


def check_meta(meta: Any, n_init: int) -> None:
    """The metadata's fields, types and numbers (``n_init``: the fit's restarts)."""
    _dict(meta, "the checkpoint's metadata",
          ("fingerprint", "options", "runs", "current", "rng", "n_estep", "seconds"))
    prints = _dict(meta["fingerprint"], "'fingerprint'", ("network", "data"))
    if not all(isinstance(prints[k], str) for k in ("network", "data")):
        _fail("'fingerprint' holds no text")
    _dict(meta["options"], "'options'", ())
    if not isinstance(meta["runs"], list):
        _fail(f"'runs' is a {type(meta['runs']).__name__}, expected a list")
    _int(meta["n_estep"], "'n_estep'")
    if _float(meta["seconds"], "'seconds'") < 0:
        _fail(f"'seconds' is {meta['seconds']!r}, expected >= 0")
    for k, run in enumerate(meta["runs"]):
        _dict(run, f"run {k}", ("point", "n_iter", "converged", "stopped", "last_delta",
                                "rows"))
        _int(run["n_iter"], f"run {k}'s 'n_iter'")
        _point(run["point"], f"run {k}")
        _rows(run["rows"], f"run {k}")
    current = meta["current"]
    if current is None:
        if not meta["runs"]:
            _fail("it holds neither a finished restart nor one in progress")
        return
    _dict(current, "'current'", ("restart", "iteration", "prev", "rows", "point"))
    _int(current["restart"], "'current.restart'", len(meta["runs"]), len(meta["runs"]))
    if current["restart"] >= n_init:
        _fail(f"the restart in progress is number {current['restart']}, but this fit has "
              f"n_init={n_init}")
    _int(current["iteration"], "'current.iteration'")
    _float(current["prev"], "'current.prev'", finite=False)
    _point(current["point"], "the restart in progress")
    _rows(current["rows"], "the restart in progress")
    if len(current["rows"]) != current["iteration"] + 1:
        _fail(f"the restart in progress is at iteration {current['iteration']} but its "
              f"history has {len(current['rows'])} rows")
    state = current.get("step_state", {})
    if not isinstance(state, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 1 for v in state.values()):
        _fail(f"'current.step_state' is {state!r}, expected names and numbers >= 1")


def _point(point: Any, where: str) -> None:
    _dict(point, f"{where}'s point", ("key", "objective", "ll", "classification", "weight",
                                      "step", "notes"))
    if not isinstance(point["key"], str):
        _fail(f"{where}'s array key is {point['key']!r}")
    _float(point["objective"], f"{where}'s objective", finite=False)
    _float(point["ll"], f"{where}'s log-likelihood", finite=False)
    if point["classification"] is not None:
        _float(point["classification"], f"{where}'s classification objective", finite=False)
    _float(point["weight"], f"{where}'s row weight")
    if point["step"] not in STEPS:
        _fail(f"{where}'s step is {point['step']!r}, expected one of {list(STEPS)}")
    notes = point["notes"]
    if not (isinstance(notes, list) and len(notes) == 3 and all(
            isinstance(n, list) and all(isinstance(x, list) and len(x) == 2 for x in n)
            for n in notes)):
        _fail(f"{where}'s notes are not three lists of (node, configuration) pairs")


def _rows(rows: Any, where: str) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 7
                                             for r in rows):
        _fail(f"{where}'s history is not a list of 7-field rows")


def check_arrays(arrays: dict, key: str, network: BayesianNetwork) -> None:
    """The saved parameters and counts of point ``key`` fit ``network``: shapes, tables
    that are distributions, finite coefficients, positive variances."""
    theta = arrays.get(f"{key}.theta")
    size = int(network.offsets[-1])
    if not isinstance(theta, np.ndarray) or theta.shape != (size,) or \
            theta.dtype.kind != "f":
        _fail(f"the tables of {key!r} are missing or not {size} numbers")
    if not (np.isfinite(theta).all() and (theta >= 0).all()):
        _fail(f"the tables of {key!r} hold negative or non-finite probabilities")
    for i, node in enumerate(network.discrete_nodes):
        block = theta[network.offsets[i]:network.offsets[i + 1]].reshape(
            -1, network.table_shapes[i][-1])
        if np.abs(block.sum(axis=1) - 1).max(initial=0.0) > NORMALISED:
            _fail(f"the table of {node!r} in {key!r} does not sum to 1 in every "
                  "configuration")
    counts = arrays.get(f"{key}.counts")
    if not isinstance(counts, np.ndarray) or counts.shape != (size,) or \
            counts.dtype.kind != "f" or not np.isfinite(counts).all() or (counts < 0).any():
        _fail(f"the expected counts of {key!r} are missing, of the wrong shape, or not "
              "finite and >= 0")
    for j, (node, cpd) in enumerate(network.gaussian_cpds.items()):
        shapes = {"b0": cpd.intercept.shape, "w": cpd.weights.shape, "var": cpd.variance.shape}
        for part, shape in shapes.items():
            a = arrays.get(f"{key}.g{j}.{part}")
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype.kind != "f" \
                    or not np.isfinite(a).all() or (part == "var" and not (a > 0).all()):
                _fail(f"the Gaussian CPD of {node!r} in {key!r} is missing, of the wrong "
                      "shape, or not finite (variances > 0)")


def check_rng(state: Any) -> None:
    """The saved random state: one of numpy's bit generators, in a state it accepts."""
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        name = state.get("bit_generator") if isinstance(state, dict) else state
        _fail(f"the random state names {name!r}, expected one of numpy's bit generators "
              f"{list(BIT_GENERATORS)}")
    bits = getattr(np.random, state["bit_generator"])()
    try:
        bits.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        _fail(f"the random state is not a state of {state['bit_generator']} ({exc})")
