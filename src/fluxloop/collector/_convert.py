"""OTLP trace requests -> OpenTelemetry SDK ``ReadableSpan`` objects.

The collector writes what it receives through the very encoder the SDK's exporter uses
(``fluxloop_exporters``), so it rebuilds SDK spans from the OTLP protobuf messages: ids, parent
(with its remote flag), kind, times, attributes, events, links, status, resource and scope.

OTLP ``AnyValue`` kinds map onto OpenTelemetry attribute values as follows: strings, booleans,
integers and doubles are kept; an array of one primitive type becomes a tuple; a mixed or nested
array and a key/value list become a compact JSON string; bytes become base64 text; an empty value
drops the attribute (a contract attribute is never null).

OTLP/JSON (the OTLP/HTTP JSON encoding and the OTel Collector's file exporter) is parsed by
protobuf's JSON mapping after the ids, hex-encoded per the OTLP/JSON spec, are rewritten to the
base64 the mapping expects. Keys may be lowerCamelCase or snake_case; unknown fields are ignored
(as the spec requires); enums may be integers or names.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

__all__ = [
    "Converted",
    "PayloadError",
    "convert_request",
    "parse_json_request",
    "parse_protobuf_request",
]

_IS_REMOTE_HAS = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER}
_KINDS[5] = SpanKind.CONSUMER
_UNSET = Status(StatusCode.UNSET)
_OK = Status(StatusCode.OK)
_MAX_ERRORS = 5


class PayloadError(ValueError):
    """A request body that cannot be decoded at all (answered with 400 / INVALID_ARGUMENT)."""


@dataclass
class Converted:
    """The spans of one request, and what was rejected."""

    spans: list[ReadableSpan] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def error_message(self) -> str:
        """The rejections summarised in one line (empty when none)."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        text = "; ".join(self.errors)
        return f"{text}; and {more} more" if more > 0 else text


# ---------------------------------------------------------------------------------------------
# parsing


