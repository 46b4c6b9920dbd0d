"""Brute-force enumeration of the joint: the test oracle for small networks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

import numpy as np

from .structure import Structure

MAX_JOINT = 1 << 20


def joint_table(network: "BayesianNetwork") -> np.ndarray:
    """The full joint P(x_1, ..., x_V) as an array with one axis per node (node order)."""
    cards = tuple(int(c) for c in network.cards)
    if int(np.prod(cards, dtype=np.int64)) > MAX_JOINT:
        raise ValueError(f"joint has {int(np.prod(cards))} entries; brute force is for small networks")
    joint = np.ones(cards)
    V = len(cards)
    for i, node in enumerate(network.nodes):
        fam = list(network.parent_ids[i]) + [i]
        table = network.cpd(node).values
        # move the table's axes to node order and broadcast
        order = np.argsort(fam)
        t = np.transpose(table, order)
        shape = [1] * V
        for v in fam:
            shape[v] = cards[v]
        joint = joint * t.reshape(shape)
    return joint


def brute_force(network: "BayesianNetwork", codes: np.ndarray) -> tuple[np.ndarray, list]:
    """Per-row log P(observed) and per-family posteriors by enumeration.

    Returns
    -------
    log_p : ndarray (n,)
    family_posts : list of ndarray (n, *family cards) in parents-then-child order
    """
    structure = Structure.of(network)
    joint = joint_table(network)
    V = joint.ndim
    n = codes.shape[0]
    log_p = np.empty(n)
    posts = [np.empty((n,) + tuple(int(network.cards[v]) for v in fam))
             for fam in structure.families]
    for r in range(n):  # oracle only: clarity over speed
        index = tuple(slice(None) if c < 0 else slice(int(c), int(c) + 1) for c in codes[r])
        mask = np.zeros_like(joint)
        mask[index] = 1.0
        cond = joint * mask
        z = cond.sum()
        log_p[r] = np.log(z) if z > 0 else -np.inf
        for i, fam in enumerate(structure.families):
            others = tuple(v for v in range(V) if v not in fam)
            marg = cond.sum(axis=others) / z if z > 0 else np.full(cond.sum(axis=others).shape, np.nan)
            posts[i][r] = np.transpose(marg, np.argsort(np.argsort(fam)))
    return log_p, posts
