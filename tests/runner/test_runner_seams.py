"""The runner's seams: one attempt loop for single-turn runs and conversation turns, a pluggable
run strategy, and a simulated user reached through the runner's protocol.

Every experiment here is a real one (``run_experiment`` in-process, the SDK capturing spans,
the artifacts written and read back).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExperimentConfig
from fluxloop.runner.attempts import AttemptLoop, AttemptTimeout, RetryPolicy
from fluxloop.runner.engine import RunOptions, run_experiment
from fluxloop.runner.records import PlannedRun, RunRecord
from fluxloop.runner.strategies import (
    ConversationView,
    Decision,
    RunServices,
    RunStrategy,
    SimulatedUser,
    SingleTurn,
    UserDecision,
)

from .conftest import Project, read_jsonl

AGENTS = """
import asyncio


class _Timeout(Exception):
    '''A target's own exception that happens to share the runner's old private class name.'''


async def hang(input_text):
    await asyncio.sleep(30)


def named_like_a_timeout(input_text):
    raise _Timeout("the target's own error")


def echo(input_text, messages=None):
    return f"reply {len(messages or [])} to {input_text!r}"
"""

SCRIPT = {"enabled": True, "max_turns": 3, "supervisor": {"provider": "script", "script": []}}
RETRIES = {"timeout_seconds": 0.1, "max_retries": 2, "retry_delay": 0}


def setup(project: Project, target: str, *, multi_turn: Mapping[str, Any] | None = None) -> None:
    mod = project.agent(AGENTS)
    config: dict[str, Any] = {
        "name": "seams",
        "runner": {"target": f"{mod}:{target}", **RETRIES},
        "base_inputs": ["hello"],
        "output_directory": "out",
    }
    if multi_turn is not None:
        config["multi_turn"] = dict(multi_turn)
    project.config(config)


def only_line(outcome: Any) -> dict[str, Any]:
    (line,) = read_jsonl(outcome.directory / "trace_summary.jsonl")
    return line


def failure(line: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the one attempt loop decides about a failed call, wherever the call was made."""
    return (
        line["status"],
        line["error"]["type"],
        line["attempts"],
        [(e["attempt"], e["status"], e["type"]) for e in line["attempt_errors"]],
    )


# -- one attempt loop --------------------------------------------------------------------------


def test_a_timeout_is_the_same_in_a_single_turn_run_and_a_conversation_turn(
    project: Project,
) -> None:
    setup(project, "hang")
    single = only_line(project.run())
    setup(project, "hang", multi_turn=SCRIPT)
    turn = only_line(project.run())
    expected = ("timeout", "TimeoutError", 3, [(n, "timeout", "TimeoutError") for n in (1, 2)])
    assert failure(single) == failure(turn) == expected
    assert single["error"]["traceback"] is None and turn["error"]["traceback"] is None
    assert turn["termination_reason"] == "error"
    assert turn["multi_turn"]["agent_calls"] == 3  # every attempt of the turn counted


def test_an_error_named_like_the_old_timeout_class_is_an_error_in_both(project: Project) -> None:
    setup(project, "named_like_a_timeout")
    single = only_line(project.run())
    setup(project, "named_like_a_timeout", multi_turn=SCRIPT)
    turn = only_line(project.run())
    expected = ("error", "_Timeout", 3, [(n, "error", "_Timeout") for n in (1, 2)])
    assert failure(single) == failure(turn) == expected
    assert "the target's own error" in turn["error"]["traceback"]


def test_the_attempt_loop_retries_with_backoff_and_stops_when_asked() -> None:
    sleeps: list[int] = []

    async def flaky(number: int) -> str:
        sleeps.append(number)
        if number < 3:
            raise ConnectionError(f"attempt {number}")
        return "ok"

    tried = asyncio.run(AttemptLoop(RetryPolicy(max_retries=5, retry_delay=0.001)).run(flaky))
    assert tried.last.ok and tried.last.value == "ok" and tried.count == 3
    assert [e["type"] for e in tried.errors()] == ["ConnectionError"] * 2
    assert RetryPolicy(retry_delay=1.0).backoff(3) == 4.0
    assert RetryPolicy(retry_delay=50.0).backoff(4) == 60.0  # capped

    async def times_out(number: int) -> str:
        raise AttemptTimeout("run exceeded timeout_seconds=1")

    stopping = AttemptLoop(RetryPolicy(max_retries=5), is_stopping=lambda: True)
    tried = asyncio.run(stopping.run(times_out))
    assert tried.count == 1 and tried.last.status == "timeout"


