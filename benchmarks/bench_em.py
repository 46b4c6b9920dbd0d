"""Seconds per EM iteration, single thread: bnem vs pyAgrum (and pgmpy where it can run).

Cases (``--cases``; ``--quick`` shrinks them):

* ``alarm-1k``, ``alarm-10k``: alarm, 20% of cells missing completely at random;
* ``child-5k-latent``: child with ``Disease`` hidden (column absent), nothing else missing;
* ``insurance-5k``: insurance, 20% MCAR.

Every tool starts from the same CPDs: bnem's seeded random start, written with
``bnem.write_bif`` and loaded by pyAgrum (no start noise) and given to pgmpy as
``init_cpds``. State names are sanitised for pyAgrum's parser (child has ``<5``,
``Asy/Patch``...) and the data renamed accordingly, for every tool. All tools use the
same Dirichlet pseudo-count (``--prior``; pyAgrum raises without one when a parent
configuration never appears among the available cases).

Timing:

* bnem: a fixed-iteration fit (``tol=0``); seconds per iteration = mean step of
  ``history.seconds`` after iteration 0; the compile cost = ``history.seconds`` at
  iteration 0 (data encoding, plan, and the E-step that evaluates the start). Median
  of ``--bnem-repeat`` runs.
* pyAgrum: marginal cost ``(t_n - t_1) / (n - 1)`` between a 1-iteration run and its
  tolerance run (diff criterion ``tol * rows`` on its own log-likelihood, capped by
  ``--peer-max-iter`` and the time budget ``--peer-budget``), ``t`` = ``learnParameters``.
* pgmpy (latent-only data): marginal cost between runs of ``--pgmpy-iters`` and 1
  iterations. pgmpy drops every row with a missing cell, so it cannot run the MCAR cases;
  the number of rows it would drop is reported instead.

Quality: every returned network is scored with bnem's exact observed-data
log-likelihood on the same rows, next to bnem's own after the same number of iterations
(from the same start, exact EM should agree) and bnem's converged fit (``--tol``).

Usage::

    python benchmarks/bench_em.py                 # all four cases (~15 min, mostly pyAgrum)
    python benchmarks/bench_em.py --quick         # smaller rows and budgets (~2 min)
    python benchmarks/bench_em.py --cases alarm-1k,child-5k-latent --json out.json
"""

from __future__ import annotations

import common  # noqa: F401,I001  (first: pins BLAS/OpenMP threads before numpy loads)

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import bnem

from common import (bnem_converge, bnem_timing, fmt_seconds, format_table, import_pyagrum,
                    ll_per_row, load_network, log, marginal, pgmpy_dropped_rows, pgmpy_em,
                    pyagrum_em, random_start, sanitise, write_pyagrum_csv)

CASES = {
    "alarm-1k": {"network": "alarm", "rows": 1_000, "missing": 0.2, "hide": ()},
    "alarm-10k": {"network": "alarm", "rows": 10_000, "missing": 0.2, "hide": ()},
    "child-5k-latent": {"network": "child", "rows": 5_000, "missing": 0.0, "hide": ("Disease",)},
    "insurance-5k": {"network": "insurance", "rows": 5_000, "missing": 0.2, "hide": ()},
}
QUICK_ROWS = {"alarm-1k": 1_000, "alarm-10k": 2_000, "child-5k-latent": 1_000,
              "insurance-5k": 1_000}
# Seconds per iteration asked for in the issue (bnem), for reference.
TARGETS = {"alarm-10k": 0.020, "child-5k-latent": 0.003, "insurance-5k": 0.100}


def run_case(name: str, spec: dict, args, tmp: Path) -> dict:
    rows = spec["rows"]
    net, renamed = sanitise(load_network(spec["network"]))
    df = net.sample(rows, seed=args.seed, missing=spec["missing"], hide=list(spec["hide"]))
    start = random_start(net, df, seed=args.seed + 1)
    start_bif, csv = tmp / f"{name}-start.bif", tmp / f"{name}.csv"
    bnem.write_bif(start, start_bif)
    write_pyagrum_csv(df, net, csv)
    n_missing = int(df.isna().to_numpy().sum())
    log(f"\n== {name}: {spec['network']}, {rows} rows, {len(df.columns)} of {len(net.nodes)} "
        f"columns, {n_missing / df.size:.1%} cells missing, latent {list(spec['hide']) or '-'}; "
        f"{sum(a != b for m in renamed.values() for a, b in m.items())} state names sanitised")
    label = name if rows == CASES[name]["rows"] else f"{spec['network']}-{rows}" + (
        "-latent" if spec["hide"] else "")
    out = {"case": label, "network": spec["network"], "rows": rows,
           "missing": spec["missing"], "latent": list(spec["hide"]),
           "start_ll": ll_per_row(start, df), "quality": [], "notes": []}

    # bnem: timing, then a tolerance run for final quality.
    t = bnem_timing(start, df, args.bnem_iters, args.prior, repeat=args.bnem_repeat)
    out.update(bnem_per_iter=t["per_iter"], bnem_compile=t["compile"],
               bnem_total=t["total"], bnem_timing_iters=t["n_iter"])
    log(f"bnem   : {fmt_seconds(t['per_iter'])}/iteration over {t['n_iter']} iterations, "
        f"compile + first E-step {fmt_seconds(t['compile'])}, whole fit {fmt_seconds(t['total'])}")
    c = bnem_converge(start, df, args.tol, args.max_iter, args.prior)
    out["bnem_final_ll"] = c["ll"]
    out["quality"].append({"tool": "bnem", "run": f"tol {args.tol:g}/row",
                           "iters": c["n_iter"], "ll": c["ll"], "bnem_ll_same_iters": c["ll"],
                           "stopped": "converged" if c["converged"] else "max_iter"})
    log(f"bnem   : tolerance run {c['n_iter']} iterations in {c['seconds']:.3f} s, "
        f"log-likelihood {c['ll']:.6f}/row (start {out['start_ll']:.6f})")

    def bnem_ll_after(n: int) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = bnem.fit(start, df, max_iter=n, tol=0.0, init="network", prior=args.prior,
                             accelerate="none")
        return ll_per_row(r.network, df)

    if args.pyagrum:
        run_pyagrum(out, start_bif, csv, df, rows, args, bnem_ll_after)
    if args.pgmpy:
        run_pgmpy(out, start, df, args, bnem_ll_after)
    return out


