"""Fitting data that live in files, in bounded memory and on a Dask cluster.
=========================================================================

Writes ALARM rows (20% of cells missing) as several Parquet files, then learns the
CPDs three ways from the same random start:

1. in memory, from one DataFrame;
2. from the files, read in batches with a small memory budget (``memory_mb``): the
   encoded rows and the analysis beyond the budget go to a temporary folder on disk;
3. on a local Dask cluster of two worker processes, from ``dask.dataframe.read_parquet``
   (skipped with ``--no-dask`` or when Dask is not installed).

All three give the same log-likelihood trace and CPDs (the printed differences are
rounding, around 1e-15 relative).

    python examples/parquet_and_dask.py --rows 200000 --parts 4
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings

import numpy as np

import bnem



def fit(net, data, iters, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bnem.ConvergenceWarning)
        t = time.perf_counter()
        res = bnem.fit(net, data, max_iter=iters, seed=0, **kw)
    return res, time.perf_counter() - t


def fits(net, df, folder, args) -> dict:
    """The three fits of the same rows (written to Parquet files in ``folder``)."""
    step = -(-len(df) // args.parts)
    for k in range(args.parts):
        df.iloc[k * step:(k + 1) * step].to_parquet(f"{folder}/part-{k:03d}.parquet")
    pattern = f"{folder}/*.parquet"
    results = {"in memory": fit(net, df, args.iters)}
    results["files"] = fit(net, pattern, args.iters, memory_mb=args.memory_mb)
    if args.no_dask:
        return results
    try:
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster
    except ImportError:
        print("Dask is not installed (pip install 'bnem[dask]'): skipping the cluster")
        return results
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=50) as cluster, Client(cluster):
        results["dask, 2 workers"] = fit(net, dd.read_parquet(pattern), args.iters)
    return results


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--parts", type=int, default=4)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--memory-mb", type=float, default=64.0)
    p.add_argument("--no-dask", action="store_true")
    args = p.parse_args(argv)

    net = bnem.load_network("alarm")
    df = net.sample(args.rows, seed=1, missing=0.2)
    with tempfile.TemporaryDirectory(prefix="bnem-example-") as folder:
        results = fits(net, df, folder, args)

    base = results["in memory"][0]
    out = {"results": {k: r for k, (r, _) in results.items()}}
    for name, (res, seconds) in results.items():
        ll = res.history["log_likelihood"].to_numpy()
        rel = np.max(np.abs(ll / base.history["log_likelihood"].to_numpy() - 1))
        dp = np.max(np.abs(res.network.flat_params() - base.network.flat_params()))
        out[name] = {"seconds": seconds, "ll_rel_diff": float(rel), "cpd_diff": float(dp)}
        print(f"{name:16s} {seconds:7.2f} s  final log-likelihood {res.log_likelihood:.6f}  "
              f"history rel. diff {rel:.1e}  CPD max diff {dp:.1e}")
    return out


if __name__ == "__main__":
    main()
