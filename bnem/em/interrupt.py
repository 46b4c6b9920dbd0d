"""Ctrl-C, SIGTERM or SIGHUP during a fit: finish the current iteration, then return
what was found (em layer).

Inside :func:`graceful_interrupt` the first of these signals only sets a flag, which
the EM loop reads after every E-step; the fit then stops with the best parameters so
far and ``FitResult.interrupted`` set (``FitResult.stop_signal`` names the signal).
Batch schedulers (SLURM, Kubernetes, systemd) stop jobs with SIGTERM and a closed
terminal sends SIGHUP: their fits end like a Ctrl-C one, with their results, outputs
and checkpoints written and temporary files removed. The handlers are restored at
once, so a second signal acts immediately (Ctrl-C raises ``KeyboardInterrupt``;
SIGTERM and SIGHUP end the process). Signal handlers can only be installed from the
main thread; elsewhere the signals behave as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")  # those the platform has are handled


class InterruptFlag:
    """Whether a stop signal arrived since the fit started, and which."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: str | None = None   # "SIGINT", "SIGTERM" or "SIGHUP"

    @property
    def reason(self) -> str:
        """How the stop is named in messages: ``Ctrl-C`` for SIGINT, else the signal."""
        return "Ctrl-C" if self.signal in (None, "SIGINT") else str(self.signal)

    @property
    def exit_code(self) -> int:
        """The shell's code for a process ended by the signal (128 + its number)."""
        number = getattr(signal, self.signal or "SIGINT", signal.SIGINT)
        return 128 + int(number)


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[InterruptFlag]:
    """Within the block, the first Ctrl-C, SIGTERM or SIGHUP sets the yielded flag
    instead of stopping the process."""
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    signals = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous: dict[Any, Any] = {s: signal.getsignal(s) for s in signals}

    def first(signum: int, frame: FrameType | None) -> None:
        if not flag.requested:
            flag.requested = True
            flag.signal = signal.Signals(signum).name
        # a second one acts at once: Ctrl-C raises, SIGTERM and SIGHUP end the process
        signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                      else signal.SIG_DFL)

    for s in signals:
        signal.signal(s, first)
    try:
        yield flag
    finally:
        for s in signals:
            signal.signal(s, previous[s])
