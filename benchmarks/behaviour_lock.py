"""Behaviour lock: seeded fits whose histories and parameters two commits must share.

Run it under each commit (e.g. a git worktree of the old commit with its own path on
``PYTHONPATH``) to write a ``.npz`` of every case's history, final parameters and
standard errors, then compare the two files::

    PYTHONPATH=old python benchmarks/behaviour_lock.py --out old.npz
    python benchmarks/behaviour_lock.py --out new.npz
    python benchmarks/behaviour_lock.py --compare old.npz new.npz

The cases cover what a refactoring of the CPD families touches: discrete and hybrid
networks, SQUAREM and plain EM, MAP, hard EM, restarts, row weights, random-resp and
k-means++ starts, missing cells, and standard errors.

The whole suite can be compared too: ``lock_plugin.py`` records every ``bnem.fit`` call
of every test, and ``--compare-suite old.json new.json`` matches them by test id and
call order (tests whose fits are unseeded, such as scikit-learn's estimator checks
with ``random_state=None``, differ between two runs of one commit: ``--skip`` them).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

import numpy as np
import pandas as pd

import bnem

NETWORKS = pathlib.Path(__file__).resolve().parents[1] / "networks"


def _mixture_data(missing: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([0, 0, 0], [1, 2, 0.5], (150, 3)),
                   rng.normal([3, 1, 2], [1, 2, 0.5], (150, 3))])
    x[rng.random(x.shape) < missing] = np.nan
    return pd.DataFrame(x, columns=["a", "b", "c"])


def cases() -> dict:
    alarm = bnem.read_bif(NETWORKS / "alarm.bif")
    child = bnem.read_bif(NETWORKS / "child.bif")
    a_df = alarm.sample(2000, seed=1, missing=0.2)
    c_df = child.sample(1500, seed=2).drop(columns=["Disease"])
    lca = bnem.BayesianNetwork({"z": ["a", "b"], **{f"x{i}": ["0", "1", "2"] for i in range(4)}},
                               {f"x{i}": ["z"] for i in range(4)})
    l_df = lca.with_cpds({f"x{i}": np.random.default_rng(i).dirichlet(np.ones(3), 2)
                          for i in range(4)}).sample(500, seed=3, missing=0.1).drop(columns="z")
    weights = np.random.default_rng(4).integers(1, 4, len(l_df)).astype(float)
    m_df = _mixture_data(0.15)
    full = bnem.gaussian_mixture(["a", "b", "c"], 2, "full")
    diag = bnem.gaussian_mixture(["a", "b", "c"], 2, "diag")
    return {
        "alarm_squarem": lambda: bnem.fit(alarm, a_df, max_iter=15, seed=0),
        "alarm_plain_prior": lambda: bnem.fit(alarm, a_df, max_iter=15, seed=1, prior=0.5,
                                              accelerate="none"),
        "child_latent": lambda: bnem.fit(child, c_df, max_iter=30, seed=0, n_init=2),
        "lca_random_resp_weights": lambda: bnem.fit(lca, l_df, init="random-resp", n_init=3,
                                                    seed=5, sample_weight=weights),
        "lca_complete_case": lambda: bnem.fit(lca, l_df, init="complete-case", seed=0),
        "gmm_full": lambda: bnem.fit(full, m_df, n_init=2, seed=0),
        "gmm_diag_plain": lambda: bnem.fit(diag, m_df, seed=1, accelerate="none"),
        "gmm_hard": lambda: bnem.fit(full, m_df.dropna(), seed=0, hard=True),
    }


def run(out: str) -> None:
    arrays = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, case in cases().items():
            res = case()
            arrays[f"{name}/history"] = res.history.select_dtypes("number")
            arrays[f"{name}/history"] = arrays[f"{name}/history"].drop(
                columns=[c for c in ("seconds",) if c in arrays[f"{name}/history"]]).to_numpy()
            arrays[f"{name}/theta"] = res.network.flat_params()
            arrays[f"{name}/gauss"] = np.concatenate(
                [np.concatenate([c.intercept.ravel(), c.weights.ravel(), c.variance.ravel()])
                 for c in res.network.gaussian_cpds.values()] or [np.zeros(0)])
            if name == "lca_complete_case":
                se = res.standard_errors(_lca_data())
                arrays[f"{name}/se"] = se["se"].to_numpy()
            print(f"{name}: {len(res.history)} rows, log-likelihood {res.log_likelihood:.10f}")
    np.savez(out, **arrays)


def _lca_data() -> pd.DataFrame:
    lca = bnem.BayesianNetwork({"z": ["a", "b"], **{f"x{i}": ["0", "1", "2"] for i in range(4)}},
                               {f"x{i}": ["z"] for i in range(4)})
    return lca.with_cpds({f"x{i}": np.random.default_rng(i).dirichlet(np.ones(3), 2)
                          for i in range(4)}).sample(500, seed=3, missing=0.1).drop(columns="z")


def compare_suite(a: str, b: str, skip: list[str]) -> int:
    """Compare two ``lock_plugin.py`` recordings call by call."""
    import json
    old = {(r["test"], r["call"]): r for r in json.load(open(a))}
    new = {(r["test"], r["call"]): r for r in json.load(open(b))}
    common = sorted(k for k in set(old) & set(new) if not any(s in k[0] for s in skip))
    worst, differ = 0.0, []
    for key in common:
        for field in ("history", "theta"):
            x, y = np.array(old[key][field], float), np.array(new[key][field], float)
            if x.shape != y.shape:
                differ.append((key, field, f"shapes {x.shape} and {y.shape}"))
                worst = np.inf
                continue
            same = (x == y) | (np.isnan(x) & np.isnan(y))  # (infinities too)
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.where(same, 0.0, np.abs(x - y) / np.maximum(np.abs(x), 1e-300))
            top = float(np.max(rel)) if rel.size else 0.0
            if not top <= 1e-12:
                differ.append((key, field, f"{top:.3g}"))
            worst = max(worst, top) if np.isfinite(top) else np.inf
    print(f"{len(common)} fit calls of {len({k[0] for k in common})} tests compared "
          f"({len(set(old) - set(new))} only in the old recording, "
          f"{len(set(new) - set(old))} only in the new); worst relative difference {worst:.3g}")
    for item in differ[:20]:
        print("differs:", *item)
    return 0 if not differ else 1


def compare(a: str, b: str) -> int:
    old, new = np.load(a), np.load(b)
    worst = 0.0
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new:
            print(f"{key}: only in {'new' if key in new else 'old'}")
            worst = np.inf
            continue
        x, y = old[key], new[key]
        if x.shape != y.shape:
            print(f"{key}: shapes {x.shape} and {y.shape}")
            worst = np.inf
            continue
        both_nan = np.isnan(x) & np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(x - y) / np.maximum(np.abs(x), 1e-300))
        rel = float(np.nanmax(diff)) if diff.size else 0.0
        worst = max(worst, rel)
        print(f"{key}: max relative difference {rel:.3g}")
    print(f"worst: {worst:.3g}")
    return 0 if worst <= 1e-12 else 1


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out")
    p.add_argument("--compare", nargs=2)
    p.add_argument("--compare-suite", nargs=2)
    p.add_argument("--skip", action="append", default=[],
                   help="with --compare-suite: leave out tests whose id contains this")
    args = p.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    if args.compare_suite:
        sys.exit(compare_suite(*args.compare_suite, args.skip))
    run(args.out)
