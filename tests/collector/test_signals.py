"""OTLP metrics and logs into a real `fluxloop collector serve`: the official OTLP exporters over
HTTP (protobuf, gzip) and gRPC, OTLP/JSON bodies, auth, and malformed bodies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fluxloop_exporters import load_schema
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetrics,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetrics,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from .conftest import Collector, read_jsonl, start_collector
from .helpers import post

TRACE_ID = 0x5B8EFFF798038103D269B633813FC60C
SPAN_ID = 0xEEE19B7EC3C1B174
RESOURCE = Resource({"service.name": "signals-test", "service.version": "1.2"})


@pytest.fixture
def collector(tmp_path: Path) -> Any:
    started = start_collector(tmp_path / "out", api_key="k3y")
    yield started
    assert started.stop() == 0


def send_metrics(exporter: Any) -> None:
    provider = MeterProvider(
        resource=RESOURCE,
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)],
    )
    meter = provider.get_meter("signals.meter", "0.1")
    meter.create_counter("gen_ai.calls", unit="{call}").add(3, {"gen_ai.operation.name": "chat"})
    meter.create_histogram("gen_ai.client.operation.duration", unit="s").record(0.25)
    provider.force_flush()
    provider.shutdown()


def send_logs(exporter: Any) -> None:
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("signals.logger", "0.2")
    logger.emit(
        LogRecord(
            body={"message": "tool call failed", "code": 7},
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            attributes={"tool": "lookup_order"},
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
        )
    )
    logger.emit(LogRecord(body="plain text", severity_number=SeverityNumber.INFO))
    provider.shutdown()


def validated(directory: Path, kind: str) -> list[dict[str, Any]]:
    records = read_jsonl(directory, kind)
    validator = jsonschema.Draft202012Validator(load_schema(kind[:-1]))
    for record in records:
        validator.validate(record)
    return records


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc"])
def test_official_exporters_metrics_and_logs(collector: Collector, transport: str) -> None:
    headers = {"authorization": "Bearer k3y"}
    if transport == "grpc":
        metrics: Any = GrpcMetrics(
            endpoint=collector.grpc_target, insecure=True, headers=tuple(headers.items())
        )
        logs: Any = GrpcLogs(
            endpoint=collector.grpc_target, insecure=True, headers=tuple(headers.items())
        )
    else:
        compression = Compression.Gzip if transport == "http-gzip" else Compression.NoCompression
        metrics = HttpMetrics(
            endpoint=f"{collector.url}/v1/metrics", headers=headers, compression=compression
        )
        logs = HttpLogs(
            endpoint=f"{collector.url}/v1/logs", headers=headers, compression=compression
        )
    send_metrics(metrics)
    send_logs(logs)
    points = validated(collector.output, "metrics")
    by_name = {p["name"]: p for p in points}
    assert by_name["gen_ai.calls"]["value"] == 3 and by_name["gen_ai.calls"]["type"] == "sum"
    assert by_name["gen_ai.calls"]["attributes"] == {"gen_ai.operation.name": "chat"}
    assert by_name["gen_ai.client.operation.duration"]["sum"] == 0.25
    assert by_name["gen_ai.calls"]["resource"]["service.name"] == "signals-test"
    assert by_name["gen_ai.calls"]["scope"] == {"name": "signals.meter", "version": "0.1"}
    records = validated(collector.output, "logs")
    assert len(records) == 2
    error = next(r for r in records if r["severity_text"] == "ERROR")
    assert error["body"] == {"message": "tool call failed", "code": 7}
    assert (error["trace_id"], error["span_id"]) == (f"{TRACE_ID:032x}", f"{SPAN_ID:016x}")
    assert error["severity_number"] == 17 and error["attributes"] == {"tool": "lookup_order"}
    assert error["scope"] == {"name": "signals.logger", "version": "0.2"}
    health = collector.health()
    assert health["logs_received"] == 2 and health["metric_points_received"] == len(points)


def otlp_json_logs() -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "j"}}]
                },
                "scopeLogs": [
                    {
                        "scope": {"name": "json.scope"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1767323045123456000",
                                "severityNumber": 13,
                                "body": {"stringValue": "disk almost full"},
                                "traceId": f"{TRACE_ID:032x}",
                                "spanId": f"{SPAN_ID:016x}",
                                "attributes": [{"key": "n", "value": {"intValue": "5"}}],
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_otlp_json_logs_with_hex_ids(collector: Collector) -> None:
    body = json.dumps(otlp_json_logs()).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k3y"}
    status, _, answer = post(f"{collector.url}/v1/logs", body, headers)
    assert status == 200, answer
    assert json.loads(answer) == {}
    (record,) = validated(collector.output, "logs")
    assert record["trace_id"] == f"{TRACE_ID:032x}" and record["span_id"] == f"{SPAN_ID:016x}"
    assert record["time"] == "2026-01-02T03:04:05.123456+00:00"
    assert record["body"] == "disk almost full" and record["attributes"] == {"n": 5}
    gz = gzip.compress(body)
    status, _, _ = post(f"{collector.url}/v1/logs", gz, {**headers, "Content-Encoding": "gzip"})
    assert status == 200
    assert len(read_jsonl(collector.output, "logs")) == 2


@pytest.mark.parametrize(
    ("path", "content_type", "body", "reason"),
    [
        ("/v1/metrics", "application/x-protobuf", b"\xff\xff\xff", "invalid OTLP protobuf"),
        ("/v1/logs", "application/json", b"{not json", "invalid JSON"),
        ("/v1/logs", "application/json", b"[1, 2]", "expected a JSON object"),
        ("/v1/metrics", "application/json", b'{"resourceMetrics": 5}', "not an OTLP/JSON"),
        ("/v1/logs", "text/plain", b"hello", "unsupported Content-Type"),
    ],
)
def test_malformed_bodies_get_one_line_400(
    collector: Collector, path: str, content_type: str, body: bytes, reason: str
) -> None:
    status, _, answer = post(
        f"{collector.url}{path}",
        body,
        {"Content-Type": content_type, "Authorization": "Bearer k3y"},
    )
    assert status in (400, 415)
    message = (
        json.loads(answer)["message"]
        if content_type != "application/x-protobuf"
        else answer.decode("latin-1")
    )
    assert reason in message and "\n" not in message
    assert collector.proc.poll() is None  # the server goes on


def test_auth_is_required_for_metrics_and_logs(collector: Collector) -> None:
    body = json.dumps(otlp_json_logs()).encode()
    status, _, _ = post(f"{collector.url}/v1/logs", body, {"Content-Type": "application/json"})
    assert status == 401
    assert not list(collector.output.glob("logs_*.jsonl"))
