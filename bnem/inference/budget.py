"""One memory budget for the data path (inference layer).

A user gives one number, ``memory_mb``: the memory bnem may spend on the analysed
data. Everything else follows from it:

* the analysis kept between E-steps (ready or compact chunks) stays within
  ``memory_mb``; chunks beyond it are analysed again at every E-step;
* one chunk's analysis arrays take at most half of it (``chunk_words`` 8-byte words),
  between 8 MB and 256 MB;
* one continuous component's per-chunk work arrays (rows x configurations x
  coordinates floats) take at most an eighth of it, between 2 MB and 64 MB;
* a chunk holds at most ``chunk_rows`` distinct rows (25,000: larger chunks are no
  faster).

>>> b = MemoryBudget(512)
>>> b.chunk_words == 1 << 25, b.gaussian_cells == 1 << 23
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from .structure import Structure

DEFAULT_MEMORY_MB = 512.0
CHUNK_ROWS = 25_000
MIN_CHUNK_WORDS = 1 << 20  # working memory never shrinks below 8 MB per chunk
MAX_CHUNK_WORDS = 1 << 25  # nor grows beyond 256 MB


@dataclass(frozen=True)
class MemoryBudget:
    """The memory budget of the data path (see the module docstring)."""

    memory_mb: float = DEFAULT_MEMORY_MB
    chunk_rows: int = CHUNK_ROWS

    @property
    def cache_bytes(self) -> float:
        """Bytes of chunk analysis kept between E-steps."""
        return self.memory_mb * 2 ** 20

    @property
    def chunk_words(self) -> int:
        """8-byte words of analysis arrays per chunk (larger chunks are no faster, so
        never more than ``MAX_CHUNK_WORDS``)."""
        return min(MAX_CHUNK_WORDS, max(MIN_CHUNK_WORDS, int(self.memory_mb * 2 ** 20 / 16)))

    @property
    def gaussian_cells(self) -> int:
        """Floats of one component's per-chunk work arrays (at most ``MAX_CHUNK_WORDS / 4``)."""
        return min(MAX_CHUNK_WORDS // 4,
                   max(MIN_CHUNK_WORDS // 4, int(self.memory_mb * 2 ** 20 / 64)))

    def rows_per_chunk(self, structure: Structure) -> int:
        """``chunk_rows``, reduced so that no continuous component's per-chunk arrays
        (the whitened deviations, rows x configurations x coordinates) exceed
        ``gaussian_cells``."""
        rows = self.chunk_rows
        for comp in structure.components:
            rows = min(rows, max(1, self.gaussian_cells // (comp.size * max(comp.m, 1))))
        return rows
