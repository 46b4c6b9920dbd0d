"""Elimination orders chosen by what they cost on the data (inference layer).

A clique tree is evaluated row by row on its *sliced* cliques: in a row, a clique
ranges only over its missing members, so its cost there is the product of their
cardinalities (nothing if all are observed). Min-fill minimises the unsliced graph's
fill-in, which is a poor proxy for that: a clique of twelve mostly observed variables
is cheap, one of four mostly missing ones may not be.

:func:`search` builds several greedy orders (:func:`bnem.inference.plan.greedy_order`)
-- min-fill, min-weight, min-degree and weighted min-fill, each with the variables' plain cardinalities and with their
*effective* cardinalities ``1 - p + p * card`` (``p``: the fraction of rows where the
variable is missing), plus min-fill and min-weight with seeded random tie-breaks --
compiles each distinct order into a plan (heuristics often agree, e.g. on the star of a
latent class model), and keeps the one with the fewest sliced entries over a sample of
the data's rows (:func:`sliced_cost`). Plain min-fill is always a
candidate, so the choice is never worse than it by that cost on the sampled rows (nor
in its costliest sampled row). The same network and rows always give the same plan.

>>> import numpy as np
>>> chain = [(0,), (0, 1), (1, 2)]            # 0 -> 1 -> 2, all binary
>>> rows = np.array([[True, False, True]])    # 0 and 2 missing, 1 observed
>>> plan = search(range(3), chain, {0: 2, 1: 2, 2: 2}, rows)
>>> sliced_cost(plan, rows)                   # 2 entries for {0, 1}, 2 for {1, 2}
4.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .plan import CRITERIA, Plan, build_plan, greedy_order, min_fill_order

RANDOM_TIE_BREAKS = 2   # seeded random tie-break orders per randomised criterion
SAMPLE_ROWS = 2000      # rows of the data the candidates are scored on
LARGE = 3000            # networks with more variables than this try fewer candidates
LARGE_CANDIDATES = 8    # (the plain and effective-cardinality orders)


def sliced_cost(plan: Plan, missing: np.ndarray) -> float:
    """Sliced entries of ``plan`` per row of ``missing`` (rows x variables, True where a
    cell is summed over): the sum over cliques of the product of the cardinalities of
    their missing members, counting only cliques with a missing member."""
    row = row_costs(plan, missing)
    return float(row.mean()) if row.size else 0.0


def row_costs(plan: Plan, missing: np.ndarray) -> np.ndarray:
    """Sliced entries of ``plan`` in each row of ``missing`` (see :func:`sliced_cost`)."""
    log_card = np.log(np.array([plan.cards[v] for v in plan.vars], dtype=float))
    weighted = np.where(missing, log_card, 0.0)
    total = np.zeros(missing.shape[0])
    for clique in plan.cliques:
        cols = list(clique.vars)
        if cols:
            total += np.where(missing[:, cols].any(axis=1),
                              np.exp(weighted[:, cols].sum(axis=1)), 0.0)
    return total


def candidates(variables: Sequence[int], cards: Mapping[int, int],
               missing: np.ndarray) -> list[tuple[str, Mapping[int, float], int | None]]:
    """``(criterion, weights, seed)`` of every order :func:`search` tries, plain min-fill
    first."""
    rate = missing.mean(axis=0) if missing.shape[0] else np.zeros(len(variables))
    plain = {v: math.log(cards[v]) for v in variables}
    effective = {v: math.log(1.0 - rate[j] + rate[j] * cards[v]) for j, v in enumerate(variables)}
    out: list[tuple[str, Mapping[int, float], int | None]] = []
    for w in (plain, effective):
        out.extend((c, w, None) for c in CRITERIA)
    for seed in range(RANDOM_TIE_BREAKS):
        out.extend((c, effective, seed) for c in ("min-fill", "min-weight"))
    return out


def search(variables: Iterable[int], scopes: Sequence[tuple], cards: Mapping[int, int],
           missing: np.ndarray) -> Plan:
    """The cheapest plan by :func:`sliced_cost` on ``missing`` (rows x ``variables`` in
    sorted order) among the :func:`candidates` (see the module docstring).

    A candidate replaces min-fill only if it is cheaper on average *and* no sampled row
    costs more than its costliest row under min-fill (so a row that min-fill could
    evaluate is not pushed over the per-row limit by a tree that is better on average).
    Networks of more than ``LARGE`` variables try the first ``LARGE_CANDIDATES``
    candidates only: the budget depends on the network, not on the clock, so the same
    network and rows always give the same tree.
    """
    variables = tuple(sorted(variables))
    cards = {v: int(cards[v]) for v in variables}
    missing = np.asarray(missing, dtype=bool)
    if missing.shape[0] > SAMPLE_ROWS:  # evenly spaced rows: deterministic
        missing = missing[np.linspace(0, missing.shape[0] - 1, SAMPLE_ROWS).astype(np.int64)]
    first = min_fill_order(variables, scopes, cards)
    seen = {tuple(first)}
    best = build_plan(variables, scopes, cards, first)
    rows = row_costs(best, missing)
    best_cost, worst = (float(rows.mean()), float(rows.max())) if rows.size else (0.0, 0.0)
    tried = candidates(variables, cards, missing)[1:]
    if len(variables) > LARGE:
        tried = tried[:LARGE_CANDIDATES - 1]
    for criterion, weight, seed in tried:
        if best_cost == 0:
            break
        order = greedy_order(variables, scopes, weight, criterion, seed)
        key = tuple(order)
        if key in seen:
            continue  # the same tree as one scored already: it cannot be cheaper
        seen.add(key)
        plan = build_plan(variables, scopes, cards, order)
        rows = row_costs(plan, missing)
        if rows.mean() < best_cost and rows.max() <= worst:
            best, best_cost = plan, float(rows.mean())
    return best
