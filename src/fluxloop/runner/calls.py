"""Calling the target once: binding, sync/async/streaming targets, the timeout, replay callbacks.

* Synchronous targets run in daemon worker threads with the caller's context copied (so spans
  nest and carry the run's attributes); ``async def`` targets and async generators run on the
  loop. Returned streams (sync or async iterators) are drained and aggregated.
* ``timeout_seconds`` bounds each call (``asyncio.timeout``): an async target is cancelled; a
  synchronous one cannot be killed, so the call raises :class:`AttemptTimeout` and its thread
  is left to finish in the background (a daemon thread, never blocking exit).
* With ``replay_args`` the recorded kwargs are the base of each call and the replayed
  callbacks' messages are its value when the target returns nothing; an error callback fails
  the call (:class:`CallbackReportedError`) when the replay says so.

One call is one attempt of :class:`~fluxloop.runner.attempts.AttemptLoop`.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fluxloop.project.targets import Target

from .attempts import AttemptTimeout
from .binding import Binder, RunContext
from .output import Streamed, aggregate_chunks, is_async_iterable, is_sync_stream
from .pool import DaemonThreadPool
from .records import PlannedRun
from .replay import CallbackCollector, ReplayPlan
from .tracing import traced

__all__ = ["BoundCall", "CallbackReportedError", "TargetCaller"]


class CallbackReportedError(Exception):
    """The target reported a failure through its replayed error callback."""

    def __init__(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        super().__init__(f"the target reported an error through its error callback: {text}")


@dataclass
class BoundCall:
    """The arguments of one call and the replayed callbacks' collector (None without replay)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    collector: CallbackCollector | None = None


class TargetCaller:
    """Calls one target: its binding, the timeout, streams and the replayed callbacks."""

    def __init__(
        self,
        target: Target,
        *,
        replay: ReplayPlan | None = None,
        pool: DaemonThreadPool | None = None,
        timeout: float | None = None,
        stream_path: str | None = None,
    ) -> None:
        self.target = target
        self.func = traced(target.func, target.display_name)
        self.kind = target.kind
        self.binder = Binder(target.func)
        self.replay = replay
        self.pool = pool or DaemonThreadPool()
        self.timeout = timeout
        self.stream_path = stream_path

    # -- arguments -----------------------------------------------------------------------------

    def bind(
        self,
        ctx: RunContext,
        planned: PlannedRun,
        injected: Mapping[str, Any] | None = None,
    ) -> BoundCall:
        """The call's arguments; ``injected`` (by binding kind: ``messages``, ``state``, ...)
        replaces what binding would inject, never a recorded kwarg."""
        item = planned.item
        collector: CallbackCollector | None = None
        base: Mapping[str, Any] | None = None
        if self.replay is not None:
            base, collector = self.replay.build(
                ctx.input, item.metadata, iteration=planned.iteration, input_index=item.index
            )
            args, kwargs = self.binder.bind(ctx, base_kwargs=base)
        else:
            args, kwargs = self.binder.bind(ctx)
        if injected:
            for name, kind in self.binder.injections:
                if (base is None or name not in base) and kind in injected:
                    kwargs[name] = injected[kind]
        return BoundCall(args, kwargs, collector)

    # -- the call ------------------------------------------------------------------------------

    async def call(self, bound: BoundCall) -> Any:
        """Call the target once; raises what it raised, :class:`AttemptTimeout` or
        :class:`CallbackReportedError`."""
        value = await self.invoke(bound.args, bound.kwargs)
        collector = bound.collector
        if collector is None:
            return value
        if not collector.send and not collector.error:
            for _ in range(3):  # let callbacks scheduled by the target run
                await asyncio.sleep(0)
        if collector.error and self.replay is not None and self.replay.error_callback_fails_run:
            raise CallbackReportedError(collector.error[0])
        sent = collector.messages()  # what the callbacks received: one message or chunks
        if value is None and sent:
            value = sent[0] if len(sent) == 1 else aggregate_chunks(sent, self.stream_path)
        return value

    async def invoke(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The target's value (streams aggregated), bounded by the timeout."""
        if self.timeout is None:
            return await self._call(args, kwargs)
        try:
            async with asyncio.timeout(self.timeout) as scope:
                return await self._call(args, kwargs)
        except TimeoutError:
            if scope.expired():
                raise AttemptTimeout(f"run exceeded timeout_seconds={self.timeout:g}") from None
            raise

    def _call_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = self.func(*args, **kwargs)
        if is_sync_stream(result):
            return self._stream(result)
        return result

    def _stream(self, chunks: Any) -> Streamed:
        stream = Streamed(self.stream_path)
        for chunk in chunks:
            stream.add(chunk)
        return stream

    async def _drain(self, agen: Any) -> Streamed:
        stream = Streamed(self.stream_path)
        async for chunk in agen:
            stream.add(chunk)
        return stream

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call: Callable[..., Any] = self.func
        if self.kind == "async":
            result = await call(*args, **kwargs)
        elif self.kind == "asyncgen":
            result = await self._drain(call(*args, **kwargs))
        else:
            result = await self.pool.submit(
                self._call_sync, args, kwargs, context=contextvars.copy_context()
            )
        if inspect.isawaitable(result):
            result = await result
        if is_async_iterable(result):
            result = await self._drain(result)
        if isinstance(result, Streamed):
            return result.value()
        return result
