"""The M-step of the table family: expected counts -> new CPD tables, vectorised over
the flat layout, within the network's shared and held blocks
(:mod:`bnem.network.constraints`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

import numpy as np

from ..network.constraints import FULL_MASS_TOL  # held entries summing to 1: nothing free
from . import forms


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
        self.constrained = _Blocks(network, self) if _has_table_constraints(network) else None

    def maximize(self, counts: np.ndarray, prior: float = 0.0,
                 current: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """New flat parameters and a boolean mask of blocks whose total was zero.

        A block with zero total keeps a uniform distribution (never NaN). Shared tables
        pool their counts (the prior is added once, to the pooled counts); held entries
        keep their values and the free ones share the rest of the mass in proportion
        to their counts; tables with a form (noisy-OR, Poisson) are moved from
        ``current`` (the parameters of the E-step; None: from the counts' proportions)
        by :func:`bnem.em.forms.maximize_form`.
        """
        if self.constrained is not None:
            return self.constrained.maximize(counts, prior, current)
        c = counts + prior if prior else counts
        totals = np.bincount(self.block_of, weights=c, minlength=self.block_card.size)
        empty = totals <= 0
        safe = np.where(empty, 1.0, totals)
        theta = c / safe[self.block_of]
        if empty.any():
            fill = empty[self.block_of]
            theta[fill] = 1.0 / self.block_card[self.block_of[fill]]
        return theta, empty

    def empty_blocks(self, counts: np.ndarray, forms: bool = False) -> np.ndarray:
        """Mask of blocks (node, parent configuration) whose expected count is zero
        (pooled over a shared block; wholly held blocks are never empty). The
        distributions of a table form (noisy-OR, Poisson) follow its parameters, so
        they are never reported empty, unless ``forms`` (a start, which draws random
        values for them: the form's M-step would give every configuration alike)."""
        if self.constrained is not None:
            return self.constrained.empty(counts, forms)
        return np.bincount(self.block_of, weights=counts, minlength=self.block_card.size) <= 0

    def project(self, theta: np.ndarray) -> np.ndarray:
        """``theta`` within the constraints: shared tables averaged, held entries at
        their values, free entries rescaled to the rest of each distribution's mass
        (``theta`` itself when the network has none)."""
        if self.constrained is None:
            return theta
        return self.constrained.maximize(theta, 0.0)[0]

    def log_prior(self, theta: np.ndarray, prior: float) -> float:
        """Unnormalised log Dirichlet(prior + 1) density: the MAP objective's prior term
        (over the free entries, a shared table once)."""
        if not prior:
            return 0.0
        if self.constrained is not None:
            theta = theta[self.constrained.counted]
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


def _has_table_constraints(network: "BayesianNetwork") -> bool:
    c = network.constraints
    return bool(c.shared) or bool(c.forms) or any(n in c.held for n in network.discrete_nodes)


class _Blocks:
    """The flat layout of a network's shared and held table entries.

    ``tie[e]`` is the position of entry ``e`` in its group's first table (``e`` when not
    shared), ``held`` marks held entries and ``values`` their values (the network's). The
    free entries of a distribution whose held entries take all its mass are held too
    (at 0: they are not free)."""

    def __init__(self, network: "BayesianNetwork", m: Maximizer) -> None:
        n = int(network.offsets[-1])
        c = network.constraints
        self.tie = np.arange(n)
        self.held = np.zeros(n, dtype=bool)
        for i, node in enumerate(network.discrete_nodes):
            lo, hi = int(network.offsets[i]), int(network.offsets[i + 1])
            first = network.discrete_index(c.representative(node))
            self.tie[lo:hi] = np.arange(network.offsets[first], network.offsets[first + 1])
            if node in c.held:
                mask = c.held[node]
                self.held[lo:hi] = True if mask is None else np.ravel(mask)
        self.shared = bool(c.shared)
        self.values = np.where(self.held, network.flat_params(), 0.0)
        self.m = m
        n_blocks = m.block_card.size
        held_mass = np.bincount(m.block_of, weights=self.values, minlength=n_blocks)
        self.free_mass = np.where(held_mass >= 1.0 - FULL_MASS_TOL, 0.0,
                                  np.clip(1.0 - held_mass, 0.0, 1.0))
        self.held |= (self.free_mass <= 0)[m.block_of]  # nothing left: forced to 0
        self.n_free = np.bincount(m.block_of, weights=~self.held, minlength=n_blocks)
        # nodes with a table form learned by EM: (node, its entries, table shape, form)
        self.forms = [(node, slice(int(network.offsets[i]), int(network.offsets[i + 1])),
                       tuple(int(k) for k in network.table_shapes[i]), c.forms[node])
                      for i, node in enumerate(network.discrete_nodes)
                      if node in c.forms and not c.is_fixed(node)]
        zero = np.zeros(n, dtype=bool)  # 0 by the form (a noisy-OR without leak)
        plain = np.zeros(n, dtype=bool)  # of a form the Dirichlet prior does not smooth
        for _, where, shape, form in self.forms:
            zero[where] = forms.structural_zeros(form, shape).ravel()
            plain[where] = not form.takes_prior
        self.structural = zero if zero.any() else None
        self.no_prior = plain if plain.any() else None
        # entries the prior and the free-parameter count see: free, in a first table
        self.counted = (self.tie == np.arange(n)) & ~self.held & ~zero & ~plain

    def pooled(self, counts: np.ndarray) -> np.ndarray:
        """Counts summed over the members of each shared table, given to every member."""
        if not self.shared:
            return counts
        return np.bincount(self.tie, weights=counts, minlength=counts.size)[self.tie]

    def maximize(self, counts: np.ndarray, prior: float,
                 current: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        m = self.m
        pooled = self.pooled(counts)
        c = np.where(self.held, 0.0, pooled + prior if prior else pooled)
        if self.no_prior is not None and prior:
            c[self.no_prior] = pooled[self.no_prior]
        if self.structural is not None:  # (a start's random counts there too)
            c[self.structural] = 0.0
        totals = np.bincount(m.block_of, weights=c, minlength=m.block_card.size)
        no_counts = (totals <= 0) & (self.n_free > 0)
        safe = np.where(totals > 0, totals, 1.0)
        theta = c / safe[m.block_of] * self.free_mass[m.block_of]
        fill = no_counts[m.block_of] & ~self.held
        if fill.any():  # no counts: the free entries share the free mass equally
            theta[fill] = (self.free_mass / np.maximum(self.n_free, 1))[m.block_of[fill]]
        theta[self.held] = self.values[self.held]
        for _, where, shape, form in self.forms:
            theta[where] = forms.maximize_form(
                form, c[where].reshape(shape),
                None if current is None else current[where].reshape(shape)).ravel()
        return theta, self._unseen(pooled)

    def _unseen(self, pooled: np.ndarray, forms: bool = False) -> np.ndarray:
        """Distributions with free entries whose configuration the data never reach
        (no expected count on any of its entries, held ones included)."""
        totals = np.bincount(self.m.block_of, weights=pooled, minlength=self.m.block_card.size)
        unseen = (totals <= 0) & (self.n_free > 0)
        for _, where, _, _ in ([] if forms else self.forms):  # (they follow their parameters)
            unseen[np.unique(self.m.block_of[where])] = False
        return unseen

    def empty(self, counts: np.ndarray, forms: bool = False) -> np.ndarray:
        return self._unseen(self.pooled(counts), forms)
