"""Seconds per EM iteration of a Gaussian mixture with missing cells (bnem alone).

scikit-learn's ``GaussianMixture`` refuses NaN and pyAgrum has no Gaussian nodes, so
there is no peer for this case; the figures say what missing cells cost bnem
relative to the complete-data case of ``bench_gmm.py``. Cells are blanked completely
at random (``--missing``), so with ``d`` columns up to ``2^d`` patterns occur: rows
sharing a pattern share one factorisation per E-step, rare patterns are batched
(``bnem/inference/gaussian_ragged.py``), and diagonal covariances need no patterns.

Seconds per iteration: marginal cost ``(t_k - t_1) / (k - 1)`` of whole ``fit`` calls
(k-means++ start, ``tol=0``), median over ``--repeat`` pairs.

Usage::

    python benchmarks/bench_gmm_missing.py                  # 100,000 x 8 and 20,000 x 24
"""

from __future__ import annotations

import common  # noqa: F401,I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import statistics
import time
import warnings

import numpy as np
import pandas as pd

import bnem

CASES = [(100_000, 8), (20_000, 24)]


def make_data(rows, d, k, missing, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 2
    x = np.concatenate([rng.multivariate_normal(means[c], np.eye(d) + 0.3, size=rows // k)
                        for c in range(k)])
    x[rng.random(x.shape) < missing] = np.nan
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(d)])


def timed_fit(gm, df, iters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = bnem.fit(gm, df, max_iter=iters, tol=0, seed=0, accelerate="none")
        return time.perf_counter() - t0, res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print("| rows x columns | covariance | patterns | bnem s/iter | one-time |")
    print("|---|---|---|---|---|")
    for rows, d in CASES:
        df = make_data(rows, d, args.components, args.missing, 0)
        patterns = len(np.unique(np.packbits(df.isna().to_numpy(), axis=1), axis=0))
        for cov in ("full", "diag"):
            gm = bnem.gaussian_mixture(list(df.columns), args.components, cov)
            per_iter, once = [], []
            for _ in range(args.repeat):
                t1, _ = timed_fit(gm, df, 1)
                tk, res = timed_fit(gm, df, args.iters)
                per_iter.append((tk - t1) / (args.iters - 1))
                once.append(t1 - per_iter[-1])
            print(f"| {rows:,} x {d} | {cov} | {patterns:,} | "
                  f"{statistics.median(per_iter):.3f} s | {statistics.median(once):.2f} s |",
                  flush=True)


if __name__ == "__main__":
    main()
