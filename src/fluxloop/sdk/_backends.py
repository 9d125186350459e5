"""Content where OTLP backends look: attributes added to FluxLoop's spans on the export thread.

FluxLoop's decorators record inputs and outputs once (``fluxloop.input`` / ``fluxloop.output``,
or the GenAI attribute the convention defines, such as ``gen_ai.tool.call.arguments``); the JSONL
contract reads them from there. Backends fed over OTLP read other names, so before a batch
leaves through a non-JSONL exporter, :func:`enrich_spans` adds, to spans of FluxLoop's own tracers
and where the span does not carry them already:

* the standard ``session.id`` / ``user.id`` beside ``fluxloop.session.id`` / ``fluxloop.user.id``;
* ``gen_ai.input.messages`` / ``gen_ai.output.messages`` on agent and chat spans (the input or
  output as one user / assistant text message);
* ``gen_ai.retrieval.query.text`` / ``gen_ai.retrieval.documents`` on retrieval spans;
* on the local root span of a trace that is none of those (``fluxloop.instrument()``, a
  ``@trace``): ``gen_ai.operation.name=invoke_workflow`` and ``gen_ai.workflow.name``, plus
  ``openinference.span.kind=CHAIN`` (backends that map GenAI operations to span kinds, such as
  Phoenix, have none for a workflow and would show it UNKNOWN);
* with ``FLUXLOOP_EXTRA_ATTRIBUTES=openinference``: the OpenInference dialect too
  (``openinference.span.kind``, ``input.value``/``output.value`` with their MIME types,
  ``llm.model_name``/``llm.provider``/``llm.token_count.*``, ``llm.input_messages.*`` /
  ``llm.output_messages.*``, ``retrieval.documents.*``, ``tool.name``), for backends that read
  only that dialect (Arize Phoenix).

Everything is derived from attributes that were already masked and bounded on their way in (the
SDK's one masking module), so nothing here sees a raw value. Run on the export thread, it costs
the caller nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fluxloop_exporters import observation_type
from fluxloop_semconv import attributes as attr
from opentelemetry.sdk.trace import ReadableSpan

from fluxloop.sdk._config import SDKConfig

__all__ = ["backend_attributes", "enrich_spans", "enricher"]

OWN_SCOPES = frozenset({"fluxloop", "fluxloop.langchain"})

# The standard (non-GenAI) attribute names backends group sessions and users by.
SESSION_ID = "session.id"
USER_ID = "user.id"

# The OpenInference dialect (Arize): span kinds and attribute names it reads.
_OI_KIND = "openinference.span.kind"
_OI_KINDS = {
    "agent": "AGENT",
    "tool": "TOOL",
    "generation": "LLM",
    "embedding": "EMBEDDING",
    "retrieval": "RETRIEVER",
    "chain": "CHAIN",
    "span": "CHAIN",
    "evaluation": "EVALUATOR",
}
_JSON_MIME = "application/json"
_TEXT_MIME = "text/plain"

_INPUT_KEYS = (
    attr.FLUXLOOP_INPUT,
    attr.GEN_AI_TOOL_CALL_ARGUMENTS,
    attr.GEN_AI_INPUT_MESSAGES,
    attr.GEN_AI_RETRIEVAL_QUERY_TEXT,
)
_OUTPUT_KEYS = (
    attr.FLUXLOOP_OUTPUT,
    attr.GEN_AI_TOOL_CALL_RESULT,
    attr.GEN_AI_OUTPUT_MESSAGES,
    attr.GEN_AI_RETRIEVAL_DOCUMENTS,
)


def enricher(config: SDKConfig) -> Callable[[Sequence[ReadableSpan]], None]:
    """The export-thread hook for ``config`` (OpenInference extras as it says)."""
    openinference = "openinference" in config.extra_attributes
    return lambda spans: enrich_spans(spans, openinference=openinference)


def enrich_spans(spans: Sequence[ReadableSpan], *, openinference: bool = False) -> None:
    """Add :func:`backend_attributes` to every span of FluxLoop's tracers, in place."""
    for span in spans:
        scope = span.instrumentation_scope
        if scope is None or scope.name not in OWN_SCOPES:
            continue
        attributes = span.attributes or {}
        extra = backend_attributes(
            attributes,
            span_name=span.name,
            is_root=span.parent is None or span.parent.is_remote,
            openinference=openinference,
        )
        if extra and hasattr(span, "_attributes"):
            span._attributes = {**extra, **attributes}  # what the span set itself wins


