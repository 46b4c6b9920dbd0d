"""The compiled E-step kernel (``bnem[fast]``, numba) against the numpy E-step.

    pip install -e ".[fast]"
    python benchmarks/bench_fused.py                    # alarm, child, munin, diabetes
    python benchmarks/bench_fused.py --cases munin:2000

Per case: rows sampled from the network with 20% of cells missing completely at random
(``child`` with ``Disease`` hidden), ``prior=1``, plain EM, 3 iterations from bnem's
seeded random start, in one process, the two paths interleaved twice
(``BNEM_KERNEL=numpy`` / ``fused``, the kernel forced on whatever the chunk size). The
table gives the CPU seconds per iteration (best of two, from ``history.seconds``) and
whether both paths reached the same log-likelihood.
"""

from __future__ import annotations

import argparse
import os
import warnings

import common  # noqa: F401  (one thread, before numpy)

import bnem

CASES = "alarm:10000,child:5000,munin:2000,diabetes:2000"


def per_iteration(net, df, mode: str) -> tuple[float, float]:
    os.environ["BNEM_KERNEL"] = mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bnem.fit(net, df, max_iter=3, tol=0, seed=0, accelerate="none", prior=1.0)
    h = res.history["seconds"].to_numpy()
    return (h[-1] - h[0]) / 3, res.log_likelihood


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=CASES)
    args = parser.parse_args()
    print("| case | numpy s/iteration | fused s/iteration | numpy / fused | same log-likelihood |")
    print("|---|---|---|---|---|")
    for case in args.cases.split(","):
        name, rows = case.split(":")
        net = bnem.load_network(name)
        hide = ["Disease"] if name == "child" else None
        df = net.sample(int(rows), seed=1, missing=0.2, hide=hide)
        per_iteration(net, df, "fused")  # compile (or load) the kernel first
        times: dict[str, list] = {"numpy": [], "fused": []}
        lls = {}
        for mode in ("numpy", "fused", "numpy", "fused"):
            t, ll = per_iteration(net, df, mode)
            times[mode].append(t)
            lls[mode] = ll
        a, b = min(times["numpy"]), min(times["fused"])
        same = abs(lls["numpy"] - lls["fused"]) <= 1e-9 * abs(lls["numpy"])
        print(f"| {name} {int(rows):,} rows | {a:.4f} | {b:.4f} | {a / b:.2f} | {same} |",
              flush=True)


if __name__ == "__main__":
    main()
