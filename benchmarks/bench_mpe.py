"""Most probable explanations: ``bnem.most_probable`` against pgmpy's
``VariableElimination.map_query`` (one query per row), on bnlearn networks.

    python benchmarks/bench_mpe.py          # ~1-2 min

For each network, ``--rows`` rows are sampled with 30% of cells missing (MCAR). pgmpy
answers one ``map_query`` per row over the row's missing variables, with the row's
observed cells as evidence. bnem answers all rows in one call. The table gives the
largest difference of the maxima's log-probabilities (each tool's completion
evaluated by bnem's ``log_prob``), how many rows got a different completion (ties
may make equally probable completions differ), and CPU seconds, one thread.
"""

from __future__ import annotations

import argparse
import time
import warnings

import common  # noqa: F401  (one thread, before numpy)
import numpy as np
import pandas as pd

import bnem


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--networks", default="asia,child,alarm,insurance")
    ap.add_argument("--rows", type=int, default=200)
    args = ap.parse_args()
    from pgmpy.inference import VariableElimination
    print(f"{'network':<10}{'rows':>6}{'max |dlogp|':>13}{'differ':>8}{'bnem s':>9}"
          f"{'pgmpy s':>9}{'pgmpy / bnem':>14}")
    for name in args.networks.split(","):
        net = bnem.load_network(name)
        df = net.sample(args.rows, seed=0, missing=0.3).astype(object)
        df = df.where(df.notna(), None)
        t0 = time.process_time()
        ours, best = bnem.most_probable(net, df)
        t1 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            infer = VariableElimination(net.to_pgmpy())
            rows = []
            for i in range(len(df)):
                row = df.iloc[i]
                evidence = {n: str(v) for n, v in row.items() if v is not None}
                hidden = [n for n in net.discrete_nodes if n not in evidence]
                answer = infer.map_query(hidden, evidence=evidence, show_progress=False) \
                    if hidden else {}
                rows.append({**evidence, **{k: str(v) for k, v in answer.items()}})
        t2 = time.process_time()
        theirs = pd.DataFrame(rows)[list(net.discrete_nodes)]
        lp_theirs = net.log_prob(theirs)
        differ = int((ours.astype(str) != theirs.astype(str)).any(axis=1).sum())
        print(f"{name:<10}{len(df):>6}{np.abs(best - lp_theirs).max():>13.2e}{differ:>8}"
              f"{t1 - t0:>9.3f}{t2 - t1:>9.2f}{(t2 - t1) / (t1 - t0):>14.0f}")


if __name__ == "__main__":
    main()
