"""Deferred content: when FluxLoop's router is the provider's only span processor, a decorated
call keeps its input/output as raw orjson bytes and sets its attributes when the span ends;
the checks (limits, masking) run on the export thread. Whatever the path, every consumer sees
exactly what the eager path produces, and nothing unchecked ever leaves FluxLoop."""

from __future__ import annotations

import enum
import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fluxloop_exporters import FluxLoopSpanProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

import fluxloop
from fluxloop.sdk import _deferred as deferred
from fluxloop.sdk._runtime import RUNTIME
from fluxloop.sdk._serialize import (
    DEFAULT_OPTIONS,
    SerializeOptions,
    to_json,
    to_json_serialized,
    to_json_serialized_many,
)
from fluxloop.sdk._spans import content_deferred

pytestmark = pytest.mark.skipif(
    not deferred.SUPPORTED,
    reason="needs orjson and an OpenTelemetry SDK that keeps bytes attributes (1.45+)",
)

SECRET = "sk-abcdefghijklmnopqrstuvwxyz123456"


class Color(enum.Enum):
    RED = "red"


PLAIN_VALUES: list[Any] = [
    "plain text",
    "",
    42,
    -0.0,
    1e300,
    math.nan,
    None,
    True,
    [1, "two", 3.5, None],
    (1, 2),
    {"question": "where?", "options": {"temperature": 0.2, "locale": "fr-FR"}},
    {"api_key": "x", "nested": {"password": "p", "monkey": "ok", "author": "me"}},
    {"text": f"my key is {SECRET}", "auth": {"Authorization": "Bearer abcdefghijklmnop1234"}},
    {"deep": [[[[[[[[[[[["bottom"]]]]]]]]]]]]},
    {"long": "x" * 20_000},
    list(range(3_000)),
    {"unicode": "naïve café ☕ 日本語", "emoji": "🙂"},
    {"enum": Color.RED, "uuid": uuid.UUID(int=7)},
    {f"k{i}": "v" * 40 for i in range(900)},
]


