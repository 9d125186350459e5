"""The one LLM client (fluxloop.llm.client) as generation, the simulated user and the judge use
it: one retry policy (tenacity, Retry-After), one masked cache, one concurrency bound, one
usage meter, one model factory. The models are real langchain-core chat models (fakes.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fluxloop.analysis.experiment import run_from_summary
from fluxloop.analysis.judge import JudgeClient, JudgeLimits, JudgeSpec, build_chat_model
from fluxloop.errors import ConfigError
from fluxloop.generation.llm import parse_variations
from fluxloop.llm.cache import CACHE_FILE, ResponseCache
from fluxloop.llm.client import (
    BoundModel,
    BudgetExhausted,
    LLMCallError,
    LLMClient,
    LLMFatalError,
    ModelDown,
)
from fluxloop.llm.factory import make_chat_model
from fluxloop.llm.settings import CallPolicy, LLMSettings
from fluxloop.llm.text import MalformedOutput, parse_json_object

from .fakes import Log, ScriptedChatModel, rate_limited, unauthorized

VERDICT = '{"criteria": [{"id": 1, "reasoning": "fine", "verdict": "pass"}]}'
VARIATIONS = '{"variations": ["first variant"]}'
SECRET = "sk-proj-abcdefghijklmnop1234567890QRST"


def _bound(model: Any, identity: str = "fake") -> BoundModel:
    return BoundModel(model, "fake/model", identity)


def _judge(client: JudgeClient, model: Any, n: int = 1, output: str = "a") -> list[Any]:
    spec = JudgeSpec(name="helpful", criteria=["is helpful"])
    runs = [
        run_from_summary(
            {"trace_id": f"{i:032x}", "input": f"q{i}", "output": output, "success": True}
        )
        for i in range(n)
    ]

    async def go() -> list[Any]:
        return list(
            await asyncio.gather(*(client.judge(spec, model, r, [], r.record()) for r in runs))
        )

    return asyncio.run(go())


# -- one retry policy ---------------------------------------------------------------------------


def test_generation_waits_the_retry_after_of_a_429_then_succeeds() -> None:
    log = Log()
    model = ScriptedChatModel(script=[rate_limited("0.4"), VARIATIONS], log=log)
    client = LLMClient(CallPolicy(retry_delay=0.01, max_retry_delay=5.0), model=_bound(model))
    done = asyncio.run(
        client.complete([("human", "vary it")], lambda text: parse_variations(text, 1))
    )
    assert done.value == ["first variant"] and done.attempts == 1
    assert len(log.starts) == 2 and log.starts[1] - log.starts[0] >= 0.4  # not 0.01
    meter = client.meter
    assert (meter.attempts, meter.calls, meter.retries, meter.rate_limited) == (2, 1, 1, 1)


def test_the_judge_waits_the_retry_after_of_a_429_through_the_same_client() -> None:
    log = Log()
    model = ScriptedChatModel(script=[rate_limited("0.4"), VERDICT], log=log)
    client = JudgeClient(JudgeLimits(retry_delay=0.01), ResponseCache())
    assert isinstance(client.llm, LLMClient)
    (verdict,) = _judge(client, model)
    assert verdict.status == "judged" and verdict.score == 1.0 and verdict.calls == 2
    assert len(log.starts) == 2 and log.starts[1] - log.starts[0] >= 0.4
    assert client.calls == 2 and client.llm.meter.rate_limited == 1


def test_retry_after_is_capped_and_retries_are_bounded() -> None:
    log = Log()
    model = ScriptedChatModel(script=[rate_limited("120")], log=log)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = CallPolicy(max_retries=2, retry_delay=0.01, max_retry_delay=3.0)
    client = LLMClient(policy, model=_bound(model), sleep=sleep)
    with pytest.raises(LLMCallError) as info:
        asyncio.run(client.complete([("human", "x")], str))
    assert waits == [3.0, 3.0]  # the server asked for 120 s; the cap wins
    assert "HTTP 429" in str(info.value) and "after 3 attempts" in str(info.value)
    assert info.value.attempts == 3 and client.meter.failed == 1


def test_a_fatal_status_is_not_retried() -> None:
    log = Log()
    model = ScriptedChatModel(script=[unauthorized(), VARIATIONS], log=log)
    client = LLMClient(CallPolicy(retry_delay=0.01), model=_bound(model))
    with pytest.raises(LLMFatalError, match=r"fake/model: HTTP 401"):
        asyncio.run(client.complete([("human", "x")], str))
    assert len(log.starts) == 1


def test_a_timeout_is_retried_then_reported() -> None:
    log = Log()
    model = ScriptedChatModel(script=["late"], log=log, delay=1.0)
    client = LLMClient(
        CallPolicy(timeout=0.05, max_retries=1, retry_delay=0.01), model=_bound(model)
    )
    with pytest.raises(LLMCallError, match=r"^timed out after 2 attempts$"):
        asyncio.run(client.complete([("human", "x")], str))


def test_a_malformed_reply_is_shown_to_the_model_with_the_reason() -> None:
    log = Log()
    model = ScriptedChatModel(script=["no json here", '{"decision": "terminate"}'], log=log)
    client = LLMClient(CallPolicy(parse_retries=1), model=_bound(model))
    done = asyncio.run(client.complete([("human", "decide")], parse_json_object, repair="JSON!"))
    assert done.value == {"decision": "terminate"} and done.attempts == 2
    reask = log.prompts[1]
    assert [m.type for m in reask] == ["human", "ai", "human"]
    assert str(reask[2].content).startswith("Your reply could not be used (expected a JSON object")
    assert str(reask[2].content).endswith("JSON!")
    bad = ScriptedChatModel(script=["still no json"], log=Log())
    with pytest.raises(MalformedOutput, match="malformed reply after 2 attempt") as info:
        asyncio.run(client.complete([("human", "decide")], parse_json_object, model=_bound(bad)))
    assert info.value.content == "still no json"


# -- one cache ----------------------------------------------------------------------------------


def test_generation_and_judge_hit_the_same_kind_of_cache_across_processes(tmp_path: Path) -> None:
    # generation: its cache directory holds the one JSONL response cache
    gen_log = Log()
    gen_model = _bound(ScriptedChatModel(script=[VARIATIONS], log=gen_log))
    first = LLMClient(CallPolicy(), model=gen_model, cache=ResponseCache.in_dir(tmp_path / "gen"))
    parse = lambda text: parse_variations(text, 1)  # noqa: E731
    assert asyncio.run(first.complete([("human", "vary")], parse)).cached is False
    again = LLMClient(CallPolicy(), model=gen_model, cache=ResponseCache.in_dir(tmp_path / "gen"))
    hit = asyncio.run(again.complete([("human", "vary")], parse))
    assert hit.cached and hit.value == ["first variant"] and len(gen_log.starts) == 1
    assert again.meter.cached == 1 and again.meter.attempts == 0
    # the judge: evaluation_cache.jsonl is the same cache
    judge_log = Log()
    judge_model = ScriptedChatModel(script=[VERDICT], log=judge_log)
    path = tmp_path / "evaluation_cache.jsonl"
    (verdict,) = _judge(JudgeClient(JudgeLimits(), ResponseCache(path)), judge_model)
    assert not verdict.cached
    later = JudgeClient(JudgeLimits(), ResponseCache(path))
    (verdict,) = _judge(later, judge_model)
    assert verdict.cached and verdict.score == 1.0 and len(judge_log.starts) == 1
    assert later.calls == 0 and later.cache.hits == 1
    lines = [
        json.loads(line)
        for file in (tmp_path / "gen" / CACHE_FILE, path)
        for line in file.read_text().splitlines()
    ]
    assert [sorted(item) for item in lines] == [["at", "key", "model", "response"]] * 2


def test_a_secret_in_a_reply_never_reaches_the_cache_file(tmp_path: Path) -> None:
    reply = json.dumps({"variations": [f"my key is {SECRET}"]})
    model = _bound(ScriptedChatModel(script=[reply], log=Log()))
    client = LLMClient(CallPolicy(), model=model, cache=ResponseCache.in_dir(tmp_path))
    live = asyncio.run(client.complete([("human", "x")], lambda t: parse_variations(t, 1)))
    assert live.value == [f"my key is {SECRET}"]  # the caller gets the reply as it came
    text = (tmp_path / CACHE_FILE).read_text()
    assert SECRET not in text and "sk-***" in text
    reread = LLMClient(CallPolicy(), model=model, cache=ResponseCache.in_dir(tmp_path))
    hit = asyncio.run(reread.complete([("human", "x")], lambda t: parse_variations(t, 1)))
    assert hit.cached and SECRET not in hit.value[0]


def test_a_torn_cache_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / CACHE_FILE
    key = ResponseCache.key("generate", "fake", [("human", "x")])
    path.write_text(json.dumps({"key": key, "response": "cached"}) + '\n{"key": "tor', "utf-8")
    assert ResponseCache(path).get(key) == "cached"


# -- one concurrency bound ----------------------------------------------------------------------


def test_concurrency_is_bounded_for_generation_and_the_judge() -> None:
    log = Log()
    model = ScriptedChatModel(script=[VARIATIONS], log=log, delay=0.05)
    client = LLMClient(CallPolicy(concurrency=3), model=_bound(model))

    async def many() -> None:
        await asyncio.gather(*(client.complete([("human", f"q{i}")], str) for i in range(12)))

    asyncio.run(many())
    assert log.max_active == 3 and len(log.starts) == 12

    judge_log = Log()
    judge_model = ScriptedChatModel(script=[VERDICT], log=judge_log, delay=0.05)
    judge = JudgeClient(JudgeLimits(concurrency=2), ResponseCache())
    verdicts = _judge(judge, judge_model, n=8)
    assert all(v.status == "judged" for v in verdicts)
    assert judge_log.max_active == 2 and judge.calls == 8


# -- one usage meter, budget and breaker ------------------------------------------------------


def test_usage_is_counted() -> None:
    log = Log()
    model = ScriptedChatModel(script=[rate_limited("0"), "not json", VARIATIONS], log=log)
    client = LLMClient(CallPolicy(retry_delay=0.0), model=_bound(model))
    seen: list[int] = []
    client.meter.listeners.append(lambda m: seen.append(m.calls))
    asyncio.run(client.complete([("human", "x")], parse_json_object))
    assert client.meter.as_dict() == {
        "calls": 2,
        "cached_calls": 0,
        "retries": 1,
        "rate_limited": 1,
        "malformed_replies": 1,
        "failed_calls": 0,
        "prompt_tokens": 14,
        "completion_tokens": 6,
        "total_tokens": 20,
    }
    assert client.meter.attempts == 3 and seen and seen[-1] == 2


def test_the_call_budget_and_the_circuit_breaker() -> None:
    model = _bound(ScriptedChatModel(script=[VARIATIONS], log=Log()))
    client = LLMClient(CallPolicy(max_calls=2), model=model)

    async def three() -> list[Any]:
        return [
            await client.complete([("human", f"q{i}")], str, use_cache=False) for i in range(2)
        ] + [await asyncio.gather(client.complete([("human", "q3")], str), return_exceptions=True)]

    *_, (last,) = asyncio.run(three())
    assert isinstance(last, BudgetExhausted) and client.budget_exhausted

    failing = _bound(ScriptedChatModel(script=[TimeoutError()], log=Log()), identity="down")
    breaker = LLMClient(CallPolicy(max_retries=0, circuit_breaker=2), model=failing)
    errors: list[LLMCallError] = []
    for i in range(3):
        try:
            asyncio.run(breaker.complete([("human", f"q{i}")], str))
        except LLMCallError as exc:
            errors.append(exc)
    assert [type(e) for e in errors] == [LLMCallError, LLMCallError, ModelDown]
    assert errors[1].tripped == "2 calls in a row failed, last: timed out"
    assert breaker.meter.attempts == 2


# -- one factory ----------------------------------------------------------------------------------

FACTORY = """
from langchain_core.language_models.fake_chat_models import FakeListChatModel

