"""Hard-assignment (classification) E-step (inference layer).

Each row is completed with the most probable joint configuration of its unobserved
discrete variables, and counts are taken from the completed rows: classification
EM, whose limit for a Gaussian mixture is k-means. The joint configuration is read
off one clique: every row's unobserved discrete variables must lie together in one
clique of the tree (true of mixtures and latent-class models, where the hidden node
is the only one missing, and of any row missing few variables), so that the
clique's belief for that row is their joint posterior.

The objective that classification EM increases is the *classification
log-likelihood* ``sum_rows max_z log p(observed, z)`` (continuous missing cells
stay integrated out), not the observed-data log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BnemValueError

from ..ragged import add_at, radix_strides
from .engine import ImpossibleRows, calibrate, gathered, observed_impossible_rows
from .evidence import ChunkEvidence, observed_families


@dataclass(frozen=True)
class HardResult:
    """A chunk's classification E-step."""

    counts: np.ndarray        # counts of the completed rows, flat like theta
    log_likelihood: float     # weighted observed-data log-likelihood
    classification: float    # weighted classification log-likelihood
    completed: np.ndarray     # (n, V) codes with each row's most probable completion


def home_cliques(evidence: ChunkEvidence) -> np.ndarray:
    """Per row, a clique holding all its unobserved discrete variables (-1: none
    needed, -2: none exists)."""
    missing = evidence.codes < 0
    home = np.where(missing.any(axis=1), -2, -1)
    for k, clique in enumerate(evidence.plan.cliques):
        outside = np.ones(missing.shape[1], dtype=bool)
        outside[list(clique.vars)] = False
        fits = (home == -2) & ~missing[:, outside].any(axis=1)
        home[fits] = k
    return home


def hard_estep(evidence: ChunkEvidence, theta: np.ndarray, log_theta: np.ndarray,
               extra: tuple | None = None) -> HardResult:
    """Counts of the completed rows, the weighted log-likelihood, the weighted
    classification log-likelihood, and the completed codes.

    Raises
    ------
    ImpossibleRows
        If a row's fully observed family has probability zero under ``theta``.
    SplitRows
        If a row's unobserved discrete variables span several cliques.
    """
    codes = evidence.codes
    home = home_cliques(evidence)
    if (home == -2).any():
        raise SplitRows(np.flatnonzero(home == -2))
    seen = evidence.obs_counts > 0
    if (theta[seen] <= 0).any():  # as the soft E-step: a fully observed row made impossible
        raise ImpossibleRows(observed_impossible_rows(evidence, theta))
    lin, log = gathered(theta, log_theta, extra)
    log_z, beliefs = calibrate(evidence, log, theta=lin, row_weight=evidence.weights)
    total = float(evidence.obs_counts[seen] @ log_theta[seen]) + float(evidence.weights @ log_z)
    completed = np.array(codes, dtype=np.int64)
    gain = 0.0
    for k, cs in enumerate(evidence.cliques):
        if beliefs[k] is None:
            continue
        rows = np.flatnonzero(home == k)
        if rows.size == 0:
            continue
        where = np.full(codes.shape[0], -1, dtype=np.int64)
        where[cs.rows] = np.arange(cs.rows.size)
        segs = where[rows]
        b = beliefs[k]
        entry_seg = cs.entry_seg
        top = np.maximum.reduceat(b, cs.seg)
        hit = np.flatnonzero(b >= top[entry_seg])
        first = hit[np.unique(entry_seg[hit], return_index=True)[1]]  # first max per segment
        offset = first[segs] - cs.seg[segs]
        gain += float(evidence.weights[rows] @ np.log(top[segs] / evidence.weights[rows]))
        cvars = list(evidence.plan.cliques[k].vars)
        mis = codes[rows][:, cvars] < 0
        radix, strides, _ = radix_strides(mis, evidence.structure.cards[cvars])
        states = (offset[:, None] // strides) % radix
        block = completed[rows][:, cvars]
        completed[np.ix_(rows, cvars)] = np.where(mis, states, block)
    counts = add_at(theta.size, ((idx, evidence.weights[full]) for _, full, idx in
                                 observed_families(evidence.structure, completed)))
    return HardResult(counts, total, total + gain, completed)


class SplitRows(BnemValueError):
    """Rows of a chunk (chunk-local ``rows``) whose unobserved discrete variables lie in
    no single clique (hard EM cannot complete them from one clique)."""

    def __init__(self, rows: np.ndarray) -> None:
        super().__init__(f"rows {rows[:5]} span several cliques")
        self.rows = rows
