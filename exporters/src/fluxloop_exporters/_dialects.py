"""The dialect table: what other tracing libraries' span attributes mean in the FluxLoop contract.

FluxLoop reads the OpenTelemetry GenAI conventions and its own ``fluxloop.*`` attributes natively
(:mod:`._contract`). Spans from the rest of the ecosystem say the same things in their own words:

* **OpenInference** (Arize Phoenix; ``openinference-instrumentation-*``):
  ``openinference.span.kind``, ``input.value``/``output.value`` (+ ``*.mime_type``),
  ``llm.model_name``, ``llm.provider``,
  ``llm.token_count.*``, ``llm.input_messages.N.message.*``, ``llm.output_messages.N.message.*``,
  ``tool.name``, ``retrieval.documents.N.document.*``, ``session.id``, ``user.id``, ``metadata``,
  ``tag.tags``;
* **OpenLLMetry / Traceloop**: ``traceloop.span.kind``, ``traceloop.entity.name/input/output``,
  ``traceloop.workflow.name``, ``traceloop.association.properties.*``, and the older LLM attributes
  ``llm.request.type``, ``gen_ai.prompt.N.*``, ``gen_ai.completion.N.*``,
  ``gen_ai.usage.prompt_tokens/completion_tokens``, ``llm.usage.total_tokens``;
* **Langfuse** (its OpenTelemetry-based SDK): ``langfuse.observation.*`` and ``langfuse.trace.*``,
  ``langfuse.session.id`` / ``langfuse.user.id``;
* **MLflow** tracing: ``mlflow.spanType``, ``mlflow.spanInputs``, ``mlflow.spanOutputs``,
  ``mlflow.chat.tokenUsage``;
* **Pydantic Logfire / pydantic-ai**: ``logfire.msg`` (the formatted span message), ``agent_name``,
  ``pydantic_ai.all_messages`` / ``all_messages_events`` and ``final_result`` (the agent's input
  and output), ``tool_arguments`` / ``tool_response``.

:func:`translate` reads one span's attributes and returns a :class:`Mapped` with what they say
(observation type, name, input, output, model, tokens, level/error, and the trace-level session,
user, tags, metadata and name); it removes the attributes it consumed from the dict it is given.
The caller (the contract encoder, and readers upgrading records written before this table)
uses a mapped value only where the GenAI conventions or ``fluxloop.*`` said nothing: the
conventions win.

It is total: a value of an unexpected type (a number where text is expected, invalid JSON in
``input.value``, an absurd message index) is kept as text, the rest is mapped, and a note says so
in :attr:`Mapped.notes`. :func:`has_dialect` is the cheap test the encoder runs on every span.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _json

__all__ = ["DIALECTS", "MARKERS", "Mapped", "has_dialect", "translate"]

#: The dialects this table knows, in the order they are tried (first match fills a field).
DIALECTS = ("openinference", "traceloop", "langfuse", "mlflow", "logfire")

# Keys whose presence means "some dialect to map" (an exact-key set: one C-level intersection).
MARKERS = frozenset(
    {
        # OpenInference
        "openinference.span.kind",
        "input.value",
        "output.value",
        "llm.model_name",
        "session.id",
        "user.id",
        "tag.tags",
        # Traceloop / OpenLLMetry
        "traceloop.span.kind",
        "traceloop.entity.name",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "traceloop.workflow.name",
        "llm.request.type",
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.0.role",
        "gen_ai.completion.0.content",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.total_tokens",
        # Langfuse
        "langfuse.observation.type",
        "langfuse.observation.input",
        "langfuse.observation.output",
        "langfuse.trace.name",
        "langfuse.trace.tags",
        "langfuse.session.id",
        "langfuse.user.id",
        "langfuse.trace.metadata",
        "langfuse.trace.input",
        "langfuse.observation.metadata",
        "langfuse.observation.level",
        "langfuse.observation.model.name",
        "langfuse.observation.usage_details",
        # MLflow
        "mlflow.spanType",
        "mlflow.spanInputs",
        "mlflow.spanOutputs",
        # Logfire / pydantic-ai
        "logfire.msg",
        "logfire.msg_template",
        "pydantic_ai.all_messages",
        "all_messages_events",
        "final_result",
        "tool_arguments",
        "tool_response",
    }
)


_MAX_COUNT = 2**63 - 1  # token counts beyond int64 are not counts (readers store int64)
_MAX_INDEX = 10_000  # a larger list index is kept as text with a note, never allocated
_NOTE_LIMIT = 10

_OI_TYPES = {
    "LLM": "generation",
    "CHAIN": "chain",
    "TOOL": "tool",
    "AGENT": "agent",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "EMBEDDING": "embedding",
    "EVALUATOR": "evaluation",
    "GUARDRAIL": "span",
    "PROMPT": "span",
}
_TRACELOOP_TYPES = {"workflow": "chain", "task": "span", "agent": "agent", "tool": "tool"}
_TRACELOOP_REQUEST_TYPES = {
    "chat": "generation",
    "completion": "generation",
    "embedding": "embedding",
    "rerank": "retrieval",
}
_LANGFUSE_TYPES = {
    "span": "span",
    "generation": "generation",
    "event": "event",
    "agent": "agent",
    "tool": "tool",
    "chain": "chain",
    "retriever": "retrieval",
    "evaluator": "evaluation",
    "embedding": "embedding",
    "guardrail": "span",
}
_MLFLOW_TYPES = {
    "LLM": "generation",
    "CHAT_MODEL": "generation",
    "CHAIN": "chain",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retrieval",
    "RERANKER": "retrieval",
    "EMBEDDING": "embedding",
    "PARSER": "span",
    "UNKNOWN": "span",
}
_LEVELS = {"DEBUG": "debug", "DEFAULT": "info", "WARNING": "warning", "ERROR": "error"}

_MISSING: Any = object()


@dataclass(slots=True)
class Mapped:
    """What a span's dialect attributes say; ``None`` (or :data:`MISSING`) where silent."""

    dialects: list[str] = field(default_factory=list)
    type: str | None = None
    name: str | None = None
    input: Any = _MISSING
    output: Any = _MISSING
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    level: str | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    user_id: str | None = None
    tags: list[str] = field(default_factory=list)
    trace_name: str | None = None
    trace_input: Any = _MISSING
    trace_output: Any = _MISSING
    trace_metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    keys: dict[str, list[str]] = field(default_factory=dict)
    """The flattened keys (``prefix.N.…``, ``langfuse.…``) by prefix, found in one pass."""

    def note(self, text: str) -> None:
        """Record one value kept as text (the first few)."""
        if len(self.notes) < _NOTE_LIMIT:
            self.notes.append(text)


