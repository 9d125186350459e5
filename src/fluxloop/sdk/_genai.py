"""Reading GenAI facts out of arbitrary call arguments and results.

Token usage from a dict ``usage``, OpenAI / Anthropic style response objects and LangChain
``AIMessage.usage_metadata``; chat messages (dicts with ``role``/``content``, LangChain
messages) converted to the GenAI ``parts`` message format. Every function here is total: it
returns ``None`` rather than raising on shapes it does not recognise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


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
        choices = _get(result, "choices")
        if isinstance(choices, Sequence):
            for choice in choices:
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


def to_genai_messages(value: Any) -> list[dict[str, Any]] | None:
    """Convert chat messages to the GenAI input-messages format, or None if not messages."""
    try:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
            return None
        messages = [_message(item) for item in value]
        if any(message is None for message in messages):
            return None
        return [m for m in messages if m is not None]
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
    elif isinstance(content, Sequence):
        for block in content:
            if isinstance(block, str):
                parts.append({"type": "text", "content": block})
            elif _get(block, "type") == "text":
                parts.append({"type": "text", "content": _get(block, "text")})
    for call in _get(item, "tool_calls") or ():
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
        choices = _get(result, "choices")
        if isinstance(choices, Sequence) and not isinstance(choices, str) and choices:
            out = []
            for choice in choices:
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
            for block in _get(result, "content") or ():
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