def test_each_attempt_has_its_own_scope() -> None:
    entered: list[int] = []

    class Scope:
        def __init__(self, number: int) -> None:
            self.number = number

        def __enter__(self) -> int:
            entered.append(self.number)
            return self.number * 10

        def __exit__(self, *exc: object) -> None:
            return None

    async def fails(number: int) -> None:
        raise SystemExit(3)  # a target calling sys.exit() fails its run, not the runner

    loop = AttemptLoop(RetryPolicy(max_retries=1))
    tried = asyncio.run(loop.run(fails, scope=Scope))
    assert entered == [1, 2] and [a.scope for a in tried.tried] == [10, 20]
    assert tried.last.status == "error" and tried.errors()[0]["type"] == "SystemExit"


# -- a custom strategy ---------------------------------------------------------------------------


class Twice(RunStrategy):
    """Runs every planned run twice through the single-turn strategy; keeps the second."""

    name = "twice"

    def __init__(self, services: RunServices) -> None:
        self.single = SingleTurn(services)
        self.runs = 0

    async def execute(self, planned: PlannedRun) -> RunRecord:
        await self.single.execute(planned)
        record = await self.single.execute(planned)
        self.runs += 2
        record.line["metadata"]["strategy"] = self.name
        return record

    def summary(self) -> Mapping[str, Any]:
        return {"twice": {"calls": self.runs}}


def test_a_custom_strategy_is_plugged_in(project: Project) -> None:
    setup(project, "echo")
    outcome = run_experiment(project.load(), RunOptions(), strategy=Twice)
    line = only_line(outcome)
    assert line["success"] and line["output"] == "reply 1 to 'hello'"
    assert line["metadata"]["strategy"] == "twice"
    assert outcome.summary["twice"] == {"calls": 2}
    assert outcome.directory is not None
    summary = json.loads((outcome.directory / "summary.json").read_text())
    assert summary["twice"] == {"calls": 2}


# -- a custom simulated user -----------------------------------------------------------------------


class Impatient:
    """A simulated user with no model: asks once more, then leaves; counts its own calls."""

    kind = "rule"

    def __init__(self, supervisor: Mapping[str, Any], config: ExperimentConfig) -> None:
        self.label = f"rule/{supervisor['provider']}"
        self.seen: list[ConversationView] = []
        self.persona = supervisor.get("model")

    async def decide(self, view: ConversationView) -> UserDecision:
        self.seen.append(view)
        if view.turn == 1:
            return Decision("continue", next_message="and?", usage={"total_tokens": 5})
        return Decision("terminate", reason="bored", detail=f"after {view.turn} replies")

    def usage(self) -> Mapping[str, int]:
        return {"calls": len(self.seen), "total_tokens": 5}


def test_a_custom_simulated_user_is_plugged_in(project: Project) -> None:
    setup(project, "echo", multi_turn={"enabled": True, "supervisor": {"provider": "house"}})
    users: list[Impatient] = []

    def make(supervisor: Mapping[str, Any], config: ExperimentConfig) -> SimulatedUser:
        users.append(Impatient(supervisor, config))
        return users[-1]

    outcome = run_experiment(project.load(), RunOptions(), simulated_users=make)
    line = only_line(outcome)
    assert [c["content"] for c in line["conversation"]] == [
        "hello",
        "reply 1 to 'hello'",
        "and?",
        "reply 3 to 'and?'",
    ]
    assert line["termination_reason"] == "bored"
    assert line["termination_detail"] == "after 2 replies"
    assert line["simulation"]["supervisor"] == "rule" and line["simulation"]["calls"] == 2
    assert line["simulation"]["token_usage"]["total_tokens"] == 5
    assert outcome.summary["multi_turn"]["supervisor"] == "rule/house"
    assert outcome.summary["multi_turn"]["simulator_usage"] == {"calls": 2, "total_tokens": 5}
    (user,) = users
    assert [v.turn for v in user.seen] == [1, 2]
    assert [t["role"] for t in user.seen[-1].turns] == ["user", "assistant"] * 2


def test_a_model_played_user_without_an_implementation_is_a_config_error(
    project: Project,
) -> None:
    setup(project, "echo", multi_turn={"enabled": True, "supervisor": {"provider": "openai"}})
    with pytest.raises(ConfigError, match="needs a simulated user played by a model") as info:
        run_experiment(project.load(), RunOptions())
    assert "\n" not in str(info.value)
    assert not (project.root / "out").exists()