def parse_protobuf_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary ``ExportTraceServiceRequest``; raises :class:`PayloadError`."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid OTLP protobuf: {exc or 'cannot decode'}") from None
    return request


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_request(body: bytes | str | Mapping[str, Any]) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON ``ExportTraceServiceRequest`` (or ``TracesData``: same shape); raises
    :class:`PayloadError` with a one-line reason."""
    if isinstance(body, Mapping):
        data: Any = body
    else:
        try:
            data = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise PayloadError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, found {_json_type(data)}")
    try:
        data = _rewrite_ids(data)
    except (AttributeError, TypeError) as exc:  # a list where an object belongs, ...
        raise PayloadError(f"invalid OTLP/JSON structure: {exc}") from None
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise PayloadError(f"invalid OTLP/JSON: {_one_line(str(exc))}") from None
    return request


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_HEX_RE = re.compile(r"[0-9a-fA-F]*")
_BAD_ID = base64.b64encode(b"\xff").decode()  # one byte: fails the length check, span rejected


def _id_to_base64(value: Any, size: int) -> Any:
    """An OTLP/JSON id (hex per the spec; base64 as protobuf's JSON mapping writes it) as the
    base64 protobuf's mapping parses; an unreadable id becomes a 1-byte id (span rejected)."""
    if not isinstance(value, str) or value == "":
        return value
    if len(value) == 2 * size and _HEX_RE.fullmatch(value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    try:
        raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return _BAD_ID
    return value if len(raw) == size else _BAD_ID


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> tuple[str | None, Any]:
    if camel in obj:
        return camel, obj[camel]
    if snake in obj:
        return snake, obj[snake]
    return None, None


def _rewrite_ids(data: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy of an OTLP/JSON traces object with every span and link id as base64 (and
    the pre-1.0 ``instrumentationLibrarySpans`` renamed to ``scopeSpans``)."""
    key, resource_spans = _get(data, "resourceSpans", "resource_spans")
    if key is None or not isinstance(resource_spans, list):
        return data
    new_rs: list[Any] = []
    for item in resource_spans:
        if isinstance(item, dict):
            rs = dict(item)
            for old in ("instrumentationLibrarySpans", "instrumentation_library_spans"):
                if old in rs:
                    legacy = rs.pop(old)
                    rs.setdefault("scopeSpans", legacy)
            ss_key, scope_spans = _get(rs, "scopeSpans", "scope_spans")
            if ss_key is not None and isinstance(scope_spans, list):
                rs[ss_key] = [_rewrite_scope_spans(ss) for ss in scope_spans]
            new_rs.append(rs)
        else:
            new_rs.append(item)
    out = dict(data)
    out[key] = new_rs
    return out


def _rewrite_scope_spans(ss: Any) -> Any:
    if not isinstance(ss, dict):
        return ss
    ss = dict(ss)
    for old in ("instrumentationLibrary", "instrumentation_library"):
        if old in ss:
            legacy = ss.pop(old)
            ss.setdefault("scope", legacy)
    spans = ss.get("spans")
    if isinstance(spans, list):
        ss["spans"] = [_rewrite_span(s) for s in spans]
    return ss


_SPAN_IDS = (
    ("traceId", "trace_id", 16),
    ("spanId", "span_id", 8),
    ("parentSpanId", "parent_span_id", 8),
)


def _rewrite_span(span: Any) -> Any:
    if not isinstance(span, dict):
        return span
    span = dict(span)
    for camel, snake, size in _SPAN_IDS:
        for key in (camel, snake):
            if key in span:
                span[key] = _id_to_base64(span[key], size)
    links = span.get("links")
    if isinstance(links, list):
        span["links"] = [_rewrite_link(link) for link in links]
    return span


def _rewrite_link(link: Any) -> Any:
    if not isinstance(link, dict):
        return link
    link = dict(link)
    for camel, snake, size in _SPAN_IDS[:2]:
        for key in (camel, snake):
            if key in link:
                link[key] = _id_to_base64(link[key], size)
    return link


# ---------------------------------------------------------------------------------------------
# AnyValue -> attribute values


def _json_value(value: AnyValue) -> Any:
    """An AnyValue as a JSON-native value (for JSON-encoded arrays and key/value lists)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else repr(number)
    if kind == "array_value":
        return [_json_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _json_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _attr_value(value: AnyValue) -> Any:
    """An AnyValue as an OpenTelemetry attribute value (see the module docstring)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        items = [_json_value(v) for v in value.array_value.values]
        if not items:
            return ()
        first = type(items[0])
        if first in (str, int, bool, float) and all(type(v) is first for v in items):
            return tuple(items)
        return _dumps(items)
    if kind == "kvlist_value":
        return _dumps(_json_value(value))
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # hot path: the scalar kinds inline, the rest through _attr_value
    out: dict[str, Any] = {}
    for kv in pairs:
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            out[kv.key] = value.string_value
        elif kind == "int_value":
            out[kv.key] = value.int_value
        elif kind == "bool_value":
            out[kv.key] = value.bool_value
        elif kind == "double_value":
            out[kv.key] = value.double_value
        elif kind is not None:
            converted = _attr_value(value)
            if converted is not None:
                out[kv.key] = converted
    return out


# ---------------------------------------------------------------------------------------------
# spans


_ZERO8 = bytes(8)
_ZERO16 = bytes(16)
_FLAGS = [TraceFlags(value) for value in range(256)]


def _span_error(span: Any) -> str | None:
    """Why ``span`` cannot be kept, or ``None``."""
    trace_id = span.trace_id
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, found {len(trace_id)}"
    if trace_id == _ZERO16:
        return "trace_id must not be all zeros"
    span_id = span.span_id
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, found {len(span_id)}"
    if span_id == _ZERO8:
        return "span_id must not be all zeros"
    parent = span.parent_span_id
    if parent and (len(parent) != 8 or parent == _ZERO8):
        return f"parent_span_id must be 8 non-zero bytes, found {parent.hex() or 'none'}"
    if not span.start_time_unix_nano:
        return "start_time_unix_nano is missing"
    return None


def _trace_state(text: str) -> TraceState | None:
    if not text:
        return None
    try:
        return TraceState.from_header([text])
    except Exception:  # a malformed W3C tracestate is dropped, never fatal
        return None


def convert_request(request: ExportTraceServiceRequest) -> Converted:
    """Rebuild SDK spans from ``request``; invalid spans (bad ids, no start time) are counted in
    ``rejected`` with a reason, the others are returned in request order."""
    result = Converted()
    append = result.spans.append
    for rs_index, rs in enumerate(request.resource_spans):
        resource = Resource(_attributes(rs.resource.attributes), rs.schema_url or None)
        for ss_index, ss in enumerate(rs.scope_spans):
            scope_msg = ss.scope
            scope = InstrumentationScope(
                scope_msg.name,
                scope_msg.version or None,
                ss.schema_url or None,
                _attributes(scope_msg.attributes) or None,
            )
            for span_index, span in enumerate(ss.spans):
                try:
                    append(_span(span, resource, scope))
                except _Invalid:
                    result.rejected += 1
                    if len(result.errors) < _MAX_ERRORS:
                        where = f"resource_spans[{rs_index}].scope_spans[{ss_index}]"
                        result.errors.append(f"{where}.spans[{span_index}]: {_span_error(span)}")
    return result


class _Invalid(Exception):
    pass


def _span(span: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    raw_trace = span.trace_id
    raw_span = span.span_id
    raw_parent = span.parent_span_id
    start = span.start_time_unix_nano
    if (
        len(raw_trace) != 16
        or raw_trace == _ZERO16
        or len(raw_span) != 8
        or raw_span == _ZERO8
        or (raw_parent and (len(raw_parent) != 8 or raw_parent == _ZERO8))
        or not start
    ):
        raise _Invalid
    trace_id = int.from_bytes(raw_trace, "big")
    flags = span.flags
    trace_flags = _FLAGS[flags & 0xFF]
    state = span.trace_state
    context = SpanContext(
        trace_id,
        int.from_bytes(raw_span, "big"),
        False,
        trace_flags,
        _trace_state(state) if state else None,
    )
    parent: SpanContext | None = None
    if raw_parent:
        parent = SpanContext(
            trace_id, int.from_bytes(raw_parent, "big"), bool(flags & _IS_REMOTE), trace_flags
        )
    status_msg = span.status
    code = status_msg.code
    if code == 2:
        status = Status(StatusCode.ERROR, status_msg.message or None)
    elif code == 1:
        status = _OK
    else:
        status = _UNSET
    events: list[Event] = []
    if len(span.events):
        events = [
            Event(e.name, _attributes(e.attributes), e.time_unix_nano or None) for e in span.events
        ]
    links: list[Link] = []
    if len(span.links):
        links = [link for link in map(_link, span.links) if link is not None]
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=events,
        links=links,
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=status,
        start_time=start,
        end_time=span.end_time_unix_nano or None,
        instrumentation_scope=scope,
    )


def _link(link: Any) -> Link | None:
    if len(link.trace_id) != 16 or len(link.span_id) != 8:
        return None  # a malformed link is dropped, the span kept
    return Link(
        SpanContext(
            int.from_bytes(link.trace_id, "big"),
            int.from_bytes(link.span_id, "big"),
            is_remote=bool(link.flags & _IS_REMOTE) or not (link.flags & _IS_REMOTE_HAS),
            trace_flags=_FLAGS[link.flags & 0xFF],
            trace_state=_trace_state(link.trace_state),
        ),
        _attributes(link.attributes),
    )
