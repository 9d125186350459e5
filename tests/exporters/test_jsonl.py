"""JsonlFileSpanExporter: layout, concurrency, failure handling, flush/shutdown, JSON backends."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fluxloop_exporters import JsonlFileSpanExporter, load_schema
from fluxloop_exporters import _json as fjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanContext

from .conftest import T0, SpanFactory, make_spans

DAY = 86_400 * 10**9


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_writes_daily_files(tmp_path: Path, span_factory: SpanFactory) -> None:
    tracer = span_factory.tracer
    root = tracer.start_span("root", start_time=T0)
    from opentelemetry import trace as trace_api

    ctx = trace_api.set_span_in_context(root)
    tracer.start_span("child", context=ctx, start_time=T0).end(end_time=T0 + 10)
    root.end(end_time=T0 + DAY)  # ends the next (UTC) day
    exporter = JsonlFileSpanExporter(tmp_path / "out")
    assert not (tmp_path / "out").exists()  # created lazily
    assert exporter.export(span_factory.spans()) is SpanExportResult.SUCCESS
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "observations_20260102.jsonl",
        "observations_20260103.jsonl",
        "traces_20260103.jsonl",
    ]
    (child,) = read_jsonl(tmp_path / "out" / "observations_20260102.jsonl")
    assert child["name"] == "child"
    (trace,) = read_jsonl(tmp_path / "out" / "traces_20260103.jsonl")
    assert trace["name"] == "root"
    exporter.shutdown()


def test_base_path_default_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span_factory: SpanFactory
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLUXLOOP_BASE_PATH", raising=False)
    assert JsonlFileSpanExporter().base_path == tmp_path / "traces"
    monkeypatch.setenv("FLUXLOOP_BASE_PATH", str(tmp_path / "env"))
    exporter = JsonlFileSpanExporter()
    assert exporter.base_path == tmp_path / "env"
    assert JsonlFileSpanExporter(tmp_path / "arg").base_path == tmp_path / "arg"  # arg wins
    monkeypatch.setenv("FLUXLOOP_BASE_PATH", "rel")
    assert JsonlFileSpanExporter().base_path == tmp_path / "rel"


def test_records_validate(tmp_path: Path) -> None:
    import jsonschema

    spans = make_spans(50)
    exporter = JsonlFileSpanExporter(tmp_path)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    observation_schema = jsonschema.Draft202012Validator(load_schema("observation"))
    trace_schema = jsonschema.Draft202012Validator(load_schema("trace"))
    obs = [r for p in tmp_path.glob("observations_*") for r in read_jsonl(p)]
    traces = [r for p in tmp_path.glob("traces_*") for r in read_jsonl(p)]
    assert len(obs) == 50 and len(traces) == 25
    for record in obs:
        observation_schema.validate(record)
    for record in traces:
        trace_schema.validate(record)


def test_concurrent_threads_write_whole_lines(tmp_path: Path) -> None:
    spans = make_spans(400, payload=3000)  # ~3 KB lines: interleaving would show
    exporter = JsonlFileSpanExporter(tmp_path)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(offset, len(spans), 8):
                assert exporter.export(spans[i : i + 1] * 3) is SpanExportResult.SUCCESS
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    lines = [line for p in tmp_path.glob("observations_*") for line in p.read_bytes().splitlines()]
    assert len(lines) == 1200
    for line in lines:
        json.loads(line)  # every line whole
    assert exporter.exported_spans == 1200 and exporter.dropped_spans == 0


def test_two_processes_append_whole_lines(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from tests.exporters.conftest import make_spans\n"
        "from fluxloop_exporters import JsonlFileSpanExporter\n"
        "spans = make_spans(200, payload=5000)\n"
        "e = JsonlFileSpanExporter(sys.argv[1])\n"
        "for i in range(0, 200, 4):\n"
        "    e.export(spans[i:i+4])\n"
    )
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root) for _ in range(2)
    ]
    assert all(p.wait(60) == 0 for p in procs)
    lines = [line for p in tmp_path.glob("observations_*") for line in p.read_bytes().splitlines()]
    assert len(lines) == 400
    for line in lines:
        json.loads(line)


def test_unwritable_base_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    exporter = JsonlFileSpanExporter(blocker / "traces")
    spans = make_spans(4)
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        assert exporter.export(spans) is SpanExportResult.FAILURE
        assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.dropped_spans == 8
    warnings = [r for r in caplog.records if r.name == "fluxloop"]
    assert len(warnings) == 1  # one warning, not one per batch
    assert "dropped" in warnings[0].getMessage()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_leaves_no_partial_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = JsonlFileSpanExporter(tmp_path)
    spans = make_spans(10)
    assert exporter.export(spans[:2]) is SpanExportResult.SUCCESS
    path = next(tmp_path.glob("observations_*"))
    good = path.read_bytes()
    real_write = os.write
    calls = {"n": 0}

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])  # a short write...
        raise OSError(28, "No space left on device")  # ...then the disk is full

    monkeypatch.setattr(os, "write", half_then_full)
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        assert exporter.export(spans[2:]) is SpanExportResult.FAILURE
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == good  # truncated back to the last whole line
    assert exporter.dropped_spans == 8
    assert "No space left" in caplog.text
    # and it recovers
    assert exporter.export(spans[2:4]) is SpanExportResult.SUCCESS
    assert len(path.read_bytes().splitlines()) == 4


def test_flush_and_shutdown(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter(tmp_path)
    spans = make_spans(2)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.force_flush() is True
    assert len(next(tmp_path.glob("observations_*")).read_bytes().splitlines()) == 2
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert exporter.dropped_spans == 2
    exporter.shutdown()  # idempotent


def test_empty_export_is_success(tmp_path: Path) -> None:
    assert JsonlFileSpanExporter(tmp_path).export([]) is SpanExportResult.SUCCESS
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("backend", ["orjson", "stdlib"])
def test_json_backends_write_the_same_records(tmp_path: Path, backend: str) -> None:
    weird = ReadableSpan(
        name="weird \u2028 \U0001f600",
        context=SpanContext(7, 8, False),
        attributes={
            "fluxloop.input": '{"text": "line\\nbreak", "emoji": "\\ud83d\\ude00"}',
            "nan": float("nan"),
            "big": 2**63 - 1,
            "tuple": (1.5, 2.5),
        },
        start_time=T0,
        end_time=T0,
    )
    spans = [*make_spans(4), weird]
    previous = fjson.backend()
    fjson.set_backend(backend)
    try:
        assert fjson.backend() == backend
        exporter = JsonlFileSpanExporter(tmp_path)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        fjson.set_backend(previous)
    records = [r for p in sorted(tmp_path.glob("observations_*")) for r in read_jsonl(p)]
    assert len(records) == 5
    (last,) = [r for r in records if r["id"] == f"{8:016x}"]
    assert last["name"] == "weird \u2028 \U0001f600"
    assert last["input"] == {"text": "line\nbreak", "emoji": "\U0001f600"}
    assert last["attributes"] == {"nan": "nan", "big": 2**63 - 1, "tuple": [1.5, 2.5]}


def test_stdlib_fallback_without_orjson(tmp_path: Path) -> None:
    """In a process where orjson cannot be imported, the exporter uses the stdlib."""
    script = (
        "import sys\n"
        "sys.modules['orjson'] = None  # make 'import orjson' fail\n"
        "from fluxloop_exporters import _json, JsonlFileSpanExporter\n"
        "from tests.exporters.conftest import make_spans\n"
        "assert _json.backend() == 'stdlib', _json.backend()\n"
        "assert JsonlFileSpanExporter(sys.argv[1]).export(make_spans(6)).name == 'SUCCESS'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=root, check=True)
    records = [r for p in tmp_path.glob("observations_*") for r in read_jsonl(p)]
    assert len(records) == 6


def test_dumps_line_never_raises() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    for backend in ("orjson", "stdlib"):
        previous = fjson.backend()
        fjson.set_backend(backend)
        try:
            for value in (
                {"a": Unprintable()},
                {"big": 2**80},
                {"s": "\ud800"},
                {1: {2, 3}},
                {"nan": float("nan")},
                {"b": b"\xff"},
            ):
                line = fjson.dumps_line(value)
                assert line.endswith(b"\n") and line.count(b"\n") == 1
                json.loads(line)
        finally:
            fjson.set_backend(previous)
    with pytest.raises(ValueError):
        fjson.set_backend("simdjson")


@pytest.mark.parametrize("backend", ["orjson", "stdlib"])
def test_an_integer_past_str_limits_costs_only_itself(
    tmp_path: Path, span_factory: SpanFactory, backend: str
) -> None:
    """Issue #12 point 9: a token count of 5,000 digits used to lose the whole batch."""
    previous = fjson.backend()
    fjson.set_backend(backend)
    try:
        tracer = span_factory.tracer
        for i in range(3):
            tracer.start_span(f"before-{i}", start_time=T0).end(end_time=T0 + 1)
        bad = tracer.start_span("bad", start_time=T0)
        bad.set_attribute("gen_ai.usage.input_tokens", 10**5000)
        bad.set_attribute("gen_ai.usage.output_tokens", 7)
        bad.set_attribute("app.huge", 10**5000)
        bad.set_attribute("app.big", 10**30)
        bad.end(end_time=T0 + 1)
        for i in range(3):
            tracer.start_span(f"after-{i}", start_time=T0).end(end_time=T0 + 1)
        exporter = JsonlFileSpanExporter(tmp_path)
        assert exporter.export(span_factory.spans()) is SpanExportResult.SUCCESS
    finally:
        fjson.set_backend(previous)
    records = read_jsonl(tmp_path / "observations_20260102.jsonl")
    assert len(records) == 7 and exporter.dropped_spans == 0
    (record,) = [r for r in records if r["name"] == "bad"]
    assert record["prompt_tokens"] is None and record["completion_tokens"] == 7
    attributes = record["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["gen_ai.usage.input_tokens"] == "<dropped: an integer of 16610 bits>"
    assert attributes["app.huge"] == "<dropped: an integer of 16610 bits>"
    assert attributes["app.big"] == str(10**30)


def test_dropped_spans_are_never_on_disk(tmp_path: Path, span_factory: SpanFactory) -> None:
    """Issue #12 point 11: when the trace records of a batch cannot be written, neither are its
    observations, so ``dropped_spans`` counts exactly the spans missing from disk."""
    tracer = span_factory.tracer
    for i in range(4):
        tracer.start_span(f"root-{i}", start_time=T0).end(end_time=T0 + 1)
    (tmp_path / "traces_20260102.jsonl").mkdir()  # any write to it fails
    exporter = JsonlFileSpanExporter(tmp_path)
    assert exporter.export(span_factory.spans()) is SpanExportResult.FAILURE
    assert exporter.dropped_spans == 4 and exporter.exported_spans == 0
    observations = tmp_path / "observations_20260102.jsonl"
    assert not observations.exists() or observations.read_bytes() == b""
