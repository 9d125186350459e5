"""Every example runs offline: as a script, traced in-process, and as an experiment target."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fluxloop.integrations.pytest_plugin import SpanRecorder

ROOT = Path(__file__).resolve().parents[2]

SCRIPTS = {
    "simple_agent.py": "Paris",
    "streaming_agent.py": "Seoul",
    "tool_agent.py": "Lima has 10.9 M people",
    "langchain_agent.py": "Reset your password",
    "langgraph_agent.py": "375.00 PEN",
}


def test_every_example_runs_as_a_script_and_writes_traces(tmp_path: Path) -> None:
    env = {**os.environ, "FLUXLOOP_STORAGE": "file", "PYTHONUNBUFFERED": "1"}
    running = {}
    for script in SCRIPTS:
        base = tmp_path / script.removesuffix(".py")
        running[script] = subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / script)],
            cwd=tmp_path,
            env={**env, "FLUXLOOP_BASE_PATH": str(base)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for script, expected in SCRIPTS.items():
        out, err = running[script].communicate(timeout=120)
        assert running[script].returncode == 0, f"{script}: {err}"
        assert expected in out, f"{script}: {out!r}"
        assert "Traceback" not in err, f"{script}: {err}"
        base = tmp_path / script.removesuffix(".py")
        observations = [
            json.loads(line)
            for path in base.glob("observations_*.jsonl")
            for line in path.read_text().splitlines()
        ]
        types = {o["type"] for o in observations}
        assert "agent" in types, f"{script}: {types}"


# ---------------------------------------------------------------------- trace shapes


def test_tool_agent_trace(fluxloop_spans: SpanRecorder) -> None:
    from examples import tool_agent

    answer = tool_agent.run("What is 12 * 7 and how many people live in Atlantis and Lima?")
    assert answer.startswith("the result is 84.0")
    assert "LookupError" in answer and "Lima has 10.9 M people" in answer
    assert fluxloop_spans.tree() == [
        "invoke_agent ToolAgent",
        "  chat stub-tools-1",
        "  execute_tool calculator",
        "  execute_tool lookup_fact",
        "    retrieval city_facts",
        "  execute_tool lookup_fact",
        "    retrieval city_facts",
        "  chat stub-tools-1",
    ]
    first, _ = fluxloop_spans.by_type("generation")
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] > 0
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert json.loads(first["attributes"]["gen_ai.output.messages"])[0]["parts"][0]["type"] == (
        "tool_call"
    )
    failed = [o for o in fluxloop_spans.by_type("tool") if o["level"] == "error"]
    assert [o["name"] for o in failed] == ["lookup_fact"]
    assert "Atlantis" in failed[0]["error"]


def test_langchain_agent_trace(fluxloop_spans: SpanRecorder, langchain_traced: None) -> None:
    from examples import langchain_agent

    answer = langchain_agent.run("What's the weather in Paris, and how do I download invoices?")
    assert "light rain" in answer and "Billing > History" in answer
    assert fluxloop_spans.tree() == [
        "invoke_agent HelpDeskAgent",  # its ChatPromptTemplate folded away (hide_internal)
        "  chat fake-tool-model",
        "  execute_tool get_weather",
        "  execute_tool search_help_center",
        "    retrieval HelpCenter",
        "  chat fake-tool-model",
    ]
    chat = fluxloop_spans.named("chat fake-tool-model")[0].attributes
    assert chat["gen_ai.provider.name"] == "fluxloop.fake"
    assert chat["gen_ai.request.model"] == "fake-tool-model"
    assert tuple(chat["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    tool = fluxloop_spans.one("execute_tool get_weather").attributes
    assert tool["gen_ai.tool.call.id"] == "call_0"
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    (retrieval,) = fluxloop_spans.by_type("retrieval")
    assert [d["id"] for d in retrieval["output"]] == ["kb-2"]


def test_langgraph_agent_trace(fluxloop_spans: SpanRecorder, langchain_traced: None) -> None:
    pytest.importorskip("langgraph")
    from examples import langgraph_agent

    answer = langgraph_agent.run("Weather in Seoul and 50 EUR in KRW?", thread_id="trip-1")
    assert answer == "Trip notes: clear, 21°C; 50 EUR = 75000.00 KRW."
    assert fluxloop_spans.tree() == [
        "invoke_agent TripPlanner",
        "  planner",
        "    chat fake-planner",
        "    tools_condition",
        "  tools",
        "    execute_tool get_weather",
        "    execute_tool convert_currency",
        "  planner",
        "    chat fake-planner",
        "    tools_condition",
        "  reply",
        "    execute_tool format_reply",
    ]
    agents = fluxloop_spans.by_type("agent")
    assert [a["name"] for a in agents] == ["TripPlanner"]
    chat = fluxloop_spans.named("chat fake-planner")[0].attributes
    assert chat["gen_ai.conversation.id"] == "trip-1"


def test_langgraph_agent_async(fluxloop_spans: SpanRecorder, langchain_traced: None) -> None:
    pytest.importorskip("langgraph")
    from examples import langgraph_agent

    async def main() -> list[str]:
        return list(
            await asyncio.gather(
                langgraph_agent.arun("Weather in Lima?"), langgraph_agent.arun("10 USD in EUR?")
            )
        )

    assert asyncio.run(main()) == ["Trip notes: fog, 17°C.", "Trip notes: 10 USD = 9.20 EUR."]
    roots = fluxloop_spans.named("invoke_agent TripPlanner")
    assert len(roots) == 2 and len({r.context.trace_id for r in roots}) == 2
    for root in roots:
        assert [s.name for s in fluxloop_spans.children(root)] == [
            "planner",
            "tools",
            "planner",
            "reply",
        ]


# ---------------------------------------------------------------------- as experiment targets


@pytest.mark.parametrize(
    ("target", "question", "expected_types"),
    [
        ("examples.tool_agent:run", "What is 6 * 7?", {"agent", "generation", "tool"}),
        (
            "examples.langchain_agent:run",
            "What's the weather in Lima?",
            {"agent", "generation", "tool"},  # its prompt template folded away
        ),
        (
            "examples.langgraph_agent:run",
            "Weather in Paris and 20 USD in PEN?",
            {"agent", "chain", "generation", "tool"},
        ),
    ],
)
def test_examples_run_as_experiment_targets(
    fluxloop_runner: Any,
    langchain_traced: None,
    tmp_path: Path,
    target: str,
    question: str,
    expected_types: set[str],
) -> None:
    if "langgraph" in target:
        pytest.importorskip("langgraph")
    (tmp_path / "setting.yaml").write_text(
        f"""
name: example
runner:
  target: "{target}"
  working_directory: "{ROOT}"
base_inputs:
  - input: "{question}"
  - input: "hello"
iterations: 2
parallel_runs: 2
output_directory: experiments
"""
    )
    result = fluxloop_runner(project_root=tmp_path, timeout=120)
    result.require_success()
    assert result.total_runs == 4
    types = {o["type"] for o in result.observations()}
    assert expected_types <= types, types
