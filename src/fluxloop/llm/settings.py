"""What a model call needs: how to reach the chat model (:class:`LLMSettings`) and how calls
are made (:class:`CallPolicy`: concurrency, deadline, retries, re-asks, budget, breaker).

Generation and the simulated user read :class:`LLMSettings` from ``input_generation.llm`` /
``multi_turn.supervisor`` (see :meth:`LLMSettings.policy`); the judge builds both from its
``evaluators[]`` entry and ``limits:``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import PROVIDER_KEY_VARS, UNIVERSAL_KEY_VAR

__all__ = ["DEFAULT_MODELS", "CallPolicy", "LLMSettings", "llm_settings_from", "resolve_api_key"]

#: the model of a provider when none is configured
DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "gemini": "gemini-2.5-flash",
}


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


def resolve_api_key(
    provider: str,
    *,
    explicit: str | None,
    configured: str | None,
    dotenv: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """``(key, where it came from)``: explicit > environment > .env > config file."""
    if explicit:
        return explicit, "--llm-api-key"
    env = os.environ if environ is None else environ
    names = (*PROVIDER_KEY_VARS.get(provider, ()), UNIVERSAL_KEY_VAR)
    for name in names:
        if env.get(name):
            return env[name], f"${name}"
    for name in names:
        if dotenv.get(name):
            return dotenv[name], f"{name} in .env"
    if configured:
        return configured, "input_generation.llm.api_key"
    return None, None


def llm_settings_from(
    section: Mapping[str, Any],
    *,
    dotenv: Mapping[str, str],
    search_paths: Sequence[Path],
    defaults: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LLMSettings:
    """Build :class:`LLMSettings` from an ``llm``-like mapping (validated by the caller)."""
    data: dict[str, Any] = {
        **(defaults or {}),
        **{k: v for k, v in section.items() if v is not None},
    }
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    provider = str(data.get("provider") or "openai").strip()
    if ":" not in provider:
        provider = provider.lower()
    model = data.get("model") or DEFAULT_MODELS.get(provider)
    key, source = resolve_api_key(
        provider,
        explicit=(overrides or {}).get("api_key"),
        configured=section.get("api_key"),
        dotenv=dotenv,
    )
    concurrency = data.get("concurrency") or data.get("max_concurrency") or 4
    extra = dict(data.get("model_kwargs") or {})
    if data.get("text_verbosity"):
        extra.setdefault("verbosity", data["text_verbosity"])
    return LLMSettings(
        provider=provider,
        model=str(model) if model else None,
        api_key=key,
        api_key_source=source,
        base_url=data.get("base_url") or data.get("api_base"),
        temperature=data.get("temperature"),
        top_p=data.get("top_p"),
        frequency_penalty=data.get("frequency_penalty"),
        presence_penalty=data.get("presence_penalty"),
        max_tokens=data.get("max_tokens"),
        seed=data.get("seed"),
        timeout=float(data.get("request_timeout") or data.get("timeout") or 60.0),
        max_retries=int(data["max_retries"]) if data.get("max_retries") is not None else 3,
        parse_retries=int(data["parse_retries"]) if data.get("parse_retries") is not None else 2,
        retry_delay=float(data["retry_delay"]) if data.get("retry_delay") is not None else 1.0,
        max_retry_delay=float(data.get("max_retry_delay") or 60.0),
        concurrency=max(1, int(concurrency)),
        reasoning_effort=data.get("reasoning_effort"),
        extra=extra,
        search_paths=tuple(search_paths),
    )
