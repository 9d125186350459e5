"""Carrying the current trace into thread pools, so child spans keep their parent.

``asyncio.to_thread`` already copies the context; ``ThreadPoolExecutor.submit`` and
``loop.run_in_executor`` do not, which is how spans become orphans in most tracing SDKs.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def propagate_context(func: Callable[P, R]) -> Callable[P, R]:
    """Bind ``func`` to a copy of the current context (trace, span, FluxLoop scope).

    Use it for anything that will run on another thread:
    ``executor.submit(fluxloop.propagate_context(work), item)``.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        return ctx.run(func, *args, **kwargs)

    return run


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run in the submitter's context."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


async def run_in_executor(executor: Executor | None, func: Callable[..., R], *args: Any) -> R:
    """``loop.run_in_executor`` that keeps the current trace as the parent of spans in ``func``."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, contextvars.copy_context().run, func, *args)
