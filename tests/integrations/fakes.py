"""Offline LangChain models for the tests: fake chat models that emit tool calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


class ToolCallingFakeModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` that accepts ``bind_tools`` and reports a model name."""

    model_name: str = "fake-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFakeModel:
        return self


def model(*replies: AIMessage | str) -> ToolCallingFakeModel:
    return ToolCallingFakeModel(messages=iter(list(replies)))


def usage(inp: int, out: int) -> dict[str, int]:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}


def tool_call(
    name: str, args: dict[str, Any], call_id: str, tokens: Iterable[int] = (5, 3)
) -> AIMessage:
    i, o = tokens
    return AIMessage(
        content="",
        tool_calls=[{"name": name, "args": args, "id": call_id}],
        usage_metadata=usage(i, o),  # type: ignore[arg-type]
    )


def answer(text: str, tokens: Iterable[int] = (9, 2)) -> AIMessage:
    i, o = tokens
    return AIMessage(content=text, usage_metadata=usage(i, o))  # type: ignore[arg-type]
