"""Integer-id view of a network's structure used by inference (inference layer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Structure:
    """Families, cards and the flat parameter layout of a network.

    ``families[i]`` is parents-then-child of node ``i``; ``strides[i][j]`` is the
    stride of ``families[i][j]`` in node ``i``'s C-ordered table, and
    ``offsets[i]`` its start in the flat parameter vector.
    """

    cards: np.ndarray
    families: tuple
    strides: tuple
    offsets: np.ndarray

    @classmethod
    def of(cls, network) -> "Structure":
        families, strides = [], []
        for i, pids in enumerate(network.parent_ids):
            fam = tuple(pids) + (i,)
            shape = network.cards[list(fam)]
            st = np.ones(len(fam), dtype=np.int64)
            for j in range(len(fam) - 2, -1, -1):
                st[j] = st[j + 1] * shape[j + 1]
            families.append(fam)
            strides.append(tuple(int(s) for s in st))
        return cls(np.asarray(network.cards, dtype=np.int64), tuple(families), tuple(strides),
                   np.asarray(network.offsets, dtype=np.int64))

    @property
    def n_vars(self) -> int:
        return len(self.families)

    @property
    def n_params(self) -> int:
        return int(self.offsets[-1])
