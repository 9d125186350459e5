"""OTLP protobuf/JSON -> SDK spans -> the SDK's encoder, in process."""

from __future__ import annotations

import base64
import json
import re

import pytest
from fluxloop_exporters import encode_observation, encode_trace
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from fluxloop.collector._convert import (
    PayloadError,
    convert_json,
    convert_request,
    parse_protobuf_request,
)

from .helpers import otlp_json, otlp_request
from .spans import expected_records, make_spans

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"
PARENT = "1111111111111111"


def _request_with(*pairs: tuple[str, AnyValue]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(TRACE)
    span.span_id = bytes.fromhex(SPAN)
    span.name = "s"
    span.start_time_unix_nano = 1_700_000_000_000_000_000
    for key, value in pairs:
        span.attributes.append(KeyValue(key=key, value=value))
    return request


def _array(*values: AnyValue) -> AnyValue:
    value = AnyValue()
    value.array_value.values.extend(values)
    return value


def test_every_anyvalue_kind() -> None:
    kvlist = AnyValue()
    kvlist.kvlist_value.values.append(KeyValue(key="k", value=AnyValue(int_value=1)))
    kvlist.kvlist_value.values.append(KeyValue(key="b", value=AnyValue(bytes_value=b"\x00\x01")))
    request = _request_with(
        ("s", AnyValue(string_value="x")),
        ("b", AnyValue(bool_value=True)),
        ("i", AnyValue(int_value=-(2**63))),
        ("d", AnyValue(double_value=1.5)),
        ("nan", AnyValue(double_value=float("nan"))),
        ("bytes", AnyValue(bytes_value=b"\xff\x00")),
        ("strs", _array(AnyValue(string_value="a"), AnyValue(string_value="b"))),
        ("ints", _array(AnyValue(int_value=1), AnyValue(int_value=2))),
        ("mixed", _array(AnyValue(int_value=1), AnyValue(string_value="a"))),
        ("nested", _array(_array(AnyValue(bool_value=False)))),
        ("empty_array", _array()),
        ("kv", kvlist),
        ("empty", AnyValue()),
    )
    [span] = convert_request(request).spans
    attrs = dict(span.attributes or {})
    assert attrs["s"] == "x" and attrs["b"] is True and attrs["i"] == -(2**63)
    assert attrs["d"] == 1.5 and attrs["bytes"] == "/wA="
    assert attrs["strs"] == ("a", "b") and attrs["ints"] == (1, 2)
    assert attrs["mixed"] == '[1,"a"]' and attrs["nested"] == "[[false]]"
    assert attrs["empty_array"] == ()
    assert json.loads(attrs["kv"]) == {"k": 1, "b": "AAE="}
    assert "empty" not in attrs
    record = encode_observation(span)
    assert record["attributes"]["nan"] == "nan"
    json.dumps(record, allow_nan=False)  # always valid JSON


def test_span_fields_survive() -> None:
    spans = make_spans(1)
    converted = convert_request(otlp_request(spans))
    assert converted.rejected == 0
    by_id = {s.context.span_id: s for s in converted.spans}
    for original in spans:
        got = by_id[original.context.span_id]
        assert got.name == original.name and got.kind == original.kind
        assert got.start_time == original.start_time and got.end_time == original.end_time
        assert got.status.status_code == original.status.status_code
        assert got.status.description == original.status.description
        assert (got.parent and got.parent.span_id) == (original.parent and original.parent.span_id)
        assert [e.name for e in got.events] == [e.name for e in original.events]
        assert len(got.links) == len(original.links)
        assert got.resource.attributes["service.name"] == "collector-test"
        assert got.instrumentation_scope is not None
        assert got.instrumentation_scope.name == "tests.collector"
        assert got.instrumentation_scope.version == "1.2.3"
    observations, traces = expected_records(spans)
    assert {str(encode_observation(s)["id"]): encode_observation(s) for s in converted.spans} == (
        observations
    )
    assert {
        str(t["id"]): t for s in converted.spans if (t := encode_trace(s)) is not None
    } == traces


def test_remote_parent_makes_a_local_root() -> None:
    request = _request_with()
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.parent_span_id = bytes.fromhex(PARENT)
    span.flags = 0x100 | 0x200 | 0x01
    [converted] = convert_request(request).spans
    assert converted.parent is not None and converted.parent.is_remote
    assert encode_trace(converted) is not None  # a trace record, as the SDK writes one
    span.flags = 0x100
    [converted] = convert_request(request).spans
    assert encode_trace(converted) is None


def test_json_variants_and_legacy_names() -> None:
    data = {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]
                },
                "instrumentationLibrarySpans": [
                    {
                        "instrumentationLibrary": {"name": "old-lib", "version": "0.1"},
                        "spans": [
                            {
                                "trace_id": TRACE.upper(),
                                "span_id": SPAN,
                                "parent_span_id": "",
                                "name": "legacy",
                                "kind": "SPAN_KIND_SERVER",
                                "start_time_unix_nano": 1_700_000_000_000_000_000,
                                "end_time_unix_nano": "1700000001000000000",
                                "status": {"code": "STATUS_CODE_ERROR", "message": "bad"},
                                "unknownField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    [span] = convert_json(json.dumps(data)).spans
    assert span.context.trace_id == int(TRACE, 16) and span.parent is None
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.ERROR and span.status.description == "bad"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "old-lib"
    assert span.end_time == 1_700_000_001_000_000_000


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda s: setattr(s, "trace_id", b"\x00" * 16), "trace_id must not be all zeros"),
        (lambda s: setattr(s, "trace_id", b"\x01" * 8), "trace_id must be 16 bytes, found 8"),
        (lambda s: setattr(s, "span_id", b""), "span_id must be 8 bytes, found 0"),
        (
            lambda s: setattr(s, "parent_span_id", b"\x01" * 3),
            "parent_span_id must be 8 non-zero bytes, found 010101",
        ),
        (lambda s: setattr(s, "start_time_unix_nano", 0), "start_time_unix_nano is missing"),
    ],
)
def test_invalid_spans_are_rejected_with_a_reason(mutate: object, reason: str) -> None:
    request = otlp_request(make_spans(1))
    spans = request.resource_spans[0].scope_spans[0].spans
    total = len(spans)
    mutate(spans[1])  # type: ignore[operator]
    converted = convert_request(request)
    assert converted.rejected == 1 and len(converted.spans) == total - 1
    assert reason in converted.error_message
    assert converted.error_message.startswith("resource_spans[0].scope_spans[0].spans[1]: ")


def test_error_message_is_bounded() -> None:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(50):
        scope.spans.add(name="bad")
    converted = convert_request(request)
    assert converted.rejected == 50
    assert converted.error_message.endswith("and 45 more")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "invalid JSON"),
        (b"[]", "expected a JSON object, found an array"),
        (b'{"resourceSpans": 3}', "resourceSpans: expected an array, found a number"),
        (b'{"resourceSpans": [7]}', "resource_spans[0]: expected an object"),
        (b'{"resourceSpans": [{"scopeSpans": {}}]}', "scopeSpans: expected an array"),
        (b"Infinity", "invalid JSON"),
    ],
)
def test_malformed_json(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        convert_json(body)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"traceId": None}, "trace_id must be 16 bytes, found 0"),
        ({"traceId": "not-an-id!"}, "trace_id: not a hex or base64 id"),
        ({"spanId": 12}, "span_id: expected a hex string, found a number"),
        ({"startTimeUnixNano": "soon"}, "start_time: expected an integer"),
        ({"startTimeUnixNano": 0}, "start_time_unix_nano is missing"),
        ({"name": [1]}, "name: expected a string, found an array"),
        ({"attributes": {}}, "attributes: expected an array, found an object"),
        ({"attributes": [{"key": "k", "value": {"intValue": "x"}}]}, "['k']: intValue"),
        ({"attributes": [{"key": "k", "value": {"boolValue": 1}}]}, "boolValue: expected true"),
        ({"attributes": [{"key": "k", "value": 3}]}, "expected an AnyValue object"),
        ({"events": [3]}, "events[]: expected an object"),
        ({"links": {}}, "links: expected an array"),
        ({"status": "bad"}, "status: expected an object"),
        ({"kind": "SPAN_KIND_NOPE"}, "kind: expected an integer"),
    ],
)
def test_invalid_json_spans_are_rejected(change: dict[str, object], reason: str) -> None:
    good = {"traceId": TRACE, "spanId": PARENT, "name": "ok", "startTimeUnixNano": "5"}
    bad = {**good, "spanId": SPAN, **change}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [good, bad]}]}]}
    converted = convert_json(body)
    assert converted.rejected == 1 and len(converted.spans) == 1
    assert reason in converted.error_message
    assert converted.error_message.startswith("resource_spans[0].scope_spans[0].spans[1]: ")


