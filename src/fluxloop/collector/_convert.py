"""OTLP trace requests -> OpenTelemetry SDK ``ReadableSpan`` objects.

The collector writes what it receives through the very encoder the SDK's exporter uses
(``fluxloop_exporters``), so it rebuilds SDK spans from the OTLP protobuf messages: ids, parent
(with its remote flag), kind, times, attributes, events, links, status, resource and scope.

OTLP ``AnyValue`` kinds map onto OpenTelemetry attribute values as follows: strings, booleans,
integers and doubles are kept; an array of one primitive type becomes a tuple; a mixed or nested
array and a key/value list become a compact JSON string; bytes become base64 text; an empty value
drops the attribute (a contract attribute is never null).

OTLP/JSON (the OTLP/HTTP JSON encoding and the OTel Collector's file exporter) is decoded
straight from the parsed JSON into the same spans (protobuf's generic JSON mapping is ten times
slower), following the OTLP/JSON rules: ids in hex (base64, as protobuf's mapping writes them, is
accepted too), lowerCamelCase or snake_case keys, unknown fields ignored, enums as integers or
names, 64-bit integers as numbers or decimal strings. A span whose ids or fields are invalid is
rejected on its own (OTLP partial success); a body that is not OTLP at all is a
:class:`PayloadError`.
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
    "convert_json",
    "convert_request",
    "parse_protobuf_request",
]

_IS_REMOTE_HAS = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER}
_KINDS[5] = SpanKind.CONSUMER
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2}
_KIND_NAMES |= {"SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
_CODE_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
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

    def reject(self, reason: str) -> None:
        """Count one rejected span; the first few reasons are kept."""
        self.rejected += 1
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(reason)

    @property
    def error_message(self) -> str:
        """The rejections summarised in one line (empty when none)."""
        if not self.rejected:
            return ""
        more = self.rejected - len(self.errors)
        text = "; ".join(self.errors)
        return f"{text}; and {more} more" if more > 0 else text


# ---------------------------------------------------------------------------------------------
# shared: validation and span construction

_ZERO8 = bytes(8)
_ZERO16 = bytes(16)
_FLAGS = [TraceFlags(value) for value in range(256)]


class _SpanProblem(Exception):
    """One span cannot be kept (it is rejected, the request goes on)."""


def _ids_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int) -> str | None:
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, found {len(trace_id)}"
    if trace_id == _ZERO16:
        return "trace_id must not be all zeros"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, found {len(span_id)}"
    if span_id == _ZERO8:
        return "span_id must not be all zeros"
    if parent and (len(parent) != 8 or parent == _ZERO8):
        return f"parent_span_id must be 8 non-zero bytes, found {parent.hex()}"
    if not start:
        return "start_time_unix_nano is missing"
    return None


def _trace_state(text: str) -> TraceState | None:
    if not text:
        return None
    try:
        return TraceState.from_header([text])
    except Exception:  # a malformed W3C tracestate is dropped, never fatal
        return None


def _build(
    raw_trace: bytes,
    raw_span: bytes,
    raw_parent: bytes,
    flags: int,
    state: str,
    name: str,
    kind: int,
    start: int,
    end: int,
    code: int,
    message: str,
    attributes: dict[str, Any],
    events: list[Event],
    links: list[Link],
    resource: Resource,
    scope: InstrumentationScope,
) -> ReadableSpan:
    trace_id = int.from_bytes(raw_trace, "big")
    trace_flags = _FLAGS[flags & 0xFF]
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
    if code == 2:
        status = Status(StatusCode.ERROR, message or None)
    elif code == 1:
        status = _OK
    else:
        status = _UNSET
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=_KINDS.get(kind, SpanKind.INTERNAL),
        status=status,
        start_time=start,
        end_time=end or None,
        instrumentation_scope=scope,
    )


def _link_context(trace_id: bytes, span_id: bytes, flags: int, state: str) -> SpanContext | None:
    if len(trace_id) != 16 or len(span_id) != 8:
        return None  # a malformed link is dropped, the span kept
    return SpanContext(
        int.from_bytes(trace_id, "big"),
        int.from_bytes(span_id, "big"),
        is_remote=bool(flags & _IS_REMOTE) or not (flags & _IS_REMOTE_HAS),
        trace_flags=_FLAGS[flags & 0xFF],
        trace_state=_trace_state(state),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _as_attribute(native: Any) -> Any:
    """A JSON-native array or object as an attribute value (see the module docstring)."""
    if type(native) is list:
        if not native:
            return ()
        first = type(native[0])
        if first in (str, int, bool, float) and all(type(v) is first for v in native):
            return tuple(native)
    return _dumps(native)


# ---------------------------------------------------------------------------------------------
# protobuf


def parse_protobuf_request(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary ``ExportTraceServiceRequest``; raises :class:`PayloadError`."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"invalid OTLP protobuf: {exc or 'cannot decode'}") from None
    return request


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


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # hot path: the scalar kinds inline
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
        elif kind == "bytes_value":
            out[kv.key] = base64.b64encode(value.bytes_value).decode()
        elif kind is not None:
            out[kv.key] = _as_attribute(_json_value(value))
    return out


def convert_request(request: ExportTraceServiceRequest) -> Converted:
    """Rebuild SDK spans from a protobuf ``request``; invalid spans (bad ids, no start time) are
    counted in ``rejected`` with a reason, the others are returned in request order."""
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
                    append(_proto_span(span, resource, scope))
                except _SpanProblem as problem:
                    where = (
                        f"resource_spans[{rs_index}].scope_spans[{ss_index}].spans[{span_index}]"
                    )
                    result.reject(f"{where}: {problem}")
    return result


def _proto_span(span: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
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
        raise _SpanProblem(_ids_problem(raw_trace, raw_span, raw_parent, start))
    status = span.status
    events: list[Event] = []
    if len(span.events):
        events = [
            Event(e.name, _attributes(e.attributes), e.time_unix_nano or None) for e in span.events
        ]
    links: list[Link] = []
    if len(span.links):
        for link in span.links:
            context = _link_context(link.trace_id, link.span_id, link.flags, link.trace_state)
            if context is not None:
                links.append(Link(context, _attributes(link.attributes)))
    return _build(
        raw_trace,
        raw_span,
        raw_parent,
        span.flags,
        span.trace_state,
        span.name,
        span.kind,
        start,
        span.end_time_unix_nano,
        status.code,
        status.message,
        _attributes(span.attributes),
        events,
        links,
        resource,
        scope,
    )


# ---------------------------------------------------------------------------------------------
# OTLP/JSON


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
_JSON_TYPES |= {int: "a number", float: "a number", type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _get(obj: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _list(obj: Mapping[str, Any], camel: str, snake: str, where: str) -> list[Any]:
    value = _get(obj, camel, snake)
    if value is None:
        return []
    if type(value) is not list:
        raise PayloadError(f"{where}.{camel}: expected an array, found {_json_type(value)}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise PayloadError(f"{where}: expected an object, found {_json_type(value)}")
    return value


def _span_object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise _SpanProblem(f"{where}: expected an object, found {_json_type(value)}")
    return value


def _span_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _SpanProblem(f"{where}: expected an array, found {_json_type(value)}")
    return value


_HEX_RE = re.compile(r"[0-9a-fA-F]*")


def _json_id(value: Any, size: int, name: str) -> bytes:
    """An OTLP/JSON id: hex per the spec, or base64 as protobuf's JSON mapping writes it."""
    if value is None or value == "":
        return b""
    if type(value) is not str:
        raise _SpanProblem(f"{name}: expected a hex string, found {_json_type(value)}")
    if len(value) == 2 * size and _HEX_RE.fullmatch(value):
        return bytes.fromhex(value)
    try:
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _SpanProblem(f"{name}: not a hex or base64 id: {value[:40]!r}") from None


