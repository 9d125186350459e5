"""SIGINT and SIGTERM around an experiment: the directory is whole whenever a signal lands.

* :func:`take_termination`: SIGTERM raises ``KeyboardInterrupt``, so it takes the same path as
  Ctrl-C (partial results written, exit status 130) instead of killing the process with -15.
* :func:`deferred_interrupts`: a critical section (creating the experiment directory, writing
  the final summary) runs to its end; a signal that arrived meanwhile is raised after it as
  ``KeyboardInterrupt`` (or dropped, with ``reraise=False``, when the caller is stopping anyway).
* :func:`ignore_interrupts`: once a command is exiting with 130, further signals are ignored.

All of them do nothing off the main thread (Python delivers signals only there).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["deferred_interrupts", "ignore_interrupts", "take_termination"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def take_termination() -> None:
    """Handle SIGTERM like Ctrl-C from now on (unless someone else already handles it)."""
    if _main_thread() and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _raise_interrupt)


def ignore_interrupts() -> None:
    """Ignore SIGINT and SIGTERM from now on (the process is on its way out)."""
    if _main_thread():
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


@contextmanager
def deferred_interrupts(*, reraise: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM until the block has finished; then raise ``KeyboardInterrupt`` if
    one arrived (when ``reraise``). Yields the list of signals that arrived."""
    arrived: list[int] = []
    if not _main_thread():
        yield arrived
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    previous: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}
    for signum in _SIGNALS:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, hold)
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if arrived and reraise:
        raise KeyboardInterrupt
