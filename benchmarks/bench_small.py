"""Small data: a whole fit of a 3-component full-covariance Gaussian mixture on 342
rows x 4 columns with 10 restarts, bnem against scikit-learn in the same run.

    python benchmarks/bench_small.py              # 30 repeats per tool (~1 min)
    python benchmarks/bench_small.py --covariance tied      # or diag, spherical

The rows are drawn once from three well-separated 4-D Gaussians (the size of the
penguins measurements) and standardised. Both tools run their defaults for the
estimator (k-means starts, ``tol=1e-3`` on the mean log-likelihood, 100 iterations),
``n_init=10``, the same ``random_state``; ``bnem.fit`` on the equivalent network (10
random-responsibility restarts) is timed too. The tools take turns, one call each per
round (a change of load on a shared machine falls on all alike). The table gives the
median and the best of the repeats of one whole ``fit`` call (with a ``score``), and
each tool's mean log-likelihood.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem


def _data(rows: int = 342, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 4.0, (3, 4))
    parts = []
    for k, n in enumerate(np.array([0.44, 0.36, 0.20]) * rows):
        a = rng.normal(size=(4, 4))
        parts.append(rng.multivariate_normal(means[k], a @ a.T / 4 + np.eye(4) * 0.3,
                                             int(round(n))))
    x = np.vstack(parts)[:rows]
    return (x - x.mean(0)) / x.std(0)


def _time(fits: list, repeats: int) -> list[tuple[float, float, float]]:
    """Per fit: median and best seconds of ``repeats`` calls, and its last score. The
    tools take turns, one call each per round, so that a change of load on a shared
    machine falls on all of them alike."""
    seconds: list[list[float]] = [[] for _ in fits]
    scores = [0.0] * len(fits)
    for _ in range(repeats):
        for i, fit in enumerate(fits):
            t = time.perf_counter()
            scores[i] = float(fit())
            seconds[i].append(time.perf_counter() - t)
    return [(statistics.median(s), min(s), sc) for s, sc in zip(seconds, scores)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--covariance", default="full", choices=["full", "diag", "tied", "spherical"])
    args = p.parse_args()
    cov = args.covariance
    from sklearn.mixture import GaussianMixture as SkGM

    x = _data()
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(4)])
    warnings.simplefilter("ignore")

    def sk() -> float:
        return SkGM(3, covariance_type=cov, n_init=10, random_state=0).fit(x).score(x)

    def ours() -> float:
        return bnem.GaussianMixture(3, covariance_type=cov, n_init=10,
                                    random_state=0).fit(x).score(x)

    net = bnem.gaussian_mixture(list(df.columns), 3, cov)

    def ours_fit() -> float:
        res = bnem.fit(net, df, n_init=10, seed=0, init="random-resp", tol=1e-3)
        return res.log_likelihood / len(df)

    tools = [("scikit-learn GaussianMixture", sk), ("bnem.GaussianMixture", ours),
             ("bnem.fit (random-resp starts)", ours_fit)]
    for _, fit in tools:
        fit()  # warm-up: imports, caches
    rows = [(name, *timed) for (name, _), timed in zip(tools, _time([f for _, f in tools],
                                                                     args.repeats))]
    ref = rows[0][1]
    print(f"342 rows x 4, K=3 {cov} covariance, n_init=10, {args.repeats} repeats, one "
          "thread\n")
    print("| tool | median s | best s | median vs scikit-learn | mean log-likelihood |")
    print("|---|---|---|---|---|")
    for name, med, best, score in rows:
        print(f"| {name} | {med:.4f} | {best:.4f} | {med / ref:.2f}x | {score:.6f} |")


if __name__ == "__main__":
    main()
