"""Failed model calls: HTTP status, ``Retry-After``, transient or fatal, backoff, description."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

__all__ = [
    "FATAL_STATUS",
    "RETRYABLE_STATUS",
    "backoff_delay",
    "describe_error",
    "is_fatal",
    "is_retryable",
    "is_transient",
    "retry_after_seconds",
    "status_of",
]

#: statuses worth another attempt (rate limits, overload, gateway trouble)
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
#: statuses every other call would share (authentication, permission, unknown model)
FATAL_STATUS = frozenset({401, 403, 404})


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a provider error (``status_code`` of it or its response, ``status``)."""
    for holder in (exc, getattr(exc, "response", None)):
        value = getattr(holder, "status_code", None) if holder is not None else None
        if isinstance(value, int):
            return value
    value = getattr(exc, "status", None)
    return value if isinstance(value, int) else None


def retry_after_seconds(exc: BaseException, now: float | None = None) -> float | None:
    """The server's requested wait: ``exc.retry_after``, else the response's
    ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date, relative to ``now``)."""
    direct = getattr(exc, "retry_after", None)
    if isinstance(direct, (int, float)) and not isinstance(direct, bool):
        return max(0.0, float(direct))
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000.0)
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def is_fatal(exc: BaseException) -> bool:
    """A failure every other call would share (401, 403, 404): stop rather than retry."""
    return status_of(exc) in FATAL_STATUS


def is_transient(exc: BaseException) -> bool:
    """Worth another attempt: a retryable status, or, without a status, a timeout, a
    connection error or an "overloaded" error (judged by the exception's class names)."""
    status = status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    names = " ".join(c.__name__ for c in type(exc).__mro__)
    return any(word in names for word in ("Timeout", "Connection", "Overloaded"))


def is_retryable(exc: BaseException) -> bool:
    """Worth another attempt: transient, or an error without an HTTP status (a custom model's
    own) that is not fatal; never a non-retryable status (400, 422, ...)."""
    return not is_fatal(exc) and (is_transient(exc) or status_of(exc) is None)


def backoff_delay(
    exc: BaseException,
    attempt: int,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): the server's Retry-After,
    else ``base * 2**(attempt-1)`` (jittered to 50-100% with ``rng``), at most ``cap``."""
    wait = retry_after_seconds(exc)
    if wait is None:
        wait = base * (2 ** (attempt - 1))
        if rng is not None:
            wait *= 0.5 + rng.random() / 2
    return min(wait, cap)


def describe_error(exc: BaseException) -> str:
    """``HTTP 429: RateLimitError: first line of the message`` (at most ~200 characters);
    ``timed out`` for a TimeoutError."""
    if isinstance(exc, TimeoutError) and not str(exc).strip():
        return "timed out"
    status = status_of(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 200:
        text = text[:197] + "..."
    prefix = f"HTTP {status}: " if status else ""
    return f"{prefix}{type(exc).__name__}{': ' + text if text else ''}"
