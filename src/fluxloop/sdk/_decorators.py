"""The decorators: ``agent``, ``tool``, ``prompt``, ``retrieval``, ``embedding``, ``trace``.

Each works bare (``@fluxloop.tool``) or called (``@fluxloop.tool(name=...)``), on sync and
async functions, generators and async generators, methods, classmethods and staticmethods.
The wrapped function's signature, return value and exceptions are unchanged (wrapt), and
nothing FluxLoop does can raise into it: any internal failure falls back to a plain call.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import wrapt
from fluxloop_semconv import attributes as attr
from opentelemetry import context as otel_context
from opentelemetry.trace import Span

from fluxloop.sdk import _serialize
from fluxloop.sdk._conventions import Convention, build_convention, observation_type_of
from fluxloop.sdk._models import ObservationType
from fluxloop.sdk._recording import auto_record, record_arguments
from fluxloop.sdk._runtime import CLIENT_RUNTIME, RUNTIME, Runtime, current_runtime
from fluxloop.sdk._serialize import to_json
from fluxloop.sdk._spans import (
    PENDING_ATTRIBUTES,
    SCOPE_KEY,
    USAGELESS_RESULTS,
    capture_content,
    content_deferred,
    context_with_span,
    end_span,
    genai_result_attributes,
    input_attributes,
    mark_truncated,
    record_failure,
    start_span,
)
from fluxloop.sdk._streaming import trace_generator

logger = logging.getLogger("fluxloop")

F = TypeVar("F", bound=Callable[..., Any])

_SELF_NAMES = frozenset({"self", "cls", "mcs"})


class _Binder:
    """Maps a call's positional and keyword arguments to parameter names, cheaply.

    ``inspect.Signature.bind`` costs microseconds per call; this precomputes what it needs.
    """

    __slots__ = ("defaults", "names", "plain", "skip_first", "varargs")

    def __init__(self, func: Callable[..., Any]) -> None:
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            params = []
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self.skip_first = bool(positional) and positional[0].name in _SELF_NAMES
        self.names = tuple(p.name for p in positional[1 if self.skip_first else 0 :])
        self.varargs = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        self.defaults = {
            p.name: p.default
            for p in params
            if p.default is not p.empty and p.name not in _SELF_NAMES
        }
        #: positional arguments map one to one to names (the common case, bound in one step)
        self.plain = not self.skip_first and not self.defaults

    def bind(
        self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
        if self.plain and not kwargs and len(args) <= len(self.names):
            return dict(zip(self.names, args, strict=False))
        if self.skip_first and instance is None and args:
            args = args[1:]
        bound = dict(zip(self.names, args, strict=False))
        if len(args) > len(self.names):
            bound[self.varargs or "args"] = args[len(self.names) :]
        if kwargs:
            bound.update(kwargs)
        for name, default in self.defaults.items():
            bound.setdefault(name, default)
        return bound


def _raw_function(func: Any) -> Callable[..., Any]:
    return getattr(func, "__func__", func)  # type: ignore[no-any-return]


class Instrumentation:
    """What stays the same across calls of one decorated function."""

    def __init__(
        self,
        func: Callable[..., Any],
        convention: Convention,
        *,
        capture_input: bool,
        capture_output: bool,
        metadata: Mapping[str, Any] | None,
    ) -> None:
        raw = _raw_function(func)
        self.convention = convention
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.binder = _Binder(raw)
        self.static_attributes = dict(convention.static_attributes)
        self.metadata = dict(metadata or {})
        self._metadata_json: str | None = None
        self.is_async_gen = inspect.isasyncgenfunction(raw)
        self.is_gen = inspect.isgeneratorfunction(raw)
        self.is_coroutine = inspect.iscoroutinefunction(raw)
        self.kind = convention.observation_type
        self.span_name = convention.span_name
        self.span_kind = convention.kind
        #: neither a coroutine function nor a generator function
        self.is_plain = not (self.is_async_gen or self.is_gen or self.is_coroutine)
        self.input_attribute = convention.input_attribute
        self.output_attribute = convention.output_attribute
        #: model and embedding results always carry GenAI facts (usage, response, vectors)
        self.result_facts = self.kind in {"generation", "embedding"}
        #: an agent's result may carry usage; read when its output is captured
        self.agent_usage = self.kind == "agent" and capture_output
        #: whether calls may set their attributes when the span ends: not for model calls
        #: (integrations enrich their spans while they are open) nor with metadata (the trace's
        #: metadata, set during the call, must win over the decorator's)
        self.late = self.kind != "generation" and not self.metadata
        #: agents record their arguments for replay when ``record_args`` is on
        self.record_target = (
            f"{getattr(raw, '__module__', '?')}:{getattr(raw, '__qualname__', '?')}"
            if convention.observation_type == "agent"
            else None
        )

    def start_attributes(
        self,
        runtime: Runtime,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        defer: bool,
    ) -> dict[str, Any]:
        """The span's attributes known before the call: the static ones, metadata, input."""
        attrs = self.static_attributes
        if self.metadata:
            if self._metadata_json is None:
                self._metadata_json = to_json(self.metadata, runtime.serialize_options)[0]
            attrs = {**attrs, attr.FLUXLOOP_METADATA: self._metadata_json}
        if self.capture_input and runtime.capture_content:
            value = self.binder.bind(instance, args, kwargs)
            return input_attributes(runtime, self.convention, value, attrs, defer)
        return attrs

    def start(
        self, runtime: Runtime, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Span, otel_context.Context]:
        """Start the span; return it and its context. Raises only on FluxLoop bugs."""
        attrs = self.start_attributes(runtime, instance, args, kwargs, content_deferred(runtime))
        return start_span(runtime, self.convention, attrs)

    def enter(
        self, runtime: Runtime, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Span, object, dict[str, Any] | None]:
        """Start the span and make it current; return it, the context token and the
        attributes still to set (late attributes, see ``Runtime.late_attributes``)."""
        gate = runtime.content_gate  # content_deferred(), inline: this runs on every call
        if not (self.late and runtime.late_attributes and len(gate._span_processors) == 1):
            span, ctx = self.start(runtime, instance, args, kwargs)
            return span, otel_context.attach(ctx), None
        # Nothing FluxLoop does not own reads the span before it ends and the sampler ignores
        # attributes: set them all at once at the end, which costs a third less (and capture
        # nothing for a span sampled out).
        parent = otel_context.get_current()
        span = runtime.tracer.start_span(  # type: ignore[union-attr]
            self.span_name,
            parent,
            self.span_kind,
            None,
            record_exception=False,
            set_status_on_exception=False,
        )
        token = otel_context.attach(context_with_span(span, parent))
        if not span.is_recording():
            return span, token, None
        pending = dict(self.static_attributes)  # no metadata here: see self.late
        if self.capture_input:
            try:
                value = self.binder.bind(instance, args, kwargs)
                pending[self.input_attribute], truncated = capture_content(runtime, value, True)
                if truncated:
                    pending[attr.FLUXLOOP_TRUNCATED] = [self.input_attribute]
            except Exception:  # the span is current already: it must still end normally
                logger.debug("fluxloop: could not capture the input", exc_info=True)
        setattr(span, PENDING_ATTRIBUTES, pending)  # spans take it: see Runtime.late_attributes
        return span, token, pending

    def exit(
        self,
        runtime: Runtime,
        span: Span,
        token: object,
        result: Any,
        pending: dict[str, Any] | None,
    ) -> None:
        """Record the result, set the late attributes and end the span; never raises."""
        try:
            if pending is not None or span.is_recording():
                # result_attributes(), unrolled: this runs on every call, and its calls cost
                values = {} if pending is None else pending
                if self.capture_output and runtime.capture_content:
                    # late attributes imply deferral was allowed when the span started (the
                    # router resolves the span if a processor was added since)
                    defer = pending is not None or content_deferred(runtime)
                    text, truncated = capture_content(runtime, result, defer)
                    values[self.output_attribute] = text
                    if truncated:
                        self._mark_output_truncated(span, values, pending)
                if self.result_facts or (
                    self.agent_usage and type(result) not in USAGELESS_RESULTS
                ):
                    values.update(genai_result_attributes(runtime, self.kind, result))
                if values:
                    span.set_attributes(values)
        except Exception:
            logger.debug("fluxloop: could not record the result", exc_info=True)
        end_span(span, token)

    def _mark_output_truncated(
        self, span: Span, values: dict[str, Any], pending: dict[str, Any] | None
    ) -> None:
        if pending is None:
            mark_truncated(span, self.output_attribute)
        else:
            marked = list(values.get(attr.FLUXLOOP_TRUNCATED) or ())
            values[attr.FLUXLOOP_TRUNCATED] = [*marked, self.output_attribute]

    def fail(
        self, span: Span, token: object, exc: BaseException, pending: dict[str, Any] | None
    ) -> None:
        """Record a failure, set the late attributes and end the span; never raises."""
        if pending:
            try:
                span.set_attributes(pending)
            except Exception:
                logger.debug("fluxloop: could not set the span's attributes", exc_info=True)
        record_failure(span, exc)
        end_span(span, token)

    def __call__(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        runtime = CLIENT_RUNTIME.get() or RUNTIME
        if not runtime.configured:
            runtime = current_runtime()
        if _serialize.slow_reprs_seen and SCOPE_KEY not in otel_context.get_current():
            _serialize.forget_slow_reprs()  # an outermost call: the last call's reprs are old
        if self.record_target is not None and runtime.config.record_args and runtime.enabled:
            return self._recorded(runtime, wrapped, instance, args, kwargs)
        if not self.is_plain or not runtime.late_attributes:
            return self._dispatch(runtime, wrapped, instance, args, kwargs)
        # _dispatch for a plain function, inline (late attributes imply a traced runtime)
        try:
            span, token, pending = self.enter(runtime, instance, args, kwargs)
        except Exception:
            logger.debug("fluxloop: instrumentation failed; calling untraced", exc_info=True)
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            self.fail(span, token, exc, pending)
            raise
        self.exit(runtime, span, token, result, pending)
        return result

    def _recorded(
        self,
        runtime: Runtime,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """The call, with its arguments recorded for replay (see ``record_call_args``)."""
        target = str(self.record_target)

        def arguments() -> dict[str, Any]:
            return self.binder.bind(instance, args, kwargs)

        if self.is_coroutine:

            async def recorded_coroutine() -> Any:
                with auto_record(target, arguments):
                    return await self._dispatch(runtime, wrapped, instance, args, kwargs)

            return recorded_coroutine()
        if self.is_gen or self.is_async_gen:
            record_arguments(target, None, arguments())
            return self._dispatch(runtime, wrapped, instance, args, kwargs)
        with auto_record(target, arguments):
            return self._dispatch(runtime, wrapped, instance, args, kwargs)

    def _dispatch(
        self,
        runtime: Runtime,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if not runtime.enabled or runtime.tracer is None:
            return wrapped(*args, **kwargs)
        if self.is_gen or self.is_async_gen:
            return trace_generator(self, runtime, wrapped, instance, args, kwargs)
        if self.is_coroutine:
            return self._call_async(runtime, wrapped, instance, args, kwargs)
        try:
            span, token, pending = self.enter(runtime, instance, args, kwargs)
        except Exception:
            logger.debug("fluxloop: instrumentation failed; calling untraced", exc_info=True)
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            self.fail(span, token, exc, pending)
            raise
        self.exit(runtime, span, token, result, pending)
        return result

    async def _call_async(
        self,
        runtime: Runtime,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        try:
            span, token, pending = self.enter(runtime, instance, args, kwargs)
        except Exception:
            logger.debug("fluxloop: instrumentation failed; calling untraced", exc_info=True)
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            self.fail(span, token, exc, pending)
            raise
        self.exit(runtime, span, token, result, pending)
        return result


def _decorate(
    func: F,
    observation_type: ObservationType | str,
    name: str | None,
    *,
    capture_input: bool = True,
    capture_output: bool = True,
    metadata: Mapping[str, Any] | None = None,
    **convention_args: Any,
) -> F:
    raw = _raw_function(func)
    display = name or getattr(raw, "__name__", None) or type(raw).__name__
    convention = build_convention(observation_type, display, **convention_args)
    instrumentation = Instrumentation(
        func,
        convention,
        capture_input=capture_input,
        capture_output=capture_output,
        metadata=metadata,
    )
    wrapper: F = wrapt.FunctionWrapper(func, instrumentation)  # type: ignore[assignment]
    return wrapper


def _decorator_factory(
    func: Callable[..., Any] | None,
    observation_type: ObservationType | str,
    options: dict[str, Any],
) -> Any:
    if (func is not None and callable(func)) or isinstance(func, classmethod | staticmethod):
        return _decorate(func, observation_type, **options)
    if func is not None:
        raise TypeError(f"expected a function to decorate or keyword options, found {func!r}")

    def decorator(target: F) -> F:
        return _decorate(target, observation_type, **options)

    return decorator


@overload
def agent(func: F, /) -> F: ...
@overload
def agent(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...
def agent(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Mark an agent entry point: an ``invoke_agent {name}`` span (INTERNAL)."""
    return _decorator_factory(
        func,
        ObservationType.AGENT,
        {
            "name": name,
            "description": description,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    tool_type: str = "function",
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...
def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    tool_type: str = "function",
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Mark a tool: an ``execute_tool {name}`` span with the call's arguments and result."""
    return _decorator_factory(
        func,
        ObservationType.TOOL,
        {
            "name": name,
            "description": description,
            "tool_type": tool_type,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )


@overload
def prompt(func: F, /) -> F: ...
@overload
def prompt(
    func: None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    capture_tokens: bool = True,
) -> Callable[[F], F]: ...
def prompt(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
    capture_tokens: bool = True,
) -> Any:
    """Mark a model call: a ``chat {model}`` span (CLIENT) with token usage from the result.

    Usage is read from a dict ``usage``, OpenAI / Anthropic response objects and LangChain
    ``AIMessage.usage_metadata``; recognised chat messages become ``gen_ai.input.messages`` /
    ``gen_ai.output.messages``. ``capture_tokens`` is accepted for compatibility.
    """
    del capture_tokens
    return _decorator_factory(
        func,
        ObservationType.GENERATION,
        {
            "name": name,
            "model": model,
            "provider": provider,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )


@overload
def retrieval(func: F, /) -> F: ...
@overload
def retrieval(
    func: None = None,
    /,
    *,
    name: str | None = None,
    data_source: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...
def retrieval(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    data_source: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Mark a retrieval (RAG, search, database lookup): a ``retrieval {data_source}`` span."""
    return _decorator_factory(
        func,
        ObservationType.RETRIEVAL,
        {
            "name": name,
            "data_source": data_source,
            "provider": provider,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )


@overload
def embedding(func: F, /) -> F: ...
@overload
def embedding(
    func: None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...
def embedding(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Mark an embedding call: an ``embeddings {model}`` span with the vector dimension."""
    return _decorator_factory(
        func,
        ObservationType.EMBEDDING,
        {
            "name": name,
            "model": model,
            "provider": provider,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )


@overload
def trace(func: F, /) -> F: ...
@overload
def trace(
    func: None = None,
    /,
    *,
    name: str | None = None,
    observation_type: ObservationType | str = ObservationType.SPAN,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...
def trace(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    observation_type: ObservationType | str = ObservationType.SPAN,
    metadata: Mapping[str, Any] | None = None,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Trace any function as an observation of ``observation_type`` (default: a plain span)."""
    kind = observation_type_of(observation_type)  # fail fast on an invalid type
    return _decorator_factory(
        func,
        kind,
        {
            "name": name,
            "metadata": metadata,
            "capture_input": capture_input,
            "capture_output": capture_output,
        },
    )
