"""The FluxLoop JSONL contract, version 2: a pure ``ReadableSpan -> record`` encoder.

Two record kinds (see ``exporters/schemas/*.schema.json``):

* an **observation** record for every span (spans of other instrumentations -- HTTP, DB, ... --
  are kept as ``type: "span"``);
* a **trace** record for every *local root* span (no parent, or a remote parent).

The encoder is pure (no I/O), fast (a few microseconds per span) and total: it never raises; an
attribute it cannot interpret is kept as a string. Spans of other tracing libraries (OpenInference,
Traceloop, Langfuse, MLflow, Logfire) are read through the dialect table (:mod:`._dialects`); the
GenAI conventions and ``fluxloop.*`` attributes win where both speak.

Version 2 adds, beside the version-1 fields (all kept, same meaning): ``resource`` (the span's
resource attributes: ``service.name``, ...) and ``scope`` (the instrumentation scope's ``name`` and
``version``) on both records, ``parent_id`` on observations (= ``parent_observation_id``) and
``trace_id`` on traces (= ``id``), the names the original FluxLoop's documentation uses.

Readers of these records must also accept what the original FluxLoop SDK wrote: UUID strings as
``id``/``trace_id``/``parent_observation_id`` (:func:`normalize_id` accepts both), absent keys
instead of nulls, and timestamps that are naive, end in ``Z`` or carry any UTC offset
(:func:`parse_timestamp` accepts all of them).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fluxloop_semconv import attributes as A
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from . import _json
from ._dialects import MISSING, Mapped, has_dialect, translate

__all__ = [
    "CONTRACT_VERSION",
    "OBSERVATION_TYPES",
    "encode_observation",
    "encode_records",
    "encode_trace",
    "format_timestamp_ns",
    "normalize_id",
    "parse_timestamp",
]

CONTRACT_VERSION = "2"

OBSERVATION_TYPES = frozenset(v.value for v in A.FluxloopObservationTypeValues)
_LEVELS = frozenset(v.value for v in A.FluxloopObservationLevelValues)

# gen_ai.operation.name -> observation type
_OPERATION_TYPES: dict[str, str] = {
    "chat": "generation",
    "text_completion": "generation",
    "generate_content": "generation",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "embedding",
    "retrieval": "retrieval",
    "invoke_workflow": "chain",
}

_OBS_TYPE = A.FLUXLOOP_OBSERVATION_TYPE
_OBS_NAME = A.FLUXLOOP_OBSERVATION_NAME
_OBS_LEVEL = A.FLUXLOOP_OBSERVATION_LEVEL
_INPUT = A.FLUXLOOP_INPUT
_OUTPUT = A.FLUXLOOP_OUTPUT
_METADATA = A.FLUXLOOP_METADATA
_TAGS = A.FLUXLOOP_TAGS
_SESSION = A.FLUXLOOP_SESSION_ID
_USER = A.FLUXLOOP_USER_ID
_OPERATION = A.GEN_AI_OPERATION_NAME
_REQ_MODEL = A.GEN_AI_REQUEST_MODEL
_RESP_MODEL = A.GEN_AI_RESPONSE_MODEL
_IN_TOKENS = A.GEN_AI_USAGE_INPUT_TOKENS
_OUT_TOKENS = A.GEN_AI_USAGE_OUTPUT_TOKENS
_IN_MESSAGES = A.GEN_AI_INPUT_MESSAGES
_OUT_MESSAGES = A.GEN_AI_OUTPUT_MESSAGES
_TOOL_ARGS = A.GEN_AI_TOOL_CALL_ARGUMENTS
_TOOL_RESULT = A.GEN_AI_TOOL_CALL_RESULT
_ERROR_TYPE = A.ERROR_TYPE
_RETRIEVAL_QUERY = A.GEN_AI_RETRIEVAL_QUERY_TEXT
_RETRIEVAL_DOCS = A.GEN_AI_RETRIEVAL_DOCUMENTS
# observation type -> the GenAI attribute that names it when fluxloop.observation.name is absent
_NAMED_BY: dict[str, str] = {"agent": A.GEN_AI_AGENT_NAME, "tool": A.GEN_AI_TOOL_NAME}
_TRACE_ATTR_PREFIXES = ("fluxloop.experiment.", "fluxloop.run.")

_ERROR = StatusCode.ERROR

# ---------------------------------------------------------------------------------------------
# timestamps


_TS_CACHE: dict[int, str] = {}


def format_timestamp_ns(ns: int | None) -> str | None:
    """Nanoseconds since the epoch as ISO-8601 UTC with microseconds and ``+00:00``
    (``None`` for ``None`` or an out-of-range value)."""
    if ns is None:
        return None
    try:
        sec, rem = divmod(ns, 1_000_000_000)
        prefix = _TS_CACHE.get(sec)
        if prefix is None:
            if len(_TS_CACHE) > 4096:
                _TS_CACHE.clear()
            prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            _TS_CACHE[sec] = prefix
        return "%s.%06d+00:00" % (prefix, rem // 1000)  # noqa: UP031 (faster than format)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: str) -> datetime:
    """Parse a contract timestamp into an aware UTC :class:`~datetime.datetime`.

    Accepts our format (``2026-01-02T03:04:05.123456+00:00``) and the original FluxLoop's:
    naive (taken as UTC), a trailing ``Z``, any offset, a space instead of ``T``, with or without
    fractional seconds (more than 6 digits are truncated). Raises :class:`ValueError` otherwise.
    """
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 timestamp string, found {type(value).__name__}")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION.sub(r"\1", text, count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_HEX = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def normalize_id(value: str) -> str:
    """Normalize a trace/observation id: our OTel hex ids (16 or 32 hex digits) are lowercased;
    the original FluxLoop's UUID strings are returned in canonical dashed lowercase form.
    Raises :class:`ValueError` for anything else."""
    text = str(value).strip().lower()
    if _HEX.fullmatch(text):
        return text
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(f"not a trace or observation id: {value!r}") from None


# ---------------------------------------------------------------------------------------------
# helpers


#: Raw captured bytes that were never checked (FluxLoop's SDK resolves them before export):
#: never written as they are, since they were not masked.
_UNRESOLVED = "<unavailable>"


def _safe(value: Any) -> Any:
    """An OTel attribute value as a JSON-safe value (tuples -> lists, NaN/inf -> strings)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        return value if value - value == 0 else repr(value)
    if t is tuple or t is list:
        return [_safe(v) for v in value]
    return str(value)


