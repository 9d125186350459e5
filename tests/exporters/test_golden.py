"""Golden files of the JSONL contract v1, produced from spans built with the real OTel SDK.

Regenerate with ``FLUXLOOP_UPDATE_GOLDEN=1 pytest tests/exporters/test_golden.py`` (then review the
diff: a change here is a change of the contract, which needs a new contract version).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fluxloop_exporters import (
    CONTRACT_VERSION,
    JsonlFileSpanExporter,
    encode_observation,
    encode_trace,
    load_schema,
)
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode

from .conftest import T0, SpanFactory

GOLDEN = Path(__file__).parent / "golden" / f"v{CONTRACT_VERSION}"
UPDATE = os.environ.get("FLUXLOOP_UPDATE_GOLDEN") == "1"
MS = 1_000_000


def build_spans() -> list[ReadableSpan]:
    """Four traces: an agent -> tool -> generation tree with a foreign HTTP span, an error, a
    streamed generation, and a server span continuing a remote trace. Fixed ids and times."""
    factory = SpanFactory()
    tracer = factory.tracer

    def at(ms: int) -> int:
        return T0 + ms * MS

    # 1. agent -> tool -> generation, plus an HTTP client span from another instrumentation
    agent = tracer.start_span(
        "invoke_agent support-bot",
        start_time=at(0),
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support-bot",
            "fluxloop.input": json.dumps({"message": "Where is my order #42?"}),
            "fluxloop.output": json.dumps("Your order ships tomorrow."),
            "fluxloop.metadata": json.dumps({"channel": "web", "attempt": 1}),
            "fluxloop.session.id": "session-7",
            "fluxloop.user.id": "user-3",
            "fluxloop.tags": ("support", "golden"),
            "fluxloop.experiment.name": "golden-exp",
            "fluxloop.run.iteration": 2,
            "fluxloop.run.persona": "novice_user",
        },
    )
    agent_ctx = trace_api.set_span_in_context(agent)
    tool = tracer.start_span(
        "execute_tool lookup_order",
        context=agent_ctx,
        start_time=at(5),
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "lookup_order",
            "gen_ai.tool.description": "Find an order by id",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": json.dumps({"order_id": 42}),
            "gen_ai.tool.call.result": json.dumps({"status": "packed", "eta_days": 1}),
        },
    )
    tool_ctx = trace_api.set_span_in_context(tool)
    generation = tracer.start_span(
        "chat gpt-4o-mini",
        context=tool_ctx,
        kind=SpanKind.CLIENT,
        start_time=at(10),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 57,
            "gen_ai.usage.output_tokens": 12,
            "fluxloop.input": json.dumps(
                {"messages": [{"role": "user", "content": "Summarise order 42"}]}
            ),
            "fluxloop.output": json.dumps("Order 42 is packed and ships tomorrow."),
        },
    )
    generation.end(end_time=at(60))
    tool.end(end_time=at(61))
    http = tracer.start_span(
        "POST",
        context=agent_ctx,
        kind=SpanKind.CLIENT,
        start_time=at(62),
        attributes={
            "http.request.method": "POST",
            "url.full": "https://api.example.com/v1/notify",
            "server.address": "api.example.com",
            "http.response.status_code": 202,
        },
    )
    http.end(end_time=at(70))
    agent.end(end_time=at(75))

    # 2. an error: a failing tool inside an agent, the exception recorded by the SDK's API
    root = tracer.start_span(
        "invoke_agent flaky-bot",
        start_time=at(100),
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "flaky-bot",
            "fluxloop.input": json.dumps({"message": "please fail now"}),
        },
    )
    failing = tracer.start_span(
        "execute_tool explode",
        context=trace_api.set_span_in_context(root),
        start_time=at(101),
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "explode",
            "fluxloop.input": json.dumps({"force": True}),
            "error.type": "ValueError",
        },
    )
    for span in (failing, root):
        span.add_event(
            "exception",
            {
                "exception.type": "ValueError",
                "exception.message": "tool exploded",
                "exception.stacktrace": 'Traceback (most recent call last):\n  File "agent.py", '
                "line 3, in explode\nValueError: tool exploded\n",
                "exception.escaped": "False",
            },
            timestamp=at(102),
        )
        span.set_status(Status(StatusCode.ERROR, "ValueError: tool exploded"))
    failing.end(end_time=at(102))
    root.end(end_time=at(103))

    # 3. a streamed generation (a generator decorated with @prompt)
    stream = tracer.start_span(
        "chat claude-3-5-haiku",
        kind=SpanKind.CLIENT,
        start_time=at(200),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku",
            "gen_ai.request.stream": True,
            "gen_ai.response.time_to_first_chunk": 0.031,
            "fluxloop.stream.chunk_count": 3,
            "fluxloop.input": json.dumps({"prompt": "Count to three"}),
            "fluxloop.output": json.dumps(["one ", "two ", "three"]),
            "fluxloop.observation.name": "count_stream",
            "gen_ai.usage.output_tokens": 3,
        },
    )
    stream.end(end_time=at(290))

    # 4. a server span continuing a remote trace (a local root with a remote parent)
    remote = SpanContext(
        trace_id=0x5B8EFFF798038103D269B633813FC60C,
        span_id=0xEEE19B7EC3C1B174,
        is_remote=True,
        trace_flags=trace_api.TraceFlags(1),
    )
    server = tracer.start_span(
        "invoke_workflow triage",
        context=trace_api.set_span_in_context(NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        start_time=at(300),
        attributes={
            "gen_ai.operation.name": "invoke_workflow",
            "fluxloop.observation.level": "warning",
        },
    )
    server.end(end_time=at(301))

    spans = factory.spans()
    factory.provider.shutdown()
    return spans


def records() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    spans = build_spans()
    observations = [encode_observation(s) for s in spans]
    traces = [t for t in (encode_trace(s) for s in spans) if t is not None]
    return observations, traces


def dump(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (GOLDEN / name).read_text().splitlines()]


def test_golden_files_match_the_encoder() -> None:
    observations, traces = records()
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        (GOLDEN / "observations.jsonl").write_text(dump(observations))
        (GOLDEN / "traces.jsonl").write_text(dump(traces))
    assert load("observations.jsonl") == observations
    assert load("traces.jsonl") == traces


def test_golden_files_validate() -> None:
    observation = jsonschema.Draft202012Validator(load_schema("observation"))
    trace = jsonschema.Draft202012Validator(load_schema("trace"))
    for record in load("observations.jsonl"):
        observation.validate(record)
    for record in load("traces.jsonl"):
        trace.validate(record)


def test_golden_covers_the_cases() -> None:
    observations = load("observations.jsonl")
    types = {r["name"]: r["type"] for r in observations}
    assert types == {
        "chat gpt-4o-mini": "generation",
        "lookup_order": "tool",  # named by gen_ai.tool.name
        "POST": "span",
        "support-bot": "agent",  # named by gen_ai.agent.name
        "explode": "tool",
        "flaky-bot": "agent",
        "count_stream": "generation",
        "invoke_workflow triage": "chain",
    }
    assert [r["status"] for r in load("traces.jsonl")] == ["success", "error", "success", "success"]


def test_jsonl_exporter_writes_the_golden_records(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter(tmp_path)
    exporter.export(build_spans())
    written = [json.loads(x) for x in (tmp_path / "observations_20260102.jsonl").open()]
    assert written == load("observations.jsonl")
    written = [json.loads(x) for x in (tmp_path / "traces_20260102.jsonl").open()]
    assert written == load("traces.jsonl")


def test_every_record_validates_against_the_schemas() -> None:
    """Not only the golden ones: schemas are strict (additionalProperties: false)."""
    observation = jsonschema.Draft202012Validator(load_schema("observation"))
    with pytest.raises(jsonschema.ValidationError):
        observation.validate({**load("observations.jsonl")[0], "extra": 1})
    with pytest.raises(jsonschema.ValidationError):
        observation.validate({**load("observations.jsonl")[0], "type": "nonsense"})
    with pytest.raises(ValueError):
        load_schema("nope")
    assert load_schema("trace.schema.json")["title"].startswith("FluxLoop trace record")


# -- contract v1 -> v2: a superset; v1 files stay valid and readable --------------------------

V1 = Path(__file__).parent / "golden" / "v1"
V2_ONLY = {
    "observation": ("parent_id", "resource", "scope"),
    "trace": ("trace_id", "resource", "scope"),
}


def test_v2_records_are_v1_records_plus_the_new_fields() -> None:
    """v2 only adds keys: dropping them gives back the v1 golden records byte for byte."""
    observations, traces = records()
    v1_observations = [json.loads(x) for x in (V1 / "observations.jsonl").open()]
    v1_traces = [json.loads(x) for x in (V1 / "traces.jsonl").open()]
    for kind, rows, old in (
        ("observation", observations, v1_observations),
        ("trace", traces, v1_traces),
    ):
        stripped = [{k: v for k, v in r.items() if k not in V2_ONLY[kind]} for r in rows]
        assert stripped == old
    assert all(r["parent_id"] == r["parent_observation_id"] for r in observations)
    assert all(r["trace_id"] == r["id"] for r in traces)
    assert {r["resource"]["service.name"] for r in observations} == {"fluxloop-tests"}


def test_v1_golden_files_validate_against_the_v1_schemas() -> None:
    observation = jsonschema.Draft202012Validator(load_schema("observation", version="1"))
    trace = jsonschema.Draft202012Validator(load_schema("trace", version="1"))
    for line in (V1 / "observations.jsonl").open():
        observation.validate(json.loads(line))
    for line in (V1 / "traces.jsonl").open():
        trace.validate(json.loads(line))
    # and a v1 record is not a v2 record (the new fields are required there)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load_schema("trace")).validate(
            json.loads((V1 / "traces.jsonl").open().readline())
        )
    assert load_schema("trace", version=CONTRACT_VERSION) == load_schema("trace")
    with pytest.raises(ValueError, match="contract version"):
        load_schema("trace", version="9")
