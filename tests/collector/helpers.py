"""Small HTTP/gRPC/OTLP helpers shared by the collector tests."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def post(
    url: str, body: bytes, headers: Mapping[str, str] | None = None, timeout: float = 10
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def post_json(
    url: str, data: Any, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    status, _, body = post(
        url, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    return status, json.loads(body) if body else {}


def otlp_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    request: ExportTraceServiceRequest = encode_spans(spans)
    return request


def otlp_json(spans: Sequence[ReadableSpan], *, hex_ids: bool = True, snake: bool = False) -> str:
    """The spans as one OTLP/JSON line: protobuf's JSON mapping (base64 ids) or, with ``hex_ids``,
    as the OTLP/JSON spec and the OTel Collector's file exporter write them."""
    data = json_format.MessageToDict(
        otlp_request(spans), preserving_proto_field_name=snake, use_integers_for_enums=True
    )
    if hex_ids:
        names = ("trace_id", "span_id", "parent_span_id") if snake else ("traceId", "spanId")
        names += () if snake else ("parentSpanId",)

        def rewrite(node: Any) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in names and isinstance(value, str):
                        node[key] = base64.b64decode(value).hex()
                    else:
                        rewrite(value)
            elif isinstance(node, list):
                for item in node:
                    rewrite(item)

        rewrite(data)
    return json.dumps(data)


def parse_response(body: bytes) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    response.ParseFromString(body)
    return response


async def asgi_call(
    app: Any, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    chunks = [body[:7], body[7:]] if len(body) > 7 else [body]
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
