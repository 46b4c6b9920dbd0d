"""Every discrete network of the bnlearn repository (as shipped inside pgmpy), 2,000 rows,
20% of cells missing completely at random: bnem's compile seconds, seconds per iteration
and peak memory, next to pyAgrum's seconds per iteration where it finishes in a budget.

Each network runs in fresh subprocesses (one BLAS thread):

* bnem: ``fit(max_iter=--iters, tol=0, prior=1)`` from a seeded random start;
  compile = ``history.seconds`` at iteration 0 (compile, encode, analyse, first E-step),
  per iteration = mean step after it; peak RSS = ``VmHWM`` of the process.
* pyAgrum: EM from the same CPDs (bnem's start, written as BIF with sanitised state
  names), ``prior`` 1; seconds per iteration = ``(t_k - t_1) / (k - 1)`` between runs of
  k = ``--peer-iters`` and 1 iterations of ``learnParameters``; a run over
  ``--peer-budget`` seconds is killed and reported as such.

Usage::

    python benchmarks/bench_networks.py                       # all networks (long)
    python benchmarks/bench_networks.py --networks asia,alarm,hepar2 --peer-budget 120
"""

from __future__ import annotations

import common  # noqa: I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import importlib.resources
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = Path(str(importlib.resources.files("pgmpy") / "utils" / "example_models"))

BNEM_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import bnem
path, rows, iters, here, tmp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def peak():
    with open("/proc/self/status") as f:
        return [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:")][0]
t = time.perf_counter()
net = bnem.read_bif(path)
read_s = time.perf_counter() - t
df = net.sample(rows, seed=1, missing=0.2)
res = bnem.fit(net, df, max_iter=iters, tol=0, seed=0, prior=1.0, accelerate="none")
h = res.history["seconds"].to_numpy()
out = {"nodes": len(net.nodes), "params": int(net.n_parameters), "read_s": read_s,
       "compile_s": float(h[0]), "per_iter": float((h[-1] - h[0]) / (len(h) - 1)),
       "peak_mb": peak(), "ll": res.log_likelihood}
if tmp:  # bnem's start and the data, for pyAgrum
    sys.path.insert(0, here)
    import common
    start = bnem.fit(net, df, max_iter=0, seed=0).network
    safe, mapping = common.sanitise(start)
    bnem.write_bif(safe, tmp + "/start.bif")
    common.write_pyagrum_csv(common.rename_data(df, mapping), safe, tmp + "/data.csv")
print(json.dumps(out))
"""

PEER_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import common
r = common.pyagrum_em(sys.argv[2], sys.argv[3], int(sys.argv[4]), 1.0)
print(json.dumps({"seconds": r["seconds"], "n_iter": r["n_iter"]}))
"""


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def run_bnem(path: Path, args, tmp: str) -> dict:
    here = str(Path(__file__).resolve().parent)
    cmd = [sys.executable, "-c", BNEM_CHILD, str(path), str(args.rows), str(args.iters),
           here, tmp if args.peer_budget > 0 else ""]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(),
                              timeout=args.bnem_budget)
    except subprocess.TimeoutExpired:
        return {"bnem": f"over {args.bnem_budget:g} s"}
    if proc.returncode != 0:
        return {"bnem": "error: " + proc.stderr.strip().splitlines()[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_peer(tmp: str, iters: int, budget: float) -> float | str:
    here = str(Path(__file__).resolve().parent)
    times = {}
    for k in (1, iters):
        cmd = [sys.executable, "-c", PEER_CHILD, here, f"{tmp}/start.bif", f"{tmp}/data.csv",
               str(k)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(),
                                  timeout=budget)
        except subprocess.TimeoutExpired:
            return f"over {budget:g} s"
        if proc.returncode != 0:
            return "error: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:100]
        times[k] = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return common.marginal(times[1], times[iters], iters)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", default="", help="comma-separated names (default: all)")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--peer-iters", type=int, default=3)
    p.add_argument("--peer-budget", type=float, default=120.0, help="0 skips pyAgrum")
    p.add_argument("--bnem-budget", type=float, default=1800.0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    names = args.networks.split(",") if args.networks else sorted(
        f.name.removesuffix(".bif.gz") for f in MODELS.glob("*.bif.gz"))
    rows = []
    for name in names:
        path = MODELS / f"{name}.bif.gz"
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            row = {"network": name, **run_bnem(path, args, tmp)}
            if args.peer_budget > 0 and "per_iter" in row:
                row["pyagrum_per_iter"] = run_peer(tmp, args.peer_iters, args.peer_budget)
                if isinstance(row["pyagrum_per_iter"], float) and row["per_iter"] > 0:
                    row["ratio"] = row["pyagrum_per_iter"] / row["per_iter"]
        common.log(f"{name}: {json.dumps(row)} ({time.perf_counter() - t:.0f} s)")
        rows.append(row)
    columns = [("network", "network"), ("nodes", "nodes"), ("params", "parameters"),
               ("compile_s", "bnem compile s"), ("per_iter", "bnem s / iter"),
               ("peak_mb", "bnem peak RSS MB"), ("pyagrum_per_iter", "pyAgrum s / iter"),
               ("ratio", "pyAgrum / bnem"), ("bnem", "bnem note")]
    print(common.format_table(rows, columns))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
