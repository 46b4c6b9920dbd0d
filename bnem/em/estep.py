"""The E-step: (parameters, compiled chunks) -> (expected counts, log-likelihood)."""

from __future__ import annotations

import numpy as np

from ..data.encode import encode
from ..errors import ImpossibleRowError
from ..inference.engine import ImpossibleRows, estep
from ..inference.evidence import analyse
from ..inference.structure import Structure

DEFAULT_CHUNK_ROWS = 50_000


class CompiledData:
    """A table encoded and analysed against a network's structure, once.

    The expected sufficient statistics are additive over :attr:`chunks`, so chunks
    could be evaluated by separate workers and summed.
    """

    def __init__(self, network, data, chunk_rows: int = DEFAULT_CHUNK_ROWS):
        self.network = network
        self.structure = Structure.of(network)
        self.encoded = encode(data, list(network.variables.values()))
        self.plan_cache = {}
        self.chunks = []
        self.starts = []
        for sl in self.encoded.chunks(chunk_rows):
            self.starts.append(sl.start)
            self.chunks.append(analyse(self.structure, self.encoded.codes[sl],
                                       self.encoded.weights[sl], self.plan_cache))
        self.total_weight = float(self.encoded.weights.sum())
        self.obs_counts = sum(c.obs_counts for c in self.chunks)

    def expected_counts(self, theta: np.ndarray, context: str = ""):
        """Sum of the chunks' expected counts and log-likelihoods under ``theta``.

        Raises
        ------
        ImpossibleRowError
            Naming the first row that has probability zero under ``theta``.
        """
        with np.errstate(divide="ignore"):
            log_theta = np.log(theta)
        counts = np.zeros_like(theta)
        total = 0.0
        for start, chunk in zip(self.starts, self.chunks):
            try:
                c, ll = estep(chunk, theta, log_theta)
            except ImpossibleRows as exc:
                raise self.impossible(start + int(exc.rows[0]), len(exc.rows), context) from None
            counts += c
            total += ll
        return counts, total

    def impossible(self, unique_row: int, how_many: int, context: str) -> ImpossibleRowError:
        enc = self.encoded
        desc = enc.describe_row(unique_row, list(self.network.variables.values()))
        more = f" (and {how_many - 1} other distinct row(s) in the same chunk)" if how_many > 1 else ""
        return ImpossibleRowError(
            f"{desc} has probability zero under the {context or 'current'} parameters{more}. "
            "A CPD gives probability 0 to something this row contains; start from "
            "init='random' or 'uniform', or use prior > 0 so no probability is exactly zero."
        )
