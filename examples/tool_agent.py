"""A tool-using agent with plain FluxLoop decorators: model → tool calls → model → answer.

``python examples/tool_agent.py "What is 12 * 7 plus the population of Lima in millions?"``

The "model" is an offline stub that answers in the OpenAI chat-completions shape (tool calls,
finish reasons, token usage), so the trace carries the same GenAI attributes a real model call
would: ``chat stub-tools-1`` spans with ``gen_ai.input.messages`` / ``gen_ai.output.messages``
and usage, ``execute_tool calculator`` / ``execute_tool lookup_fact`` spans with the call
arguments and results, and a ``retrieval`` span under the lookup tool. A failing tool call is
recorded as an error on its span and reported back to the model, which recovers.

As an experiment target: ``runner.target: "examples.tool_agent:run"``.
"""

from __future__ import annotations

import ast
import json
import operator
import re
import sys
import zlib
from collections.abc import Callable
from typing import Any

import fluxloop

FACTS = {
    "lima": {"population_millions": 10.9, "country": "Peru"},
    "paris": {"population_millions": 2.1, "country": "France"},
    "seoul": {"population_millions": 9.4, "country": "South Korea"},
}

_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


# ---------------------------------------------------------------------- tools


@fluxloop.retrieval(data_source="city_facts")
def search_facts(query: str) -> list[dict[str, Any]]:
    """Find the facts about the cities a query mentions."""
    return [{"id": city, **facts} for city, facts in FACTS.items() if city in query.lower()]


@fluxloop.tool(description="Look up facts about a city")
def lookup_fact(city: str) -> dict[str, Any]:
    found = search_facts(city)
    if not found:
        raise LookupError(f"no facts about {city!r}")
    return found[0]


@fluxloop.tool(description="Evaluate an arithmetic expression (+ - * /)")
def calculator(expression: str) -> float:
    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return float(_OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right)))
        raise ValueError(f"unsupported expression: {expression!r}")

    return round(evaluate(ast.parse(expression, mode="eval")), 4)


TOOLS: dict[str, Callable[..., Any]] = {"calculator": calculator, "lookup_fact": lookup_fact}


# ---------------------------------------------------------------------- the stub model


def _completion(message: dict[str, Any], finish_reason: str, prompt_words: int) -> dict[str, Any]:
    content = message.get("content") or ""
    return {
        "id": f"stub-{zlib.crc32(json.dumps(message, sort_keys=True).encode()):08x}",
        "model": "stub-tools-1",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_words,
            "completion_tokens": max(1, len(str(content).split())),
        },
    }


@fluxloop.prompt(model="stub-tools-1", provider="fluxloop.stub")
def chat(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Decide like a tool-calling model: call the tools the question needs, then answer."""
    words = sum(len(str(m.get("content") or "").split()) for m in messages)
    question = str(messages[0]["content"])
    results = {m["tool_call_id"]: m["content"] for m in messages if m["role"] == "tool"}
    if not results:
        calls = []
        expression = re.search(r"\d+(?:\.\d+)?(?:\s*[-+*/]\s*\d+(?:\.\d+)?)+", question)
        if expression:
            calls.append(("calculator", {"expression": expression.group(0)}))
        for city in re.findall(r"\b([A-Z][a-z]+)\b", question)[1:]:
            calls.append(("lookup_fact", {"city": city}))
        if calls:
            tool_calls = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(calls)
            ]
            message = {"role": "assistant", "content": None, "tool_calls": tool_calls}
            return _completion(message, "tool_calls", words)
        answer = "I can calculate or look up city facts; ask me about a number or a city."
    else:
        parts = []
        for call_id, content in results.items():
            value = json.loads(content)
            if isinstance(value, dict) and "error" in value:
                parts.append(f"({call_id} failed: {value['error']})")
            elif isinstance(value, dict):
                parts.append(f"{value['id'].title()} has {value['population_millions']} M people")
            else:
                parts.append(f"the result is {value}")
        answer = "; ".join(parts) + "."
    return _completion({"role": "assistant", "content": answer}, "stop", words)


# ---------------------------------------------------------------------- the agent


@fluxloop.agent(name="ToolAgent", description="Answers with a calculator and city facts")
def run(input_text: str) -> str:
    """The experiment target: a question in, an answer out (at most 3 model turns)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": input_text}]
    for _ in range(3):
        reply = chat(messages)["choices"][0]["message"]
        messages.append(reply)
        if not reply.get("tool_calls"):
            return str(reply["content"])
        for call in reply["tool_calls"]:
            function = call["function"]
            try:
                result: Any = TOOLS[function["name"]](**json.loads(function["arguments"]))
            except Exception as exc:  # the error is on the tool span; the model sees it too
                result = {"error": f"{type(exc).__name__}: {exc}"}
            messages.append(
                {"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)}
            )
    return "I could not finish in three steps."


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "What is 12 * 7 and how many people live in Lima?"
    print(run(question))
    fluxloop.flush()
