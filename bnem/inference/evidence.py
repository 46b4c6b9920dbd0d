"""Evidence analysis of a chunk of encoded rows (inference layer).

Done once per chunk of data, independent of the parameters. The network's clique
tree is compiled once (:mod:`bnem.inference.plan`); each row then *slices* every
clique at its observed values (:mod:`bnem.inference.slices`), and evaluation costs a
fixed number of numpy calls per clique, whatever the rows look like, and work
proportional to the sliced sizes.

A family whose members are all observed in a row contributes a constant count and
a constant log-likelihood term, gathered once here. A separator whose variables
are all observed in a row cuts the tree there: the message is a scalar and goes
straight into that row's log-likelihood.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InferenceTooLargeError
from ..ragged import add_at
from .barren import mark_barren
from .plan import Plan
from .slices import slice_all
from .structure import Structure

MAX_ROW_ENTRIES = 1 << 24  # a row needing more sliced entries than this is refused


@dataclass(frozen=True)
class ChunkEvidence:
    """Everything parameter-independent that the E-step needs for one chunk.

    ``row_base`` gives, per continuous component, the start of its ``(K, n)`` per-row
    table in the gathered vector ``[theta, 1.0 (padding), component tables...]``;
    ``continuous`` holds each component's :class:`~bnem.inference.gaussian.ComponentSlice`.
    """

    structure: Structure
    plan: Plan
    codes: np.ndarray       # (n, V) int codes, -1 = missing
    weights: np.ndarray     # (n,) row multiplicities
    obs_counts: np.ndarray  # (n_params,) counts from fully observed families
    cliques: tuple          # CliqueSlice per plan clique (schedule order)
    row_base: tuple = ()
    continuous: tuple = ()
    values: np.ndarray | None = None  # (n, n_continuous) continuous cells, NaN = missing

    @property
    def n_gathered(self) -> int:
        """Length of the gathered vector (parameters, padding, per-row tables)."""
        if not self.row_base:
            return self.structure.n_params + 1
        last = self.structure.components[-1]
        return self.row_base[-1] + self.n_rows * last.size

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0])

    def ready(self) -> "ChunkEvidence":
        """The evaluable form (this chunk already is; see :class:`CompactChunk`)."""
        return self

    @property
    def nbytes(self) -> int:
        """Memory held by this chunk's own arrays (codes, weights and values are views
        of the encoded table)."""
        return self.obs_counts.nbytes + sum(cs.nbytes for cs in self.cliques) + \
            sum(cs.nbytes for cs in self.continuous)


SEGMENT_WORDS = 4  # per active (row, clique): segment starts, rows, message sums


def row_entries(structure: Structure, plan: Plan, codes: np.ndarray,
                keep_assign: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Per row: sliced entries over all cliques, and the 8-byte words they take.

    Floats, so that huge counts never overflow. An entry of a clique costs a word per
    factor and five more: its index arrays (int32) and the E-step's floats at their
    peak (measured per chunk, 2,000 rows at 20% missing: 4.6 words per entry on
    diabetes and 5.4 on munin, where this gives about 6; 6.2 on alarm, whose per-row
    arrays weigh more but whose chunks are bounded by rows). Each row a clique is
    active in adds ``SEGMENT_WORDS`` for the per-segment arrays and floats (they
    weigh where segments hold a few entries: hepar2, win95pts, andes). With
    ``keep_assign`` it also keeps the states of the clique's ``m`` variables (``m``
    words).
    """
    log_cards = np.log(structure.cards.astype(float))
    missing = codes == -1  # barren cells (-2) are summed out, not enumerated
    entries = np.zeros(codes.shape[0])
    words = np.zeros(codes.shape[0])
    for c in plan.cliques:
        cv = list(c.vars)
        mis = missing[:, cv]
        size = np.where(mis.any(axis=1), np.exp(mis @ log_cards[cv]), 0.0)
        entries += size
        words += size * ((len(cv) if keep_assign else 0) + len(c.factors) + 5)
        words += (size > 0) * SEGMENT_WORDS
    return entries, words


