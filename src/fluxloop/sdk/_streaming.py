"""Spans around generators and async generators (streamed model output, streamed agents).

The span starts when the generator function is called and stays open across yields, but it is
current only while the generator's own body runs (so code between two ``next()`` calls is not
parented under it, and no context is ever detached in a different context: no "Failed to
detach context" noise). It ends exactly once: on exhaustion, error, ``close()``/``aclose()``,
an early ``break`` (via generator finalization), cancellation, or garbage collection of a
generator that was never started. Chunks are aggregated into the output, bounded.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from fluxloop_semconv import attributes as attr
from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from fluxloop.sdk._genai import extract_usage
from fluxloop.sdk._runtime import Runtime
from fluxloop.sdk._spans import (
    mark_truncated,
    record_failure,
    result_attributes,
)

if TYPE_CHECKING:
    from fluxloop.sdk._decorators import Instrumentation

logger = logging.getLogger("fluxloop")

MAX_CHUNKS = 1_000
MAX_TEXT_CHARS = 1_000_000


class StreamState:
    """One streamed call: its span, the chunks seen so far, and whether it has ended."""

    __slots__ = (
        "__weakref__",
        "chunks",
        "count",
        "ended",
        "first_chunk_ns",
        "instrumentation",
        "runtime",
        "span",
        "start_ns",
        "text",
        "texts_only",
    )

    def __init__(self, instrumentation: Instrumentation, runtime: Runtime, span: Span) -> None:
        self.instrumentation = instrumentation
        self.runtime = runtime
        self.span = span
        self.start_ns = time.monotonic_ns()
        self.first_chunk_ns: int | None = None
        self.chunks: list[Any] = []
        self.text: list[str] = []
        self.texts_only = True
        self.count = 0
        self.ended = False

    def add(self, chunk: Any) -> None:
        """Remember one chunk (bounded)."""
        try:
            if self.first_chunk_ns is None:
                self.first_chunk_ns = time.monotonic_ns()
            self.count += 1
            text = _chunk_text(chunk)
            if text is None:
                self.texts_only = False
            elif sum(map(len, self.text)) < MAX_TEXT_CHARS:
                self.text.append(text)
            if len(self.chunks) < MAX_CHUNKS:
                self.chunks.append(chunk)
        except Exception:
            logger.debug("fluxloop: could not record a chunk", exc_info=True)

    def aggregate(self) -> Any:
        """The output of the stream: the joined text when chunks are text, else the chunks."""
        if self.texts_only and self.count:
            return "".join(self.text)
        if self.count > len(self.chunks):
            return [*self.chunks, f"…({self.count - len(self.chunks)} more chunks)"]
        return self.chunks

    def finish(self, exc: BaseException | None = None) -> None:
        """End the span once, its final attributes set in one call; never raises."""
        if self.ended:
            return
        self.ended = True
        span = self.span
        try:
            if span.is_recording():
                instrumentation = self.instrumentation
                values: dict[str, Any] = {attr.FLUXLOOP_STREAM_CHUNK_COUNT: self.count}
                if self.first_chunk_ns is not None:
                    values[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (
                        self.first_chunk_ns - self.start_ns
                    ) / 1e9
                if instrumentation.kind == "generation":
                    values[attr.GEN_AI_REQUEST_STREAM] = True
                truncated = False
                if instrumentation.capture_output and self.count:
                    output, truncated = result_attributes(
                        self.runtime, instrumentation.convention, self.aggregate()
                    )
                    values.update(output)
                    values.update(self._usage_from_chunks())
                span.set_attributes(values)
                if truncated:
                    mark_truncated(span, instrumentation.output_attribute)
                if exc is not None:
                    record_failure(span, exc)
        except Exception:
            logger.debug("fluxloop: could not finish a stream span", exc_info=True)
        try:
            span.end()
        except Exception:
            logger.debug("fluxloop: could not end a stream span", exc_info=True)

    def _usage_from_chunks(self) -> dict[str, int]:
        for chunk in reversed(self.chunks[-8:]):
            usage = extract_usage(chunk)
            if usage is not None:
                values = {
                    attr.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
                    attr.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
                }
                return {k: v for k, v in values.items() if v is not None}
        return {}


def _chunk_text(chunk: Any) -> str | None:
    if isinstance(chunk, str):
        return chunk
    content = getattr(chunk, "content", None)  # LangChain AIMessageChunk
    if isinstance(content, str):
        return content
    if isinstance(chunk, Mapping):
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
            delta = choices[0].get("delta") or {}
            text = delta.get("content") if isinstance(delta, Mapping) else None
            return text if isinstance(text, str) else ""
    choices = getattr(chunk, "choices", None)  # OpenAI ChatCompletionChunk
    if isinstance(choices, list) and choices:
        text = getattr(getattr(choices[0], "delta", None), "content", None)
        return text if isinstance(text, str) else ""
    return None


def _finish_abandoned(state: StreamState) -> None:
    state.finish()


def _begin(
    instrumentation: Instrumentation,
    runtime: Runtime,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> tuple[StreamState, otel_context.Context] | None:
    try:
        span, ctx = instrumentation.start(runtime, instance, args, kwargs)
        return StreamState(instrumentation, runtime, span), ctx
    except Exception:
        logger.debug("fluxloop: instrumentation failed; streaming untraced", exc_info=True)
        return None


def trace_generator(
    instrumentation: Instrumentation,
    runtime: Runtime,
    wrapped: Callable[..., Any],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call a generator or async generator function; return a (async) generator that traces it.

    The span starts now; the generator function itself is called with the span current (its
    body does not run until the first ``next()``, but arguments may be evaluated eagerly).
    """
    begun = _begin(instrumentation, runtime, instance, args, kwargs)
    if begun is None:
        return wrapped(*args, **kwargs)
    state, ctx = begun
    token = otel_context.attach(ctx)
    try:
        inner = wrapped(*args, **kwargs)
    except BaseException as exc:
        otel_context.detach(token)
        state.finish(exc)
        raise
    otel_context.detach(token)
    traced = _traced_async_generator if instrumentation.is_async_gen else _traced_generator
    outer = traced(inner, state, ctx)
    weakref.finalize(outer, _finish_abandoned, state)
    return outer


def _traced_generator(
    inner: Generator[Any, Any, Any], state: StreamState, ctx: otel_context.Context
) -> Generator[Any, Any, Any]:
    sent: Any = None
    thrown: BaseException | None = None  # thrown into us with .throw(): passed on to inner
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                chunk = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                otel_context.detach(token)
                state.finish()
                return stop.value
            except BaseException as exc:
                otel_context.detach(token)
                state.finish(exc)
                raise
            otel_context.detach(token)
            state.add(chunk)
            sent, thrown = None, None
            try:
                sent = yield chunk
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:
                thrown = exc
    finally:
        state.finish()


async def _traced_async_generator(
    inner: AsyncGenerator[Any, Any], state: StreamState, ctx: otel_context.Context
) -> AsyncGenerator[Any, Any]:
    sent: Any = None
    thrown: BaseException | None = None  # thrown into us with .athrow(): passed on to inner
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                chunk = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
            except StopAsyncIteration:
                otel_context.detach(token)
                state.finish()
                return
            except BaseException as exc:
                otel_context.detach(token)
                state.finish(exc)
                raise
            otel_context.detach(token)
            state.add(chunk)
            sent, thrown = None, None
            try:
                sent = yield chunk
            except GeneratorExit:
                await inner.aclose()
                raise
            except BaseException as exc:
                thrown = exc
    finally:
        state.finish()
