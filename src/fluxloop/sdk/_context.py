"""Context API: ``get_current_context()``, ``get_current_trace()``, ``instrument()``, ``event()``.

Compatible with the original SDK's manual "Pattern A" integration: ``push_observation()`` /
``pop_observation()`` create real OpenTelemetry spans, nested under whatever is current.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

from fluxloop_semconv import attributes as attr
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode

from fluxloop.sdk._conventions import build_convention
from fluxloop.sdk._models import ObservationData, ObservationLevel, ObservationType, TraceData
from fluxloop.sdk._runtime import current_runtime
from fluxloop.sdk._serialize import to_json
from fluxloop.sdk._spans import (
    SCOPE_KEY,
    TraceScope,
    current_scope,
    end_span,
    input_attributes,
    record_failure,
    record_result,
    scope_in,
    start_span,
)
from fluxloop.sdk.masking import mask_text

logger = logging.getLogger("fluxloop")

F = TypeVar("F", bound=Callable[..., Any])

_Pushed = tuple[ObservationData, Span, object]
_MANUAL_STACK: ContextVar[tuple[_Pushed, ...]] = ContextVar("fluxloop_manual_stack", default=())


def _hex_span_id(span: Span) -> str:
    return format(span.get_span_context().span_id, "016x")


def _hex_trace_id(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


class FluxLoopContext:
    """The current FluxLoop trace, as seen from inside it.

    Obtained from :func:`get_current_context` (or ``with fluxloop.instrument(...) as ctx``).
    """

    def __init__(self, scope: TraceScope) -> None:
        self._scope = scope

    @property
    def trace(self) -> TraceData:
        """The trace this context belongs to."""
        scope = self._scope
        return TraceData(
            id=_hex_trace_id(scope.root),
            name=scope.name,
            start_time=_utc(scope.start_ns),
            session_id=scope.session_id,
            user_id=scope.user_id,
            metadata=dict(scope.metadata),
            tags=list(scope.tags),
        )

    def is_enabled(self) -> bool:
        """True when this trace is being recorded (FluxLoop enabled and the trace sampled)."""
        runtime = current_runtime()
        return runtime.enabled and self._scope.root.is_recording()

    def add_metadata(self, key: str, value: Any) -> None:
        """Attach ``key: value`` to the trace's metadata."""
        self._scope.metadata[str(key)] = value
        self._scope.sync_root()

    def add_tag(self, tag: str) -> None:
        """Tag the trace (duplicates are ignored)."""
        if tag not in self._scope.tags:
            self._scope.tags.append(str(tag))
            self._scope.sync_root()

    def set_user(self, user_id: str | None) -> None:
        """Set the trace's user id."""
        self._scope.user_id = user_id
        self._scope.sync_root()

    def set_session(self, session_id: str | None) -> None:
        """Set the trace's session id."""
        self._scope.session_id = session_id
        self._scope.sync_root()

    def push_observation(self, observation: ObservationData) -> ObservationData:
        """Start a real span for ``observation`` and make it current until :meth:`pop_observation`.

        Fills ``id``, ``trace_id``, ``parent_observation_id`` and ``start_time``.
        """
        try:
            runtime = current_runtime()
            if not runtime.enabled or runtime.tracer is None:
                return observation
            parent_span = otel_trace.get_current_span()
            convention = build_convention(
                observation.type, observation.name, model=observation.model
            )
            attrs = dict(convention.static_attributes)
            if observation.metadata:
                attrs[attr.FLUXLOOP_METADATA] = to_json(
                    observation.metadata, runtime.serialize_options
                )[0]
            if observation.input is not None:
                attrs = input_attributes(runtime, convention, observation.input, attrs)
            span, ctx = start_span(runtime, convention, attrs)
            token = otel_context.attach(ctx)
            observation.id = _hex_span_id(span)
            observation.trace_id = _hex_trace_id(span)
            if parent_span.get_span_context().is_valid:
                observation.parent_observation_id = _hex_span_id(parent_span)
            observation.start_time = datetime.now(UTC)
            _MANUAL_STACK.set((*_MANUAL_STACK.get(), (observation, span, token)))
        except Exception:
            logger.debug("fluxloop: push_observation failed", exc_info=True)
        return observation

    def pop_observation(self) -> ObservationData | None:
        """End the most recently pushed observation's span, recording its output or error."""
        stack = _MANUAL_STACK.get()
        if not stack:
            return None
        observation, span, token = stack[-1]
        _MANUAL_STACK.set(stack[:-1])
        try:
            runtime = current_runtime()
            convention = build_convention(
                observation.type, observation.name, model=observation.model
            )
            if observation.output is not None:
                record_result(runtime, span, convention, observation.output)
            tokens = {
                attr.GEN_AI_USAGE_INPUT_TOKENS: observation.prompt_tokens,
                attr.GEN_AI_USAGE_OUTPUT_TOKENS: observation.completion_tokens,
            }
            span.set_attributes({k: v for k, v in tokens.items() if v is not None})
            level = str(
                observation.level.value
                if isinstance(observation.level, ObservationLevel)
                else observation.level
            )
            if observation.error or level == "error":
                span.set_status(Status(StatusCode.ERROR, mask_text(observation.error or "error")))
            elif level != "info":
                span.set_attribute(attr.FLUXLOOP_OBSERVATION_LEVEL, level)
        except Exception:
            logger.debug("fluxloop: pop_observation failed", exc_info=True)
        end_span(span, token)
        observation.end_time = datetime.now(UTC)
        return observation


