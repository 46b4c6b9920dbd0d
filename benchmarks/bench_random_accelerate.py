"""Plain EM against SQUAREM on many random networks, one paired start each: total
E-steps, and how often SQUAREM took more E-steps or ended at a different optimum.

    python benchmarks/bench_random_accelerate.py                 # both families
    python benchmarks/bench_random_accelerate.py --clg 60 --discrete 0

CLG networks: 3 discrete and 4 Gaussian nodes (the test suite's random generator),
1,500 rows, 20% of cells missing, ``tol=1e-10``. Discrete networks: 8 nodes, the one
with the most children hidden, 1,000 rows, 20% of cells missing, ``tol=1e-8``. A
different optimum is a final log-likelihood more than 1e-5 nats per row apart: a test
of 1e-8 per row leaves either method up to about 1e-6 per row short of its optimum on
slow stretches, which is not a different optimum. A network whose plain fit fails (a
start that makes some row impossible) is skipped; one where only SQUAREM fails is
printed and counted.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np

import bnem

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from conftest import random_network  # noqa: E402
from hybrid_oracle import random_hybrid  # noqa: E402

SAME = 1e-5  # nats per row: well above where a tol of 1e-8 per row leaves either method


def clg_case(i: int) -> tuple:
    net = random_hybrid(np.random.default_rng(i))
    return net, net.sample(1500, seed=i, missing=0.2), 1e-10


def discrete_case(i: int) -> tuple:
    net = random_network(np.random.default_rng(1000 + i), 8, max_parents=2)
    hide = [max(net.nodes, key=lambda n: len(net.children(n)))]
    return net, net.sample(1000, seed=i, missing=0.2, hide=hide), 1e-8


def fit(net, df, tol: float, accelerate: str, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bnem.fit(net, df, tol=tol, seed=seed, max_iter=50_000, accelerate=accelerate)


def scan(name: str, make, count: int) -> None:
    plain_total = fast_total = more = lower = higher = skipped = fast_failed = 0
    worst = None
    for i in range(count):
        net, df, tol = make(i)
        try:
            plain = fit(net, df, tol, "none", i)
        except bnem.BnemError:
            skipped += 1  # e.g. a sampled table where some row is impossible from the start
            continue
        try:
            fast = fit(net, df, tol, "squarem", i)
        except bnem.BnemError as e:
            fast_failed += 1
            print(f"network {i}: SQUAREM failed where plain EM did not: {e}", flush=True)
            continue
        plain_total += plain.n_estep
        fast_total += fast.n_estep
        more += fast.n_estep > plain.n_estep
        diff = (fast.log_likelihood - plain.log_likelihood) / plain.n_rows
        lower += diff < -SAME
        higher += diff > SAME
        if fast.n_estep > plain.n_estep and (
                worst is None or fast.n_estep - plain.n_estep > worst[1] - worst[2]):
            worst = (i, fast.n_estep, plain.n_estep)
    shown = "none" if worst is None else f"{worst[0]}: {worst[1]} vs {worst[2]}"
    print(f"| {name} | {count - skipped - fast_failed} | {plain_total} | {fast_total} | "
          f"{plain_total / max(fast_total, 1):.2f}x | {more} | {lower} | {higher} | "
          f"{shown} | {fast_failed} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clg", type=int, default=60, help="random CLG networks")
    parser.add_argument("--discrete", type=int, default=40, help="random discrete networks")
    args = parser.parse_args()
    print("| networks | fits | plain E-steps | SQUAREM E-steps | ratio | SQUAREM more E-steps "
          "| SQUAREM lower optimum | SQUAREM higher optimum | worst (network: SQUAREM vs "
          "plain E-steps) | SQUAREM failed |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    if args.clg:
        scan("random CLG (3 discrete, 4 Gaussian)", clg_case, args.clg)
    if args.discrete:
        scan("random discrete (8 nodes, one latent)", discrete_case, args.discrete)


if __name__ == "__main__":
    main()
