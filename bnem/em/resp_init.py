"""``init="random-resp"`` for discrete networks: random responsibilities for the latent
nodes, then an M-step (em layer).

Each row gets, for each latent discrete node, a random distribution over its states
(uniform draws, normalised; seeded). Every family then gets the expected counts those
responsibilities imply over the rows where its observed members are all observed
(like the complete-case start, which it equals when there is no latent node), and the
tables are their MLE with a small pseudo-count. This is the start latent-class
software calls "random starting values of the posterior" (poLCA, stepmix): it breaks
the symmetry between classes through the data rather than through the tables.

>>> import pandas as pd
>>> from bnem.network.bayesnet import BayesianNetwork
>>> from bnem.em.mstep import Maximizer
>>> net = BayesianNetwork({"c": ["a", "b"], "x": ["0", "1"]}, {"x": ["c"]})
>>> codes = np.array([[-1, 0], [-1, 1], [-1, 1]])
>>> theta = random_resp_theta(net, Maximizer(net), [(codes, np.ones(3))], [0],
...                           np.random.default_rng(0), 0.0)
>>> bool(np.allclose(theta.reshape(-1, 2).sum(axis=1), 1.0))
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from .init import COMPLETE_CASE_PSEUDOCOUNT

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork
    from .mstep import Maximizer


def random_resp_theta(network: "BayesianNetwork", maximizer: "Maximizer",
                      rows: Iterable[tuple[np.ndarray, np.ndarray]], latent: list[int],
                      rng: np.random.Generator, prior: float) -> np.ndarray:
    """Tables from random responsibilities of the ``latent`` discrete nodes (their ids
    among ``network.discrete_nodes``) over ``rows``: parts of ``(codes, weights)``,
    codes = distinct rows x discrete nodes (-1 missing), one part in memory at a time."""
    counts = np.zeros(int(network.offsets[-1]))
    for codes, weights in rows:
        resp = {}
        for i in latent:
            r = rng.uniform(size=(codes.shape[0], int(network.cards[i])))
            resp[i] = r / r.sum(axis=1, keepdims=True)
        for i, pids in enumerate(network.parent_ids):
            members = list(pids) + [i]
            counts[network.offsets[i]:network.offsets[i + 1]] += _family_counts(
                members, network.table_shapes[i], codes, weights, resp)
    theta, _ = maximizer.maximize(counts, prior=max(prior, COMPLETE_CASE_PSEUDOCOUNT))
    unseen = maximizer.empty_blocks(counts, forms=True)
    if unseen.any():  # families no row informs start as random ones
        drawn, _ = maximizer.maximize(rng.gamma(1.0, size=counts.size))
        fill = unseen[maximizer.block_of]
        theta[fill] = drawn[fill]
    return theta


def _family_counts(members: list[int], shape: tuple, codes: np.ndarray, weights: np.ndarray,
                   resp: dict[int, np.ndarray]) -> np.ndarray:
    """Expected counts of one family's configurations (C order over ``shape``)."""
    size = int(np.prod(shape))
    strides = np.cumprod((1,) + tuple(shape[::-1]))[:-1][::-1]
    observed = [k for k, m in enumerate(members) if m not in resp]
    rows = np.all(codes[:, [members[k] for k in observed]] >= 0, axis=1) if observed else \
        np.ones(codes.shape[0], dtype=bool)
    if not rows.any():
        return np.zeros(size)
    index = np.zeros((int(rows.sum()), 1), dtype=np.int64)
    for k in observed:
        index[:, 0] += codes[rows, members[k]].astype(np.int64) * strides[k]
    prob = weights[rows][:, None]
    for k, m in enumerate(members):
        if m in resp:  # spread each row over the latent member's states
            card = shape[k]
            prob = (prob[:, :, None] * resp[m][rows][:, None, :]).reshape(prob.shape[0], -1)
            index = (index[:, :, None] + np.arange(card) * strides[k]).reshape(index.shape[0], -1)
    return np.bincount(index.ravel(), weights=prob.ravel(), minlength=size)
