"""Span plumbing shared by decorators, the manual context API and ``event()``.

Starting a span, making it current, recording a result or a failure, and the per-trace scope
(metadata, tags, session and user) that ``get_current_context()`` exposes.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace import propagation as _otel_propagation

from fluxloop.sdk._conventions import Convention
from fluxloop.sdk._deferred import snapshot
from fluxloop.sdk._genai import (
    extract_response_info,
    extract_usage,
    output_messages,
    to_genai_messages,
)
from fluxloop.sdk._runtime import Runtime, current_runtime
from fluxloop.sdk._serialize import to_json
from fluxloop.sdk.masking import mask_text

logger = logging.getLogger("fluxloop")

SCOPE_KEY = otel_context.create_key("fluxloop-trace-scope")


class TraceScope:
    """Trace-level state of one FluxLoop trace: the root span and what describes the trace.

    Created on first use (:func:`scope_in`): starting a root span only marks it in the context.
    """

    __slots__ = (
        "context",
        "metadata",
        "name",
        "root",
        "runtime",
        "session_id",
        "start_ns",
        "tags",
        "user_id",
    )

    def __init__(self, root: Span, name: str, runtime: Runtime) -> None:
        self.root = root
        self.name = name
        self.runtime = runtime
        self.metadata: dict[str, Any] = {}
        self.tags: list[str] = []
        self.session_id: str | None = None
        self.user_id: str | None = None
        self.start_ns: int = getattr(root, "start_time", None) or time.time_ns()
        #: the one FluxLoopContext of this trace (so get_current_context() is the ``ctx`` that
        #: ``with instrument(...) as ctx`` gave), made on first use
        self.context: Any = None

    def sync_root(self) -> None:
        """Write the trace-level attributes onto the root span (a no-op once it ended)."""
        try:
            if not self.root.is_recording():
                return
            values: dict[str, Any] = {}
            if self.metadata:
                values[attr.FLUXLOOP_METADATA] = to_json(
                    self.metadata, self.runtime.serialize_options
                )[0]
            if self.tags:
                values[attr.FLUXLOOP_TAGS] = list(self.tags)
            if self.session_id:
                values[attr.FLUXLOOP_SESSION_ID] = self.session_id
            if self.user_id:
                values[attr.FLUXLOOP_USER_ID] = self.user_id
            self.root.set_attributes(values)
        except Exception:
            logger.debug("fluxloop: could not update the root span", exc_info=True)


#: Scopes of root spans, made on first use; they live as long as their root span.
_SCOPES: weakref.WeakKeyDictionary[Span, TraceScope] = weakref.WeakKeyDictionary()
_SCOPES_LOCK = threading.Lock()

# The OpenTelemetry API's context key of the current span: with it, a root span and its scope
# marker go into one new context instead of two. Private to the API, so looked up defensively.
_SPAN_KEY: str | None = getattr(_otel_propagation, "_SPAN_KEY", None)
if not isinstance(_SPAN_KEY, str):  # pragma: no cover - depends on the installed API
    _SPAN_KEY = None


def start_span(
    runtime: Runtime,
    convention: Convention,
    attributes: dict[str, Any] | None,
    parent: otel_context.Context | None = None,
) -> tuple[Span, otel_context.Context]:
    """Start a span for ``convention``; return it and the context in which it is current."""
    tracer = runtime.tracer
    if tracer is None:
        raise RuntimeError("FluxLoop is not configured")
    if parent is None:
        parent = otel_context.get_current()
    span = tracer.start_span(
        convention.span_name,
        parent,
        convention.kind,
        attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return span, context_with_span(span, parent)


def context_with_span(span: Span, parent: otel_context.Context) -> otel_context.Context:
    """``parent`` with ``span`` current; a root of a FluxLoop trace also marks its scope."""
    if SCOPE_KEY in parent:
        return otel_trace.set_span_in_context(span, parent)
    if _SPAN_KEY is not None:
        values = parent.copy()
        values[_SPAN_KEY] = span
        values[SCOPE_KEY] = span  # the root: its TraceScope is made on first use
        return otel_context.Context(values)
    ctx = otel_trace.set_span_in_context(span, parent)
    return otel_context.set_value(SCOPE_KEY, span, ctx)


def scope_in(ctx: otel_context.Context | None = None) -> TraceScope | None:
    """The FluxLoop trace scope of ``ctx`` (default: the current context), if any."""
    marker = otel_context.get_value(SCOPE_KEY, ctx)
    if marker is None:
        return None
    if isinstance(marker, TraceScope):
        return marker
    if not isinstance(marker, Span):
        return None
    scope = _SCOPES.get(marker)
    if scope is None:
        with _SCOPES_LOCK:
            scope = _SCOPES.get(marker)
            if scope is None:
                name = getattr(marker, "name", None) or ""
                scope = _SCOPES[marker] = TraceScope(marker, name, current_runtime())
    return scope


def current_scope() -> TraceScope | None:
    """The FluxLoop trace scope of the current context, if any."""
    return scope_in()


def content_deferred(runtime: Runtime) -> bool:
    """Whether captured content may be deferred (see :mod:`fluxloop.sdk._deferred`): only
    while FluxLoop's router is the provider's one span processor, so that no processor
    FluxLoop does not own can see content before it is checked."""
    gate = runtime.content_gate
    return gate is not None and len(gate._span_processors) == 1


def capture_content(runtime: Runtime, value: Any, defer: bool) -> tuple[str | bytes, bool]:
    """``value`` as an attribute value: deferred bytes when ``defer`` (see
    :func:`content_deferred`) and possible, else checked text; and whether it was truncated."""
    if defer:
        data = snapshot(value, runtime.serialize_options.max_bytes)
        if data is not None:
            return data, False
    return to_json(value, runtime.serialize_options)


def input_attributes(
    runtime: Runtime,
    convention: Convention,
    value: Any,
    base: dict[str, Any],
    defer: bool | None = None,
) -> dict[str, Any]:
    """``base`` plus the captured input (when content capture is on); ``defer`` as
    :func:`content_deferred` says unless given."""
    attrs = dict(base)
    if not runtime.capture_content:
        return attrs
    if defer is None:
        defer = content_deferred(runtime)
    text, truncated = capture_content(runtime, value, defer)
    attrs[convention.input_attribute] = text
    if truncated:
        attrs[attr.FLUXLOOP_TRUNCATED] = [convention.input_attribute]
    if convention.observation_type == "generation" and isinstance(value, dict):
        for candidate in value.values():
            messages = to_genai_messages(candidate)
            if messages is not None:
                attrs[attr.GEN_AI_INPUT_MESSAGES] = capture_content(runtime, messages, defer)[0]
                break
    return attrs


#: An agent result of these types carries no usage to read.
USAGELESS_RESULTS = frozenset({str, int, float, bool, type(None)})
_ALWAYS_FACTS = frozenset({"generation", "embedding"})


def result_attributes(
    runtime: Runtime, convention: Convention, result: Any, capture_output: bool = True
) -> tuple[dict[str, Any], bool]:
    """What a successful result sets on its span: the output (when captured) and the GenAI
    facts it carries (an agent's usage only with its output); and whether the output was
    truncated."""
    values: dict[str, Any] = {}
    truncated = False
    kind = convention.observation_type
    if capture_output:
        if runtime.capture_content:
            text, truncated = capture_content(runtime, result, content_deferred(runtime))
            values[convention.output_attribute] = text
        values.update(result_facts(runtime, kind, result))
    elif kind in _ALWAYS_FACTS:
        values.update(genai_result_attributes(runtime, kind, result))
    return values, truncated


def record_result(runtime: Runtime, span: Span, convention: Convention, result: Any) -> None:
    """Record a successful result: output content and the GenAI facts it carries."""
    if not span.is_recording():
        return
    values, truncated = result_attributes(runtime, convention, result)
    if truncated:
        mark_truncated(span, convention.output_attribute)
    if len(values) == 1:  # the common case; set_attributes costs a second cleaning pass
        span.set_attribute(*next(iter(values.items())))
    elif values:
        span.set_attributes(values)


def result_facts(runtime: Runtime, kind: str, result: Any) -> dict[str, Any]:
    """The GenAI facts a result of an observation of type ``kind`` carries (usage, response
    identity, output messages, embedding size); empty when it can carry none."""
    if kind in _ALWAYS_FACTS or (kind == "agent" and type(result) not in USAGELESS_RESULTS):
        return genai_result_attributes(runtime, kind, result)
    return {}


def genai_result_attributes(runtime: Runtime, kind: str, result: Any) -> dict[str, Any]:
    """Usage tokens, response identity, output messages and embedding size of a result."""
    values: dict[str, Any] = {}
    usage = extract_usage(result)
    if usage is not None:
        for key, number in (
            (attr.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
            (attr.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
            (attr.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_input_tokens),
            (attr.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_output_tokens),
        ):
            if number is not None:
                values[key] = number
    if kind != "generation":
        if kind == "embedding":
            dims = _embedding_dimensions(result)
            if dims:
                values[attr.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dims
        return values
    info = extract_response_info(result)
    if info is not None:
        if info.model:
            values[attr.GEN_AI_RESPONSE_MODEL] = info.model
        if info.response_id:
            values[attr.GEN_AI_RESPONSE_ID] = info.response_id
        if info.finish_reasons:
            values[attr.GEN_AI_RESPONSE_FINISH_REASONS] = list(info.finish_reasons)
    if runtime.capture_content:
        messages = output_messages(result)
        if messages is not None:
            values[attr.GEN_AI_OUTPUT_MESSAGES] = capture_content(
                runtime, messages, content_deferred(runtime)
            )[0]
    return values


def _embedding_dimensions(result: Any) -> int | None:
    vector = result
    if isinstance(vector, list) and vector and isinstance(vector[0], list):
        vector = vector[0]
    if isinstance(vector, list) and vector and all(isinstance(x, int | float) for x in vector[:4]):
        return len(vector)
    return None


#: Where a decorated call keeps the attributes it sets when its span ends (see
#: ``Runtime.late_attributes``), for FluxLoop's own code that inspects open spans.
PENDING_ATTRIBUTES = "_fluxloop_pending"


def span_attributes(span: Span | None) -> Mapping[str, Any]:
    """The attributes of ``span``, including those a decorated call sets only when it ends."""
    found = getattr(span, "attributes", None)
    attributes = found if isinstance(found, Mapping) else {}
    pending = getattr(span, PENDING_ATTRIBUTES, None)
    if pending:
        return {**pending, **attributes}
    return attributes


def mark_truncated(span: Span, key: str) -> None:
    """Add ``key`` to the span's truncation marker."""
    existing = getattr(span, "attributes", None) or {}
    previous = list(existing.get(attr.FLUXLOOP_TRUNCATED, ()))
    span.set_attribute(attr.FLUXLOOP_TRUNCATED, [*previous, key])


def qualified_name(exc_type: type[BaseException]) -> str:
    """``error.type``: the exception's qualified name (builtins unqualified)."""
    module = exc_type.__module__
    name = exc_type.__qualname__
    return name if module in {"builtins", "__main__"} else f"{module}.{name}"


def record_failure(span: Span, exc: BaseException) -> None:
    """Status ERROR, ``error.type`` and the exception recorded; never raises."""
    try:
        if not span.is_recording():
            return
        message = mask_text(exc)
        span.set_status(
            Status(
                StatusCode.ERROR,
                f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
            )
        )
        span.set_attribute(attr.ERROR_TYPE, qualified_name(type(exc)))
        span.add_event("exception", exception_attributes(exc, message))
    except Exception:
        logger.debug("fluxloop: could not record a failure", exc_info=True)


def exception_attributes(exc: BaseException, message: str | None = None) -> dict[str, Any]:
    """The attributes of an OTel ``exception`` event (what ``Span.record_exception`` records,
    escaped), with the message and the traceback masked: a message often embeds the very key
    that failed (``RuntimeError("bad key " + key)``)."""
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ""
    return {
        "exception.type": type(exc).__name__,
        "exception.message": mask_text(exc) if message is None else message,
        "exception.stacktrace": mask_text(stack),
        "exception.escaped": "True",
    }


def end_span(span: Span, token: object | None) -> None:
    """Detach ``token`` (if any) and end ``span``; never raises."""
    if token is not None:
        try:
            otel_context.detach(token)  # type: ignore[arg-type]
        except Exception:
            logger.debug("fluxloop: could not detach the context", exc_info=True)
    try:
        span.end()
    except Exception:
        logger.debug("fluxloop: could not end a span", exc_info=True)
