"""The default executor: every run is a task on this process's asyncio loop.

Synchronous targets run in the RunExecutor's daemon thread pool, async targets on the loop
itself (see :mod:`fluxloop.runner.engine`); the capacity is ``parallel_runs``.
"""

from __future__ import annotations

import asyncio

from fluxloop.runner.records import PlannedRun, RunRecord

from .base import Executor, RunFunction

__all__ = ["AsyncioExecutor"]


class AsyncioExecutor(Executor):
    """Runs each planned run as an asyncio task of the calling loop."""

    name = "local"

    def __init__(self, run: RunFunction, parallel: int) -> None:
        self._run = run
        self._parallel = max(1, parallel)
        self._tasks: set[asyncio.Task[RunRecord]] = set()

    @property
    def capacity(self) -> int:
        return self._parallel

    def submit(self, planned: PlannedRun) -> asyncio.Future[RunRecord]:
        task = asyncio.ensure_future(self._run(planned))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