def backend_attributes(
    attributes: Mapping[str, Any],
    *,
    span_name: str = "",
    is_root: bool = False,
    openinference: bool = False,
) -> dict[str, Any]:
    """The attributes backends read that ``attributes`` (a FluxLoop span's) imply."""
    out: dict[str, Any] = {}
    get = attributes.get
    session, user = get(attr.FLUXLOOP_SESSION_ID), get(attr.FLUXLOOP_USER_ID)
    if session is not None:
        out[SESSION_ID] = session
    if user is not None:
        out[USER_ID] = user
    kind = observation_type(attributes)
    raw_in = _first(attributes, _INPUT_KEYS)
    raw_out = _first(attributes, _OUTPUT_KEYS)
    if kind in {"agent", "generation"}:
        if get(attr.GEN_AI_INPUT_MESSAGES) is None and raw_in is not None:
            out[attr.GEN_AI_INPUT_MESSAGES] = _messages("user", raw_in)
        if get(attr.GEN_AI_OUTPUT_MESSAGES) is None and raw_out is not None:
            out[attr.GEN_AI_OUTPUT_MESSAGES] = _messages("assistant", raw_out)
    elif kind == "retrieval":
        if get(attr.GEN_AI_RETRIEVAL_QUERY_TEXT) is None and raw_in is not None:
            out[attr.GEN_AI_RETRIEVAL_QUERY_TEXT] = _text(raw_in)
        documents = _documents(get(attr.GEN_AI_RETRIEVAL_DOCUMENTS) or get(attr.FLUXLOOP_OUTPUT))
        if get(attr.GEN_AI_RETRIEVAL_DOCUMENTS) is None and documents is not None:
            out[attr.GEN_AI_RETRIEVAL_DOCUMENTS] = json.dumps(documents, ensure_ascii=False)
    elif kind == "chain" and get(attr.GEN_AI_OPERATION_NAME) is None:
        out[_OI_KIND] = "CHAIN"  # LangChain chains and LangGraph nodes: no GenAI kind exists
    elif kind == "span" and is_root and get(attr.GEN_AI_OPERATION_NAME) is None:
        out[attr.GEN_AI_OPERATION_NAME] = "invoke_workflow"
        out[attr.GEN_AI_WORKFLOW_NAME] = span_name
        # backends that map GenAI operations to kinds (Phoenix) have no kind for a workflow
        out[_OI_KIND] = "CHAIN"
        kind = "chain"
    if openinference:
        out.update(_openinference(attributes, kind, raw_in, raw_out, out))
    return out


