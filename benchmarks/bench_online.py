"""Online (stepwise) EM against batch EM, in one run: wall time, passes over the data,
and the final log-likelihood per row.

Cases (sizes by flags; the issue's full sizes are 1,000,000 / 20,000,000 / 5,000,000):

* ``memory``: alarm, ``--rows`` rows sampled from the network, 20% of cells missing
  completely at random, a pandas DataFrame in memory.
* ``parquet``: the same kind of data, ``--parquet-rows`` rows written to Parquet files
  of 1,000,000 rows each and read from there by every method (batch EM streams the
  files under its memory budget; online EM reads them batch by batch).
* ``gmm``: a Gaussian mixture, ``--components`` components in ``--dims`` dimensions,
  ``--gmm-rows`` rows (10% missing), learned by the same four methods.

Methods, all from the same random start (``seed=0``; ``init="random"`` for alarm,
``"k-means++"`` for the mixture):

* batch EM (SQUAREM, the default) to ``tol=1e-6`` nats per row (with ``--plain``,
  also without SQUAREM: the EM whose tens of passes the hand-off was meant to save);
* stepwise EM (``method="online"``), 1 and 2 passes of ``--batch-rows`` rows per batch,
  step ``(t + 2) ** -0.7``;
* the hand-off (``method="online-then-batch"``): 2 online passes, then batch EM to the
  same ``tol``.

Passes over the data: one per batch-EM E-step (``n_estep``) plus the pass that
analyses the data; for online EM, ``max_passes``. The final log-likelihood of every
result is computed afterwards with one exact pass (``network.log_likelihood``, not
timed) and reported per row, with its gap to batch EM's. No peer is run: no other
Python tool learns Bayesian networks (or Gaussian mixtures with missing cells) online;
scikit-learn's GaussianMixture has no ``partial_fit`` and refuses NaN.

Usage: ``python benchmarks/bench_online.py [--rows N] [--parquet-rows N] [--gmm-rows N]
[--cases memory,parquet,gmm]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

import common  # noqa: F401  (one thread for numpy before it loads)
import bnem
from common import format_table, load_network, log


def _alarm(rows: int, seed: int) -> tuple[bnem.BayesianNetwork, pd.DataFrame]:
    net = load_network("alarm")
    df = net.sample(rows, seed=seed)
    rng = np.random.default_rng(seed)
    return net, df.mask(rng.random(df.shape) < 0.2)


def _mixture(rows: int, k: int, d: int, seed: int) -> tuple[bnem.BayesianNetwork, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (k, d))
    z = rng.integers(0, k, rows)
    x = centres[z] + rng.normal(0, 1, (rows, d))
    x[rng.random(x.shape) < 0.1] = np.nan
    cols = [f"x{j}" for j in range(d)]
    return bnem.gaussian_mixture(cols, k, "full", hidden="component"), pd.DataFrame(x, columns=cols)


def _methods(batch_rows: int, tol: float, plain: bool = False) -> list[tuple[str, dict]]:
    online = {"batch_rows": batch_rows, "step": (0.7, 2.0)}
    extra = [("batch EM, plain", {"tol": tol, "max_iter": 1000, "accelerate": "none"})] \
        if plain else []
    return [("batch EM", {"tol": tol, "max_iter": 1000})] + extra + [
            ("online, 1 pass", {"method": "online", "max_passes": 1, **online}),
            ("online, 2 passes", {"method": "online", "max_passes": 2, **online}),
            ("online then batch", {"method": "online-then-batch", "max_passes": 2,
                                   "tol": tol, "max_iter": 1000, **online})]


def _passes(res: bnem.FitResult, method: dict) -> int:
    if method.get("method") == "online":
        return int(method["max_passes"])
    if method.get("method") == "online-then-batch":
        batch = res.n_estep - int((res.history.phase == "online").sum())
        return int(method["max_passes"]) + batch + 1
    return res.n_estep + 1


def run_case(name: str, net: bnem.BayesianNetwork, data, score_df, n: int,
             batch_rows: int, tol: float, init: str, plain: bool = False) -> list[dict]:
    rows, best = [], None
    for label, method in _methods(batch_rows, tol, plain):
        log(f"{name}: {label}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, c = time.perf_counter(), time.process_time()
            res = bnem.fit(net, data, seed=0, init=init, **method)
            seconds, cpu = time.perf_counter() - t, time.process_time() - c
        ll = res.network.log_likelihood(score_df) / n
        if best is None:
            best = ll
        rows.append({"case": name, "method": label, "seconds": seconds, "cpu": cpu,
                     "passes": _passes(res, method), "ll_per_row": ll, "gap": best - ll})
    batch_seconds = rows[0]["seconds"]
    for r in rows:
        r["time_vs_batch"] = r["seconds"] / batch_seconds
    _table(rows)  # each case as it finishes
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parquet-rows", type=int, default=20_000_000)
    ap.add_argument("--gmm-rows", type=int, default=5_000_000)
    ap.add_argument("--components", type=int, default=5)
    ap.add_argument("--dims", type=int, default=8)
    ap.add_argument("--batch-rows", type=int, default=10_000)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--cases", default="memory,parquet,gmm")
    ap.add_argument("--plain", action="store_true",
                    help="also batch EM without SQUAREM (accelerate='none')")
    args = ap.parse_args()
    cases = args.cases.split(",")
    out: list[dict] = []
    if "memory" in cases:
        net, df = _alarm(args.rows, 1)
        out += run_case(f"alarm {args.rows:,} in memory", net, df, df, len(df),
                        args.batch_rows, args.tol, "random", args.plain)
    if "parquet" in cases:
        net, _ = _alarm(10, 1)
        with tempfile.TemporaryDirectory() as folder:
            per_file = 1_000_000
            for k, start in enumerate(range(0, args.parquet_rows, per_file)):
                part = _alarm(min(per_file, args.parquet_rows - start), 100 + k)[1]
                part.to_parquet(os.path.join(folder, f"part{k:04d}.parquet"))
            files = os.path.join(folder, "*.parquet")
            # scored from the files (streamed), not from one frame of every row
            out += run_case(f"alarm {args.parquet_rows:,} from Parquet", net, files, files,
                            args.parquet_rows, args.batch_rows, args.tol, "random",
                            args.plain)
    if "gmm" in cases:
        net, df = _mixture(args.gmm_rows, args.components, args.dims, 2)
        out += run_case(f"GMM K={args.components} d={args.dims} {args.gmm_rows:,}", net, df,
                        df, len(df), args.batch_rows, args.tol, "k-means++", args.plain)
    _table(out)


def _table(rows: list[dict]) -> None:
    print(format_table(rows, [("case", "case"), ("method", "method"), ("seconds", "seconds"),
                              ("cpu", "CPU s"),
                              ("time_vs_batch", "time / batch EM's"), ("passes", "passes"),
                              ("ll_per_row", "log-lik per row"),
                              ("gap", "below batch EM (nats/row)")]), flush=True)


if __name__ == "__main__":
    main()
