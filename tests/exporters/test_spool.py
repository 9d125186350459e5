"""The on-disk span spool: faithful round trip, atomic segments, claims, restarts."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fluxloop_exporters._spool import SpanSpool, span_from_dict, span_to_dict
from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from .conftest import T0, SpanFactory, make_spans


def rich_span(factory: SpanFactory) -> ReadableSpan:
    tracer = factory.provider.get_tracer(
        "scope.name", "2.0", schema_url="https://s", attributes={"scope.attr": "v"}
    )
    remote = SpanContext(
        0xABC,
        0xDEF,
        is_remote=True,
        trace_flags=TraceFlags(1),
        trace_state=TraceState([("k", "v")]),
    )
    ctx = trace_api.set_span_in_context(trace_api.NonRecordingSpan(remote))
    span = tracer.start_span(
        "rich",
        context=ctx,
        kind=SpanKind.PRODUCER,
        start_time=T0,
        links=[Link(SpanContext(0x1, 0x2, False), {"link.attr": 1})],
        attributes={
            "s": "text",
            "i": 7,
            "f": 1.5,
            "b": True,
            "ints": (1, 2),
            "strs": ("a", "b"),
            "nan": math.nan,
            "inf": (math.inf, 1.0),
        },
    )
    span.add_event("chunk", {"n": 1}, timestamp=T0 + 5)
    span.add_event("plain", timestamp=T0 + 6)
    span.set_status(Status(StatusCode.ERROR, "bad"))
    span.end(end_time=T0 + 10)
    return factory.spans()[-1]


def otlp_bytes(span: ReadableSpan) -> bytes:
    return encode_spans([span]).SerializeToString(deterministic=True)


def test_round_trip_is_faithful(span_factory: SpanFactory) -> None:
    original = rich_span(span_factory)
    data = json.loads(json.dumps(span_to_dict(original), allow_nan=False))  # via real JSON
    copy = span_from_dict(data)
    assert copy.context.trace_id == original.context.trace_id
    assert copy.context.span_id == original.context.span_id
    assert copy.parent == original.parent
    assert copy.kind is SpanKind.PRODUCER
    assert (copy.start_time, copy.end_time) == (original.start_time, original.end_time)
    assert copy.status.status_code is StatusCode.ERROR and copy.status.description == "bad"
    assert copy.resource.attributes == original.resource.attributes
    assert copy.instrumentation_scope == original.instrumentation_scope
    attrs = dict(copy.attributes or {})
    assert math.isnan(attrs.pop("nan"))
    inf = attrs.pop("inf")
    assert inf[0] == math.inf and inf[1] == 1.0
    expected = dict(original.attributes or {})
    del expected["nan"], expected["inf"]
    assert attrs == expected
    assert [(e.name, e.timestamp, dict(e.attributes or {})) for e in copy.events] == [
        ("chunk", T0 + 5, {"n": 1}),
        ("plain", T0 + 6, {}),
    ]
    assert [(link.context.span_id, dict(link.attributes or {})) for link in copy.links] == [
        (0x2, {"link.attr": 1})
    ]


def test_round_trip_gives_identical_otlp(span_factory: SpanFactory) -> None:
    """What a collector receives is the same whether a span went through the spool or not."""
    for original in [*make_spans(4), rich_span(span_factory)]:
        data = json.loads(json.dumps(span_to_dict(original)))
        assert otlp_bytes(span_from_dict(data)) == otlp_bytes(original)


def test_dropped_counts_survive() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=2, max_events=1))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    span = provider.get_tracer("t").start_span("x", attributes={"a": 1, "b": 2, "c": 3})
    span.add_event("e1")
    span.add_event("e2")
    span.end()
    (original,) = memory.get_finished_spans()
    copy = span_from_dict(json.loads(json.dumps(span_to_dict(original))))
    assert (copy.dropped_attributes, copy.dropped_events) == (1, 1)
    assert otlp_bytes(copy) == otlp_bytes(original)


def test_segments_claim_ack_release(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path, segment_spans=10)
    spans = make_spans(25)
    paths = spool.write(spans)
    assert len(paths) == 3
    assert spool.segments() == paths  # oldest first
    claimed = spool.claim(paths[0])
    assert claimed is not None and spool.claim(paths[0]) is None  # claimed once
    assert [s.context.span_id for s in spool.read(claimed)] == [
        s.context.span_id for s in spans[:10]
    ]
    assert spool.segments() == paths[1:]
    spool.release(claimed)
    assert spool.segments() == paths
    claimed = spool.claim(paths[0])
    assert claimed is not None
    spool.ack(claimed)
    assert spool.segments() == paths[1:]
    assert spool.has_segments()


def test_claims_of_dead_processes_are_released(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path)
    (path,) = spool.write(make_spans(2))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    dead_pid = int(dead.stdout)
    os.replace(path, path.with_name(f"{path.name}.claimed-{dead_pid}"))
    (tmp_path / f".tmp-1-{dead_pid}-0.spool.jsonl").write_text("partial")
    assert spool.segments() == [path]  # released again
    assert not list(tmp_path.glob(".tmp-*"))  # half-written leftovers removed


def test_corrupt_lines_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = SpanSpool(tmp_path)
    (path,) = spool.write(make_spans(2))
    with path.open("ab") as f:
        f.write(b'{"not": "a span"}\nnot json\n')
    claimed = spool.claim(path)
    assert claimed is not None
    assert len(spool.read(claimed)) == 2
    assert spool.corrupt_lines == 2
    assert "skipped 2 malformed line(s)" in caplog.text


def test_max_bytes(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path, max_bytes=2000)
    with pytest.raises(OSError, match="full"):
        spool.write(make_spans(20))
    assert spool.pending_bytes() <= 2000


def test_names_sort_in_write_order_even_if_the_clock_steps_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as time_module

    spool = SpanSpool(tmp_path, segment_spans=1)
    clock = iter([5_000, 4_000, 3_000])
    monkeypatch.setattr(time_module, "time_ns", lambda: next(clock))
    paths = spool.write(make_spans(4)[:3])
    assert sorted(paths) == paths


def test_scope_without_version() -> None:
    span = ReadableSpan(
        name="bare",
        context=SpanContext(1, 2, False),
        instrumentation_scope=InstrumentationScope("only-name"),
        start_time=T0,
        end_time=T0,
    )
    copy = span_from_dict(json.loads(json.dumps(span_to_dict(span))))
    assert copy.instrumentation_scope == InstrumentationScope("only-name")
    assert copy.parent is None
