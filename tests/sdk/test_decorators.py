"""Decorators: span names, kinds, attributes, trees, errors, and transparency to the wrapped code."""

from __future__ import annotations

import asyncio
import inspect
import json
from types import SimpleNamespace

import pytest
from fluxloop_semconv import attributes as attr
from langchain_core.messages import AIMessage, HumanMessage
from opentelemetry.trace import SpanKind, StatusCode

import fluxloop

from .conftest import Exported, parent_of, span_id


def test_agent_tool_prompt_form_one_tree_with_genai_attributes(exported: Exported) -> None:
    @fluxloop.tool(description="adds")
    def add(a: int, b: int = 2) -> int:
        return a + b

    @fluxloop.prompt(model="gpt-4o-mini")
    def complete(question: str) -> dict[str, object]:
        return {"content": "4", "usage": {"prompt_tokens": 7, "completion_tokens": 1}}

    @fluxloop.agent(name="Calc")
    def run(question: str) -> str:
        add(1)
        return str(complete(question)["content"])

    assert run("1+2?") == "4"
    agent = exported.named("invoke_agent Calc")
    tool = exported.named("execute_tool add")
    chat = exported.named("chat gpt-4o-mini")
    assert agent.kind is SpanKind.INTERNAL and tool.kind is SpanKind.INTERNAL
    assert chat.kind is SpanKind.CLIENT
    assert parent_of(agent) is None
    assert parent_of(tool) == span_id(agent) and parent_of(chat) == span_id(agent)
    assert {s.context.trace_id for s in exported.spans if s.context} == {agent.context.trace_id}  # type: ignore[union-attr]
    a = agent.attributes or {}
    assert a[attr.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert a[attr.GEN_AI_AGENT_NAME] == "Calc"
    assert json.loads(str(a[attr.FLUXLOOP_INPUT])) == {"question": "1+2?"}
    assert json.loads(str(a[attr.FLUXLOOP_OUTPUT])) == "4"
    t = tool.attributes or {}
    assert t[attr.GEN_AI_TOOL_NAME] == "add" and t[attr.GEN_AI_TOOL_DESCRIPTION] == "adds"
    assert json.loads(str(t[attr.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"a": 1, "b": 2}
    assert json.loads(str(t[attr.GEN_AI_TOOL_CALL_RESULT])) == 3
    c = chat.attributes or {}
    assert c[attr.GEN_AI_OPERATION_NAME] == "chat"
    assert c[attr.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert c[attr.GEN_AI_PROVIDER_NAME] == "openai"
    assert c[attr.GEN_AI_USAGE_INPUT_TOKENS] == 7 and c[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_every_emitted_attribute_is_defined_in_the_registry(exported: Exported) -> None:
    @fluxloop.prompt(model="claude-3-5-sonnet")
    def llm(messages: list[dict[str, str]]) -> AIMessage:
        return AIMessage(
            content="hi", usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}
        )

    @fluxloop.retrieval(data_source="kb")
    def search(query: str) -> list[str]:
        return ["doc"]

    @fluxloop.embedding(model="text-embedding-3-small")
    def embed(text: str) -> list[float]:
        return [0.1, 0.2, 0.3]

    @fluxloop.trace(observation_type="chain", metadata={"k": "v"})
    def chain() -> None:
        fluxloop.event("milestone", step=1)

    @fluxloop.agent
    def run() -> None:
        llm([{"role": "user", "content": "hello"}])
        search("q")
        embed("t")
        chain()
        with pytest.raises(ValueError):
            failing()

    @fluxloop.tool
    def failing() -> None:
        raise ValueError("boom")

    with fluxloop.instrument("scope", session_id="s1", user_id="u1", tags=["t"], metadata={"m": 1}):
        run()
    emitted = {key for span in exported.spans for key in (span.attributes or {})}
    assert emitted, "no spans"
    assert emitted <= attr.ALL_ATTRIBUTES, sorted(emitted - attr.ALL_ATTRIBUTES)


def test_usage_is_read_from_openai_anthropic_and_langchain_results(exported: Exported) -> None:
    openai_like = SimpleNamespace(
        id="chatcmpl-1",
        model="gpt-4o-2024-08-06",
        choices=[
            SimpleNamespace(
                finish_reason="stop",
                message=SimpleNamespace(role="assistant", content="ok", tool_calls=None),
            )
        ],
        usage=SimpleNamespace(prompt_tokens=11, completion_tokens=5, total_tokens=16),
    )
    anthropic_like = SimpleNamespace(
        id="msg_1",
        model="claude-3-5-haiku",
        stop_reason="end_turn",
        content=[SimpleNamespace(type="text", text="ok")],
        usage=SimpleNamespace(
            input_tokens=9,
            output_tokens=4,
            cache_read_input_tokens=1,
            cache_creation_input_tokens=None,
        ),
    )
    lc = AIMessage(
        content="ok", usage_metadata={"input_tokens": 6, "output_tokens": 2, "total_tokens": 8}
    )

    @fluxloop.prompt(name="o", model="gpt-4o")
    def o() -> object:
        return openai_like

    @fluxloop.prompt(name="a", model="claude-3-5-haiku")
    def a() -> object:
        return anthropic_like

    @fluxloop.prompt(name="l", model="fake")
    def lcm() -> object:
        return lc

    o(), a(), lcm()
    by_model = {s.attributes[attr.GEN_AI_REQUEST_MODEL]: s.attributes for s in exported.spans}  # type: ignore[index]
    assert by_model["gpt-4o"][attr.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert by_model["gpt-4o"][attr.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert by_model["gpt-4o"][attr.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert by_model["claude-3-5-haiku"][attr.GEN_AI_USAGE_INPUT_TOKENS] == 10  # input + cache read
    assert by_model["claude-3-5-haiku"][attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert by_model["claude-3-5-haiku"][attr.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert by_model["fake"][attr.GEN_AI_USAGE_INPUT_TOKENS] == 6
    out = json.loads(str(by_model["fake"][attr.GEN_AI_OUTPUT_MESSAGES]))
    assert out[0]["role"] == "assistant" and out[0]["parts"][0] == {"type": "text", "content": "ok"}


def test_langchain_fake_chat_model_inside_prompt(exported: Exported) -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage(
                    content="pong",
                    usage_metadata={"input_tokens": 2, "output_tokens": 1, "total_tokens": 3},
                )
            ]
        )
    )

    @fluxloop.prompt(model="fake-chat")
    def ask(messages: list[HumanMessage]) -> AIMessage:
        return model.invoke(messages)  # type: ignore[return-value]

    assert ask([HumanMessage(content="ping")]).content == "pong"
    span = exported.named("chat fake-chat")
    attrs = span.attributes or {}
    assert attrs[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    messages = json.loads(str(attrs[attr.GEN_AI_INPUT_MESSAGES]))
    assert messages == [{"role": "user", "parts": [{"type": "text", "content": "ping"}]}]


def test_errors_set_status_error_type_and_are_reraised_untouched(exported: Exported) -> None:
    class Boom(RuntimeError):
        pass

    original = Boom("kaput")

    @fluxloop.agent
    def run() -> None:
        raise original

    with pytest.raises(Boom) as info:
        run()
    assert info.value is original
    assert info.traceback[-1].name == "run"  # the user's frame, not FluxLoop's, raised it
    span = exported.named("invoke_agent run")
    assert span.status.status_code is StatusCode.ERROR
    assert "kaput" in (span.status.description or "")
    assert (span.attributes or {})[attr.ERROR_TYPE].endswith("Boom")
    assert [e.name for e in span.events] == ["exception"]


def test_signature_return_value_and_function_kind_are_preserved() -> None:
    def plain(a: int, *, b: str = "x") -> str:
        """Doc."""
        return f"{a}{b}"

    async def coro(a: int) -> int:
        return a

    def gen(n: int):  # type: ignore[no-untyped-def]
        yield from range(n)

    async def agen(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield i

    for func, check in (
        (plain, inspect.isfunction),
        (coro, inspect.iscoroutinefunction),
        (gen, inspect.isgeneratorfunction),
        (agen, inspect.isasyncgenfunction),
    ):
        for deco in (
            fluxloop.agent,
            fluxloop.tool(),
            fluxloop.trace(name="x"),
            fluxloop.prompt(model="m"),
        ):
            wrapped = deco(func)
            assert inspect.signature(wrapped) == inspect.signature(func)
            assert wrapped.__name__ == func.__name__ and wrapped.__doc__ == func.__doc__
            assert check(wrapped), (func, deco)
    assert fluxloop.tool(plain)(1, b="y") == "1y"


def test_methods_classmethods_and_staticmethods(exported: Exported) -> None:
    class Service:
        factor = 3

        def __init__(self) -> None:
            self.offset = 1

        @fluxloop.tool
        def method(self, x: int) -> int:
            return x + self.offset

        @fluxloop.tool
        @classmethod
        def klass(cls, x: int) -> int:
            return x * cls.factor

        @classmethod
        @fluxloop.tool(name="inner_cm")
        def klass2(cls, x: int) -> int:
            return x * cls.factor

        @fluxloop.tool
        @staticmethod
        def static(x: int) -> int:
            return -x

        @fluxloop.agent
        async def amethod(self, x: int) -> int:
            return x

    s = Service()
    assert s.method(1) == 2 and Service.klass(2) == 6 and s.klass(2) == 6
    assert Service.klass2(2) == 6 and Service.static(4) == -4 and s.static(4) == -4
    assert asyncio.run(s.amethod(5)) == 5
    args = {
        s.name: json.loads(
            str(
                (s.attributes or {}).get(
                    attr.GEN_AI_TOOL_CALL_ARGUMENTS, (s.attributes or {}).get(attr.FLUXLOOP_INPUT)
                )
            )
        )
        for s in exported.spans
    }
    assert args["execute_tool method"] == {"x": 1}  # self is not captured
    assert args["execute_tool klass"] == {"x": 2}
    assert args["execute_tool inner_cm"] == {"x": 2}
    assert args["execute_tool static"] == {"x": 4}
    assert args["invoke_agent amethod"] == {"x": 5}


def test_async_calls_nest_across_tasks(exported: Exported) -> None:
    @fluxloop.tool
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.001)
        return i

    @fluxloop.agent
    async def run() -> list[int]:
        return list(await asyncio.gather(*(asyncio.create_task(fetch(i)) for i in range(3))))

    assert asyncio.run(run()) == [0, 1, 2]
    root = exported.named("invoke_agent run")
    tools = [s for s in exported.spans if s.name == "execute_tool fetch"]
    assert len(tools) == 3 and all(parent_of(t) == span_id(root) for t in tools)


def test_thread_pool_helper_keeps_the_parent(exported: Exported) -> None:
    from concurrent.futures import ThreadPoolExecutor

    @fluxloop.tool
    def work(i: int) -> int:
        return i

    @fluxloop.agent
    def run() -> None:
        with fluxloop.ContextThreadPoolExecutor(2) as pool:
            list(pool.map(work, range(2)))
        with ThreadPoolExecutor(1) as plain:
            plain.submit(fluxloop.propagate_context(work), 9).result()

    async def via_executor() -> None:
        @fluxloop.agent(name="arun")
        async def arun() -> None:
            await fluxloop.run_in_executor(None, work, 7)

        await arun()

    run()
    asyncio.run(via_executor())
    root = exported.named("invoke_agent run")
    children = [
        s for s in exported.spans if s.name == "execute_tool work" and parent_of(s) == span_id(root)
    ]
    assert len(children) == 3
    arun = exported.named("invoke_agent arun")
    assert any(
        parent_of(s) == span_id(arun) for s in exported.spans if s.name == "execute_tool work"
    )


def test_disabled_makes_decorators_passthrough(exported: Exported) -> None:
    fluxloop.configure(enabled=False)

    @fluxloop.agent
    def run(x: int) -> int:
        return x * 2

    assert run(2) == 4
    assert exported.spans == []
    fluxloop.configure(enabled=True)
    run(1)
    assert exported.names() == ["invoke_agent run"]


def test_content_capture_can_be_turned_off(exported: Exported) -> None:
    fluxloop.configure(capture_content=False)

    @fluxloop.tool
    def secretive(x: str) -> str:
        return x

    secretive("private")
    attrs = exported.named("execute_tool secretive").attributes or {}
    assert (
        attr.GEN_AI_TOOL_CALL_ARGUMENTS not in attrs and attr.GEN_AI_TOOL_CALL_RESULT not in attrs
    )


def test_instrumentation_failure_never_reaches_user_code(
    exported: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fluxloop.sdk._spans as spans

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("serializer exploded")

    monkeypatch.setattr(spans, "to_json", broken)

    @fluxloop.agent
    def run(x: int) -> int:
        return x + 1

    @fluxloop.agent
    async def arun(x: int) -> int:
        return x + 1

    assert run(1) == 2
    assert asyncio.run(arun(1)) == 2


def test_trace_rejects_unknown_observation_type() -> None:
    with pytest.raises(ValueError, match="observation_type"):
        fluxloop.trace(observation_type="bogus")