def _json_int(value: Any, name: str) -> int:
    if value is None:
        return 0
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    elif type(value) is float and value.is_integer():
        return int(value)
    raise _SpanProblem(f"{name}: expected an integer, found {value!r}"[:200])


_MAX_UINT64 = 2**64 - 1


def _json_time(value: Any, name: str) -> int:
    """A ``fixed64`` time in nanoseconds; a negative or over-64-bit value rejects the span
    (it would be stored as 1969, or not at all)."""
    number = _json_int(value, name)
    if not 0 <= number <= _MAX_UINT64:
        raise _SpanProblem(
            f"{name}: expected nanoseconds since the epoch (0 to 2^64-1), found {value!r}"[:200]
        )
    return number


def _json_enum(value: Any, names: Mapping[str, int], name: str) -> int:
    if type(value) is str and value in names:
        return names[value]
    return _json_int(value, name)


def _json_str(value: Any, name: str) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise _SpanProblem(f"{name}: expected a string, found {_json_type(value)}")
    return value


_ANY_KINDS = {
    "stringValue": "s",
    "string_value": "s",
    "boolValue": "b",
    "bool_value": "b",
    "intValue": "i",
    "int_value": "i",
    "doubleValue": "d",
    "double_value": "d",
    "arrayValue": "a",
    "array_value": "a",
    "kvlistValue": "k",
    "kvlist_value": "k",
    "bytesValue": "y",
    "bytes_value": "y",
}
_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _json_any(value: Any, depth: int = 0) -> tuple[str | None, Any]:
    """An OTLP/JSON AnyValue as ``(kind, JSON-native value)``; raises _SpanProblem."""
    if type(value) is not dict:
        raise _SpanProblem(f"expected an AnyValue object, found {_json_type(value)}")
    if depth > 64:
        raise _SpanProblem("AnyValue nested too deeply")
    for key, raw in value.items():
        kind = _ANY_KINDS.get(key)
        if kind is None:
            continue  # unknown fields are ignored
        if kind == "s":
            return kind, _json_str(raw, key)
        if kind == "i":
            return kind, _json_int(raw, key)
        if kind == "b":
            if type(raw) is not bool:
                raise _SpanProblem(f"{key}: expected true or false, found {raw!r}"[:200])
            return kind, raw
        if kind == "d":
            if type(raw) in (int, float) and type(raw) is not bool:
                return kind, float(raw)
            if type(raw) is str:
                special = _SPECIAL_FLOATS.get(raw)
                if special is not None:
                    return kind, special
                try:
                    return kind, float(raw)
                except ValueError:
                    pass
            raise _SpanProblem(f"{key}: expected a number, found {raw!r}"[:200])
        if kind == "y":
            return kind, base64.b64encode(_json_id(raw, -1, key)).decode()
        values = _span_list(_span_object(raw, key).get("values"), key)
        if kind == "a":
            return kind, [_native(v, depth + 1) for v in values]
        out: dict[str, Any] = {}
        for item in values:
            pair = _span_object(item, key)
            out[_json_str(pair.get("key"), "key")] = _native(pair.get("value"), depth + 1)
        return kind, out
    return None, None


