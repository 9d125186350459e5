"""Reading GenAI facts out of arbitrary call arguments and results.

Token usage from a dict ``usage``, OpenAI / Anthropic style response objects and LangChain
``AIMessage.usage_metadata``; chat messages (dicts with ``role``/``content``, LangChain
messages) converted to the GenAI ``parts`` message format. Every function here is total: it
returns ``None`` rather than raising on shapes it does not recognise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("fluxloop")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


_INT64 = range(-(2**63), 2**63)
_warned_out_of_range = False


def _int(value: Any) -> int | None:
    """A token count; None for anything else, including a number no exporter can carry
    (outside the 64-bit range: OTLP would refuse the whole batch), dropped with a warning."""
    global _warned_out_of_range
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = int(value)
    except (OverflowError, ValueError):  # inf, nan
        return None
    if number in _INT64:
        return number
    if not _warned_out_of_range:
        _warned_out_of_range = True
        logger.warning(
            "fluxloop: a token count outside the 64-bit range was dropped (an integer of %d bits)",
            number.bit_length(),
        )
    return None


def extract_usage(result: Any) -> Usage | None:
    """Token usage of a model call's result, if the result carries any."""
    try:
        return _extract_usage(result)
    except Exception:
        return None


def _extract_usage(result: Any) -> Usage | None:
    if result is None or isinstance(result, str | bytes | int | float):
        return None
    usage_metadata = _get(result, "usage_metadata")  # LangChain AIMessage
    if usage_metadata:
        details_in = _get(usage_metadata, "input_token_details") or {}
        details_out = _get(usage_metadata, "output_token_details") or {}
        return Usage(
            _int(_get(usage_metadata, "input_tokens")),
            _int(_get(usage_metadata, "output_tokens")),
            _int(_get(details_in, "cache_read")),
            _int(_get(details_out, "reasoning")),
        )
    usage = _get(result, "usage")
    if usage is None:
        response_metadata = _get(result, "response_metadata")
        usage = _get(response_metadata, "token_usage") or _get(response_metadata, "usage")
    if usage is None:
        return None
    prompt = _int(_get(usage, "prompt_tokens"))
    completion = _int(_get(usage, "completion_tokens"))
    if prompt is not None or completion is not None:  # OpenAI chat completions
        prompt_details = _get(usage, "prompt_tokens_details")
        completion_details = _get(usage, "completion_tokens_details")
        return Usage(
            prompt,
            completion,
            _int(_get(prompt_details, "cached_tokens")),
            _int(_get(completion_details, "reasoning_tokens")),
        )
    input_tokens = _int(_get(usage, "input_tokens"))
    output_tokens = _int(_get(usage, "output_tokens"))
    if input_tokens is None and output_tokens is None:
        return None
    cache_read = _int(_get(usage, "cache_read_input_tokens"))
    cache_write = _int(_get(usage, "cache_creation_input_tokens"))
    if cache_read is not None or cache_write is not None:  # Anthropic: input excludes cache
        input_tokens = (input_tokens or 0) + (cache_read or 0) + (cache_write or 0)
    details = _get(usage, "input_tokens_details")  # OpenAI Responses API
    if cache_read is None:
        cache_read = _int(_get(details, "cached_tokens"))
    reasoning = _int(_get(_get(usage, "output_tokens_details"), "reasoning_tokens"))
    return Usage(input_tokens, output_tokens, cache_read, reasoning)


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    """Identity and finish reasons of a model response."""

    model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()


def extract_response_info(result: Any) -> ResponseInfo | None:
    """Response model, id and finish reasons of OpenAI / Anthropic / LangChain results."""
    try:
        if result is None or isinstance(result, str | bytes | int | float | list):
            return None
        metadata = _get(result, "response_metadata") or {}
        model = _get(result, "model") or _get(metadata, "model_name") or _get(metadata, "model")
        response_id = (
            _get(result, "id") if _get(result, "choices") or _get(result, "stop_reason") else None
        )
        reasons: list[str] = []
        choices = _items(_get(result, "choices"))
        if choices is not None:
            for choice in choices[:MAX_MESSAGES]:
                reason = _get(choice, "finish_reason")
                if isinstance(reason, str):
                    reasons.append(reason)
        stop = (
            _get(result, "stop_reason")
            or _get(metadata, "finish_reason")
            or _get(metadata, "stop_reason")
        )
        if isinstance(stop, str):
            reasons.append(stop)
        if not (isinstance(model, str) or response_id or reasons):
            return None
        return ResponseInfo(
            model if isinstance(model, str) else None,
            response_id if isinstance(response_id, str) else None,
            tuple(reasons),
        )
    except Exception:
        return None