def _decode(value: Any) -> Any:
    """A JSON-encoded attribute decoded; a value that is not valid JSON is kept (JSON-safe)."""
    if type(value) is str:
        try:
            return _json.loads(value)
        except (ValueError, TypeError, RecursionError):
            return value
    if type(value) is bytes:
        return _UNRESOLVED
    return _safe(value)


def _int_or_none(value: Any) -> int | None:
    if value is None or type(value) is bool:
        return None
    if type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _token_count(value: Any, key: str, attrs: dict[str, Any]) -> int | None:
    """A token count as the contract's integer field; a count no 64-bit field can hold (a
    token count of 5,000 digits) is dropped, with a note left under its attribute key."""
    count = _int_or_none(value)
    if count is None or _INT64_MIN <= count <= _INT64_MAX:
        return count
    attrs[key] = f"<dropped: an integer of {count.bit_length()} bits>"
    return None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if type(value) is str else str(_safe(value))


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    decoded = _decode(value)
    if isinstance(decoded, dict):
        return decoded
    return {"value": decoded}


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [v if type(v) is str else str(_safe(v)) for v in value]
    decoded = _decode(value)
    if isinstance(decoded, list):
        return [v if type(v) is str else str(v) for v in decoded]
    return [str(decoded)]


def _exception_event(span: ReadableSpan) -> Mapping[str, Any] | None:
    try:
        events = span.events
    except Exception:  # pragma: no cover - defensive
        return None
    for event in reversed(events):
        if event.name == "exception":
            return event.attributes or {}
    return None


def _hex16(value: int) -> str:
    return f"{value:016x}"


def _hex32(value: int) -> str:
    return f"{value:032x}"


# ---------------------------------------------------------------------------------------------
# encoders


def encode_observation(span: ReadableSpan) -> dict[str, Any]:
    """Encode one span as a contract-v1 observation record. Never raises."""
    return encode_records(span)[0]


def encode_trace(span: ReadableSpan) -> dict[str, Any] | None:
    """Encode a local root span as a contract-v1 trace record; ``None`` for any other span.
    Never raises."""
    parent = getattr(span, "parent", None)
    if parent is not None and not getattr(parent, "is_remote", False):
        return None
    return encode_records(span)[1]