def test_malformed_protobuf() -> None:
    with pytest.raises(PayloadError, match="invalid OTLP protobuf"):
        parse_protobuf_request(b"\x0a\xff\xff\xff\xff\x0f")
    assert len(parse_protobuf_request(b"").resource_spans) == 0


def _records(spans: list[ReadableSpan]) -> list[tuple[object, object]]:
    return [(encode_observation(s), encode_trace(s)) for s in spans]


def _reference(line: str) -> list[ReadableSpan]:
    """protobuf's generic JSON mapping (base64 ids) + the protobuf path: the reference."""
    request = json_format.Parse(line, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    converted = convert_request(request)
    assert converted.rejected == 0
    return converted.spans


@pytest.mark.parametrize("snake", [False, True])
def test_json_decoder_matches_protobufs_json_mapping(snake: bool) -> None:
    spans = make_spans(2)
    reference = _records(_reference(otlp_json(spans, hex_ids=False, snake=snake)))
    for hex_ids in (True, False):
        converted = convert_json(otlp_json(spans, hex_ids=hex_ids, snake=snake))
        assert converted.rejected == 0
        assert _records(converted.spans) == reference
    assert reference == _records(convert_request(otlp_request(spans)).spans)


ANY_VALUES = st.recursive(
    st.one_of(
        st.text(max_size=8).map(lambda v: {"stringValue": v}),
        st.booleans().map(lambda v: {"boolValue": v}),
        st.integers(-(2**63), 2**63 - 1).map(lambda v: {"intValue": str(v)}),
        st.integers(-(2**53), 2**53).map(lambda v: {"intValue": v}),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda v: {"doubleValue": v}),
        st.sampled_from(["NaN", "Infinity", "-Infinity"]).map(lambda v: {"doubleValue": v}),
        st.binary(max_size=6).map(lambda v: {"bytesValue": base64.b64encode(v).decode()}),
        st.just({}),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda v: {"arrayValue": {"values": v}}),
        st.lists(st.tuples(st.text(max_size=4), children), max_size=3).map(
            lambda v: {"kvlistValue": {"values": [{"key": k, "value": x} for k, x in v]}}
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(ANY_VALUES, max_size=5))
def test_any_values_decode_like_protobufs_json_mapping(values: list[dict[str, object]]) -> None:
    span = {
        "traceId": base64.b64encode(bytes.fromhex(TRACE)).decode(),
        "spanId": base64.b64encode(bytes.fromhex(SPAN)).decode(),
        "name": "s",
        "startTimeUnixNano": "1700000000000000000",
        "attributes": [{"key": f"k{i}", "value": v} for i, v in enumerate(values)],
    }
    line = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    converted = convert_json(line)
    assert converted.rejected == 0, converted.error_message
    assert _records(converted.spans) == _records(_reference(line))
