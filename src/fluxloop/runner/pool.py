"""A pool of daemon worker threads for synchronous targets.

Unlike ``concurrent.futures.ThreadPoolExecutor`` its threads are daemons: a synchronous agent that
hangs past its timeout cannot be killed (Python has no way to stop a thread), but it no longer
keeps the process alive at exit. A thread is started whenever no idle one is available, so a run
that is stuck in a timed-out call never reduces the parallelism of the runs that follow (at the
cost of one parked thread per stuck call).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DaemonThreadPool"]

_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
]


def _deliver(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


class DaemonThreadPool:
    def __init__(self, name: str = "fluxloop-run") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(
        self, fn: Callable[..., Any], *args: Any, context: contextvars.Context | None = None
    ) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` in a worker thread inside ``context`` (a copy of the caller's)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        ctx = context if context is not None else contextvars.copy_context()
        with self._lock:
            if self._closed:
                raise RuntimeError("pool is closed")
            if self._idle > 0:
                self._idle -= 1
            else:
                self._spawn()
        self._jobs.put((loop, fut, ctx, fn, args))
        return fut

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, fut, ctx, fn, args = job
            try:
                result = ctx.run(fn, *args)
                ok, value = True, result
            except BaseException as exc:  # delivered to the awaiting task
                ok, value = False, exc
            with self._lock:  # idle before delivering: the next submit reuses this thread
                self._idle += 1
            # RuntimeError: the loop is closed, nobody waits for this result any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, fut, ok, value)
            del job, fut, ctx, fn, args, value

    def shutdown(self) -> None:
        """Ask idle workers to exit; busy (possibly stuck) daemon threads are left alone."""
        with self._lock:
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put(None)
