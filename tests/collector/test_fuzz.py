"""Fuzzed malformed bodies never crash the collector (the ASGI app in process)."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from fluxloop.collector import create_app
from fluxloop.collector._sink import Sink

from .helpers import asgi_call as _call
from .helpers import otlp_json, otlp_request
from .spans import make_spans

OK_STATUSES = {200, 201, 400, 413, 415}
SPANS = make_spans(1)
VALID_PROTOBUF = otlp_request(SPANS).SerializeToString()
VALID_JSON = json.loads(otlp_json(SPANS))


def call(app: Starlette, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
    return asyncio.run(_call(app, "POST", path, headers, body))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    sink = Sink(tmp_path_factory.mktemp("fuzz"))
    return create_app(sink, max_body_bytes=200_000)


def _still_healthy(app: Starlette) -> None:
    status, body = asyncio.run(_call(app, "GET", "/health", {}, b""))
    assert status == 200 and json.loads(body)["status"] == "ok"


def _assert_clean(status: int, body: bytes) -> None:
    assert status in OK_STATUSES, (status, body[:300])


CONTENT_TYPES = st.sampled_from(
    ["application/x-protobuf", "application/json", "application/json; charset=utf-8", "", "x/y"]
)
ENCODINGS = st.sampled_from(["", "gzip", "identity", "deflate", "zstd"])
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(body=st.binary(max_size=2000), content_type=CONTENT_TYPES, encoding=ENCODINGS)
def test_random_bytes(app: Starlette, body: bytes, content_type: str, encoding: str) -> None:
    headers = {"Content-Type": content_type, "Content-Encoding": encoding}
    for path in ("/v1/traces", "/api/traces", "/api/traces/abc/observations"):
        _assert_clean(*call(app, path, body, headers))


@FUZZ
@given(
    cuts=st.lists(st.integers(0, len(VALID_PROTOBUF) - 1), max_size=6),
    flips=st.lists(st.tuples(st.integers(0, len(VALID_PROTOBUF) - 1), st.integers(0, 255))),
    gzipped=st.booleans(),
)
def test_mutated_protobuf(
    app: Starlette, cuts: list[int], flips: list[tuple[int, int]], gzipped: bool
) -> None:
    data = bytearray(VALID_PROTOBUF)
    for index, value in flips:
        data[index % len(data)] = value
    for cut in cuts:
        del data[cut % max(1, len(data)) :][:3]
    body = bytes(data)
    headers = {"Content-Type": "application/x-protobuf"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    _assert_clean(*call(app, "/v1/traces", body, headers))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
SPAN_KEYS = st.sampled_from(
    [
        "traceId", "spanId", "parentSpanId", "name", "kind", "startTimeUnixNano",
        "endTimeUnixNano", "attributes", "events", "links", "status", "flags", "traceState",
        "trace_id", "span_id", "droppedAttributesCount",
    ]
)  # fmt: skip


@FUZZ
@given(replacements=st.dictionaries(SPAN_KEYS, JSON_VALUES, max_size=4), top=JSON_VALUES)
def test_structured_json(app: Starlette, replacements: dict[str, Any], top: Any) -> None:
    data = json.loads(json.dumps(VALID_JSON))
    data["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(replacements)
    headers = {"Content-Type": "application/json"}
    _assert_clean(*call(app, "/v1/traces", json.dumps(data).encode(), headers))
    _assert_clean(*call(app, "/v1/traces", json.dumps({"resourceSpans": top}).encode(), headers))
    _assert_clean(*call(app, "/api/traces", json.dumps(top).encode(), headers))


@FUZZ
@given(body=st.dictionaries(st.sampled_from(
    ["id", "name", "start_time", "end_time", "type", "level", "tags", "metadata", "error",
     "prompt_tokens", "trace_id", "parent_observation_id", "input", "attributes"]
), JSON_VALUES))  # fmt: skip
def test_legacy_records(app: Starlette, body: dict[str, Any]) -> None:
    encoded = json.dumps(body).encode()
    _assert_clean(*call(app, "/api/traces", encoded, {}))
    _assert_clean(*call(app, "/api/traces/0123456789abcdef/observations", encoded, {}))


def test_app_survives(app: Starlette, tmp_path: Path) -> None:
    _still_healthy(app)
    status, _ = call(app, "/v1/traces", VALID_PROTOBUF, {"Content-Type": "application/x-protobuf"})
    assert status == 200


def test_client_disconnect_mid_body(app: Starlette) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/traces",
        "raw_path": b"/v1/traces",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/x-protobuf")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": VALID_PROTOBUF[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    _still_healthy(app)
