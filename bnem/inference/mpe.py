"""The most probable explanation of each row: max-product over the sliced clique tree
(inference layer).

For every row, the joint state of all its missing discrete variables (latent nodes
included) that maximises ``P(missing, observed)``, and that maximum. The collect pass is
the sum-product one of :mod:`bnem.inference.engine` with the segment sums replaced by
segment maxima, in log space (no underflow, and an impossible row shows as ``-inf``).
The decoding pass runs from the root cliques down: a root segment takes its best entry;
every other segment takes its best entry among those that agree with the separator
state its parent chose (the entries whose message position is the one the parent's
choice points at), so the states read off the chosen entries agree across cliques and
their product is the maximum.

Every step is a fixed number of numpy calls per clique, vectorised over the chunk's rows.
Barren cells are not summed out here (the maximum over a barren variable is not 1).
"""

from __future__ import annotations

import numpy as np

from .engine import ImpossibleRows
from .evidence import ChunkEvidence, observed_log_terms


def most_probable(evidence: ChunkEvidence, log_theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of the chunk, ``max log P(missing, observed)`` and the codes completed
    with the maximising states, ``(n, discrete nodes)``. ``evidence`` must keep its
    assignments (analysed with ``keep_assign=True``).

    Raises
    ------
    ImpossibleRows
        Rows that have probability zero under the parameters.
    """
    best = observed_log_terms(evidence, log_theta)
    impossible = ~np.isfinite(best)
    if impossible.any():
        raise ImpossibleRows(np.flatnonzero(impossible))
    padded = np.append(log_theta, 0.0)  # (inactive factor entries gather the padding)
    slices = evidence.cliques
    partial: list = [None] * len(slices)
    up: list = [None] * len(slices)
    for k, cs in enumerate(slices):  # collect: children before parents
        if cs.rows.size == 0:
            continue
        pot = np.zeros(cs.n_entries)
        for _, idx in cs.factors:
            pot += padded.take(idx)
        for child, target in cs.child_links:
            if up[child] is not None:
                pot += up[child].take(target)
        partial[k] = pot
        n_root = cs.root_local.size
        out = np.full(cs.msg_size + max(n_root, 1), -np.inf)
        np.maximum.at(out, cs.up_target, pot)
        if n_root:
            best[cs.rows[cs.root_local]] += out[cs.msg_size:]
        if cs.up_local.size:
            out[cs.msg_size] = 0.0  # the padding entry the parent gathers
            up[k] = out[:cs.msg_size + 1]
    impossible = ~np.isfinite(best)
    if impossible.any():
        raise ImpossibleRows(np.flatnonzero(impossible))
    completed = evidence.codes.copy()
    wanted: list = [None] * len(slices)  # per clique and segment: the message position
    for k in range(len(slices) - 1, -1, -1):  # decode: parents before children
        cs = slices[k]
        if cs.rows.size == 0:
            continue
        want = wanted[k] if wanted[k] is not None else np.full(cs.rows.size, -1, np.int64)
        want[cs.root_local] = cs.msg_size + np.arange(cs.root_local.size)
        seg_of = cs.entry_seg
        allowed = np.where(cs.up_target == want[seg_of], partial[k], -np.inf)
        top = np.maximum.reduceat(allowed, cs.seg)
        hit = np.flatnonzero(allowed == top[seg_of])
        first = np.unique(seg_of[hit], return_index=True)[1]
        chosen = hit[first]                     # (segments,) one entry each, in order
        rows = cs.rows
        cvars = list(evidence.plan.cliques[k].vars)
        state = cs.assign[chosen]               # (segments, |C|)
        for j, v in enumerate(cvars):
            miss = completed[rows, v] < 0
            completed[rows[miss], v] = state[miss, j]
        for child, target in cs.child_links:
            c = slices[child]
            if up[child] is None:
                continue
            pos = np.asarray(target)[chosen].astype(np.int64)
            real = pos < c.msg_size             # (the padding: the child's separator is
            if wanted[child] is None:           # observed in that row)
                wanted[child] = np.full(c.rows.size, -1, np.int64)
            wanted[child][c.up_local[c.msg_entry_seg[pos[real]]]] = pos[real]
    return best, completed
