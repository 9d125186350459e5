"""LangGraph through the LangChain handler: agent span, node spans, tool-calling loop."""

from __future__ import annotations

import asyncio
import json
import operator
from typing import Annotated, Any, TypedDict

import pytest
from fluxloop_exporters import observation_type
from fluxloop_semconv import attributes as attr
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from opentelemetry import trace as otel_trace
from opentelemetry.trace import StatusCode

import fluxloop
from fluxloop.integrations.langgraph import (
    instrument_langgraph,
    is_langgraph_instrumented,
    traced,
    uninstrument_langgraph,
)

from .conftest import Spans
from .fakes import ToolCallingFakeModel, answer, model, tool_call

langgraph = pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402
from langgraph.types import Command, interrupt  # noqa: E402


@fluxloop.tool(name="normalise")
def normalise(value: int) -> int:
    return abs(value)


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return normalise(a) + normalise(b)


def build(llm: ToolCallingFakeModel, name: str | None = None) -> Any:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.bind_tools([add]).invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([add]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile(name=name) if name else graph.compile()


def tool_loop_model() -> ToolCallingFakeModel:
    return model(tool_call("add", {"a": 1, "b": 2}, "call_1"), answer("3"))


EXPECTED_NODES = [
    "agent",
    "  chat fake-model",
    "  tools_condition",
    "tools",
    "  execute_tool add",
    "    execute_tool normalise",
    "    execute_tool normalise",
    "agent",
    "  chat fake-model",
    "  tools_condition",
]


def indent(lines: list[str]) -> list[str]:
    return ["  " + line for line in lines]


def test_graph_is_an_agent_span_with_node_spans_named_after_the_nodes(spans: Spans) -> None:
    graph = traced(build(tool_loop_model(), name="calculator"))
    result = graph.invoke(
        {"messages": [HumanMessage("1+2?")]}, config={"configurable": {"thread_id": "th-1"}}
    )
    assert result["messages"][-1].content == "3"
    assert spans.tree() == ["invoke_agent calculator", *indent(EXPECTED_NODES)]
    root = spans.one("invoke_agent calculator")
    assert root.attributes[attr.GEN_AI_AGENT_NAME] == "calculator"
    assert root.attributes[attr.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert root.attributes[attr.GEN_AI_CONVERSATION_ID] == "th-1"
    node = spans.named("agent")[0]
    assert observation_type(node.attributes) == "chain"
    assert json.loads(node.attributes[attr.FLUXLOOP_METADATA]) == {
        "langgraph_node": "agent",
        "langgraph_step": 1,
    }
    tool_span = spans.one("execute_tool add")
    assert tool_span.attributes[attr.GEN_AI_TOOL_CALL_ID] == "call_1"
    assert tool_span.attributes[attr.GEN_AI_AGENT_NAME] == "calculator"
    chats = spans.named("chat fake-model")
    assert [c.attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] for c in chats] == [5, 9]


def test_decorated_agent_around_a_graph_has_one_agent_span(spans: Spans) -> None:
    graph = build(tool_loop_model())
    instrument_langgraph()

    @fluxloop.agent(name="calculator")
    def run(question: str) -> str:
        out = graph.invoke({"messages": [HumanMessage(question)]})
        return str(out["messages"][-1].content)

    assert run("1+2?") == "3"
    agents = [s for s in spans.all if observation_type(s.attributes) == "agent"]
    assert [a.name for a in agents] == ["invoke_agent calculator"]
    assert spans.tree() == ["invoke_agent calculator", *indent(EXPECTED_NODES)]


def test_async_invoke_and_stream_give_the_same_tree(spans: Spans) -> None:
    instrument_langgraph()

    async def main() -> None:
        graph = build(tool_loop_model(), name="calculator")
        await graph.ainvoke({"messages": [HumanMessage("1+2?")]})
        assert not otel_trace.get_current_span().get_span_context().is_valid
        first = spans.tree()
        spans.clear()
        graph = build(tool_loop_model(), name="calculator")
        async for _ in graph.astream({"messages": [HumanMessage("1+2?")]}, stream_mode="updates"):
            pass
        assert not otel_trace.get_current_span().get_span_context().is_valid
        assert spans.tree() == first

        @fluxloop.tool(name="after")
        def after() -> None:
            return None

        spans.clear()
        after()  # nothing of the finished runs is current any more: a new root
        assert spans.tree() == ["execute_tool after"]

    asyncio.run(main())


def test_sync_stream(spans: Spans) -> None:
    graph = traced(build(tool_loop_model(), name="calculator"))
    updates = list(graph.stream({"messages": [HumanMessage("1+2?")]}, stream_mode="updates"))
    assert [next(iter(u)) for u in updates] == ["agent", "tools", "agent"]
    assert spans.tree() == ["invoke_agent calculator", *indent(EXPECTED_NODES)]


def test_parallel_nodes_are_siblings_under_the_agent(spans: Spans) -> None:
    class State(TypedDict):
        items: Annotated[list[str], operator.add]

    @fluxloop.tool(name="work")
    def work(label: str) -> str:
        return label

    graph = StateGraph(State)
    graph.add_node("left", lambda s: {"items": [work("l")]})
    graph.add_node("right", lambda s: {"items": [work("r")]})
    graph.add_node("join", lambda s: {"items": ["j"]})
    graph.add_edge(START, "left")
    graph.add_edge(START, "right")
    graph.add_edge(["left", "right"], "join")
    graph.add_edge("join", END)
    result = traced(graph.compile(name="fanout")).invoke({"items": []})
    assert sorted(result["items"]) == ["j", "l", "r"]
    root = spans.one("invoke_agent fanout")
    assert sorted(s.name for s in spans.children(root)) == ["join", "left", "right"]
    for node in ("left", "right"):
        assert [s.name for s in spans.children(spans.one(node))] == ["execute_tool work"]


def test_node_error_marks_node_and_agent_failed(spans: Spans) -> None:
    def boom(state: MessagesState) -> dict[str, Any]:
        raise RuntimeError("node failed")

    graph = StateGraph(MessagesState)
    graph.add_node("boom", boom)
    graph.add_edge(START, "boom")
    with pytest.raises(RuntimeError):
        traced(graph.compile(name="broken")).invoke({"messages": [HumanMessage("x")]})
    for name in ("boom", "invoke_agent broken"):
        span = spans.one(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[attr.ERROR_TYPE] == "RuntimeError"


def test_interrupt_is_not_an_error(spans: Spans) -> None:
    def ask(state: MessagesState) -> dict[str, Any]:
        reply = interrupt("approve?")
        return {"messages": [HumanMessage(str(reply))]}

    graph = StateGraph(MessagesState)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    app = traced(graph.compile(name="approval", checkpointer=InMemorySaver()))
    config: Any = {"configurable": {"thread_id": "t-9"}}
    app.invoke({"messages": [HumanMessage("go")]}, config=config)
    app.invoke(Command(resume="yes"), config=config)
    assert [s.status.status_code for s in spans.all] == [StatusCode.UNSET] * len(spans.all)
    assert spans.names().count("invoke_agent approval") == 2
    conversation = {
        s.attributes.get(attr.GEN_AI_CONVERSATION_ID) for s in spans.named("invoke_agent approval")
    }
    assert conversation == {"t-9"}


def test_instrument_langgraph_is_reversible(spans: Spans) -> None:
    instrument_langgraph()
    assert is_langgraph_instrumented()
    build(model(answer("hi")), name="g").invoke({"messages": [HumanMessage("x")]})
    assert spans.tree()[:2] == ["invoke_agent g", "  agent"]
    uninstrument_langgraph()
    spans.clear()
    build(model(answer("hi")), name="g").invoke({"messages": [HumanMessage("x")]})
    assert spans.all == []


def test_traced_rejects_non_runnables() -> None:
    with pytest.raises(TypeError, match="LangChain runnable"):
        traced(object())
