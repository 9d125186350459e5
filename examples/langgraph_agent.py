"""A LangGraph tool-calling agent traced by FluxLoop (offline; needs ``pip install langgraph``).

``python examples/langgraph_agent.py "Plan a day in Lima: weather and 100 USD in PEN?"``

The graph has three nodes, ``planner`` (the model, with tools bound), ``tools`` (LangGraph's
``ToolNode``) and ``reply`` (formats the answer with a ``@fluxloop.tool`` helper). With
``instrument_langgraph()`` the trace is::

    invoke_agent TripPlanner            the decorated run(); the graph adds no second agent span
      planner                           one span per node step, named after the node
        chat fake-planner               model, provider, usage, messages, tool calls
        tools_condition                 the routing decision
      tools
        execute_tool get_weather        call id, arguments, result
        execute_tool convert_currency
      planner
        chat fake-planner
        tools_condition
      reply
        execute_tool format_reply       a decorated function inside a node nests under it

The model is langchain-core's ``GenericFakeChatModel`` taught to call tools, so no API key is
needed. As an experiment target: ``runner.target: "examples.langgraph_agent:run"``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from pydantic import Field

import fluxloop
from fluxloop.integrations.langgraph import instrument_langgraph

try:
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition
except ImportError as exc:  # pragma: no cover - the optional extra is missing
    raise SystemExit("this example needs LangGraph: pip install 'fluxloop[langgraph]'") from exc

instrument_langgraph()  # idempotent; or wrap one graph with fluxloop.integrations.langgraph.traced


# ---------------------------------------------------------------------- tools


@tool
def get_weather(city: str) -> str:
    """Get today's weather for a city."""
    forecasts = {"lima": "fog, 17°C", "seoul": "clear, 21°C", "paris": "light rain, 14°C"}
    return forecasts.get(city.lower(), "sunny, 20°C")


@tool
def convert_currency(amount: float, source: str, target: str) -> str:
    """Convert an amount between currencies (fixed offline rates)."""
    per_usd = {"USD": 1.0, "PEN": 3.75, "KRW": 1380.0, "EUR": 0.92}
    if source not in per_usd or target not in per_usd:
        raise ValueError(f"unknown currency pair {source}->{target}")
    return f"{amount:g} {source} = {amount / per_usd[source] * per_usd[target]:.2f} {target}"


TOOLS = [get_weather, convert_currency]


@fluxloop.tool(description="Turn tool results into the final reply")
def format_reply(question: str, facts: list[str]) -> str:
    if not facts:
        return "I can check the weather and convert currencies for your trip."
    return "Trip notes: " + "; ".join(facts) + "."


# ---------------------------------------------------------------------- the fake model


def _usage(prompt: Sequence[BaseMessage], reply: str) -> Any:
    inp = sum(len(str(m.content).split()) for m in prompt)
    out = max(1, len(reply.split()))
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


class PlannerModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that plans tool calls like an LLM would (stateless)."""

    model_name: str = "fake-planner"
    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> PlannerModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):  # tools ran: hand over to the reply node
            text = "I have what I need."
            reply = AIMessage(content=text, usage_metadata=_usage(messages, text))
            return ChatResult(generations=[ChatGeneration(message=reply)])
        question = str(messages[-1].content)
        calls: list[dict[str, Any]] = []
        city = re.search(r"\b(?:in|to) ([A-Z][a-z]+)", question)
        if city and "weather" in question.lower():
            calls.append({"name": "get_weather", "args": {"city": city.group(1)}})
        money = re.search(r"(\d+(?:\.\d+)?) ?([A-Z]{3}) (?:in|to) ([A-Z]{3})", question)
        if money:
            amount, source, target = money.groups()
            calls.append(
                {
                    "name": "convert_currency",
                    "args": {"amount": float(amount), "source": source, "target": target},
                }
            )
        tool_calls = [{**c, "id": f"call_{i}", "type": "tool_call"} for i, c in enumerate(calls)]
        summary = " ".join(c["name"] for c in calls) or "no tools needed"
        reply = AIMessage(
            content="", tool_calls=tool_calls, usage_metadata=_usage(messages, summary)
        )
        return ChatResult(generations=[ChatGeneration(message=reply)])


# ---------------------------------------------------------------------- the graph

MODEL = PlannerModel().bind_tools(TOOLS)


def planner(state: MessagesState) -> dict[str, Any]:
    return {"messages": [MODEL.invoke(state["messages"])]}


def reply(state: MessagesState) -> dict[str, Any]:
    question = next(str(m.content) for m in state["messages"] if isinstance(m, HumanMessage))
    facts = [str(m.content) for m in state["messages"] if isinstance(m, ToolMessage)]
    return {"messages": [AIMessage(content=format_reply(question, facts))]}


def build_graph() -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("planner", planner)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_node("reply", reply)
    graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", tools_condition, {"tools": "tools", "__end__": "reply"})
    graph.add_edge("tools", "planner")
    graph.set_finish_point("reply")
    return graph.compile(name="TripPlanner")


GRAPH = build_graph()


@fluxloop.agent(name="TripPlanner")
def run(input_text: str, thread_id: str | None = None) -> str:
    """The experiment target: a trip question in, trip notes out."""
    config: Any = {"configurable": {"thread_id": thread_id}} if thread_id else {}
    state = GRAPH.invoke({"messages": [HumanMessage(input_text)]}, config=config)
    return str(state["messages"][-1].content)


async def arun(input_text: str) -> str:
    """The same agent, asynchronously (``ainvoke``)."""
    state = await GRAPH.ainvoke({"messages": [HumanMessage(input_text)]})
    return str(state["messages"][-1].content)


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "Plan a day in Lima: weather and 100 USD in PEN?"
    print(run(question))
    fluxloop.flush()