def run_pyagrum(out, start_bif, csv, df, rows, args, bnem_ll_after):
    try:
        one = pyagrum_em(start_bif, csv, 1, args.prior)
        log(f"pyAgrum: 1 iteration {one['seconds']:.2f} s ({one['message']})")
        long = pyagrum_em(start_bif, csv, args.peer_max_iter, args.prior,
                          eps=args.tol * rows, max_seconds=args.peer_budget)
        log(f"pyAgrum: tolerance run {long['n_iter']} iterations {long['seconds']:.2f} s "
            f"({long['message']})")
    except Exception as exc:  # report a failing peer, do not hide it
        out["pyagrum_error"] = f"{type(exc).__name__}: {exc}"
        log(f"pyAgrum FAILED: {out['pyagrum_error']}")
        return
    out["pyagrum_t1"], out["pyagrum_tn"], out["pyagrum_n"] = (one["seconds"], long["seconds"],
                                                               long["n_iter"])
    if long["n_iter"] >= 2:
        out["pyagrum_per_iter"] = marginal(one["seconds"], long["seconds"], long["n_iter"])
        out["pyagrum_ratio"] = out["pyagrum_per_iter"] / out["bnem_per_iter"]
    for run, label in ((one, "1 iteration"),
                       (long, f"diff {args.tol:g}*rows, <= {args.peer_max_iter} it, "
                              f"<= {args.peer_budget:g} s")):
        ll = ll_per_row(run["network"], df)
        out["quality"].append({"tool": "pyAgrum", "run": label, "iters": run["n_iter"], "ll": ll,
                               "bnem_ll_same_iters": bnem_ll_after(run["n_iter"]),
                               "stopped": run["message"]})
    out["pyagrum_final_ll"] = out["quality"][-1]["ll"]
    log(f"pyAgrum: {fmt_seconds(out.get('pyagrum_per_iter'))}/iteration (marginal), final "
        f"log-likelihood {out['pyagrum_final_ll']:.6f}/row after {long['n_iter']} iterations")


def run_pgmpy(out, start, df, args, bnem_ll_after):
    dropped = pgmpy_dropped_rows(df)
    if dropped:
        out["pgmpy_error"] = (f"not run: pgmpy's EM drops rows with a missing cell "
                              f"({dropped} of {len(df)} rows here)")
        log(f"pgmpy  : {out['pgmpy_error']}")
        return
    k = args.pgmpy_iters
    try:
        one = pgmpy_em(start, df, 1, args.prior)
        many = pgmpy_em(start, df, k, args.prior)
    except Exception as exc:
        out["pgmpy_error"] = f"{type(exc).__name__}: {exc}"
        log(f"pgmpy FAILED: {out['pgmpy_error']}")
        return
    out["pgmpy_t1"], out["pgmpy_tk"] = one["seconds"], many["seconds"]
    out["pgmpy_per_iter"] = marginal(one["seconds"], many["seconds"], k)
    out["pgmpy_ratio"] = out["pgmpy_per_iter"] / out["bnem_per_iter"]
    for run, n in ((one, 1), (many, k)):
        ll = ll_per_row(run["network"], df)
        out["quality"].append({"tool": "pgmpy", "run": f"{n} iteration(s)", "iters": n, "ll": ll,
                               "bnem_ll_same_iters": bnem_ll_after(n), "stopped": "max_iter"})
    out["pgmpy_final_ll"] = out["quality"][-1]["ll"]
    log(f"pgmpy  : 1 iteration {one['seconds']:.2f} s, {k} iterations {many['seconds']:.2f} s "
        f"-> {fmt_seconds(out['pgmpy_per_iter'])}/iteration; log-likelihood "
        f"{out['pgmpy_final_ll']:.6f}/row after {k}")