SEEN = []


def make(model=None, temperature=None, **rest):
    SEEN.append(dict(rest, model=model, temperature=temperature))
    return FakeListChatModel(responses=["ok"])


def strict(stats_file):
    SEEN.append({"stats_file": stats_file})
    return FakeListChatModel(responses=["ok"])
"""


def test_one_factory_for_generation_references_and_judge_chat_models(tmp_path: Path) -> None:
    (tmp_path / "llm_factory_fake.py").write_text(FACTORY, encoding="utf-8")
    settings = LLMSettings(
        provider="llm_factory_fake:make", model="m", temperature=0.5, search_paths=(tmp_path,)
    )
    model = make_chat_model(settings, where="input_generation.llm", role="generation")
    assert hasattr(model, "ainvoke")
    spec = JudgeSpec(
        name="j", chat_model="llm_factory_fake:strict", factory_kwargs={"stats_file": "s"}
    )
    assert hasattr(
        build_chat_model(spec, [tmp_path], "evaluation.yaml:4: evaluators[0]"), "ainvoke"
    )
    import llm_factory_fake  # type: ignore[import-not-found]

    assert (
        llm_factory_fake.SEEN[0]["model"] == "m" and llm_factory_fake.SEEN[0]["temperature"] == 0.5
    )
    assert llm_factory_fake.SEEN[1] == {"stats_file": "s"}
    bad = JudgeSpec(name="j", chat_model="llm_factory_fake:strict", factory_kwargs={"nope": 1})
    with pytest.raises(
        ConfigError, match=r"chat_model 'llm_factory_fake:strict': the factory raised TypeError"
    ):
        build_chat_model(bad, [tmp_path], "evaluation.yaml:4: evaluators[0]")


def test_missing_keys_name_the_variables_for_every_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "FLUXLOOP_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    pytest.importorskip("langchain_openai")
    with pytest.raises(ConfigError) as gen:
        make_chat_model(
            LLMSettings(provider="openai"),
            where="input_generation.llm",
            role="generation",
            offline_hint="use --mode deterministic",
        )
    assert str(gen.value) == (
        "input_generation.llm: cannot create the openai generation model: No API key found for "
        "openai (set OPENAI_API_KEY or FLUXLOOP_LLM_API_KEY in the environment or the project's "
        ".env, or run `fluxloop config set-llm openai <key>`; or use --mode deterministic)"
    )
    with pytest.raises(ConfigError, match=r"cannot create the openai judge model: No API key"):
        build_chat_model(JudgeSpec(name="j", provider="openai", model="gpt-4o-mini"), [], "e:1")
    monkeypatch.setenv("FLUXLOOP_LLM_API_KEY", "sk-universal")
    judge = build_chat_model(JudgeSpec(name="j", provider="openai", model="gpt-4o-mini"), [], "e")
    assert judge.openai_api_key.get_secret_value() == "sk-universal"
    assert judge.max_retries == 0 and judge.temperature == 0
