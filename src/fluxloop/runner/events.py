"""How the runner reports what happens: the progress events an experiment emits.

The runner never prints. An experiment calls a :class:`ProgressReporter`: ``start`` with the
planned total, ``advance`` per recorded run, ``info`` for a line worth showing (notes,
warnings, signals, the conversations' running totals) and ``finish``. The CLI renders them
(:mod:`fluxloop.runner.progress` draws a bar or plain lines); :class:`NullProgress` drops them.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NullProgress", "ProgressReporter"]


class ProgressReporter(Protocol):
    """Receives an experiment's progress events."""

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        """The run phase starts: ``total`` runs planned, ``done`` of them (``failed`` failed)
        already recorded by an earlier session."""
        ...

    def advance(self, success: bool) -> None:
        """One run was recorded."""
        ...

    def info(self, message: str) -> None:
        """A line worth showing (a note, a warning, a signal, running totals)."""
        ...

    def finish(self) -> None:
        """The run phase is over."""
        ...


class NullProgress:
    """Drops every event."""

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        pass

    def advance(self, success: bool) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass
