"""Inference on whole sources, behind ``BayesianNetwork.log_prob`` and friends
(inference layer). One pass over the data path of :mod:`bnem.inference.dataset`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..data.source import EncodedSource, encode_source, is_dask_collection
from ..errors import BnemTypeError, BnemValueError, ImpossibleRowError
from ..network.bayesnet import as_network
from ..network.parameters import Parameters
from .budget import MemoryBudget
from .compiled import CompiledNetwork, ImpossibleRows, Prepared, compile
from .dataset import describe_row, iter_analysed
from .evidence import ChunkEvidence
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
    if is_dask_collection(data):
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
                distinct[ref.part].append(_log_prob_with_zeros(compiled, ev, prepared))
        return source.per_row([np.concatenate(d) for d in distinct])
    finally:
        source.close()


def _prepared(network: "BayesianNetwork",
              data: object) -> tuple[CompiledNetwork, EncodedSource, Prepared]:
    """The network compiled, the data encoded and the network's parameters prepared."""
    compiled = compile(network)
    source = encode_source(data, list(network.variables.values()))
    return compiled, source, compiled.prepare(Parameters.of(network))


def _log_prob_with_zeros(compiled: CompiledNetwork, ev: ChunkEvidence,
                         prepared: Prepared) -> np.ndarray:
    """Rows impossible under the network get -inf; the rest are evaluated normally.

    Each failed pass names some impossible rows; they are masked out and the pass is
    repeated on the remaining rows (a few passes at most in practice).
    """
    out = np.empty(ev.n_rows)
    bad = np.zeros(ev.n_rows, dtype=bool)
    while True:
        keep = np.flatnonzero(~bad)
        if keep.size == 0:
            break
        sub = compiled.analyse(ev.codes[keep], ev.weights[keep],  # (barren cells stay marked)
                               None if ev.values is None else ev.values[keep], keep_assign=False)
        try:
            out[keep] = compiled.log_prob(sub, prepared)
            break
        except ImpossibleRows as exc:
            bad[keep[exc.rows]] = True
    out[bad] = -np.inf
    return out


def log_likelihood(network: "BayesianNetwork", data: object) -> float:
    """Total observed-data log-likelihood of ``data`` (``-inf`` if a row is impossible)."""
    scores = log_prob(network, data)
    if is_dask_collection(data):
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
    if is_dask_collection(data):
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


def most_probable(network: "BayesianNetwork", data: object,
                  budget: MemoryBudget = MemoryBudget()) -> tuple[pd.DataFrame, np.ndarray]:
    """The most probable explanation of each row: the joint state of all its missing
    discrete variables (latent nodes too) maximising ``P(missing, observed)``, by
    max-product over the clique tree (:mod:`bnem.inference.mpe`).

    Returns
    -------
    (DataFrame, ndarray)
        One column per discrete node (categorical, its states), each row completed,
        indexed like ``data``; and per row ``max log P(missing, observed)``.

    Raises
    ------
    ImpossibleRowError
        If a row has probability zero under the network.
    """
    network = as_network(network, "most_probable", needs_cpds=True)
    if is_dask_collection(data):
        raise BnemTypeError("most_probable takes a DataFrame or data files; for a Dask "
                            "DataFrame, map it over the partitions (ddf.map_partitions)")
    if network.continuous_nodes:
        raise BnemValueError("most_probable covers discrete networks for now; "
                             f"{list(network.continuous_nodes)[:3]} are Gaussian nodes")
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
