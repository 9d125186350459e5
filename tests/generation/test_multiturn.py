"""Multi-turn experiments: scripted and LLM simulated users, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import openai_server
from .conftest import fl, load_yaml

AGENT = """
import fluxloop


@fluxloop.agent(name="ChatAgent")
def chat(message: str, messages: list, conversation_state: dict) -> str:
    context = conversation_state["context"]
    context["seen"] = context.get("seen", 0) + 1
    if "explode" in message:
        raise RuntimeError("agent exploded")
    if "refund" in message.lower():
        return "Your refund is processed. Anything else?"
    return f"reply {context['seen']} to {message!r} after {len(messages)} message(s)"
"""


def _setup(project: Path, multi_turn: dict[str, Any], **top: Any) -> Path:
    (project / "agents").mkdir(exist_ok=True)
    (project / "agents" / "chat.py").write_text(AGENT, encoding="utf-8")
    sim = project / "configs" / "simulation.yaml"
    data = load_yaml(sim)
    data["runner"]["target"] = "agents.chat:chat"
    data["multi_turn"] = multi_turn
    data.update(top)
    sim.write_text(__import__("yaml").safe_dump(data, sort_keys=False), encoding="utf-8")
    inp = project / "configs" / "input.yaml"
    inputs = load_yaml(inp)
    inputs["base_inputs"] = [{"input": "Hi, I need help with my order"}]
    inputs["personas"] = inputs["personas"][:1]
    inp.write_text(__import__("yaml").safe_dump(inputs, sort_keys=False), encoding="utf-8")
    return project


def _lines(project: Path, stdout: str) -> tuple[Path, list[dict[str, Any]]]:
    (exp,) = (p for p in (project / "experiments").iterdir() if not p.is_symlink())
    rows = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    return exp, rows


SCRIPTED = {
    "enabled": True,
    "max_turns": 5,
    "supervisor": {
        "provider": "mock",
        "metadata": {
            "scripted_questions": ["What are your hours?", "Do you offer refunds?"],
            "mock_decision": "terminate",
            "mock_reason": "script_complete",
            "mock_closing": "Thanks for the help. I have no further questions.",
        },
    },
}


def test_scripted_conversation_state_messages_spans_and_artifacts(configs_project: Path) -> None:
    project = _setup(configs_project, SCRIPTED)
    done = fl("run", "experiment", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Multi-turn: 1 conversation(s), 3 turn(s) (avg 3.0)" in done.stdout
    assert "ended: script_complete 1" in done.stdout
    exp, (line,) = _lines(project, done.stdout)
    assert line["success"] and line["termination_reason"] == "script_complete"
    assert line["turn_count"] == 3 and line["multi_turn"]["turn_count"] == 3
    convo = line["conversation"]
    assert [(c["turn_index"], c["role"], c["source"]) for c in convo] == [
        (1, "user", "input"),
        (1, "assistant", "agent"),
        (2, "user", "supervisor"),
        (2, "assistant", "agent"),
        (3, "user", "supervisor"),
        (3, "assistant", "agent"),
        (4, "user", "supervisor"),
    ]
    # the agent saw the whole conversation and kept its own state across turns
    assert convo[1]["content"] == "reply 1 to 'Hi, I need help with my order' after 1 message(s)"
    assert convo[3]["content"] == "reply 2 to 'What are your hours?' after 3 message(s)"
    assert convo[5]["content"] == "Your refund is processed. Anything else?"
    assert convo[6]["metadata"]["closing"] is True
    assert convo[1]["metadata"]["actions"] == ["agent:ChatAgent"]
    state = line["conversation_state"]
    assert state["context"] == {"seen": 3}
    assert state["turns"][-1] == {
        "role": "user",
        "content": "Thanks for the help. I have no further questions.",
        "closing": True,
    }
    assert line["output"] == "Your refund is processed. Anything else?"
    assert line["input"] == "Hi, I need help with my order"
    # one trace per conversation, a span per turn
    traces = [json.loads(x) for x in (exp / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 1 and traces[0]["id"] == line["trace_id"]
    obs = [json.loads(x) for x in (exp / "observations.jsonl").read_text().splitlines()]
    turns = [o for o in obs if o["name"].startswith("turn ")]
    assert [o["attributes"]["fluxloop.conversation.turn"] for o in turns] == [0, 1, 2]
    root = next(o for o in obs if o["parent_observation_id"] is None)
    assert root["name"].startswith("conversation")
    assert all(t["parent_observation_id"] == root["id"] for t in turns)
    assert {o["trace_id"] for o in obs} == {line["trace_id"]}
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["multi_turn"]["conversations"] == 1
    assert summary["multi_turn"]["termination_reasons"] == {"script_complete": 1}


def test_max_turns_override_goal_phrases_and_errors(configs_project: Path) -> None:
    project = _setup(configs_project, SCRIPTED)
    short = fl("-q", "run", "experiment", "--max-turns", "2", cwd=project)
    assert short.returncode == 0, short.stderr
    exp = Path(short.stdout.strip().splitlines()[-1])
    (line,) = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert line["termination_reason"] == "max_turns_reached" and line["turn_count"] == 2
    assert load_yaml(exp / "config.yaml")["multi_turn"]["max_turns"] == 2
    assert json.loads((exp / "summary.json").read_text())["invocation"]["max_turns"] == 2

    goal = dict(SCRIPTED, goal_phrases=["refund is processed"])
    _setup(configs_project, goal)
    met = fl("-q", "run", "experiment", cwd=project)
    assert met.returncode == 0, met.stderr
    exp = Path(met.stdout.strip().splitlines()[-1])
    (line,) = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert line["termination_reason"] == "goal_met" and line["turn_count"] == 3

    boom = dict(SCRIPTED)
    boom["supervisor"] = {"provider": "script", "script": ["please explode now"]}
    _setup(configs_project, boom)
    failed = fl("-q", "run", "experiment", cwd=project)
    assert failed.returncode == 1
    exp = Path(failed.stdout.strip().splitlines()[-1])
    (line,) = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert not line["success"] and line["termination_reason"] == "error"
    assert line["error"]["type"] == "RuntimeError" and line["turn_count"] == 1
    assert [c["role"] for c in line["conversation"]] == ["user", "assistant", "user"]


def test_multi_turn_config_errors_and_dry_run(configs_project: Path) -> None:
    project = _setup(configs_project, dict(SCRIPTED, max_turn=3))
    bad = fl("run", "experiment", cwd=project)
    assert bad.returncode == 2
    assert "simulation.yaml:" in bad.stderr
    assert "multi_turn.max_turn: unknown key (did you mean 'multi_turn.max_turns'?)" in bad.stderr
    _setup(configs_project, SCRIPTED)
    dry = fl("run", "experiment", "--dry-run", cwd=project)
    assert dry.returncode == 0, dry.stderr
    assert "Multi-turn:   up to 5 turns, simulated user: script (2 follow-up turn(s))" in dry.stdout
    # an LLM supervisor without a key fails before anything is written
    _setup(configs_project, {"enabled": True, "supervisor": {"provider": "openai"}})
    nokey = fl("run", "experiment", cwd=project)
    assert nokey.returncode == 2
    assert "No API key found for openai" in nokey.stderr
    assert not (project / "experiments").exists() or not any((project / "experiments").iterdir())


@pytest.fixture
def server() -> Iterator[openai_server.FakeOpenAI]:
    state = openai_server.start()
    yield state
    openai_server.stop(state)


def test_llm_simulated_user_follows_persona_goals(
    configs_project: Path, server: openai_server.FakeOpenAI
) -> None:
    multi = {
        "enabled": True,
        "max_turns": 6,
        "supervisor": {
            "provider": "openai",
            "model": "sim-model",
            "base_url": server.base_url,
            "temperature": 0.0,
            "retry_delay": 0.01,
            "system_prompt": "Keep messages short.",
        },
    }
    project = _setup(configs_project, multi)
    (project / ".env").write_text("OPENAI_API_KEY=sk-sim\n", encoding="utf-8")
    server.on("Conversation so far", ("429", 0))
    server.on(
        "Conversation so far",
        (
            "content",
            json.dumps({"decision": "continue", "next_user_message": "Can I get a refund?"}),
        ),
        (
            "content",
            "```json\n" + json.dumps({"decision": "terminate", "goal_met": True}) + "\n```",
        ),
    )
    done = fl("run", "experiment", cwd=project)
    assert done.returncode == 0, done.stderr
    _, (line,) = _lines(project, done.stdout)
    assert line["termination_reason"] == "goal_met" and line["turn_count"] == 2
    assert [c["content"] for c in line["conversation"] if c["role"] == "user"] == [
        "Hi, I need help with my order",
        "Can I get a refund?",
    ]
    sim = line["simulation"]
    assert sim["calls"] == 2
    assert sim["token_usage"] == {"prompt_tokens": 22, "completion_tokens": 14, "total_tokens": 36}
    first = server.requests[0]
    system = first.body["messages"][0]["content"]
    assert first.headers["authorization"] == "Bearer sk-sim" and first.body["model"] == "sim-model"
    assert "Persona: novice_user" in system and "Goals: Understand what the agent can do" in system
    assert "Keep messages short." in system
    assert "ASSISTANT: reply 1 to 'Hi, I need help with my order'" in first.user
    assert "simulated user 2 call(s), 36 tokens" in done.stdout


SIM_FACTORY = """
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


