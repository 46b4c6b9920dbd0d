"""Fits larger than memory, and on a Dask cluster (alarm, 20% MCAR, Parquet parts).

Data: parts of ``--part-rows`` rows each (default 1,000,000), sampled from alarm with
20% of cells missing completely at random and written to Parquet in ``--workdir``
(kept between runs; a size of N rows uses the first N / part-rows parts).

Cases (each in a fresh subprocess, one BLAS thread, ``--iters`` fixed iterations):

* ``stream-N``: ``bnem.fit(net, [parquet paths], memory_mb=--memory-mb)``, the files read
  in batches and their encoding (and the analysis beyond the budget) kept on disk;
* ``memory-N``: the same rows loaded with ``pandas.read_parquet`` first and fitted as a
  DataFrame (default ``memory_mb`` 512 unless ``--memory-memory-mb``);
* ``dask-W-N``: a ``LocalCluster`` of W single-threaded worker processes,
  ``dask.dataframe.read_parquet`` of the parts, ``memory_mb=--dask-memory-mb`` per worker.

Reported per case: first-pass seconds (``history.seconds`` at iteration 0: reading,
encoding, analysing, and the E-step of the start), seconds per iteration (mean step of
``history.seconds`` after iteration 0), peak RSS of the fitting process
(``VmHWM``; for Dask, of the client process, and the workers' own peaks).

Usage::

    python benchmarks/bench_scale.py --cases stream-1000000,memory-1000000
    python benchmarks/bench_scale.py --cases stream-20000000 --iters 2
    python benchmarks/bench_scale.py --cases dask-1-5000000,dask-2-5000000
"""

from __future__ import annotations

import common  # noqa: I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETWORK = HERE.parent / "networks" / "alarm.bif"


def make_parts(workdir: Path, n_parts: int, part_rows: int) -> list[str]:
    import bnem

    net = bnem.read_bif(NETWORK)
    paths = []
    for k in range(n_parts):
        path = workdir / f"alarm-{part_rows}-{k:03d}.parquet"
        if not path.exists():
            t = time.perf_counter()
            df = net.sample(part_rows, seed=1000 + k, missing=0.2)
            tmp = path.with_suffix(".tmp")
            df.to_parquet(tmp)
            os.replace(tmp, path)
            common.log(f"wrote {path.name} ({time.perf_counter() - t:.1f} s)")
        paths.append(str(path))
    return paths


CHILD = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
import bnem
mode, iters, memory_mb, workers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
paths = sys.argv[5:]
net = bnem.read_bif(os.environ["BENCH_NETWORK"])
out = {}
if mode == "stream":
    data = paths
elif mode == "memory":
    import pandas as pd
    t = time.perf_counter()
    data = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    out["load_seconds"] = time.perf_counter() - t
else:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster
    if os.environ.get("BENCH_MALLOC_TRIM") != "dask":
        from bnem.em.distributed import without_malloc_trim
        without_malloc_trim()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=50,
                           memory_limit=0, env={"OMP_NUM_THREADS": "1",
                                                "OPENBLAS_NUM_THREADS": "1"})
    client = Client(cluster)
    data = dd.read_parquet(paths)
t = time.perf_counter()
res = bnem.fit(net, data, max_iter=iters, tol=0, seed=0, memory_mb=memory_mb,
               accelerate="none")
out["fit_seconds"] = time.perf_counter() - t
h = res.history["seconds"].to_numpy()
out["first_pass"] = float(h[0])
out["per_iteration"] = float((h[-1] - h[0]) / (len(h) - 1)) if len(h) > 1 else None
out["log_likelihood"] = res.log_likelihood
out["rows"] = res.n_rows
def peak():  # VmHWM: ru_maxrss would carry the parent's peak over fork and exec
    with open("/proc/self/status") as f:
        return [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:")][0]
out["peak_rss_mb"] = peak()
if mode == "dask":
    out["worker_peak_rss_mb"] = sorted(client.run(peak).values())
    client.close()
    cluster.close()
print(json.dumps(out))
"""


def run_case(case: str, paths_for, args) -> dict:
    kind, *rest = case.split("-")
    workers = int(rest[0]) if kind == "dask" else 0
    rows = int(rest[-1])
    paths = paths_for(rows)
    memory_mb = {"stream": args.memory_mb, "memory": args.memory_memory_mb,
                 "dask": args.dask_memory_mb}[kind]
    env = {**os.environ, "BENCH_NETWORK": str(NETWORK), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", CHILD, kind, str(args.iters), str(memory_mb), str(workers),
           *paths]
    common.log(f"{case}: {len(paths)} part(s), memory_mb={memory_mb:g}")
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"case": case, "error": proc.stderr[-1500:]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(case=case, wall=time.perf_counter() - t, memory_mb=memory_mb)
    if out.get("per_iteration"):
        out["per_iteration_per_million"] = out["per_iteration"] / (rows / 1e6)
    common.log(json.dumps(out))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="memory-1000000,stream-1000000,stream-5000000")
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--part-rows", type=int, default=1_000_000)
    p.add_argument("--memory-mb", type=float, default=256.0)
    p.add_argument("--memory-memory-mb", type=float, default=512.0)
    p.add_argument("--dask-memory-mb", type=float, default=4096.0)
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "bnem-bench-scale"))
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def paths_for(rows: int) -> list[str]:
        n = max(1, rows // args.part_rows)
        return make_parts(workdir, n, args.part_rows)

    results = [run_case(c, paths_for, args) for c in args.cases.split(",")]
    columns = [("case", "case"), ("rows", "rows"), ("memory_mb", "memory_mb"),
               ("first_pass", "first pass s"), ("per_iteration", "s / iteration"),
               ("per_iteration_per_million", "s / iter / M rows"),
               ("peak_rss_mb", "peak RSS MB"), ("worker_peak_rss_mb", "worker peak RSS MB"),
               ("log_likelihood", "log-likelihood")]
    print(common.format_table(results, columns))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
