"""The one attempt loop: every call of a target is tried, timed, classified and retried here.

A single-turn run is one call of the target; a conversation is one call per agent turn. Both
go through :meth:`AttemptLoop.run`, so a timeout, an error and a retry mean the same thing in
either:

* an attempt that raises :class:`AttemptTimeout` (the runner's own ``timeout_seconds``
  deadline) is a ``timeout``; any other exception (``SystemExit`` included) is an ``error``.
  The class decides, never its name: a target's own exception that happens to be called
  ``_Timeout`` is an error.
* a failed attempt is tried again while ``attempt <= max_retries`` and the experiment is not
  stopping, after ``retry_delay * 2**(attempt-1)`` seconds (capped at
  :data:`MAX_BACKOFF_SECONDS`); every failed attempt is kept (:meth:`Attempt.as_error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "Attempt",
    "AttemptLoop",
    "AttemptTimeout",
    "Attempts",
    "RetryPolicy",
    "error_type",
    "status_of",
]

MAX_BACKOFF_SECONDS = 60.0

T = TypeVar("T")


class AttemptTimeout(TimeoutError):
    """An attempt ran past ``runner.timeout_seconds`` (raised by the runner, not the target)."""


def status_of(error: BaseException | None) -> str:
    """``success`` (no error), ``timeout`` (:class:`AttemptTimeout`) or ``error``."""
    if error is None:
        return "success"
    return "timeout" if isinstance(error, AttemptTimeout) else "error"


def error_type(error: BaseException | None) -> str:
    """The type recorded for a failure: ``TimeoutError`` for a timeout, else the class name."""
    return "TimeoutError" if isinstance(error, AttemptTimeout) else type(error).__name__


@dataclass(frozen=True)
class RetryPolicy:
    """``runner.max_retries`` and ``runner.retry_delay`` (exponential backoff, capped)."""

    max_retries: int = 0
    retry_delay: float = 0.0

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.retry_delay * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)


@dataclass
class Attempt(Generic[T]):
    """One try: its value or error, how long the call took and what its scope held."""

    number: int
    value: T | None = None
    error: BaseException | None = None
    started: float = 0.0  # wall clock (epoch seconds)
    duration_ms: float = 0.0
    scope: Any = None  # what the attempt's scope yielded (the single-turn run's span capture)

    @property
    def status(self) -> str:
        return status_of(self.error)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ended(self) -> float:
        return self.started + self.duration_ms / 1000.0

    def as_error(self) -> dict[str, Any]:
        """The ``attempt_errors`` entry of this (failed) attempt."""
        return {
            "attempt": self.number,
            "status": self.status,
            "type": error_type(self.error),
            "message": str(self.error) if self.error is not None else "",
            "duration_ms": round(self.duration_ms, 3),
        }


@dataclass
class Attempts(Generic[T]):
    """Every attempt of one call, the last one deciding its outcome."""

    tried: list[Attempt[T]] = field(default_factory=list)

    @property
    def last(self) -> Attempt[T]:
        return self.tried[-1]

    @property
    def count(self) -> int:
        return len(self.tried)

    @property
    def earlier(self) -> list[Attempt[T]]:
        """The failed attempts before the last one (each was retried)."""
        return self.tried[:-1]

    def errors(self) -> list[dict[str, Any]]:
        """``attempt_errors``: the retried attempts, oldest first."""
        return [a.as_error() for a in self.earlier]


class AttemptLoop:
    """Tries a call until it succeeds, retries run out or the experiment stops."""

    def __init__(
        self,
        policy: RetryPolicy,
        is_stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.policy = policy
        self.is_stopping = is_stopping

    async def run(
        self,
        call: Callable[[int], Awaitable[T]],
        *,
        scope: Callable[[int], AbstractContextManager[Any]] | None = None,
    ) -> Attempts[T]:
        """``call(attempt_number)`` until it returns; it signals failure by raising.

        ``scope(attempt_number)`` is entered around each attempt, outside its timing (the
        single-turn run captures each attempt's spans in its own trace).
        """
        attempts: Attempts[T] = Attempts()
        number = 0
        while True:
            number += 1
            attempt: Attempt[T] = Attempt(number, started=time.time())
            with scope(number) if scope is not None else contextlib.nullcontext() as held:
                attempt.scope = held
                t0 = time.perf_counter()
                try:
                    attempt.value = await call(number)
                except (Exception, SystemExit) as exc:
                    attempt.error = exc
                attempt.duration_ms = (time.perf_counter() - t0) * 1000.0
            attempts.tried.append(attempt)
            if attempt.ok or number > self.policy.max_retries or self.is_stopping():
                return attempts
            delay = self.policy.backoff(number)
            if delay > 0:
                await asyncio.sleep(delay)
