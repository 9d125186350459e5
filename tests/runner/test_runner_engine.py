"""The engine in-process: parallelism, timeouts, retries, streaming, traces, artifacts, resume."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from fluxloop.errors import InterruptedRunError, ThresholdError
from fluxloop.runner.artifacts import create_experiment_dir
from fluxloop.runner.engine import RunOptions

from .conftest import Project, read_jsonl

AGENTS = """
import asyncio
import threading
import time

import fluxloop

ATTEMPTS = {}
ACTIVE = {"now": 0, "max": 0}
LOCK = threading.Lock()


def _enter():
    with LOCK:
        ACTIVE["now"] += 1
        ACTIVE["max"] = max(ACTIVE["max"], ACTIVE["now"])


def _leave():
    with LOCK:
        ACTIVE["now"] -= 1


async def slow_async(input_text):
    _enter()
    try:
        await asyncio.sleep(0.2)
    finally:
        _leave()
    return "async:" + input_text


def slow_sync(input_text):
    _enter()
    try:
        time.sleep(0.2)
    finally:
        _leave()
    return "sync:" + input_text


async def hang_async(input_text):
    await asyncio.sleep(30)


def hang_sync(input_text):
    time.sleep(3)
    return "late"


def flaky(input_text):
    n = ATTEMPTS[input_text] = ATTEMPTS.get(input_text, 0) + 1
    if n < 3:
        raise ConnectionError(f"attempt {n} failed")
    return f"ok after {n}"


def always_fails(input_text):
    raise ValueError("bad input: " + input_text)


def fails_on_b(input_text):
    if input_text == "b":
        raise KeyError("b")
    return input_text


async def astream(input_text):
    for word in input_text.split():
        yield word + " "


def sstream(input_text):
    yield {"content": "x"}
    yield {"content": "y"}


def undecorated(input_text, persona=None, iteration=0):
    return {"echo": input_text, "persona": str(persona), "iteration": iteration}


@fluxloop.tool()
def lookup(q):
    return q[::-1]


@fluxloop.prompt(model="m1")
def llm(q):
    return {"content": q, "usage": {"prompt_tokens": 3, "completion_tokens": 4}}


@fluxloop.agent(name="Decorated")
def decorated(input_text):
    return llm(lookup(input_text))["content"]
