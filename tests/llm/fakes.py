"""A scripted langchain-core chat model for the client tests: each call takes the next step of
its script (a reply text, or an exception to raise), records when it started and how many calls
were in flight, and reports token usage like a provider does."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult


@dataclass
class Log:
    """What the model saw: the start time and the prompt of every call, the peak concurrency."""

    starts: list[float] = field(default_factory=list)
    prompts: list[list[BaseMessage]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0


def rate_limited(retry_after: str) -> openai.RateLimitError:
    """The OpenAI SDK's own 429, with a ``Retry-After`` header."""
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(429, headers={"retry-after": retry_after}, request=request)
    return openai.RateLimitError("Rate limit reached", response=response, body=None)


def unauthorized() -> openai.AuthenticationError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(401, request=request)
    return openai.AuthenticationError("Incorrect API key", response=response, body=None)


class ScriptedChatModel(BaseChatModel):
    """Replies (or raises) by script; the last step repeats. ``delay`` seconds per call."""

    script: list[Any]
    log: Log
    delay: float = 0.0

    model_config = {"arbitrary_types_allowed": True}

    @property
    def _llm_type(self) -> str:
        return "scripted-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:  # pragma: no cover - the client only uses the async path
        raise NotImplementedError

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        log = self.log
        step = self.script[min(len(log.starts), len(self.script) - 1)]
        log.starts.append(time.monotonic())
        log.prompts.append(list(messages))
        log.active += 1
        log.max_active = max(log.max_active, log.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if isinstance(step, BaseException):
                raise step
            message = AIMessage(
                content=str(step),
                usage_metadata={"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
            )
            return ChatResult(generations=[ChatGeneration(message=message)])
        finally:
            log.active -= 1