def _native(value: Any, depth: int) -> Any:
    if value is None:
        return None
    kind, native = _json_any(value, depth)
    if kind == "d" and not math.isfinite(native):
        return repr(native)
    return native


def _json_attributes(items: Any, where: str) -> dict[str, Any]:
    if items is None:
        return {}
    if type(items) is not list:
        raise _SpanProblem(f"{where}: expected an array, found {_json_type(items)}")
    out: dict[str, Any] = {}
    for item in items:
        if type(item) is not dict:
            raise _SpanProblem(f"{where}: expected key/value objects, found {_json_type(item)}")
        key = _json_str(item.get("key"), f"{where}.key")
        raw = item.get("value")
        if raw is None:
            continue
        try:
            kind, native = _json_any(raw)
        except _SpanProblem as problem:
            raise _SpanProblem(f"{where}[{key!r}]: {problem}") from None
        if kind is None:
            continue
        out[key] = _as_attribute(native) if kind in ("a", "k") else native
    return out


def convert_json(body: bytes | str | Mapping[str, Any]) -> Converted:
    """Rebuild SDK spans from an OTLP/JSON ``ExportTraceServiceRequest`` / ``TracesData`` (raw
    bytes or already parsed). Invalid spans are rejected with a reason; raises
    :class:`PayloadError` with a one-line reason when the body is not OTLP/JSON at all."""
    if isinstance(body, Mapping):
        data: Any = body
    else:
        try:
            data = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise PayloadError(f"invalid JSON: {exc}") from None
    if type(data) is not dict:
        raise PayloadError(f"expected a JSON object, found {_json_type(data)}")
    result = Converted()
    append = result.spans.append
    for rs_index, rs in enumerate(_list(data, "resourceSpans", "resource_spans", "$")):
        where = f"resource_spans[{rs_index}]"
        rs_data = _object(rs, where)
        resource_data = _object(rs_data.get("resource"), f"{where}.resource")
        try:
            attributes = _json_attributes(
                resource_data.get("attributes"), f"{where}.resource.attributes"
            )
        except _SpanProblem as problem:
            raise PayloadError(str(problem)) from None
        schema_url = _get(rs_data, "schemaUrl", "schema_url")
        resource = Resource(attributes, schema_url if type(schema_url) is str else None)
        scope_lists = _get(rs_data, "scopeSpans", "scope_spans")
        if scope_lists is None:  # before OTLP 1.0
            scope_lists = _get(
                rs_data, "instrumentationLibrarySpans", "instrumentation_library_spans"
            )
        if scope_lists is not None and type(scope_lists) is not list:
            raise PayloadError(f"{where}.scopeSpans: expected an array")
        for ss_index, ss in enumerate(scope_lists or ()):
            ss_where = f"{where}.scope_spans[{ss_index}]"
            ss_data = _object(ss, ss_where)
            scope_data = ss_data.get("scope")
            if scope_data is None:
                scope_data = _get(ss_data, "instrumentationLibrary", "instrumentation_library")
            scope_data = _object(scope_data, f"{ss_where}.scope")
            try:
                scope = InstrumentationScope(
                    _json_str(scope_data.get("name"), "scope.name"),
                    _json_str(scope_data.get("version"), "scope.version") or None,
                    _json_str(_get(ss_data, "schemaUrl", "schema_url"), "schemaUrl") or None,
                    _json_attributes(scope_data.get("attributes"), "scope.attributes") or None,
                )
            except _SpanProblem as problem:
                raise PayloadError(f"{ss_where}: {problem}") from None
            for span_index, span in enumerate(_list(ss_data, "spans", "spans", ss_where)):
                try:
                    append(_json_span(span, resource, scope))
                except _SpanProblem as problem:
                    result.reject(f"{ss_where}.spans[{span_index}]: {problem}")
    return result


