"""Which start finds the best optimum most often on latent models, and how many
restarts a default should take.

Models (data sampled from the model itself, so the truth is known):

* ``lca-3x5``: 3 latent classes, 5 binary items, 2,000 rows;
* ``lca-4x6``: 4 latent classes, 6 three-state items, 3,000 rows, 10% MCAR;
* ``child-disease``: child with ``Disease`` hidden (column absent), 2,000 rows.

For each start (``random``, ``random-resp``, ``uniform`` is symmetric and useless for
latent nodes, so it is left out) and ``--seeds`` seeds: one EM run to ``tol`` (SQUAREM,
so every run reaches its own optimum), its final log-likelihood. The best found over
every run of every start is the reference; a run "finds the best" when it is within
``--match`` nats of it. From the per-seed hit rate ``p`` the chance that ``n_init``
restarts find it is ``1 - (1 - p) ** n_init``.

Usage::

    python benchmarks/bench_starts.py [--seeds 20] [--models lca-3x5,lca-4x6,child-disease]
"""

from __future__ import annotations

import common  # noqa: I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import time
import warnings

import numpy as np

import bnem

STARTS = ("random", "random-resp")


def lca(k: int, n_items: int, card: int, rows: int, missing: float, seed: int):
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(n_items)]
    variables = {"c": [f"k{j}" for j in range(k)],
                 **{i: [f"s{s}" for s in range(card)] for i in items}}
    cpds = {"c": rng.dirichlet(np.ones(k) * 4),
            **{i: rng.dirichlet(np.ones(card) * 0.7, size=k) for i in items}}
    net = bnem.BayesianNetwork(variables, {i: ["c"] for i in items}, cpds)
    return net, net.sample(rows, seed=seed + 1, missing=missing)[items]


def model(name: str):
    if name == "lca-3x5":
        return lca(3, 5, 2, 2000, 0.0, 11)
    if name == "lca-4x6":
        return lca(4, 6, 3, 3000, 0.1, 12)
    net = common.load_network("child")
    return net, net.sample(2000, seed=13).drop(columns=["Disease"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--models", default="lca-3x5,lca-4x6,child-disease")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--match", type=float, default=1e-3, help="nats from the best")
    args = p.parse_args()
    rows = []
    for name in args.models.split(","):
        net, df = model(name)
        finals: dict[str, list[float]] = {}
        times: dict[str, list[float]] = {}
        iters: dict[str, list[int]] = {}
        for start in STARTS:
            for seed in range(args.seeds):
                t = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = bnem.fit(net, df, init=start, seed=seed, tol=args.tol,
                                   max_iter=5000, accelerate="squarem")
                finals.setdefault(start, []).append(res.log_likelihood)
                times.setdefault(start, []).append(time.perf_counter() - t)
                iters.setdefault(start, []).append(res.n_estep)
        best = max(max(v) for v in finals.values())
        for start in STARTS:
            hit = float(np.mean(np.array(finals[start]) >= best - args.match))
            rows.append({"model": name, "start": start, "best": best,
                         "hit": hit, "n3": 1 - (1 - hit) ** 3, "n10": 1 - (1 - hit) ** 10,
                         "median_ll": float(np.median(finals[start])),
                         "esteps": float(np.median(iters[start])),
                         "seconds": float(np.median(times[start]))})
            common.log(str(rows[-1]))
    print(common.format_table(rows, [
        ("model", "model"), ("start", "start"), ("best", "best log-lik"),
        ("hit", "P(best) one run"), ("n3", "P(best) n_init=3"), ("n10", "P(best) n_init=10"),
        ("median_ll", "median final log-lik"), ("esteps", "median E-steps"),
        ("seconds", "median s / run")]))


if __name__ == "__main__":
    main()
