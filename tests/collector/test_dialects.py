"""The dialect table on golden OTLP payloads recorded from the real packages.

The payloads under ``dialects/payloads/`` were exported by the real libraries (versions in
``dialects/payloads/manifest.json``) running the scenarios in ``dialects/scenarios/`` against a
local capture server (``dialects/capture.py``). Each goes through the collector's converter and the
contract encoder, as a request to ``fluxloop collector serve`` would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fluxloop_exporters import encode_records, load_schema
from fluxloop_exporters._dialects import MISSING, has_dialect, translate
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fluxloop.collector._convert import convert_request, parse_protobuf_request

PAYLOADS = Path(__file__).parent / "dialects" / "payloads"
MANIFEST = json.loads((PAYLOADS / "manifest.json").read_text())


def payload_bodies(dialect: str) -> list[bytes]:
    """The recorded request bodies (length-prefixed protobuf messages)."""
    data = (PAYLOADS / f"{dialect}.pb").read_bytes()
    bodies, i = [], 0
    while i < len(data):
        size = int.from_bytes(data[i : i + 4], "big")
        bodies.append(data[i + 4 : i + 4 + size])
        i += 4 + size
    return bodies


def payload_spans(dialect: str) -> list[ReadableSpan]:
    spans: list[ReadableSpan] = []
    for body in payload_bodies(dialect):
        converted = convert_request(parse_protobuf_request(body))
        assert converted.rejected == 0
        spans.extend(converted.spans)
    return spans


def encoded(dialect: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Observations by name and trace records by name."""
    observations: dict[str, dict[str, Any]] = {}
    traces: dict[str, dict[str, Any]] = {}
    obs_schema = jsonschema.Draft202012Validator(load_schema("observation"))
    trace_schema = jsonschema.Draft202012Validator(load_schema("trace"))
    for span in payload_spans(dialect):
        observation, trace = encode_records(span)
        obs_schema.validate(observation)
        observations.setdefault(observation["name"], observation)
        if trace is not None:
            trace_schema.validate(trace)
            traces.setdefault(trace["name"], trace)
    return observations, traces