def make():
    verdict = '{"decision": "terminate", "goal_met": false, "termination_reason": "the agent cannot track orders"}'
    return GenericFakeChatModel(messages=iter([AIMessage(content=verdict)] * 10))
"""


def test_fake_chat_model_supervisor_stop(configs_project: Path) -> None:
    project = _setup(configs_project, {"enabled": True, "supervisor": {"provider": "sim_llm:make"}})
    (project / "sim_llm.py").write_text(SIM_FACTORY, encoding="utf-8")
    done = fl("run", "experiment", cwd=project)
    assert done.returncode == 0, done.stderr
    _, (line,) = _lines(project, done.stdout)
    assert line["termination_reason"] == "supervisor_stop"
    assert line["termination_detail"] == "the agent cannot track orders"
    assert line["turn_count"] == 1 and line["simulation"]["calls"] == 1


HANDLER = """
class Handler:
    async def handle(self, connection_id, data, send_callback):
        await send_callback({"type": "reply", "content": f"echo {data.content} on {connection_id}"})
"""


def test_multi_turn_replays_recorded_kwargs_each_turn(configs_project: Path) -> None:
    project = _setup(
        configs_project,
        {"enabled": True, "supervisor": {"provider": "script", "script": ["second message"]}},
        replay_args={
            "enabled": True,
            "recording_file": "recordings/args.jsonl",
            "override_param_path": "data.content",
            "callable_providers": {"send_callback": "builtin:collector.send:async"},
        },
    )
    (project / "agents" / "handler.py").write_text(HANDLER, encoding="utf-8")
    sim = project / "configs" / "simulation.yaml"
    data = load_yaml(sim)
    data["runner"]["target"] = "agents.handler:Handler.handle"
    sim.write_text(__import__("yaml").safe_dump(data, sort_keys=False), encoding="utf-8")
    record = {
        "_version": "1",
        "iteration": 0,
        "target": "agents.handler:Handler.handle",
        "kwargs": {
            "connection_id": "c-7",
            "data": {"content": "recorded"},
            "send_callback": "<builtin:collector.send:async>",
        },
        "timestamp": "2026-01-01T00:00:00",
    }
    (project / "recordings" / "args.jsonl").write_text(json.dumps(record) + "\n")
    done = fl("run", "experiment", cwd=project)
    assert done.returncode == 0, done.stderr
    _, (line,) = _lines(project, done.stdout)
    replies = [c["content"] for c in line["conversation"] if c["role"] == "assistant"]
    assert replies == ["echo Hi, I need help with my order on c-7", "echo second message on c-7"]
    assert line["termination_reason"] == "script_complete"


APPROVAL_AGENT = """
import fluxloop


