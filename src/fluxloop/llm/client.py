"""The one LLM client: generation, the simulated user and the judge call models through it.

:meth:`LLMClient.complete` sends ``(role, content)`` messages to a chat model and parses the
reply, under the client's :class:`~fluxloop.llm.settings.CallPolicy`:

* **cache** — a parsed reply is kept in the :class:`~fluxloop.llm.cache.ResponseCache` (masked),
  keyed by purpose, model identity and messages; the same request is answered from it;
* **concurrency** — at most ``concurrency`` attempts in flight (one semaphore per client; a
  retry waits outside it);
* **retries** (tenacity) — transient failures (429, 5xx, timeouts, connection errors, errors
  without an HTTP status) are tried again up to ``max_retries`` times, waiting the server's
  ``Retry-After`` / ``retry-after-ms`` or an exponential, jittered backoff capped by
  ``max_retry_delay``; 401/403/404 stop at once (:class:`LLMFatalError`);
* **re-asks** — a reply the parser rejects (:class:`~fluxloop.llm.text.MalformedOutput`) is
  shown to the model with the reason, up to ``parse_retries`` times;
* **budget and breaker** — at most ``max_calls`` attempts (:class:`BudgetExhausted`); after
  ``circuit_breaker`` failed calls in a row a model is not called again (:class:`ModelDown`);
* **usage** — every attempt, answer, cache hit, retry and token lands in the client's
  :class:`~fluxloop.llm.usage.UsageMeter`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from fluxloop.errors import FluxLoopError

from .cache import ResponseCache
from .factory import make_chat_model
from .messages import Message, to_langchain
from .retry import backoff_delay, describe_error, is_fatal, is_retryable, status_of
from .settings import CallPolicy, LLMSettings
from .text import MalformedOutput, message_text
from .usage import UsageMeter, usage_of

__all__ = [
    "BoundModel",
    "BudgetExhausted",
    "Completion",
    "LLMCallError",
    "LLMClient",
    "LLMFatalError",
    "ModelDown",
]

T = TypeVar("T")

DEFAULT_REPAIR = "Reply again, following the requested format exactly."


class LLMCallError(FluxLoopError):
    """A call failed for good (retries exhausted, or not retryable).

    ``reason`` describes the last failure (``HTTP 500: ...``, ``timed out``), ``attempts`` how
    many were made; ``tripped`` is set on the failure that opened the circuit breaker."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason or message
        self.attempts = attempts
        self.tripped: str | None = None


class LLMFatalError(LLMCallError):
    """A failure every other call would share (authentication, unknown model): stop at once."""

    exit_code = 2


class ModelDown(LLMCallError):
    """The circuit breaker is open for this model: it was not called."""


class BudgetExhausted(LLMCallError):
    """``max_calls`` attempts were made: this one was not."""


@dataclass(frozen=True)
class BoundModel:
    """A chat model with its label (messages) and identity (cache key, circuit breaker)."""

    chat_model: Any
    label: str
    identity: str


@dataclass
class Completion(Generic[T]):
    """A parsed reply: the value, its text, the tokens spent on it, whether it was cached."""

    value: T
    content: str
    usage: dict[str, int]
    cached: bool = False
    attempts: int = 1


def _zero() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _worth_retrying(exc: BaseException) -> bool:
    # cancellation, Ctrl-C and the client's own refusals are never retried
    return isinstance(exc, Exception) and not isinstance(exc, LLMCallError) and is_retryable(exc)