_ROLE_ALIASES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "user": "user",
    "assistant": "assistant",
    "function": "tool",
    "developer": "system",
}


#: Messages, content blocks, tool calls and choices converted at most (the serializer then
#: applies the attribute size limit; this only bounds the work done on the caller's thread).
MAX_MESSAGES = 1_000


def _items(value: Any) -> list[Any] | tuple[Any, ...] | None:
    """``value`` when it is a concrete list or tuple: anything else (``range``, a custom
    ``Sequence`` claiming any length, a generator) may be lazy and is never iterated."""
    return value if isinstance(value, list | tuple) else None


def to_genai_messages(value: Any) -> list[dict[str, Any]] | None:
    """Convert chat messages to the GenAI input-messages format, or None if not messages.

    Only a list or tuple is considered (never a lazy sequence such as ``range``), and only
    its first :data:`MAX_MESSAGES` items: the first item that is not a message ends the look.
    """
    try:
        items = _items(value)
        if not items:
            return None
        messages = []
        for item in items[:MAX_MESSAGES]:
            message = _message(item)
            if message is None:
                return None
            messages.append(message)
        return messages
    except Exception:
        return None


def _message(item: Any) -> dict[str, Any] | None:
    role = _get(item, "role") or _get(item, "type")
    if not isinstance(role, str) or role.lower() not in _ROLE_ALIASES:
        return None
    parts: list[dict[str, Any]] = []
    content = _get(item, "content")
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    elif (blocks := _items(content)) is not None:
        for block in blocks[:MAX_MESSAGES]:
            if isinstance(block, str):
                parts.append({"type": "text", "content": block})
            elif _get(block, "type") == "text":
                parts.append({"type": "text", "content": _get(block, "text")})
    for call in (_items(_get(item, "tool_calls")) or ())[:MAX_MESSAGES]:
        function = _get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": _get(call, "id"),
                "name": _get(call, "name") or _get(function, "name"),
                "arguments": _get(call, "args") or _get(function, "arguments"),
            }
        )
    call_id = _get(item, "tool_call_id")
    if call_id is not None:
        parts = [{"type": "tool_call_response", "id": call_id, "response": content}]
    return {"role": _ROLE_ALIASES[role.lower()], "parts": parts}


def output_messages(result: Any) -> list[dict[str, Any]] | None:
    """The GenAI output-messages form of a model result (one message per choice)."""
    try:
        if isinstance(result, str):
            return [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": result}],
                    "finish_reason": "stop",
                }
            ]
        choices = _items(_get(result, "choices"))
        if choices:
            out = []
            for choice in choices[:MAX_MESSAGES]:
                chosen = _message(_get(choice, "message")) or {"role": "assistant", "parts": []}
                chosen["finish_reason"] = _get(choice, "finish_reason") or "stop"
                out.append(chosen)
            return out
        message: dict[str, Any] | None = _message(result)
        if message is None and isinstance(result, Mapping):  # {"content": ..., "usage": ...}
            content = result.get("content")
            if isinstance(content, str):
                message = {"role": "assistant", "parts": [{"type": "text", "content": content}]}
        if message is None and _get(result, "stop_reason") is not None:  # Anthropic Message
            message = {"role": "assistant", "parts": []}
            for block in (_items(_get(result, "content")) or ())[:MAX_MESSAGES]:
                if _get(block, "type") == "text":
                    message["parts"].append({"type": "text", "content": _get(block, "text")})
                elif _get(block, "type") == "tool_use":
                    message["parts"].append(
                        {
                            "type": "tool_call",
                            "id": _get(block, "id"),
                            "name": _get(block, "name"),
                            "arguments": _get(block, "input"),
                        }
                    )
        if message is None:
            return None
        metadata = _get(result, "response_metadata") or {}
        message["role"] = "assistant"
        message["finish_reason"] = (
            _get(metadata, "finish_reason") or _get(result, "stop_reason") or "stop"
        )
        return [message]
    except Exception:
        return None


_PROVIDER_PREFIXES = (
    (("gpt-", "o1", "o3", "o4", "chatgpt", "text-embedding", "davinci"), "openai"),
    (("claude",), "anthropic"),
    (("gemini",), "gcp.gemini"),
    (("mistral", "mixtral", "codestral"), "mistral_ai"),
    (("command",), "cohere"),
    (("deepseek",), "deepseek"),
    (("grok",), "x_ai"),
)


def infer_provider(model: str | None) -> str | None:
    """The well-known ``gen_ai.provider.name`` for a model name, when it is unambiguous."""
    if not model:
        return None
    lowered = model.lower().rsplit("/", 1)[-1]
    for prefixes, provider in _PROVIDER_PREFIXES:
        if lowered.startswith(prefixes):
            return provider
    return None