MISSING: Any = _MISSING
"""The "said nothing" value of :attr:`Mapped.input` / ``output`` (``None`` is a real value)."""


def has_dialect(attrs: Mapping[str, Any]) -> bool:
    """Whether ``attrs`` carry anything :func:`translate` maps (cheap: the encoder's hot path)."""
    # exact keys only (one C-level pass): every dialect sets one of them on the spans that
    # carry its flattened keys (llm.input_messages.N... comes with openinference.span.kind)
    return not MARKERS.isdisjoint(attrs.keys())


# ---------------------------------------------------------------------------------------------
# value helpers (each total)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _json_or_text(value: Any, key: str, mapped: Mapped, *, json_hint: bool = True) -> Any:
    """A JSON-encoded attribute decoded; text that is not JSON is kept as text (with a note when
    ``json_hint`` says it should have been JSON)."""
    if type(value) is not str:
        if isinstance(value, (list, tuple)):
            return list(value)
        return value
    stripped = value.lstrip()
    if not stripped or stripped[0] not in '{["0123456789-tfn':
        if json_hint and stripped:
            mapped.note(f"{key}: not JSON, kept as text")
        return value
    try:
        return _json.loads(value)
    except (ValueError, TypeError, RecursionError):
        if json_hint:
            mapped.note(f"{key}: invalid JSON, kept as text")
        return value