"""


def setup(project: Project, target: str, **extra: Any) -> str:
    mod = project.agent(AGENTS)
    config: dict[str, Any] = {
        "name": "t",
        "runner": {"target": f"{mod}:{target}", **extra.pop("runner", {})},
        "base_inputs": extra.pop("base_inputs", [{"input": "a"}, {"input": "b"}]),
        "output_directory": "out",
        **extra,
    }
    project.config(config)
    return mod


def lines(outcome: Any, name: str = "trace_summary.jsonl") -> list[dict[str, Any]]:
    return read_jsonl(outcome.directory / name)


def test_parallel_async_runs_overlap(project: Project) -> None:
    import sys

    mod = setup(project, "slow_async", base_inputs=[f"i{n}" for n in range(8)], parallel_runs=8)
    outcome = project.run()
    assert outcome.summary["results"]["successful"] == 8
    # all eight were in flight at once (how fast that is, is bench_runner.py's to measure)
    assert sys.modules[mod].ACTIVE["max"] == 8


def test_parallel_sync_runs_in_threads(project: Project) -> None:
    import sys

    mod = setup(project, "slow_sync", base_inputs=[f"i{n}" for n in range(6)])
    outcome = project.run(parallel=6)
    assert sys.modules[mod].ACTIVE["max"] == 6  # six threads in flight at once
    assert {line["output"] for line in lines(outcome)} == {f"sync:i{n}" for n in range(6)}


def test_async_timeout_cancels_the_run(project: Project) -> None:
    setup(project, "hang_async", runner={"timeout_seconds": 0.2})
    start = time.perf_counter()
    outcome = project.run(parallel=2)
    assert time.perf_counter() - start < 2
    for line in lines(outcome):
        assert line["status"] == "timeout"
        assert line["error"]["type"] == "TimeoutError"
        assert "timeout_seconds=0.2" in line["error"]["message"]
    assert outcome.summary["results"]["timed_out"] == 2
    # the cancelled agent span is recorded, with its error
    obs = lines(outcome, "observations.jsonl")
    assert obs and all(o["level"] == "error" for o in obs)
    with pytest.raises(ThresholdError):
        outcome.raise_for_status()


def test_sync_timeout_stops_waiting(project: Project) -> None:
    setup(project, "hang_sync", runner={"timeout_seconds": 0.2}, base_inputs=["a"])
    start = time.perf_counter()
    outcome = project.run()
    assert time.perf_counter() - start < 2.5  # the agent sleeps 3 s
    (line,) = lines(outcome)
    assert line["status"] == "timeout"
    (trace,) = lines(outcome, "traces.jsonl")  # synthesised: the span never ended
    assert trace["id"] == line["trace_id"]
    assert trace["status"] == "error"


def test_retries_with_backoff_record_every_attempt(project: Project) -> None:
    setup(project, "flaky", runner={"max_retries": 3, "retry_delay": 0.05})
    start = time.perf_counter()
    outcome = project.run()
    assert time.perf_counter() - start >= 2 * (0.05 + 0.1)  # 0.05 then 0.1 per input
    for line in lines(outcome):
        assert line["success"] and line["output"] == "ok after 3"
        assert line["attempts"] == 3
        assert [e["type"] for e in line["attempt_errors"]] == ["ConnectionError"] * 2
        assert line["attempt_errors"][0]["message"] == "attempt 1 failed"
    assert outcome.summary["errors"]["retried_runs"] == 2
    assert outcome.summary["errors"]["total_attempts"] == 6


def test_failures_are_recorded_uniformly(project: Project) -> None:
    setup(project, "always_fails", runner={"max_retries": 1, "retry_delay": 0})
    outcome = project.run()
    summary_lines = lines(outcome)
    assert [line["success"] for line in summary_lines] == [False, False]
    errors = json.loads((outcome.directory / "errors.json").read_text())
    assert len(errors) == 2
    first = errors[0]
    assert first["trace_id"] == summary_lines[0]["trace_id"]
    assert first["error_type"] == "ValueError"
    assert first["message"] == "bad input: a"
    assert "Traceback" in first["traceback"]
    assert first["attempts"] == 2
    traces = {t["id"] for t in lines(outcome, "traces.jsonl")}
    assert {line["trace_id"] for line in summary_lines} <= traces
    with pytest.raises(ThresholdError, match="2/2 runs failed"):
        outcome.raise_for_status()


def test_success_threshold(project: Project) -> None:
    setup(project, "fails_on_b", success_threshold=0.5)
    outcome = project.run()
    assert outcome.summary["threshold"]["passed"]
    outcome.raise_for_status()
    setup(project, "fails_on_b", success_threshold=0.75)
    with pytest.raises(ThresholdError, match=r"success rate 50\.0% < success_threshold 75\.0%"):
        project.run().raise_for_status()


def test_streams_are_aggregated(project: Project) -> None:
    setup(project, "astream", base_inputs=["hello big world"])
    (line,) = lines(project.run())
    assert line["output"] == "hello big world "
    setup(project, "sstream", base_inputs=["x"])
    (line,) = lines(project.run())
    assert line["output"] == "xy"


def test_undecorated_target_gets_a_trace_with_injected_context(project: Project) -> None:
    setup(project, "undecorated", personas=[{"name": "novice"}], iterations=2, base_inputs=["q"])
    outcome = project.run()
    summary_lines = lines(outcome)
    assert [line["iteration"] for line in summary_lines] == [0, 1]
    assert json.loads(summary_lines[1]["output"]) == {
        "echo": "q",
        "persona": "novice",
        "iteration": 1,
    }
    obs = lines(outcome, "observations.jsonl")
    assert [o["type"] for o in obs] == ["agent", "agent"]
    assert obs[0]["input"]["input_text"] == "q"
    attrs = obs[1]["attributes"]
    assert attrs["fluxloop.run.iteration"] == 1
    assert attrs["fluxloop.run.persona"] == "novice"
    assert attrs["fluxloop.experiment.id"] == outcome.summary["experiment_id"]
    assert attrs["fluxloop.run.id"] == summary_lines[1]["run_id"]


def test_decorated_target_spans_tokens_and_summary_shapes(project: Project) -> None:
    setup(project, "decorated", personas=[{"name": "p1"}, {"name": "p2"}])
    outcome = project.run()
    summary = outcome.summary
    for key in (
        "total_traces",
        "successful",
        "failed",
        "avg_duration_ms",
        "started_at",
        "completed_at",
        "name",
        "date",
    ):
        assert key in summary, key
    for key in (
        "total_runs",
        "successful",
        "failed",
        "success_rate",
        "avg_duration_ms",
        "duration_seconds",
    ):
        assert key in summary["results"], key
    assert summary["results"]["total_runs"] == 4
    assert summary["results"]["success_rate"] == 1.0
    assert set(summary["percentiles"]) == {"p50", "p90", "p95", "p99"}
    assert summary["tokens"] == {"prompt_tokens": 12, "completion_tokens": 16, "total_tokens": 28}
    assert set(summary["per_persona"]) == {"p1", "p2"}
    assert summary["contract_version"] == "2"
    assert summary["environment"]["python"]
    assert summary["status"] == "completed"
    line = lines(outcome)[0]
    assert line["token_usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert line["conversation"][1]["metadata"]["actions"] == [
        "agent:Decorated",
        "tool:lookup",
        "generation:llm",
    ]
    obs = lines(outcome, "observations.jsonl")
    assert len(obs) == 12
    root = obs[0]
    assert root["parent_observation_id"] is None and root["name"] == "Decorated"
    saved = (outcome.directory / "summary.json").read_text()
    assert json.loads(saved)["results"]["total_runs"] == 4


def test_dry_run_writes_nothing(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    setup(project, "decorated")
    outcome = project.run(dry_run=True)
    assert outcome.dry_run and outcome.directory is None
    assert not (project.root / "out").exists()
    assert "Total runs:   2" in outcome.dry_run_lines
    assert capsys.readouterr().out == ""  # the plan is returned, the caller shows it


def test_directories_never_collide(project: Project) -> None:
    setup(project, "decorated", base_inputs=["a"])
    dirs = {project.run().directory for _ in range(3)}
    assert len(dirs) == 3
    # the suffixes, with the clock pinned (three real runs may straddle a second on a busy machine)
    same_second = datetime(2026, 1, 2, 3, 4, 5)
    made = [create_experiment_dir(project.root / "pinned", "t", same_second) for _ in range(3)]
    assert [d.name for d in made] == [
        "t_20260102_030405",
        "t_20260102_030405_2",
        "t_20260102_030405_3",
    ]


def test_config_snapshot_masks_secrets(project: Project) -> None:
    setup(
        project,
        "decorated",
        collector_api_key="fl_sk_secret_value",
        runner={"environment_vars": {"OPENAI_API_KEY": "sk-abcdefghijkl", "MODE": "x"}},
    )
    outcome = project.run()
    text = (outcome.directory / "config.yaml").read_text()
    assert "secret_value" not in text and "sk-abcdefghijkl" not in text
    assert "MODE: x" in text


def test_resume_runs_only_missing_keys_and_repairs(project: Project) -> None:
    setup(project, "decorated", base_inputs=["a", "b", "c"])
    first = project.run()
    directory = first.directory
    assert directory is not None
    ts = directory / "trace_summary.jsonl"
    kept = ts.read_text().splitlines()[:2]
    # simulate a crash: last run lost its summary line, a torn line, an orphan observation
    ts.write_text("\n".join(kept) + "\n" + '{"trace_id": "torn", "run_')
    resumed = project.run(resume=directory, iterations=2)
    summary_lines = lines(resumed)
    keys = [line["run_key"] for line in summary_lines]
    assert len(keys) == len(set(keys)) == 6
    assert [k.split("|")[0] for k in keys] == ["0", "0", "0", "1", "1", "1"]
    traces = lines(resumed, "traces.jsonl")
    assert sorted(t["id"] for t in traces) == sorted(line["trace_id"] for line in summary_lines)
    obs_traces = {o["trace_id"] for o in lines(resumed, "observations.jsonl")}
    assert obs_traces == {line["trace_id"] for line in summary_lines}
    summary = resumed.summary
    assert summary["results"]["total_runs"] == 6
    assert summary["experiment_id"] == first.summary["experiment_id"]
    assert len(summary["sessions"]) == 2
    # nothing left: resuming again runs nothing
    again = project.run(resume=directory, iterations=2)
    assert len(lines(again)) == 6


def test_replay_recorded_kwargs_with_callbacks(project: Project) -> None:
    mod = project.agent(
        """
        class Handler:
            async def handle(self, connection_id, data, user, send_callback, error_callback):
                if data.content == "fail":
                    error_callback({"error": "nope"})
                    return
                await send_callback({"type": "reply", "content": "echo:" + data["content"],
                                     "user": user.name})
        """
    )
    project.write(
        "recordings/args.jsonl",
        json.dumps(
            {
                "_version": "1",
                "iteration": 0,
                "target": f"{mod}:Handler.handle",
                "kwargs": {
                    "connection_id": "c0",
                    "data": {"content": "orig", "id": 7},
                    "user": {"name": "ann", "token": "***"},
                    "send_callback": "<builtin:collector.send:async>",
                    "error_callback": "<callable:on_error>",
                },
                "timestamp": "2025-09-30T00:00:00",
            }
        )
        + "\n",
    )
    project.config(
        {
            "name": "replay",
            "runner": {"target": f"{mod}:Handler.handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "recordings/args.jsonl",
                "callable_providers": {
                    "send_callback": "builtin:collector.send",
                    "error_callback": "builtin:collector.error",
                },
                "override_param_path": "data.content",
            },
            "base_inputs": ["hello", "fail"],
            "output_directory": "out",
            "success_threshold": 0.5,
        }
    )
    outcome = project.run()
    ok, bad = lines(outcome)
    assert json.loads(ok["output"]) == {"type": "reply", "content": "echo:hello", "user": "ann"}
    assert ok["callback_messages"]["send"][0]["content"] == "echo:hello"
    assert not bad["success"] and "error callback" in bad["error"]["message"]


def test_replay_missing_provider_is_a_config_error(project: Project) -> None:
    from fluxloop.errors import ConfigError

    mod = project.agent("def handle(data, custom_callback):\n    pass\n")
    project.write(
        "rec.jsonl",
        json.dumps({"kwargs": {"data": {"content": "x"}, "custom_callback": "<callable:cb>"}}),
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "base_inputs": ["x"],
            "replay_args": {"enabled": True, "recording_file": "rec.jsonl"},
        }
    )
    with pytest.raises(
        ConfigError, match="Missing callable providers for recorded parameters: custom_callback"
    ):
        project.run()


def test_interrupted_outcome_maps_to_130(project: Project) -> None:
    setup(project, "decorated", base_inputs=["a"])
    outcome = project.run()
    outcome.interrupted = True
    with pytest.raises(InterruptedRunError, match="resume with: fluxloop run experiment"):
        outcome.raise_for_status()


def test_run_delay_paces_run_starts(project: Project) -> None:
    setup(project, "decorated", base_inputs=["a", "b", "c"], run_delay_seconds=0.1)
    start = time.perf_counter()
    project.run(parallel=3)
    assert time.perf_counter() - start >= 0.2


def test_options_override_config(project: Project, tmp_path: Path) -> None:
    setup(project, "decorated", base_inputs=["a"])
    project.write("other.yaml", "- x\n- y\n")
    outcome = project.run(
        iterations=2,
        inputs=project.root / "other.yaml",
        name="renamed",
        output_dir=tmp_path / "elsewhere",
        parallel=2,
    )
    assert outcome.directory is not None
    assert outcome.directory.parent == tmp_path / "elsewhere"
    assert outcome.directory.name.startswith("renamed_")
    assert sorted(line["input"] for line in lines(outcome)) == ["x", "x", "y", "y"]
    assert RunOptions().parallel is None


def test_save_traces_false_and_output_limit(project: Project) -> None:
    setup(
        project,
        "decorated",
        base_inputs=["abcdefghij"],
        save_traces=False,
        runner={"guards": {"output_char_limit": 4}},
    )
    outcome = project.run()
    (line,) = lines(outcome)
    assert line["output"] == "jihg...[truncated 6 chars]"
    assert (outcome.directory / "traces.jsonl").read_text() == ""
    assert (outcome.directory / "observations.jsonl").read_text() == ""


def test_replay_kwargs_must_fit_the_target(project: Project) -> None:
    from fluxloop.errors import ConfigError

    setup(
        project,
        "decorated",
        base_inputs=["x"],
        replay_args={"enabled": True, "recording_file": "rec.jsonl"},
    )
    project.write("rec.jsonl", json.dumps({"kwargs": {"data": {"content": "test"}}}) + "\n")
    with pytest.raises(
        ConfigError,
        match=r"the recording passes 'data' but .*:decorated takes "
        r"\(input_text\)",
    ):
        project.run()