def make_span(attributes: dict[str, Any]) -> ReadableSpan:
    """One span made by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("tests.dialects").start_span("a span", attributes=attributes).end()
    (span,) = memory.get_finished_spans()
    return span


def test_every_payload_names_its_package_versions() -> None:
    assert set(MANIFEST) == {"openinference", "langfuse", "mlflow", "logfire", "traceloop"}
    for dialect, info in MANIFEST.items():
        assert info["packages"], dialect
        assert (PAYLOADS / f"{dialect}.pb").is_file()


def test_openinference_langchain() -> None:
    obs, traces = encoded("openinference")
    tool = obs["lookup_order"]
    assert tool["type"] == "tool"
    assert tool["input"] == {"order_id": 42}
    assert tool["output"] == {"order_id": 42, "status": "packed"}
    llm = obs["GenericFakeChatModel"]
    assert llm["type"] == "generation"
    assert llm["input"][-1] == {
        "role": "user",
        "content": "Where is my order? (order: {'order_id': 42, 'status': 'packed'})",
    }
    assert llm["output"] == [
        {"role": "assistant", "content": "Order 42 is packed and ships tomorrow."}
    ]
    assert (llm["prompt_tokens"], llm["completion_tokens"], llm["total_tokens"]) == (21, 9, 30)
    assert obs["RunnableSequence"]["type"] == "chain"
    agent = obs["support_agent"]
    assert agent["type"] == "agent" and agent["input"] == "Where is my order?"
    trace = traces["support_agent"]
    assert trace["session_id"] == "session-oi" and trace["user_id"] == "user-oi"
    assert trace["tags"] == ["support", "golden"]
    assert trace["metadata"] == {"channel": "web"}
    assert trace["output"] == "Order 42 is packed and ships tomorrow."
    assert trace["resource"]["service.name"] == "openinference-capture"
    assert trace["scope"] == {
        "name": "openinference.instrumentation.langchain",
        "version": MANIFEST["openinference"]["packages"]["openinference-instrumentation-langchain"],
    }
    # consumed attributes do not linger in `attributes`
    assert not {"input.value", "output.value", "openinference.span.kind"} & set(tool["attributes"])
    failed = obs["cancel_order"]
    assert failed["type"] == "tool" and failed["level"] == "error"
    assert failed["error"] == "order 42 already shipped"
    assert traces["cancel_agent"]["status"] == "error"


def test_langfuse() -> None:
    obs, traces = encoded("langfuse")
    tool = obs["lookup_order"]
    assert tool["type"] == "tool"
    assert tool["input"] == 42  # {"args": [42], "kwargs": {}}: the one argument
    assert tool["output"] == {"order_id": 42, "status": "packed"}
    generation = obs["chat gpt-4o-mini"]
    assert generation["type"] == "generation" and generation["model"] == "gpt-4o-mini"
    assert (generation["prompt_tokens"], generation["completion_tokens"]) == (21, 9)
    assert generation["total_tokens"] == 30
    assert generation["output"] == {"role": "assistant", "content": "Order 42 is packed."}
    assert obs["support_agent"]["type"] == "agent"
    trace = traces["support-trace"]  # langfuse.trace.name
    assert trace["session_id"] == "session-lf" and trace["user_id"] == "user-lf"
    assert trace["tags"] == ["support", "golden"]
    assert trace["metadata"] == {"channel": "web"}
    assert (trace["input"], trace["output"]) == ("Where is my order?", "Order 42 is packed.")
    degraded = obs["degraded"]  # level ERROR + status message
    assert degraded["level"] == "error" and degraded["error"] == "fallback answer used"
    assert traces["degraded"]["status"] == "error"
    assert obs["cancel_order"]["error"] == "order 42 already shipped"


def test_mlflow() -> None:
    obs, traces = encoded("mlflow")
    assert obs["lookup_order"]["type"] == "tool"
    assert obs["lookup_order"]["output"] == {"order_id": 42, "status": "packed"}
    chat = obs["chat gpt-4o-mini"]
    assert chat["type"] == "generation"
    assert (chat["prompt_tokens"], chat["completion_tokens"], chat["total_tokens"]) == (21, 9, 30)
    assert chat["model"] == "gpt-4o-mini"  # from the chat model's inputs
    assert chat["output"] == {"role": "assistant", "content": "Order 42 is packed."}
    agent = obs["support_agent"]
    assert agent["type"] == "agent" and agent["input"] == {"question": "Where is my order?"}
    assert traces["support_agent"]["output"] == "Order 42 is packed."
    assert traces["cancel_order"]["status"] == "error"
    # MLflow JSON-encodes every value: the ones kept as attributes are decoded
    assert agent["attributes"]["mlflow.traceRequestId"].startswith("tr-")


def test_logfire_pydantic_ai() -> None:
    obs, traces = encoded("logfire")
    agent = obs["support_agent"]
    assert agent["type"] == "agent"
    assert agent["input"] == "Where is my order?"  # from pydantic_ai.all_messages
    assert agent["output"] == "Order 42 is packed."  # final_result
    assert obs["lookup_order"]["type"] == "tool"
    assert {o["type"] for n, o in obs.items() if n == "chat test"} == {"generation"}
    # the wrapping logfire span is named by its formatted message, not its template
    assert "handle request web" in traces
    root_agent = traces["support_agent"]
    assert (root_agent["input"], root_agent["output"]) == ("And order 7?", "Order 42 is packed.")
    assert root_agent["resource"]["service.name"] == "logfire-capture"


def test_traceloop() -> None:
    obs, traces = encoded("traceloop")
    workflow = obs["support_workflow"]  # named by traceloop.entity.name, not "….workflow"
    assert workflow["type"] == "chain"
    assert (workflow["input"], workflow["output"]) == ("Where is my order?", "Order 42 is packed.")
    assert obs["support_agent"]["type"] == "agent"
    assert obs["lookup_order"]["type"] == "tool" and obs["lookup_order"]["input"] == 42
    assert obs["answer"]["type"] == "span"  # a task
    assert obs["answer"]["input"] == {
        "args": ["Where is my order?", {"order_id": 42, "status": "packed"}],
        "kwargs": {},
    }
    # traceloop-sdk's OpenAI instrumentation speaks the GenAI conventions
    chat = obs["openai.chat"]
    assert chat["type"] == "generation" and chat["total_tokens"] == 30
    trace = traces["support_workflow"]
    assert trace["session_id"] == "session-tl" and trace["user_id"] == "user-tl"
    assert trace["scope"]["name"] == "traceloop.tracer"


def test_traceloop_older_llm_attributes() -> None:
    """The attributes OpenLLMetry's instrumentations wrote before the GenAI conventions."""
    record, _ = encode_records(
        make_span(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.prompt.0.role": "system",
                "gen_ai.prompt.0.content": "You are a support bot.",
                "gen_ai.prompt.1.role": "user",
                "gen_ai.prompt.1.content": "Where is my order?",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Packed.",
                "gen_ai.completion.0.finish_reason": "stop",
                "gen_ai.usage.prompt_tokens": 21,
                "gen_ai.usage.completion_tokens": 9,
                "llm.usage.total_tokens": 30,
            }
        )
    )
    assert record["type"] == "generation" and record["model"] == "gpt-4o-mini"
    assert record["input"] == [
        {"role": "system", "content": "You are a support bot."},
        {"role": "user", "content": "Where is my order?"},
    ]
    assert record["output"] == [
        {"role": "assistant", "content": "Packed.", "finish_reason": "stop"}
    ]
    assert (record["prompt_tokens"], record["completion_tokens"], record["total_tokens"]) == (
        21,
        9,
        30,
    )
    assert not any(k.startswith("gen_ai.prompt.") for k in record["attributes"])


