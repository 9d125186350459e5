"""Span plumbing shared by decorators, the manual context API and ``event()``.

Starting a span, making it current, recording a result or a failure, and the per-trace scope
(metadata, tags, session and user) that ``get_current_context()`` exposes.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode

from fluxloop.sdk._conventions import Convention
from fluxloop.sdk._genai import (
    extract_response_info,
    extract_usage,
    output_messages,
    to_genai_messages,
)
from fluxloop.sdk._runtime import Runtime
from fluxloop.sdk._serialize import to_json

logger = logging.getLogger("fluxloop")

SCOPE_KEY = otel_context.create_key("fluxloop-trace-scope")


class TraceScope:
    """Trace-level state of one FluxLoop trace: the root span and what describes the trace."""

    __slots__ = ("metadata", "name", "root", "runtime", "session_id", "start_ns", "tags", "user_id")

    def __init__(self, root: Span, name: str, runtime: Runtime) -> None:
        self.root = root
        self.name = name
        self.runtime = runtime
        self.metadata: dict[str, Any] = {}
        self.tags: list[str] = []
        self.session_id: str | None = None
        self.user_id: str | None = None
        self.start_ns = time.time_ns()

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


def start_span(
    runtime: Runtime,
    convention: Convention,
    attributes: dict[str, Any],
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
    ctx = otel_trace.set_span_in_context(span, parent)
    if otel_context.get_value(SCOPE_KEY, parent) is None:
        ctx = otel_context.set_value(
            SCOPE_KEY, TraceScope(span, convention.span_name, runtime), ctx
        )
    return span, ctx


def current_scope() -> TraceScope | None:
    """The FluxLoop trace scope of the current context, if any."""
    scope = otel_context.get_value(SCOPE_KEY)
    return scope if isinstance(scope, TraceScope) else None


def input_attributes(
    runtime: Runtime, convention: Convention, value: Any, base: dict[str, Any]
) -> dict[str, Any]:
    """``base`` plus the captured input (when content capture is on)."""
    attrs = dict(base)
    if not runtime.capture_content:
        return attrs
    text, truncated = to_json(value, runtime.serialize_options)
    attrs[convention.input_attribute] = text
    if truncated:
        attrs[attr.FLUXLOOP_TRUNCATED] = [convention.input_attribute]
    if convention.observation_type == "generation" and isinstance(value, dict):
        for candidate in value.values():
            messages = to_genai_messages(candidate)
            if messages is not None:
                attrs[attr.GEN_AI_INPUT_MESSAGES] = to_json(messages, runtime.serialize_options)[0]
                break
    return attrs


def record_result(runtime: Runtime, span: Span, convention: Convention, result: Any) -> None:
    """Record a successful result: output content and the GenAI facts it carries."""
    if not span.is_recording():
        return
    values: dict[str, Any] = {}
    if runtime.capture_content:
        text, truncated = to_json(result, runtime.serialize_options)
        values[convention.output_attribute] = text
        if truncated:
            _mark_truncated(span, convention.output_attribute)
    kind = convention.observation_type
    if kind in {"generation", "embedding", "agent"}:
        values.update(genai_result_attributes(runtime, kind, result))
    if len(values) == 1:  # the common case; set_attributes costs a second cleaning pass
        span.set_attribute(*next(iter(values.items())))
    elif values:
        span.set_attributes(values)


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
            values[attr.GEN_AI_OUTPUT_MESSAGES] = to_json(messages, runtime.serialize_options)[0]
    return values


def _embedding_dimensions(result: Any) -> int | None:
    vector = result
    if isinstance(vector, list) and vector and isinstance(vector[0], list):
        vector = vector[0]
    if isinstance(vector, list) and vector and all(isinstance(x, int | float) for x in vector[:4]):
        return len(vector)
    return None


def _mark_truncated(span: Span, key: str) -> None:
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
        message = str(exc)
        span.set_status(
            Status(
                StatusCode.ERROR,
                f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
            )
        )
        span.set_attribute(attr.ERROR_TYPE, qualified_name(type(exc)))
        span.record_exception(exc, escaped=True)
    except Exception:
        logger.debug("fluxloop: could not record a failure", exc_info=True)


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
