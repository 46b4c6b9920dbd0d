"""Shared helpers for the EM benchmarks: one thread, networks, data, and the peers.

Import this module before numpy, pandas, bnem or any peer: it pins BLAS/OpenMP pools
to one thread through the environment, which only works before those libraries load.

Every tool gets the same work: the same BIF file of starting CPDs (written by
``bnem.write_bif``), the same rows (a CSV with ``?`` for missing cells for pyAgrum, the
DataFrame itself for bnem and pgmpy), the same Dirichlet pseudo-count, and its returned
parameters are scored with bnem's exact observed-data log-likelihood.
"""

from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
for _var in THREAD_VARIABLES:
    os.environ[_var] = "1"

import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import bnem  # noqa: E402

NETWORKS = Path(__file__).resolve().parent.parent / "networks"
PYAGRUM_MISSING = "?"


# -- networks and data ---------------------------------------------------------------
def load_network(name: str) -> bnem.BayesianNetwork:
    """A bundled network by name (``alarm``) or a path to a BIF file."""
    path = Path(name)
    if not path.exists():
        path = NETWORKS / f"{name}.bif"
    return bnem.read_bif(path)


_SAFE_STATE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPLACEMENTS = (("<=", "le"), (">=", "ge"), ("<", "lt"), (">", "gt"), ("=", "eq"),
                 ("+", "plus"), ("/", "_"), ("-", "_"), (".", "_"), (" ", "_"))


def _safe_name(state: str) -> str:
    out = state
    for old, new in _REPLACEMENTS:
        out = out.replace(old, new)
    out = re.sub(r"[^A-Za-z0-9_]", "_", out).strip("_") or "s"
    return out if out[0].isalpha() or out[0] == "_" else "s" + out


def sanitise(net: bnem.BayesianNetwork):
    """A copy of ``net`` whose state names are plain identifiers, and the renaming.

    pyAgrum's BIF parser rejects names such as ``<5``, ``12+``, ``Asy/Patch`` or
    ``Transp.`` (all in child). Only states that need it are renamed; the CPDs are
    unchanged. Returns ``(network, {node: {old: new}})`` with only renamed nodes listed.
    """
    variables, mapping = {}, {}
    for node in net.nodes:
        states = [str(s) for s in net.states(node)]
        new, used = [], set()
        for s in states:
            t = s if _SAFE_STATE.match(s) else _safe_name(s)
            base, k = t, 1
            while t in used:
                k += 1
                t = f"{base}_{k}"
            used.add(t)
            new.append(t)
        variables[node] = new
        if new != states:
            mapping[node] = dict(zip(states, new))
    parents = {node: list(net.parents(node)) for node in net.nodes}
    cpds = {node: net.cpd(node).values for node in net.nodes}
    return bnem.BayesianNetwork(variables, parents, cpds, name=net.name), mapping


