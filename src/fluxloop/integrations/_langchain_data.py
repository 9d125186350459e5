"""Reading GenAI facts out of LangChain callback payloads (pure functions, never raising).

Model and provider of a chat model run, request parameters, the GenAI message forms of the
prompt and of an ``LLMResult``, finish reasons, token usage, tool arguments and retrieved
documents. Everything here returns ``None`` (or an empty value) for shapes it does not know.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from fluxloop.sdk import Usage, extract_usage, infer_provider, to_genai_messages

#: ``ls_provider`` / ``_llm_type`` values of LangChain integrations -> ``gen_ai.provider.name``.
_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "openai-chat": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure-openai-chat": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "azure-ai-inference": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic-chat": "anthropic",
    "google_genai": "gcp.gemini",
    "google-genai": "gcp.gemini",
    "google_gemini": "gcp.gemini",
    "gemini": "gcp.gemini",
    "google_vertexai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "amazon_bedrock": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "amazon_bedrock_converse_chat": "aws.bedrock",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "mistralai-chat": "mistral_ai",
    "groq": "groq",
    "groq-chat": "groq",
    "cohere": "cohere",
    "cohere-chat": "cohere",
    "deepseek": "deepseek",
    "deepseek-chat": "deepseek",
    "xai": "x_ai",
    "xai-chat": "x_ai",
    "perplexity": "perplexity",
    "perplexitychat": "perplexity",
    "ibm": "ibm.watsonx.ai",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}

_MODEL_KEYS = ("model", "model_name", "model_id", "deployment_name", "azure_deployment")
_MAX_TOKEN_KEYS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_new_tokens")


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def model_name(
    invocation_params: Mapping[str, Any] | None, metadata: Mapping[str, Any]
) -> str | None:
    """The requested model of a chat model / LLM run."""
    params = invocation_params or {}
    for key in _MODEL_KEYS:
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    value = metadata.get("ls_model_name")
    return value if isinstance(value, str) and value else None


def provider_name(
    invocation_params: Mapping[str, Any] | None, metadata: Mapping[str, Any], model: str | None
) -> str | None:
    """``gen_ai.provider.name``: a well-known value when the integration is recognised.

    Reads LangChain's ``ls_provider`` metadata and the model's ``_llm_type``; falls back to a
    guess from the model name, then to the raw ``ls_provider`` / ``_llm_type`` (custom values
    are allowed by the conventions).
    """
    params = invocation_params or {}
    candidates = [metadata.get("ls_provider"), params.get("_type")]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.lower() in _PROVIDERS:
            return _PROVIDERS[candidate.lower()]
    guessed = infer_provider(model)
    if guessed:
        return guessed
    for candidate in candidates:
        if isinstance(candidate, str) and candidate:
            return candidate.lower()
    return None


def request_parameters(invocation_params: Mapping[str, Any] | None) -> dict[str, float | int]:
    """Temperature, max tokens and top_p of the request, keyed by their short names."""
    params = invocation_params or {}
    found: dict[str, float | int] = {}
    temperature = params.get("temperature")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool):
        found["temperature"] = float(temperature)
    top_p = params.get("top_p")
    if isinstance(top_p, int | float) and not isinstance(top_p, bool):
        found["top_p"] = float(top_p)
    for key in _MAX_TOKEN_KEYS:
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            found["max_tokens"] = value
            break
    return found


def chat_input_messages(messages: Sequence[Sequence[Any]]) -> list[dict[str, Any]] | None:
    """The GenAI input-messages form of ``on_chat_model_start``'s first message list."""
    try:
        if not messages:
            return None
        return to_genai_messages(list(messages[0]))
    except Exception:
        return None


def prompt_input_messages(prompts: Sequence[str]) -> list[dict[str, Any]] | None:
    """The GenAI input-messages form of ``on_llm_start``'s prompts (one user message each)."""
    if not prompts:
        return None
    return [
        {"role": "user", "parts": [{"type": "text", "content": prompt}]}
        for prompt in prompts
        if isinstance(prompt, str)
    ]


def _generations(response: Any) -> list[Any]:
    generations = _get(response, "generations") or []
    if generations and isinstance(generations[0], Sequence):
        return list(generations[0])
    return list(generations)


def finish_reason(generation: Any) -> str:
    """The finish reason of one generation: provider value, ``tool_call`` or ``stop``."""
    info = _get(generation, "generation_info") or {}
    message = _get(generation, "message")
    metadata = _get(message, "response_metadata") or {}
    for source in (info, metadata):
        for key in ("finish_reason", "stop_reason", "done_reason"):
            value = _get(source, key)
            if isinstance(value, str) and value:
                return value
    if _get(message, "tool_calls"):
        return "tool_call"
    return "stop"


