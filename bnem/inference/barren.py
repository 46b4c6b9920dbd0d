"""Barren variables: missing in a row, and so are all their descendants (inference layer).

Such a variable can be summed out of that row before inference: its family's table
sums to one over it, and so, recursively, do those of its (barren) descendants. The
row's likelihood is unchanged, the row contributes no expected counts to the barren
families (whose M-step then rests on the rows that say something about them), and the
sliced cliques range over fewer variables. EM keeps its fixed points and likelihood but
needs fewer iterations: the missing information it must fill in is smaller.

Barren cells are coded ``BARREN`` (-2); missing cells stay -1.

>>> import numpy as np
>>> from types import SimpleNamespace
>>> chain = SimpleNamespace(families=((0,), (0, 1), (1, 2)), n_vars=3)  # 0 -> 1 -> 2
>>> mark_barren(chain, np.array([[0, -1, -1], [-1, -1, 1]])).tolist()
[[0, -2, -2], [-1, -1, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

BARREN = -2


def children_of(structure: Any) -> list[list[int]]:
    """Children of every variable, from the families (parents then child)."""
    children: list[list[int]] = [[] for _ in range(structure.n_vars)]
    for i, fam in enumerate(structure.families):
        for p in fam[:-1]:
            children[p].append(i)
    return children


def mark_barren(structure: Any, codes: np.ndarray) -> np.ndarray:
    """``codes`` with every barren cell set to ``BARREN`` (a copy if any is)."""
    children = children_of(structure)
    barren = codes < 0
    for v in _reverse_topological(structure, children):  # children before parents
        for c in children[v]:
            barren[:, v] &= barren[:, c]
    if not barren.any():
        return codes
    out = np.array(codes, copy=True)
    out[barren] = BARREN
    return out


def _reverse_topological(structure: Any, children: list[list[int]]) -> list[int]:
    order: list[int] = []
    seen = [False] * structure.n_vars

    def visit(v: int) -> None:  # iterative DFS: post-order puts children first
        stack = [(v, iter(children[v]))]
        seen[v] = True
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                order.append(node)
            elif not seen[nxt]:
                seen[nxt] = True
                stack.append((nxt, iter(children[nxt])))

    for v in range(structure.n_vars):
        if not seen[v]:
            visit(v)
    return order
