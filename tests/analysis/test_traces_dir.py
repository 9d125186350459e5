"""parse, evaluate and compare on a collector's output directory (no trace_summary.jsonl): the
runs are its root traces. Spans come from the golden payloads of the real OpenInference,
Langfuse, MLflow and Logfire packages, sent to a real `fluxloop collector serve` subprocess."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fluxloop.analysis.traces_dir import Selection, derive_run, load_directory, parse_when
from fluxloop.errors import InputError
from tests.cli_process import fl
from tests.collector.conftest import start_collector
from tests.collector.helpers import post
from tests.collector.test_dialects import payload_bodies

DIALECTS = ("openinference", "langfuse", "mlflow", "logfire", "traceloop")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collector directory holding every golden payload, as the collector wrote it."""
    out = tmp_path_factory.mktemp("collected")
    collector = start_collector(out)
    try:
        for dialect in DIALECTS:
            for body in payload_bodies(dialect):
                status, _, answer = post(
                    f"{collector.url}/v1/traces", body, {"Content-Type": "application/x-protobuf"}
                )
                assert status == 200, answer
    finally:
        assert collector.stop() == 0
    return out


def test_parse_reads_a_collector_directory(collected: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsed"
    done = fl("parse", "experiment", str(collected), "--output", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = read_jsonl(out / "per_trace.jsonl")
    traces = [json.loads(x) for p in collected.glob("traces_*.jsonl") for x in p.open()]
    assert len(runs) == len(traces) == 10
    question = "Where is my order?"
    asked = [r for r in runs if r["input"] in (question, {"question": question})]  # 1 per dialect
    assert len(asked) == 5 and all(r["success"] for r in asked)
    assert {r["output"] for r in asked} == {
        "Order 42 is packed and ships tomorrow.",
        "Order 42 is packed.",
    }
    # summed from the generations: 21 + 9 for four dialects, 54 + 4 + 60 + 9 for pydantic-ai
    assert sorted(r["token_usage"]["total_tokens"] for r in asked) == [30, 30, 30, 30, 127]
    assert any(r["success"] is False for r in runs)
    # the wrapping logfire span: input and output come from the agent inside it
    assert any(r["input"] == "Where is my order?" and r["duration_ms"] > 50 for r in runs)
    assert "Parsed" in done.stdout


def test_evaluate_tool_called_and_tokens_from_observations(collected: Path, tmp_path: Path) -> None:
    config = tmp_path / "evaluation.yaml"
    config.write_text(
        textwrap.dedent(
            """
            evaluators:
              - name: orders
                type: rule_based
                rules:
                  - check: tool_called
                    tool: lookup_order
                  - check: token_usage_under
                    max_total_tokens: 1000
            thresholds:
              pass_rate: 0
            """
        )
    )
    out = tmp_path / "evaluation"
    done = fl(
        "evaluate", "experiment", str(collected), "-c", str(config), "-o", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr + done.stdout
    records = read_jsonl(out / "per_trace.jsonl")
    asked = ("Where is my order?", {"question": "Where is my order?"}, "And order 7?")
    agents = [r for r in records if r["input"] in asked]
    for record in agents:
        checks = {c["check"].split("(")[0]: c["passed"] for c in record["evaluators"][0]["checks"]}
        assert checks["tool_called"] is True, record
        assert checks["token_usage_under"] is True, record
    # one agent run per dialect (logfire has two: a wrapped one and a root one)
    assert len(agents) == 6


def test_selection_by_service_time_and_session(collected: Path) -> None:
    one = load_directory(collected, Selection(service="langfuse-capture"))
    runs = list(one.iter_runs())
    assert runs and {r.metadata["service"] for r in runs} == {"langfuse-capture"}
    future = load_directory(collected, Selection(since=datetime(2100, 1, 1, tzinfo=UTC)))
    assert list(future.iter_runs()) == []
    sessions = list(load_directory(collected, Selection(group_by="session")).iter_runs())
    everything = list(load_directory(collected).iter_runs())
    assert len(sessions) == len(everything)  # each session here has one trace
    assert {r.metadata.get("session_id") for r in sessions} >= {"session-oi", "session-lf"}


def test_group_by_session_merges_a_conversation(tmp_path: Path) -> None:
    lines = []
    for turn in range(3):
        tid = f"{turn + 1:032x}"
        lines.append(
            {
                "id": tid,
                "trace_id": tid,
                "name": "chat",
                "start_time": f"2026-01-02T03:04:0{turn}.000000+00:00",
                "end_time": f"2026-01-02T03:04:0{turn}.500000+00:00",
                "session_id": "s1",
                "user_id": "u1",
                "metadata": {},
                "tags": [],
                "status": "error" if turn == 1 else "success",
                "input": f"question {turn}",
                "output": f"answer {turn}",
                "attributes": {},
            }
        )
    (tmp_path / "traces_20260102.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "observations_20260102.jsonl").write_text("")
    (run,) = load_directory(tmp_path, Selection(group_by="session")).iter_runs()
    assert (run.input, run.output) == ("question 0", "answer 2")
    assert run.success is False and run.metadata["turns"] == 3
    assert run.duration_ms == pytest.approx(2500)
    assert [c["content"] for c in run.conversation or []][:2] == ["question 0", "answer 0"]


def test_compare_two_collector_directories(collected: Path, tmp_path: Path) -> None:
    done = fl("compare", str(collected), str(collected), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["b"]["runs"] == 10


def test_v1_records_stay_readable(tmp_path: Path) -> None:
    """A directory written by a version-1 collector (no resource/scope/parent_id/trace_id)."""
    golden = Path(__file__).parents[1] / "exporters" / "golden" / "v1"
    (tmp_path / "traces_20260102.jsonl").write_bytes((golden / "traces.jsonl").read_bytes())
    obs = (golden / "observations.jsonl").read_bytes()
    (tmp_path / "observations_20260102.jsonl").write_bytes(obs)
    runs = list(load_directory(tmp_path).iter_runs())
    assert len(runs) == 4
    first = next(r for r in runs if r.input == {"message": "Where is my order #42?"})
    assert first.persona == "novice_user" and first.iteration == 2
    assert first.token_usage == {"prompt_tokens": 57, "completion_tokens": 12, "total_tokens": 69}
    assert first.metadata["session_id"] == "session-7"
    assert "service" not in first.metadata


def test_bad_options_and_directories_are_one_line_errors(collected: Path, tmp_path: Path) -> None:
    done = fl("parse", "experiment", str(collected), "--since", "yesterday", cwd=tmp_path)
    assert done.returncode == 2 and "--since" in done.stderr
    assert "Traceback" not in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = fl("evaluate", "experiment", str(empty), cwd=tmp_path)
    assert done.returncode == 2 and "not an experiment directory" in done.stderr
    with pytest.raises(InputError, match="--group-by"):
        Selection(group_by="user")
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert parse_when("2h", "--since", now=now) == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert parse_when("2026-01-02", "--until") == datetime(2026, 1, 2, tzinfo=UTC)


def test_derive_run_prefers_the_agent_inside_a_wrapper() -> None:
    trace = {"id": "a" * 32, "status": "success", "input": None, "output": None}
    observations = [
        {"id": "1" * 16, "parent_observation_id": None, "type": "span", "start_time": "1"},
        {
            "id": "2" * 16,
            "parent_observation_id": "1" * 16,
            "type": "agent",
            "start_time": "2",
            "input": "hi",
            "output": "ho",
        },
        {"type": "agent", "prompt_tokens": 500, "total_tokens": 500, "start_time": "3"},
        {"type": "generation", "prompt_tokens": 5, "completion_tokens": 2, "start_time": "4"},
    ]
    run = derive_run(trace, observations)
    assert (run.input, run.output) == ("hi", "ho")
    # an agent span reporting its children's total is not counted twice
    assert run.token_usage == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def test_logs_with_a_span_context_become_events_of_their_step(
    collected: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "with-logs"
    shutil.copytree(collected, directory)
    observations = [json.loads(x) for p in directory.glob("observations_*") for x in p.open()]
    tool = next(o for o in observations if o["name"] == "lookup_order")
    log = {
        "time": tool["start_time"],
        "observed_time": None,
        "trace_id": tool["trace_id"],
        "span_id": tool["id"],
        "severity_number": 13,
        "severity_text": "WARN",
        "event_name": None,
        "body": "order cache miss",
        "attributes": {},
        "resource": {},
        "scope": None,
    }
    orphan = {**log, "trace_id": None, "span_id": None, "body": "no span context"}
    (directory / "logs_20261204.jsonl").write_text(
        json.dumps(log) + "\n" + json.dumps(orphan) + "\n"
    )
    out = tmp_path / "parsed"
    done = fl("parse", "experiment", str(directory), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = read_jsonl(out / "per_trace.jsonl")
    steps = [s for r in runs for s in r["timeline"] if s.get("events")]
    assert len(steps) == 1 and steps[0]["id"] == tool["id"]
    assert steps[0]["events"][0]["body"] == "order cache miss"
    text = next(p.read_text() for p in out.glob("*.md") if "order cache miss" in p.read_text())
    assert "**Events**" in text and "`WARN` order cache miss" in text
    assert "no span context" not in "".join(p.read_text() for p in out.glob("*.md"))


def test_status_traces_lists_a_collector_directory(collected: Path, tmp_path: Path) -> None:
    done = fl("status", "traces", str(collected), "--limit", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "10 run(s), 4 failed (showing 3)" in done.stdout, done.stdout
    failed = fl("status", "traces", str(collected), "--failed", cwd=tmp_path)
    assert failed.returncode == 0 and "order 42 already shipped" in failed.stdout
