"""Vectorised, seeded forward sampling (network layer)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._validation import check_float, check_int, check_seed
from ..errors import NetworkError

_CHUNK = 200_000


def sample_codes(network, n: int, rng: np.random.Generator) -> np.ndarray:
    """Integer state codes of ``n`` forward samples, shape ``(n, n_nodes)``."""
    dtype = np.int16 if int(network.cards.max()) < 2 ** 15 else np.int32
    codes = np.empty((n, len(network.nodes)), dtype=dtype)
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        block = codes[start:stop]
        for node in network.topological_order:
            i = network.index(node)
            table = network.cpd(node).values
            card = table.shape[-1]
            pids = list(network.parent_ids[i])
            config = (np.ravel_multi_index(tuple(block[:, pids].T), table.shape[:-1])
                      if pids else np.zeros(stop - start, dtype=np.int64))
            cum = np.cumsum(table.reshape(-1, card), axis=1)
            cum[:, -1] = np.inf  # guard against round-off below 1
            u = rng.random(stop - start)
            block[:, i] = (u[:, None] >= cum[config]).sum(axis=1)
    return codes


def sample(network, n: int, seed=None, missing: float = 0.0, hide=()) -> pd.DataFrame:
    """Forward-sample ``n`` complete rows, then optionally blank cells and hide columns.

    Parameters
    ----------
    network : BayesianNetwork
    n : int
        Number of rows (>= 1).
    seed : int or numpy Generator, optional
        Same seed, same table.
    missing : float
        Fraction of the remaining cells blanked completely at random (NaN).
    hide : sequence of str
        Nodes whose column is dropped (latent variables).

    Returns
    -------
    pandas.DataFrame
        One categorical column per visible node; categories are the state names.

    Raises
    ------
    NetworkError
        If ``hide`` names an unknown node.
    """
    n = check_int(n, "n", minimum=1)
    missing = check_float(missing, "missing", minimum=0.0, maximum=1.0)
    hide = [hide] if isinstance(hide, str) else list(hide)
    for h in hide:
        if h not in network.nodes:
            raise NetworkError(f"cannot hide {h!r}: not a node; nodes are {list(network.nodes)}")
    if len(set(hide)) == len(network.nodes):
        raise NetworkError("cannot hide every node: the table would have no columns")
    rng = check_seed(seed)
    codes = sample_codes(network, n, rng)
    keep = [i for i, node in enumerate(network.nodes) if node not in hide]
    columns = {}
    for i in keep:
        col = codes[:, i].copy()
        if missing > 0:
            col[rng.random(n) < missing] = -1
        node = network.nodes[i]
        columns[node] = pd.Categorical.from_codes(col, categories=list(network.states(node)))
    return pd.DataFrame(columns)
