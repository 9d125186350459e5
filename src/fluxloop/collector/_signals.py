"""OTLP metrics and logs requests -> OpenTelemetry SDK objects, written through the exporters.

The collector writes metrics and logs the way an app's own SDK would: it rebuilds SDK
``MetricsData`` (for :class:`fluxloop_exporters.JsonlFileMetricExporter`, ``metrics_*.jsonl``) and
SDK ``ReadableLogRecord`` objects (for :class:`fluxloop_exporters.JsonlFileLogExporter`,
``logs_*.jsonl``) from the protobuf messages, so there is one record format per signal.

Bodies are protobuf or OTLP/JSON. OTLP/JSON is read through protobuf's JSON mapping after the
OTLP/JSON deviations are undone (ids in hex, where protobuf's mapping expects base64). A body
that is not such a request is a :class:`~fluxloop.collector._convert.PayloadError` (HTTP 400,
gRPC ``INVALID_ARGUMENT``); a data point or log record that cannot be represented is skipped and
counted as rejected (OTLP partial success).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped, unused-ignore]
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import TraceFlags

from fluxloop.collector._convert import PayloadError, _attributes, _json_value
from fluxloop.collector._sink import Sink

__all__ = [
    "LOGS",
    "METRICS",
    "Signal",
    "convert_logs",
    "convert_metrics",
    "ingest",
    "parse",
    "parse_json",
]

_TEMPORALITY = {
    1: AggregationTemporality.DELTA,
    2: AggregationTemporality.CUMULATIVE,
}


@dataclass(frozen=True)
class Signal:
    """One OTLP signal the collector receives besides traces."""

    name: str
    """``metrics`` or ``logs``: the HTTP path is ``/v1/{name}``."""
    service: str
    """The gRPC service (method ``Export``)."""
    request: type[Message]
    response: type[Message]
    write: Callable[[Sink, Message], tuple[int, int, str]]
    """Convert and write a parsed request; returns (accepted, rejected, first reasons)."""
    rejected_field: str


# ---------------------------------------------------------------------------------------------
# parsing


_HEX_ID_KEYS = frozenset({"traceId", "trace_id", "spanId", "span_id"})
_HEX = re.compile(r"[0-9a-fA-F]*")


def _hex_ids_to_base64(value: Any) -> Any:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON mapping reads base64."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _HEX_ID_KEYS and isinstance(item, str) and item and _HEX.fullmatch(item):
                hex_id = len(item) in (16, 32)
                out[key] = base64.b64encode(bytes.fromhex(item)).decode() if hex_id else item
            else:
                out[key] = _hex_ids_to_base64(item)
        return out
    if isinstance(value, list):
        return [_hex_ids_to_base64(v) for v in value]
    return value


def parse(signal: Signal, body: bytes, as_json: bool) -> Message:
    """A request of ``signal`` from a protobuf or OTLP/JSON body; raises PayloadError."""
    request = signal.request()
    if not as_json:
        try:
            request.ParseFromString(body)
        except (DecodeError, ValueError, RecursionError) as exc:
            raise PayloadError(f"invalid OTLP protobuf: {exc or 'cannot decode'}") from None
        return request
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    return parse_json(signal, data)


def parse_json(signal: Signal, data: Any) -> Message:
    """A request of ``signal`` from parsed OTLP/JSON (a line of the OTel Collector's file
    exporter); raises PayloadError."""
    request = signal.request()
    if not isinstance(data, dict):
        raise PayloadError("expected a JSON object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(data), request, ignore_unknown_fields=True)
    except RecursionError:
        raise PayloadError(f"not an OTLP/JSON {signal.name} request: nested too deeply") from None
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PayloadError(f"not an OTLP/JSON {signal.name} request: {reason}"[:300]) from None
    return request


def _resource(message: Any) -> Resource:
    return Resource(_attributes(message.resource.attributes), message.schema_url or None)


def _scope(message: Any) -> InstrumentationScope:
    scope = message.scope
    return InstrumentationScope(
        scope.name,
        scope.version or None,
        message.schema_url or None,
        _attributes(scope.attributes) or None,
    )


# ---------------------------------------------------------------------------------------------
# logs


def convert_logs(request: ExportLogsServiceRequest) -> tuple[list[ReadableLogRecord], int]:
    """SDK log records from a request, and the number rejected (malformed ids)."""
    return _log_records(request)


def _log_records(request: ExportLogsServiceRequest) -> tuple[list[ReadableLogRecord], int]:
    records: list[ReadableLogRecord] = []
    rejected = 0
    for resource_logs in request.resource_logs:
        resource = _resource(resource_logs)
        for scope_logs in resource_logs.scope_logs:
            scope = _scope(scope_logs)
            for log in scope_logs.log_records:
                trace_id = log.trace_id
                span_id = log.span_id
                if (trace_id and len(trace_id) != 16) or (span_id and len(span_id) != 8):
                    rejected += 1
                    continue
                try:
                    severity = SeverityNumber(log.severity_number) if log.severity_number else None
                except ValueError:
                    severity = None
                body = _json_value(log.body) if log.HasField("body") else None
                record = LogRecord(
                    timestamp=log.time_unix_nano or None,
                    observed_timestamp=log.observed_time_unix_nano or None,
                    trace_id=int.from_bytes(trace_id, "big") if trace_id else None,
                    span_id=int.from_bytes(span_id, "big") if span_id else None,
                    trace_flags=TraceFlags(log.flags & 0xFF),
                    severity_text=log.severity_text or None,
                    severity_number=severity,
                    body=body,
                    attributes=_attributes(log.attributes),
                )
                record.event_name = log.event_name or None
                records.append(ReadableLogRecord(record, resource, scope))
    return records, rejected


def _write_logs(sink: Sink, request: Message) -> tuple[int, int, str]:
    assert isinstance(request, ExportLogsServiceRequest)
    records, rejected = _log_records(request)
    sink.write_logs(records, rejected)
    reason = "log records with a trace_id not of 16 bytes or a span_id not of 8" if rejected else ""
    return len(records), rejected, reason


# ---------------------------------------------------------------------------------------------
# metrics


def _number(point: Any) -> NumberDataPoint:
    value = point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
    return NumberDataPoint(
        _attributes(point.attributes), point.start_time_unix_nano, point.time_unix_nano, value
    )


def _histogram_point(point: Any) -> HistogramDataPoint:
    return HistogramDataPoint(
        _attributes(point.attributes),
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.count,
        point.sum if point.HasField("sum") else 0,
        list(point.bucket_counts),
        list(point.explicit_bounds),
        point.min if point.HasField("min") else float("inf"),
        point.max if point.HasField("max") else float("-inf"),
    )


def _exponential_point(point: Any) -> ExponentialHistogramDataPoint:
    return ExponentialHistogramDataPoint(
        _attributes(point.attributes),
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.count,
        point.sum if point.HasField("sum") else 0,
        point.scale,
        point.zero_count,
        Buckets(point.positive.offset, list(point.positive.bucket_counts)),
        Buckets(point.negative.offset, list(point.negative.bucket_counts)),
        point.flags,
        point.min if point.HasField("min") else float("inf"),
        point.max if point.HasField("max") else float("-inf"),
    )


def _metric(message: Any) -> tuple[Metric | None, int]:
    kind = message.WhichOneof("data")
    data: Any
    if kind == "sum":
        points = [_number(p) for p in message.sum.data_points]
        temporality = _TEMPORALITY.get(message.sum.aggregation_temporality)
        if temporality is None:
            return None, len(points)
        data = Sum(points, temporality, message.sum.is_monotonic)
    elif kind == "gauge":
        points = [_number(p) for p in message.gauge.data_points]
        data = Gauge(points)
    elif kind == "histogram":
        buckets = [_histogram_point(p) for p in message.histogram.data_points]
        temporality = _TEMPORALITY.get(message.histogram.aggregation_temporality)
        if temporality is None:
            return None, len(buckets)
        data = Histogram(buckets, temporality)
    elif kind == "exponential_histogram":
        source = message.exponential_histogram
        exponential = [_exponential_point(p) for p in source.data_points]
        temporality = _TEMPORALITY.get(source.aggregation_temporality)
        if temporality is None:
            return None, len(exponential)
        data = ExponentialHistogram(exponential, temporality)
    else:  # summary (legacy) or empty: not representable in the SDK
        count = len(message.summary.data_points) if kind == "summary" else 0
        return None, count
    return Metric(message.name, message.description, message.unit, data), 0


def convert_metrics(request: ExportMetricsServiceRequest) -> tuple[MetricsData, int, int]:
    """SDK ``MetricsData`` from a request, with the data points accepted and rejected."""
    return _metrics_data(request)


def _metrics_data(request: ExportMetricsServiceRequest) -> tuple[MetricsData, int, int]:
    resource_metrics: list[ResourceMetrics] = []
    accepted = rejected = 0
    for rm in request.resource_metrics:
        scopes: list[ScopeMetrics] = []
        for sm in rm.scope_metrics:
            metrics: list[Metric] = []
            for message in sm.metrics:
                metric, dropped = _metric(message)
                rejected += dropped
                if metric is not None:
                    metrics.append(metric)
                    accepted += len(metric.data.data_points)
            scopes.append(ScopeMetrics(_scope(sm), metrics, sm.schema_url))
        resource_metrics.append(ResourceMetrics(_resource(rm), scopes, rm.schema_url))
    return MetricsData(resource_metrics), accepted, rejected


def _write_metrics(sink: Sink, request: Message) -> tuple[int, int, str]:
    assert isinstance(request, ExportMetricsServiceRequest)
    data, accepted, rejected = _metrics_data(request)
    sink.write_metrics(data, accepted, rejected)
    reason = (
        "data points of summary metrics or of an unspecified temporality are not supported"
        if rejected
        else ""
    )
    return accepted, rejected, reason


METRICS = Signal(
    "metrics",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
    _write_metrics,
    "rejected_data_points",
)
LOGS = Signal(
    "logs",
    "opentelemetry.proto.collector.logs.v1.LogsService",
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    _write_logs,
    "rejected_log_records",
)


def ingest(signal: Signal, sink: Sink, request: Message) -> Message:
    """Convert and write a parsed request; the OTLP response (with partial success). Raises
    :class:`~fluxloop.collector._sink.SinkError` when nothing could be written."""
    _, rejected, reason = signal.write(sink, request)
    response = signal.response()
    if rejected:
        setattr(response.partial_success, signal.rejected_field, rejected)
        response.partial_success.error_message = reason
    return response
