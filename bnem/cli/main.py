"""``bnem`` command: fit, sample, loglik, info.

User errors (bad files, bad arguments, data that does not match the network) exit
with code 2 and a one-line message, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings

from ..errors import BnemError, BnemValueError

logger = logging.getLogger("bnem")

NETWORK_FILES = ".bif, .json, .xml, .uai, .net; any of them .gz"
INITS = ["random", "uniform", "network", "complete-case", "k-means++", "random-rows",
         "random-resp"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bnem", description="Learn Bayesian-network parameters by EM from incomplete data.")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="learn CPDs by EM; writes a BIF or JSON file")
    f.add_argument("network", help=f"network file ({NETWORK_FILES})")
    f.add_argument("data", help="CSV file; header = node names; missing: see --missing")
    f.add_argument("-o", "--output", required=True,
                   help="learned network: .json or .json.gz (any network), or .bif or "
                        ".bif.gz (discrete networks only)")
    f.add_argument("--history", help="write the per-iteration trace as CSV")
    f.add_argument("--max-iter", type=int, default=200)
    f.add_argument("--tol", type=float, default=1e-6, help="per-row log-likelihood gain to stop")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--init", default=None, choices=INITS,
                   help="start (default: random for a discrete network, k-means++ for a "
                        "hybrid one)")
    f.add_argument("--n-init", type=int, default=1, help="random restarts (keep the best)")
    f.add_argument("--prior", type=float, default=0.0, help="Dirichlet pseudo-count (MAP-EM)")
    f.add_argument("--min-variance", type=float, default=None,
                   help="floor of the Gaussian nodes' variances (default 1e-6; 0 disables it)")
    _missing_option(f)
    f.add_argument("--progress", action="store_true", help="one-line progress display")
    f.add_argument("--cache-mb", type=float, default=512.0,
                   help="memory for the evidence analysis kept between iterations; beyond "
                        "it, chunks are re-analysed every iteration (default 512)")

    s = sub.add_parser("sample", help="forward-sample a CSV from a network")
    s.add_argument("network", help=f"network file ({NETWORK_FILES})")
    s.add_argument("-n", "--rows", type=int, required=True)
    s.add_argument("-o", "--output", required=True, help="CSV file")
    s.add_argument("--missing", type=float, default=0.0,
                   help="fraction of cells blanked completely at random")
    s.add_argument("--hide", nargs="*", default=[], help="nodes whose column is dropped")
    s.add_argument("--seed", type=int, default=None)
    s.add_argument("--marker", default="", help="text written for a missing cell (default empty)")

    ll = sub.add_parser("loglik", help="observed-data log-likelihood of a CSV")
    ll.add_argument("network", help=f"network file ({NETWORK_FILES})")
    ll.add_argument("data")
    ll.add_argument("--per-row", help="write per-row log P(observed) as CSV")
    _missing_option(ll)

    i = sub.add_parser("info", help="nodes, edges, parameters and the inference plan")
    i.add_argument("network", help=f"network file ({NETWORK_FILES})")
    return p


def _missing_option(p):
    p.add_argument("--missing", nargs="*", default=["?", "", "NA"],
                   help="cell texts that mean missing (default: ? '' NA)")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    warnings.simplefilter("default")
    logging.captureWarnings(True)
    shown = logging.getLogger("py.warnings")  # warnings (non-convergence, degenerate
    shown.handlers[:] = [handler]             # statistics) are shown even with -q
    shown.propagate = False
    try:
        return {"fit": _fit, "sample": _sample, "loglik": _loglik, "info": _info}[args.command](args)
    except BrokenPipeError:  # e.g. `bnem info net.bif | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (BnemError, OSError, ValueError, TypeError) as exc:
        # user errors: one line, exit code 2 (library bugs still show a traceback)
        if not isinstance(exc, (BnemError, OSError)) and not _is_user_error(exc):
            raise
        print(f"bnem {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _is_user_error(exc) -> bool:
    return isinstance(exc, (ValueError, TypeError)) and type(exc).__module__.startswith("bnem")


def _check_writable(path, option, inputs=()):
    """Fail before any work if ``path`` cannot be written as a file, or is one of the
    ``inputs`` (which it would overwrite)."""
    for given in inputs:
        if os.path.exists(given) and os.path.exists(path) and os.path.samefile(path, given):
            raise BnemValueError(f"{option} {path!r} is an input file ({given!r}); writing it "
                                 "would destroy the input. Choose another name.")
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise BnemValueError(f"{option} {path!r} is a directory; expected a file name")
    if not os.path.isdir(folder):
        raise BnemValueError(f"{option} {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise BnemValueError(f"{option} {path!r}: folder {folder!r} is not writable")


def _read(path):
    from ..io.formats import read_network
    return read_network(path)


def _states(network):
    return {n: network.states(n) for n in network.nodes}


def _fit(args) -> int:
    from ..data.table import read_table
    from ..em.loop import fit

    inputs = (args.network, args.data)
    _check_writable(args.output, "-o/--output", inputs)
    if args.history:
        _check_writable(args.history, "--history", inputs)
        if os.path.abspath(args.history) == os.path.abspath(args.output):
            raise BnemValueError("--history and -o name the same file; the trace would "
                                 "overwrite the learned network")
    network = _read(args.network)
    write = _writer(args.output, network)
    data = read_table(args.data, missing=args.missing, states=_states(network))
    logger.info("fitting %s (%d nodes) to %s (%d rows, %d columns)", args.network,
                len(network.nodes), args.data, len(data), data.shape[1])
    extra = {} if args.min_variance is None else {"min_variance": args.min_variance}
    res = fit(network, data, max_iter=args.max_iter, tol=args.tol, seed=args.seed,
              init=args.init, n_init=args.n_init, prior=args.prior, progress=args.progress,
              cache_mb=args.cache_mb, **extra)
    write(res.network, args.output)
    if args.history:
        res.history.to_csv(args.history, index=False)
    per_iter = res.history["seconds"].diff().iloc[1:].mean() if res.n_iter else None
    print(res.summary() + (f"; {per_iter:.4f} s per iteration" if per_iter is not None else ""))
    print(f"wrote {args.output}" + (f" and {args.history}" if args.history else ""))
    return 0


def _writer(path, network):
    """``write_json`` for a ``.json``/``.json.gz`` name, ``write_bif`` for ``.bif``/``.bif.gz``
    (discrete networks only); any other name is refused."""
    name = os.path.basename(path).lower()
    if name.removesuffix(".gz").endswith(".json"):
        from ..io.json_format import write_json
        return write_json
    if not name.removesuffix(".gz").endswith(".bif"):
        raise BnemValueError(
            f"-o/--output {path!r}: the learned network is written as BIF (.bif, .bif.gz) or "
            "JSON (.json, .json.gz), chosen by the extension; got neither")
    if network.is_hybrid:
        cont = list(network.continuous_nodes)
        raise BnemValueError(
            f"-o/--output {path!r} would be BIF, which holds discrete networks only, but the "
            f"network has {len(cont)} continuous node(s) ({', '.join(cont[:3])}"
            f"{', ...' if len(cont) > 3 else ''}); name the output .json (or .json.gz)")
    from ..io.bif_write import write_bif
    return write_bif


def _sample(args) -> int:
    from ..network.sampling import sample

    _check_writable(args.output, "-o/--output", (args.network,))
    network = _read(args.network)
    clash = [n for n in network.nodes if args.marker in network.states(n)]
    if args.missing > 0 and clash:
        raise BnemValueError(f"--marker {args.marker!r} is a state of {clash[0]!r}: missing cells "
                             "would read back as that state; choose another marker")
    t0 = time.perf_counter()
    df = sample(network, args.rows, seed=args.seed, missing=args.missing, hide=args.hide)
    df.to_csv(args.output, index=False, na_rep=args.marker)
    logger.info("wrote %d rows x %d columns to %s in %.2f s", len(df), df.shape[1], args.output,
                time.perf_counter() - t0)
    return 0


def _loglik(args) -> int:
    import numpy as np
    import pandas as pd

    from ..data.table import read_table
    from ..inference.api import log_prob

    if args.per_row:
        _check_writable(args.per_row, "--per-row", (args.network, args.data))
    network = _read(args.network)
    data = read_table(args.data, missing=args.missing, states=_states(network))
    lp = log_prob(network, data)
    total = float(np.sum(lp))
    print(f"log-likelihood {total:.10g} ({total / len(lp):.10g} per row, {len(lp)} rows)")
    if args.per_row:
        pd.DataFrame({"log_prob": lp}).to_csv(args.per_row, index=False)
    return 0


def _info(args) -> int:
    from ..inference.evidence import network_plan
    from ..inference.structure import Structure

    network = _read(args.network)
    structure = Structure.of(network)
    print(f"network {network.name!r}: {len(network.nodes)} nodes, {len(network.edges)} edges, "
          f"{network.n_parameters} free parameters")
    if network.discrete_nodes:
        plan = network_plan(structure)
        d = plan.describe()
        print(f"clique tree (min-fill): {d['cliques']} cliques, total size {d['total_size']}, "
              f"largest {d['largest']} entries")
        print(f"clique sizes: {sorted(plan.clique_sizes, reverse=True)}")
    components = structure.components
    if components:
        print(f"continuous: {len(network.continuous_nodes)} Gaussian nodes in "
              f"{len(components)} component(s); largest {max(c.m for c in components)} nodes; "
              f"discrete configurations per component up to {max(c.size for c in components)}")
    for node in network.nodes:
        parents = network.parents(node)
        kind = "gaussian" if node in network.continuous_nodes else network.variable(node).card
        print(f"  {node} [{kind}]" + (f" <- {', '.join(parents)}" if parents else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
