"""The executor interface: plan (capacity), submit, results as they complete, cancel."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from fluxloop.runner.records import PlannedRun, RunRecord

__all__ = ["Executor", "RunFunction"]

#: Executes one planned run in this process and returns its record (the engine's RunExecutor).
RunFunction = Callable[[PlannedRun], Awaitable[RunRecord]]


class Executor(ABC):
    """Runs planned runs and hands back their records as they complete.

    The experiment calls :meth:`prepare` once (a bad setup raises
    :class:`~fluxloop.errors.ConfigError` before any run is submitted or anything is written),
    keeps up to :attr:`capacity` runs submitted, awaits each future :meth:`submit` returned (it
    resolves with the run's record when the run completes, in completion order), and calls
    :meth:`cancel` when interrupted and :meth:`close` at the end. A run's own failures (errors,
    timeouts, retries) are inside its record; a future raises only for a bug of the runner.
    """

    #: Short name shown in the summary and the progress lines.
    name: str = "executor"

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many runs the experiment keeps in flight at once."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Connect and check everything runs need (raise ConfigError), before any submit."""

    @abstractmethod
    def submit(self, planned: PlannedRun) -> asyncio.Future[RunRecord]:
        """Start ``planned``; the future resolves with its record (called on the event loop)."""

    @abstractmethod
    def cancel(self) -> None:
        """Cancel every run in flight; their futures are cancelled and nothing is recorded."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what :meth:`prepare` acquired (connections, worker pools)."""

    def describe(self) -> dict[str, Any]:
        """What the summary records about this executor (empty for the default executor)."""
        return {}
