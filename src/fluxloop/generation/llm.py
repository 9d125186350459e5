"""Chat models for generation and the simulated user, through langchain-core.

* Providers: ``openai`` (langchain-openai; ``base_url`` reaches any OpenAI-compatible server:
  vLLM, Ollama, LM Studio, Azure-style gateways), ``anthropic`` (langchain-anthropic),
  ``gemini`` (langchain-google-genai), or ``module:attr`` naming a chat model or a factory
  returning one (it receives the settings it declares: ``model``, ``temperature``, ...).
* :class:`ChatClient` bounds concurrency (a semaphore), retries transient failures (429, 5xx,
  timeouts, connection errors) with exponential backoff that honours ``Retry-After`` /
  ``retry-after-ms``, re-asks when the reply cannot be parsed, keeps an on-disk cache keyed by
  the messages, the model and its parameters (never the key), and meters calls and tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from fluxloop._files import atomic_write as atomic_write_text
from fluxloop.errors import ConfigError, FluxLoopError
from fluxloop.llm.models import (
    PROVIDERS,
    MissingProviderPackage,
    call_factory,
    chat_model_class,
    import_attr,
    key_env_hint,
)
from fluxloop.llm.retry import (
    backoff_delay,
    describe_error,
    is_fatal,
    is_transient,
    status_of,
)
from fluxloop.llm.text import json_values, message_text

from .settings import LLMSettings

__all__ = [
    "ChatClient",
    "Completion",
    "LLMCallError",
    "LLMFatalError",
    "MalformedOutput",
    "UsageMeter",
    "make_chat_model",
    "message_text",
    "parse_json_object",
    "parse_variations",
]

T = TypeVar("T")

CACHE_VERSION = 1


class MalformedOutput(ValueError):
    """The model answered, but the answer cannot be used."""


class LLMCallError(FluxLoopError):
    """A call failed for good (retries exhausted or not retryable)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMFatalError(LLMCallError):
    """A failure every other call would share (authentication, unknown model): stop at once."""

    exit_code = 2


# --------------------------------------------------------------------------------------------
# model construction


def _factory_kwargs(settings: LLMSettings) -> dict[str, Any]:
    values = {
        "model": settings.model,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "top_p": settings.top_p,
        "base_url": settings.base_url,
        "api_key": settings.api_key,
        "timeout": settings.timeout,
        "seed": settings.seed,
    }
    return {k: v for k, v in values.items() if v is not None}


def _missing_key(provider: str, section: str) -> ConfigError:
    names = key_env_hint(provider)
    offline = (
        "use --mode deterministic"
        if section.startswith("input_generation")
        else "use a scripted supervisor (provider: mock)"
    )
    return ConfigError(
        f"No API key found for {provider} ({section}): set {names} in the environment or the "
        f"project's .env, or run `fluxloop config set-llm {provider} <key>` (or {offline})",
        key=f"{section}.api_key",
    )


def _provider_class(provider: str, section: str) -> Any:
    try:
        return chat_model_class(PROVIDERS[provider])
    except MissingProviderPackage as exc:
        raise ConfigError(
            f"{section}.provider: {provider} {exc.hint}", key=f"{section}.provider"
        ) from None


def make_chat_model(settings: LLMSettings, *, section: str = "input_generation.llm") -> Any:
    """A langchain-core chat model for ``settings`` (ConfigError when it cannot be built);
    ``section`` names the config section in error messages."""
    provider = settings.provider
    if ":" in provider:
        try:
            obj: Any = import_attr(provider, settings.search_paths)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"{section}.provider: cannot load {provider!r}: {exc}",
                key=f"{section}.provider",
            ) from None
        model = obj if hasattr(obj, "ainvoke") and not isinstance(obj, type) else None
        if model is None:
            if not callable(obj):
                raise ConfigError(
                    f"{section}.provider: {provider!r} is neither a chat model nor a factory",
                    key=f"{section}.provider",
                )
            model = call_factory(obj, _factory_kwargs(settings))
        if not hasattr(model, "ainvoke"):
            raise ConfigError(
                f"{section}.provider: {provider!r} returned "
                f"{type(model).__name__}, expected a langchain chat model",
                key=f"{section}.provider",
            )
        return model
    common: dict[str, Any] = {
        "model": settings.model,
        "max_retries": 0,
        "timeout": settings.timeout,
    }
    for name in ("temperature", "top_p", "max_tokens"):
        value = getattr(settings, name)
        if value is not None:
            common[name] = value
    if provider == "openai":
        cls = _provider_class(provider, section)
        key = settings.api_key or ("EMPTY" if settings.base_url else None)
        if key is None:
            raise _missing_key(provider, section)
        kwargs = dict(common, api_key=key)
        if settings.base_url:
            kwargs["base_url"] = settings.base_url
        for name in ("frequency_penalty", "presence_penalty", "seed", "reasoning_effort"):
            value = getattr(settings, name)
            if value is not None:
                kwargs[name] = value
        if settings.extra:
            kwargs["model_kwargs"] = dict(settings.extra)
        return cls(**kwargs)
    if provider == "anthropic":
        cls = _provider_class(provider, section)
        if not settings.api_key:
            raise _missing_key(provider, section)
        kwargs = dict(common, api_key=settings.api_key)
        kwargs.setdefault("max_tokens", 1024)
        if settings.base_url:
            kwargs["base_url"] = settings.base_url
        return cls(**kwargs)
    if provider in ("gemini", "google", "google_genai"):
        cls = _provider_class("gemini", section)
        if not settings.api_key:
            raise _missing_key("gemini", section)
        kwargs = {k: v for k, v in common.items() if k != "max_retries"}
        kwargs["google_api_key"] = settings.api_key
        return cls(**kwargs)
    raise ConfigError(
        f"{section}.provider: expected openai, anthropic, gemini or "
        f'"module:factory", found {provider!r}',
        key=f"{section}.provider",
    )