class LLMClient:
    """Bounded, retrying, caching, metered access to chat models (see the module docstring).

    ``model`` is the default model of :meth:`complete` (built on first use when a callable);
    ``sleep`` is how the client waits between attempts."""

    def __init__(
        self,
        policy: CallPolicy,
        *,
        model: BoundModel | Callable[[], BoundModel] | None = None,
        cache: ResponseCache | None = None,
        meter: UsageMeter | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self.cache = cache
        self.meter = meter if meter is not None else UsageMeter()
        self.budget_exhausted = False
        self._model = model
        self._sleep = sleep
        self._jitter = random.Random(0x5EED)
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failures: dict[str, int] = {}  # consecutive failed calls per model identity
        self._down: dict[str, str] = {}  # model identity -> why it is not called again

    @classmethod
    def for_settings(
        cls,
        settings: LLMSettings,
        *,
        where: str,
        role: str,
        offline_hint: str | None = None,
        cache: ResponseCache | None = None,
        meter: UsageMeter | None = None,
    ) -> LLMClient:
        """A client of one model configured by ``settings`` (generation, the simulated user);
        the model is built on first use (see :func:`~fluxloop.llm.factory.make_chat_model`)."""

        def build() -> BoundModel:
            chat_model = make_chat_model(
                settings, where=where, role=role, offline_hint=offline_hint
            )
            return BoundModel(chat_model, settings.label, settings.identity())

        return cls(settings.policy(), model=build, cache=cache, meter=meter)

    @property
    def model(self) -> BoundModel:
        """The default model (built now if it was not: a ConfigError comes from here)."""
        if self._model is None:
            raise ValueError("this client has no default model: pass model= to complete()")
        if not isinstance(self._model, BoundModel):
            self._model = self._model()
        return self._model

    # -- one request, retried ------------------------------------------------------------------

    def _slots(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore = asyncio.Semaphore(max(1, self.policy.concurrency))
            self._loop = loop
        return self._semaphore

    async def _attempt(self, bound: BoundModel, request: list[Any]) -> Any:
        async with self._slots():
            down = self._down.get(bound.identity)
            if down is not None:
                raise ModelDown(down)
            cap = self.policy.max_calls
            if cap is not None and self.meter.attempts >= cap:
                self.budget_exhausted = True
                raise BudgetExhausted(f"max_calls ({cap}) reached")
            self.meter.attempts += 1
            async with asyncio.timeout(self.policy.timeout):
                return await bound.chat_model.ainvoke(request)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        assert exc is not None  # tenacity only waits after a failure
        return backoff_delay(
            exc,
            state.attempt_number,
            base=self.policy.retry_delay,
            cap=self.policy.max_retry_delay,
            rng=self._jitter,
        )

    def _count_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        self.meter.retries += 1
        if exc is not None and status_of(exc) == 429:
            self.meter.rate_limited += 1
        self.meter.notify()

    async def _request(self, bound: BoundModel, messages: Sequence[Message]) -> Any:
        """The model's reply to ``messages``, retried by the policy."""
        request = to_langchain(messages)
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_retries + 1),
            retry=retry_if_exception(_worth_retrying),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        reply: Any = None
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    reply = await self._attempt(bound, request)
        except LLMCallError:
            raise
        except Exception as exc:
            raise self._failed(bound, exc, attempts) from exc
        self._failures[bound.identity] = 0
        return reply

    def _failed(self, bound: BoundModel, exc: Exception, attempts: int) -> LLMCallError:
        status = status_of(exc)
        reason = describe_error(exc)
        error: LLMCallError
        if is_fatal(exc):
            error = LLMFatalError(
                f"{bound.label}: {reason}", status=status, reason=reason, attempts=attempts
            )
        else:
            self.meter.failed += 1
            tried = f" after {attempts} attempts" if attempts > 1 else ""
            error = LLMCallError(
                f"{reason}{tried}", status=status, reason=reason, attempts=attempts
            )
        failures = self._failures.get(bound.identity, 0) + 1
        self._failures[bound.identity] = failures
        limit = self.policy.circuit_breaker
        if limit and failures >= limit and bound.identity not in self._down:
            short = reason if len(reason) <= 120 else reason[:119] + "…"
            self._down[bound.identity] = f"{failures} calls in a row failed, last: {short}"
            error.tripped = self._down[bound.identity]
        self.meter.notify()
        return error

    # -- a parsed reply ------------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        parse: Callable[[str], T],
        *,
        model: BoundModel | None = None,
        purpose: str = "generate",
        use_cache: bool = True,
        repair: str | None = None,
    ) -> Completion[T]:
        """Ask ``model`` (default: the client's) and ``parse`` its reply: cached, bounded,
        retried, re-asked with ``repair`` when ``parse`` raises MalformedOutput. Raises
        :class:`LLMCallError` (and its kinds) or MalformedOutput (``content``: the last reply)."""
        bound = model if model is not None else self.model
        key: str | None = None
        if use_cache and self.cache is not None:
            key = ResponseCache.key(purpose, bound.identity, messages)
            hit = self.cache.get(key)
            if hit is not None:
                try:
                    value = parse(hit)
                except MalformedOutput:
                    pass
                else:
                    self.meter.cached += 1
                    self.meter.notify()
                    return Completion(value, hit, _zero(), cached=True, attempts=0)
        conversation = list(messages)
        total = _zero()
        last: MalformedOutput | None = None
        content = ""
        for attempt in range(self.policy.parse_retries + 1):
            reply = await self._request(bound, conversation)
            self.meter.calls += 1
            usage = usage_of(reply)
            self.meter.add_usage(usage)
            for name, count in usage.items():
                total[name] += count
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
                    ("human", f"Your reply could not be used ({exc}). {repair or DEFAULT_REPAIR}"),
                ]
                continue
            if key is not None and self.cache is not None:
                self.cache.put(key, bound.label, content)
            self.meter.notify()
            return Completion(value, content, total, cached=False, attempts=attempt + 1)
        self.meter.failed += 1
        self.meter.notify()
        raise MalformedOutput(
            f"malformed reply after {self.policy.parse_retries + 1} attempt(s): {last}",
            content=content,
        )