def _context_of(scope: TraceScope) -> FluxLoopContext:
    context = scope.context
    if context is None:
        context = scope.context = FluxLoopContext(scope)
    return context  # type: ignore[no-any-return]


def get_current_context() -> FluxLoopContext | None:
    """The current FluxLoop trace context, or None outside a trace.

    Inside ``with fluxloop.instrument(...) as ctx`` it is that same ``ctx``, also when FluxLoop
    is disabled or the trace was sampled out.
    """
    scope = current_scope()
    return _context_of(scope) if scope is not None else None


def get_current_trace() -> TraceData | None:
    """The current trace's data, or None outside a trace."""
    ctx = get_current_context()
    return ctx.trace if ctx is not None else None


def _checked_metadata(metadata: object) -> dict[str, Any]:
    """``metadata`` as a dict; anything but a mapping is dropped with a warning (instrumentation
    never raises into the app)."""
    if metadata is None:
        return {}
    if isinstance(metadata, Mapping):
        try:
            return {str(k): v for k, v in metadata.items()}
        except Exception:
            pass
    logger.warning(
        "fluxloop: instrument(metadata=...) expects a mapping, found %s; ignored",
        type(metadata).__name__,
    )
    return {}


def _checked_tags(tags: object) -> list[str]:
    """``tags`` as a list of strings: a lone string is one tag; anything else that is not a
    list, tuple or set of strings is dropped with a warning."""
    if tags is None:
        return []
    if isinstance(tags, str):
        return [tags]
    if isinstance(tags, list | tuple | set | frozenset) and all(isinstance(t, str) for t in tags):
        return list(tags)
    logger.warning(
        "fluxloop: instrument(tags=...) expects a list of strings, found %s; ignored",
        type(tags).__name__,
    )
    return []


def _checked_id(name: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    logger.warning(
        "fluxloop: instrument(%s=...) expects a string, found %s; ignored",
        name,
        type(value).__name__,
    )
    return None


class instrument:
    """Open a traced scope: ``with fluxloop.instrument("name", session_id=...) as ctx:``.

    Also a decorator (sync and async functions). At the top level it starts a new trace whose
    session, user, metadata and tags it sets; nested, it is a child span whose settings apply
    to the enclosing trace.
    """

    def __init__(
        self,
        name: str,
        session_id: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.session_id = _checked_id("session_id", session_id)
        self.user_id = _checked_id("user_id", user_id)
        self.metadata = _checked_metadata(metadata)
        self.tags = _checked_tags(tags)
        self._entered: list[tuple[Span | None, object] | None] = []

    def __enter__(self) -> FluxLoopContext:
        entered: tuple[Span | None, object] | None = None
        scope: TraceScope | None = None
        try:
            runtime = current_runtime()
            if runtime.enabled and runtime.tracer is not None:
                convention = build_convention(ObservationType.SPAN, self.name)
                span, ctx = start_span(runtime, convention, dict(convention.static_attributes))
                entered = (span, otel_context.attach(ctx))
                scope = scope_in(ctx)
                if scope is not None and scope.root is span:
                    scope.name = self.name
            else:
                # disabled: nothing is recorded, but the app's ``ctx.add_metadata(...)`` and
                # get_current_context() must keep working (the original gave a context too)
                scope = current_scope()
                if scope is None:
                    scope = TraceScope(otel_trace.INVALID_SPAN, self.name, runtime)
                    ctx = otel_context.set_value(SCOPE_KEY, scope)
                    entered = (None, otel_context.attach(ctx))
        except Exception:
            logger.debug("fluxloop: instrument() failed to start", exc_info=True)
        if scope is None:  # setting up failed: a context of its own, recording nothing
            scope = TraceScope(otel_trace.INVALID_SPAN, self.name, current_runtime())
        scope.metadata.update(self.metadata)
        scope.tags.extend(t for t in self.tags if t not in scope.tags)
        scope.session_id = self.session_id or scope.session_id
        scope.user_id = self.user_id or scope.user_id
        scope.sync_root()
        self._entered.append(entered)
        return _context_of(scope)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered = self._entered.pop() if self._entered else None
        if entered is None:
            return
        span, token = entered
        if span is None:
            try:
                otel_context.detach(token)  # type: ignore[arg-type]
            except Exception:
                logger.debug("fluxloop: could not detach the context", exc_info=True)
            return
        if exc is not None:
            record_failure(span, exc)
        end_span(span, token)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._copy():
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]

    def _copy(self) -> instrument:
        return instrument(self.name, self.session_id, self.user_id, self.metadata, self.tags)


def event(name: str, **attributes: Any) -> None:
    """Record a point-in-time event: a zero-duration ``event`` span under the current span."""
    try:
        runtime = current_runtime()
        if not runtime.enabled or runtime.tracer is None:
            return
        convention = build_convention(ObservationType.EVENT, name)
        attrs = dict(convention.static_attributes)
        if attributes and runtime.capture_content:
            attrs[attr.FLUXLOOP_METADATA] = to_json(attributes, runtime.serialize_options)[0]
        now = time.time_ns()
        span = runtime.tracer.start_span(
            convention.span_name, None, convention.kind, attrs, start_time=now
        )
        span.end(end_time=now)
    except Exception:
        logger.debug("fluxloop: event() failed", exc_info=True)
