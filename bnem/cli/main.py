"""``bnem`` command: fit, sample, loglik, info, posterior, impute, select, se, networks.

User errors (bad files, bad arguments, data that does not match the network) exit
with code 2 and a one-line message, without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from ..errors import BnemError, BnemValueError
from ..locks import output_locks

logger = logging.getLogger("bnem")

NETWORK_FILES = ".bif, .json, .xml, .uai, .net; any of them .gz; or a bundled network's name"



def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bnem", description="Learn Bayesian-network parameters by EM from incomplete data.")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"bnem {_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    f = sub.add_parser("fit", help="learn CPDs by EM; writes a BIF or JSON file")
    f.add_argument("network", help=f"network file ({NETWORK_FILES})")
    f.add_argument("data", help="data: a CSV or Parquet file, a folder of them, or a quoted "
                   "glob pattern ('parts/*.parquet'); read in batches, so any size fits in "
                   "--memory-mb; CSV header = node names; missing: see --missing")
    f.add_argument("-o", "--output", required=True,
                   help="learned network: .json or .json.gz (any network), or .bif or "
                        ".bif.gz (discrete networks only)")
    f.add_argument("--history", help="write the per-iteration trace as CSV")
    _fit_options(f)
    _missing_option(f)
    f.add_argument("--weights", metavar="COLUMN", default=None,
                   help="a data column of row weights (e.g. the frequency of each response "
                        "pattern); it is not a node")
    _sequence_options(f, "the network is its two slices (v[0], v[1]), learned by "
                         "forward-backward over its hidden chain without unrolling")
    f.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="per-iteration log lines on standard error: text, or one JSON object "
                        "per iteration (restart, iteration, log_likelihood, objective, delta, "
                        "seconds, n_estep, step) for log collectors")
    cluster = f.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, default=None, metavar="N",
                         help="run the E-steps on a local Dask cluster of N worker processes "
                              "(needs bnem[dask]); its dashboard address is printed")
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run the E-steps on the Dask cluster at ADDRESS (e.g. "
                              "tcp://host:8786; needs bnem[dask])")
    f.add_argument("--cache-mb", type=float, default=None, dest="cache_mb",
                   help="deprecated name of --memory-mb")

    s = sub.add_parser("sample", help="forward-sample a CSV from a network")
    s.add_argument("network", help=f"network file ({NETWORK_FILES})")
    s.add_argument("-n", "--rows", type=int, required=True)
    s.add_argument("-o", "--output", required=True, help="CSV file")
    s.add_argument("--missing", type=float, default=0.0,
                   help="fraction of cells blanked completely at random")
    s.add_argument("--hide", nargs="*", default=[], help="nodes whose column is dropped")
    s.add_argument("--seed", type=int, default=0,
                   help="random seed (default 0, as for fit: the same command gives the same rows)")
    s.add_argument("--marker", default="", help="text written for a missing cell (default empty)")

    ll = sub.add_parser("loglik", help="observed-data log-likelihood of a CSV")
    ll.add_argument("network", help=f"network file ({NETWORK_FILES})")
    ll.add_argument("data", help="CSV or Parquet file(s): a file, a folder or a quoted glob")
    ll.add_argument("--per-row", help="write per-row log P(observed) as CSV")
    _missing_option(ll)

    i = sub.add_parser("info", help="nodes, edges, parameters and the inference plan")
    i.add_argument("network", help=f"network file ({NETWORK_FILES})")

    po = sub.add_parser("posterior", help="P(node | each row's observed cells), as CSV")
    po.add_argument("network", help=f"network file ({NETWORK_FILES}), e.g. a learned one")
    po.add_argument("data", help="CSV or Parquet file(s): a file, a folder or a quoted glob")
    po.add_argument("node", help="a discrete node (latent or with missing cells)")
    po.add_argument("-o", "--output", required=True,
                    help="CSV: one row per data row, one column per state")
    _missing_option(po)

    im = sub.add_parser("impute", help="fill the missing cells of a CSV file")
    im.add_argument("network", help=f"network file ({NETWORK_FILES}), e.g. a learned one")
    im.add_argument("data", help="a CSV file")
    im.add_argument("-o", "--output", required=True, help="CSV: the data, missing cells filled")
    im.add_argument("--method", choices=["map", "mean", "sample", "mpe"], default="map",
                    help="map: each cell's most probable state (continuous: conditional mean "
                         "under the most probable completion); mean: continuous cells' "
                         "posterior mean; sample: a joint draw per row; mpe: each row's most "
                         "probable joint completion (discrete networks) (default map)")
    im.add_argument("--seed", type=int, default=0, help="for --method sample")
    _missing_option(im)

    se = sub.add_parser("select", help="choose a latent node's number of states "
                                       "(AIC, BIC, SABIC, CAIC, entropy R^2)")
    se.add_argument("network", help=f"network file ({NETWORK_FILES})")
    se.add_argument("data", help="CSV or Parquet file(s): a file, a folder or a quoted glob")
    se.add_argument("node", help="the latent discrete node whose number of states varies")
    se.add_argument("--states", required=True, metavar="K1,K2,..|A-B",
                    help="numbers of states to try: a list (2,3,4) or a range (1-5)")
    se.add_argument("--n-init", type=int, default=10, help="restarts per number of states "
                                                            "(default 10)")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--max-iter", type=int, default=200)
    se.add_argument("-o", "--output", default=None, help="also write the table as CSV")
    _missing_option(se)

    er = sub.add_parser("se", help="standard errors of a network's parameters on data")
    er.add_argument("network", help=f"network file ({NETWORK_FILES}), e.g. a learned one")
    er.add_argument("data", help="the data it was learned from: CSV or Parquet file(s)")
    er.add_argument("-o", "--output", required=True,
                    help="CSV: node, parents, state, estimate, se")
    er.add_argument("--method", choices=["hessian", "opg"], default="hessian",
                    help="observed information (hessian, default) or the outer product of "
                         "the rows' scores (opg, what poLCA reports)")
    _missing_option(er)

    vi = sub.add_parser("viterbi", help="most probable hidden path of each sequence (an "
                                        "HMM or dynamic network unrolled over time)")
    vi.add_argument("network", help=f"network file ({NETWORK_FILES}), e.g. a learned HMM")
    vi.add_argument("data", help="CSV, one row per sequence, columns y[0], y[1], ...")
    vi.add_argument("-o", "--output", required=True,
                    help="CSV: the path (columns state[0], state[1], ...) and log_prob")
    vi.add_argument("--hidden", default=None,
                    help="the hidden variable (default state; with --sequence, the chain "
                         "that joins the two slices)")
    _sequence_options(vi, "the network is its two slices (v[0], v[1]); the output has one "
                          "line per step (sequence, step, state, log_prob of its path)")
    _missing_option(vi)

    sub.add_parser("networks", help="list the bundled networks (usable by name)")
    return p


def _sequence_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--sequence", metavar="COLUMN", default=None,
                   help="long format: a CSV with one line per time step and this column "
                        f"naming each line's sequence; {what}")
    p.add_argument("--time", metavar="COLUMN", default=None,
                   help="with --sequence: the column of time steps (lines are sorted by "
                        "it; a gap is an error). Without it, each sequence's lines are "
                        "taken in file order")


def _sequences(args, network):
    """The long-format CSV of ``--sequence``/``--time`` as :class:`Sequences`."""
    import numpy as np
    import pandas as pd

    from ..data.sequences import Sequences, read_steps

    if args.time is not None and args.sequence is None:
        raise BnemValueError("--time needs --sequence (the column naming each line's "
                             "sequence)")
    spec = _data_files(args)
    frame = read_steps(spec)
    for column in frame.columns:  # a continuous variable's cells as numbers
        node = f"{column}[0]"
        if node in network.nodes and node in network.continuous_nodes:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = numbers.isna() & frame[column].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                where = f"line {frame.index[i]}" if len(spec.paths) == 1 and \
                    spec.kind == "csv" else f"row {i}"
                raise BnemValueError(f"{args.data}, {where}: {column!r} is continuous, "
                                     f"but the cell holds {frame[column].iloc[i]!r}")
            frame[column] = numbers
    return Sequences(frame, sequence=args.sequence, time=args.time)


def _fit_options(p: argparse.ArgumentParser) -> None:
    """The ``fit`` flags, from the one table of fit options (``bnem.em.options``)."""
    from ..em.options import OPTIONS

    types: dict[str, Callable[[str], Any]] = {
        "int": int, "float": float, "seed": int, "path": str, "folder": str,
        "nodes": _node_list, "step": _step_text}
    for o in OPTIONS:
        if not o.cli:
            continue
        if o.kind == "bool":
            p.add_argument(o.flag, action="store_true", help=o.help)
        elif o.kind == "choice":
            # scikit-learn's name for the k-means++ start is accepted too
            extra = ["kmeans"] if o.name == "init" else []
            p.add_argument(o.flag, default=o.default, choices=list(o.choices) + extra,
                           help=o.help)
        else:
            shown = "" if o.default is None or o.kind in ("nodes", "step") else \
                f" (default {o.default:g})"
            p.add_argument(o.flag, type=types[o.kind], default=o.default, help=o.help + shown)


def _step_text(text: str) -> Any:
    """``ALPHA,T0`` -> ``(alpha, t0)``; one number -> a constant step."""
    parts = [t.strip() for t in text.split(",")]
    try:
        numbers = [float(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ALPHA,T0 or one number, got {text!r}") \
            from None
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:
        return tuple(numbers)
    raise argparse.ArgumentTypeError(f"expected ALPHA,T0 or one number, got {text!r}")


def _node_list(text: str) -> tuple:
    """``A,B,C`` -> the node names (spaces around names dropped)."""
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _fit_kwargs(args: argparse.Namespace) -> dict:
    from ..em.options import OPTIONS
    from ..inference.budget import DEFAULT_MEMORY_MB

    kwargs = {o.name: getattr(args, o.name) for o in OPTIONS if o.cli}
    if args.cache_mb is not None:
        if args.memory_mb != DEFAULT_MEMORY_MB:
            raise BnemValueError("--cache-mb is the deprecated name of --memory-mb; give "
                                 "--memory-mb only")
        logger.warning("--cache-mb is deprecated; use --memory-mb (one memory budget)")
        kwargs["memory_mb"] = args.cache_mb
    return kwargs


def _missing_option(p):
    p.add_argument("--missing", nargs="*", default=["?", "", "NA"],
                   help="cell texts that mean missing (default: ? '' NA)")
    p.add_argument("--sep", default=None, metavar="CHAR",
                   help="field separator of CSV files (default: ',' and tab for .tsv); "
                        r"'\t' is a tab")


def _separator(text: str | None) -> str | None:
    if text is None:
        return None
    sep = "\t" if text in ("\\t", "tab", "TAB") else text
    if len(sep) != 1:
        raise BnemValueError(f"--sep must be one character (or '\\t' for a tab), got {text!r}")
    return sep


def _version() -> str:
    from .. import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            # warnings (non-convergence, degenerate statistics) are shown even with -q,
            # as one line each: no Python file, line number or source line
            warnings.simplefilter("default")
            warnings.showwarning = _one_line(args.command,
                                             getattr(args, "log_format", "text") == "json")
            command = {"fit": _fit, "sample": _sample, "loglik": _loglik, "info": _info,
                       "posterior": _posterior, "impute": _impute, "select": _select,
                       "se": _standard_errors, "networks": _networks,
                       "viterbi": _viterbi}
            return command[args.command](args)
    except KeyboardInterrupt:  # before or after EM (EM itself stops cleanly, see _fit)
        print(f"bnem {args.command}: interrupted", file=sys.stderr)
        return 130
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


def _one_line(command: str, as_json: bool = False):
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if as_json:
            import json
            text = json.dumps({"warning": category.__name__, "message": str(message)})
        else:
            text = f"bnem {command}: {category.__name__}: {message}"
        print(text, file=sys.stderr)
    return show


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
    """A network file, or a bundled network by name (when no file has that name)."""
    from ..io.bundled import load_network, network_names
    from ..io.formats import read_network

    if not os.path.exists(path):
        if os.sep not in path and "/" not in path and \
                path.strip().lower().split(".")[0] in network_names():
            return load_network(path)
        raise BnemValueError(
            f"network file {path!r} does not exist (looked in {os.getcwd()}); expected a "
            f"network file ({NETWORK_FILES.split('; or')[0]}) or the name of a bundled "
            "network (bnem networks lists them)")
    return read_network(path)


def _data_files(args):
    from ..data.files import files
    return files(args.data, missing=args.missing, sep=_separator(args.sep))


def _posterior(args) -> int:
    from ..inference.api import posterior

    _check_writable(args.output, "-o/--output", (args.network, args.data))
    network = _read(args.network)
    if args.node not in network.discrete_nodes:
        raise BnemValueError(f"node {args.node!r} is not a discrete node of the network; "
                             f"discrete nodes are {list(network.discrete_nodes)[:20]}")
    table = posterior(network, _data_files(args), args.node)
    _write_csv(table, args.output)  # one line per data row, in order
    logger.info("wrote P(%s | row) for %d rows to %s", args.node, len(table), args.output)
    return 0


def _impute(args) -> int:
    from ..data.encode import encode
    from ..data.table import read_table
    from ..inference.impute import impute

    _check_writable(args.output, "-o/--output", (args.network, args.data))
    network = _read(args.network)
    sep = _separator(args.sep) or ("\t" if args.data.lower().endswith(".tsv") else ",")
    data = read_table(args.data, missing=args.missing, sep=sep, network=network)
    _label_lines(data, args.data, sep)
    nodes = [c for c in data.columns if c in network.nodes]  # other columns pass through
    encode(data[nodes], [network.variable(n) for n in network.nodes])  # every cell checked
    filled = impute(network, data, method=args.method, seed=args.seed)
    _write_csv(filled, args.output, na_rep="")
    logger.info("filled %d missing cell(s) of %d rows; wrote %s",
                int(data[[c for c in data.columns if c in network.nodes]].isna().sum().sum()),
                len(data), args.output)
    return 0


def _label_lines(data, path: str, sep: str) -> None:
    """Name ``data``'s rows by the line of ``path`` they come from (header: line 1), when
    every record is one line (no blank line, no quote); otherwise leave them."""
    import pandas as pd

    from ..data.encode import LINE
    from ..data.files import check_widths

    blanks: list[int] = []
    if check_widths(path, sep, data.shape[1], blanks) and not any(blanks):
        data.index = pd.RangeIndex(2, len(data) + 2, name=LINE)


def _state_counts(text: str) -> list[int]:
    try:
        if "-" in text:
            lo, hi = (int(t) for t in text.split("-", 1))
            return list(range(lo, hi + 1))
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise BnemValueError(f"--states {text!r}: expected numbers of states as a list "
                             "(2,3,4) or a range (1-5)") from None


def _select(args) -> int:
    from ..models.selection import select_cardinality

    if args.output:
        _check_writable(args.output, "-o/--output", (args.network, args.data))
    network = _read(args.network)
    table = select_cardinality(network, _data_files(args), args.node, _state_counts(args.states),
                               n_init=args.n_init, seed=args.seed, max_iter=args.max_iter)
    print(table.to_string())
    best = table.attrs.get("best", {})
    if best:
        print("best number of states: " + ", ".join(f"{k} {v}" for k, v in best.items()))
    if args.output:
        _write_csv(table.reset_index() if table.index.name else table, args.output)
    return 0


def _standard_errors(args) -> int:
    from ..em.information import standard_errors

    _check_writable(args.output, "-o/--output", (args.network, args.data))
    network = _read(args.network)
    table = standard_errors(network, _data_files(args), method=args.method)
    _write_csv(table, args.output)
    logger.info("wrote %d standard errors to %s", len(table), args.output)
    return 0


def _viterbi(args) -> int:
    from ..data.table import read_table
    from ..models.sequences import viterbi

    _check_writable(args.output, "-o/--output", (args.network, args.data))
    network = _read(args.network)
    if args.sequence is not None or args.time is not None:
        import numpy as np
        import pandas as pd

        from ..inference.chain import viterbi_path

        from ..inference.chain import slices_of

        chain, _ = slices_of(network)
        if args.hidden is not None and args.hidden != chain:
            raise BnemValueError(f"--hidden {args.hidden!r}: with --sequence the path decoded "
                                 f"is the chain that joins the slices, {chain!r}; drop "
                                 "--hidden or give that name")
        seqs = _sequences(args, network)
        states, best = viterbi_path(network, seqs)
        names = np.array(network.states(f"{chain}[0]") + (None,), dtype=object)
        table = pd.DataFrame({"sequence": np.repeat(np.asarray(seqs.ids, dtype=object),
                                                    seqs.lengths),
                              args.time or "step": seqs.times,
                              chain: names[states],
                              "log_prob": np.repeat(best, seqs.lengths)})
        _write_csv(table, args.output, na_rep="")
        logger.info("wrote the most probable paths of %d sequence(s) to %s", len(seqs),
                    args.output)
        return 0
    sep = _separator(args.sep) or ("\t" if args.data.lower().endswith(".tsv") else ",")
    data = read_table(args.data, missing=args.missing, sep=sep, network=network)
    _label_lines(data, args.data, sep)
    path, logp = viterbi(network, data, hidden=args.hidden or "state")
    _write_csv(path.assign(log_prob=logp), args.output)
    logger.info("wrote the most probable paths of %d sequence(s) to %s", len(path), args.output)
    return 0


def _networks(args) -> int:
    from ..io.bundled import network_path, network_names

    for name in network_names():
        print(f"{name:12s} {network_path(name).name}")
    return 0


def _states(network):
    return {n: network.states(n) for n in network.nodes}


def _fit(args) -> int:
    inputs = (args.network, args.data)
    _check_writable(args.output, "-o/--output", inputs)
    if args.history:
        _check_writable(args.history, "--history", inputs)
        if os.path.realpath(args.history) == os.path.realpath(args.output):
            raise BnemValueError("--history and -o name the same file; the trace would "
                                 "overwrite the learned network")
    outputs = {os.path.realpath(p) for p in (args.output, args.history) if p}
    for flag, path in (("--checkpoint", args.checkpoint), ("--resume", args.resume)):
        if path is None:
            continue
        if flag == "--checkpoint" or os.path.exists(path):
            _check_writable(path, flag, inputs)
        if os.path.realpath(path) in outputs:
            raise BnemValueError(f"{flag} {path!r} is also an output (-o or --history); "
                                 "choose another name")
    with output_locks({"-o/--output": args.output, "--history": args.history,
                       "--checkpoint": args.checkpoint}):
        return _fit_locked(args)


def _fit_locked(args) -> int:
    """``bnem fit`` once its outputs are checked and locked."""
    from ..data.files import files
    from ..em.loop import fit, with_forms
    from ..em.options import validate

    json_log = args.log_format == "json"
    if json_log:  # JSON lines (iterations, warnings) replace the text log on stderr
        logger.setLevel(max(logger.level, logging.WARNING))
    network = _read(args.network)
    write = _writer(args.output, network)
    opts = validate(_fit_kwargs(args), network.is_hybrid)  # options fail before the data
    network = with_forms(network, opts)                       # are read, --fixed,
                                                              # --noisy-or and --poisson
    if opts.fixed:
        network.fix(opts.fixed)
    if args.sequence is not None or args.time is not None:
        if args.workers is not None or args.scheduler is not None or args.weights:
            raise BnemValueError("--sequence reads one CSV of time steps in this process; "
                                 "drop --workers, --scheduler and --weights")
        res = fit(network, _sequences(args, network), history_path=args.history,
                  callback=_json_line if json_log else None, **_fit_kwargs(args))
        return _report_fit(args, res, write)
    data = files(args.data, missing=args.missing, sep=_separator(args.sep))  # read in batches
    logger.info("fitting %s (%d nodes) to %s (%d file(s))", args.network,
                len(network.nodes), args.data, len(data.paths))
    with _cluster(args) as client, warnings.catch_warnings():
        if client is not None:  # Dask's and pandas' own deprecation notices: not the user's
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=FutureWarning)
        source = data if client is None else _on_dask(data, network)
        res = fit(network, source, history_path=args.history, sample_weight=args.weights,
                  callback=_json_line if json_log else None, client=client,
                  **_fit_kwargs(args))
    return _report_fit(args, res, write)


def _report_fit(args, res, write) -> int:
    """Write the learned network and the trace; say how the fit ended."""
    write(res.network, args.output)
    history = res.history
    last = len(res.restarts) - 1  # the restart Ctrl-C stopped
    best = int(res.best_restart)
    if res.interrupted and best == last:  # the trace says where it was stopped
        history = history.assign(status=[""] * (len(history) - 1) + ["interrupted"])
    if args.history:
        _write_csv(history, args.history)
    wrote = f"wrote {args.output}" + (f" and {args.history}" if args.history else "")
    if res.interrupted:
        where = f"after iteration {res.restarts['n_iter'].iloc[-1]}" + \
            (f" of restart {last}" if last else "")
        kept = f"restart {best}'s, the best so far" if best != last else "the best so far"
        reason = "Ctrl-C" if res.stop_signal in (None, "SIGINT") else res.stop_signal
        print(f"interrupted ({reason}) {where}: {wrote} (parameters and history of {kept})",
              file=sys.stderr)
        return 128 + int(getattr(signal, res.stop_signal or "SIGINT"))
    per_iter = history["seconds"].diff().iloc[1:].mean() if res.n_iter else None
    print(res.summary() + (f"; {per_iter:.4f} s per iteration" if per_iter is not None else ""))
    print(wrote)
    return 0


@contextlib.contextmanager
def _cluster(args):
    """The Dask client of --workers (a LocalCluster, closed afterwards) or --scheduler;
    None without either."""
    if args.workers is None and args.scheduler is None:
        yield None
        return
    if args.workers is not None and args.workers < 1:
        raise BnemValueError(f"--workers must be at least 1, got {args.workers}")
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise BnemValueError("--workers and --scheduler need Dask: pip install "
                             "'bnem[dask]'") from None
    if args.scheduler is not None:
        try:
            client = Client(args.scheduler, timeout=30)
        except (OSError, TimeoutError, ValueError) as exc:
            raise BnemValueError(f"cannot reach the Dask scheduler at {args.scheduler!r}: "
                                 f"{exc}") from None
        with client:
            logger.info("Dask scheduler %s: %d worker(s)", args.scheduler,
                        len(client.scheduler_info(n_workers=-1)["workers"]))
            yield client
        return
    from ..em.distributed import without_malloc_trim
    without_malloc_trim()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        yield client


def _on_dask(data, network):
    from ..em.distributed import files_to_dask
    return files_to_dask(data, _states(network))


def _write_csv(df, path: str, **kwargs) -> None:
    """``df`` as CSV, written atomically (a reader never sees half a file)."""
    from ..atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        df.to_csv(handle, index=False, **kwargs)


def _json_line(progress) -> bool:
    """One JSON object per iteration on standard error (NaN and infinities as null)."""
    import dataclasses
    import json
    import math

    record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in dataclasses.asdict(progress).items()}
    print(json.dumps(record), file=sys.stderr, flush=True)
    return False


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
    _write_csv(df, args.output, na_rep=args.marker)
    logger.info("wrote %d rows x %d columns to %s in %.2f s", len(df), df.shape[1], args.output,
                time.perf_counter() - t0)
    return 0


def _loglik(args) -> int:
    import numpy as np
    import pandas as pd

    from ..data.files import files
    from ..inference.api import log_prob

    if args.per_row:
        _check_writable(args.per_row, "--per-row", (args.network, args.data))
    network = _read(args.network)
    data = files(args.data, missing=args.missing, sep=_separator(args.sep))
    lp = log_prob(network, data)
    total = float(np.sum(lp))
    print(f"log-likelihood {total:.10g} ({total / len(lp):.10g} per row, {len(lp)} rows)")
    zero = np.flatnonzero(np.isneginf(lp))
    if zero.size:
        print(f"bnem loglik: data row {zero[0]} (counting from 0 after the header"
              f"{', over the files in name order' if len(data.paths) > 1 else ''}) "
              f"has probability zero under the network ({zero.size} row(s) in all); see "
              "--per-row", file=sys.stderr)
    if args.per_row:
        _write_csv(pd.DataFrame({"log_prob": lp}), args.per_row)
    return 0


def _info(args) -> int:
    from ..inference.compiled import compile

    network = _read(args.network)
    compiled = compile(network)
    print(f"network {network.name!r}: {len(network.nodes)} nodes, {len(network.edges)} edges, "
          f"{network.n_parameters} free parameters")
    d = compiled.describe()
    if network.discrete_nodes:
        print(f"clique tree (min-fill): {d['cliques']} cliques, total size {d['total_size']}, "
              f"largest {d['largest']} entries")
        print(f"clique sizes: {d['clique_sizes']}")
    components = d["components"]
    if components:
        print(f"continuous: {len(network.continuous_nodes)} Gaussian nodes in "
              f"{len(components)} component(s); largest {max(len(c['nodes']) for c in components)} "
              "nodes; discrete configurations per component up to "
              f"{max(c['configurations'] for c in components)}")
    for line in _blocks_text(network):
        print(line)
    for node in network.nodes:
        parents = network.parents(node)
        kind = "gaussian" if node in network.continuous_nodes else network.variable(node).card
        print(f"  {node} [{kind}]" + (f" <- {', '.join(parents)}" if parents else ""))
    return 0


def _blocks_text(network) -> list[str]:
    """Lines naming the network's shared, held and tied blocks (none: no lines)."""
    c = network.constraints
    lines = [f"shared {name!r}" + ("" if c.shares_all(name) else " (variance)") + ": "
             + ", ".join(members) for name, members in c.shared.items()]
    fixed = network.fixed_nodes
    if fixed:
        lines.append("fixed: " + ", ".join(fixed))
    partly = [n for n in c.held if n not in fixed]
    if partly:
        lines.append("held entries: " + ", ".join(
            f"{n} ({int(network.held_mask(n).sum())})" for n in partly))
    if c.tied:
        lines.append("tied covariance: " + ", ".join(c.tied))
    for kind in dict.fromkeys(f.kind for f in c.forms.values()):
        lines.append(f"{kind}: " + "; ".join(
            f.describe(n, network.parents(n) + (n,),
                       {v: network.states(v) for v in network.parents(n) + (n,)})
            for n, f in c.of_kind(kind).items()))
    return lines


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
