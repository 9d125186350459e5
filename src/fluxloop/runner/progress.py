"""How a running experiment reports its progress: events, never printing.

The runner calls a :class:`ProgressReporter`; what the user sees (a rich bar on a terminal,
plain periodic lines in CI logs) is drawn by the command line (:mod:`fluxloop.cli.render`).
Library callers that want no output pass nothing (:class:`NullProgress`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["NullProgress", "ProgressReporter"]


class ProgressReporter(Protocol):
    """The events of an experiment run, in order: ``start``, then ``advance`` per finished run
    (``info`` and ``conversations`` at any time), then ``finish``."""

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        """The run phase begins: ``total`` runs planned, ``done``/``failed`` already (resume)."""

    def advance(self, success: bool) -> None:
        """One more run finished."""

    def info(self, message: str) -> None:
        """A note for the user (a ``[fluxloop] ...`` line: start, notes, signals)."""

    def conversations(self, summary: Mapping[str, Any]) -> None:
        """Multi-turn accounting so far (the ``multi_turn`` block of summary.json), every few
        seconds while conversations run."""

    def finish(self) -> None:
        """The run phase ended (also on interruption)."""


class NullProgress:
    """Reports nothing (library use, ``--quiet``, ``--dry-run``)."""

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        pass

    def advance(self, success: bool) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def conversations(self, summary: Mapping[str, Any]) -> None:
        pass

    def finish(self) -> None:
        pass
