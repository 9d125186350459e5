"""``JsonlFileLogExporter``: log records from the real OpenTelemetry SDK's LoggerProvider into
``logs_YYYYMMDD.jsonl`` (schema-valid), the entry point, and a total encoder."""

from __future__ import annotations

import importlib.metadata
import json
import logging
from pathlib import Path

import jsonschema
from fluxloop_exporters import JsonlFileLogExporter, encode_logs, load_schema
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import LogRecordExportResult, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

T0 = 1_767_323_045_123_456_000  # 2026-01-02T03:04:05.123456Z


def provider(tmp_path: Path) -> tuple[LoggerProvider, JsonlFileLogExporter]:
    exporter = JsonlFileLogExporter(tmp_path)
    logs = LoggerProvider(resource=Resource({"service.name": "log-tests"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return logs, exporter


def test_records_from_the_sdk_validate_and_carry_the_span_context(tmp_path: Path) -> None:
    logs, exporter = provider(tmp_path)
    tracer = TracerProvider().get_tracer("t")
    logger = logs.get_logger("tests.logs", "1.0")
    with tracer.start_as_current_span("work") as span:
        handler = LoggingHandler(logger_provider=logs)
        std = logging.getLogger("fluxloop.tests.logs")
        std.addHandler(handler)
        std.propagate = False
        std.warning("cache miss for %s", "order 42")
        std.removeHandler(handler)
    logger.emit(
        LogRecord(
            timestamp=T0,
            body={"event": "done", "items": [1, 2.5, None]},
            severity_number=SeverityNumber.INFO,
            attributes={"k": ("a", "b")},
        )
    )
    logs.shutdown()
    assert exporter.exported_records == 2
    records = [json.loads(x) for p in tmp_path.glob("logs_*.jsonl") for x in p.open()]
    validator = jsonschema.Draft202012Validator(load_schema("log"))
    for record in records:
        validator.validate(record)
    warning = next(r for r in records if r["severity_text"] == "WARN")
    assert warning["body"] == "cache miss for order 42"
    assert warning["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert warning["span_id"] == f"{span.get_span_context().span_id:016x}"
    assert warning["resource"]["service.name"] == "log-tests"
    info = next(r for r in records if r["severity_number"] == 9)
    assert info["time"] == "2026-01-02T03:04:05.123456+00:00"
    assert (tmp_path / "logs_20260102.jsonl").is_file()
    assert info["body"] == {"event": "done", "items": [1, 2.5, None]}
    assert info["attributes"] == {"k": ["a", "b"]} and info["trace_id"] is None


def test_logs_entry_point_is_registered() -> None:
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="opentelemetry_logs_exporter")
        if e.name == "fluxloop_jsonl"
    ]
    assert entry.load() is JsonlFileLogExporter


def test_encoder_is_total_and_export_fails_cleanly(tmp_path: Path) -> None:
    (broken,) = encode_logs([object()])
    assert broken["body"].startswith("<unencodable log record")
    jsonschema.Draft202012Validator(load_schema("log")).validate(broken)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    exporter = JsonlFileLogExporter(blocker)
    assert exporter.export([object()]) is LogRecordExportResult.FAILURE
    assert exporter.dropped_records == 1
