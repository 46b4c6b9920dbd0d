"""Latent class regression: ``bnem.LatentClassModel(covariates=...)`` against stepmix's
one-step covariate model (the joint likelihood of the items given the covariates).

    pip install stepmix                     # (the `bench` extra has it)
    python benchmarks/bench_lcr.py          # 3 sizes, ~1 min

Data: ``k`` classes over ``--items`` binary items (5% of answers missing completely at
random), class membership a multinomial logit in two covariates (age, numeric; sex, two
levels), sampled with a fixed seed. Both tools fit ``k`` classes from ``--n-init``
starts of their own to a tolerance of 1e-8 on the mean log-likelihood per row, one
thread (stepmix's ``abs_tol`` is on the mean per row, like bnem's ``tol``). The table gives each tool's log-likelihood of the items given the covariates
(bnem's from its ``score``, stepmix's from its own ``score(X, Z)``, both times the
rows), whole-fit seconds and the slope of age for the class whose item profile is
highest (the sampled value is 0.08).
"""

from __future__ import annotations

import argparse
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem


def sample(n: int, k: int, items: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    male = rng.random(n) < 0.5
    slopes = np.linspace(0, 0.08, k)          # class j's log-odds against class 0
    eta = np.column_stack([-j * 1.0 + slopes[j] * (age - 40) + 0.5 * j * male
                           for j in range(k)])
    p = np.exp(eta - eta.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cls = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    profile = np.linspace(0.15, 0.85, k)
    answers = rng.random((n, items)) < profile[cls][:, None] + rng.normal(0, 0.05, items)
    X = pd.DataFrame(np.where(answers, 1.0, 0.0), columns=[f"q{j}" for j in range(items)])
    X = X.mask(rng.random(X.shape) < 0.05)
    X["age"], X["sex"] = age, np.where(male, "m", "f")
    return X, cls


def fit_bnem(X: pd.DataFrame, k: int, n_init: int) -> dict:
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = bnem.LatentClassModel(k, covariates=["age", "sex"], n_init=n_init, tol=1e-8,
                                    random_state=0).fit(X)
    seconds = time.perf_counter() - t
    top = int(np.argmax(est.item_probabilities_["q0"].iloc[:, -1].to_numpy()))
    return {"ll": est.score(X) * len(X), "seconds": seconds,
            "age": float(est.coef_.iloc[top]["age"] - est.coef_.iloc[0]["age"])}


def fit_stepmix(X: pd.DataFrame, k: int, n_init: int) -> dict:
    from stepmix.stepmix import StepMix

    items = X.drop(columns=["age", "sex"])
    z = pd.DataFrame({"age": X["age"], "male": (X["sex"] == "m").astype(float)})
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = StepMix(n_components=k, measurement="binary_nan", structural="covariate",
                        n_steps=1, n_init=n_init, abs_tol=1e-8, rel_tol=0,
                        max_iter=5000, random_state=0, verbose=0, progress_bar=0)
        model.fit(items, z)
    seconds = time.perf_counter() - t
    return {"ll": float(model.score(items, z)) * len(X), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,50000")
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--n-init", type=int, default=3)
    args = parser.parse_args()
    warm, _ = sample(500, args.classes, args.items, seed=1)  # imports and first calls
    fit_bnem(warm, args.classes, 1)
    fit_stepmix(warm, args.classes, 1)
    print("| rows | bnem log-lik | stepmix log-lik | difference | bnem s | stepmix s | "
          "stepmix/bnem | bnem age slope |")
    print("|---|---|---|---|---|---|---|---|")
    for n in map(int, args.sizes.split(",")):
        X, _ = sample(n, args.classes, args.items, seed=n)
        b = fit_bnem(X, args.classes, args.n_init)
        s = fit_stepmix(X, args.classes, args.n_init)
        print(f"| {n:,} | {b['ll']:.4f} | {s['ll']:.4f} | {b['ll'] - s['ll']:+.2e} | "
              f"{b['seconds']:.2f} | {s['seconds']:.2f} | {s['seconds'] / b['seconds']:.2f} | "
              f"{b['age']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
