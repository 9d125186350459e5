"""LangChain / LangGraph captured with no code in ``fluxloop run experiment`` / ``run single``
(real CLI subprocesses): the target calls a graph and nothing else; the runs' observations hold
the graph (named after it), its nodes and its model call. ``runner.auto_instrument: false``
turns it off; ``langchain.hide_internal`` folds LangChain's plumbing runnables away."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import fl

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("langgraph") is None, reason="langgraph is not installed"
)

AGENT = """
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import START, MessagesState, StateGraph


class Model(GenericFakeChatModel):
    model_name: str = "fake-weather"


def forecast(state):
    model = Model(messages=iter([AIMessage(content="Sunny, 21C")]))
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model
    return {"messages": [chain.invoke({"q": state["messages"][-1].content})]}


builder = StateGraph(MessagesState)
builder.add_node("forecast", forecast)
builder.add_edge(START, "forecast")
graph = builder.compile(name="WeatherGraph")


def run(input: str) -> str:  # no FluxLoop code at all
    return graph.invoke({"messages": [("user", input)]})["messages"][-1].content
"""


def project(root: Path, extra: str = "") -> None:
    (root / "weather.py").write_text(AGENT)
    (root / "setting.yaml").write_text(
        'name: weather\nrunner:\n  target: "weather:run"\n'
        "base_inputs:\n  - input: Weather in Seoul?\noutput_directory: out\n" + extra
    )


def observations(root: Path) -> list[dict[str, Any]]:
    (run_dir,) = [p for p in (root / "out").iterdir() if p.is_dir() and not p.is_symlink()]
    lines = (run_dir / "observations.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_run_experiment_captures_the_graph_with_no_code(tmp_path: Path) -> None:
    project(tmp_path)
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = observations(tmp_path)
    # the agent named after the graph (not the target `run`), its node, the node's model call;
    # no RunnableSequence / ChatPromptTemplate (hide_internal, on by default), tree intact
    assert [(o["type"], o["name"]) for o in found] == [
        ("agent", "WeatherGraph"),
        ("chain", "forecast"),
        ("generation", "fake-weather"),
    ]
    assert found[1]["parent_observation_id"] == found[0]["id"]
    assert found[2]["parent_observation_id"] == found[1]["id"]
    assert found[2]["model"] == "fake-weather"
    assert len({o["id"] for o in found}) == len(found)


def test_hide_internal_false_shows_every_runnable(tmp_path: Path) -> None:
    project(tmp_path, "langchain:\n  hide_internal: false\n")
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {"RunnableSequence", "ChatPromptTemplate"} <= {o["name"] for o in observations(tmp_path)}


def test_auto_instrument_false_turns_it_off(tmp_path: Path) -> None:
    project(tmp_path, "")
    text = (tmp_path / "setting.yaml").read_text()
    (tmp_path / "setting.yaml").write_text(
        text.replace(
            '  target: "weather:run"\n', '  target: "weather:run"\n  auto_instrument: false\n'
        )
    )
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = observations(tmp_path)
    assert [(o["type"], o["name"]) for o in found] == [("agent", "run")]


def test_run_single_captures_the_graph(tmp_path: Path) -> None:
    project(tmp_path)
    done = fl("run", "single", "weather:run", "Weather in Seoul?", "--json", cwd=tmp_path)
    if done.returncode == 2 and "--json" in done.stderr:
        pytest.skip("run single has no --json output")
    assert done.returncode == 0, done.stderr
    assert "WeatherGraph" in done.stdout