@pytest.mark.parametrize("value", PLAIN_VALUES, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize(
    "options",
    [DEFAULT_OPTIONS, SerializeOptions(max_bytes=256, max_depth=3, max_items=10, max_string=50)],
    ids=["default", "tight"],
)
def test_resolved_text_is_what_the_eager_path_produces(
    value: Any, options: SerializeOptions
) -> None:
    data = deferred.snapshot(value, 1 << 20)
    assert data is not None
    assert to_json_serialized(data, options) == to_json(value, options)


@pytest.mark.parametrize(
    "options",
    [DEFAULT_OPTIONS, SerializeOptions(max_bytes=256, max_depth=3, max_items=10, max_string=50)],
    ids=["default", "tight"],
)
def test_a_batch_resolves_every_value_as_it_would_alone(options: SerializeOptions) -> None:
    """The export thread checks a batch's values together; whatever sits next to what (secrets
    at group edges, keys that need masking, bytes that are not JSON or not UTF-8), each value
    resolves to exactly its own text."""
    plain = [deferred.snapshot(value, 1 << 20) for value in PLAIN_VALUES]
    secrets = [
        f'"Bearer {SECRET[3:]}"'.encode(),
        b'{"nested":{"client_secret":"abc"}}',
        b'{"text":"postgres://user:hunter2@db/x"}',
        b'"' + SECRET[:10].encode() + b'"',
        b'"' + SECRET[10:].encode() + b'"',
    ]
    broken = [
        b'{"a\\"b":"escaped key","k":"v"}',
        b"not json at all",
        b'{"truncated json":',
        b'"\xff\xfe"',
        b"\xff\xfe",
        b"[" * 40 + b"]" * 40,
    ]
    datas = [data for data in plain if data is not None] * 12
    for position in (0, 63, 64, 65, len(datas)):
        datas[position:position] = secrets
    datas[200:200] = broken
    datas[130:130] = secrets[:1]  # alone among plain values
    expected = [to_json_serialized(data, options) for data in datas]
    assert to_json_serialized_many(datas, options) == expected
    assert any(SECRET not in text and "***" in text for text, _ in expected)


def test_values_that_are_not_plain_data_are_not_deferred() -> None:
    class Custom:
        pass

    for value in ({1: "int key"}, Custom(), {"x": Custom()}, 2**70, {"s": {1, 2}}):
        assert deferred.snapshot(value, 1 << 20) is None
    assert deferred.snapshot("y" * 100, 101) is None  # over the attribute limit: cut eagerly


class Collect(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
def exclusive() -> Iterator[tuple[TracerProvider, Collect]]:
    """A provider whose only span processor is FluxLoop's router, exporting to ``Collect``
    through FluxLoop's processor (as ``storage="file"`` or ``"otlp"`` do)."""
    provider = TracerProvider(shutdown_on_exit=False)
    fluxloop.reset_config()
    fluxloop.configure(tracer_provider=provider, storage="none")
    collect = Collect()
    router = provider._fluxloop_router  # type: ignore[attr-defined]
    router.set_pipeline([FluxLoopSpanProcessor(collect, prepare=router.resolver)], None)
    yield provider, collect
    fluxloop.reset_config()
    provider.shutdown()


def exported_attributes(collect: Collect, name: str) -> Mapping[str, Any]:
    fluxloop.flush()
    (span,) = [s for s in collect.spans if s.name == name]
    return span.attributes or {}


def test_owned_pipeline_defers_and_exports_checked_text(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    _, collect = exclusive
    assert content_deferred(RUNTIME) and RUNTIME.late_attributes
    seen: list[Any] = []

    @fluxloop.agent
    def answer(question: str, credentials: dict[str, str]) -> dict[str, str]:
        current = fluxloop.get_current_context()
        seen.append(current is not None and current.is_enabled())
        return {"reply": f"use {SECRET}", "token": "t-1"}

    answer(f"my key is {SECRET}", {"password": "hunter2"})
    attributes = exported_attributes(collect, "invoke_agent answer")
    assert seen == [True]
    assert all(type(v) is not bytes for v in attributes.values())
    assert json.loads(attributes["fluxloop.input"]) == {
        "question": "my key is sk-***",
        "credentials": "***",
    }
    assert json.loads(attributes["fluxloop.output"]) == {"reply": "use sk-***", "token": "***"}
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "answer"


def test_input_is_a_snapshot_taken_before_the_call(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    _, collect = exclusive

    @fluxloop.tool
    def append(items: list[str]) -> int:
        items.append("added by the tool")
        return len(items)

    items = ["first"]
    append(items)
    items.append("added after the call")
    attributes = exported_attributes(collect, "execute_tool append")
    assert json.loads(attributes["gen_ai.tool.call.arguments"]) == {"items": ["first"]}
    assert attributes["gen_ai.tool.call.result"] == "2"


def test_truncation_is_marked_on_the_export_thread(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    _, collect = exclusive

    @fluxloop.agent
    def echo(text: str) -> str:
        return text

    # within the attribute's byte limit (so deferred), beyond the string limit (so cut)
    text = "z" * 10_000
    assert deferred.snapshot(text, DEFAULT_OPTIONS.max_bytes) is not None
    echo(text)
    attributes = exported_attributes(collect, "invoke_agent echo")
    assert attributes["fluxloop.input"] == to_json({"text": text})[0]
    assert attributes["fluxloop.output"] == to_json(text)[0]
    assert len(attributes["fluxloop.output"]) < 9_000
    assert list(attributes["fluxloop.truncated"]) == ["fluxloop.input", "fluxloop.output"]


def test_values_over_the_size_limit_are_cut_on_the_callers_thread(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    _, collect = exclusive

    @fluxloop.agent
    def echo(text: str) -> str:
        return text

    echo("z" * 40_000)
    attributes = exported_attributes(collect, "invoke_agent echo")
    assert attributes["fluxloop.input"] == to_json({"text": "z" * 40_000})[0]
    assert len(attributes["fluxloop.output"].encode()) <= DEFAULT_OPTIONS.max_bytes
    assert list(attributes["fluxloop.truncated"]) == ["fluxloop.input", "fluxloop.output"]


def test_failures_keep_their_input(exclusive: tuple[TracerProvider, Collect]) -> None:
    _, collect = exclusive

    @fluxloop.agent
    def broken(question: str) -> str:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        broken("why?")
    attributes = exported_attributes(collect, "invoke_agent broken")
    assert json.loads(attributes["fluxloop.input"]) == {"question": "why?"}
    assert attributes["error.type"] == "ValueError"
    assert attributes["gen_ai.agent.name"] == "broken"


def test_a_shared_provider_gets_checked_text_at_once(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fluxloop.reset_config()
    fluxloop.configure(tracer_provider=provider, storage="file", base_path=tmp_path)
    try:
        assert not content_deferred(RUNTIME)

        @fluxloop.agent
        def answer(question: str) -> str:
            return question

        answer(SECRET)
        (span,) = exporter.get_finished_spans()
        assert span.attributes is not None
        assert span.attributes["fluxloop.input"] == '{"question":"sk-***"}'
        assert span.attributes["fluxloop.output"] == '"sk-***"'
    finally:
        fluxloop.reset_config()
        provider.shutdown()


def test_a_processor_added_during_a_call_never_sees_unchecked_content(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    provider, collect = exclusive
    late_exporter = InMemorySpanExporter()

    @fluxloop.agent
    def answer(question: str) -> str:
        provider.add_span_processor(SimpleSpanProcessor(late_exporter))
        return question

    answer(SECRET)
    (span,) = late_exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["fluxloop.input"] == '{"question":"sk-***"}'
    assert span.attributes["fluxloop.output"] == '"sk-***"'
    assert all(type(v) is not bytes for v in span.attributes.values())
    assert exported_attributes(collect, "invoke_agent answer")["fluxloop.input"] == (
        '{"question":"sk-***"}'
    )


class RecordingSampler(Sampler):
    """A sampler that decides on attributes: it must see them when the span starts."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "RecordingSampler"


def test_a_sampler_that_reads_attributes_gets_them_at_start(tmp_path: Path) -> None:
    sampler = RecordingSampler()
    client = fluxloop.FluxLoopClient(storage="file", base_path=tmp_path, sampler=sampler)
    try:
        assert client.runtime.content_gate is not None
        assert not client.runtime.late_attributes

        @fluxloop.agent
        def answer(question: str) -> str:
            return question

        with client.use():
            answer("hi")
        assert sampler.seen[-1]["gen_ai.operation.name"] == "invoke_agent"
        assert sampler.seen[-1]["gen_ai.agent.name"] == "answer"
    finally:
        client.shutdown()


def test_file_storage_writes_masked_content(tmp_path: Path) -> None:
    client = fluxloop.FluxLoopClient(storage="file", base_path=tmp_path)
    try:
        assert content_deferred(client.runtime) and client.runtime.late_attributes

        @fluxloop.agent
        def answer(question: str, api_key: str) -> str:
            return f"done with {SECRET}"

        with client.use():
            answer("hello", api_key=SECRET)
        client.flush()
    finally:
        client.shutdown()
    text = "".join(p.read_text() for p in tmp_path.glob("observations_*.jsonl"))
    assert SECRET not in text
    (record,) = [json.loads(line) for line in text.splitlines()]
    assert record["input"] == {"question": "hello", "api_key": "***"}
    assert record["output"] == "done with sk-***"


def test_model_calls_and_streams_resolve_messages_and_output(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    _, collect = exclusive

    @fluxloop.prompt(model="gpt-4o-mini")
    def complete(messages: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "choices": [{"message": {"role": "assistant", "content": f"use {SECRET}"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2},
        }

    @fluxloop.agent
    def stream(question: str) -> Iterator[str]:
        yield "a "
        yield SECRET

    complete([{"role": "user", "content": f"my key is {SECRET}"}])
    assert list(stream("q")) == ["a ", SECRET]
    generation = exported_attributes(collect, "chat gpt-4o-mini")
    streamed = exported_attributes(collect, "invoke_agent stream")
    for attributes in (generation, streamed):
        assert all(type(v) is not bytes for v in attributes.values())
        assert SECRET not in json.dumps(dict(attributes), default=str)
    assert json.loads(generation["gen_ai.input.messages"])[0]["parts"][0]["content"] == (
        "my key is sk-***"
    )
    assert "sk-***" in generation["gen_ai.output.messages"]
    assert generation["gen_ai.usage.input_tokens"] == 5
    assert json.loads(streamed["fluxloop.output"]) == "a sk-***"
    assert streamed["fluxloop.stream.chunk_count"] == 2


def test_concurrent_processors_never_defer() -> None:
    from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor

    provider = TracerProvider(
        shutdown_on_exit=False, active_span_processor=ConcurrentMultiSpanProcessor(2)
    )
    fluxloop.reset_config()
    fluxloop.configure(tracer_provider=provider, storage="none")
    try:
        # processors run in parallel there: nothing guarantees FluxLoop resolves first
        assert RUNTIME.content_gate is None
        assert not content_deferred(RUNTIME)
    finally:
        fluxloop.reset_config()
        provider.shutdown()


def test_async_calls_methods_and_keyword_arguments_on_the_deferred_path(
    exclusive: tuple[TracerProvider, Collect],
) -> None:
    import asyncio

    _, collect = exclusive

    class Assistant:
        @fluxloop.agent
        def reply(self, question: str, *, tone: str = "plain") -> str:
            return f"{tone}: {question}"

    @fluxloop.tool
    async def lookup(order_id: int, token: str = SECRET) -> dict[str, Any]:
        return {"order": order_id, "token": token}

    assert Assistant().reply("hi", tone="warm") == "warm: hi"
    assert asyncio.run(lookup(order_id=7)) == {"order": 7, "token": SECRET}
    method = exported_attributes(collect, "invoke_agent reply")
    tool = exported_attributes(collect, "execute_tool lookup")
    assert json.loads(method["fluxloop.input"]) == {"question": "hi", "tone": "warm"}
    assert json.loads(method["fluxloop.output"]) == "warm: hi"
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"order_id": 7, "token": "***"}
    assert json.loads(tool["gen_ai.tool.call.result"]) == {"order": 7, "token": "***"}


def test_bytes_that_are_not_json_are_checked_as_text() -> None:
    # content set as bytes through the OpenTelemetry API, not by FluxLoop's snapshot
    assert to_json_serialized(f"key {SECRET}".encode(), DEFAULT_OPTIONS) == to_json(f"key {SECRET}")
