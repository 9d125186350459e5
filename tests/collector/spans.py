"""A realistic span set made by the real OpenTelemetry SDK: an agent with a chat call, a tool
that fails, gen_ai attributes, every attribute kind, events, a link, resource and scope."""

from __future__ import annotations

import json
from collections.abc import Sequence

from fluxloop_exporters import encode_observation, encode_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode


def make_spans(traces: int = 2) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "collector-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.collector", "1.2.3", schema_url="https://x/schema")
    for index in range(traces):
        with tracer.start_as_current_span(
            "invoke_agent support",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "fluxloop.observation.type": "agent",
                "fluxloop.input": json.dumps({"question": f"q{index}", "n": index}),
                "fluxloop.output": json.dumps("an answer"),
                "fluxloop.session.id": f"session-{index}",
                "fluxloop.tags": ("a", "b"),
                "fluxloop.run.iteration": index,
            },
        ) as agent:
            with tracer.start_as_current_span(
                "chat gpt-4o-mini",
                kind=SpanKind.CLIENT,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.usage.input_tokens": 12,
                    "gen_ai.usage.output_tokens": 30,
                    "gen_ai.request.temperature": 0.25,
                    "gen_ai.response.finish_reasons": ("stop",),
                    "flags": (True, False),
                    "scores": (0.5, 1.5),
                    "ids": (1, 2, 3),
                },
            ) as chat:
                chat.add_event("gen_ai.choice", {"index": 0})
            with tracer.start_as_current_span(
                "execute_tool lookup",
                links=[Link(agent.get_span_context(), {"why": "test"})],
                attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
            ) as tool:
                try:
                    raise KeyError("missing")
                except KeyError as exc:
                    tool.record_exception(exc)
                    tool.set_status(Status(StatusCode.ERROR, "lookup failed"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def expected_records(
    spans: Sequence[ReadableSpan],
) -> tuple[dict[str, dict[str, object]], dict[str, dict[str, object]]]:
    """What the SDK's own encoder makes of ``spans``: observations and traces by id."""
    observations = {}
    traces = {}
    for span in spans:
        record = encode_observation(span)
        observations[str(record["id"])] = record
        trace = encode_trace(span)
        if trace is not None:
            traces[str(trace["id"])] = trace
    return observations, traces