def report(results: list[dict], args) -> str:
    timing = []
    for r in results:
        timing.append({
            "case": r["case"], "rows": r["rows"],
            "bnem s/iter": fmt_seconds(r["bnem_per_iter"]),
            "bnem compile": fmt_seconds(r["bnem_compile"]),
            "target": fmt_seconds(TARGETS[r["case"]]) if r["case"] in TARGETS else "-",
            "pyAgrum s/iter": (fmt_seconds(r["pyagrum_per_iter"]) if "pyagrum_per_iter" in r
                               else _short(r.get("pyagrum_error", "not run"))),
            "pyAgrum/bnem": f"{r['pyagrum_ratio']:.0f}x" if "pyagrum_ratio" in r else "-",
            "pgmpy s/iter": (fmt_seconds(r["pgmpy_per_iter"]) if "pgmpy_per_iter" in r
                             else _short(r.get("pgmpy_error", "not run"))),
            "pgmpy/bnem": f"{r['pgmpy_ratio']:.0f}x" if "pgmpy_ratio" in r else "-",
            "bnem LL/row": f"{r['bnem_final_ll']:.4f}",
            "pyAgrum LL/row": (f"{r['pyagrum_final_ll']:.4f} ({r['pyagrum_n']} it)"
                               if "pyagrum_final_ll" in r else "-"),
            "pgmpy LL/row": (f"{r['pgmpy_final_ll']:.4f} ({args.pgmpy_iters} it)"
                             if "pgmpy_final_ll" in r else "-"),
        })
    cols = list(timing[0])
    text = ["Seconds per EM iteration (single thread) and final log-likelihood per row",
            format_table(timing, [(c, c) for c in cols]), "",
            "Log-likelihood per row of every returned network (bnem's exact scorer), next to "
            "bnem's after the same number of iterations from the same start"]
    quality = []
    for r in results:
        quality.append({"case": r["case"], "tool": "start", "run": "-", "iters": 0,
                        "LL/row": f"{r['start_ll']:.6f}", "bnem same iters": "-",
                        "stopped": "-"})
        for q in r["quality"]:
            quality.append({"case": r["case"], "tool": q["tool"], "run": q["run"],
                            "iters": q["iters"], "LL/row": f"{q['ll']:.6f}",
                            "bnem same iters": f"{q['bnem_ll_same_iters']:.6f}",
                            "stopped": q["stopped"]})
    text.append(format_table(quality, [(c, c) for c in quality[0]]))
    notes = [f"- {r['case']}: pgmpy {r['pgmpy_error']}" for r in results if "pgmpy_error" in r]
    notes += [f"- {r['case']}: pyAgrum {r['pyagrum_error']}" for r in results
              if "pyagrum_error" in r]
    if notes:
        text += ["", "Notes:"] + notes
    return "\n".join(text)


def _short(msg: str) -> str:
    return "not run" if msg.startswith("not run") else "failed"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rows and a short pyAgrum budget (a smoke run)")
    parser.add_argument("--rows", type=int, help="override the number of rows of every case")
    parser.add_argument("--seed", type=int, default=0, help="data seed; the start uses seed+1")
    parser.add_argument("--prior", type=float, default=1e-3, help="Dirichlet pseudo-count")
    parser.add_argument("--tol", type=float, default=1e-5, help="nats per row")
    parser.add_argument("--max-iter", type=int, default=1000, help="bnem tolerance run cap")
    parser.add_argument("--bnem-iters", type=int, default=20, help="bnem timing iterations")
    parser.add_argument("--bnem-repeat", type=int, default=5,
                        help="bnem timing runs (the median is reported)")
    parser.add_argument("--peer-max-iter", type=int, default=200)
    parser.add_argument("--peer-budget", type=float, default=150.0,
                        help="seconds for each pyAgrum tolerance run (EMsetMaxTime)")
    parser.add_argument("--pgmpy-iters", type=int, default=3)
    parser.add_argument("--no-pyagrum", dest="pyagrum", action="store_false")
    parser.add_argument("--no-pgmpy", dest="pgmpy", action="store_false")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.peer_budget = min(args.peer_budget, 20.0)
        args.pgmpy_iters = min(args.pgmpy_iters, 2)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")

    versions = {"bnem": bnem.__version__, "python": platform.python_version()}
    if args.pyagrum:
        versions["pyagrum"] = import_pyagrum().__version__
    if args.pgmpy:
        import pgmpy
        versions["pgmpy"] = pgmpy.__version__
    log(f"versions: {versions}; threads: OMP_NUM_THREADS=1 etc., pyAgrum setNumberOfThreads(1)")
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = dict(CASES[name])
            if args.quick:
                spec["rows"] = QUICK_ROWS[name]
            if args.rows:
                spec["rows"] = args.rows
            results.append(run_case(name, spec, args, Path(tmp)))
    print()
    print(report(results, args))
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, {versions}; "
          f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"versions": versions, "args": vars(args) | {
            "json": str(args.json)}, "results": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
