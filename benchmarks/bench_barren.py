"""EM with and without barren cells summed out (``sum_out_barren``): iterations to the
same tolerance, seconds per iteration and the optimum reached, from the same start.

    python benchmarks/bench_barren.py        (~1 min)
"""

from __future__ import annotations

import warnings

import common  # noqa: F401  (one thread, before numpy)

import bnem
from common import load_network


def main() -> None:
    alarm, insurance, child = (load_network(n) for n in ("alarm", "insurance", "child"))
    cases = [("alarm 10,000 rows, 20% MCAR", alarm, alarm.sample(10_000, seed=1, missing=0.2)),
             ("alarm 10,000 rows, 50% MCAR", alarm, alarm.sample(10_000, seed=1, missing=0.5)),
             ("insurance 5,000 rows, 20% MCAR", insurance,
              insurance.sample(5000, seed=1, missing=0.2)),
             ("child 5,000 rows, Disease latent, 30% MCAR", child,
              child.sample(5000, seed=1, missing=0.3, hide=["Disease"]))]
    print("| case | iterations (plain / summed out) | ms per iteration | final LL (plain / summed out) |")
    print("|---|---|---|---|")
    for name, net, df in cases:
        out = []
        for barren in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = bnem.fit(net, df, max_iter=3000, tol=1e-7, seed=0, sum_out_barren=barren,
                             accelerate="none")
            s = r.history.seconds.to_numpy()
            out.append((r.n_iter, 1000 * (s[-1] - s[0]) / max(r.n_iter, 1), r.log_likelihood))
        print(f"| {name} | {out[0][0]} / {out[1][0]} | {out[0][1]:.2f} / {out[1][1]:.2f} | "
              f"{out[0][2]:.3f} / {out[1][2]:.3f} |", flush=True)


if __name__ == "__main__":
    main()
