"""DataFrame-level inference used by ``BayesianNetwork.log_prob`` and friends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.encode import encode
from ..errors import ImpossibleRowError
from .engine import ImpossibleRows, node_marginals, row_log_prob
from .evidence import analyse, plan_chunks
from .gaussian import max_chunk_rows
from .hybrid import hybrid_node_marginals, hybrid_row_log_prob, joints
from .structure import Structure

CHUNK_ROWS = 50_000


def _chunks(network, data):
    """Yield ``(encoded table, chunk slice, chunk evidence, log parameters, joints)``;
    ``joints`` are the components' Gaussians (None for a discrete network)."""
    structure = Structure.of(network)
    enc = encode(data, list(network.variables.values()))
    with np.errstate(divide="ignore"):
        log_theta = np.log(network.flat_params())
    gauss = joints(structure, network.gaussian_cpds) if structure.components else None
    cache = {}
    variables = list(network.variables.values())
    for sl in plan_chunks(structure, enc.codes, max_chunk_rows(structure, CHUNK_ROWS), cache,
                          lambda r: enc.describe_row(r, variables)):
        yield enc, sl, analyse(structure, enc.codes[sl], enc.weights[sl], cache,
                               values=enc.values[sl]), log_theta, gauss


def _row_log_prob(ev, log_theta, gauss):
    if gauss is None:
        return row_log_prob(ev, log_theta)
    return hybrid_row_log_prob(ev, log_theta, gauss)


def log_prob(network, data) -> np.ndarray:
    """Per-row log P(observed part of the row), shape ``(len(data),)``.

    Missing cells and latent nodes are summed out exactly. A row that is impossible
    under the network gets ``-inf`` (it is a valid answer here, not an error).
    """
    parts = []
    enc = None
    for enc, _, ev, log_theta, gauss in _chunks(network, data):
        try:
            parts.append(_row_log_prob(ev, log_theta, gauss))
        except ImpossibleRows:
            parts.append(_log_prob_with_zeros(ev, log_theta, gauss))
    distinct = np.concatenate(parts)
    return distinct[enc.inverse]


def _log_prob_with_zeros(ev, log_theta, gauss):
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
        sub = analyse(ev.structure, ev.codes[keep], ev.weights[keep],
                      values=None if ev.values is None else ev.values[keep])
        try:
            out[keep] = _row_log_prob(sub, log_theta, gauss)
            break
        except ImpossibleRows as exc:
            bad[keep[exc.rows]] = True
    out[bad] = -np.inf
    return out


def log_likelihood(network, data) -> float:
    """Total observed-data log-likelihood of ``data`` (``-inf`` if a row is impossible)."""
    return float(np.sum(log_prob(network, data)))


def posterior(network, data, node: str) -> pd.DataFrame:
    """P(node | observed part of each row): one column per state, indexed like ``data``.

    Raises
    ------
    ImpossibleRowError
        If a row has probability zero under the network (its posterior is undefined).
    """
    i = network.discrete_index(node)
    parts = []
    enc = None
    for enc, sl, ev, log_theta, gauss in _chunks(network, data):
        try:
            parts.append(node_marginals(ev, log_theta, i) if gauss is None
                         else hybrid_node_marginals(ev, log_theta, i, gauss))
        except ImpossibleRows as exc:
            desc = enc.describe_row(sl.start + int(exc.rows[0]), list(network.variables.values()))
            raise ImpossibleRowError(
                f"{desc} has probability zero under the network, so P({node} | row) is "
                "undefined") from None
    probs = np.concatenate(parts)[enc.inverse]
    return pd.DataFrame(probs, index=data.index, columns=list(network.states(node)))