def rename_data(df: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    """Apply a :func:`sanitise` renaming to the categorical columns of ``df``."""
    out = df.copy()
    for node, renames in mapping.items():
        if node in out.columns:
            out[node] = out[node].cat.rename_categories(renames)
    return out


def write_pyagrum_csv(df: pd.DataFrame, net: bnem.BayesianNetwork, path) -> None:
    """CSV for pyAgrum: ``?`` for missing cells; a latent node becomes an all-``?`` column
    (pyAgrum requires a column for every node of the network)."""
    out = df.astype(object)
    for node in net.nodes:
        if node not in out.columns:
            out[node] = np.nan
    out[list(net.nodes)].to_csv(path, index=False, na_rep=PYAGRUM_MISSING)


def random_start(net: bnem.BayesianNetwork, df: pd.DataFrame, seed: int) -> bnem.BayesianNetwork:
    """bnem's seeded random start (flat-Dirichlet CPDs): a fit with zero M-steps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(net, df, max_iter=0, init="random", seed=seed).network


def ll_per_row(net: bnem.BayesianNetwork, df: pd.DataFrame) -> float:
    """bnem's exact observed-data log-likelihood, nats per row."""
    return net.log_likelihood(df) / len(df)


# -- bnem --------------------------------------------------------------------------
def bnem_timing(start, df, n_iter: int, prior: float, repeat: int = 3) -> dict:
    """Fixed-iteration fits from ``start`` (``tol=0``); medians over ``repeat`` runs.

    ``per_iter`` is the mean step of ``history.seconds`` after iteration 0, i.e.
    ``(seconds[n] - seconds[0]) / n``; ``compile`` is ``seconds[0]``: compiling the
    data and plan plus the first E-step (the evaluation of the start).
    """
    per_iter, compile_, total, histories = [], [], [], []
    for _ in range(repeat):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            res = bnem.fit(start, df, max_iter=n_iter, tol=0.0, init="network", prior=prior,
                           accelerate="none")
            total.append(time.perf_counter() - t0)
        sec = res.history["seconds"].to_numpy()
        per_iter.append((sec[-1] - sec[0]) / (len(sec) - 1))
        compile_.append(sec[0])
        histories.append(res.history)
    return {"per_iter": float(np.median(per_iter)), "compile": float(np.median(compile_)),
            "total": float(np.median(total)), "history": histories[-1],
            "n_iter": int(histories[-1]["iteration"].iloc[-1])}


def bnem_converge(start, df, tol: float, max_iter: int, prior: float) -> dict:
    """A tolerance run from ``start``: stop when the objective gains < ``tol`` nats/row."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        res = bnem.fit(start, df, max_iter=max_iter, tol=tol, init="network", prior=prior,
                       accelerate="none")
        seconds = time.perf_counter() - t0
    return {"network": res.network, "n_iter": res.n_iter, "converged": res.converged,
            "seconds": seconds, "ll": ll_per_row(res.network, df),
            "warnings": sorted({type(w.message).__name__ for w in caught})}


# -- pyAgrum -------------------------------------------------------------------------
def import_pyagrum():
    import pyagrum as gum
    gum.setNumberOfThreads(1)
    return gum


def pyagrum_em(start_bif, csv, max_iter: int, prior: float, eps: float = 0.0,
               max_seconds: float | None = None) -> dict:
    """pyAgrum's BNLearner EM from the CPDs in ``start_bif`` (no start noise).

    ``eps == 0``: exactly ``max_iter`` iterations (diff criterion disabled, rate
    criterion off). ``eps > 0``: its diff criterion on its own (expected complete-data)
    log-likelihood, plus ``max_iter`` and optionally ``max_seconds``. ``seconds`` times
    ``learnParameters`` only (the CSV is read by the BNLearner constructor).
    """
    gum = import_pyagrum()
    bn = gum.loadBN(str(start_bif))
    learner = gum.BNLearner(str(csv), bn, [PYAGRUM_MISSING])
    learner.setNumberOfThreads(1)
    if prior > 0:
        learner.useSmoothingPrior(prior)
    learner.useEMWithDiffCriterion(eps if eps > 0 else 1e-300, 0.0)
    if eps <= 0:
        learner.EMdisableEpsilon()
    learner.EMdisableMinEpsilonRate()
    learner.EMsetMaxIter(max_iter)
    if max_seconds:
        learner.EMsetMaxTime(max_seconds)
    t0 = time.perf_counter()
    learned = learner.learnParameters(bn)
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "learned.bif"
        gum.saveBN(learned, str(out))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float32 tables: renormalisation warnings
            network = bnem.read_bif(out)
    return {"seconds": seconds, "n_iter": learner.EMnbrIterations(),
            "message": learner.EMStateMessage(), "network": network}


# -- pgmpy ---------------------------------------------------------------------------
def pgmpy_em(start, df, max_iter: int, prior: float) -> dict:
    """pgmpy 1.1's ``DiscreteEM`` from ``start``'s CPDs (all nodes are given as
    ``init_cpds``, so every CPD is re-estimated each iteration), ``atol=0``, one job,
    M-step = Dirichlet MAP with the same pseudo-count. Latent nodes = nodes absent
    from ``df``. Rows with a missing cell would be dropped by pgmpy."""
    logging.getLogger("pgmpy").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgmpy.parameter_estimator import DiscreteBayesianEstimator, DiscreteEM, DiscreteMLE
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork
        latent = [n for n in start.nodes if n not in df.columns]
        # pgmpy fills a latent column with the integer codes 0..card-1, so the latent
        # nodes' state names must be those integers (in bnem's state order).
        names = {n: (list(range(len(start.states(n)))) if n in latent else list(start.states(n)))
                 for n in start.nodes}
        init = {}
        for node in start.nodes:
            cpd = start.cpd(node)
            parents = list(cpd.parents)
            init[node] = TabularCPD(node, cpd.card, cpd.values.reshape(-1, cpd.card).T,
                                    evidence=parents or None,
                                    evidence_card=[len(names[p]) for p in parents] or None,
                                    state_names={v: names[v] for v in [node] + parents})
        structure = DiscreteBayesianNetwork(start.edges, latents=set(latent))
        structure.add_nodes_from(start.nodes)
        m_step = (DiscreteBayesianEstimator(prior_type="dirichlet", pseudo_counts=prior)
                  if prior > 0 else DiscreteMLE())
        estimator = DiscreteEM(state_names=names,
                               latent_card={n: len(start.states(n)) for n in latent},
                               m_step_estimator=m_step, max_iter=max_iter, atol=0.0,
                               n_jobs=1, init_cpds=init, show_progress=False)
        t0 = time.perf_counter()
        estimator.fit(structure, df)
        seconds = time.perf_counter() - t0
        learned = structure.copy()
        learned.add_cpds(*estimator.parameters_)
        network = bnem.from_pgmpy(learned)
    return {"seconds": seconds, "network": network}


def pgmpy_dropped_rows(df: pd.DataFrame) -> int:
    """Rows pgmpy's EM would drop: it calls ``data.dropna()`` after removing all-NaN
    columns (``pgmpy/parameter_estimator/discrete_em.py``)."""
    data = df.dropna(axis=1, how="all")
    return int(len(data) - len(data.dropna()))


# -- reporting -----------------------------------------------------------------------
def marginal(t_1: float, t_k: float, k: int) -> float:
    """Seconds per iteration as the marginal cost between runs of ``k`` and 1 iterations."""
    return (t_k - t_1) / (k - 1)


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A Markdown table; ``columns`` = [(key, header)]; missing values shown as ``-``."""
    cells = [[h for _, h in columns]]
    for row in rows:
        cells.append([_fmt(row.get(k)) for k, _ in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