def _call_args(value: Any) -> Any:
    """``{"args": [x], "kwargs": {}}`` (how Langfuse's and Traceloop's decorators record a call)
    as ``x``; only keyword arguments as the ``kwargs`` object; anything else unchanged."""
    if not isinstance(value, dict) or not value or not set(value) <= {"args", "kwargs"}:
        return value
    args = value.get("args") or []
    kwargs = value.get("kwargs") or {}
    if isinstance(args, list) and len(args) == 1 and not kwargs:
        return args[0]
    if not args and isinstance(kwargs, dict) and kwargs:
        return kwargs
    return value


_OPENINFERENCE_TOKENS = (
    ("llm.token_count.prompt", "prompt_tokens"),
    ("llm.token_count.completion", "completion_tokens"),
    ("llm.token_count.total", "total_tokens"),
)
_TRACELOOP_TOKENS = (
    ("gen_ai.usage.prompt_tokens", "prompt_tokens"),
    ("gen_ai.usage.completion_tokens", "completion_tokens"),
    ("llm.usage.total_tokens", "total_tokens"),
)


def _take_token_counts(
    attrs: dict[str, Any], mapped: Mapped, keys: tuple[tuple[str, str], ...]
) -> bool:
    """Move the valid counts among ``keys`` (attribute, slot) into ``mapped``'s empty slots.

    Returns whether any was found; a value that is not a count stays in ``attrs`` with a note.
    """
    found = False
    for key, slot in keys:
        if key in attrs:
            value = _int(attrs[key], key, mapped)
            if value is not None:
                attrs.pop(key)
                found = True
                if getattr(mapped, slot) is None:
                    setattr(mapped, slot, value)
    return found


def _int(value: Any, key: str, mapped: Mapped) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= _MAX_COUNT:
        return value
    if type(value) is float and value.is_integer() and 0 <= value <= _MAX_COUNT:
        return int(value)
    if type(value) is str:
        try:
            number = int(value.strip())
        except ValueError:
            pass
        else:
            if 0 <= number <= _MAX_COUNT:
                return number
    mapped.note(f"{key}: expected an integer, found {str(value)[:40]!r}; kept as an attribute")
    return None


def _metadata(value: Any, key: str, mapped: Mapped) -> dict[str, Any]:
    decoded = _json_or_text(value, key, mapped)
    if isinstance(decoded, dict):
        return decoded
    return {"value": decoded}


def _tags(value: Any, key: str, mapped: Mapped) -> list[str]:
    decoded = _json_or_text(value, key, mapped, json_hint=False)
    if isinstance(decoded, (list, tuple)):
        return [v if type(v) is str else str(v) for v in decoded]
    if decoded is None:
        return []
    return [str(decoded)]


# prefixes of flattened keys, found by one pass over the keys (most specific first)
_SCANNED = (
    "llm.input_messages.",
    "llm.output_messages.",
    "retrieval.documents.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "traceloop.association.properties.",
    "langfuse.",
)