@fluxloop.agent(name="ChatAgent")
def chat(message: str, persona: object, auto_approve: bool) -> str:
    return f"persona={getattr(persona, 'name', persona)} approve={auto_approve}"
"""


def test_the_originals_multi_turn_options(
    configs_project: Path, server: openai_server.FakeOpenAI
) -> None:
    """--multi-turn with --manual-approve-tools, --persona-override and the --supervisor-*
    options (the original's run experiment options), without any multi_turn config."""
    project = _setup(configs_project, {"enabled": False})
    (project / "agents" / "chat.py").write_text(APPROVAL_AGENT, encoding="utf-8")
    inputs = project / "configs" / "input.yaml"
    data = load_yaml(inputs)
    data["personas"].append({"name": "expert_user", "description": "An experienced power user"})
    inputs.write_text(__import__("yaml").safe_dump(data, sort_keys=False), encoding="utf-8")
    sim = project / "configs" / "simulation.yaml"
    sim_data = load_yaml(sim)
    sim_data["multi_turn"] = {"supervisor": {"base_url": server.base_url, "retry_delay": 0.01}}
    sim.write_text(__import__("yaml").safe_dump(sim_data, sort_keys=False), encoding="utf-8")
    verdict = ("content", json.dumps({"decision": "terminate", "goal_met": True}))
    server.on("Conversation so far", verdict, verdict)
    key = "sk-from-the-command-line-1234"
    done = fl(
        "run", "experiment", "--multi-turn", "--max-turns", "2", "--manual-approve-tools",
        "--persona-override", "expert_user", "--supervisor-provider", "openai",
        "--supervisor-model", "cli-model", "--supervisor-temperature", "0.3",
        "--supervisor-api-key", key, cwd=project,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    exp, lines = _lines(project, done.stdout)
    assert len(lines) == 2  # one base input x two personas, every conversation as expert_user
    for line in lines:
        assert line["persona"] == "expert_user"
        assert line["output"] == "persona=expert_user approve=False"
        assert line["conversation_state"]["metadata"]["auto_approve_tools"] is False
    request = server.requests[0]
    assert request.headers["authorization"] == f"Bearer {key}"
    assert request.body["model"] == "cli-model" and request.body["temperature"] == 0.3
    assert "Persona: expert_user" in request.body["messages"][0]["content"]
    # the key never reaches an artifact
    for path in exp.rglob("*"):
        if path.is_file():
            assert key not in path.read_text(encoding="utf-8", errors="replace"), path
    assert key not in done.stdout + done.stderr
    unknown = fl("run", "experiment", "--multi-turn", "--persona-override", "nobody", cwd=project)
    assert unknown.returncode == 2
    assert "--persona-override: no persona 'nobody'" in unknown.stderr
