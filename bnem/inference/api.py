"""Inference on whole sources, behind ``BayesianNetwork.log_prob`` and friends
(inference layer). One pass over the data path of :mod:`bnem.inference.dataset`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.source import EncodedSource, Kind, as_source, encode_source
from ..data.variables import value_label
from ..errors import BnemTypeError, BnemValueError, DataError, ImpossibleRowError
from ..network.bayesnet import as_network
from ..network.parameters import Parameters
from .budget import MemoryBudget
from .compiled import CompiledNetwork, ImpossibleRows, Prepared, compile
from .dataset import describe_row, iter_analysed
from .mpe import most_probable as _most_probable_chunk

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork


def log_prob(network: "BayesianNetwork", data: object,
             budget: MemoryBudget = MemoryBudget()) -> np.ndarray:
    """Per-row log P(observed part of the row), shape ``(n_rows,)``.

    Missing cells and latent nodes are summed out exactly. A row that is impossible
    under the network gets ``-inf`` (it is a valid answer here, not an error). For a
    Dask DataFrame: a lazy Dask Series in the input's partitioning.
    """
    if as_source(data).kind is Kind.DASK:
        def part(frame: pd.DataFrame) -> pd.Series:
            values = log_prob(network, frame, budget) if len(frame) else np.zeros(0)
            return pd.Series(values, index=frame.index, name="log_prob")
        return data.map_partitions(part, meta=pd.Series(dtype=float, name="log_prob"))  # type: ignore[attr-defined]
    compiled, source, prepared = _prepared(network, data)
    distinct: list[list[np.ndarray]] = [[] for _ in source.parts]
    barren = not compiled.structure.components  # exact, and fewer entries to sum
    try:
        for ref, ev in iter_analysed(compiled, source, budget, barren=barren):
            try:
                distinct[ref.part].append(compiled.log_prob(ev, prepared))
            except ImpossibleRows:
                distinct[ref.part].append(compiled.log_prob_or_minus_inf(ev, prepared))
        return source.per_row([np.concatenate(d) for d in distinct])
    finally:
        source.close()


def _prepared(network: "BayesianNetwork",
              data: object) -> tuple[CompiledNetwork, EncodedSource, Prepared]:
    """The network compiled, the data encoded and the network's parameters prepared."""
    compiled = compile(network)
    source = encode_source(data, list(network.variables.values()))
    return compiled, source, compiled.prepare(Parameters.of(network))


def log_likelihood(network: "BayesianNetwork", data: object) -> float:
    """Total observed-data log-likelihood of ``data`` (``-inf`` if a row is impossible)."""
    scores = log_prob(network, data)
    if as_source(data).kind is Kind.DASK:
        return float(scores.sum().compute())
    return float(np.sum(scores))


def posterior(network: "BayesianNetwork", data: object, node: str,
              budget: MemoryBudget = MemoryBudget()) -> pd.DataFrame:
    """P(node | observed part of each row): one column per state, indexed like ``data``.

    Raises
    ------
    ImpossibleRowError
        If a row has probability zero under the network (its posterior is undefined).
    """
    i = network.discrete_index(node)
    if as_source(data).kind is Kind.DASK:
        states = list(network.states(node))

        def part(frame: pd.DataFrame) -> pd.DataFrame:
            if len(frame) == 0:
                return pd.DataFrame(np.zeros((0, len(states))), index=frame.index, columns=states)
            return posterior(network, frame, node, budget)
        meta = pd.DataFrame({s: pd.Series(dtype=float) for s in states})
        return data.map_partitions(part, meta=meta)  # type: ignore[attr-defined]
    compiled, source, prepared = _prepared(network, data)
    distinct: list[list[np.ndarray]] = [[] for _ in source.parts]
    try:
        for ref, ev in iter_analysed(compiled, source, budget, keep_assign=True):
            try:
                distinct[ref.part].append(compiled.marginals(ev, prepared, i))
            except ImpossibleRows as exc:
                desc = describe_row(compiled, source, ref.part,
                                    ref.rows.start + int(exc.rows[0]))
                raise ImpossibleRowError(
                    f"{desc} has probability zero under the network, so P({node} | row) is "
                    "undefined") from None
        probs = source.per_row([np.concatenate(d) for d in distinct])
        return pd.DataFrame(probs, index=source.index, columns=list(network.states(node)))
    finally:
        source.close()


