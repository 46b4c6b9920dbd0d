"""The E-step: (parameters, compiled chunks) -> (expected counts, log-likelihood)."""

from __future__ import annotations

import numpy as np

from ..data.encode import encode
from ..errors import BnemValueError, ImpossibleRowError
from ..inference.engine import ImpossibleRows, estep
from ..inference.compact import compact, expand
from ..inference.evidence import analyse, plan_chunks
from ..inference.gaussian import max_chunk_rows
from ..inference.hard import SplitRows, hard_estep
from ..inference.hybrid import hybrid_estep, hybrid_hard_estep
from ..inference.structure import Structure

DEFAULT_CHUNK_ROWS = 25_000
DEFAULT_CACHE_MB = 512.0


class CompiledData:
    """A table encoded and analysed against a network's structure.

    The table is encoded once and cut into chunks of distinct rows. Each chunk's
    evidence analysis (index arrays of the sliced clique tree) is kept within
    ``cache_mb``: ready to use while memory allows, otherwise in compact form (about
    a quarter of the size, expanded at each E-step for a small extra cost); chunks
    beyond even that are analysed again at every E-step (slower, but memory stays
    bounded for any number of rows). Expected counts are additive over chunks.
    """

    def __init__(self, network, data, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 cache_mb: float = DEFAULT_CACHE_MB):
        self.network = network
        self.structure = Structure.of(network)
        self.encoded = encode(data, list(network.variables.values()))
        self.plan_cache = {}
        variables = list(network.variables.values())
        chunk_rows = max_chunk_rows(self.structure, chunk_rows)
        self.slices = plan_chunks(self.structure, self.encoded.codes, chunk_rows, self.plan_cache,
                                  lambda r: self.encoded.describe_row(r, variables))
        self.cache = {}
        budget = cache_mb * 2 ** 20
        used = 0
        full_size = {}
        self.obs_counts = np.zeros(self.structure.n_params)
        for k in range(len(self.slices)):  # first every chunk in compact form, ...
            ev = self._analyse(k)
            self.obs_counts += ev.obs_counts
            small = compact(ev)
            full_size[k] = ev.nbytes
            if used + small.nbytes <= budget:
                self.cache[k] = small
                used += small.nbytes
        for k, small in list(self.cache.items()):  # ... then expanded while memory allows
            if used - small.nbytes + full_size[k] <= budget:
                self.cache[k] = expand(small)
                used += full_size[k] - small.nbytes
        self.cached_bytes = used
        self.total_weight = float(self.encoded.weights.sum())

    @property
    def n_streamed(self) -> int:
        """Chunks analysed again at every E-step (beyond the cache budget)."""
        return len(self.slices) - len(self.cache)

    def _analyse(self, k):
        sl = self.slices[k]
        return analyse(self.structure, self.encoded.codes[sl], self.encoded.weights[sl],
                       self.plan_cache, keep_assign=False, values=self.encoded.values[sl])

    def expected_counts(self, theta: np.ndarray, context: str = "", joint_params=None,
                        hard: bool = False) -> "EStep":
        """Sum over chunks of the expected statistics and log-likelihoods under ``theta``
        (and, for a hybrid network, the components' Gaussians ``joint_params``, see
        :func:`bnem.inference.hybrid.joints`). With ``hard``, each row counts wholly
        for its most probable completion (:mod:`bnem.inference.hard`).

        Raises
        ------
        ImpossibleRowError
            Naming the first row that has probability zero under ``theta``.
        """
        with np.errstate(divide="ignore"):
            log_theta = np.log(theta)
        out = EStep(np.zeros_like(theta), None, 0.0, 0.0 if hard else None)
        for k, sl in enumerate(self.slices):
            chunk = self.cache.get(k)
            if chunk is None:
                chunk = self._analyse(k)
            elif chunk.is_compact:
                chunk = expand(chunk)
            try:
                out.add(*self._chunk_estep(chunk, theta, log_theta, joint_params, hard))
            except ImpossibleRows as exc:
                raise self.impossible(sl.start + int(exc.rows[0]), len(exc.rows),
                                      context) from None
            except SplitRows as exc:
                raise self.split(sl.start + int(exc.rows[0]), len(exc.rows)) from None
        return out

    @staticmethod
    def _chunk_estep(chunk, theta, log_theta, joint_params, hard):
        """``(counts, moment sums or None, log-likelihood, classification or None)``."""
        if joint_params is None:
            if hard:
                counts, ll, cl, _ = hard_estep(chunk, theta, log_theta)
                return counts, None, ll, cl
            counts, ll = estep(chunk, theta, log_theta)
            return counts, None, ll, None
        if hard:
            return hybrid_hard_estep(chunk, theta, log_theta, joint_params)
        counts, stats, ll = hybrid_estep(chunk, theta, log_theta, joint_params)
        return counts, stats, ll, None

    def split(self, unique_row: int, how_many: int) -> BnemValueError:
        enc = self.encoded
        desc = enc.describe_row(unique_row, list(self.network.variables.values()))
        return BnemValueError(
            f"hard=True completes each row from one clique of the junction tree, but the "
            f"unobserved discrete variables of {desc} lie in several cliques ({how_many} "
            "distinct row(s) of that chunk are like it). Use hard=False (soft EM), or observe "
            "more of those variables.")

    def impossible(self, unique_row: int, how_many: int, context: str) -> ImpossibleRowError:
        enc = self.encoded
        desc = enc.describe_row(unique_row, list(self.network.variables.values()))
        more = f" (and {how_many - 1} other distinct row(s) in the same chunk)" if how_many > 1 else ""
        if context == "network's own":
            remedy = ("init='network' uses the network's CPDs as given: fix their zero "
                      "entries, or start from init='random' or 'uniform'")
        else:
            remedy = ("start from init='random' or 'uniform', or use prior > 0 so that no "
                      "probability is exactly zero")
        return ImpossibleRowError(
            f"{desc} has probability zero under the {context or 'current'} parameters{more}. "
            f"A CPD gives probability 0 to something this row contains; {remedy}.")


class EStep:
    """Statistics of one E-step, summed over chunks."""

    def __init__(self, counts, stats, log_likelihood, classification):
        self.counts = counts
        self.stats = stats                    # per component (N, M1, M2), or None
        self.log_likelihood = log_likelihood  # observed-data log-likelihood
        self.classification = classification  # classification log-likelihood (hard EM)

    def add(self, counts, stats, log_likelihood, classification):
        self.counts += counts
        if stats is not None:
            self.stats = stats if self.stats is None else [
                tuple(a + b for a, b in zip(s0, s1)) for s0, s1 in zip(self.stats, stats)]
        self.log_likelihood += log_likelihood
        if classification is not None:
            self.classification += classification
