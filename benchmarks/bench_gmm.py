"""Seconds per EM iteration of a Gaussian mixture, single thread: bnem vs scikit-learn.

Cases: ``full``, ``diag``, ``tied`` and ``spherical`` covariances (scikit-learn's four
types; bnem's tied and spherical mixtures are the full and diagonal ones with tied
covariances or a shared variance), 5 components, 8 dimensions, 100,000 rows
(``--components``, ``--dims``, ``--rows``). The rows are drawn from 5 overlapping
Gaussian clusters, so that EM is still moving after ``--iters`` iterations.

Same work for both tools, in the same run:

* **Start**: the same weights, means (rows picked at random) and covariances (the
  data's covariance, or variances for ``diag``, scaled per component); bnem gets them
  through ``bnem.gaussian_mixture(..., weights, means, covariances)`` and
  ``init="network"``, scikit-learn as ``weights_init``, ``means_init`` and
  ``precisions_init`` (inverse covariances; inverse variances for ``diag``), which
  skips its k-means initialisation.
* **No regularisation, fixed iterations**: bnem ``min_variance=0, tol=0``;
  scikit-learn ``reg_covar=0, tol=0, n_init=1``; both ``max_iter=k``.
* **One thread**: ``OMP_NUM_THREADS`` etc. = 1 before numpy loads (``common.py``); the
  BLAS pools found by threadpoolctl are printed.

Timing, the same for both tools: the wall time of the whole ``fit`` call for
``max_iter=1`` and ``max_iter=k``; seconds per iteration = the marginal cost
``(t_k - t_1) / (k - 1)`` (one E-step plus one M-step), median over ``--repeat`` pairs
of runs, the two tools alternating. The one-time cost ``t_1 - per_iter`` is reported
separately: for bnem, encoding the DataFrame and compiling the inference plan plus the
E-step that scores the start; for scikit-learn, input validation, setting the start
and the final E-step it runs after its loop. bnem's own ``history.seconds`` gives a
second per-iteration figure, ``(seconds[k] - seconds[0]) / k``.

Quality: both tools' parameters after ``k`` iterations are scored with one function,
bnem's exact ``log_likelihood`` (scikit-learn's parameters are turned into a bnem
mixture), and cross-checked with scikit-learn's ``score(X) * n`` on both. Also
reported: the largest relative difference of the per-iteration log-likelihoods (bnem's
history against scikit-learn's ``lower_bounds_ * n``) and of the parameters.

Usage::

    python benchmarks/bench_gmm.py                    # all four types, 100,000 rows (~2 min)
    python benchmarks/bench_gmm.py --rows 20000 --repeat 3 --iters 10
"""

from __future__ import annotations

import common  # noqa: F401,I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import json
import os
import platform
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import bnem

from common import fmt_seconds, format_table, log, marginal

CASES = ("full", "diag", "tied", "spherical")
CLOCK = time.perf_counter  # --cpu: time.process_time (CPU seconds, steadier under load)


# -- the same data and the same start for both tools ---------------------------------
def make_data(rows: int, k: int, d: int, seed: int) -> np.ndarray:
    """``rows`` points from ``k`` overlapping Gaussian clusters in ``d`` dimensions."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 1.5
    sizes = rng.multinomial(rows, rng.dirichlet(np.full(k, 5.0)))
    parts = []
    for c in range(k):
        a = rng.normal(size=(d, d)) * 0.4
        parts.append(rng.multivariate_normal(means[c], a @ a.T + 0.5 * np.eye(d), size=sizes[c]))
    x = np.concatenate(parts)
    return np.ascontiguousarray(x[rng.permutation(rows)])


def make_start(x: np.ndarray, k: int, covariance: str, seed: int) -> dict:
    """Weights, means, covariances (``(k, d, d)`` or ``(k, d)`` variances), precisions."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    weights = rng.dirichlet(np.full(k, 5.0))
    means = x[rng.choice(len(x), k, replace=False)]
    if covariance == "full":
        covs = np.array([np.cov(x.T) * rng.uniform(0.5, 1.5) for _ in range(k)])
        precisions = np.linalg.inv(covs)
    elif covariance == "tied":
        covs = np.cov(x.T) * rng.uniform(0.5, 1.5)
        precisions = np.linalg.inv(covs)
    elif covariance == "spherical":
        covs = x.var(axis=0).mean() * rng.uniform(0.5, 1.5, k)
        precisions = 1.0 / covs
    else:
        covs = np.array([x.var(axis=0) * rng.uniform(0.5, 1.5, d) for _ in range(k)])
        precisions = 1.0 / covs
    return {"weights": weights, "means": means, "covariances": covs, "precisions": precisions}


