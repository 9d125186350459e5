"""A LangChain tool-calling agent traced by FluxLoop's callback handler (offline).

``python examples/langchain_agent.py "What's the weather in Seoul, and how do I reset my password?"``

``instrument_langchain()`` traces every LangChain run in the process: the prompt template
(a ``chain`` span), each model call (``chat fake-tool-model``: request model, provider, token
usage from ``usage_metadata``, input / output messages with the tool calls, finish reason),
each tool call (``execute_tool get_weather``: call id, arguments, result) and the retriever the
docs tool uses (``retrieval HelpCenter`` with the documents) — all under the
``invoke_agent HelpDeskAgent`` span of the decorated ``run``.

The model is langchain-core's ``GenericFakeChatModel`` taught to decide like a tool-calling LLM,
so the example needs no API key; swap in ``ChatOpenAI(model=...).bind_tools(TOOLS)`` and the
trace keeps its shape. As an experiment target: ``runner.target: "examples.langchain_agent:run"``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, tool
from pydantic import Field

import fluxloop
from fluxloop.integrations.langchain import instrument_langchain

instrument_langchain()  # idempotent; FluxLoopCallbackHandler() in `callbacks` works per call


# ---------------------------------------------------------------------- retriever and tools


class HelpCenter(BaseRetriever):
    """A tiny in-memory help center."""

    articles: list[Document] = Field(
        default_factory=lambda: [
            Document(
                id="kb-1",
                page_content="Reset your password from Settings > Security > Reset password.",
                metadata={"score": 0.92, "title": "Passwords"},
            ),
            Document(
                id="kb-2",
                page_content="Invoices are under Billing > History and can be downloaded as PDF.",
                metadata={"score": 0.88, "title": "Invoices"},
            ),
        ]
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = {w.lower().strip("?.,!") for w in query.split() if len(w) > 3}
        return [d for d in self.articles if words & set(d.page_content.lower().split())]


HELP_CENTER = HelpCenter()


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    forecasts = {"seoul": "clear, 21°C", "paris": "light rain, 14°C", "lima": "fog, 17°C"}
    return forecasts.get(city.lower(), "sunny, 20°C")


@tool
def search_help_center(query: str) -> str:
    """Search the help center articles."""
    docs = HELP_CENTER.invoke(query)
    return " ".join(d.page_content for d in docs) or "No article found."


TOOLS: dict[str, BaseTool] = {t.name: t for t in (get_weather, search_help_center)}


# ---------------------------------------------------------------------- the fake model


def _usage(prompt: Sequence[BaseMessage], reply: str) -> dict[str, int]:
    inp = sum(len(str(m.content).split()) for m in prompt)
    out = max(1, len(reply.split()))
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


class ToolCallingFakeModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that calls tools like an LLM would (stateless, deterministic)."""

    model_name: str = "fake-tool-model"
    messages: Iterator[AIMessage | str] = Field(default_factory=lambda: iter(()))

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFakeModel:
        return self

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "fluxloop.fake"
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        question = next(str(m.content) for m in messages if isinstance(m, HumanMessage))
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if results:
            text = " ".join(f"{m.name}: {m.content}" for m in results)
            reply = AIMessage(content=text, usage_metadata=_usage(messages, text))
            return ChatResult(generations=[ChatGeneration(message=reply)])
        calls: list[dict[str, Any]] = []
        weather = re.search(r"weather in ([A-Z][a-z]+)", question)
        if weather:
            calls.append({"name": "get_weather", "args": {"city": weather.group(1)}})
        if re.search(r"\bhow (do|can) i\b", question, re.IGNORECASE):
            calls.append({"name": "search_help_center", "args": {"query": question}})
        if not calls:
            text = "I can check the weather or search the help center."
            reply = AIMessage(content=text, usage_metadata=_usage(messages, text))
        else:
            reply = AIMessage(
                content="",
                tool_calls=[
                    {**c, "id": f"call_{i}", "type": "tool_call"} for i, c in enumerate(calls)
                ],
                usage_metadata=_usage(messages, " ".join(c["name"] for c in calls)),
                response_metadata={"finish_reason": "tool_calls"},
            )
        return ChatResult(generations=[ChatGeneration(message=reply)])


MODEL = ToolCallingFakeModel().bind_tools(list(TOOLS.values()))
PROMPT = ChatPromptTemplate.from_messages(
    [("system", "You are a help desk agent. Use the tools."), ("human", "{question}")]
)


# ---------------------------------------------------------------------- the agent


@fluxloop.agent(name="HelpDeskAgent")
def run(input_text: str) -> str:
    """The experiment target: a question in, an answer out (at most 3 model turns)."""
    messages: list[BaseMessage] = PROMPT.invoke({"question": input_text}).to_messages()
    for _ in range(3):
        reply = MODEL.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return str(reply.content)
        for call in reply.tool_calls:
            messages.append(TOOLS[call["name"]].invoke(call))  # a ToolMessage
    return "I could not finish in three steps."


if __name__ == "__main__":
    question = (
        " ".join(sys.argv[1:]) or "What's the weather in Seoul, and how do I reset my password?"
    )
    print(run(question))
    fluxloop.flush()
