"""The collector's ingest step on a real ``fluxloop collector serve`` (and ``fluxloop import
otlp``): third-party secrets masked (``--no-mask`` keeps them), the SDK's attribute limits,
lone surrogates on the original API, invalid timestamps rejected per span."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.cli_process import fl

from .conftest import Collector
from .helpers import post, post_json

OPENAI_KEY = "sk-proj-Ingest0penAIKey4242abcdefXYZ"
AWS_KEY = "AKIAINGESTKEY1234567"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpbmdlc3QtdXNlciJ9.c2lnbmF0dXJlLWluZ2VzdA"
BEARER = "IngestBearerToken0123456789abcdef"
API_KEY_VALUE = "ingest-api-key-value-77"
DB_PASSWORD = "ingest-db-pw-88"
URL_PASSWORD = "ingestUrlPw99"
QUERY_TOKEN = "ingestQueryTok11"
SECRETS = [OPENAI_KEY, AWS_KEY, JWT, BEARER, API_KEY_VALUE, DB_PASSWORD, URL_PASSWORD, QUERY_TOKEN]

TRACE_ID = "5b8efff798038103d269b633813fc60c"
DATABASE_URL_TEXT = f"postgresql://app:{URL_PASSWORD}@db.internal/prod"


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _attrs(value)}}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": value}


def _attrs(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in mapping.items()]


def span(
    span_id: str,
    attributes: dict[str, Any],
    *,
    name: str = "work",
    start: Any = "1767225600000000000",
    end: Any = "1767225601000000000",
    events: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": start,
        "endTimeUnixNano": end,
        "attributes": _attrs(attributes),
        "events": events or [],
        "status": status or {},
    }


def request(spans: list[dict[str, Any]], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attrs(resource or {"service.name": "third-party"})},
                "scopeSpans": [{"scope": {"name": "other-instrumentation"}, "spans": spans}],
            }
        ]
    }


def secret_request() -> dict[str, Any]:
    """Secrets the way third-party instrumentations send them."""
    return request(
        [
            span(
                "1000000000000001",
                {
                    "api_key": API_KEY_VALUE,
                    "db.password": DB_PASSWORD,
                    "http.request.header.authorization": [f"Bearer {BEARER}"],
                    "gen_ai.prompt": f"Use the key {OPENAI_KEY} to call the API",
                    "db.connection_string": (
                        f"postgresql://app:{URL_PASSWORD}@db.internal/prod?sslmode=require"
                    ),
                    "url.full": f"https://api.example.com/v1/items?token={QUERY_TOKEN}&page=2",
                    "llm.request": {"model": "gpt-4o", "credentials": {"aws": AWS_KEY}},
                    "note": f"session {JWT}",
                },
                name=f"GET https://svc:{URL_PASSWORD}@api.example.com/x",
                events=[
                    {
                        "name": "exception",
                        "timeUnixNano": "1767225600500000000",
                        "attributes": _attrs(
                            {
                                "exception.type": "RuntimeError",
                                "exception.message": f"bad key {OPENAI_KEY}",
                                "exception.stacktrace": (
                                    "Traceback (most recent call last):\n"
                                    f"RuntimeError: bad key {OPENAI_KEY} for {AWS_KEY}"
                                ),
                            }
                        ),
                    }
                ],
                status={"code": 2, "message": f"RuntimeError: bad key {OPENAI_KEY}"},
            )
        ],
        resource={"service.name": "third-party", "deployment.db_password": DB_PASSWORD},
    )


def written(output: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(output.glob("*.jsonl")))


def test_collector_masks_third_party_secrets_on_ingest(
    collector_factory: Callable[..., Collector],
) -> None:
    collector = collector_factory(grpc_port=0)
    status, body = post_json(collector.url + "/v1/traces", secret_request())
    assert status == 200, body
    status, _ = post_json(
        collector.url + "/api/traces",
        {
            "id": "00000000-0000-0000-0000-00000000a001",
            "name": "legacy",
            "start_time": "2026-03-04T10:00:00+00:00",
            "metadata": {"password": DB_PASSWORD, "dsn": f"mysql://u:{URL_PASSWORD}@h/db"},
            "input": {"api_key": API_KEY_VALUE, "text": f"token {OPENAI_KEY}"},
            "output": f"Authorization: Bearer {BEARER}",
        },
    )
    assert status == 201
    text = written(collector.output)
    for secret in SECRETS:
        assert secret not in text, secret
    (observation,) = collector.observations()
    attributes = observation["attributes"]
    assert attributes["api_key"] == "***"
    assert attributes["db.password"] == "***"
    assert attributes["db.connection_string"].startswith("postgresql://app:***@db.internal/")
    assert "token=***&page=2" in attributes["url.full"]
    assert "sk-***" in observation["error"]
    assert "://svc:***@" in observation["name"]
    legacy = [t for t in collector.traces() if t["name"] == "legacy"]
    assert legacy and legacy[0]["metadata"]["password"] == "***"


def test_no_mask_keeps_raw_data(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(grpc_port=0, extra=["--no-mask"])
    status, _ = post_json(collector.url + "/v1/traces", secret_request())
    assert status == 200
    text = written(collector.output)
    for secret in (OPENAI_KEY, API_KEY_VALUE, DB_PASSWORD, URL_PASSWORD):
        assert secret in text
    assert collector.stop() == 0
    assert "secrets NOT masked" in collector.proc.stdout.read().decode()  # type: ignore[union-attr]


def test_attribute_limits_on_ingest(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(
        grpc_port=0,
        extra=["--max-attribute-bytes", "4096", "--max-attributes", "50", "--max-depth", "5"],
    )
    nested: Any = "leaf"
    for _ in range(30):
        nested = {"n": nested}
    many = {f"attr.{i}": i for i in range(10_000)}
    huge = "x" * 2_000_000
    body = request(
        [
            span("2000000000000001", {"big": huge, "deep": nested, "ok": "small"}),
            span("2000000000000002", many),
        ]
    )
    status, answer = post_json(collector.url + "/v1/traces", body)
    assert status == 200, answer
    by_id = {o["id"]: o for o in collector.observations()}
    first = by_id["2000000000000001"]["attributes"]
    assert len(first["big"].encode()) <= 4096
    assert first["big"].endswith("chars)") and "truncated" in first["big"]
    assert "<max depth>" in first["deep"]
    json.loads(first["deep"])  # still valid JSON
    assert first["ok"] == "small"
    assert set(first["fluxloop.truncated"]) == {"big", "deep"}
    second = by_id["2000000000000002"]["attributes"]
    assert len([k for k in second if k.startswith("attr.")]) == 50
    assert "attributes" in second["fluxloop.truncated"]


def test_default_limits_are_the_sdks(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(grpc_port=0)
    body = request([span("3000000000000001", {"big": "y" * 100_000})])
    status, _ = post_json(collector.url + "/v1/traces", body)
    assert status == 200
    (observation,) = collector.observations()
    assert len(observation["attributes"]["big"].encode()) <= 32_768
    assert observation["attributes"]["fluxloop.truncated"] == ["big"]


def test_invalid_timestamps_are_rejected_per_span(
    collector_factory: Callable[..., Collector],
) -> None:
    collector = collector_factory(grpc_port=0)
    body = request(
        [
            span("4000000000000001", {}, start="-5"),
            span("4000000000000002", {}, start=str(2**64 + 7)),
            span("4000000000000003", {}, end="-1"),
            span("4000000000000004", {"fine": True}),
        ]
    )
    status, answer = post_json(collector.url + "/v1/traces", body)
    assert status == 200
    partial = answer["partialSuccess"]
    assert partial["rejectedSpans"] == "3"
    assert "start_time" in partial["errorMessage"] and "2^64-1" in partial["errorMessage"]
    assert [o["id"] for o in collector.observations()] == ["4000000000000004"]


def test_legacy_lone_surrogate_is_text(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(grpc_port=0)
    body = (
        b'{"id": "00000000-0000-0000-0000-00000000b001", "name": "sur\\ud800rogate",'
        b' "start_time": "2026-03-04T10:00:00+00:00", "input": {"text": "x\\udfffy"}}'
    )
    status, _, answer = post(
        collector.url + "/api/traces", body, {"Content-Type": "application/json"}
    )
    assert status == 201, answer
    (trace,) = collector.traces()
    assert trace["name"] == "sur\ufffdrogate"
    assert collector.health()["status"] == "ok"


def test_import_otlp_masks_and_no_mask_keeps(tmp_path: Path) -> None:
    source = tmp_path / "otlp.jsonl"
    source.write_text(json.dumps(secret_request()) + "\n")
    masked = fl("import", "otlp", str(source), "--output", "masked", cwd=tmp_path)
    assert masked.returncode == 0, masked.stderr
    text = written(tmp_path / "masked")
    assert "***" in text
    for secret in SECRETS:
        assert secret not in text, secret
    raw = fl("import", "otlp", str(source), "--output", "raw", "--no-mask", cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr
    assert OPENAI_KEY in written(tmp_path / "raw")


def test_logs_are_masked_on_ingest(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(grpc_port=0)
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": _attrs({"service.name": "third-party"})},
                "scopeLogs": [
                    {
                        "scope": {"name": "app.logger"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1767225600000000000",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": f"login failed for {DATABASE_URL_TEXT}"},
                                "attributes": _attrs(
                                    {"api_key": API_KEY_VALUE, "detail": f"key {OPENAI_KEY}"}
                                ),
                            },
                            {
                                "timeUnixNano": "1767225600000000001",
                                "body": {
                                    "kvlistValue": {"values": _attrs({"password": DB_PASSWORD})}
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }
    status, answer = post_json(collector.url + "/v1/logs", body)
    assert status == 200, answer
    text = "".join(p.read_text() for p in collector.output.glob("logs_*.jsonl"))
    assert text.count("\n") == 2
    for secret in (URL_PASSWORD, API_KEY_VALUE, OPENAI_KEY, DB_PASSWORD):
        assert secret not in text, secret
    assert "***" in text
