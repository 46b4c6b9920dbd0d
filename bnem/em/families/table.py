"""The table family on the EM side: discrete CPDs as one flat vector.

The block is the flat vector of every table (node order, C order within a table); its
statistics are the expected counts, flat alike. The M-step is
:class:`bnem.em.mstep.Maximizer` (one ``bincount`` over all distributions, within
the shared and held blocks); SQUAREM extrapolates log probabilities, mapped back by a
softmax per distribution (entries that are 0 stay 0) and then within the blocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...network.parameters import TABLE
from ..notes import NONE, MStepNotes
from .base import Context

if TYPE_CHECKING:
    from ...inference.stats import Stats
    from ...network.bayesnet import BayesianNetwork
    from ...network.parameters import Parameters

TINY = np.finfo(float).tiny


class TableFamily:
    """Discrete tables (see the module docstring)."""

    name: ClassVar[str] = TABLE

    def __init__(self, context: Context) -> None:
        self.maximizer = context.maximizer
        self.prior = context.prior

    @staticmethod
    def present(network: "BayesianNetwork") -> bool:
        return True  # every network has the block (empty for Gaussian nodes only)

    def maximize(self, params: "Parameters", stats: "Stats") -> tuple[np.ndarray, MStepNotes]:
        theta, _ = self.maximizer.maximize(stats.blocks[TABLE], self.prior,
                                           params.blocks[TABLE])
        return theta, NONE

    def blend(self, running: np.ndarray | None, batch: np.ndarray, keep: float, take: float,
              params: "Parameters") -> np.ndarray:
        return take * batch if running is None else keep * running + take * batch

    def start_statistics(self, block: np.ndarray, weight: float) -> np.ndarray:
        """Counts ``theta * weight / (distributions of the node)``: the start as if it
        had been learned from ``weight`` rows spread evenly over each node's parent
        configurations. Blending batches into them never leaves an entry the start
        gave mass at exactly 0 (a state the batches so far lacked stays possible)."""
        m = self.maximizer
        per_node = np.bincount(m.block_node, minlength=int(m.block_node.max(initial=-1)) + 1)
        return block * (weight / per_node[m.block_node][m.block_of])

    def constrain(self, block: np.ndarray) -> np.ndarray:
        return self.maximizer.project(block)

    def log_prior(self, block: np.ndarray) -> float:
        return self.maximizer.log_prior(block, self.prior)

    def size(self, block: np.ndarray) -> int:
        return int(block.size)

    def to_vector(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore"):
            logs = np.log(block)
        return np.where(np.isfinite(logs), logs, 0.0), block <= 0

    def from_vector(self, x: np.ndarray, keep: np.ndarray, like: np.ndarray) -> np.ndarray | None:
        m = self.maximizer
        logs = np.where(keep, -np.inf, x)
        if np.isnan(logs).any() or np.isposinf(logs).any():
            return None
        top = np.maximum.reduceat(logs, m.block_start) if logs.size else logs
        with np.errstate(under="ignore"):
            e = np.exp(logs - top[m.block_of])
        return e / np.bincount(m.block_of, weights=e, minlength=top.size)[m.block_of]

    def metric(self, block: np.ndarray, stats: "Stats") -> np.ndarray:
        """A table's log probability weighs ``sqrt(P(x, u))``: its expected count plus
        the prior, over the rows."""
        rows = max(stats.weight, TINY)
        return np.sqrt(np.maximum(stats.blocks[TABLE] + self.prior, 0.0) / rows)

    @staticmethod
    def arrays(block: np.ndarray, key: str) -> dict[str, np.ndarray]:
        return {f"{key}.theta": block}

    @staticmethod
    def from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> np.ndarray:
        return arrays[f"{key}.theta"]

    @staticmethod
    def stats_arrays(block: np.ndarray, key: str) -> dict[str, np.ndarray]:
        """The statistics block as named arrays (online EM's checkpoints)."""
        return {f"{key}.counts": np.asarray(block, dtype=float)}

    @staticmethod
    def stats_from_arrays(arrays: dict, key: str, network: "BayesianNetwork") -> np.ndarray:
        counts = np.asarray(arrays[f"{key}.counts"], dtype=float)
        if counts.shape != network.flat_params().shape or not np.isfinite(counts).all():
            raise ValueError(f"{key}.counts: {counts.shape} values for "
                             f"{network.flat_params().size} table entries, or not finite")
        return counts
