"""Generators and async generators: the span stays open across yields, is current only while
the body runs, and ends exactly once however the stream stops."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from fluxloop_semconv import attributes as attr
from opentelemetry import trace as otel_trace
from opentelemetry.trace import StatusCode

import fluxloop

from .conftest import Exported, parent_of, span_id


@pytest.fixture(autouse=True)
def _no_detach_noise(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    yield
    noisy = [
        r
        for r in caplog.records
        if "detach" in r.getMessage().lower() or "already ended" in r.getMessage().lower()
    ]
    assert noisy == [], [r.getMessage() for r in noisy]


def test_generator_span_spans_the_stream_and_aggregates_text(exported: Exported) -> None:
    seen_inside: list[str] = []

    @fluxloop.prompt(model="m")
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            seen_inside.append(otel_trace.get_current_span().name)  # type: ignore[attr-defined]
            yield f"t{i} "

    consumer_view: list[object] = []
    chunks = []
    for chunk in stream(3):
        consumer_view.append(otel_trace.get_current_span())
        chunks.append(chunk)
    assert chunks == ["t0 ", "t1 ", "t2 "]
    assert seen_inside == ["chat m"] * 3  # current while the body runs
    assert all(not s.get_span_context().is_valid for s in consumer_view)  # type: ignore[attr-defined]
    span = exported.named("chat m")
    attrs = span.attributes or {}
    assert json.loads(str(attrs[attr.FLUXLOOP_OUTPUT])) == "t0 t1 t2 "
    assert attrs[attr.FLUXLOOP_STREAM_CHUNK_COUNT] == 3
    assert attrs[attr.GEN_AI_REQUEST_STREAM] is True
    assert float(attrs[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) >= 0  # type: ignore[arg-type]


def test_generator_early_break_close_and_error_end_exactly_once(exported: Exported) -> None:
    @fluxloop.tool
    def numbers() -> Iterator[int]:
        yield from range(100)

    for n in numbers():
        if n == 2:
            break
    gc.collect()
    g = numbers()
    next(g)
    g.close()

    @fluxloop.tool
    def failing() -> Iterator[int]:
        yield 1
        raise KeyError("gone")

    with pytest.raises(KeyError):
        list(failing())
    never_started = numbers()
    del never_started
    gc.collect()
    spans = [s for s in exported.spans if s.name == "execute_tool numbers"]
    assert len(spans) == 3 and all(s.end_time is not None for s in spans)
    assert sorted((s.attributes or {})[attr.FLUXLOOP_STREAM_CHUNK_COUNT] for s in spans) == [
        0,
        1,
        3,
    ]
    failed = exported.named("execute_tool failing")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})[attr.ERROR_TYPE] == "KeyError"


def test_generator_send_and_return_value_pass_through(exported: Exported) -> None:
    @fluxloop.trace
    def echo() -> Iterator[object]:
        received = yield "ready"
        while received != "stop":
            received = yield f"got {received}"
        return "done"

    g = echo()
    assert next(g) == "ready"
    assert g.send("a") == "got a"
    with pytest.raises(StopIteration) as stop:
        g.send("stop")
    assert stop.value.value == "done"
    assert exported.named("echo").end_time is not None


def test_nested_children_of_a_generator_are_parented_to_it(exported: Exported) -> None:
    @fluxloop.tool
    def lookup(i: int) -> int:
        return i

    @fluxloop.agent
    def agent_stream() -> Iterator[int]:
        for i in range(2):
            yield lookup(i)

    @fluxloop.tool
    def outside(i: int) -> int:
        return i

    for item in agent_stream():
        outside(item)  # runs between yields: NOT a child of the agent span
    root = exported.named("invoke_agent agent_stream")
    lookups = [s for s in exported.spans if s.name == "execute_tool lookup"]
    assert all(parent_of(s) == span_id(root) for s in lookups)
    assert all(parent_of(s) is None for s in exported.spans if s.name == "execute_tool outside")


def test_async_generator_exhaustion_break_aclose_and_cancel(exported: Exported) -> None:
    @fluxloop.prompt(model="am")
    async def stream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            yield str(i)

    @fluxloop.tool
    async def slow() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(10)
        yield 2

    async def main() -> None:
        assert [c async for c in stream(3)] == ["0", "1", "2"]
        async for c in stream(5):
            if c == "1":
                break
        g = stream(5)
        await g.__anext__()
        await g.aclose()

        async def consume() -> None:
            async for _ in slow():
                pass

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    gc.collect()
    streams = [s for s in exported.spans if s.name == "chat am"]
    assert len(streams) == 3 and all(s.end_time for s in streams)
    full = max(streams, key=lambda s: (s.attributes or {})[attr.FLUXLOOP_STREAM_CHUNK_COUNT])
    assert json.loads(str((full.attributes or {})[attr.FLUXLOOP_OUTPUT])) == "012"
    cancelled = exported.named("execute_tool slow")
    assert cancelled.status.status_code is StatusCode.ERROR
    assert (cancelled.attributes or {})[attr.ERROR_TYPE] == "asyncio.exceptions.CancelledError"


def test_streaming_example_agent(exported: Exported) -> None:
    from examples import streaming_agent

    asyncio.run(streaming_agent.main("Tell me about Seoul"))
    names = set(exported.names())
    assert {"invoke_agent StreamingAgent", "execute_tool search", "chat stub-stream-1"} <= names
    agent = exported.named("invoke_agent StreamingAgent")
    chat = exported.named("chat stub-stream-1")
    assert parent_of(chat) == span_id(agent)
    assert "Seoul is the capital" in json.loads(str((agent.attributes or {})[attr.FLUXLOOP_OUTPUT]))


def test_throw_and_athrow_reach_the_wrapped_generator(exported: Exported) -> None:
    @fluxloop.tool
    def resilient() -> Iterator[str]:
        while True:
            try:
                yield "ok"
            except ValueError as exc:
                yield f"handled {exc}"

    g = resilient()
    assert next(g) == "ok"
    assert g.throw(ValueError("one")) == "handled one"
    assert next(g) == "ok"
    assert g.throw(ValueError("two")) == "handled two"  # a second throw is passed on as well
    with pytest.raises(KeyError):
        g.throw(KeyError("fatal"))

    @fluxloop.tool
    async def aresilient() -> AsyncIterator[str]:
        while True:
            try:
                yield "ok"
            except ValueError as exc:
                yield f"handled {exc}"

    async def main() -> list[str]:
        ag = aresilient()
        seen = [await ag.__anext__(), await ag.athrow(ValueError("a"))]
        with pytest.raises(KeyError):
            await ag.athrow(KeyError("fatal"))
        return seen

    assert asyncio.run(main()) == ["ok", "handled a"]
    spans = {s.name: s for s in exported.spans}
    assert spans["execute_tool resilient"].status.status_code is StatusCode.ERROR
    assert spans["execute_tool aresilient"].status.status_code is StatusCode.ERROR
