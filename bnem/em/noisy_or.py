"""The M-step of noisy-OR nodes: link probabilities from a table's expected counts (em layer).

A noisy-OR node (:mod:`bnem.network.noisy_or`) is exactly a network in which each
parent ``U_i`` has a hidden *mechanism* ``Z_i`` (present with the link probability of
``U_i``'s state), a hidden leak ``L``, and the node is the deterministic OR of the
``Z_i`` and ``L``. Given the node's family counts ``n(u, x)`` from an E-step, the
mechanisms' expected counts follow in closed form (``Z_i`` is present only when the
node is: ``P(Z_i | u, present) = p_i(u_i) / P(present | u)``), and their M-step is
the ratio of counts:

``p_i(s) <- p_i(s) * sum_{u: u_i = s} n(u, present) / P(present | u)
                   / sum_{u: u_i = s} n(u)``

(and the leak alike, over all ``u``). One such step is one EM step of the decomposed
network; iterating it on the same counts climbs the node's expected complete-data
log-likelihood ``sum_u,x n(u, x) log P(x | u)`` (concave in the log inhibitions
``log(1 - p)``) towards its maximum. :data:`INNER_STEPS` steps are taken (fewer once
no link moves by more than :data:`INNER_TOL`), each never lowering that objective, so
the observed log-likelihood still never decreases (generalised EM).
"""

from __future__ import annotations

import numpy as np

from ..network.noisy_or import NoisyOr, is_noisy_or, links_of, table

INNER_STEPS = 100  # mechanism-EM steps per M-step (1: exactly EM on the decomposed network)
INNER_TOL = 1e-12  # stop once no link or leak moves by more than this
START_CLIP = 1e-3  # a start read off counts: links kept off 0 and 1 (where EM cannot
                   # move them: the update multiplies by the link)


def maximize_links(spec: NoisyOr, counts: np.ndarray, current: np.ndarray | None,
                   steps: int | None = None) -> np.ndarray:
    """The noisy-OR table (``counts``' shape ``(*parent_cards, 2)``) after the M-step on
    the family counts ``counts``, starting from the table ``current`` (None: from a
    noisy-OR near ``counts``' own proportions: a start, or a point put back on the
    noisy-OR tables)."""
    steps = INNER_STEPS if steps is None else steps
    counts = np.asarray(counts, dtype=float)
    if current is None:
        totals = counts.sum(axis=-1, keepdims=True)
        rows = np.divide(counts, totals, out=np.full(counts.shape, 0.5), where=totals > 0)
        ps, leak = links_of(spec, rows)
        if _interior(spec, ps, leak) and is_noisy_or(spec, rows, tol=1e-12):
            return table(spec, ps, leak, counts.shape)  # a start given as one: kept
        ps, leak = _clipped(spec, ps, leak)
    else:
        ps, leak = links_of(spec, current)
    k = counts.ndim - 1
    present = counts[..., 1 - spec.child_absent]
    total = counts.sum(axis=-1)
    others = [tuple(j for j in range(k) if j != i) for i in range(k)]
    per_state = [total.sum(axis=o) for o in others]
    grand = float(total.sum())
    for _ in range(steps):
        absent = table(spec, ps, leak, counts.shape)[..., spec.child_absent]
        p_present = 1.0 - absent
        ratio = np.divide(present, p_present, out=np.zeros_like(present),
                          where=(present > 0) & (p_present > 0))
        new = []
        for i in range(k):
            seen = per_state[i] > 0
            moved = np.divide(ps[i] * ratio.sum(axis=others[i]), per_state[i],
                              out=ps[i].copy(), where=seen)
            new.append(np.clip(moved, 0.0, 1.0))
        new_leak = float(np.clip(leak * ratio.sum() / grand, 0.0, 1.0)) \
            if spec.leak and grand > 0 else leak
        change = max([abs(new_leak - leak)] + [float(np.abs(a - b).max(initial=0.0))
                                               for a, b in zip(new, ps)])
        ps, leak = new, new_leak
        if change <= INNER_TOL:
            break
    if current is None:  # a start (or a point put back): links off 0 and 1
        ps, leak = _clipped(spec, ps, leak)
    return table(spec, ps, leak, counts.shape)


def _interior(spec: NoisyOr, ps: list, leak: float) -> bool:
    """Whether every link (and the leak, if any) is strictly between 0 and 1."""
    free = [np.delete(p, a) for p, a in zip(ps, spec.absent)]
    inside = all(((f > 0) & (f < 1)).all() for f in free)
    return inside and (not spec.leak or 0 < leak < 1)


def _clipped(spec: NoisyOr, ps: list, leak: float) -> tuple[list, float]:
    """Links and leak moved into [START_CLIP, 1 - START_CLIP] (absent states: 0)."""
    ps = [np.where(np.arange(p.size) == a, 0.0, np.clip(p, START_CLIP, 1 - START_CLIP))
          for p, a in zip(ps, spec.absent)]
    return ps, float(np.clip(leak, START_CLIP, 1 - START_CLIP)) if spec.leak else 0.0


def structural_zeros(spec: NoisyOr, shape: tuple) -> np.ndarray:
    """Entries of a noisy-OR table that are 0 by its form (without a leak: the present
    state when every parent is absent), as a boolean array of ``shape``."""
    out = np.zeros(shape, dtype=bool)
    if not spec.leak:
        out[tuple(spec.absent[:-1]) + (1 - spec.child_absent,)] = True
    return out
