"""A travel agent on the raw OpenAI SDK: a streamed call that asks for a tool, the tool, and
a second call with its result. ``make demo`` records its model calls once against a local
OpenAI-compatible server, stops the server, and replays them offline (``--cassette``)."""

from __future__ import annotations

import json

import openai

import fluxloop

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


_CLIENT: openai.OpenAI | None = None


def client() -> openai.OpenAI:
    """One client per process; OPENAI_BASE_URL / OPENAI_API_KEY come from the environment."""
    global _CLIENT
    if _CLIENT is None:
        _CLIENT = openai.OpenAI(max_retries=0)
    return _CLIENT


@fluxloop.tool(name="get_weather")
def get_weather(city: str) -> str:
    return f"sunny in {city}"


@fluxloop.prompt(name="plan", model="gpt-demo", provider="openai")
def plan(messages: list[dict[str, object]]) -> dict[str, object]:
    """Streamed: the tool call arrives in pieces and is put together here."""
    stream = client().chat.completions.create(
        model="gpt-demo",
        messages=messages,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    call = {"id": "", "name": "", "arguments": ""}
    usage = None
    for chunk in stream:
        usage = chunk.usage.model_dump() if chunk.usage else usage
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                call["id"] = tc.id or call["id"]
                if tc.function and tc.function.name:
                    call["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
    return {"tool_call": call, "usage": usage}


@fluxloop.prompt(name="answer", model="gpt-demo", provider="openai")
def answer(messages: list[dict[str, object]]) -> object:
    return client().chat.completions.create(model="gpt-demo", messages=messages)  # type: ignore[arg-type]


@fluxloop.agent(name="travel")
def run(input: str) -> str:
    messages: list[dict[str, object]] = [{"role": "user", "content": input}]
    call = plan(messages)["tool_call"]
    weather = get_weather(**json.loads(call["arguments"]))
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": weather},
    ]
    reply = answer(messages)
    return str(reply.choices[0].message.content)  # type: ignore[attr-defined]