def _json_span(span: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    if type(span) is not dict:
        raise _SpanProblem(f"expected a span object, found {_json_type(span)}")
    get = span.get
    raw_trace = _json_id(_get(span, "traceId", "trace_id"), 16, "trace_id")
    raw_span = _json_id(_get(span, "spanId", "span_id"), 8, "span_id")
    raw_parent = _json_id(_get(span, "parentSpanId", "parent_span_id"), 8, "parent_span_id")
    start = _json_time(_get(span, "startTimeUnixNano", "start_time_unix_nano"), "start_time")
    problem = _ids_problem(raw_trace, raw_span, raw_parent, start)
    if problem is not None:
        raise _SpanProblem(problem)
    status = _span_object(get("status"), "status")
    events: list[Event] = []
    for item in _span_list(get("events"), "events"):
        event = _span_object(item, "events[]")
        events.append(
            Event(
                _json_str(event.get("name"), "event.name"),
                _json_attributes(event.get("attributes"), "event.attributes"),
                _json_time(_get(event, "timeUnixNano", "time_unix_nano"), "event.time") or None,
            )
        )
    links: list[Link] = []
    for item in _span_list(get("links"), "links"):
        link = _span_object(item, "links[]")
        context = _link_context(
            _json_id(_get(link, "traceId", "trace_id"), 16, "link.trace_id"),
            _json_id(_get(link, "spanId", "span_id"), 8, "link.span_id"),
            _json_int(link.get("flags"), "link.flags"),
            _json_str(_get(link, "traceState", "trace_state"), "link.trace_state"),
        )
        if context is not None:
            links.append(Link(context, _json_attributes(link.get("attributes"), "link.attributes")))
    return _build(
        raw_trace,
        raw_span,
        raw_parent,
        _json_int(get("flags"), "flags"),
        _json_str(_get(span, "traceState", "trace_state"), "trace_state"),
        _json_str(get("name"), "name"),
        _json_enum(get("kind"), _KIND_NAMES, "kind"),
        start,
        _json_time(_get(span, "endTimeUnixNano", "end_time_unix_nano"), "end_time"),
        _json_enum(status.get("code"), _CODE_NAMES, "status.code"),
        _json_str(status.get("message"), "status.message"),
        _json_attributes(get("attributes"), "attributes"),
        events,
        links,
        resource,
        scope,
    )