def interface_posteriors(network: "BayesianNetwork", data: pd.DataFrame,
                         budget: MemoryBudget = MemoryBudget()) -> list[np.ndarray]:
    """Per continuous component of a hybrid network (in the order of its structure),
    ``(n_rows, K)``: the posterior of the component's interface configuration (its
    discrete parents jointly, C order) given each row.

    Raises
    ------
    ImpossibleRowError
        If a row has probability zero under the network.
    """
    compiled, source, prepared = _prepared(network, data)
    n_comp = len(compiled.structure.components)
    distinct: list[list[list[np.ndarray]]] = [[[] for _ in source.parts] for _ in range(n_comp)]
    try:
        for ref, ev in iter_analysed(compiled, source, budget):
            try:
                posts = compiled.interface_posteriors(ev, prepared)
            except ImpossibleRows as exc:
                desc = describe_row(compiled, source, ref.part,
                                    ref.rows.start + int(exc.rows[0]))
                raise ImpossibleRowError(f"{desc} has probability zero under the network, so "
                                         "its posterior is undefined") from None
            for c, post in enumerate(posts):
                distinct[c][ref.part].append(post)
        return [source.per_row([np.concatenate(d) for d in per_part]) for per_part in distinct]
    finally:
        source.close()


def most_probable(network: "BayesianNetwork", data: object, nodes: object = None,
                  budget: MemoryBudget = MemoryBudget()) -> tuple[pd.DataFrame, np.ndarray]:
    """The most probable explanation of each row: the joint state of all its missing
    discrete variables (latent nodes too) maximising ``P(missing, observed)``, by
    max-product over the clique tree (:mod:`bnem.inference.mpe`).

    With ``nodes`` (some discrete nodes), the maximum a posteriori state of those
    nodes alone where a row misses them, every other unobserved variable (discrete or
    Gaussian) summed out: ``max P(nodes, observed)``. Each row's candidate states are
    enumerated and scored by exact inference, so the nodes a row misses may have at
    most 100,000 joint states, and the time grows with rows times states (identical
    rows are scored once); this works for networks with Gaussian nodes too. Ties go to
    the first state in the network's order. ``data`` is then a pandas DataFrame.

    Returns
    -------
    (DataFrame, ndarray)
        One column per discrete node (or per node of ``nodes``; categorical, its
        states), each row completed, indexed like ``data``; and per row
        ``max log P(missing, observed)`` (with ``nodes``: ``max log P(nodes,
        observed)``).

    Raises
    ------
    ImpossibleRowError
        If a row has probability zero under the network.
    """
    network = as_network(network, "most_probable", needs_cpds=True)
    if isinstance(nodes, MemoryBudget):  # the older positional order (network, data, budget)
        budget = nodes
        nodes = None
    if as_source(data).kind is Kind.DASK:
        raise BnemTypeError("most_probable takes a DataFrame (or, without nodes=, data "
                            "files); for a Dask DataFrame, map it over the partitions "
                            "(ddf.map_partitions)")
    if nodes is not None:
        return _most_probable_of(network, data, nodes, budget)
    if network.continuous_nodes:
        raise BnemValueError("most_probable over every missing variable covers discrete "
                             f"networks; {list(network.continuous_nodes)[:3]} are Gaussian "
                             "nodes. Give nodes=[...] (discrete nodes) for their most "
                             "probable states with the rest summed out")
    compiled, source, prepared = _prepared(network, data)
    best: list[list[np.ndarray]] = [[] for _ in source.parts]
    codes: list[list[np.ndarray]] = [[] for _ in source.parts]
    try:
        for ref, ev in iter_analysed(compiled, source, budget, keep_assign=True):
            try:
                b, c = _most_probable_chunk(ev, prepared.log_theta)
            except ImpossibleRows as exc:
                desc = describe_row(compiled, source, ref.part,
                                    ref.rows.start + int(exc.rows[0]))
                raise ImpossibleRowError(f"{desc} has probability zero under the network, "
                                         "so it has no most probable explanation") from None
            best[ref.part].append(b)
            codes[ref.part].append(c)
        log_max = source.per_row([np.concatenate(d) for d in best])
        completed = source.per_row([np.concatenate(d) for d in codes])
        frame = pd.DataFrame({node: pd.Categorical.from_codes(completed[:, i].astype(np.int64),
                                                              pd.Index(network.states(node)))
                              for i, node in enumerate(network.discrete_nodes)},
                             index=source.index)
        return frame, log_max
    finally:
        source.close()


MAX_CONFIGURATIONS = 100_000  # joint states of a row's missing query nodes, enumerated
EXPANDED_ROWS = 200_000       # rows x candidate states scored at a time


