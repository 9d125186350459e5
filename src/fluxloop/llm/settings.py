"""What a model call needs: how to reach the chat model (:class:`LLMSettings`) and how calls
are made (:class:`CallPolicy`: concurrency, deadline, retries, re-asks, budget, breaker).

Generation and the simulated user read :class:`LLMSettings` from ``input_generation.llm`` /
``multi_turn.supervisor`` (see :meth:`LLMSettings.policy`); the judge builds both from its
``evaluators[]`` entry and ``limits:``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CallPolicy", "LLMSettings"]


@dataclass(frozen=True)
class CallPolicy:
    """How an :class:`~fluxloop.llm.client.LLMClient` calls its models."""

    #: model calls in flight at once (one semaphore per client)
    concurrency: int = 4
    #: seconds one attempt may take (then it is a ``TimeoutError``, which is retried)
    timeout: float = 65.0
    #: extra attempts after a transient failure (429, 5xx, timeouts, connection errors)
    max_retries: int = 3
    #: first backoff, doubled each retry and jittered; a server's ``Retry-After`` wins
    retry_delay: float = 1.0
    #: the longest wait between two attempts (``Retry-After`` included)
    max_retry_delay: float = 60.0
    #: re-asks when a reply cannot be parsed
    parse_retries: int = 2
    #: attempts the client may make in all (None: no budget)
    max_calls: int | None = None
    #: consecutive failed calls of one model after which it is not called again (0: never)
    circuit_breaker: int = 0


@dataclass(frozen=True)
class LLMSettings:
    """How to reach a chat model (generation, the simulated user, the judge)."""

    #: ``openai`` | ``anthropic`` | ``gemini`` | ``module:attr`` (a chat model or a factory)
    provider: str = "openai"
    model: str | None = None
    api_key: str | None = None
    api_key_source: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    #: the provider client's own HTTP timeout (None: the provider's default)
    timeout: float | None = 60.0
    max_retries: int = 3
    parse_retries: int = 2
    retry_delay: float = 1.0
    max_retry_delay: float = 60.0
    concurrency: int = 4
    reasoning_effort: str | None = None
    #: OpenAI ``model_kwargs``
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: keyword arguments given as they are to the provider's class or the factory (the judge's
    #: ``model_parameters`` / ``factory_kwargs``); they win over the fields above
    init_kwargs: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider

    @property
    def is_factory(self) -> bool:
        return ":" in self.provider

    def cache_identity(self) -> dict[str, Any]:
        """What makes two calls the same call (the API key is not part of it)."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "reasoning_effort": self.reasoning_effort,
            "extra": dict(self.extra),
            "init": {k: v for k, v in self.init_kwargs.items() if k != "api_key"},
        }

    def identity(self) -> str:
        """:meth:`cache_identity` as one string (the cache key's model part)."""
        return json.dumps(self.cache_identity(), sort_keys=True, ensure_ascii=False, default=str)

    def policy(self) -> CallPolicy:
        """The call policy of these settings; an attempt gets 5 s more than the provider's own
        timeout, so the provider reports its timeout first when it can."""
        return CallPolicy(
            concurrency=max(1, self.concurrency),
            timeout=(self.timeout or 60.0) + 5.0,
            max_retries=self.max_retries,
            retry_delay=self.retry_delay,
            max_retry_delay=self.max_retry_delay,
            parse_retries=self.parse_retries,
        )
