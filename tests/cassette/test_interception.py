"""Recording and replaying in-process: langchain-openai chat models (tools, streaming, sync and
async), the async OpenAI and Anthropic SDKs, request matching, timing and secrets."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from fluxloop.cassette import CassetteMiss, CassetteSession, CassetteSettings, read_cassette

from .servers import FakeServer

KEY = "sk-live0123456789abcdefghijklmnopq"


def session(directory: Path, mode: str, timing: str = "instant") -> CassetteSession:
    opened = CassetteSession.open(
        CassetteSettings(mode, directory, timing),  # type: ignore[arg-type]
        name="unit",
        target="t:t",
        scope="run",
    )
    assert opened is not None
    return opened


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _langchain_calls(base_url: str) -> dict[str, Any]:
    model = ChatOpenAI(model="gpt-test", base_url=base_url, api_key=KEY, max_retries=0)  # type: ignore[arg-type]
    with_tools = model.bind_tools([get_weather])
    asked = with_tools.invoke("Weather in Paris")
    chunks = list(with_tools.stream("Weather in Rome"))
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed += chunk

    async def both() -> tuple[Any, list[Any]]:
        answer = await model.ainvoke("hello there")
        parts = [c async for c in model.astream("stream this please")]
        return answer, parts

    answer, parts = asyncio.run(both())
    return {
        "tool_calls": asked.tool_calls,
        "usage": asked.usage_metadata,
        "stream_tool_calls": streamed.tool_calls,
        "stream_chunks": len(chunks),
        "answer": answer.content,
        "answer_usage": answer.usage_metadata,
        "async_stream": [p.content for p in parts],
    }


def test_langchain_openai_tools_and_streaming_replay_offline(
    tmp_path: Path, openai_server: FakeServer
) -> None:
    rec = session(tmp_path, "record")
    with rec.tape("r1"):
        recorded = _langchain_calls(openai_server.base_url)
    rec.close()
    assert len(openai_server.requests) == 4
    assert recorded["tool_calls"][0]["name"] == "get_weather"
    assert recorded["stream_tool_calls"][0]["args"] == {"city": "Rome"}
    assert recorded["stream_chunks"] > 3
    _, entries = read_cassette(tmp_path / "unit.jsonl")
    # recorded once, at the langchain layer: the HTTP request under it is not a second entry
    assert [e["kind"] for e in entries] == ["langchain"] * 4
    assert KEY not in (tmp_path / "unit.jsonl").read_text()

    openai_server.stop()
    rep = session(tmp_path, "replay")
    with rep.tape("r1"):
        replayed = _langchain_calls(openai_server.base_url)
    rep.close()
    assert replayed == recorded
    assert rep.stats.replayed == 4 and rep.stats.recorded == 0


def _sdk_calls(openai_url: str, anthropic_url: str) -> dict[str, Any]:
    async def calls() -> dict[str, Any]:
        oa = openai.AsyncOpenAI(base_url=openai_url, api_key=KEY, max_retries=0)
        stream = await oa.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces, usage = [], None
        async for chunk in stream:
            if chunk.usage:
                usage = chunk.usage.total_tokens
            pieces.extend(c.delta.content for c in chunk.choices if c.delta.content)
        cl = anthropic.AsyncAnthropic(base_url=anthropic_url, api_key=KEY, max_retries=0)
        async with cl.messages.stream(
            model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            texts = [t async for t in s.text_stream]
            final = await s.get_final_message()
        return {
            "openai": pieces,
            "openai_usage": usage,
            "claude": texts,
            "claude_usage": final.usage.output_tokens,
        }

    return asyncio.run(calls())


def test_async_sdks_stream_chunk_by_chunk(
    tmp_path: Path, openai_server: FakeServer, anthropic_server: FakeServer
) -> None:
    rec = session(tmp_path, "record")
    with rec.tape("r1"):
        recorded = _sdk_calls(openai_server.base_url, anthropic_server.base_url)
    rec.close()
    assert len(recorded["openai"]) > 2 and len(recorded["claude"]) > 2
    openai_server.stop()
    anthropic_server.stop()
    rep = session(tmp_path, "replay")
    with rep.tape("r1"):
        replayed = _sdk_calls(openai_server.base_url, anthropic_server.base_url)
    assert replayed == recorded
    _, entries = read_cassette(tmp_path / "unit.jsonl")
    assert all(e["kind"] == "http" and len(e["response"]["chunks"]) > 1 for e in entries)


def test_runs_are_separate_and_reordered_identical_requests_match(tmp_path: Path) -> None:
    model = FakeListChatModel(responses=["one", "two", "three"])
    rec = session(tmp_path, "record")
    with rec.tape("a"):
        first = [model.invoke("x").content, model.invoke("y").content]
    with rec.tape("b"):
        other = model.invoke("x").content
    rec.close()
    assert first == ["one", "two"] and other == "three"
    replay_model = FakeListChatModel(responses=["one", "two", "three"])
    rep = session(tmp_path, "replay")
    with rep.tape("a"):  # the same requests, the other way round
        assert [replay_model.invoke("y").content, replay_model.invoke("x").content] == [
            "two",
            "one",
        ]
    with rep.tape("b"):  # run b never sees run a's answer to the same request
        assert replay_model.invoke("x").content == "three"
    with rep.tape("c"), pytest.raises(CassetteMiss) as missed:
        replay_model.invoke("a question nobody recorded " * 10)
    line = str(missed.value)
    assert "run run:c, call 0, model fake-list-chat-model" in line
    assert "'a question nobody recorded a question nobody" in line
    assert line.endswith("re-record with --cassette auto")
    assert len(line.split("'")[1]) == 80


def test_secrets_in_bodies_are_masked_and_headers_dropped(
    tmp_path: Path, openai_server: FakeServer
) -> None:
    rec = session(tmp_path, "record")
    client = openai.OpenAI(base_url=openai_server.base_url, api_key=KEY, max_retries=0)
    with rec.tape("s"):
        client.chat.completions.create(
            model="gpt-test",
            messages=[
                {"role": "user", "content": f"my key is {KEY} and Bearer abcdefghijklmnop1234"}
            ],
            extra_body={"metadata": {"api_key": "plain-secret-value", "user": "u1"}},
        )
    rec.close()
    text = (tmp_path / "unit.jsonl").read_text()
    assert (
        KEY not in text and "plain-secret-value" not in text and "abcdefghijklmnop1234" not in text
    )
    assert "authorization" not in text.lower()
    _, (entry,) = read_cassette(tmp_path / "unit.jsonl")
    assert entry["request"]["body"]["metadata"] == {"api_key": "***", "user": "u1"}
    assert entry["response"]["headers"] == {"content-type": "application/json"}
    assert openai_server.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"
    # the masked request still matches on replay (same masking, same digest)
    openai_server.stop()
    rep = session(tmp_path, "replay")
    with rep.tape("s"):
        client.chat.completions.create(
            model="gpt-test",
            messages=[
                {"role": "user", "content": f"my key is {KEY} and Bearer abcdefghijklmnop1234"}
            ],
            extra_body={"metadata": {"api_key": "plain-secret-value", "user": "u1"}},
        )
    assert rep.stats.replayed == 1


def test_recorded_timing_is_replayed_on_request(tmp_path: Path, openai_server: FakeServer) -> None:
    openai_server.chunk_delay = 0.03
    client = openai.OpenAI(base_url=openai_server.base_url, api_key=KEY, max_retries=0)

    def call() -> float:
        start = time.perf_counter()
        stream = client.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "one two three four"}],
            stream=True,
        )
        list(stream)
        return time.perf_counter() - start

    rec = session(tmp_path, "record")
    with rec.tape("t"):
        live = call()
    rec.close()
    _, (entry,) = read_cassette(tmp_path / "unit.jsonl")
    offsets = [t for t, _ in entry["response"]["chunks"]]
    assert offsets == sorted(offsets) and offsets[-1] > 100
    paced = session(tmp_path, "replay", timing="recorded")
    with paced.tape("t"):
        slow = call()
    assert slow >= offsets[-1] / 1000.0 * 0.9
    assert live > 0.1


def test_auto_replays_what_is_recorded_and_records_the_rest(tmp_path: Path) -> None:
    rec = session(tmp_path, "record")
    with rec.tape("r"):
        FakeListChatModel(responses=["a"]).invoke("first")
    rec.close()
    auto = session(tmp_path, "auto")
    with auto.tape("r"):
        model = FakeListChatModel(responses=["a"])
        assert model.invoke("first").content == "a"  # replayed
        assert model.invoke("second").content == "a"  # live (the fake's next answer)
    auto.close()
    assert (auto.stats.replayed, auto.stats.recorded) == (1, 1)
    _, entries = read_cassette(tmp_path / "unit.jsonl")
    assert [(e["run"], e["call"]) for e in entries] == [("run:r", 0), ("run:r", 1)]
    assert json.dumps(entries[1]["request"]).count("second") == 1


def test_every_line_validates_against_the_json_schema(
    tmp_path: Path, openai_server: FakeServer, anthropic_server: FakeServer
) -> None:
    import jsonschema
    from fluxloop_exporters import load_schema

    rec = session(tmp_path, "record")
    with rec.tape("r1"):
        _sdk_calls(openai_server.base_url, anthropic_server.base_url)
        _langchain_calls(openai_server.base_url)
        client = openai.OpenAI(base_url=openai_server.base_url, api_key=KEY, max_retries=0)
        client.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}]
        )
    rec.close()
    validator = jsonschema.Draft202012Validator(load_schema("cassette"))
    lines = (tmp_path / "unit.jsonl").read_text().splitlines()
    assert len(lines) == 8
    for line in lines:
        validator.validate(json.loads(line))
    kinds = {json.loads(x).get("kind") for x in lines[1:]}
    assert kinds == {"http", "langchain"}
    bad = json.loads(lines[1])
    del bad["digest"]
    assert not validator.is_valid(bad)


def test_a_run_cut_short_keeps_its_previous_recording(tmp_path: Path) -> None:
    rec = session(tmp_path, "record")
    with rec.tape("r"):
        FakeListChatModel(responses=["a"]).invoke("the whole run")
    rec.close()
    again = session(tmp_path, "record")
    with pytest.raises(KeyboardInterrupt), again.tape("r"):
        FakeListChatModel(responses=["a"]).invoke("half a run")
        raise KeyboardInterrupt
    again.close()
    _, (entry,) = read_cassette(tmp_path / "unit.jsonl")
    assert entry["request"]["messages"][0]["content"] == "the whole run"