def _most_probable_of(network: "BayesianNetwork", data: object, nodes: object,
                      budget: MemoryBudget) -> tuple[pd.DataFrame, np.ndarray]:
    """:func:`most_probable` with ``nodes``: each row's candidate states of the query
    nodes it misses, scored by :func:`log_prob` (exact, the rest summed out)."""
    if not isinstance(data, pd.DataFrame):
        raise BnemTypeError(f"most_probable(..., nodes=) takes a pandas DataFrame, got "
                            f"{type(data).__name__}")
    if not isinstance(nodes, str) and not hasattr(nodes, "__iter__"):
        raise BnemTypeError(f"nodes must be a node name or a list of them, got {nodes!r}")
    names = [nodes] if isinstance(nodes, str) else list(nodes)
    if not names or len(set(names)) != len(names):
        raise BnemValueError(f"nodes must name distinct discrete nodes, got {nodes!r}")
    wrong = [n for n in names if n not in network.discrete_nodes]
    if wrong:
        raise BnemValueError(f"nodes {wrong} are not discrete nodes of the network "
                             f"(discrete nodes: {list(network.discrete_nodes)[:10]})")
    if len(data) == 0:
        raise DataError("the data table is empty (0 rows); expected at least one row")
    log_prob(network, data, budget)  # every cell checked, errors naming the user's rows
    hashed = pd.util.hash_pandas_object(data.astype(object), index=False).to_numpy()
    _, first, back = np.unique(hashed, return_index=True, return_inverse=True)
    frame = data.iloc[first].reset_index(drop=True)  # identical rows scored once
    n_rows = len(frame)
    miss = np.column_stack([frame[n].isna().to_numpy() if n in frame.columns
                            else np.ones(n_rows, dtype=bool) for n in names])
    cards = [len(network.states(n)) for n in names]
    codes = np.full((n_rows, len(names)), -1, dtype=np.int64)
    best = np.full(n_rows, -np.inf)
    patterns, inverse = np.unique(miss, axis=0, return_inverse=True)
    sizes = [int(np.prod([cards[j] for j in range(len(names)) if pattern[j]]))
             for pattern in patterns]
    for k, n_conf in enumerate(sizes):  # all checked before any work
        if n_conf > MAX_CONFIGURATIONS:
            row = int(first[np.flatnonzero(inverse.ravel() == k)[0]])
            raise BnemValueError(f"the nodes {[n for n, m in zip(names, patterns[k]) if m]} "
                                 f"missing in row {data.index[row]!r} have {n_conf:,} joint "
                                 f"states, more than the {MAX_CONFIGURATIONS:,} most_probable "
                                 "enumerates; ask for fewer nodes")
    expanded = max(1_000, min(EXPANDED_ROWS,  # rows x states at a time, within the budget
                              int(budget.cache_bytes // (64 * max(1, frame.shape[1])))))
    for k, pattern in enumerate(patterns):
        rows = np.flatnonzero(inverse.ravel() == k)
        free = [j for j in range(len(names)) if pattern[j]]
        n_conf = sizes[k]
        grid = np.indices([cards[j] for j in free]).reshape(len(free), -1).T if free \
            else np.zeros((1, 0), dtype=np.int64)
        per = max(1, expanded // n_conf)
        for start in range(0, rows.size, per):
            r = rows[start:start + per]
            block = frame.iloc[np.repeat(r, n_conf)].reset_index(drop=True)
            for col, j in enumerate(free):
                states = np.array(network.states(names[j]), dtype=object)
                block[names[j]] = states[np.tile(grid[:, col], r.size)]
            scores = log_prob(network, block, budget).reshape(r.size, n_conf)
            arg = scores.argmax(axis=1)
            best[r] = scores[np.arange(r.size), arg]
            codes[np.ix_(r, np.asarray(free, dtype=np.int64))] = grid[arg]
    for j, n in enumerate(names):  # the query cells a row has: as given
        seen = ~miss[:, j]
        if seen.any():
            index = {s: i for i, s in enumerate(network.states(n))}
            codes[seen, j] = [index[value_label(v)] for v in frame[n].to_numpy()[seen]]
    codes, best = codes[back.ravel()], best[back.ravel()]  # every row again
    bad = np.flatnonzero(~np.isfinite(best))
    if bad.size:
        raise ImpossibleRowError(f"row {data.index[bad[0]]!r} has probability zero under the "
                                 "network whatever the states of the nodes it misses, so it "
                                 f"has no most probable explanation ({bad.size} such row(s))")
    out = pd.DataFrame({n: pd.Categorical.from_codes(codes[:, j], pd.Index(network.states(n)))
                        for j, n in enumerate(names)}, index=data.index)
    return out, best