def output_messages(response: Any) -> list[dict[str, Any]] | None:
    """One GenAI output message per generation of an ``LLMResult``."""
    try:
        out: list[dict[str, Any]] = []
        for generation in _generations(response):
            message = _get(generation, "message")
            converted = to_genai_messages([message]) if message is not None else None
            if converted:
                entry = converted[0]
                entry["role"] = "assistant"
            else:
                text = _get(generation, "text")
                parts = (
                    [{"type": "text", "content": text}] if isinstance(text, str) and text else []
                )
                entry = {"role": "assistant", "parts": parts}
            entry["finish_reason"] = finish_reason(generation)
            out.append(entry)
        return out or None
    except Exception:
        return None


def finish_reasons(response: Any) -> list[str]:
    """``gen_ai.response.finish_reasons``: one per generation."""
    try:
        return [finish_reason(generation) for generation in _generations(response)]
    except Exception:
        return []


def usage(response: Any) -> Usage | None:
    """Token usage of an ``LLMResult``: summed ``usage_metadata``, else ``llm_output``."""
    try:
        totals: list[Usage] = []
        for generation in _generations(response):
            found = extract_usage(_get(generation, "message"))
            if found is not None:
                totals.append(found)
        if totals:
            return Usage(*(_sum(getattr(u, f.name) for u in totals) for f in fields(Usage)))
        llm_output = _get(response, "llm_output") or {}
        for key in ("token_usage", "usage"):
            raw = _get(llm_output, key)
            if raw:
                return extract_usage({"usage": raw})
        return None
    except Exception:
        return None


def _sum(values: Any) -> int | None:
    numbers = [v for v in values if isinstance(v, int)]
    return sum(numbers) if numbers else None


def response_identity(response: Any) -> tuple[str | None, str | None]:
    """``(response model, response id)`` of an ``LLMResult``, when the provider reported them."""
    try:
        model: str | None = None
        response_id: str | None = None
        for generation in _generations(response):
            message = _get(generation, "message")
            metadata = _get(message, "response_metadata") or {}
            candidate = _get(metadata, "model_name") or _get(metadata, "model")
            if isinstance(candidate, str) and candidate and model is None:
                model = candidate
            rid = _get(metadata, "id") or _get(message, "id")
            if isinstance(rid, str) and rid and not rid.startswith(("run-", "lc_run")):
                response_id = response_id or rid
        llm_output = _get(response, "llm_output") or {}
        if model is None:
            candidate = _get(llm_output, "model_name") or _get(llm_output, "model")
            if isinstance(candidate, str) and candidate:
                model = candidate
        return model, response_id
    except Exception:
        return None, None


def tool_arguments(input_str: Any, inputs: Mapping[str, Any] | None) -> Any:
    """The tool call's arguments: ``inputs`` when given, else ``input_str`` parsed if possible."""
    if inputs is not None:
        return dict(inputs)
    if not isinstance(input_str, str):
        return input_str
    text = input_str.strip()
    if text[:1] in {"{", "["}:
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:  # LangChain passes str(dict) for dict inputs
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return input_str


def tool_result(output: Any) -> tuple[Any, str | None]:
    """``(result, tool_call_id)`` of ``on_tool_end``'s output (a ToolMessage or a value)."""
    if _get(output, "type") == "tool" and hasattr(output, "content"):
        call_id = _get(output, "tool_call_id")
        return _get(output, "content"), call_id if isinstance(call_id, str) else None
    return output, None


def tool_failed(output: Any) -> bool:
    """True when the tool returned an error ToolMessage (``status="error"``)."""
    return bool(_get(output, "type") == "tool" and _get(output, "status") == "error")


def documents(docs: Any) -> list[dict[str, Any]]:
    """``gen_ai.retrieval.documents``: ``id``, ``score``, ``content``, ``metadata`` per doc."""
    out: list[dict[str, Any]] = []
    try:
        for doc in docs or ():
            metadata = _get(doc, "metadata") or {}
            entry: dict[str, Any] = {}
            doc_id = _get(doc, "id") or _get(metadata, "id")
            if doc_id is not None:
                entry["id"] = str(doc_id)
            score = _get(metadata, "score") or _get(metadata, "relevance_score")
            if isinstance(score, int | float) and not isinstance(score, bool):
                entry["score"] = score
            content = _get(doc, "page_content")
            entry["content"] = content if isinstance(content, str) else str(doc)
            if metadata:
                entry["metadata"] = dict(metadata)
            out.append(entry)
    except Exception:
        return out
    return out


def conversation_id(metadata: Mapping[str, Any]) -> str | None:
    """``gen_ai.conversation.id`` from the run metadata (LangGraph's ``thread_id`` and friends)."""
    for key in ("conversation_id", "thread_id", "session_id"):
        value = metadata.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None
