"""Hidden Markov models without unrolling: bnem's chained forward-backward
(``bnem.fit(two_slice_network, bnem.Sequences(...))``) against hmmlearn, from the
same start, the cases of the sequences issue.

    pip install hmmlearn                 # (the `bench` extra has it)
    python benchmarks/bench_hmm.py       # ~3 min; --case a|b|c for one

* (a) 1,000 sequences of 100 steps, 5 hidden states, 10 symbols (hmmlearn's
  ``CategoricalHMM``); bnem also unrolled (the network of 100 slices) for reference;
* (b) 100 sequences of 1,000 steps, 4 states, 3-dimensional Gaussian emissions with
  full covariance (hmmlearn's ``GaussianHMM(covariance_type="full")``; bnem's slice is
  ``state -> y1, y2, y3`` with ``y1 -> y2 -> y3`` and ``y1 -> y3``, a conditional
  linear Gaussian chain that is the full-covariance Gaussian per state, its start
  converted from the same means and covariances);
* (c) one sequence of 100,000 steps, the model of (a);
* (d) what hmmlearn cannot express: a dynamic network with a hidden regime chain and
  two discrete and two Gaussian nodes per slice (arcs between them), 500 sequences of
  50 steps, 20% of the cells missing; whole fits with SQUAREM, chained and unrolled,
  from one start (a random start after one EM step).

Both run the same number of plain EM iterations (``--iterations``) from the same
start; hmmlearn with ``init_params=""``, Dirichlet priors of 1 (which add nothing) and
its covariance prior switched off. Reported: the largest difference of the
per-iteration log-likelihoods (hmmlearn's ``monitor_.history``), CPU seconds of the
whole call divided by the iterations (bnem's includes reading the data, building its
plan and, with numba installed, loading the compiled kernels; one thread), bnem's
seconds per iteration after the first (the median of its history's steps), and for (c) the peak resident memory of a process that runs
only bnem's fit. No cell is missing: hmmlearn refuses NaN.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem


def sample_categorical(n_seq: int, length: int, k: int, symbols: int, seed: int):
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.ones(k) * 0.5, size=k) * 0.5 + np.eye(k) * 0.5
    emit = rng.dirichlet(np.ones(symbols) * 0.3, size=k)
    states = np.empty((n_seq, length), dtype=int)
    states[:, 0] = rng.integers(k, size=n_seq)
    for t in range(1, length):
        u = rng.random(n_seq)[:, None]
        states[:, t] = (u > np.cumsum(trans[states[:, t - 1]], axis=1)).sum(axis=1)
    cum = np.cumsum(emit, axis=1)[states]
    y = (rng.random((n_seq, length))[..., None] > cum).sum(axis=2)
    return np.minimum(y, symbols - 1).reshape(-1)


def categorical_start(k: int, symbols: int, seed: int):
    rng = np.random.default_rng(seed + 100)
    return (rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k) * 5, size=k),
            rng.dirichlet(np.ones(symbols) * 5, size=k))


def _compared(out: dict, ours, model) -> dict:
    """``out`` with the largest per-iteration log-likelihood difference of the two fits."""
    a = ours.history.log_likelihood.to_numpy()
    b = np.array(model.monitor_.history)
    n = min(a.size, b.size)
    out["ll difference"] = float(np.abs(a[:n] - b[:n]).max())
    out["ll"] = float(b[n - 1])
    out["iterations compared"] = n
    return out


def run_categorical(n_seq: int, length: int, iterations: int, seed: int,
                    unrolled: bool) -> dict:
    from hmmlearn.hmm import CategoricalHMM
    k, symbols = 5, 10
    y = sample_categorical(n_seq, length, k, symbols, seed)
    pi, trans, emit = categorical_start(k, symbols, seed)
    lengths = [length] * n_seq
    names = [str(s) for s in range(symbols)]
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        two = bnem.hidden_markov_network(k, {"y": names}, length=2).with_cpds(
            {"state[0]": pi, "state[1]": trans, "y[0]": emit, "y[1]": emit})
        steps = pd.DataFrame({"y": y.astype(str)})
        ours = bnem.fit(two, bnem.Sequences(steps, lengths=lengths), init="network",
                        max_iter=iterations - 1, tol=0, accelerate="none")
        out["bnem"] = (time.process_time() - t0) / iterations
        out["bnem steady"] = float(np.median(np.diff(ours.history.seconds)))
        t0 = time.process_time()
        model = CategoricalHMM(k, n_features=symbols, init_params="", params="ste",
                               n_iter=iterations, tol=-np.inf)
        model.startprob_, model.transmat_, model.emissionprob_ = pi, trans, emit
        model.fit(y[:, None], lengths)
        out["hmmlearn"] = (time.process_time() - t0) / iterations
        if unrolled:
            t0 = time.process_time()
            net = bnem.hidden_markov_network(k, {"y": names}, length=length)
            cpds = {"state[0]": pi, **{f"state[{t}]": trans for t in range(1, length)},
                    **{f"y[{t}]": emit for t in range(length)}}
            wide = bnem.sequence_rows(steps, lengths=lengths)
            bnem.fit(net.with_cpds(cpds), wide, init="network", max_iter=iterations - 1,
                     tol=0, accelerate="none")
            out["bnem unrolled"] = (time.process_time() - t0) / iterations
    return _compared(out, ours, model)


def run_gaussian(n_seq: int, length: int, iterations: int, seed: int) -> dict:
    from hmmlearn.hmm import GaussianHMM
    k, d = 4, 3
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.ones(k), size=k) * 0.3 + np.eye(k) * 0.7
    means = rng.normal(scale=3.0, size=(k, d))
    covs = []
    for _ in range(k):
        a = rng.normal(size=(d, d))
        covs.append(a @ a.T + np.eye(d))
    states = np.empty((n_seq, length), dtype=int)
    states[:, 0] = rng.integers(k, size=n_seq)
    for t in range(1, length):
        u = rng.random(n_seq)[:, None]
        states[:, t] = (u > np.cumsum(trans[states[:, t - 1]], axis=1)).sum(axis=1)
    noise = rng.standard_normal((n_seq, length, d))
    chol = np.stack([np.linalg.cholesky(c) for c in covs])
    X = (means[states] + np.einsum("ntij,ntj->nti", chol[states], noise)).reshape(-1, d)
    # the start: k-means-like means from random rows, the pooled covariance, uniform chain
    pi = np.full(k, 1 / k)
    tr = np.full((k, k), 0.1 / (k - 1)) + np.eye(k) * (0.9 - 0.1 / (k - 1))
    mu = X[rng.choice(len(X), k, replace=False)]
    cov = np.stack([np.cov(X.T)] * k)
    lengths = [length] * n_seq
    names = ["y1", "y2", "y3"]
    two = bnem.dynamic_network({"state": [str(s) for s in range(k)],
                                **{v: "continuous" for v in names}},
                               within=[("state", v) for v in names]
                               + [("y1", "y2"), ("y1", "y3"), ("y2", "y3")],
                               between=[("state", "state")], length=2)
    cpds: dict = {"state[0]": pi, "state[1]": tr}
    for j, v in enumerate(names):  # the regression of y_j on y_<j per state
        b0, w, var = np.empty(k), np.empty((k, j)), np.empty(k)
        for s in range(k):
            S, m = cov[s], mu[s]
            coef = np.linalg.solve(S[:j, :j], S[:j, j]) if j else np.zeros(0)
            w[s], b0[s] = coef, m[j] - coef @ m[:j]
            var[s] = S[j, j] - S[:j, j] @ coef
        for t in (0, 1):
            cpds[f"{v}[{t}]"] = {"intercept": b0, "weights": w, "variance": var}
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.process_time()
        steps = pd.DataFrame(X, columns=names)
        ours = bnem.fit(two.with_cpds(cpds), bnem.Sequences(steps, lengths=lengths),
                        init="network", max_iter=iterations - 1, tol=0, accelerate="none",
                        min_variance=1e-300)
        out["bnem"] = (time.process_time() - t0) / iterations
        out["bnem steady"] = float(np.median(np.diff(ours.history.seconds)))
        t0 = time.process_time()
        model = GaussianHMM(k, covariance_type="full", init_params="", params="stmc",
                            n_iter=iterations, tol=-np.inf, covars_prior=0.0, min_covar=0.0)
        model.startprob_, model.transmat_, model.means_ = pi, tr, mu
        model.covars_ = cov
        model.fit(X, lengths)
        out["hmmlearn"] = (time.process_time() - t0) / iterations
    return _compared(out, ours, model)


def run_dynamic(n_seq: int, length: int, seed: int) -> dict:
    """(d) A dynamic network hmmlearn cannot express: a hidden regime chain and, in each
    slice, two discrete and two Gaussian nodes with arcs between them, 20% of the cells
    missing; whole fits (SQUAREM, tol 1e-6 per sequence) chained and unrolled."""
    variables = {"regime": ["calm", "busy", "jam"], "load": ["low", "mid", "high"],
                 "alarm": ["off", "on"], "delay": "continuous", "temp": "continuous"}
    within = [("regime", "load"), ("regime", "alarm"), ("load", "alarm"),
              ("regime", "delay"), ("load", "delay"), ("regime", "temp"), ("temp", "delay")]
    truth = bnem.dynamic_network(variables, within, [("regime", "regime")], length=length)
    rng = np.random.default_rng(seed)
    cpds: dict = {}
    for node in ("regime[0]", "regime[1]", "load[0]", "alarm[0]"):
        shape = [len(truth.states(p)) for p in truth.parents(node)] + [len(truth.states(node))]
        a = rng.dirichlet(np.ones(shape[-1]), size=int(np.prod(shape[:-1]))).reshape(shape)
        cpds[node] = a * 0.5 + np.eye(shape[-1])[:, :] * 0.5 if node == "regime[1]" else a
    cpds["delay[0]"] = {"intercept": rng.normal(scale=3, size=(3, 3)),
                        "weights": rng.normal(size=(3, 3, 1)), "variance": np.ones((3, 3))}
    cpds["temp[0]"] = {"intercept": rng.normal(scale=3, size=3), "weights": np.zeros((3, 0)),
                       "variance": np.ones(3)}
    full = {"regime[0]": cpds["regime[0]"]}
    for t in range(length):
        for v in ("load", "alarm", "delay", "temp"):
            full[f"{v}[{t}]"] = cpds[f"{v}[0]"]
        if t:
            full[f"regime[{t}]"] = cpds["regime[1]"]
    wide = truth.with_cpds(full).sample(n_seq, seed=seed, missing=0.2)
    wide = wide[[c for c in wide.columns if not c.startswith("regime[")]]
    observed = ["load", "alarm", "delay", "temp"]
    steps = pd.DataFrame({v: np.concatenate([wide[f"{v}[{t}]"].to_numpy(dtype=object)[:, None]
                                             for t in range(length)], axis=1).reshape(-1)
                          for v in observed})
    for v in ("delay", "temp"):
        steps[v] = pd.to_numeric(steps[v])
    out: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = bnem.dynamic_network(variables, within, [("regime", "regime")], length=2)
        seqs = bnem.Sequences(steps, lengths=[length] * n_seq)
        # one start for both: a random start after one plain EM step
        start = bnem.fit(two, seqs, seed=seed, max_iter=1, accelerate="none").network
        given = {n: start.cpd(n) for n in two.nodes}
        unrolled_start = {"regime[0]": given["regime[0]"]}
        for t in range(length):
            for v in ("load", "alarm", "delay", "temp"):
                c = given[f"{v}[0]"]
                unrolled_start[f"{v}[{t}]"] = c.values if hasattr(c, "values") else \
                    {"intercept": c.intercept, "weights": c.weights, "variance": c.variance}
            if t:
                unrolled_start[f"regime[{t}]"] = given["regime[1]"].values
        t0 = time.process_time()
        chained = bnem.fit(start, seqs, init="network", tol=1e-6, max_iter=1000)
        out["chain seconds"] = time.process_time() - t0
        out["chain iterations"] = chained.n_iter
        out["chain steady"] = float(np.median(np.diff(chained.history.seconds)))
        out["chain ll"] = chained.log_likelihood
        t0 = time.process_time()
        net = bnem.dynamic_network(variables, within, [("regime", "regime")], length=length)
        unrolled = bnem.fit(net.with_cpds(unrolled_start), wide, init="network", tol=1e-6,
                            max_iter=1000)
        out["unrolled seconds"] = time.process_time() - t0
        out["unrolled iterations"] = unrolled.n_iter
        out["unrolled steady"] = float(np.median(np.diff(unrolled.history.seconds)))
        out["unrolled ll"] = unrolled.log_likelihood
    return out


def peak_memory_of_bnem_fit(iterations: int, seed: int) -> float:
    """MB: the peak resident memory of a process running only (c)'s bnem fit."""
    code = (f"import sys; sys.argv=['x']; import bench_hmm as b; "
            f"b.bnem_only({iterations}, {seed})")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/", 1)[0])
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def bnem_only(iterations: int, seed: int) -> None:
    k, symbols, n = 5, 10, 100_000
    y = sample_categorical(1, n, k, symbols, seed)
    pi, trans, emit = categorical_start(k, symbols, seed)
    two = bnem.hidden_markov_network(k, {"y": [str(s) for s in range(symbols)]},
                                     length=2).with_cpds(
        {"state[0]": pi, "state[1]": trans, "y[0]": emit, "y[1]": emit})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bnem.fit(two, bnem.Sequences(pd.DataFrame({"y": y.astype(str)}), lengths=[n]),
                 init="network", max_iter=iterations - 1, tol=0, accelerate="none")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["a", "b", "c", "d", "all"], default="all")
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {}
    if args.case in ("a", "all"):
        results["a: 1,000 x 100, 5 states, 10 symbols"] = run_categorical(
            1000, 100, args.iterations, args.seed, unrolled=True)
    if args.case in ("b", "all"):
        results["b: 100 x 1,000, 4 states, 3-d full covariance"] = run_gaussian(
            100, 1000, args.iterations, args.seed)
    if args.case in ("c", "all"):
        r = run_categorical(1, 100_000, args.iterations, args.seed, unrolled=False)
        r["bnem peak MB"] = peak_memory_of_bnem_fit(args.iterations, args.seed)
        results["c: 1 x 100,000, 5 states, 10 symbols"] = r
    if args.case in ("d", "all"):
        r = run_dynamic(500, 50, args.seed)
        print(f"d: 500 x 50, a 5-node dynamic network, 20% missing: chained "
              f"{r['chain seconds']:.2f} CPU s, {r['chain iterations']} SQUAREM iterations, "
              f"{r['chain steady']:.4f} s each, log-likelihood {r['chain ll']:.3f}; unrolled "
              f"{r['unrolled seconds']:.2f} s, {r['unrolled iterations']} iterations, "
              f"{r['unrolled steady']:.4f} s each, log-likelihood {r['unrolled ll']:.3f}")
    for name, r in results.items():
        ratio = r["hmmlearn"] / r["bnem"]
        print(f"{name}: CPU s per iteration (whole call / iterations) bnem {r['bnem']:.4f}, "
              f"hmmlearn {r['hmmlearn']:.4f} (hmmlearn / bnem {ratio:.2f}); bnem's "
              f"iterations after the first {r['bnem steady']:.4f} s each "
              f"(hmmlearn / that {r['hmmlearn'] / r['bnem steady']:.2f})"
              + (f", bnem unrolled {r['bnem unrolled']:.4f}" if "bnem unrolled" in r else "")
              + f"; log-likelihood difference {r['ll difference']:.2e} over "
              f"{r['iterations compared']} iterations (of {abs(r['ll']):.1f})"
              + (f"; bnem peak memory {r['bnem peak MB']:.0f} MB" if "bnem peak MB" in r
                 else ""))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
