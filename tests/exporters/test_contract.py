"""The contract-v1 encoder: every field, every derived type, foreign spans, errors, robustness."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fluxloop_exporters import (
    CONTRACT_VERSION,
    encode_observation,
    encode_trace,
    normalize_id,
    parse_timestamp,
)
from fluxloop_exporters._contract import format_timestamp_ns
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from .conftest import T0, SpanFactory


def one_span(factory: SpanFactory, name: str = "s", **attributes: Any) -> ReadableSpan:
    span = factory.tracer.start_span(name, attributes=attributes, start_time=T0)
    span.end(end_time=T0 + 1_500_000)
    return factory.spans()[-1]


def test_contract_version() -> None:
    assert CONTRACT_VERSION == "2"


def test_observation_fields(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        "chat gpt-4o",
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 30,
            "fluxloop.input": json.dumps({"question": "hi", "n": [1, 2]}),
            "fluxloop.output": json.dumps("hello"),
            "fluxloop.metadata": json.dumps({"team": "x"}),
            "gen_ai.response.finish_reasons": ("stop",),
            "temperature.float": 0.5,
        },
    )
    record = encode_observation(span)
    assert record == {
        "id": f"{span.context.span_id:016x}",
        "trace_id": f"{span.context.trace_id:032x}",
        "parent_observation_id": None,
        "parent_id": None,
        "resource": {"service.name": "fluxloop-tests"},
        "scope": {"name": "fluxloop.tests", "version": "1.0"},
        "type": "generation",
        "name": "chat gpt-4o",
        "start_time": "2026-01-02T03:04:05.123456+00:00",
        "end_time": "2026-01-02T03:04:05.124956+00:00",
        "input": {"question": "hi", "n": [1, 2]},
        "output": "hello",
        "error": None,
        "level": "info",
        "metadata": {"team": "x"},
        "model": "gpt-4o",
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        "attributes": {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024",
            "gen_ai.response.finish_reasons": ["stop"],
            "temperature.float": 0.5,
        },
    }
    json.dumps(record, allow_nan=False)  # JSON-safe


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("chat", "generation"),
        ("text_completion", "generation"),
        ("generate_content", "generation"),
        ("execute_tool", "tool"),
        ("invoke_agent", "agent"),
        ("create_agent", "agent"),
        ("embeddings", "embedding"),
        ("retrieval", "retrieval"),
        ("invoke_workflow", "chain"),
        ("something_new", "span"),
    ],
)
def test_type_from_operation(span_factory: SpanFactory, operation: str, expected: str) -> None:
    span = one_span(span_factory, **{"gen_ai.operation.name": operation})
    record = encode_observation(span)
    assert record["type"] == expected
    assert record["attributes"]["gen_ai.operation.name"] == operation


@pytest.mark.parametrize(
    "obs_type",
    [
        "agent",
        "tool",
        "generation",
        "retrieval",
        "embedding",
        "span",
        "event",
        "chain",
        "evaluation",
    ],
)
def test_explicit_type_wins(span_factory: SpanFactory, obs_type: str) -> None:
    span = one_span(
        span_factory,
        **{"fluxloop.observation.type": obs_type, "gen_ai.operation.name": "chat"},
    )
    record = encode_observation(span)
    assert record["type"] == obs_type
    assert "fluxloop.observation.type" not in record["attributes"]


def test_unknown_explicit_type_falls_back_and_is_kept(span_factory: SpanFactory) -> None:
    span = one_span(span_factory, **{"fluxloop.observation.type": "weird"})
    record = encode_observation(span)
    assert record["type"] == "span"
    assert record["attributes"]["fluxloop.observation.type"] == "weird"


def test_name_and_level_overrides(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        "execute_tool search",
        **{"fluxloop.observation.name": "search", "fluxloop.observation.level": "debug"},
    )
    record = encode_observation(span)
    assert (record["name"], record["level"]) == ("search", "debug")
    assert record["attributes"] == {}
    bad = one_span(span_factory, **{"fluxloop.observation.level": "LOUD"})
    assert encode_observation(bad)["level"] == "info"


def test_tool_fallback_input_output(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        "execute_tool add",
        **{
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "add",
            "gen_ai.tool.call.arguments": '{"a": 1, "b": 2}',
            "gen_ai.tool.call.result": "3",
        },
    )
    record = encode_observation(span)
    assert record["type"] == "tool"
    assert record["input"] == {"a": 1, "b": 2}
    assert record["output"] == 3
    assert record["attributes"] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
    }


def test_generation_fallback_messages(span_factory: SpanFactory) -> None:
    messages_in = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    messages_out = [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
    span = one_span(
        span_factory,
        **{
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(messages_in),
            "gen_ai.output.messages": json.dumps(messages_out),
            "gen_ai.usage.output_tokens": 4,
        },
    )
    record = encode_observation(span)
    assert record["input"] == messages_in
    assert record["output"] == messages_out
    assert (record["prompt_tokens"], record["completion_tokens"], record["total_tokens"]) == (
        None,
        4,
        4,
    )
    assert "gen_ai.input.messages" not in record["attributes"]


def test_fluxloop_input_wins_and_messages_stay_in_attributes(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        **{"fluxloop.input": '{"x": 1}', "gen_ai.input.messages": "[]"},
    )
    record = encode_observation(span)
    assert record["input"] == {"x": 1}
    assert record["attributes"] == {"gen_ai.input.messages": "[]"}


def test_foreign_http_span_is_a_span_observation(span_factory: SpanFactory) -> None:
    with span_factory.tracer.start_as_current_span("root"):
        span = span_factory.tracer.start_span(
            "GET",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "GET",
                "url.full": "https://example.com/x",
                "http.response.status_code": 200,
            },
        )
        span.end()
    child, root = span_factory.spans()
    record = encode_observation(child)
    assert record["type"] == "span"
    assert record["name"] == "GET"
    assert record["parent_observation_id"] == f"{root.context.span_id:016x}"
    assert record["input"] is None and record["output"] is None
    assert record["model"] is None and record["total_tokens"] is None
    assert record["attributes"]["http.response.status_code"] == 200
    assert encode_trace(child) is None
    assert encode_trace(root) is not None


def test_error_span(span_factory: SpanFactory) -> None:
    tracer = span_factory.tracer
    with (
        pytest.raises(ValueError),
        tracer.start_as_current_span(
            "invoke_agent a", attributes={"fluxloop.metadata": '{"k": 1}'}
        ),
    ):
        raise ValueError("agent failed on purpose")
    (span,) = span_factory.spans()
    record = encode_observation(span)
    assert record["error"] == "agent failed on purpose"  # str(exc), like the original SDK
    assert record["level"] == "error"
    assert record["metadata"]["k"] == 1
    assert record["metadata"]["error_type"] == "ValueError"
    assert "Traceback" in record["metadata"]["traceback"]
    trace = encode_trace(span)
    assert trace is not None
    assert trace["status"] == "error"
    assert trace["metadata"] == {"k": 1}


def test_error_without_description_uses_exception_message(span_factory: SpanFactory) -> None:
    span = span_factory.tracer.start_span("s")
    span.record_exception(RuntimeError("boom"))
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    record = encode_observation(span_factory.spans()[-1])
    assert record["error"] == "boom"
    assert record["metadata"]["error_type"] == "RuntimeError"


def test_error_description_without_exception(span_factory: SpanFactory) -> None:
    span = span_factory.tracer.start_span("s")
    span.set_status(Status(StatusCode.ERROR, "upstream said no"))
    span.end()
    record = encode_observation(span_factory.spans()[-1])
    assert record["error"] == "upstream said no"
    assert "error_type" not in record["metadata"]


def test_error_with_only_error_type(span_factory: SpanFactory) -> None:
    span = span_factory.tracer.start_span("s", attributes={"error.type": "timeout"})
    span.set_status(Status(StatusCode.ERROR))
    span.end()
    record = encode_observation(span_factory.spans()[-1])
    assert record["error"] == "timeout"
    assert record["level"] == "error"


def test_trace_record(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        "my-trace",
        **{
            "fluxloop.session.id": "sess-1",
            "fluxloop.user.id": "u-7",
            "fluxloop.tags": ("a", "b"),
            "fluxloop.metadata": '{"iteration": 3}',
            "fluxloop.input": '"hello"',
            "fluxloop.output": '{"answer": 42}',
            "fluxloop.experiment.name": "exp",
            "fluxloop.run.iteration": 3,
            "fluxloop.run.persona": "novice",
            "other": "x",
        },
    )
    trace = encode_trace(span)
    assert trace == {
        "id": f"{span.context.trace_id:032x}",
        "trace_id": f"{span.context.trace_id:032x}",
        "resource": {"service.name": "fluxloop-tests"},
        "scope": {"name": "fluxloop.tests", "version": "1.0"},
        "name": "my-trace",
        "start_time": "2026-01-02T03:04:05.123456+00:00",
        "end_time": "2026-01-02T03:04:05.124956+00:00",
        "session_id": "sess-1",
        "user_id": "u-7",
        "metadata": {"iteration": 3},
        "tags": ["a", "b"],
        "status": "success",
        "input": "hello",
        "output": {"answer": 42},
        "attributes": {
            "fluxloop.experiment.name": "exp",
            "fluxloop.run.iteration": 3,
            "fluxloop.run.persona": "novice",
        },
    }
    # the observation keeps session/user/tags as attributes
    assert encode_observation(span)["attributes"]["fluxloop.session.id"] == "sess-1"


def test_tags_as_json_string(span_factory: SpanFactory) -> None:
    span = one_span(span_factory, **{"fluxloop.tags": '["x", "y"]'})
    trace = encode_trace(span)
    assert trace is not None and trace["tags"] == ["x", "y"]


def test_remote_parent_is_a_local_root(span_factory: SpanFactory) -> None:
    remote = SpanContext(
        trace_id=0x1234, span_id=0x99, is_remote=True, trace_flags=trace_api.TraceFlags(1)
    )
    ctx = trace_api.set_span_in_context(NonRecordingSpan(remote))
    span_factory.tracer.start_span("server", context=ctx, kind=SpanKind.SERVER).end()
    span = span_factory.spans()[-1]
    record = encode_observation(span)
    assert record["parent_observation_id"] == f"{0x99:016x}"
    trace = encode_trace(span)
    assert trace is not None and trace["id"] == f"{0x1234:032x}"


def test_malformed_attributes_become_strings(span_factory: SpanFactory) -> None:
    span = one_span(
        span_factory,
        **{
            "fluxloop.input": "{not json",
            "fluxloop.output": "plain text",
            "fluxloop.metadata": "[1, 2]",
            "gen_ai.usage.input_tokens": "seven",
            "gen_ai.usage.output_tokens": "5",
            "nan": math.nan,
            "inf": (1.0, math.inf),
        },
    )
    record = encode_observation(span)
    assert record["input"] == "{not json"
    assert record["output"] == "plain text"
    assert record["metadata"] == {"value": [1, 2]}
    assert (record["prompt_tokens"], record["completion_tokens"], record["total_tokens"]) == (
        None,
        5,
        5,
    )
    assert record["attributes"] == {"nan": "nan", "inf": [1.0, "inf"]}
    json.dumps(record, allow_nan=False)


def test_encoder_never_raises_on_a_broken_span() -> None:
    class Broken(ReadableSpan):
        @property
        def attributes(self) -> Any:
            raise RuntimeError("broken attributes")

    span = Broken(
        name="broken",
        context=SpanContext(1, 2, False, trace_api.TraceFlags(1)),
        start_time=T0,
        end_time=T0,
    )
    record = encode_observation(span)
    assert record["id"] == f"{2:016x}" and record["name"] == "broken"
    assert "broken attributes" in record["metadata"]["encoding_error"]
    assert encode_trace(span) is None  # no trace record can be built; still no exception


def test_unended_span_has_null_end_time() -> None:
    span = ReadableSpan(name="open", context=SpanContext(1, 2, False), start_time=T0)
    record = encode_observation(span)
    assert record["end_time"] is None and record["start_time"].startswith("2026-01-02T03:04:05")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(
            st.text(max_size=50),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=True, allow_infinity=True),
            st.booleans(),
            st.lists(st.integers(min_value=0, max_value=10), max_size=3).map(tuple),
            st.lists(st.text(max_size=5), max_size=3).map(tuple),
        ),
        max_size=8,
    )
)
def test_any_attributes_encode_to_strict_json(attributes: dict[str, Any]) -> None:
    span = ReadableSpan(
        name="h",
        context=SpanContext(5, 6, False),
        attributes=attributes,
        start_time=T0,
        end_time=T0 + 1,
    )
    for record in (encode_observation(span), encode_trace(span)):
        assert record is not None
        json.dumps(record, allow_nan=False)


# -- timestamps and ids ----------------------------------------------------------------------------


def test_format_timestamp() -> None:
    assert format_timestamp_ns(0) == "1970-01-01T00:00:00.000000+00:00"
    assert format_timestamp_ns(T0) == "2026-01-02T03:04:05.123456+00:00"
    assert format_timestamp_ns(None) is None
    assert format_timestamp_ns(10**30) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T03:04:05.123456+00:00", datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
        ("2026-01-02T03:04:05.123456Z", datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
        ("2026-01-02T03:04:05.123456", datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
        ("2026-01-02T03:04:05", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02 03:04:05.5", datetime(2026, 1, 2, 3, 4, 5, 500000, UTC)),
        ("2026-01-02T05:04:05.123456+02:00", datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
        ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456, UTC)),
    ],
)
def test_parse_timestamp(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_parse_timestamp_round_trip_and_errors() -> None:
    assert parse_timestamp(format_timestamp_ns(T0) or "") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    for bad in ("", "yesterday", "2026-13-40"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
    with pytest.raises(ValueError):
        parse_timestamp(12)  # type: ignore[arg-type]


def test_normalize_id() -> None:
    assert normalize_id("00F067AA0BA902B7") == "00f067aa0ba902b7"
    assert normalize_id("4bf92f3577b34da6a3ce929d0e0e4736") == "4bf92f3577b34da6a3ce929d0e0e4736"
    uuid_text = "EC8CFAB2-2ED1-4F08-9E05-E7CE32C7B544"
    assert normalize_id(uuid_text) == uuid_text.lower()
    with pytest.raises(ValueError):
        normalize_id("nope")
