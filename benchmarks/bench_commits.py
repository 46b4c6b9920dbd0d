"""Two commits back to back in CPU seconds: old and new alternate, in one run.

    git worktree add /tmp/old-tree <old commit>
    python benchmarks/bench_commits.py --old /tmp/old-tree --rounds 5

Each round runs every case once under each tree, in turn, in fresh subprocesses (the
tree's path first on ``PYTHONPATH``, one BLAS thread), so a change of load on a shared
machine falls on both alike. A case is timed in the subprocess with
``time.process_time`` (CPU seconds of the process, not wall time) around its fits,
after a warm-up fit. The table gives, per case, the median CPU seconds of each tree and
their ratio (new / old), and checks that both trees reached the same log-likelihood.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CASE_CODE = r'''
import json, sys, time, warnings
sys.path.insert(0, %(bench)r)
import common  # one thread, before numpy
import numpy as np, pandas as pd, bnem
warnings.simplefilter("ignore")
case = %(case)r

def data():
    if case.startswith("alarm"):
        net = bnem.read_bif(%(networks)r + "/alarm.bif")
        return net, net.sample(2000, seed=1, missing=0.2), dict(max_iter=15, tol=0, seed=0)
    if case.startswith("child"):
        net = bnem.read_bif(%(networks)r + "/child.bif")
        return net, net.sample(2000, seed=1, hide=["Disease"]), dict(max_iter=40, tol=0, seed=0)
    if case.startswith("lca"):
        from bench_accelerate import _latent_class
        net, df = _latent_class(3, 4, 1000, 3)
        return net, df, dict(max_iter=300, tol=0, seed=0)
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 1, (10000, 4)), rng.normal(1.5, 1, (10000, 4))])
    x[rng.random(x.shape) < 0.1] = np.nan
    cols = ["a", "b", "c", "d"]
    return (bnem.gaussian_mixture(cols, 3, "full"), pd.DataFrame(x, columns=cols),
            dict(max_iter=20, tol=0, seed=0))

net, df, kw = data()
if case.endswith("plain"):
    kw["accelerate"] = "none"
bnem.fit(net, df, **kw)  # warm-up
t = time.process_time()
res = bnem.fit(net, df, **kw)
cpu = time.process_time() - t
print(json.dumps({"cpu": cpu, "n_estep": res.n_estep, "ll": res.log_likelihood}))
'''

CASES = ("alarm-2k-squarem", "child-2k-latent-plain", "lca-3x4-plain", "lca-3x4-squarem",
         "gmm-full-20k-plain")


def run(tree: str, case: str) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    code = CASE_CODE % {"bench": str(HERE), "case": case,
                        "networks": str(HERE.parent / "networks")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="a work tree of the old commit")
    p.add_argument("--new", default=str(HERE.parent), help="default: this tree")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cases", default=",".join(CASES))
    args = p.parse_args()
    cases = args.cases.split(",")
    got: dict = {(c, t): [] for c in cases for t in ("old", "new")}
    for r in range(args.rounds):
        for case in cases:
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for tree in order:
                got[case, tree].append(run(args.old if tree == "old" else args.new, case))
    print("| case | old CPU s (median) | new CPU s (median) | new / old | E-steps | same log-likelihood |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        old = statistics.median(g["cpu"] for g in got[case, "old"])
        new = statistics.median(g["cpu"] for g in got[case, "new"])
        same = all(abs(a["ll"] - b["ll"]) <= 1e-9 * abs(a["ll"])
                   for a, b in zip(got[case, "old"], got[case, "new"]))
        print(f"| {case} | {old:.4f} | {new:.4f} | {new / old:.3f} | "
              f"{got[case, 'new'][0]['n_estep']} | {same} |")


if __name__ == "__main__":
    main()