# --------------------------------------------------------------------------------------------
# parsing


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_REFUSAL = re.compile(
    r"^(i'?m sorry|i am sorry|sorry,? (i|but)|i cannot|i can'?t|i am unable|i'm unable|"
    r"as an ai|i won'?t)\b",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s+")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        for key in ("variations", "inputs", "variants", "outputs", "results", "items", "data"):
            if key in value:
                return _strings(value[key])
        for key in ("input", "text", "content", "variation", "message", "question"):
            if isinstance(value.get(key), str):
                return [value[key]]
        if value and all(isinstance(v, str) for v in value.values()):
            return list(value.values())
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_strings(item) if isinstance(item, (str, Mapping)) else [])
        return out
    return []


def _clean(text: str) -> str:
    text = _BULLET.sub("", text.strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'\u201c\u201d":
        text = text[1:-1].strip()
    return text


def parse_variations(content: str, expected: int = 1) -> list[str]:
    """Variations from a model reply, leniently: JSON (``{"variations": [...]}``, a list, list
    of objects, in a code fence or surrounded by prose), else numbered/bulleted lines, else the
    whole reply when one variation was asked. Raises :class:`MalformedOutput` otherwise."""
    text = content.strip()
    if not text:
        raise MalformedOutput("empty reply")
    for candidate in json_values(text):
        found = [s for s in (_clean(x) for x in _strings(candidate)) if s]
        if found:
            return found
        raise MalformedOutput("JSON reply without variations")
    body = _FENCE.sub(lambda m: m.group(1), text).strip()
    if body.startswith(("{", "[")):
        raise MalformedOutput(f"invalid JSON: {body[:60]!r}")
    if _REFUSAL.match(body):
        raise MalformedOutput(f"a refusal or a comment, not variations: {body[:60]!r}")
    lines = [line for line in body.splitlines() if line.strip()]
    bullets = [_clean(line) for line in lines if _BULLET.match(line)]
    if len(bullets) >= 2 or (bullets and expected == 1 and len(lines) == 1):
        return [b for b in bullets if b]
    if expected == 1 or len(lines) == 1:
        return [_clean(body)]
    return [_clean(line) for line in lines]


def parse_json_object(content: str) -> dict[str, Any]:
    """The first JSON object in a reply (code fences and prose tolerated)."""
    text = content.strip()
    if not text:
        raise MalformedOutput("empty reply")
    for candidate in json_values(text):
        if isinstance(candidate, dict):
            return candidate
        break
    raise MalformedOutput(f"expected a JSON object, found {text[:60]!r}")


# --------------------------------------------------------------------------------------------
# accounting


@dataclass
class UsageMeter:
    """Calls and tokens of one generation or simulation (live and written to the output)."""

    calls: int = 0
    cached: int = 0
    retries: int = 0
    rate_limited: int = 0
    malformed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    listeners: list[Callable[[UsageMeter], None]] = field(default_factory=list, repr=False)

    def add_usage(self, usage: Mapping[str, int]) -> None:
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        self.total_tokens += int(usage.get("total_tokens", 0))

    def notify(self) -> None:
        for listener in self.listeners:
            with contextlib.suppress(Exception):
                listener(self)

    def tokens(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }

    def as_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "cached_calls": self.cached,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "malformed_replies": self.malformed,
            "failed_calls": self.failed,
            **self.tokens(),
        }


def usage_of(message: Any) -> dict[str, int]:
    """Token usage of an AI message (``usage_metadata`` or the provider's metadata)."""
    meta = getattr(message, "usage_metadata", None)
    if isinstance(meta, Mapping) and meta:
        prompt = int(meta.get("input_tokens") or 0)
        completion = int(meta.get("output_tokens") or 0)
        total = int(meta.get("total_tokens") or prompt + completion)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    response = getattr(message, "response_metadata", None)
    usage = (
        response.get("token_usage") or response.get("usage")
        if isinstance(response, Mapping)
        else None
    )
    if isinstance(usage, Mapping):
        prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
        completion = int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)
        total = int(usage.get("total_tokens") or prompt + completion)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


