"""The argument recorder's process state: locks, per-target iteration counters, options.

Kept apart from :mod:`fluxloop.sdk._recording` (which reads the runtime's configuration) so that
``reset_config()`` in :mod:`fluxloop.sdk._runtime` can restart the counters without the two
modules importing each other.
"""

from __future__ import annotations

import os
import threading


class RecordingState:
    """Locks, counters and options of ``record_call_args`` (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.auto_increment = True
        self.warned: set[str] = set()


STATE = RecordingState()


def _after_fork() -> None:  # pragma: no cover - exercised in forked children
    STATE.lock = threading.Lock()
    STATE.write_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def restart_counters() -> None:
    """Start every target's automatic iteration number at 0 again (``reset_config()``)."""
    with STATE.lock:
        STATE.counters.clear()
