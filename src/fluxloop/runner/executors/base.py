"""The executor interface: plan (capacity), submit, results as they complete, cancel."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

from fluxloop.cassette import ReturnedTape, ShippedTape
from fluxloop.runner.records import PlannedRun, RunRecord

__all__ = ["Executor", "LostRun", "RemoteJob", "RunFunction", "RunTapes", "RunWorker"]

#: Executes one planned run in this process and returns its record (the engine's RunExecutor).
RunFunction = Callable[[PlannedRun], Awaitable[RunRecord]]

#: The record of a run whose worker never answered (process or node lost): failed with the cause,
#: after the given failed attempts (one entry per attempt, the last one included).
LostRun = Callable[[PlannedRun, BaseException, list[dict[str, Any]]], RunRecord]


class RunWorker(Protocol):
    """Executes runs in a worker process (the engine's RunExecutor)."""

    async def execute(self, planned: PlannedRun) -> RunRecord: ...


class RemoteJob(Protocol):
    """What a worker process needs to execute an experiment's runs (picklable, sent once).

    It may carry secrets (environment variables, ``.env`` values): an executor sends it as task
    data, never in a place a cluster shows (runtime environments, logs, dashboards).
    """

    @property
    def key(self) -> str:
        """Identifies the experiment session: a worker builds it once per key."""
        ...

    @property
    def code_dir(self) -> Path:
        """The directory the target is imported from (shipped to the workers)."""
        ...

    @property
    def private_paths(self) -> list[str]:
        """Paths under ``code_dir`` never shipped (gitignore syntax, anchored at ``code_dir``)."""
        ...

    def build(self, stack: ExitStack, root: Path | None) -> RunWorker:
        """In the worker: enter the target's environment on ``stack`` and resolve the target.

        ``root`` is where ``code_dir`` was unpacked (None: the same paths exist here). Raises
        ConfigError (TargetError) when the target cannot be imported in this process.
        """
        ...


class RunTapes(Protocol):
    """The experiment's cassette, for runs that execute in other processes.

    A remote executor takes :meth:`ship`'s answer along with the run, makes it current around
    the run in the worker (:meth:`ShippedTape.play`) and hands what came back to
    :meth:`receive` before it returns the record (which a miss fails).
    """

    def ship(self, planned: PlannedRun) -> ShippedTape: ...

    def receive(self, shipped: ShippedTape, returned: ReturnedTape, record: RunRecord) -> None: ...


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
    #: Runs execute in other processes: the experiment accounts for what they did itself.
    remote: bool = False
    #: The cassette, set by the experiment for a remote executor (a local one runs in the
    #: process whose RunExecutor applies the cassette itself).
    tapes: RunTapes | None = None

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