def columns(d: int) -> list[str]:
    return [f"x{j}" for j in range(d)]


# -- the two tools ---------------------------------------------------------------------
def run_bnem(start: dict, covariance: str, df: pd.DataFrame, iters: int):
    gm = bnem.gaussian_mixture(list(df.columns), len(start["weights"]), covariance,
                               weights=start["weights"], means=start["means"],
                               covariances=start["covariances"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        t0 = CLOCK()
        res = bnem.fit(gm, df, init="network", max_iter=iters, tol=0, min_variance=0,
                       accelerate="none")
        seconds = CLOCK() - t0
    if res.n_iter != iters:
        raise RuntimeError(f"bnem stopped after {res.n_iter} of {iters} iterations")
    return res, seconds


def run_sklearn(start: dict, covariance: str, x: np.ndarray, iters: int):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    sk = GaussianMixture(len(start["weights"]), covariance_type=covariance,
                         weights_init=start["weights"], means_init=start["means"],
                         precisions_init=start["precisions"], reg_covar=0.0, tol=0.0,
                         max_iter=iters, n_init=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = CLOCK()
        sk.fit(x)
        seconds = CLOCK() - t0
    if sk.n_iter_ != iters:
        raise RuntimeError(f"scikit-learn stopped after {sk.n_iter_} of {iters} iterations")
    return sk, seconds


def sklearn_parameters(sk, d: int):
    """``(weights, means, covariances (K, d, d))`` of a fitted GaussianMixture."""
    k = len(sk.weights_)
    covs = {"full": lambda c: c,
            "tied": lambda c: np.broadcast_to(c, (k, d, d)).copy(),
            "diag": lambda c: np.einsum("kd,de->kde", c, np.eye(d)),
            "spherical": lambda c: np.einsum("k,de->kde", c, np.eye(d))}[
        sk.covariance_type](sk.covariances_)
    return sk.weights_, sk.means_, covs


def as_bnem_network(weights, means, covs, covariance: str, cols):
    cov_arg = {"full": covs, "tied": covs[0], "spherical": covs[:, 0, 0],
               "diag": np.diagonal(covs, axis1=1, axis2=2)}[covariance]
    return bnem.gaussian_mixture(cols, len(weights), covariance, weights=weights, means=means,
                                 covariances=cov_arg)


def sklearn_score(template, weights, means, covs, x: np.ndarray) -> float:
    """scikit-learn's total log-likelihood ``score(X) * n`` of the given parameters."""
    from scipy.linalg import solve_triangular
    from sklearn.base import clone

    sk = clone(template)
    d = means.shape[1]
    sk.weights_, sk.means_ = np.asarray(weights), np.asarray(means)
    if sk.covariance_type == "full":
        sk.covariances_ = covs
        sk.precisions_cholesky_ = np.array([
            solve_triangular(np.linalg.cholesky(c), np.eye(d), lower=True).T for c in covs])
    elif sk.covariance_type == "tied":
        sk.covariances_ = covs[0]
        sk.precisions_cholesky_ = solve_triangular(np.linalg.cholesky(covs[0]), np.eye(d),
                                                   lower=True).T
    elif sk.covariance_type == "spherical":
        var = covs[:, 0, 0].copy()
        sk.covariances_, sk.precisions_cholesky_ = var, 1.0 / np.sqrt(var)
    else:
        var = np.diagonal(covs, axis1=1, axis2=2).copy()
        sk.covariances_, sk.precisions_cholesky_ = var, 1.0 / np.sqrt(var)
    return float(sk.score(x) * len(x))


def rel_diff(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def elementwise_rel_diff(a, b) -> float:
    """Largest ``|a - b| / |b|`` over the entries where ``b != 0`` (diag: the diagonal)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    nz = b != 0
    return float(np.max(np.abs(a[nz] - b[nz]) / np.abs(b[nz])))


# -- one case --------------------------------------------------------------------------
def run_case(covariance: str, x: np.ndarray, args) -> dict:
    n, d = x.shape
    cols = columns(d)
    df = pd.DataFrame(x, columns=cols)
    start = make_start(x, args.components, covariance, args.seed + 1)
    k = args.iters
    log(f"\n== {covariance}: {args.components} components, {d} dimensions, {n} rows, "
        f"{k} iterations, {args.repeat} repeats")
    times = {"bnem_1": [], "bnem_k": [], "sk_1": [], "sk_k": [], "bnem_hist": []}
    for r in range(args.repeat):
        order = ("bnem", "sk") if r % 2 == 0 else ("sk", "bnem")
        for tool in order:
            for iters in (1, k):
                if tool == "bnem":
                    res, t = run_bnem(start, covariance, df, iters)
                    if iters == k:
                        sec = res.history["seconds"].to_numpy()
                        times["bnem_hist"].append((sec[k] - sec[0]) / k)
                        bnem_res = res
                else:
                    sk, t = run_sklearn(start, covariance, x, iters)
                    if iters == k:
                        sk_res = sk
                times[f"{tool}_{1 if iters == 1 else 'k'}"].append(t)
        log(f"repeat {r}: bnem {times['bnem_1'][-1]:.3f} s (1 it) {times['bnem_k'][-1]:.3f} s "
            f"({k} it); sklearn {times['sk_1'][-1]:.3f} s (1 it) "
            f"{times['sk_k'][-1]:.3f} s ({k} it)")
    per = {tool: float(np.median([marginal(t1, tk, k) for t1, tk in
                                  zip(times[f"{tool}_1"], times[f"{tool}_k"])]))
           for tool in ("bnem", "sk")}
    setup = {tool: float(np.median(times[f"{tool}_1"])) - per[tool] for tool in ("bnem", "sk")}

    # Quality after k iterations: one scorer for both parameter sets.
    p_bnem = bnem.mixture_parameters(bnem_res.network)
    p_sk = sklearn_parameters(sk_res, d)
    net_sk = as_bnem_network(*p_sk, covariance, cols)
    ll_bnem = bnem_res.network.log_likelihood(df)
    ll_sk = net_sk.log_likelihood(df)
    sk_ll_bnem = sklearn_score(sk_res, *p_bnem, x)
    sk_ll_sk = sklearn_score(sk_res, *p_sk, x)
    hist = bnem_res.history["log_likelihood"].to_numpy()[:k]
    traj = float(np.max(np.abs(hist - np.asarray(sk_res.lower_bounds_) * n) / np.abs(hist))) \
        if hasattr(sk_res, "lower_bounds_") else float("nan")
    out = {
        "case": covariance, "rows": n, "dims": d, "components": args.components, "iters": k,
        "bnem_per_iter": per["bnem"], "sk_per_iter": per["sk"],
        "bnem_per_iter_history": float(np.median(times["bnem_hist"])),
        "ratio": per["bnem"] / per["sk"],
        "bnem_setup": setup["bnem"], "sk_setup": setup["sk"],
        "ll_bnem": ll_bnem, "ll_sk": ll_sk, "ll_rel_diff": abs(ll_bnem - ll_sk) / abs(ll_sk),
        "sk_score_bnem": sk_ll_bnem, "sk_score_sk": sk_ll_sk,
        "scorers_rel_diff": max(abs(ll_bnem - sk_ll_bnem), abs(ll_sk - sk_ll_sk)) / abs(ll_sk),
        "trajectory_rel_diff": traj,
        "start_ll": hist[0],
        "param_rel_diff": {name: rel_diff(a, b) for name, a, b in
                           zip(("weights", "means", "covariances"), p_bnem, p_sk)},
        "param_elementwise_rel_diff": {name: elementwise_rel_diff(a, b) for name, a, b in
                                       zip(("weights", "means", "covariances"), p_bnem, p_sk)},
        "times": times,
    }
    log(f"bnem   : {fmt_seconds(per['bnem'])}/iteration (history: "
        f"{fmt_seconds(out['bnem_per_iter_history'])}), one-time {fmt_seconds(setup['bnem'])}")
    log(f"sklearn: {fmt_seconds(per['sk'])}/iteration, one-time {fmt_seconds(setup['sk'])}")
    log(f"log-likelihood after {k} iterations (bnem's scorer): bnem {ll_bnem:.6f}, "
        f"sklearn {ll_sk:.6f}, relative difference {out['ll_rel_diff']:.2e}")
    return out


def report(results: list[dict]) -> str:
    timing = [{
        "case": f"{r['case']}, K={r['components']}, d={r['dims']}, n={r['rows']:,}",
        "bnem s/iter": fmt_seconds(r["bnem_per_iter"]),
        "sklearn s/iter": fmt_seconds(r["sk_per_iter"]),
        "bnem/sklearn": f"{r['ratio']:.2f}",
        "bnem s/iter (history)": fmt_seconds(r["bnem_per_iter_history"]),
        "one-time bnem": fmt_seconds(r["bnem_setup"]),
        "one-time sklearn": fmt_seconds(r["sk_setup"]),
    } for r in results]
    quality = [{
        "case": r["case"], "iters": r["iters"],
        "final LL bnem": f"{r['ll_bnem']:.6f}", "final LL sklearn": f"{r['ll_sk']:.6f}",
        "rel diff": f"{r['ll_rel_diff']:.1e}",
        "per-iteration LL rel diff": f"{r['trajectory_rel_diff']:.1e}",
        "param rel diff (w, mu, cov)": ", ".join(f"{v:.1e}" for v in r["param_rel_diff"].values()),
        "elementwise": ", ".join(f"{v:.1e}" for v in r["param_elementwise_rel_diff"].values()),
        "scorers agree": f"{r['scorers_rel_diff']:.1e}",
    } for r in results]
    return "\n".join([
        "Seconds per EM iteration (one E-step + one M-step), single thread, same start",
        format_table(timing, [(c, c) for c in timing[0]]), "",
        "Both tools' parameters after the same iterations, scored with bnem's log_likelihood",
        format_table(quality, [(c, c) for c in quality[0]])])


def thread_report() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{p.get('internal_api')} {p.get('num_threads')} thread(s)"
                     for p in threadpool_info()) or "no BLAS/OpenMP pools found"


def bnem_revision() -> str:
    """The git commit bnem is imported from, and whether its ``bnem/`` has local edits."""
    root = Path(bnem.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "bnem"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return sha + (" with uncommitted changes in bnem/" if dirty else "")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated: full, diag, tied, spherical")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--dims", type=int, default=8)
    parser.add_argument("--iters", type=int, default=20,
                        help="iterations of the long runs (the short runs do 1)")
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs; median reported")
    parser.add_argument("--seed", type=int, default=0, help="data seed; the start uses seed+1")
    parser.add_argument("--cpu", action="store_true",
                        help="time in CPU seconds of this process instead of wall time")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.cpu:
        global CLOCK
        CLOCK = time.process_time
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if any(c not in CASES for c in cases):
        parser.error(f"--cases: choose from {list(CASES)}, got {cases}")
    if args.iters < 2:
        parser.error("--iters must be at least 2 (the marginal cost needs two run lengths)")
    import sklearn
    import sklearn.mixture  # loads its BLAS before the thread pools are listed

    versions = {"bnem": f"{bnem.__version__} ({bnem_revision()})",
                "scikit-learn": sklearn.__version__, "numpy": np.__version__,
                "python": platform.python_version()}
    x = make_data(args.rows, args.components, args.dims, args.seed)
    log(f"versions: {versions}; thread pools: {thread_report()}")
    t0 = time.perf_counter()
    results = [run_case(c, x, args) for c in cases]
    print()
    print(report(results))
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, {versions}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; "
          f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "args": vars(args) | {
            "json": str(args.json)}, "results": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