def _scan(attrs: Mapping[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in attrs:
        if key.startswith(_SCANNED):
            for prefix in _SCANNED:
                if key.startswith(prefix):
                    found.setdefault(prefix, []).append(key)
                    break
    return found


def _indexed(attrs: dict[str, Any], prefix: str, mapped: Mapped) -> dict[int, dict[str, Any]]:
    """Pop ``prefix.N.rest`` keys into ``{N: {rest: value}}``; an index too large to be real is
    left in the attributes with a note."""
    keys = mapped.keys.get(prefix)
    if not keys:
        return {}
    out: dict[int, dict[str, Any]] = {}
    size = len(prefix)
    for key in keys:
        number, _, rest = key[size:].partition(".")
        if not rest or not number.isdigit():
            continue
        index = int(number) if len(number) <= 6 else _MAX_INDEX + 1
        if index > _MAX_INDEX:
            mapped.note(f"{key}: index out of range, kept as an attribute")
            continue
        fields = out.get(index)
        if fields is None:
            fields = out[index] = {}
        fields[rest] = attrs.pop(key)
    return out


def _oi_messages(attrs: dict[str, Any], prefix: str, mapped: Mapped) -> list[dict[str, Any]] | None:
    """OpenInference ``llm.*_messages.N.message.{role,content,contents,tool_calls}``."""
    items = _indexed(attrs, prefix, mapped)
    if not items:
        return None
    messages: list[dict[str, Any]] = []
    for index in sorted(items):
        fields = items[index]
        message: dict[str, Any] = {}
        role = fields.get("message.role")
        if role is not None:
            message["role"] = role if type(role) is str else _text(role)
        content = fields.get("message.content")
        if len(fields) <= 2 and (role is not None or len(fields) == 1) and content is not None:
            # the common case: role and text only
            message["content"] = content if type(content) is str else _text(content)
            messages.append(message)
            continue
        if content is None:
            parts = sorted(
                (k, v)
                for k, v in fields.items()
                if k.startswith("message.contents.") and k.endswith(".text")
            )
            if parts:
                content = "".join(_text(v) or "" for _, v in parts)
        if content is not None:
            message["content"] = _text(content)
        calls: dict[str, dict[str, Any]] = {}
        for key, value in fields.items():
            if key.startswith("message.tool_calls."):
                rest = key[len("message.tool_calls.") :]
                number, _, sub = rest.partition(".")
                call = calls.setdefault(number, {})
                if sub.endswith("function.name"):
                    call["name"] = _text(value)
                elif sub.endswith("function.arguments"):
                    call["arguments"] = _json_or_text(value, key, mapped, json_hint=False)
                elif sub.endswith("tool_call.id"):
                    call["id"] = _text(value)
        if calls:
            message["tool_calls"] = [calls[k] for k in sorted(calls, key=_sort_key)]
        name = fields.get("message.name")
        if name is not None:
            message["name"] = _text(name)
        messages.append(message)
    return messages


def _sort_key(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() and len(text) < 7 else (1 << 30, text)


def _flat_messages(
    attrs: dict[str, Any], prefix: str, mapped: Mapped
) -> list[dict[str, Any]] | None:
    """Traceloop's older ``gen_ai.prompt.N.{role,content}`` / ``gen_ai.completion.N.*``."""
    items = _indexed(attrs, prefix, mapped)
    if not items:
        return None
    messages = []
    for index in sorted(items):
        fields = items[index]
        message: dict[str, Any] = {}
        for key, value in fields.items():
            if key == "content":
                message["content"] = _json_or_text(
                    value, prefix + "content", mapped, json_hint=False
                )
            elif key in ("role", "finish_reason", "name"):
                message[key] = _text(value)
            elif key.startswith("tool_calls."):
                number, _, sub = key[len("tool_calls.") :].partition(".")
                calls = message.setdefault("tool_calls", {})
                calls.setdefault(number, {})[sub] = _text(value)
        if "tool_calls" in message:
            calls = message["tool_calls"]
            message["tool_calls"] = [calls[k] for k in sorted(calls, key=_sort_key)]
        messages.append(message)
    return messages


def _documents(attrs: dict[str, Any], mapped: Mapped) -> list[dict[str, Any]] | None:
    items = _indexed(attrs, "retrieval.documents.", mapped)
    if not items:
        return None
    documents = []
    for index in sorted(items):
        doc: dict[str, Any] = {}
        for key, value in items[index].items():
            short = key.removeprefix("document.")
            doc[short] = (
                _json_or_text(value, key, mapped, json_hint=False) if short == "metadata" else value
            )
        documents.append(doc)
    return documents


def _io(attrs: dict[str, Any], key: str, mapped: Mapped, *, decode: bool = True) -> Any:
    """OpenInference ``input.value`` / ``output.value`` read by its ``*.mime_type``; with
    ``decode`` off the value is only consumed (the messages say it better)."""
    value = attrs.pop(key + ".value", _MISSING)
    mime = attrs.pop(key + ".mime_type", None)
    if value is _MISSING or not decode:
        return value
    if mime == "application/json":
        return _json_or_text(value, key + ".value", mapped)
    if type(value) is not str and value is not None:
        mapped.note(f"{key}.value: expected text, found {type(value).__name__}; kept as text")
        return str(value)
    return value


def _first(attrs: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.pop(key, None)
        if value is not None:
            return value
    return None


# ---------------------------------------------------------------------------------------------
# one reader per dialect; each fills only what is still empty


def _openinference(attrs: dict[str, Any], mapped: Mapped) -> None:
    kind = attrs.pop("openinference.span.kind", None)
    present = kind is not None
    if kind is not None:
        kind_type = _OI_TYPES.get(str(kind).upper())
        if kind_type is None:
            mapped.note(f"openinference.span.kind: unknown kind {str(kind)[:40]!r}")
        mapped.type = mapped.type or kind_type
    # an LLM span's messages are its input and output: its input.value/output.value (often the
    # whole serialized request) are consumed without being decoded
    llm = kind is None or str(kind).upper() == "LLM"
    keys = mapped.keys
    inp = _io(attrs, "input", mapped, decode=not (llm and "llm.input_messages." in keys))
    out = _io(attrs, "output", mapped, decode=not (llm and "llm.output_messages." in keys))
    in_messages = _oi_messages(attrs, "llm.input_messages.", mapped)
    out_messages = _oi_messages(attrs, "llm.output_messages.", mapped)
    documents = _documents(attrs, mapped)
    present = present or any(
        v is not _MISSING and v is not None
        for v in (inp, out, in_messages, out_messages, documents)
    )
    if mapped.input is _MISSING:
        if in_messages is not None and (kind is None or str(kind).upper() == "LLM"):
            mapped.input = in_messages
        elif inp is not _MISSING:
            mapped.input = inp
    if mapped.output is _MISSING:
        if out_messages is not None and (kind is None or str(kind).upper() == "LLM"):
            mapped.output = out_messages
        elif documents is not None:
            mapped.output = documents
        elif out is not _MISSING:
            mapped.output = out
    model = _first(attrs, "llm.model_name", "embedding.model_name")
    if model is not None:
        present = True
        mapped.model = mapped.model or _text(model)
    provider = attrs.get("llm.provider") or attrs.get("llm.system")
    if provider is not None:
        mapped.metadata.setdefault("provider", _text(provider))
    if _take_token_counts(attrs, mapped, _OPENINFERENCE_TOKENS):
        present = True
    tool = attrs.get("tool.name")
    if tool is not None and mapped.type == "tool":
        mapped.name = mapped.name or _text(attrs.pop("tool.name"))
    _trace_level(attrs, mapped, "session.id", "user.id", "tag.tags", "metadata")
    if present:
        mapped.dialects.append("openinference")


def _trace_level(
    attrs: dict[str, Any], mapped: Mapped, session: str, user: str, tags: str, metadata: str
) -> None:
    value = attrs.pop(session, None)
    if value is not None and mapped.session_id is None:
        mapped.session_id = _text(value)
    value = attrs.pop(user, None)
    if value is not None and mapped.user_id is None:
        mapped.user_id = _text(value)
    value = attrs.pop(tags, None)
    if value is not None and not mapped.tags:
        mapped.tags = _tags(value, tags, mapped)
    value = attrs.pop(metadata, None)
    if value is not None:
        for key, item in _metadata(value, metadata, mapped).items():
            mapped.metadata.setdefault(key, item)
            mapped.trace_metadata.setdefault(key, item)


def _traceloop(attrs: dict[str, Any], mapped: Mapped) -> None:
    present = False
    kind = attrs.pop("traceloop.span.kind", None)
    if kind is not None:
        present = True
        mapped.type = mapped.type or _TRACELOOP_TYPES.get(str(kind))
    request_type = attrs.get("llm.request.type")
    if request_type is not None:
        present = True
        attrs.pop("llm.request.type")
        mapped.type = mapped.type or _TRACELOOP_REQUEST_TYPES.get(str(request_type), "generation")
    name = attrs.pop("traceloop.entity.name", None)
    if name is not None:
        present = True
        mapped.name = mapped.name or _text(name)
    workflow = attrs.get("traceloop.workflow.name")
    if workflow is not None:
        present = True
        mapped.trace_name = mapped.trace_name or _text(workflow)
    for key, slot in (("traceloop.entity.input", "input"), ("traceloop.entity.output", "output")):
        value = attrs.pop(key, _MISSING)
        if value is not _MISSING:
            present = True
            if getattr(mapped, slot) is _MISSING:
                setattr(mapped, slot, _call_args(_json_or_text(value, key, mapped)))
    prompts = _flat_messages(attrs, "gen_ai.prompt.", mapped)
    completions = _flat_messages(attrs, "gen_ai.completion.", mapped)
    if prompts is not None:
        present = True
        if mapped.input is _MISSING:
            mapped.input = prompts
    if completions is not None:
        present = True
        if mapped.output is _MISSING:
            mapped.output = completions
    if _take_token_counts(attrs, mapped, _TRACELOOP_TOKENS):
        present = True
    association = "traceloop.association.properties."
    for key in mapped.keys.get(association, ()):
        present = True
        short = key[len(association) :]
        value = attrs.pop(key)
        if short in ("session_id", "session.id") and mapped.session_id is None:
            mapped.session_id = _text(value)
        elif short in ("user_id", "user.id") and mapped.user_id is None:
            mapped.user_id = _text(value)
        else:
            mapped.trace_metadata.setdefault(short, value)
    if present:
        mapped.dialects.append("traceloop")


def _langfuse(attrs: dict[str, Any], mapped: Mapped) -> None:
    langfuse_keys = mapped.keys.get("langfuse.")
    if not langfuse_keys:
        return
    mapped.dialects.append("langfuse")
    kind = attrs.pop("langfuse.observation.type", None)
    if kind is not None:
        mapped.type = mapped.type or _LANGFUSE_TYPES.get(str(kind).lower())
    for key, slot in (
        ("langfuse.observation.input", "input"),
        ("langfuse.observation.output", "output"),
        ("langfuse.trace.input", "trace_input"),
        ("langfuse.trace.output", "trace_output"),
    ):
        value = attrs.pop(key, _MISSING)
        if value is not _MISSING and getattr(mapped, slot) is _MISSING:
            setattr(mapped, slot, _call_args(_json_or_text(value, key, mapped, json_hint=False)))
    model = attrs.pop("langfuse.observation.model.name", None)
    if model is not None:
        mapped.model = mapped.model or _text(model)
    usage = attrs.pop("langfuse.observation.usage_details", None)
    if usage is not None:
        details = _json_or_text(usage, "langfuse.observation.usage_details", mapped)
        if isinstance(details, dict):
            for names, slot in (
                (("input", "prompt_tokens", "input_tokens"), "prompt_tokens"),
                (("output", "completion_tokens", "output_tokens"), "completion_tokens"),
                (("total", "total_tokens"), "total_tokens"),
            ):
                for name in names:
                    if name in details and getattr(mapped, slot) is None:
                        setattr(mapped, slot, _int(details[name], f"usage_details.{name}", mapped))
                        break
        else:
            attrs["langfuse.observation.usage_details"] = usage
    level = attrs.pop("langfuse.observation.level", None)
    if level is not None:
        mapped.level = _LEVELS.get(str(level).upper())
    message = attrs.pop("langfuse.observation.status_message", None)
    if message is not None and mapped.level == "error":
        mapped.error = _text(message)
    trace_name = attrs.pop("langfuse.trace.name", None)
    if trace_name is not None:
        mapped.trace_name = mapped.trace_name or _text(trace_name)
    _trace_level(
        attrs,
        mapped,
        "langfuse.session.id",
        "langfuse.user.id",
        "langfuse.trace.tags",
        "langfuse.trace.metadata",
    )
    value = attrs.pop("langfuse.observation.metadata", None)
    if value is not None:
        for key, item in _metadata(value, "langfuse.observation.metadata", mapped).items():
            mapped.metadata.setdefault(key, item)
    # flattened metadata: langfuse.observation.metadata.KEY / langfuse.trace.metadata.KEY
    for prefix, targets in (
        ("langfuse.observation.metadata.", (mapped.metadata,)),
        ("langfuse.trace.metadata.", (mapped.trace_metadata,)),
    ):
        for key in [k for k in langfuse_keys if k.startswith(prefix) and k in attrs]:
            value = _json_or_text(attrs.pop(key), key, mapped, json_hint=False)
            for target in targets:
                target.setdefault(key[len(prefix) :], value)


def _mlflow(attrs: dict[str, Any], mapped: Mapped) -> None:
    kind = attrs.pop("mlflow.spanType", None)
    inputs = attrs.pop("mlflow.spanInputs", _MISSING)
    outputs = attrs.pop("mlflow.spanOutputs", _MISSING)
    if kind is None and inputs is _MISSING and outputs is _MISSING:
        return
    mapped.dialects.append("mlflow")
    if kind is not None:
        # MLflow JSON-encodes every attribute value: "\"LLM\""
        decoded = _json_or_text(kind, "mlflow.spanType", mapped, json_hint=False)
        mapped.type = mapped.type or _MLFLOW_TYPES.get(str(decoded).upper())
    if inputs is not _MISSING and mapped.input is _MISSING:
        mapped.input = _json_or_text(inputs, "mlflow.spanInputs", mapped)
        # a chat model's inputs name the model (MLflow has no model attribute)
        if mapped.type == "generation" and isinstance(mapped.input, dict):
            model = mapped.input.get("model")
            if type(model) is str:
                mapped.model = mapped.model or model
    if outputs is not _MISSING and mapped.output is _MISSING:
        mapped.output = _json_or_text(outputs, "mlflow.spanOutputs", mapped)
    usage = attrs.get("mlflow.chat.tokenUsage")
    if usage is not None:
        details = _json_or_text(usage, "mlflow.chat.tokenUsage", mapped)
        if isinstance(details, dict):
            attrs.pop("mlflow.chat.tokenUsage")
            for name, slot in (
                ("input_tokens", "prompt_tokens"),
                ("output_tokens", "completion_tokens"),
                ("total_tokens", "total_tokens"),
            ):
                if name in details and getattr(mapped, slot) is None:
                    setattr(mapped, slot, _int(details[name], f"tokenUsage.{name}", mapped))
    for key in ("mlflow.traceRequestId", "mlflow.spanFunctionName"):
        value = attrs.get(key)
        if type(value) is str and value.startswith('"'):
            attrs[key] = _json_or_text(value, key, mapped, json_hint=False)


def _user_prompt(messages: Any) -> Any:
    """The user's text from pydantic-ai's message history (GenAI ``parts`` or its own
    ``ModelRequest`` shape); the messages themselves when no user text is found."""
    if not isinstance(messages, list):
        return messages
    for message in messages:
        if not isinstance(message, dict):
            continue
        if message.get("role") == "user":
            parts = message.get("parts")
            if isinstance(parts, list):
                texts = [
                    p.get("content")
                    for p in parts
                    if isinstance(p, dict) and p.get("type") == "text" and p.get("content")
                ]
                if texts:
                    return texts[0] if len(texts) == 1 else texts
            content = message.get("content")
            if content is not None:
                return content
        for part in message.get("parts") or ():
            if isinstance(part, dict) and part.get("part_kind") == "user-prompt":
                return part.get("content")
    return messages


def _logfire(attrs: dict[str, Any], mapped: Mapped) -> None:
    present = False
    message = attrs.get("logfire.msg")
    agent = attrs.get("agent_name") or attrs.get("gen_ai.agent.name")
    history_key = (
        "pydantic_ai.all_messages" if "pydantic_ai.all_messages" in attrs else "all_messages_events"
    )
    history = attrs.get(history_key, _MISSING)  # kept as an attribute: the whole conversation
    result = attrs.pop("final_result", _MISSING)
    if history is not _MISSING or result is not _MISSING:
        present = True
        mapped.type = mapped.type or "agent"
        if history is not _MISSING:
            decoded = _json_or_text(history, history_key, mapped)
            if mapped.input is _MISSING:
                mapped.input = _user_prompt(decoded)
        if result is not _MISSING and mapped.output is _MISSING:
            mapped.output = _json_or_text(result, "final_result", mapped, json_hint=False)
    if (mapped.type == "agent" or history is not _MISSING) and agent is not None:
        mapped.name = mapped.name or _text(agent)
    for key, slot in (("tool_arguments", "input"), ("tool_response", "output")):
        value = attrs.pop(key, _MISSING)
        if value is not _MISSING:
            present = True
            mapped.type = mapped.type or "tool"
            if getattr(mapped, slot) is _MISSING:
                setattr(mapped, slot, _json_or_text(value, key, mapped, json_hint=False))
    if message is not None:
        present = True
        # logfire names a span after its message *template* ("{agent_name} run"); the formatted
        # message is what a person reads
        mapped.name = mapped.name or _text(message)
    if present:
        mapped.dialects.append("logfire")


# Each reader with the exact keys and the flattened prefixes that make it worth running: a span
# runs only the readers of the dialects it carries (the encoder's hot path).
_OPENINFERENCE_KEYS = frozenset(
    {
        "openinference.span.kind",
        "input.value",
        "output.value",
        "llm.model_name",
        "embedding.model_name",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.total",
        "session.id",
        "user.id",
        "tag.tags",
        "metadata",
        "tool.name",
    }
)
_TRACELOOP_KEYS = frozenset(
    {
        "traceloop.span.kind",
        "traceloop.entity.name",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "traceloop.workflow.name",
        "llm.request.type",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.total_tokens",
    }
)
_MLFLOW_KEYS = frozenset({"mlflow.spanType", "mlflow.spanInputs", "mlflow.spanOutputs"})
_LOGFIRE_KEYS = frozenset(
    {
        "logfire.msg",
        "pydantic_ai.all_messages",
        "all_messages_events",
        "final_result",
        "tool_arguments",
        "tool_response",
    }
)
_READERS: tuple[
    tuple[Callable[[dict[str, Any], Mapped], None], frozenset[str], tuple[str, ...]], ...
] = (
    (_openinference, _OPENINFERENCE_KEYS, ("llm.", "retrieval.")),
    (_traceloop, _TRACELOOP_KEYS, ("gen_ai.", "traceloop.")),
    (_langfuse, frozenset(), ("langfuse.",)),
    (_mlflow, _MLFLOW_KEYS, ()),
    (_logfire, _LOGFIRE_KEYS, ()),
)


def translate(attrs: dict[str, Any]) -> Mapped:
    """Map the dialect attributes of one span (popping what is consumed from ``attrs``). Never
    raises: a reader that fails on a value leaves it in ``attrs`` and notes it."""
    keys = _scan(attrs)
    mapped = Mapped(keys=keys)
    for reader, markers, prefixes in _READERS:
        if markers.isdisjoint(attrs.keys()) and not any(p.startswith(prefixes) for p in keys):
            continue
        try:
            reader(attrs, mapped)
        except Exception as exc:  # total: a surprising value costs a note, not the batch
            mapped.note(f"{reader.__name__.lstrip('_')}: {type(exc).__name__}: {exc}"[:200])
    return mapped
