"""Poisson hidden Markov models: bnem's Poisson count nodes in an unrolled HMM against
hmmlearn's ``PoissonHMM``, from the same start.

    pip install hmmlearn                    # (the `bench` extra has it)
    python benchmarks/bench_poisson_hmm.py  # ~1 min

Data: ``--sequences`` sequences of ``--length`` steps from a 3-state HMM with two
Poisson count series (rates 1/6/15 and 4/0.5/9), sampled with a fixed seed, no
missing counts (hmmlearn refuses NaN). Both tools start from the same parameters
(far from the truth: rates 3/5/7 and 3/2/5, transitions 0.6 on the diagonal), hmmlearn with ``init_params=""`` and no priors (its Dirichlet
priors of 1.0 add nothing, its gamma prior on the rates is switched off).

1. **Same iterations**: ``--iterations`` plain EM iterations in both; the largest
   difference of the per-iteration log-likelihoods (hmmlearn's ``monitor_.history``,
   the likelihood at each iteration's start) and of the final rates.
2. **Whole fits** to a tolerance of 1e-6 nats per step (hmmlearn's ``tol`` is on the
   total, so it is given 1e-6 times the steps): bnem with SQUAREM (its default), and
   hmmlearn; log-likelihood, iterations and CPU seconds, one thread.
"""

from __future__ import annotations

import argparse
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem

RATES = np.array([[1.0, 4.0], [6.0, 0.5], [15.0, 9.0]])  # (state, series)
TRANS = np.array([[0.90, 0.08, 0.02], [0.10, 0.85, 0.05], [0.05, 0.15, 0.80]])
START = np.array([0.5, 0.3, 0.2])


def sample(n: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    states = np.empty((n, length), dtype=int)
    states[:, 0] = rng.choice(3, n, p=START)
    for t in range(1, length):
        u = rng.random(n)[:, None]
        states[:, t] = (u > np.cumsum(TRANS[states[:, t - 1]], axis=1)).sum(axis=1)
    return rng.poisson(RATES[states])  # (n, length, 2)


def bnem_network(length: int, m: int, start: tuple) -> bnem.BayesianNetwork:
    pi, trans, rates = start
    net = bnem.hidden_markov_network(3, {"y1": bnem.count_states(m),
                                         "y2": bnem.count_states(m)}, length)
    return net.with_cpds({"state[0]": pi, "state[1]": trans}) \
        .poisson("y1[0]", rates=rates[:, 0]).poisson("y2[0]", rates=rates[:, 1])


def wide(y: np.ndarray) -> pd.DataFrame:
    n, length, _ = y.shape
    return pd.DataFrame({f"{name}[{t}]": y[:, t, j] for t in range(length)
                         for j, name in enumerate(("y1", "y2"))})


def hmmlearn_model(start: tuple, **kw):
    from hmmlearn.hmm import PoissonHMM
    pi, trans, rates = start
    model = PoissonHMM(3, init_params="", params="stl", lambdas_prior=0.0,
                       lambdas_weight=0.0, **kw)
    model.startprob_, model.transmat_, model.lambdas_ = pi.copy(), trans.copy(), rates.copy()
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sequences", type=int, default=200)
    ap.add_argument("--length", type=int, default=100)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    y = sample(args.sequences, args.length, args.seed)
    m = int(y.max()) + 10
    start = (np.full(3, 1 / 3), np.full((3, 3), 0.2) + np.eye(3) * 0.4,
             np.array([[3.0, 3.0], [5.0, 2.0], [7.0, 5.0]]))  # far from the truth
    X, lengths = y.reshape(-1, 2), [args.length] * args.sequences
    df = wide(y)
    steps = args.sequences * args.length
    print(f"{args.sequences} sequences x {args.length} steps, 2 count series, 3 states; "
          f"counts up to {int(y.max())} (count_states({m}))")

    k = args.iterations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        ours = bnem.fit(bnem_network(args.length, m, start), df, init="network",
                        max_iter=k - 1, tol=0, accelerate="none")
        t1 = time.process_time()
        theirs = hmmlearn_model(start, n_iter=k, tol=-np.inf).fit(X, lengths)
        t2 = time.process_time()
    a = ours.history.log_likelihood.to_numpy()  # (bnem stops early where the gain
    b = np.array(theirs.monitor_.history)       # falls below round-off: tol=0)
    k = min(a.size, b.size)
    a, b = a[:k], b[:k]
    rates = np.column_stack([ours.network.rates_of("y1[0]"), ours.network.rates_of("y2[0]")])
    theirs_k1 = hmmlearn_model(start, n_iter=ours.n_iter, tol=-np.inf).fit(X, lengths)
    print(f"\n1. plain EM iterations from the same start ({k} compared)")
    print(f"   largest |bnem - hmmlearn| log-likelihood: {np.abs(a - b).max():.3e} "
          f"(of {abs(b[-1]):.1f})")
    print(f"   largest |bnem - hmmlearn| rate after {ours.n_iter} M-steps: "
          f"{np.abs(rates - theirs_k1.lambdas_).max():.3e}")
    per_ours = float(np.diff(ours.history.seconds).mean())  # wall seconds, one thread
    per_theirs = (t2 - t1) / len(theirs.monitor_.history)
    print(f"   seconds per iteration: bnem {per_ours:.4f}, hmmlearn {per_theirs:.4f}; "
          f"hmmlearn / bnem {per_theirs / per_ours:.2f}")
    print(f"   CPU seconds, whole call: bnem {t1 - t0:.2f} (unrolled network, compile, "
          f"encoding and {ours.n_iter + 1} E-steps), hmmlearn {t2 - t1:.2f} "
          f"({len(theirs.monitor_.history)} iterations)")

    print("\n2. whole fits (tol 1e-6 nats per step), CPU seconds")
    rows = []
    for name in ("bnem (SQUAREM)", "bnem (plain EM)", "hmmlearn"):
        t0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.startswith("bnem"):
                res = bnem.fit(bnem_network(args.length, m, start), df, init="network",
                               max_iter=2000, tol=1e-6,
                               accelerate="squarem" if "SQUAREM" in name else "none")
                ll, iters = res.log_likelihood, res.n_iter
            else:
                model = hmmlearn_model(start, n_iter=2000, tol=1e-6 * steps).fit(X, lengths)
                ll, iters = model.score(X, lengths), model.monitor_.iter
        rows.append((name, ll, iters, time.process_time() - t0))
    base = rows[-1][3]
    print(f"   {'tool':<18}{'log-likelihood':>16}{'iterations':>12}{'seconds':>10}"
          f"{'hmmlearn / tool':>17}")
    for name, ll, iters, sec in rows:
        print(f"   {name:<18}{ll:>16.4f}{iters:>12}{sec:>10.2f}{base / sec:>17.2f}")


if __name__ == "__main__":
    main()
