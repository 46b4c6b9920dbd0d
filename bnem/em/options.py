"""The options of ``bnem.fit``, declared once (em layer).

:data:`OPTIONS` is the single table of every option: its type, default, bounds,
choices and help text. :func:`validate` checks a call's keyword arguments against it
and returns a frozen :class:`FitOptions`; the command line builds its ``fit`` flags
from the same table (:func:`bnem.cli.main`), so the two never disagree.

>>> opts = validate({"max_iter": 50, "tol": 1e-5}, hybrid=False)
>>> opts.max_iter, opts.tol, opts.init
(50, 1e-05, 'random')
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_choice, check_float, check_int, check_seed, node_names
from ..errors import BnemTypeError, BnemValueError
from ..inference.budget import DEFAULT_MEMORY_MB
from .gaussian_init import MIXTURE_INITS
from .init import INITS

DEFAULT_MIN_VARIANCE = 1e-6
STOCHASTIC_INITS = ("random",) + MIXTURE_INITS


@dataclass(frozen=True)
class Option:
    """One option of ``fit``: how to check it and how the command line offers it."""

    name: str
    kind: str  # "int", "float", "choice", "bool", "seed", "callable", "path", "folder",
    #            "weights", "object", "nodes"
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    cli: bool = True          # offered as a ``bnem fit`` flag
    resumable: bool = False   # may differ between a run and its resumption from a
                              # checkpoint (it does not change the result)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS: tuple[Option, ...] = (
    Option("max_iter", "int", 200, "most iterations (an EM step each; a SQUAREM step costs "
           "three E-steps, rarely four)", minimum=0, resumable=True),
    Option("tol", "float", 1e-6, "stop when the objective rises by less than this many nats "
           "per row", minimum=0.0),
    Option("seed", "seed", 0, "seed of the random starts (the same seed gives the same result)"),
    Option("init", "choice", None, "start (default: random for a discrete network, k-means++ "
           "for a hybrid one)", choices=INITS + MIXTURE_INITS),
    Option("n_init", "int", 1, "random restarts; the best final objective is kept", minimum=1),
    Option("prior", "float", 0.0, "Dirichlet pseudo-count added to every expected count "
           "(MAP-EM)", minimum=0.0, maximum=1e12),
    Option("min_variance", "float", DEFAULT_MIN_VARIANCE, "floor of the Gaussian nodes' "
           "variances (0 disables it)", minimum=0.0),
    Option("variance_prior", "float", 0.0, "pseudo-observations of variance_scale in every "
           "Gaussian conditional variance (MAP-EM with a scaled inverse-chi-squared prior; "
           "0: maximum likelihood)", minimum=0.0, maximum=1e12),
    Option("variance_scale", "float", 0.0, "the variance the prior's pseudo-observations "
           "have (needed with variance_prior > 0)", minimum=0.0, maximum=1e300),
    Option("weight_prior", "float", 0.0, "precision of a normal prior on the Gaussian nodes' "
           "weights on their continuous parents, N(0, variance / weight_prior) (ridge "
           "regression in the M-step; 0: none)", minimum=0.0, maximum=1e12),
    Option("hard", "bool", False, "classification EM: each row counts wholly for its most "
           "probable completion", cli=False),
    Option("accelerate", "choice", "auto", "accelerate EM: 'squarem' extrapolates along two "
           "EM steps and keeps the result only if the objective does not drop; 'auto' "
           "(default) is 'squarem' for soft EM and 'none' for hard EM",
           choices=("auto", "none", "squarem")),
    Option("method", "choice", "batch", "'batch': EM over all rows at every iteration; "
           "'online': stepwise EM over mini-batches of batch_rows rows, an M-step after each, "
           "for max_passes passes; 'online-then-batch': online passes, then batch EM from "
           "there to convergence", choices=("batch", "online", "online-then-batch")),
    Option("batch_rows", "int", 10_000, "rows per mini-batch of online EM", minimum=1),
    Option("max_passes", "int", 2, "passes of online EM over the data", minimum=1),
    Option("step", "step", (0.7, 2.0), "online EM's step at batch t (t = 0, 1, ...): "
           "(alpha, t0) for min(1, (t + t0) ** -alpha), alpha in (0.5, 1]; or a constant "
           "step in (0, 1]; or a function of t (command line: ALPHA,T0 or one number)"),
    Option("fixed", "nodes", (), "nodes whose CPDs are kept as given while EM learns the "
           "rest (comma-separated on the command line)"),
    Option("noisy_or", "nodes", (), "two-state nodes learned as noisy-ORs of their parents "
           "(a link probability per present parent state, and a leak; absent states by "
           "name: 'no', 'false', 'absent', ..., else the first; comma-separated on the "
           "command line)"),
    Option("poisson", "nodes", (), "count nodes (states '0' .. 'M' and one for more) learned "
           "as Poisson: one rate per parent configuration (comma-separated on the command "
           "line)"),
    Option("sample_weight", "weights", None, "a weight per row (e.g. the frequency of a "
           "response pattern), or the name of a data column holding them", cli=False),
    Option("sum_out_barren", "bool", False, "sum out, row by row, the missing variables all of "
           "whose descendants are missing too (exact: the same likelihood and fixed points, "
           "fewer iterations); discrete networks, soft EM", cli=False),
    Option("max_time", "float", None, "seconds after which the fit stops cleanly (checked "
           "after every iteration; restarts not begun are skipped)", minimum=0.0,
           resumable=True),
    Option("history_path", "path", None, "write the history here as it grows, one flushed "
           "CSV line per iteration", cli=False, resumable=True),
    Option("checkpoint", "path", None, "save the fit's state to this file after iterations "
           "(see checkpoint_every), to resume it after a crash", resumable=True),
    Option("checkpoint_every", "float", 0.0, "seconds between checkpoints (0: after every "
           "iteration)", minimum=0.0, resumable=True),
    Option("resume", "path", None, "continue the fit saved in this checkpoint file (same "
           "network, data and options; max_iter may grow)", resumable=True),
    Option("memory_mb", "float", DEFAULT_MEMORY_MB, "memory for the analysed data kept between "
           "iterations (and, at most half of it, for one chunk's work); beyond it chunks are "
           "analysed again every iteration", minimum=0.0, resumable=True),
    Option("spill_dir", "folder", None, "folder for the encoded rows of data files (a "
           "temporary folder is made inside it and removed after the fit; default: the "
           "system's temporary folder)", resumable=True),
    Option("client", "object", None, "a dask.distributed Client to run the E-steps on "
           "(default for a Dask DataFrame: the active client)", cli=False),
    Option("progress", "bool", False, "one-line progress display on standard error",
           resumable=True),
    Option("callback", "callable", None, "called with a Progress after every E-step; "
           "returning True stops", cli=False, resumable=True),
)
DEPRECATED = {"cache_mb": "memory_mb"}


@dataclass(frozen=True)
class FitOptions:
    """The validated options of one fit (see :data:`OPTIONS`)."""

    max_iter: int
    tol: float
    seed: Any
    init: str
    n_init: int
    prior: float
    min_variance: float
    variance_prior: float
    variance_scale: float
    weight_prior: float
    hard: bool
    accelerate: str
    sample_weight: Any
    sum_out_barren: bool
    max_time: float | None
    history_path: str | None
    checkpoint: str | None
    checkpoint_every: float
    resume: str | None
    memory_mb: float
    spill_dir: str | None
    client: Any
    progress: bool
    callback: Callable[..., Any] | None
    fixed: tuple = ()
    noisy_or: tuple = ()
    poisson: tuple = ()
    method: str = "batch"
    batch_rows: int = 10_000
    max_passes: int = 2
    step: Any = (0.7, 2.0)
    chunk_rows: int | None = None   # deprecated: distinct rows per chunk

    def rng(self) -> np.random.Generator:
        """A fresh generator from ``seed``."""
        return check_seed(self.seed)


def _check(option: Option, value: Any) -> Any:
    name = option.name
    if option.kind == "int":
        return check_int(value, name, minimum=None if option.minimum is None
                         else int(option.minimum))
    if option.kind == "float":
        if value is None and option.default is None:
            return None
        return check_float(value, name, minimum=option.minimum, maximum=option.maximum)
    if option.kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise BnemTypeError(f"{name} must be True or False, got {value!r}")
        return bool(value)
    if option.kind == "callable":
        if value is not None and not callable(value):
            raise BnemTypeError(f"{name} must be callable, got {type(value).__name__}")
        return value
    if option.kind == "path":
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise BnemTypeError(f"{name} must be a file path, got {type(value).__name__}")
        return None if value is None else os.fspath(value)
    if option.kind == "folder":
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise BnemTypeError(f"{name} must be a folder path, got {type(value).__name__}")
        if not os.path.isdir(value):
            raise BnemValueError(f"{name}={os.fspath(value)!r} is not an existing folder")
        return os.fspath(value)
    if option.kind == "nodes":
        return node_names(value, name, none=True)
    if option.kind in ("weights", "object"):
        return value  # weights: checked row by row when the data are encoded
    if option.kind == "step":
        return check_step(value)
    if option.kind == "seed":
        check_seed(value)
        return value
    return value if value is None else check_choice(value, name, option.choices)


def validate(given: Mapping[str, Any], hybrid: bool) -> FitOptions:
    """Check keyword arguments against :data:`OPTIONS`; fill defaults.

    ``cache_mb`` is accepted as the deprecated name of ``memory_mb`` and ``chunk_rows``
    as a deprecated bound on the rows per chunk (both with a ``DeprecationWarning``).

    Raises
    ------
    BnemTypeError, BnemValueError
        Naming the option, what was expected and what was received.
    """
    given = dict(given)
    for old, new in DEPRECATED.items():
        if old in given and new in given:
            raise BnemTypeError(f"{old} is the deprecated name of {new}; give {new} only "
                                f"(got {old}={given[old]!r} and {new}={given[new]!r})")
        if old in given:
            warnings.warn(f"{old} is deprecated; use {new} (one memory budget)",
                          DeprecationWarning, stacklevel=3)
            given[new] = given.pop(old)
    chunk_rows = given.pop("chunk_rows", None)
    if chunk_rows is not None:
        warnings.warn("chunk_rows is deprecated; memory_mb sizes the chunks",
                      DeprecationWarning, stacklevel=3)
        chunk_rows = check_int(chunk_rows, "chunk_rows", minimum=1)
    if given.get("init") == "kmeans":  # scikit-learn's name (init_params) for the same start
        given["init"] = "k-means++"
    known = {o.name: o for o in OPTIONS}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise BnemTypeError(f"fit() got unknown option(s) {unknown}; options are "
                            f"{sorted(known)}")
    values = {o.name: _check(o, given.get(o.name, o.default)) for o in OPTIONS}
    values["init"] = _check_init(values["init"], values["n_init"], hybrid)
    if values["variance_prior"] > 0 and not values["variance_scale"] > 0:
        raise BnemValueError(f"variance_prior={values['variance_prior']!r} needs "
                             "variance_scale > 0: the variance its pseudo-observations have "
                             "(e.g. a plausible within-component variance of the data)")
    _check_paths(values)
    if values["accelerate"] == "auto":  # never slower in bench_accelerate.py: the default
        values["accelerate"] = "none" if values["hard"] else "squarem"
    if values["hard"] and values["accelerate"] != "none":
        raise BnemValueError(f"accelerate={values['accelerate']!r} needs soft EM: hard=True "
                             "moves by whole completions, which cannot be extrapolated; use "
                             "accelerate='none' with hard=True")
    return FitOptions(**values, chunk_rows=chunk_rows)


def check_step(step: Any) -> Any:
    """Online EM's step: ``(alpha, t0)`` with ``0 < alpha <= 1`` and ``t0 >= 0``, a
    constant in ``(0, 1]``, or a callable (its values are checked as they come)."""
    if callable(step):
        return step
    if isinstance(step, (tuple, list)) and len(step) == 2:
        alpha = check_float(step[0], "step's alpha", minimum=0.0, maximum=1.0)
        t0 = check_float(step[1], "step's t0", minimum=0.0)
        if alpha == 0.0:
            raise BnemValueError("step=(alpha, t0) needs alpha > 0 (alpha = 0 is a constant "
                                 "step of 1: each batch replaces the statistics)")
        return (alpha, t0)
    if isinstance(step, (int, float, np.integer, np.floating)) and not isinstance(step, bool):
        value = check_float(step, "step", minimum=0.0, maximum=1.0)
        if value == 0.0:
            raise BnemValueError("step=0 never moves the statistics; expected a step in (0, 1]")
        return value
    raise BnemTypeError(f"step must be (alpha, t0), a number in (0, 1] or a function of the "
                        f"batch number; got {step!r}")


def _check_paths(values: dict) -> None:
    """Files the fit writes must be writable and distinct; a resume file must exist."""
    real = {k: os.path.realpath(values[k]) for k in ("checkpoint", "resume", "history_path")
            if values[k] is not None}
    for key in ("checkpoint", "history_path"):
        if key in real:
            folder = os.path.dirname(real[key])
            if os.path.isdir(real[key]) or not os.path.isdir(folder):
                raise BnemValueError(f"{key}={values[key]!r}: expected a file in an existing "
                                     "folder" + (", got a directory" if os.path.isdir(real[key])
                                                 else f"; folder {folder!r} does not exist"))
    if "resume" in real and not os.path.isfile(real["resume"]):
        raise BnemValueError(f"resume={values['resume']!r}: checkpoint file does not exist")
    if "history_path" in real and real["history_path"] in (real.get("checkpoint"),
                                                            real.get("resume")):
        raise BnemValueError("history_path names the checkpoint file; the trace would "
                             "overwrite it")


def _check_init(init: str | None, n_init: int, hybrid: bool) -> str:
    if init is None:
        init = "k-means++" if hybrid else "random"
    if init in MIXTURE_INITS and init != "random-resp" and not hybrid:
        raise BnemValueError(
            f"init={init!r} places Gaussian components; this network has no continuous "
            f"nodes. Use one of {', '.join(map(repr, INITS + ('random-resp',)))}.")
    if n_init > 1 and init not in STOCHASTIC_INITS:
        raise BnemValueError(
            f"n_init={n_init} restarts need a random start ({', '.join(map(repr, STOCHASTIC_INITS))}); "
            f"init={init!r} gives the same start every time")
    return init

