"""Integer-id view of a network's structure used by inference (inference layer)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..network.bayesnet import BayesianNetwork

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Structure:
    """Families, cards and the flat parameter layout of a network.

    ``families[i]`` is parents-then-child of node ``i``; ``strides[i][j]`` is the
    stride of ``families[i][j]`` in node ``i``'s C-ordered table, and
    ``offsets[i]`` its start in the flat parameter vector. Ids are positions among
    the network's discrete nodes.

    ``components`` are the continuous components of a hybrid network
    (:mod:`bnem.inference.gaussian`); component ``c`` is factor ``n_vars + c`` of the
    plan, over its interface ``components[c].scope``, with a per-row table.
    """

    cards: np.ndarray
    families: tuple
    strides: tuple
    offsets: np.ndarray
    components: tuple = ()

    @classmethod
    def of(cls, network: "BayesianNetwork") -> "Structure":
        families, strides = [], []
        for i, pids in enumerate(network.parent_ids):
            fam = tuple(pids) + (i,)
            shape = network.cards[list(fam)]
            st = np.ones(len(fam), dtype=np.int64)
            for j in range(len(fam) - 2, -1, -1):
                st[j] = st[j + 1] * shape[j + 1]
            families.append(fam)
            strides.append(tuple(int(s) for s in st))
        from .gaussian import components
        cards = np.array(network.cards, dtype=np.int64)
        offsets = np.array(network.offsets, dtype=np.int64)
        cards.setflags(write=False)  # a compiled structure never changes
        offsets.setflags(write=False)
        return cls(cards, tuple(families), tuple(strides), offsets, components(network))

    @property
    def n_vars(self) -> int:
        return len(self.families)

    @property
    def n_params(self) -> int:
        return int(self.offsets[-1])

    @property
    def factor_scopes(self) -> list:
        """Scopes of the plan's factors: the families, then the component interfaces."""
        return [tuple(sorted(f)) for f in self.families] + [c.scope for c in self.components]

    def row_factor(self, f: int) -> tuple[tuple, tuple, int] | None:
        """``(scope, strides, size)`` of plan factor ``f`` if it is a component's, else None."""
        if f < self.n_vars:
            return None
        comp = self.components[f - self.n_vars]
        strides = np.ones(len(comp.scope), dtype=np.int64)
        for j in range(len(comp.scope) - 2, -1, -1):
            strides[j] = strides[j + 1] * comp.scope_cards[j + 1]
        return comp.scope, tuple(int(s) for s in strides), comp.size
