"""The agent the cassette proof runs: raw OpenAI and Anthropic SDKs, tool calls, streaming.

Written into each test project as ``agent.py``. Each run: an OpenAI streamed call that asks for
a tool, the tool, a plain OpenAI call with the tool result; an Anthropic call that asks for a
tool, the tool, an Anthropic streamed answer. ``CHANGE_RUN=<input>|<persona>|<iteration>``
changes the system prompt of that one run.
"""

AGENT = """
import json
import os

import anthropic
import openai

import fluxloop

OPENAI = openai.OpenAI(max_retries=0)
CLAUDE = anthropic.Anthropic(max_retries=0)
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}]
CLAUDE_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}]


@fluxloop.tool(name="get_weather")
def get_weather(city):
    return f"sunny in {city}"


@fluxloop.prompt(name="openai_stream", model="gpt-test", provider="openai")
def openai_stream(messages):
    stream = OPENAI.chat.completions.create(
        model="gpt-test", messages=messages, tools=TOOLS, stream=True,
        stream_options={"include_usage": True},
    )
    calls, text, usage, chunks = {}, [], None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function and tc.function.name:
                    slot["name"] = tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
    return {"content": "".join(text), "tool_calls": list(calls.values()), "usage": usage, "chunks": chunks}


@fluxloop.prompt(name="openai_answer", model="gpt-test", provider="openai")
def openai_answer(messages):
    return OPENAI.chat.completions.create(model="gpt-test", messages=messages, tools=TOOLS)


@fluxloop.prompt(name="claude_tool", model="claude-test", provider="anthropic")
def claude_tool(question):
    return CLAUDE.messages.create(
        model="claude-test", max_tokens=100, tools=CLAUDE_TOOLS,
        messages=[{"role": "user", "content": question}],
    )


@fluxloop.prompt(name="claude_stream", model="claude-test", provider="anthropic")
def claude_stream(messages):
    with CLAUDE.messages.stream(
        model="claude-test", max_tokens=100, tools=CLAUDE_TOOLS, messages=messages
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    usage = {"input_tokens": final.usage.input_tokens, "output_tokens": final.usage.output_tokens}
    return {"content": "".join(texts), "usage": usage, "chunks": len(texts)}


@fluxloop.agent(name="travel")
def run(input, persona=None, iteration=0):
    who = persona.name if persona else ""
    changed = os.environ.get("CHANGE_RUN") == f"{input}|{who}|{iteration}"
    system = "Be brief." if changed else f"You help {who}."
    messages = [{"role": "system", "content": system}, {"role": "user", "content": input}]
    first = openai_stream(messages)
    call = first["tool_calls"][0]
    weather = get_weather(**json.loads(call["arguments"]))
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call["id"], "type": "function",
             "function": {"name": call["name"], "arguments": call["arguments"]}}]},
        {"role": "tool", "tool_call_id": call["id"], "content": weather},
    ]
    answer = openai_answer(messages).choices[0].message.content
    block = claude_tool(f"{input} (iteration {iteration})").content[0]
    weather2 = get_weather(**block.input)
    final = claude_stream([
        {"role": "user", "content": f"{input} (iteration {iteration})"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": block.id, "content": weather2}]},
    ])
    return f"{answer} | {final['content'].strip()} | chunks {first['chunks']}+{final['chunks']}"
"""

#: a sitecustomize that logs and refuses every TCP/UDP connection attempt of the process
SOCKET_GUARD = """
import os
import socket

_LOG = os.environ.get("CASSETTE_TEST_SOCKET_LOG")
if _LOG:
    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex

    def _guard(original):
        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6):
                with open(_LOG, "a") as fh:
                    fh.write(repr(address) + "\\n")
                raise ConnectionRefusedError(f"socket guard: connection to {address!r}")
            return original(self, address)
        return connect

    socket.socket.connect = _guard(_connect)
    socket.socket.connect_ex = _guard(_connect_ex)
"""