# -- the table itself: precedence and bad values ----------------------------------------------


def test_genai_conventions_win_over_a_dialect() -> None:
    attrs: dict[str, Any] = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "dialect-model",
        "llm.token_count.prompt": 5,
    }
    mapped = translate(dict(attrs))
    assert mapped.model == "dialect-model" and mapped.prompt_tokens == 5
    span = make_span(
        {
            **attrs,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "genai-model",
            "gen_ai.usage.input_tokens": 7,
        }
    )
    record, _ = encode_records(span)
    assert record["model"] == "genai-model" and record["prompt_tokens"] == 7
    assert record["type"] == "generation"


@pytest.mark.parametrize(
    ("attrs", "expect", "note"),
    [
        (  # a number where text is expected
            {"openinference.span.kind": "TOOL", "input.value": 12345},
            {"input": "12345"},
            "input.value: expected text",
        ),
        (  # invalid JSON in input.value
            {"input.value": "{not json", "input.mime_type": "application/json"},
            {"input": "{not json"},
            "input.value: invalid JSON",
        ),
        (  # an absurd message index: not allocated, kept as an attribute
            {
                "openinference.span.kind": "LLM",
                "llm.input_messages.99999999999.message.content": "x",
                "llm.input_messages.0.message.content": "hi",
            },
            {"input": [{"content": "hi"}]},
            "index out of range",
        ),
        (  # tokens that are not numbers
            {"openinference.span.kind": "LLM", "llm.token_count.prompt": "many"},
            {"prompt_tokens": None},
            "expected an integer",
        ),
        (  # langfuse usage that is not JSON
            {"langfuse.observation.type": "generation", "langfuse.observation.usage_details": "?"},
            {"prompt_tokens": None},
            "usage_details: not JSON",
        ),
    ],
)
def test_bad_values_are_kept_as_text_with_a_note(
    attrs: dict[str, Any], expect: dict[str, Any], note: str
) -> None:
    assert has_dialect(attrs)
    record, _ = encode_records(make_span(attrs))
    for key, value in expect.items():
        assert record[key] == value
    assert any(note in n for n in record["metadata"]["dialect_notes"]), record["metadata"]
    jsonschema.Draft202012Validator(load_schema("observation")).validate(record)


def test_no_dialect_no_change() -> None:
    assert not has_dialect({"gen_ai.operation.name": "chat", "http.method": "GET"})
    assert translate({}).input is MISSING
