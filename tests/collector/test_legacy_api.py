"""The original FluxLoop SDK's JSON API (``POST /api/traces``, ``POST
/api/traces/{id}/observations``), with the shapes its FluxLoopClient really sends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .conftest import Collector, start_collector
from .helpers import post, post_json

_U1 = "00000000-0000-0000-0000-000000001001"
_U2 = "00000000-0000-0000-0000-000000001002"
_U3 = "00000000-0000-0000-0000-000000001003"
_U4 = "00000000-0000-0000-0000-000000001004"
_U5 = "00000000-0000-0000-0000-000000001005"
_U6 = "00000000-0000-0000-0000-000000001006"
_U7 = "00000000-0000-0000-0000-000000001007"
_U8 = "00000000-0000-0000-0000-000000001008"
_U9 = "00000000-0000-0000-0000-000000001009"
_U10 = "00000000-0000-0000-0000-00000000100a"
_U11 = "00000000-0000-0000-0000-00000000100b"
KEY = "legacy-key"
SDK_HEADERS = {
    "User-Agent": "fluxloop-sdk/0.1.0",
    "Authorization": f"Bearer {KEY}",
    "X-Environment": "development",
}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    collector = start_collector(tmp_path_factory.mktemp("legacy"), api_key=KEY, grpc_port=0)
    yield collector
    assert collector.stop() == 0


def test_original_sdk_trace_and_observations(collector: Collector) -> None:
    trace_id = uuid.uuid4()
    agent_id, tool_id = uuid.uuid4(), uuid.uuid4()
    base = f"{collector.url}/api/traces"
    agent = {  # ObservationData.model_dump(exclude_none=True), tz-aware UTC timestamps
        "id": str(agent_id),
        "type": "agent",
        "name": "SimpleAgent",
        "start_time": "2026-03-04T10:00:00.123456+00:00",
        "end_time": "2026-03-04T10:00:01.500000+00:00",
        "input": {"message": "hi", "self": "<agents.Handler object at 0x7f>"},
        "output": {"reply": "hello"},
        "level": "info",
        "metadata": {},
        "trace_id": str(trace_id),
    }
    tool = {  # a failed tool: error set, level left at "info" (the original's behaviour)
        "id": str(tool_id).upper(),
        "type": "tool",
        "name": "process_input",
        "start_time": "2026-03-04T10:00:00.200000Z",
        "end_time": "2026-03-04T10:00:00.300000",
        "input": {"text": "hi"},
        "error": "boom",
        "level": "info",
        "metadata": {"description": "a tool", "error_type": "ValueError"},
        "parent_observation_id": str(agent_id),
        "trace_id": str(trace_id),
        "llm_parameters": {"temperature": 0.1},
    }
    generation = {
        "id": str(uuid.uuid4()),
        "type": "generation",
        "name": "chat",
        "start_time": "2026-03-04T12:00:00.2+02:00",
        "model": "gpt-4o-mini",
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "trace_id": str(trace_id),
    }
    for body in (tool, agent, generation):
        status, answer = post_json(f"{base}/{trace_id}/observations", body, SDK_HEADERS)
        assert status == 201, answer
        assert answer["status"] == "ok" and answer["kind"] == "observation"
    trace = {  # TraceData.model_dump(exclude_none=True)
        "id": str(trace_id),
        "name": "experiment_run",
        "start_time": "2026-03-04T10:00:00.100000+00:00",
        "end_time": "2026-03-04T10:00:01.600000+00:00",
        "session_id": str(uuid.uuid4()),
        "metadata": {"iteration": 0, "persona": "novice"},
        "tags": ["experiment"],
        "experiment_id": "exp-1",
        "iteration": 2,
        "variation_seed": 7,
    }
    status, answer = post_json(base, trace, SDK_HEADERS)
    assert status == 201, answer
    assert answer == {"status": "ok", "kind": "trace", "id": str(trace_id)}

    names = {p.name for p in collector.output.iterdir()}
    assert {"observations_20260304.jsonl", "traces_20260304.jsonl"} <= names
    observations = {r["id"]: r for r in collector.observations()}
    got_tool = observations[str(tool_id)]  # upper-case UUID normalised
    assert got_tool == {
        "id": str(tool_id),
        "trace_id": str(trace_id),
        "parent_observation_id": str(agent_id),
        "type": "tool",
        "name": "process_input",
        "start_time": "2026-03-04T10:00:00.200000+00:00",
        "end_time": "2026-03-04T10:00:00.300000+00:00",
        "input": {"text": "hi"},
        "output": None,
        "error": "boom",
        "level": "error",
        "metadata": {
            "description": "a tool",
            "error_type": "ValueError",
            "llm_parameters": {"temperature": 0.1},
        },
        "model": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "attributes": {},
        "parent_id": str(agent_id),
        "resource": {},
        "scope": None,
    }
    got_agent = observations[str(agent_id)]
    assert got_agent["parent_observation_id"] is None
    assert got_agent["output"] == {"reply": "hello"} and got_agent["level"] == "info"
    got_generation = observations[generation["id"]]
    assert got_generation["start_time"] == "2026-03-04T10:00:00.200000+00:00"
    assert got_generation["end_time"] is None
    assert got_generation["total_tokens"] == 7 and got_generation["model"] == "gpt-4o-mini"
    [got_trace] = [t for t in collector.traces() if t["id"] == str(trace_id)]
    assert got_trace["id"] == got_trace["trace_id"] == str(trace_id)
    assert got_trace["status"] == "success" and got_trace["tags"] == ["experiment"]
    assert got_trace["metadata"] == {"iteration": 0, "persona": "novice", "variation_seed": 7}
    assert got_trace["attributes"] == {
        "fluxloop.experiment.id": "exp-1",
        "fluxloop.run.iteration": 2,
    }
    assert got_trace["input"] is None and got_trace["user_id"] is None


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("", {"name": "t", "start_time": "2026-01-01T00:00:00"}, "id: required"),
        ("", {"id": "nope", "name": "t", "start_time": "2026-01-01T00:00:00"}, "id: not a trace"),
        ("", {"id": _U1, "name": "t", "start_time": "yesterday"}, "start_time"),
        (
            "",
            {"id": _U2, "name": "t", "start_time": "2026-01-01", "tags": "x"},
            "tags",
        ),
        ("", [1, 2], "expected a JSON object"),
        ("/abc/observations", {"id": _U3}, "trace id in the URL"),
        (
            f"/{_U4}/observations",
            {"id": _U5, "name": "o", "start_time": "2026-01-01T00:00:00"},
            None,
        ),
        (
            f"/{_U6}/observations",
            {"id": "1", "type": "robot", "name": "o", "start_time": "2026-01-01T00:00:00"},
            "type: expected one of",
        ),
        (
            f"/{_U7}/observations",
            {
                "id": _U8,
                "name": "o",
                "start_time": "2026-01-01T00:00:00",
                "trace_id": _U9,
            },
            "does not match the URL",
        ),
        (
            f"/{_U10}/observations",
            {"id": _U11, "name": "o", "start_time": "2026-01-01", "prompt_tokens": -1},
            "prompt_tokens",
        ),
    ],
)
def test_invalid_bodies_get_400(
    collector: Collector, path: str, body: object, reason: str | None
) -> None:
    status, answer = post_json(f"{collector.url}/api/traces{path}", body, SDK_HEADERS)
    if reason is None:  # a minimal valid observation: type defaults to span
        assert status == 201
        return
    assert status == 400
    assert reason in answer["error"]


def test_not_json_and_no_key(collector: Collector) -> None:
    status, _, body = post(f"{collector.url}/api/traces", b"{oops", SDK_HEADERS)
    assert status == 400 and b"invalid JSON" in body
    status, _, body = post(f"{collector.url}/api/traces", b"NaN", SDK_HEADERS)
    assert status == 400
    headers = {k: v for k, v in SDK_HEADERS.items() if k != "Authorization"}
    status, answer = post_json(f"{collector.url}/api/traces", {}, headers)
    assert status == 401 and "Authorization" in answer["error"]
    assert collector.proc.poll() is None