def observation_type(attributes: Mapping[str, Any] | None) -> str:
    """The observation type a span's attributes imply: ``fluxloop.observation.type`` when set,
    else what ``gen_ai.operation.name`` means, else ``span``."""
    if not attributes:
        return "span"
    explicit = attributes.get(_OBS_TYPE)
    if explicit in OBSERVATION_TYPES:
        return str(explicit)
    op = attributes.get(_OPERATION)
    return _OPERATION_TYPES.get(op, "span") if type(op) is str else "span"


def encode_records(span: ReadableSpan) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The observation record of ``span`` and, for a local root span, its trace record (else
    ``None``), sharing the decoding work. Never raises."""
    try:
        return _encode(span)
    except Exception as exc:  # a broken span object: keep what we can, never raise
        return _fallback_observation(span, exc), None


def _encode(span: ReadableSpan) -> tuple[dict[str, Any], dict[str, Any] | None]:
    # hot path: ~4 us per span; every consumed attribute is popped from a copy of the attributes
    try:
        attrs: dict[str, Any] = span.attributes.copy()  # type: ignore[union-attr]
    except AttributeError:  # a custom ReadableSpan with a Mapping that has no copy()
        attrs = dict(span.attributes or {})
    ctx = span.context
    parent = span.parent
    pop = attrs.pop
    get = attrs.get
    # other libraries' attributes (cheap test first: most spans speak GenAI or nothing)
    mapped: Mapped | None = translate(attrs) if has_dialect(attrs) else None

    # type
    obs_type = pop(_OBS_TYPE, None)
    if obs_type not in OBSERVATION_TYPES:
        if obs_type is not None:
            attrs[_OBS_TYPE] = obs_type  # unknown value: keep it visible
        op = get(_OPERATION)
        obs_type = _OPERATION_TYPES.get(op, "span") if type(op) is str else "span"
        if obs_type == "span" and mapped is not None and mapped.type is not None:
            obs_type = mapped.type

    # the SDK omits fluxloop.observation.name where the GenAI attributes already say it
    name = pop(_OBS_NAME, None)
    if type(name) is not str or not name:
        named_by = _NAMED_BY.get(obs_type)
        name = get(named_by) if named_by else None
        if type(name) is not str or not name:
            name = mapped.name if mapped is not None and mapped.name else span.name

    # input / output with their gen_ai fallbacks
    loads = _json.loads
    raw_in = pop(_INPUT, None)
    if type(raw_in) is str:
        try:
            inp = loads(raw_in)
        except (ValueError, TypeError, RecursionError):
            inp = raw_in
    elif raw_in is not None:
        inp = _UNRESOLVED if type(raw_in) is bytes else _safe(raw_in)
    elif (
        raw := pop(_IN_MESSAGES, None) or pop(_TOOL_ARGS, None) or pop(_RETRIEVAL_QUERY, None)
    ) is not None:
        inp = _decode(raw)
    elif mapped is not None and mapped.input is not MISSING:
        inp = mapped.input
    else:
        inp = None
    raw_out = pop(_OUTPUT, None)
    if type(raw_out) is str:
        try:
            out = loads(raw_out)
        except (ValueError, TypeError, RecursionError):
            out = raw_out
    elif raw_out is not None:
        out = _UNRESOLVED if type(raw_out) is bytes else _safe(raw_out)
    elif (
        raw := pop(_OUT_MESSAGES, None) or pop(_TOOL_RESULT, None) or pop(_RETRIEVAL_DOCS, None)
    ) is not None:
        out = _decode(raw)
    elif mapped is not None and mapped.output is not MISSING:
        out = mapped.output
    else:
        out = None

    raw = pop(_METADATA, None)
    metadata = {} if raw is None else _metadata(raw)
    if mapped is not None:
        metadata = _merge_mapped_metadata(metadata, mapped)
    trace_metadata = metadata

    # error / level
    status = span.status
    failed = status is not None and status.status_code is _ERROR
    error: str | None = None
    level = pop(_OBS_LEVEL, None)
    if failed:
        exc_attrs = _exception_event(span)
        # like the original SDK: the exception's message (str(exc)), else the status description
        if exc_attrs is not None and (msg := exc_attrs.get("exception.message")):
            error = str(msg)
        else:
            error = (
                status.description
                or (_str_or_none(exc_attrs.get("exception.type")) if exc_attrs else None)
                or _str_or_none(get(_ERROR_TYPE))
                or "error"
            )
        level = "error"
        # the original SDK's error shape: metadata.error_type / metadata.traceback
        trace_metadata = dict(metadata)
        etype = exc_attrs.get("exception.type") if exc_attrs is not None else None
        etype = etype or get(_ERROR_TYPE)
        if etype is not None and "error_type" not in metadata:
            metadata["error_type"] = str(etype)
        stack = exc_attrs.get("exception.stacktrace") if exc_attrs is not None else None
        if stack is not None and "traceback" not in metadata:
            metadata["traceback"] = str(stack)
    elif mapped is not None and mapped.level is not None and level not in _LEVELS:
        level = mapped.level
        if level == "error":
            failed = True
            error = mapped.error or "error"
    elif level not in _LEVELS:
        level = "info"

    model = get(_REQ_MODEL) or get(_RESP_MODEL)
    if model is None and mapped is not None:
        model = mapped.model
    if model is not None and type(model) is not str:
        model = str(_safe(model))
    prompt_tokens = pop(_IN_TOKENS, None)
    if prompt_tokens is not None and (
        type(prompt_tokens) is not int or not _INT64_MIN <= prompt_tokens <= _INT64_MAX
    ):
        prompt_tokens = _token_count(prompt_tokens, _IN_TOKENS, attrs)
    completion_tokens = pop(_OUT_TOKENS, None)
    if completion_tokens is not None and (
        type(completion_tokens) is not int or not _INT64_MIN <= completion_tokens <= _INT64_MAX
    ):
        completion_tokens = _token_count(completion_tokens, _OUT_TOKENS, attrs)
    total_tokens: int | None = None
    if mapped is not None and prompt_tokens is None and completion_tokens is None:
        prompt_tokens = mapped.prompt_tokens
        completion_tokens = mapped.completion_tokens
        total_tokens = mapped.total_tokens
    if total_tokens is None and (prompt_tokens is not None or completion_tokens is not None):
        total_tokens = (prompt_tokens or 0) + (completion_tokens or 0)

    # %-formatting is about twice as fast as f-strings here
    trace_id = "%032x" % ctx.trace_id  # noqa: UP031
    start_time = format_timestamp_ns(span.start_time)
    end_time = format_timestamp_ns(span.end_time)
    # resource and scope are shared by a provider's spans: their records are cached per object
    res_hit = _RESOURCES.get(id(span.resource))
    resource = (
        res_hit[1] if res_hit is not None and res_hit[0] is span.resource else _resource(span)
    )
    scope_obj = span.instrumentation_scope
    scope_hit = _SCOPES.get(id(scope_obj))
    scope = scope_hit[1] if scope_hit is not None and scope_hit[0] is scope_obj else _scope(span)
    trace: dict[str, Any] | None = None
    if parent is None or parent.is_remote:
        trace_attrs: dict[str, Any] = {}
        for key, raw_value in attrs.items():
            t = type(raw_value)
            if t is str or t is int or t is bool:
                value = raw_value
            else:
                value = attrs[key] = _safe(raw_value)
            if key.startswith(_TRACE_ATTR_PREFIXES):
                trace_attrs[key] = value
        session = get(_SESSION)
        user = get(_USER)
        tags = get(_TAGS)
        trace_name = name
        trace_in = inp if raw_in is not None else None
        trace_out = out if raw_out is not None else None
        if mapped is not None:
            session = session if session is not None else mapped.session_id
            user = user if user is not None else mapped.user_id
            if tags is None and mapped.tags:
                tags = mapped.tags
            trace_name = mapped.trace_name or name
            if raw_in is None:
                trace_in = mapped.trace_input if mapped.trace_input is not MISSING else inp
            if raw_out is None:
                trace_out = mapped.trace_output if mapped.trace_output is not MISSING else out
            if mapped.trace_metadata:
                trace_metadata = {**mapped.trace_metadata, **trace_metadata}
        trace = {
            "id": trace_id,
            "trace_id": trace_id,
            "name": trace_name,
            "start_time": start_time,
            "end_time": end_time,
            "session_id": session if session is None or type(session) is str else str(session),
            "user_id": user if user is None or type(user) is str else str(user),
            "metadata": trace_metadata,
            "tags": [] if tags is None else _tags(tags),
            "status": "error" if failed else "success",
            "input": trace_in,
            "output": trace_out,
            "attributes": trace_attrs,
            "resource": resource,
            "scope": scope,
        }
    else:
        for key, value in attrs.items():
            t = type(value)
            if t is not str and t is not int and t is not bool:
                attrs[key] = _safe(value)

    parent_id = "%016x" % parent.span_id if parent is not None else None  # noqa: UP031
    return {
        "id": "%016x" % ctx.span_id,  # noqa: UP031
        "trace_id": trace_id,
        "parent_observation_id": parent_id,
        "parent_id": parent_id,
        "type": obs_type,
        "name": name,
        "start_time": start_time,
        "end_time": end_time,
        "input": inp,
        "output": out,
        "error": error,
        "level": level,
        "metadata": metadata,
        "model": model,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": total_tokens,
        "attributes": attrs,
        "resource": resource,
        "scope": scope,
    }, trace


def _merge_mapped_metadata(metadata: dict[str, Any], mapped: Mapped) -> dict[str, Any]:
    """The span's own metadata, completed by what its dialect said (own keys win), plus the
    notes about values kept as text."""
    if not mapped.metadata and not mapped.notes:
        return metadata
    merged = {**mapped.metadata, **metadata}
    if mapped.notes:
        merged["dialect_notes"] = list(mapped.notes)
    return merged


# Resource and scope objects are shared by every span of a provider (or of one OTLP request):
# their JSON-safe forms are computed once per object. Keyed by id() with the object kept alive
# in the value, so a recycled id never returns another object's attributes.
_RESOURCES: dict[int, tuple[Any, dict[str, Any]]] = {}
_SCOPES: dict[int, tuple[Any, dict[str, Any] | None]] = {}


def _resource(span: ReadableSpan) -> dict[str, Any]:
    res = getattr(span, "resource", None)
    if res is None:
        return {}
    hit = _RESOURCES.get(id(res))
    if hit is not None and hit[0] is res:
        return hit[1]
    try:
        attributes = {str(k): _safe(v) for k, v in (res.attributes or {}).items()}
    except Exception:  # a foreign Resource-like object: keep nothing rather than fail
        attributes = {}
    if len(_RESOURCES) > 1024:
        _RESOURCES.clear()
    _RESOURCES[id(res)] = (res, attributes)
    return attributes


def _scope(span: ReadableSpan) -> dict[str, Any] | None:
    scope = getattr(span, "instrumentation_scope", None)
    if scope is None:
        return None
    hit = _SCOPES.get(id(scope))
    if hit is not None and hit[0] is scope:
        return hit[1]
    try:
        value: dict[str, Any] | None = {
            "name": _str_or_none(scope.name) or "",
            "version": _str_or_none(scope.version),
        }
    except Exception:
        value = None
    if len(_SCOPES) > 1024:
        _SCOPES.clear()
    _SCOPES[id(scope)] = (scope, value)
    return value


def _fallback_observation(span: Any, exc: Exception) -> dict[str, Any]:
    def attempt(fn: Any, default: Any) -> Any:
        try:
            return fn()
        except Exception:
            return default

    return {
        "id": attempt(lambda: _hex16(span.context.span_id), "0" * 16),
        "trace_id": attempt(lambda: _hex32(span.context.trace_id), "0" * 32),
        "parent_observation_id": attempt(
            lambda: _hex16(span.parent.span_id) if span.parent is not None else None, None
        ),
        "parent_id": attempt(
            lambda: _hex16(span.parent.span_id) if span.parent is not None else None, None
        ),
        "type": "span",
        "name": attempt(lambda: str(span.name), "unknown"),
        "start_time": attempt(lambda: format_timestamp_ns(span.start_time), None),
        "end_time": attempt(lambda: format_timestamp_ns(span.end_time), None),
        "input": None,
        "output": None,
        "error": None,
        "level": "warning",
        "metadata": {"encoding_error": f"{type(exc).__name__}: {exc}"},
        "model": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "attributes": {},
        "resource": attempt(lambda: _resource(span), {}),
        "scope": attempt(lambda: _scope(span), None),
    }
