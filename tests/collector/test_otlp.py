"""The official OTLP exporters (HTTP and gRPC) -> a real collector process -> contract files."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.sdk.trace.export import SpanExportResult

from .conftest import SERVE, Collector, free_port, start_collector
from .helpers import EXPORT_METHOD, otlp_json, otlp_request, parse_response, post
from .spans import expected_records, make_spans

KEY = "s3cret-key"
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(scope="module")
def open_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    collector = start_collector(tmp_path_factory.mktemp("open"))
    yield collector
    assert collector.stop() == 0


@pytest.fixture(scope="module")
def keyed_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    collector = start_collector(
        tmp_path_factory.mktemp("keyed"), api_key=KEY, extra=["--max-body-bytes", "65536"]
    )
    yield collector
    assert collector.stop() == 0


def assert_landed(collector: Collector, spans: list[Any]) -> None:
    expected_obs, expected_traces = expected_records(spans)
    got_obs = {r["id"]: r for r in collector.observations() if r["id"] in expected_obs}
    got_traces = {r["id"]: r for r in collector.traces() if r["id"] in expected_traces}
    assert got_obs == expected_obs
    assert got_traces == expected_traces


def test_http_protobuf_exporter_round_trip(open_collector: Collector) -> None:
    spans = make_spans()
    exporter = HttpExporter(endpoint=open_collector.url + "/v1/traces")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(open_collector, spans)
    records = {r["id"]: r for r in open_collector.observations()}
    chats = [r for r in records.values() if r["type"] == "generation"]
    assert chats and all(r["model"] == "gpt-4o-mini" and r["total_tokens"] == 42 for r in chats)
    for chat in chats:  # parent/child intact
        parent = records[chat["parent_observation_id"]]
        assert parent["type"] == "agent" and parent["trace_id"] == chat["trace_id"]
    tools = [r for r in records.values() if r["type"] == "tool"]
    assert tools and all(r["level"] == "error" and r["error"] == "'missing'" for r in tools)


def test_http_gzip_exporter(open_collector: Collector) -> None:
    spans = make_spans(1)
    exporter = HttpExporter(
        endpoint=open_collector.url + "/v1/traces", compression=HttpCompression.Gzip
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(open_collector, spans)


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip])
def test_grpc_exporter_round_trip(open_collector: Collector, compression: Any) -> None:
    spans = make_spans()
    exporter = GrpcExporter(
        endpoint=open_collector.grpc_target, insecure=True, compression=compression
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(open_collector, spans)


@pytest.mark.parametrize(
    ("hex_ids", "snake", "gzipped"),
    [(True, False, False), (False, False, False), (True, True, True), (False, True, False)],
)
def test_http_json_bodies(
    open_collector: Collector, hex_ids: bool, snake: bool, gzipped: bool
) -> None:
    spans = make_spans(1)
    body = otlp_json(spans, hex_ids=hex_ids, snake=snake).encode()
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, response_headers, answer = post(open_collector.url + "/v1/traces", body, headers)
    assert status == 200, answer
    assert response_headers["content-type"].startswith("application/json")
    assert json.loads(answer) == {}
    assert_landed(open_collector, spans)


def test_health(open_collector: Collector) -> None:
    health = open_collector.health()
    assert health["status"] == "ok"
    assert health["version"]
    assert health["output_dir"] == str(open_collector.output)
    assert health["uptime_seconds"] >= 0
    assert health["auth_required"] is False
    assert health["grpc_address"] == open_collector.grpc_target
    assert isinstance(health["spans_received"], int)


# -- partial success ---------------------------------------------------------------------------


def _half_invalid() -> tuple[Any, list[Any]]:
    spans = make_spans(1)
    request = otlp_request(spans)
    bad = request.resource_spans[0].scope_spans[0].spans[0]
    bad.span_id = b"\x01\x02\x03\x04"
    good_ids = {
        s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans if s is not bad
    }
    return request, [s for s in spans if f"{s.context.span_id:016x}" in good_ids]


def test_partial_success_protobuf(open_collector: Collector) -> None:
    request, good = _half_invalid()
    status, _, body = post(open_collector.url + "/v1/traces", request.SerializeToString(), PROTOBUF)
    assert status == 200
    response = parse_response(body)
    assert response.partial_success.rejected_spans == 1
    assert "span_id must be 8 bytes, found 4" in response.partial_success.error_message
    assert_landed(open_collector, good)


def test_partial_success_json(open_collector: Collector) -> None:
    spans = make_spans(1)
    data = json.loads(otlp_json(spans))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "not-an-id"
    status, _, body = post(
        open_collector.url + "/v1/traces",
        json.dumps(data).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["partialSuccess"]["rejectedSpans"] == "1"
    assert "trace_id" in answer["partialSuccess"]["errorMessage"]


def test_partial_success_grpc(open_collector: Collector) -> None:
    request, good = _half_invalid()
    with grpc.insecure_channel(open_collector.grpc_target) as channel:
        call = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=parse_response,
        )
        response = call(request, timeout=10)
    assert response.partial_success.rejected_spans == 1
    assert_landed(open_collector, good)


# -- errors ------------------------------------------------------------------------------------


def test_malformed_bodies_get_400_with_reason(open_collector: Collector) -> None:
    url = open_collector.url + "/v1/traces"
    status, _, body = post(url, b"\xff\xfe not protobuf", PROTOBUF)
    assert status == 400
    reason = RpcStatus.FromString(body)
    assert reason.code == 3 and "invalid OTLP protobuf" in reason.message
    status, _, body = post(url, b"{not json", {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body)["message"].startswith("invalid JSON")
    status, _, body = post(url, b"[1, 2]", {"Content-Type": "application/json"})
    assert status == 400 and "expected a JSON object" in json.loads(body)["message"]
    status, _, body = post(url, b"\x1f\x8b garbage", {**PROTOBUF, "Content-Encoding": "gzip"})
    assert status == 400 and b"gzip" in body
    status, _, body = post(url, b"{}", {"Content-Type": "text/plain"})
    assert status == 415 and "Content-Type" in json.loads(body)["message"]
    status, _, _ = post(url, b"", {**PROTOBUF, "Content-Encoding": "br"})
    assert status == 415
    assert open_collector.health()["status"] == "ok"
    assert open_collector.proc.poll() is None


def test_grpc_malformed_message_is_invalid_argument(open_collector: Collector) -> None:
    with grpc.insecure_channel(open_collector.grpc_target) as channel:
        call = channel.unary_unary(EXPORT_METHOD)  # raw bytes in, raw bytes out
        with pytest.raises(grpc.RpcError) as info:
            call(b"\xff\xff\xff garbage", timeout=10)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid OTLP protobuf" in (info.value.details() or "")


def test_http_requires_the_api_key(keyed_collector: Collector) -> None:
    spans = make_spans(1)
    body = otlp_request(spans).SerializeToString()
    url = keyed_collector.url + "/v1/traces"
    status, headers, _ = post(url, body, PROTOBUF)
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    status, _, _ = post(url, body, {**PROTOBUF, "Authorization": "Bearer wrong"})
    assert status == 401
    status, _, _ = post(url, body, {**PROTOBUF, "Authorization": f"Basic {KEY}"})
    assert status == 401
    assert keyed_collector.observations() == []
    exporter = HttpExporter(endpoint=url, headers={"Authorization": f"Bearer {KEY}"})
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(keyed_collector, spans)
    # the original SDK's API is protected too; health is open but rejects a wrong key
    status, _, _ = post(keyed_collector.url + "/api/traces", b"{}", {})
    assert status == 401
    assert keyed_collector.health()["auth_required"] is True


def test_grpc_requires_the_api_key(keyed_collector: Collector) -> None:
    spans = make_spans(1)
    with grpc.insecure_channel(keyed_collector.grpc_target) as channel:
        call = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=parse_response,
        )
        for metadata in ((), (("authorization", "Bearer nope"),)):
            with pytest.raises(grpc.RpcError) as info:
                call(otlp_request(spans), metadata=metadata, timeout=10)
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    exporter = GrpcExporter(
        endpoint=keyed_collector.grpc_target,
        insecure=True,
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert_landed(keyed_collector, spans)


def test_body_size_limit(keyed_collector: Collector) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    url = keyed_collector.url + "/v1/traces"
    status, _, body = post(url, b"\x00" * 70_000, {**PROTOBUF, **auth})
    assert status == 413 and b"exceeds the limit" in body
    bomb = gzip.compress(b"\x00" * 1_000_000)  # ~1 KB that inflates to 1 MB
    assert len(bomb) < 65536
    status, _, body = post(url, bomb, {**PROTOBUF, **auth, "Content-Encoding": "gzip"})
    assert status == 413 and b"decompressed" in body
    with grpc.insecure_channel(keyed_collector.grpc_target) as channel:
        call = channel.unary_unary(EXPORT_METHOD)
        with pytest.raises(grpc.RpcError) as info:
            call(b"\x00" * 70_000, metadata=(("authorization", f"Bearer {KEY}"),), timeout=10)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert keyed_collector.health()["status"] == "ok"


def test_port_in_use_is_a_one_line_error(open_collector: Collector, tmp_path: Path) -> None:
    for flag, port in (("--port", open_collector.port), ("--grpc-port", open_collector.grpc_port)):
        ports = {"--port": str(free_port()), "--grpc-port": str(free_port()), flag: str(port)}
        args = [arg for pair in ports.items() for arg in pair]
        proc = subprocess.run(
            [*SERVE, *args, "--output", str(tmp_path)], capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert f"{flag}: cannot listen on" in lines[0] and str(port) in lines[0]
