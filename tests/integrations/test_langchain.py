"""The LangChain callback handler: span shapes, parents, errors, no duplicates, global hook."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from fluxloop_exporters import observation_type
from fluxloop_semconv import attributes as attr
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import ToolException, tool
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, StatusCode

import fluxloop
from fluxloop.integrations import _langchain_data as data
from fluxloop.integrations.langchain import (
    SUPPRESS_LANGUAGE_MODEL_KEY,
    FluxLoopCallbackHandler,
    instrument_langchain,
    is_langchain_instrumented,
    uninstrument_langchain,
)

from .conftest import Spans
from .fakes import ToolCallingFakeModel, answer, model, tool_call


def cfg(**extra: Any) -> dict[str, Any]:
    # every runnable shown (hide_internal=False): these tests check the tree run by run
    return {"callbacks": [FluxLoopCallbackHandler(hide_internal=False)], **extra}


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


class KB(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(page_content=f"about {query}", id="d1", metadata={"score": 0.9}),
            Document(page_content="other", id="d2"),
        ]


def loads(span: Any, key: str) -> Any:
    return json.loads(span.attributes[key])


# ---------------------------------------------------------------------- chat models


def test_chat_model_run_is_a_client_generation_span(spans: Spans) -> None:
    llm = model(answer("hello", tokens=(7, 2)))
    llm.invoke(
        [SystemMessage("be brief"), HumanMessage("hi")],
        config=cfg(metadata={"thread_id": "conv-1"}),
    )
    span = spans.one("chat fake-model")
    a = span.attributes
    assert span.kind is SpanKind.CLIENT
    assert observation_type(a) == "generation"
    assert a[attr.GEN_AI_OPERATION_NAME] == "chat"
    assert a[attr.GEN_AI_REQUEST_MODEL] == "fake-model"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "toolcallingfakemodel"
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert a[attr.GEN_AI_CONVERSATION_ID] == "conv-1"
    assert tuple(a[attr.GEN_AI_RESPONSE_FINISH_REASONS]) == ("stop",)
    assert loads(span, attr.GEN_AI_INPUT_MESSAGES) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert loads(span, attr.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "hello"}],
            "finish_reason": "stop",
        }
    ]
    assert span.status.status_code is StatusCode.UNSET


def test_tool_call_output_and_request_parameters(spans: Spans) -> None:
    class Tuned(ToolCallingFakeModel):
        temperature: float = 0.2
        max_tokens: int = 64

        @property
        def _identifying_params(self) -> dict[str, Any]:
            return {"model_name": self.model_name, "temperature": 0.2, "max_tokens": 64}

    llm = Tuned(messages=iter([tool_call("add", {"a": 1, "b": 2}, "call_9")]))
    llm.invoke("add 1 and 2", config=cfg())
    span = spans.one("chat fake-model")
    assert span.attributes[attr.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert span.attributes[attr.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert tuple(span.attributes[attr.GEN_AI_RESPONSE_FINISH_REASONS]) == ("tool_call",)
    (message,) = loads(span, attr.GEN_AI_OUTPUT_MESSAGES)
    assert message["parts"] == [
        {"type": "tool_call", "id": "call_9", "name": "add", "arguments": {"a": 1, "b": 2}}
    ]


def test_provider_names_map_to_well_known_values() -> None:
    assert (
        data.provider_name({"_type": "openai-chat"}, {"ls_provider": "openai"}, "gpt-4o")
        == "openai"
    )
    assert data.provider_name({}, {"ls_provider": "anthropic"}, "claude-3") == "anthropic"
    assert data.provider_name({}, {"ls_provider": "google_genai"}, None) == "gcp.gemini"
    assert data.provider_name({}, {"ls_provider": "amazon_bedrock"}, None) == "aws.bedrock"
    assert data.provider_name({"_type": "mistralai-chat"}, {}, None) == "mistral_ai"
    assert data.provider_name({}, {"ls_provider": "somecloud"}, "claude-3-5") == "anthropic"
    assert data.provider_name({}, {"ls_provider": "ollama"}, "llama3") == "ollama"
    assert data.model_name({"model": "gpt-4o"}, {}) == "gpt-4o"
    assert data.model_name({}, {"ls_model_name": "m"}) == "m"


def test_streaming_records_time_to_first_chunk_and_chunk_count(spans: Spans) -> None:
    llm = model("one two three")
    chunks = list(llm.stream("count", config=cfg()))
    assert len(chunks) > 1
    span = spans.one("chat fake-model")
    assert span.attributes[attr.GEN_AI_REQUEST_STREAM] is True
    assert span.attributes[attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
    assert span.attributes[attr.FLUXLOOP_STREAM_CHUNK_COUNT] >= 3
    assert not otel_trace.get_current_span().get_span_context().is_valid


def test_text_completion_llm(spans: Spans) -> None:
    FakeListLLM(responses=["done"]).invoke("prompt", config=cfg())
    (span,) = spans.all
    assert span.name == "text_completion"
    assert span.attributes[attr.GEN_AI_OPERATION_NAME] == "text_completion"
    assert loads(span, attr.GEN_AI_INPUT_MESSAGES)[0]["parts"][0]["content"] == "prompt"
    assert loads(span, attr.GEN_AI_OUTPUT_MESSAGES)[0]["parts"][0]["content"] == "done"


def test_model_error_marks_span_failed(spans: Spans) -> None:
    class Broken(ToolCallingFakeModel):
        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        Broken(messages=iter([])).invoke("x", config=cfg())
    span = spans.one("chat fake-model")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[attr.ERROR_TYPE] == "ConnectionError"


# ---------------------------------------------------------------------- chains, tools, retrievers


def test_chain_spans_nest_by_parent_run(spans: Spans) -> None:
    prompt = ChatPromptTemplate.from_messages([("human", "Say {word}")])
    chain = prompt | model(answer("hi"))
    chain.invoke({"word": "hi"}, config=cfg())
    assert spans.tree() == [
        "RunnableSequence",
        "  ChatPromptTemplate",
        "  chat fake-model",
    ]
    root = spans.one("RunnableSequence")
    assert observation_type(root.attributes) == "chain"
    assert loads(root, attr.FLUXLOOP_INPUT) == {"word": "hi"}
    assert root.kind is SpanKind.INTERNAL


def test_chain_error_records_error_type(spans: Spans) -> None:
    def fail(_: Any) -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        RunnableLambda(fail).invoke(1, config=cfg())
    (span,) = spans.all
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[attr.ERROR_TYPE] == "KeyError"


def test_tool_span_has_call_id_arguments_and_result(spans: Spans) -> None:
    add.invoke(
        {"type": "tool_call", "name": "add", "args": {"a": 2, "b": 5}, "id": "call_7"},
        config=cfg(),
    )
    span = spans.one("execute_tool add")
    a = span.attributes
    assert a[attr.GEN_AI_TOOL_NAME] == "add"
    assert a[attr.GEN_AI_TOOL_DESCRIPTION] == "Add two numbers."
    assert a[attr.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert loads(span, attr.GEN_AI_TOOL_CALL_ARGUMENTS) == {"a": 2, "b": 5}
    assert loads(span, attr.GEN_AI_TOOL_CALL_RESULT) == "7"


def test_plain_tool_input_and_failure(spans: Spans) -> None:
    assert add.invoke({"a": 1, "b": 1}, config=cfg()) == 2
    assert loads(spans.one("execute_tool add"), attr.GEN_AI_TOOL_CALL_RESULT) == 2
    with pytest.raises(ValueError, match="nope"):
        explode.invoke({"reason": "nope"}, config=cfg())
    failed = spans.one("execute_tool explode")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes[attr.ERROR_TYPE] == "ValueError"


def test_tool_returning_handled_error_is_marked_failed(spans: Spans) -> None:
    @tool
    def flaky(x: int) -> int:
        """Flaky."""
        raise ToolException("flaked")

    flaky.handle_tool_error = True

    flaky.invoke({"type": "tool_call", "name": "flaky", "args": {"x": 1}, "id": "c1"}, config=cfg())
    span = spans.one("execute_tool flaky")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[attr.ERROR_TYPE] == "ToolException"


def test_retriever_span_records_query_and_documents(spans: Spans) -> None:
    KB().invoke("cats", config=cfg())
    span = spans.one("retrieval KB")
    assert span.kind is SpanKind.CLIENT
    assert span.attributes[attr.GEN_AI_OPERATION_NAME] == "retrieval"
    assert span.attributes[attr.GEN_AI_DATA_SOURCE_ID] == "KB"
    assert span.attributes[attr.GEN_AI_RETRIEVAL_QUERY_TEXT] == "cats"
    docs = loads(span, attr.GEN_AI_RETRIEVAL_DOCUMENTS)
    assert docs[0] == {
        "id": "d1",
        "score": 0.9,
        "content": "about cats",
        "metadata": {"score": 0.9},
    }
    assert docs[1]["id"] == "d2"


def test_kind_marker_and_hidden_runs(spans: Spans) -> None:
    inner = RunnableLambda(lambda x: x + 1).with_config(tags=["langsmith:hidden"])
    leaf = RunnableLambda(lambda x: x * 2, name="leaf")
    flow = RunnableLambda(lambda x: leaf.invoke(inner.invoke(x)), name="pipeline")
    assert flow.invoke(1, config=cfg(metadata={"fluxloop_kind": "workflow"})) == 4
    assert spans.tree() == ["invoke_workflow pipeline", "  leaf"]
    root = spans.one("invoke_workflow pipeline")
    assert root.attributes[attr.GEN_AI_OPERATION_NAME] == "invoke_workflow"
    assert root.attributes[attr.GEN_AI_WORKFLOW_NAME] == "pipeline"


def test_content_capture_off(spans: Spans) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model(answer("secret"))
    chain.invoke(
        {"q": "private"}, config={"callbacks": [FluxLoopCallbackHandler(capture_content=False)]}
    )
    for span in spans.all:
        text = json.dumps(dict(span.attributes or {}))
        assert "private" not in text and "secret" not in text
    assert spans.one("chat fake-model").attributes[attr.GEN_AI_USAGE_INPUT_TOKENS] == 9


def test_disabled_fluxloop_creates_no_spans(spans: Spans) -> None:
    fluxloop.configure(enabled=False)
    prompt_template = ChatPromptTemplate.from_messages([("human", "{q}")])
    assert (prompt_template | model(answer("ok"))).invoke({"q": "x"}, config=cfg()).content == "ok"
    assert spans.all == []


def test_suppress_instrumentation_context_is_honoured(spans: Spans) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        model(answer("ok")).invoke("x", config=cfg())
    assert spans.all == []


# ---------------------------------------------------------------------- parents & context


def test_top_level_run_nests_under_decorated_span_and_inner_decorated_calls_nest_under_runs(
    spans: Spans,
) -> None:
    @fluxloop.tool(name="lookup")
    def lookup(key: str) -> str:
        return key.upper()

    @tool
    def search(key: str) -> str:
        """Search."""
        return lookup(key)

    @fluxloop.trace(name="outer")
    def outer() -> str:
        return search.invoke({"key": "k"}, config=cfg())

    assert outer() == "K"
    assert spans.tree() == ["outer", "  execute_tool search", "    execute_tool lookup"]


def test_async_runs_have_the_same_tree(spans: Spans) -> None:
    @fluxloop.tool(name="lookup")
    async def lookup(key: str) -> str:
        await asyncio.sleep(0)
        return key

    @tool
    async def search(key: str) -> str:
        """Search."""
        return await lookup(key)

    async def main() -> None:
        chain = RunnableLambda(lambda x: {"key": x}, name="prep") | search
        await chain.ainvoke("k", config=cfg())
        assert not otel_trace.get_current_span().get_span_context().is_valid

    asyncio.run(main())
    assert spans.tree() == [
        "RunnableSequence",
        "  prep",
        "  execute_tool search",
        "    execute_tool lookup",
    ]


def test_concurrent_async_runs_keep_their_own_parents(spans: Spans) -> None:
    @fluxloop.agent
    async def agent(i: int) -> Any:
        chain = RunnableLambda(lambda x: x, name=f"step{i}")
        for _ in range(3):
            await chain.ainvoke(i, config=cfg())
            await asyncio.sleep(0)
        return i

    async def main() -> None:
        await asyncio.gather(*(agent(i) for i in range(4)))

    asyncio.run(main())
    for root in spans.named("invoke_agent agent"):
        kids = {s.name for s in spans.children(root)}
        assert len(kids) == 1 and len(spans.children(root)) == 3


def test_batch_in_threads_keeps_parents(spans: Spans) -> None:
    step = RunnableLambda(lambda x: x * 2, name="double")
    chain = RunnableLambda(lambda x: x, name="first") | step
    with fluxloop.instrument("batch"):
        assert chain.batch([1, 2, 3, 4], config=cfg()) == [2, 4, 6, 8]
    batch_root = spans.one("batch")
    sequences = spans.children(batch_root)
    assert [s.name for s in sequences] == ["RunnableSequence"] * 4
    for seq in sequences:
        assert sorted(s.name for s in spans.children(seq)) == ["double", "first"]


def test_provider_instrumentation_is_suppressed_inside_model_spans(spans: Spans) -> None:
    seen: dict[str, Any] = {}

    class Probe(ToolCallingFakeModel):
        def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
            seen["suppress"] = bool(otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_KEY))
            seen["current"] = otel_trace.get_current_span().get_span_context()
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content="x"))])

    Probe(messages=iter([])).invoke("x", config=cfg())
    span = spans.one("chat fake-model")
    assert seen["suppress"] is True
    assert seen["current"].span_id == span.context.span_id
    assert not otel_context.get_value(SUPPRESS_LANGUAGE_MODEL_KEY)


def test_model_run_is_skipped_when_another_model_instrumentation_suppresses(spans: Spans) -> None:
    token = otel_context.attach(otel_context.set_value(SUPPRESS_LANGUAGE_MODEL_KEY, True))
    try:
        (RunnableLambda(lambda x: x, name="pre") | model(answer("ok"))).invoke("x", config=cfg())
    finally:
        otel_context.detach(token)
    assert spans.names() == ["RunnableSequence", "pre"]


# ---------------------------------------------------------------------- no duplicates


def test_prompt_decorator_around_model_call_is_enriched_not_duplicated(spans: Spans) -> None:
    llm = model(answer("hi", tokens=(4, 1)))

    @fluxloop.prompt
    def ask(question: str) -> AIMessage:
        return llm.invoke([HumanMessage(question)], config=cfg())

    ask("hello?")
    (span,) = spans.all
    assert span.name == "chat fake-model"
    a = span.attributes
    assert a[attr.GEN_AI_REQUEST_MODEL] == "fake-model"
    assert a[attr.GEN_AI_PROVIDER_NAME] == "toolcallingfakemodel"
    assert a[attr.GEN_AI_USAGE_INPUT_TOKENS] == 4
    assert a[attr.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert loads(span, attr.GEN_AI_INPUT_MESSAGES)[0]["parts"][0]["content"] == "hello?"


def test_prompt_decorator_keeps_its_own_model_and_merges_through_chains(spans: Spans) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model(answer("a"), answer("b"))

    @fluxloop.prompt(model="gpt-4o")
    def ask(q: str) -> Any:
        first = chain.invoke({"q": q}, config=cfg())
        second = chain.invoke({"q": q}, config=cfg())  # a second model call gets its own span
        return [first, second]

    ask("x")
    generations = [s for s in spans.all if observation_type(s.attributes) == "generation"]
    assert sorted(s.name for s in generations) == ["chat fake-model", "chat gpt-4o"]
    outer = spans.one("chat gpt-4o")
    assert outer.attributes[attr.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert outer.attributes[attr.GEN_AI_PROVIDER_NAME] == "openai"
    assert spans.tree() == [
        "chat gpt-4o",
        "  RunnableSequence",
        "    ChatPromptTemplate",
        "  RunnableSequence",
        "    ChatPromptTemplate",
        "    chat fake-model",
    ]


def test_two_handlers_trace_a_run_once(spans: Spans) -> None:
    model(answer("x")).invoke(
        "x", config={"callbacks": [FluxLoopCallbackHandler(), FluxLoopCallbackHandler()]}
    )
    assert spans.names() == ["chat fake-model"]


# ---------------------------------------------------------------------- global instrumentation


def test_instrument_langchain_is_global_idempotent_and_reversible(spans: Spans) -> None:
    assert not is_langchain_instrumented()
    first = instrument_langchain()
    assert instrument_langchain() is first
    assert is_langchain_instrumented()

    model(answer("a")).invoke("x")
    assert spans.names() == ["chat fake-model"]
    spans.clear()

    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(model(answer("b")).invoke("y")))
    worker.start()
    worker.join()
    assert result and spans.names() == ["chat fake-model"]
    spans.clear()

    model(answer("c")).invoke("z", config=cfg())  # explicit handler too: still one span
    assert spans.names() == ["chat fake-model"]
    spans.clear()

    uninstrument_langchain()
    assert not is_langchain_instrumented()
    model(answer("d")).invoke("x")
    assert spans.all == []
    assert instrument_langchain() is not first


def test_emitted_attributes_are_in_the_registry(spans: Spans) -> None:
    instrument_langchain()

    @fluxloop.agent
    def run() -> None:
        chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model(
            tool_call("add", {"a": 1, "b": 2}, "c1")
        )
        chain.invoke({"q": "x"}, config={"metadata": {"thread_id": "t"}})
        list(model("streamed reply").stream("x"))
        add.invoke({"type": "tool_call", "name": "add", "args": {"a": 1, "b": 2}, "id": "c1"})
        KB().invoke("q")
        FakeListLLM(responses=["r"]).invoke("p")
        with pytest.raises(ValueError):
            explode.invoke({"reason": "r"})

    run()
    emitted = {key for span in spans.all for key in (span.attributes or {})}
    assert emitted <= attr.ALL_ATTRIBUTES, sorted(emitted - attr.ALL_ATTRIBUTES)
