"""The live history: one line per iteration, flushed as it happens (em layer).

``fit(..., history_path="trace.csv")`` (and the CLI's ``--history``) writes the header,
then one CSV line per evaluated point, flushed at once, so the file can be followed
with ``tail -f`` or plotted while the fit runs, and after a crash or ``kill -9`` it
holds every finished iteration. The columns are those of ``FitResult.history``, with a
leading ``restart`` column when there are several restarts. This file grows in place
(that is its purpose); the CLI replaces it atomically with the final history at the end.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterable, Iterator
from typing import IO

from .options import FitOptions
from .run import HISTORY_COLUMNS, Progress, history_columns


class LiveCSV:
    """A CSV file that grows by one flushed line at a time; a write error (full disk,
    closed pipe, permission) is re-raised naming the file."""

    def __init__(self, path: str | os.PathLike[str], header: list[str],
                 rows: Iterable[list] = ()) -> None:
        self.path = os.fspath(path)
        with self._named():
            self.handle: IO[str] = open(path, "w", encoding="utf-8", newline="")
            self.writer = csv.writer(self.handle)
            self.writer.writerow(header)
            self.writer.writerows(rows)
            self.handle.flush()

    def write(self, row: list | tuple) -> None:
        with self._named():
            self.writer.writerow(row)
            self.handle.flush()

    @contextlib.contextmanager
    def _named(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write the history to {self.path!r}: "
                          f"{exc.strerror or exc}") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):  # a failed flush was reported by write()
            self.handle.close()


class LiveHistory:
    """Appends one flushed CSV line per point to ``path``."""

    def __init__(self, path: str | os.PathLike[str], opts: FitOptions,
                 restored: Iterable[tuple[int, tuple]] = ()) -> None:
        self.several = opts.n_init > 1
        self.names = history_columns(opts)
        # rows of a resumed fit come as (restart, HISTORY_COLUMNS tuple)
        self.file = LiveCSV(path, (["restart"] if self.several else []) + self.names,
                            [self._row(r, dict(zip(HISTORY_COLUMNS, row)))
                             for r, row in restored])

    def write(self, p: Progress) -> None:
        self.file.write(self._row(p.restart, {
            "iteration": p.iteration, "log_likelihood": p.log_likelihood,
            "objective": p.objective, "delta": p.delta, "seconds": p.seconds,
            "n_estep": p.n_estep, "step": p.step}))

    def _row(self, restart: int, values: dict) -> list:
        out = [restart] if self.several else []
        for name, column in zip(self.names, _sources(self.names)):
            out.append(values[column])
        return out

    def close(self) -> None:
        self.file.close()


def _sources(names: list[str]) -> list[str]:
    """The ``HISTORY_COLUMNS`` entry behind each history column name."""
    return [n if n in HISTORY_COLUMNS else "objective" for n in names]
