"""The usage meter: calls, cache hits, retries and tokens of one client (live and in outputs)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["UsageMeter", "usage_of"]

_ZERO = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@dataclass
class UsageMeter:
    """What a client spent. ``attempts`` counts every request sent (failed ones included; the
    judge's ``llm.calls`` and ``limits.max_llm_calls``); ``calls`` the answered ones."""

    attempts: int = 0
    calls: int = 0
    cached: int = 0
    retries: int = 0
    rate_limited: int = 0
    malformed: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: called after every change (a live progress line); their errors are ignored
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
        """The numbers written to outputs (``generation.usage``, ``simulator_usage``)."""
        return {
            "calls": self.calls,
            "cached_calls": self.cached,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "malformed_replies": self.malformed,
            "failed_calls": self.failed,
            **self.tokens(),
        }


def _triple(prompt: int, completion: int, total: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total or prompt + completion,
    }


def usage_of(message: Any) -> dict[str, int]:
    """Token usage of an AI message (``usage_metadata``, else the provider's metadata)."""
    meta = getattr(message, "usage_metadata", None)
    if isinstance(meta, Mapping) and meta:
        return _triple(
            int(meta.get("input_tokens") or 0),
            int(meta.get("output_tokens") or 0),
            int(meta.get("total_tokens") or 0),
        )
    response = getattr(message, "response_metadata", None)
    usage = (
        response.get("token_usage") or response.get("usage")
        if isinstance(response, Mapping)
        else None
    )
    if isinstance(usage, Mapping):
        return _triple(
            int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0),
            int(usage.get("completion_tokens") or usage.get("output_tokens") or 0),
            int(usage.get("total_tokens") or 0),
        )
    return dict(_ZERO)
