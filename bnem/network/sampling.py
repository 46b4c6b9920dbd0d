"""Vectorised, seeded forward sampling (network layer)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd

from .._validation import check_float, check_int, check_seed
from ..errors import BnemValueError, NetworkError
from .cpd import TabularCPD

if TYPE_CHECKING:
    from .bayesnet import BayesianNetwork

_CHUNK = 200_000


def sample_codes(network: BayesianNetwork, n: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Forward samples: integer codes of the discrete nodes, shape ``(n, n_discrete)``,
    and values of the continuous nodes, shape ``(n, n_continuous)``."""
    big = network.cards.size and int(network.cards.max()) >= 2 ** 15
    codes = np.empty((n, len(network.discrete_nodes)), dtype=np.int32 if big else np.int16)
    values = np.empty((n, len(network.continuous_nodes)))
    cid = {c: j for j, c in enumerate(network.continuous_nodes)}
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        block = codes[start:stop]
        for node in network.topological_order:
            if node in cid:
                values[start:stop, cid[node]] = _gaussian_draw(network, node, block,
                                                               values[start:stop], cid, rng)
                continue
            i = network.discrete_index(node)
            table = cast(TabularCPD, network.cpd(node)).values  # a discrete node
            card = table.shape[-1]
            pids = list(network.parent_ids[i])
            config = (np.ravel_multi_index(tuple(block[:, pids].T), table.shape[:-1])
                      if pids else np.zeros(stop - start, dtype=np.int64))
            cum = np.cumsum(table.reshape(-1, card), axis=1)
            cum[:, -1] = np.inf  # guard against round-off below 1
            u = rng.random(stop - start)
            block[:, i] = (u[:, None] >= cum[config]).sum(axis=1)
    return codes, values


def _check_memory(network: BayesianNetwork, n: int) -> None:
    """Refuse a sample larger than this machine's memory, saying what it would need."""
    need = n * (len(network.nodes) * 8 + 16)  # codes, values, the table's columns
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform
        return
    if need > have:
        raise BnemValueError(
            f"sampling {n} rows of {len(network.nodes)} nodes needs about {need / 2 ** 30:.3g} "
            f"GiB, more than this machine's {have / 2 ** 30:.3g} GiB of memory; sample fewer "
            "rows (several calls with different seeds give more)")


def _gaussian_draw(network, node, codes, values, cid, rng):
    cpd = network.cpd(node)
    dp = [network.discrete_index(p) for p in cpd.discrete_parents]
    config = (np.ravel_multi_index(tuple(codes[:, dp].T), cpd.mean_shape) if dp
              else np.zeros(codes.shape[0], dtype=np.int64))
    mean = cpd.intercept.reshape(-1)[config]
    if cpd.continuous_parents:
        w = cpd.weights.reshape(-1, len(cpd.continuous_parents))[config]
        mean = mean + np.einsum("ij,ij->i", w, values[:, [cid[p] for p in cpd.continuous_parents]])
    sd = np.sqrt(cpd.variance.reshape(-1)[config])
    return mean + sd * rng.standard_normal(codes.shape[0])


def sample(network: BayesianNetwork, n: int, seed: int | np.random.Generator | None = None,
           missing: float = 0.0, hide: str | Iterable[str] = ()) -> pd.DataFrame:
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
        One categorical column per visible discrete node (categories are the state
        names) and one float column per visible continuous node.

    Raises
    ------
    NetworkError
        If ``hide`` names an unknown node.

    Examples
    --------
    >>> from bnem import BayesianNetwork
    >>> net = BayesianNetwork({"rain": ["yes", "no"], "wet": ["yes", "no"]}, {"wet": ["rain"]},
    ...                       {"rain": [0.2, 0.8], "wet": [[0.9, 0.1], [0.1, 0.9]]})
    >>> data = sample(net, 5, seed=0, hide=["rain"])
    >>> list(data.columns), len(data), list(data["wet"].cat.categories)
    (['wet'], 5, ['yes', 'no'])
    >>> data.equals(sample(net, 5, seed=0, hide=["rain"]))
    True
    """
    n = check_int(n, "n", minimum=1)
    missing = check_float(missing, "missing", minimum=0.0, maximum=1.0)
    hide = [] if hide is None else [hide] if isinstance(hide, str) else list(hide)
    for h in hide:
        if h not in network.nodes:
            raise NetworkError(f"cannot hide {h!r}: not a node; nodes are {list(network.nodes)}")
    if len(set(hide)) == len(network.nodes):
        raise NetworkError("cannot hide every node: the table would have no columns")
    _check_memory(network, n)
    rng = check_seed(seed)
    codes, values = sample_codes(network, n, rng)
    columns: dict[str, np.ndarray | pd.Categorical] = {}
    for node in network.nodes:
        if node in hide:
            continue
        if node in network.continuous_nodes:
            col = values[:, network.continuous_nodes.index(node)].copy()
            if missing > 0:
                col[rng.random(n) < missing] = np.nan
            columns[node] = col
            continue
        col = codes[:, network.discrete_index(node)].copy()
        if missing > 0:
            col[rng.random(n) < missing] = -1
        categories = pd.Index(list(network.states(node)))  # pandas-stubs wants an Index
        columns[node] = pd.Categorical.from_codes(col, categories=categories)
    return pd.DataFrame(columns)