def _openinference(
    attributes: Mapping[str, Any], kind: str, raw_in: Any, raw_out: Any, added: Mapping[str, Any]
) -> dict[str, Any]:
    get = attributes.get
    out: dict[str, Any] = {_OI_KIND: _OI_KINDS.get(kind, "CHAIN")}
    for prefix, raw in (("input", raw_in), ("output", raw_out)):
        if raw is not None:
            text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
            out[f"{prefix}.value"] = text
            out[f"{prefix}.mime_type"] = _JSON_MIME if _is_json(text) else _TEXT_MIME
    model = get(attr.GEN_AI_RESPONSE_MODEL) or get(attr.GEN_AI_REQUEST_MODEL)
    if kind in {"generation", "embedding"}:
        if model is not None:
            key = "llm.model_name" if kind == "generation" else "embedding.model_name"
            out[key] = model
        provider = get(attr.GEN_AI_PROVIDER_NAME)
        if provider is not None:
            out["llm.provider"] = provider
        prompt = get(attr.GEN_AI_USAGE_INPUT_TOKENS)
        completion = get(attr.GEN_AI_USAGE_OUTPUT_TOKENS)
        if isinstance(prompt, int):
            out["llm.token_count.prompt"] = prompt
        if isinstance(completion, int):
            out["llm.token_count.completion"] = completion
        if isinstance(prompt, int) or isinstance(completion, int):
            out["llm.token_count.total"] = (prompt or 0) + (completion or 0)
        for direction, key in (
            ("input", attr.GEN_AI_INPUT_MESSAGES),
            ("output", attr.GEN_AI_OUTPUT_MESSAGES),
        ):
            for index, message in enumerate(_parsed_messages(get(key) or added.get(key))):
                base = f"llm.{direction}_messages.{index}.message"
                out[f"{base}.role"] = message[0]
                out[f"{base}.content"] = message[1]
    elif kind == "tool":
        name = get(attr.GEN_AI_TOOL_NAME)
        if name is not None:
            out["tool.name"] = name
        description = get(attr.GEN_AI_TOOL_DESCRIPTION)
        if description is not None:
            out["tool.description"] = description
    elif kind == "retrieval":
        raw_docs = added.get(attr.GEN_AI_RETRIEVAL_DOCUMENTS) or get(
            attr.GEN_AI_RETRIEVAL_DOCUMENTS
        )
        for index, document in enumerate(_documents(raw_docs) or ()):
            base = f"retrieval.documents.{index}.document"
            for field in ("id", "content", "score"):
                if document.get(field) is not None:
                    out[f"{base}.{field}"] = document[field]
    return out


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and type(value) is not bytes:
            return value
    return None


def _decode(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _text(raw: Any) -> str:
    """A value as message text: a string as itself, a one-string mapping (``{"message": "hi"}``)
    as that string, anything else as its JSON."""
    value = _decode(raw)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and len(value) == 1:
        (only,) = value.values()
        if isinstance(only, str):
            return only
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])
    return raw if isinstance(raw, str) else json.dumps(value, ensure_ascii=False, default=str)


def _messages(role: str, raw: Any) -> str:
    message: dict[str, Any] = {"role": role, "parts": [{"type": "text", "content": _text(raw)}]}
    if role == "assistant":
        message["finish_reason"] = "stop"
    return json.dumps([message], ensure_ascii=False)


def _parsed_messages(raw: Any) -> list[tuple[str, str]]:
    """(role, text) of each GenAI-format message in ``raw`` (a JSON string)."""
    value = _decode(raw)
    out: list[tuple[str, str]] = []
    if not isinstance(value, list):
        return out
    for message in value:
        if not isinstance(message, Mapping):
            continue
        texts = [
            str(part.get("content"))
            for part in message.get("parts") or ()
            if isinstance(part, Mapping) and part.get("type") == "text"
        ]
        out.append((str(message.get("role") or "user"), "".join(texts)))
    return out


def _documents(raw: Any) -> list[dict[str, Any]] | None:
    """Retrieved documents as ``[{id, score, content}]`` (GenAI retrieval documents), from a list
    of strings, of mappings (``page_content``/``content``/``text``, ``id``, ``score``,
    ``metadata``) or of ``(document, score)`` pairs."""
    value = _decode(raw)
    if not isinstance(value, list):
        return None
    documents: list[dict[str, Any]] = []
    for index, entry in enumerate(value):
        item, score = entry, None
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int | float):
            item, score = entry
        if isinstance(item, str):
            documents.append({"id": str(index), "content": item, "score": score})
        elif isinstance(item, Mapping):
            content = item.get("page_content") or item.get("content") or item.get("text")
            found = item.get("metadata")
            metadata: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            doc_id = item.get("id") or metadata.get("id") or str(index)
            doc_score = item.get("score", score)
            documents.append(
                {
                    "id": str(doc_id),
                    "content": content if isinstance(content, str) else json.dumps(item),
                    "score": doc_score if isinstance(doc_score, int | float) else None,
                }
            )
        else:
            return None
    return [{k: v for k, v in d.items() if v is not None} for d in documents]


def _is_json(text: str) -> bool:
    head = text.lstrip()[:1]
    return head in {"{", "["}