# --------------------------------------------------------------------------------------------
# the client


@dataclass
class Completion(Generic[T]):
    value: T
    content: str
    usage: dict[str, int]
    cached: bool = False
    attempts: int = 1


Message = tuple[str, str]  # (role, content): system | human | ai


def _to_langchain(messages: Sequence[Message]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    kinds = {"system": SystemMessage, "human": HumanMessage, "user": HumanMessage}
    return [kinds.get(role, AIMessage)(content=content) for role, content in messages]


class ChatClient:
    """Bounded, retrying, caching access to one chat model."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        model: Any = None,
        cache_dir: Path | None = None,
        meter: UsageMeter | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        section: str = "input_generation.llm",
    ) -> None:
        self.settings = settings
        self.section = section
        self._model = model
        self.cache_dir = cache_dir
        self.meter = meter or UsageMeter()
        self._sleep = sleep
        self._semaphore: asyncio.Semaphore | None = None
        self._jitter = random.Random(0x5EED)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = make_chat_model(self.settings, section=self.section)
        return self._model

    # -- cache ---------------------------------------------------------------------------------

    def cache_key(self, messages: Sequence[Message], purpose: str) -> str:
        material = {
            "v": CACHE_VERSION,
            "purpose": purpose,
            "llm": self.settings.cache_identity(),
            "messages": [list(m) for m in messages],
        }
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.json"

    def _cache_read(self, key: str) -> str | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        content = data.get("content") if isinstance(data, dict) else None
        return content if isinstance(content, str) else None

    def _cache_write(self, key: str, content: str, usage: Mapping[str, int]) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        entry = {
            "content": content,
            "usage": dict(usage),
            "model": self.settings.label,
            "created": datetime.now(UTC).isoformat(),
        }
        with contextlib.suppress(OSError):
            atomic_write_text(path, json.dumps(entry, ensure_ascii=False))

    # -- calls ---------------------------------------------------------------------------------

    async def _invoke(self, messages: Sequence[Message]) -> Any:
        settings = self.settings
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(settings.timeout + 5.0):
                    return await self.model.ainvoke(_to_langchain(messages))
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                status = status_of(exc)
                if is_fatal(exc):
                    raise LLMFatalError(
                        f"{self.settings.label}: {describe_error(exc)}", status=status
                    ) from exc
                if not is_transient(exc) or attempt >= settings.max_retries:
                    self.meter.failed += 1
                    tried = f" after {attempt + 1} attempts" if attempt else ""
                    raise LLMCallError(f"{describe_error(exc)}{tried}", status=status) from exc
                attempt += 1
                self.meter.retries += 1
                if status == 429:
                    self.meter.rate_limited += 1
                wait = backoff_delay(
                    exc,
                    attempt,
                    base=settings.retry_delay,
                    cap=settings.max_retry_delay,
                    rng=self._jitter,
                )
                self.meter.notify()
                await self._sleep(wait)

    async def complete(
        self,
        messages: Sequence[Message],
        parse: Callable[[str], T],
        *,
        purpose: str = "generate",
        use_cache: bool = True,
        repair: str | None = None,
    ) -> Completion[T]:
        """Call the model and parse the reply; cached, retried, re-asked when malformed."""
        key = self.cache_key(messages, purpose)
        if use_cache:
            cached = self._cache_read(key)
            if cached is not None:
                try:
                    value = parse(cached)
                except MalformedOutput:
                    pass
                else:
                    self.meter.cached += 1
                    self.meter.notify()
                    return Completion(value, cached, {}, cached=True, attempts=0)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(max(1, self.settings.concurrency))
        async with self._semaphore:
            conversation = list(messages)
            last: MalformedOutput | None = None
            total: dict[str, int] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            for attempt in range(self.settings.parse_retries + 1):
                reply = await self._invoke(conversation)
                self.meter.calls += 1
                usage = usage_of(reply)
                self.meter.add_usage(usage)
                for k, v in usage.items():
                    total[k] += v
                content = message_text(reply)
                try:
                    value = parse(content)
                except MalformedOutput as exc:
                    last = exc
                    self.meter.malformed += 1
                    self.meter.notify()
                    conversation = [
                        *messages,
                        ("ai", content),
                        (
                            "human",
                            f"Your reply could not be used ({exc}). "
                            + (repair or "Reply again, following the requested format exactly."),
                        ),
                    ]
                    continue
                if use_cache:
                    self._cache_write(key, content, usage)
                self.meter.notify()
                return Completion(value, content, total, cached=False, attempts=attempt + 1)
        attempts = self.settings.parse_retries + 1
        self.meter.failed += 1
        self.meter.notify()
        raise MalformedOutput(f"malformed reply after {attempts} attempt(s): {last}")


def elapsed_since(start: float) -> float:
    return round(time.monotonic() - start, 3)
