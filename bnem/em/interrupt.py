"""Ctrl-C during a fit: finish the current iteration, then return what was found
(em layer).

Inside :func:`graceful_interrupt` the first SIGINT only sets a flag, which the EM loop
reads after every E-step; the fit then stops with the best parameters so far and
``FitResult.interrupted`` set. The handler is restored at once, so a second Ctrl-C
raises ``KeyboardInterrupt`` immediately. Signal handlers can only be installed from
the main thread; elsewhere Ctrl-C behaves as usual.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class InterruptFlag:
    """Whether Ctrl-C was pressed since the fit started."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def graceful_interrupt() -> Iterator[InterruptFlag]:
    """Within the block, the first Ctrl-C sets the yielded flag instead of raising."""
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(signum: int, frame: FrameType | None) -> None:
        flag.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second one aborts

    signal.signal(signal.SIGINT, first)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
