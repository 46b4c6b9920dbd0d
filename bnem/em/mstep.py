"""The M-step: expected counts -> new CPD tables, vectorised over the flat layout."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

import numpy as np


class Maximizer:
    """MLE / Dirichlet-MAP for all tabular CPDs at once.

    The flat parameter vector is a sequence of blocks, one per (node, parent
    configuration), each ``card`` entries long; normalising is one ``bincount``.
    """

    def __init__(self, network: "BayesianNetwork") -> None:
        sizes = [int(np.prod(s)) for s in network.table_shapes]
        cards = [s[-1] for s in network.table_shapes]
        none = [np.zeros(0, dtype=np.int64)]  # a network of Gaussian nodes only has no tables
        self.block_card = np.concatenate(none + [np.full(sz // c, c) for sz, c in zip(sizes, cards)])
        self.block_of = np.repeat(np.arange(self.block_card.size), self.block_card)
        self.block_node = np.concatenate(none + [np.full(sz // c, i) for i, (sz, c) in
                                                 enumerate(zip(sizes, cards))])
        self.block_start = np.concatenate([[0], np.cumsum(self.block_card)[:-1]])
        self.network = network

    def maximize(self, counts: np.ndarray, prior: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """New flat parameters and a boolean mask of blocks whose total was zero.

        A block with zero total keeps a uniform distribution (never NaN).
        """
        c = counts + prior if prior else counts
        totals = np.bincount(self.block_of, weights=c, minlength=self.block_card.size)
        empty = totals <= 0
        safe = np.where(empty, 1.0, totals)
        theta = c / safe[self.block_of]
        if empty.any():
            fill = empty[self.block_of]
            theta[fill] = 1.0 / self.block_card[self.block_of[fill]]
        return theta, empty

    def empty_blocks(self, counts: np.ndarray) -> np.ndarray:
        """Mask of blocks (node, parent configuration) whose expected count is zero."""
        return np.bincount(self.block_of, weights=counts, minlength=self.block_card.size) <= 0

    def log_prior(self, theta: np.ndarray, prior: float) -> float:
        """Unnormalised log Dirichlet(prior + 1) density: the MAP objective's prior term."""
        if not prior:
            return 0.0
        with np.errstate(divide="ignore"):
            return float(prior * np.log(theta).sum())

    def describe_blocks(self, mask: np.ndarray) -> list:
        """(node, {parent: state}) for each block flagged in ``mask``."""
        net = self.network
        out = []
        for b in np.flatnonzero(mask):
            i = int(self.block_node[b])
            node = net.discrete_nodes[i]
            first = int(self.block_start[b] - net.offsets[i]) // int(self.block_card[b])
            out.append((node, net.configuration(net.parents(node), first)))
        return out
