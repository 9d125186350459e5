"""The FluxLoop log record: a pure ``ReadableLogRecord -> record`` encoder.

One record per log record (schema: ``exporters/schemas/log.schema.json``), every key always
present:

* ``time`` / ``observed_time``: ISO-8601 UTC with microseconds and ``+00:00`` (``null`` if unset);
* ``trace_id`` (32 hex) / ``span_id`` (16 hex): the span the record was emitted in, else ``null``
  -- readers attach such records to that observation as events;
* ``severity_number`` (1-24, ``null`` if unset) and ``severity_text``;
* ``event_name``: the record's event name (GenAI events, e.g. ``gen_ai.client.inference...``);
* ``body``: any JSON value (a string for most logs; maps and arrays are kept as they are);
* ``attributes``: the record's attributes (arrays as JSON arrays);
* ``resource``: the resource's attributes; ``scope``: ``{name, version}`` of the logger.

The encoder works on the OpenTelemetry SDK's own ``ReadableLogRecord``, so an app's
``LoggerProvider`` and the collector (which rebuilds SDK records from OTLP) write the same records.
It is total: it never raises; a value it cannot represent becomes a string.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._contract import format_timestamp_ns

__all__ = ["encode_logs"]


def _json_value(value: Any, depth: int = 0) -> Any:
    t = type(value)
    if value is None or t is str or t is int or t is bool:
        return value
    if t is float:
        return value if value - value == 0 else repr(value)
    if depth > 32:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _attributes(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    try:
        return {str(k): _json_value(v) for k, v in value.items()}
    except Exception:
        return {}


def _scope(scope: Any) -> dict[str, Any] | None:
    if scope is None:
        return None
    name = getattr(scope, "name", None)
    version = getattr(scope, "version", None)
    return {"name": str(name or ""), "version": str(version) if version else None}


def encode_log(record: Any) -> dict[str, Any]:
    """Encode one SDK ``ReadableLogRecord`` (never raises)."""
    try:
        log = record.log_record
        trace_id = getattr(log, "trace_id", None) or None
        span_id = getattr(log, "span_id", None) or None
        severity = getattr(log, "severity_number", None)
        resource = getattr(record, "resource", None)
        return {
            "time": format_timestamp_ns(getattr(log, "timestamp", None)),
            "observed_time": format_timestamp_ns(getattr(log, "observed_timestamp", None)),
            "trace_id": f"{trace_id:032x}" if trace_id else None,
            "span_id": f"{span_id:016x}" if span_id else None,
            "severity_number": int(severity.value) if severity is not None else None,
            "severity_text": getattr(log, "severity_text", None) or None,
            "event_name": getattr(log, "event_name", None) or None,
            "body": _json_value(getattr(log, "body", None)),
            "attributes": _attributes(getattr(log, "attributes", None)),
            "resource": _attributes(resource.attributes) if resource is not None else {},
            "scope": _scope(getattr(record, "instrumentation_scope", None)),
        }
    except Exception as exc:  # a broken record object: keep a trace of it, never raise
        return {
            "time": None,
            "observed_time": None,
            "trace_id": None,
            "span_id": None,
            "severity_number": None,
            "severity_text": None,
            "event_name": None,
            "body": f"<unencodable log record: {type(exc).__name__}: {exc}>",
            "attributes": {},
            "resource": {},
            "scope": None,
        }


def encode_logs(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Encode SDK ``ReadableLogRecord`` objects, in order."""
    return [encode_log(r) for r in records]
