"""Peak memory of bnem.fit on a large table (default: alarm, 1,000,000 rows, 20% MCAR).

The parent samples the rows and pickles the DataFrame to a temporary file. A fresh
subprocess (one thread) then imports bnem, loads the table and runs ``bnem.fit`` for a
few iterations; it reports

* its resident set size after the imports and after loading the table (current RSS,
  ``/proc/self/statm``), the DataFrame's own size (``memory_usage(deep=True)``),
* the process's peak RSS (``VmHWM`` of /proc/self/status) after the fit, and the
  fit's share of it: peak minus the RSS just before the fit.

A second subprocess repeats the fit under ``tracemalloc`` (numpy reports its buffers to
it) for the peak of the fit's own allocations, unless ``--no-tracemalloc``.
The issue's target: peak under 1 GB for alarm at 1M rows.

Usage::

    python benchmarks/bench_memory.py [--rows 1000000] [--iters 3] [--network alarm]
                                      [--memory-mb 512]
"""

from __future__ import annotations

import common  # noqa: I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

MB = 1024 * 1024


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """This process's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries the parent's
    peak over fork and exec into the child's ``ru_maxrss``."""
    with open("/proc/self/status") as f:
        return [int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:")][0]


def child(path: str, iters: int, trace: bool, memory_mb: float | None) -> None:
    """Runs in the subprocess: measure, print one JSON line."""
    import tracemalloc

    import bnem
    out = {"rss_imports": current_rss()}
    with open(path, "rb") as f:
        network, df = pickle.load(f)
    out["rss_data"] = current_rss()
    out["peak_before_fit"] = peak_rss()
    out["df_bytes"] = int(df.memory_usage(deep=True).sum())
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        extra = {} if memory_mb is None else {"memory_mb": memory_mb}
        res = bnem.fit(network, df, max_iter=iters, tol=0.0, init="random", seed=1,
                       accelerate="none", **extra)
    out["fit_seconds"] = time.perf_counter() - t0
    if trace:
        out["traced_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    sec = res.history["seconds"].to_numpy()
    out["compile_seconds"] = float(sec[0])
    out["per_iter_seconds"] = float((sec[-1] - sec[0]) / max(1, len(sec) - 1))
    out["peak_after_fit"] = peak_rss()
    out["rss_after_fit"] = current_rss()
    out["ll_per_row"] = float(res.log_likelihood / len(df))
    print(json.dumps(out))


def run_child(path: Path, iters: int, trace: bool, memory_mb: float | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path),
           "--iters", str(iters)] + (["--trace"] if trace else [])
    if memory_mb is not None:
        cmd += ["--memory-mb", str(memory_mb)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="alarm")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mb", type=float,
                        help="bnem.fit's memory_mb (analysis kept between iterations); "
                             "default: bnem's own default")
    parser.add_argument("--no-tracemalloc", dest="tracemalloc", action="store_false")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.iters, args.trace, args.memory_mb)
        return

    net = common.load_network(args.network)
    t0 = time.perf_counter()
    df = net.sample(args.rows, seed=args.seed, missing=args.missing)
    common.log(f"sampled {args.rows} rows of {args.network} ({args.missing:.0%} MCAR) "
               f"in {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.pkl"
        with open(path, "wb") as f:
            pickle.dump((net, df), f, protocol=pickle.HIGHEST_PROTOCOL)
        del df
        r = run_child(path, args.iters, False, args.memory_mb)
        t = run_child(path, args.iters, True, args.memory_mb) if args.tracemalloc else None

    fit_share = r["peak_after_fit"] - r["rss_data"]
    rows = [
        ("RSS after imports (python, numpy, pandas, bnem)", r["rss_imports"]),
        ("RSS after loading the DataFrame", r["rss_data"]),
        ("  the DataFrame itself (memory_usage deep)", r["df_bytes"]),
        ("peak RSS of the process (ru_maxrss, after fit)", r["peak_after_fit"]),
        ("  fit's share: peak minus RSS before the fit", fit_share),
        ("RSS after the fit returned", r["rss_after_fit"]),
    ]
    if t is not None:
        rows.append(("peak of the fit's allocations (tracemalloc, separate run)",
                     t["traced_peak"]))
    print(f"\nbnem.fit on {args.network}, {args.rows:,} rows, {args.missing:.0%} MCAR, "
          f"{args.iters} iterations, one thread, memory_mb="
          f"{'default' if args.memory_mb is None else f'{args.memory_mb:g}'}")
    print(common.format_table([{"what": k, "MB": f"{v / MB:,.0f}"} for k, v in rows],
                              [("what", "measure"), ("MB", "MB")]))
    print(f"\ncompile + first E-step {r['compile_seconds']:.2f} s, "
          f"{r['per_iter_seconds']:.2f} s/iteration, whole fit {r['fit_seconds']:.2f} s; "
          f"log-likelihood {r['ll_per_row']:.4f}/row")
    verdict = "meets" if r["peak_after_fit"] < 1024 * MB else "MISSES"
    print(f"target: peak < 1 GB (1024 MB) -> {verdict} ({r['peak_after_fit'] / MB:,.0f} MB)")


if __name__ == "__main__":
    main()