def chunk_bounds(structure: Structure, plan: Plan, codes: np.ndarray, max_rows: int,
                 max_words: int, describe_row: Callable[[int], str] | None = None,
                 keep_assign: bool = True) -> list:
    """Consecutive row slices with at most ``max_rows`` rows and ``max_words`` words of
    analysis arrays each (a heavier row gets a chunk of its own).

    Raises
    ------
    InferenceTooLargeError
        If one row alone needs more than ``MAX_ROW_ENTRIES`` entries.
    """
    n = codes.shape[0]
    entries, words = row_entries(structure, plan, codes, keep_assign)
    too_big = np.flatnonzero(entries > MAX_ROW_ENTRIES)
    if too_big.size:
        r = int(too_big[0])
        who = describe_row(r) if describe_row else f"row {r}"
        raise InferenceTooLargeError(
            f"exact inference for {who} needs {entries[r]:.3g} joint states of its missing "
            f"variables (limit {MAX_ROW_ENTRIES}): too many missing or latent variables are "
            f"tied together; {too_big.size} row(s) are affected. Observe more of them, drop "
            "those rows, or simplify the network.")
    slices, start = [], 0
    cum = np.concatenate([[0.0], np.cumsum(words)])
    while start < n:
        stop = min(n, start + max_rows)
        limit = np.searchsorted(cum, cum[start] + max_words, side="right") - 1
        stop = max(start + 1, min(stop, int(limit)))
        slices.append(slice(start, stop))
        start = stop
    return slices


def analyse(structure: Structure, plan: Plan, codes: np.ndarray, weights: np.ndarray,
            values: np.ndarray | None = None, keep_assign: bool = True,
            barren: bool = False) -> ChunkEvidence:
    """Slice every clique of ``plan`` at the observed values of each row.

    ``keep_assign=False`` drops the per-entry states once the index arrays are built
    (EM does not need them; node marginals do), saving a third of the memory.
    ``values`` are the rows' continuous cells (hybrid networks). With ``barren``, the
    barren cells of each row are summed out first (:mod:`bnem.inference.barren`;
    discrete networks only): exact for likelihoods and for EM's fixed points, but
    those families then get no expected counts from that row.
    """
    from .gaussian import slice_component

    codes = np.asarray(codes)
    if barren and not structure.components:
        codes = mark_barren(structure, codes)
    weights = np.asarray(weights, dtype=float)
    obs_counts = add_at(structure.n_params, ((idx, weights[full]) for _, full, idx in
                                             observed_families(structure, codes)))
    row_base, start = [], structure.n_params + 1
    for comp in structure.components:
        row_base.append(start)
        start += codes.shape[0] * comp.size
    cliques = slice_all(structure, plan, codes, tuple(row_base), keep_assign)
    continuous = tuple(slice_component(comp, codes, values) for comp in structure.components)
    return ChunkEvidence(structure, plan, codes, weights, obs_counts, cliques, tuple(row_base),
                         continuous, values)


def observed_families(structure: Structure,
                      codes: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(node id, rows where its family is fully observed, flat parameter index)``."""
    missing = codes < 0
    for i, fam in enumerate(structure.families):
        full = np.flatnonzero(~missing[:, list(fam)].any(axis=1))
        if full.size:
            idx = np.full(full.size, structure.offsets[i], dtype=np.int64)
            for v, s in zip(fam, structure.strides[i]):
                idx += codes[full, v].astype(np.int64) * s
            yield i, full, idx


def observed_log_terms(evidence: ChunkEvidence, log_theta: np.ndarray) -> np.ndarray:
    """Per row, the sum of log P(x | u) over its fully observed families."""
    out = np.zeros(evidence.codes.shape[0])
    for _, full, idx in observed_families(evidence.structure, evidence.codes):
        out[full] += log_theta[idx]
    return out
