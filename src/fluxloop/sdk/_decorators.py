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

from fluxloop.sdk._conventions import Convention, build_convention
from fluxloop.sdk._models import ObservationType
from fluxloop.sdk._runtime import Runtime, current_runtime
from fluxloop.sdk._serialize import to_json
from fluxloop.sdk._spans import (
    end_span,
    genai_result_attributes,
    input_attributes,
    record_failure,
    record_result,
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

    __slots__ = ("defaults", "names", "skip_first", "varargs")

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

    def bind(
        self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> dict[str, Any]:
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
        #: agents record their arguments for replay when ``record_args`` is on
        self.record_target = (
            f"{getattr(raw, '__module__', '?')}:{getattr(raw, '__qualname__', '?')}"
            if convention.observation_type == "agent"
            else None
        )

    def start(
        self, runtime: Runtime, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Span, otel_context.Context]:
        """Start the span; return it and its context. Raises only on FluxLoop bugs."""
        attrs = self.static_attributes
        if self.metadata:
            if self._metadata_json is None:
                self._metadata_json = to_json(self.metadata, runtime.serialize_options)[0]
            attrs = {**attrs, attr.FLUXLOOP_METADATA: self._metadata_json}
        if self.capture_input:
            attrs = input_attributes(
                runtime, self.convention, self.binder.bind(instance, args, kwargs), attrs
            )
        return start_span(runtime, self.convention, attrs)

    def __call__(
        self,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        runtime = current_runtime()
        if self.record_target is not None and runtime.config.record_args and runtime.enabled:
            return self._recorded(runtime, wrapped, instance, args, kwargs)
        return self._dispatch(runtime, wrapped, instance, args, kwargs)

    def _recorded(
        self,
        runtime: Runtime,
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """The call, with its arguments recorded for replay (see ``record_call_args``)."""
        from fluxloop.sdk._recording import auto_record, record_arguments

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
            span, ctx = self.start(runtime, instance, args, kwargs)
            token = otel_context.attach(ctx)
        except Exception:
            logger.debug("fluxloop: instrumentation failed; calling untraced", exc_info=True)
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            record_failure(span, exc)
            end_span(span, token)
            raise
        self.finish(runtime, span, result)
        end_span(span, token)
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
            span, ctx = self.start(runtime, instance, args, kwargs)
            token = otel_context.attach(ctx)
        except Exception:
            logger.debug("fluxloop: instrumentation failed; calling untraced", exc_info=True)
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            record_failure(span, exc)
            end_span(span, token)
            raise
        self.finish(runtime, span, result)
        end_span(span, token)
        return result

    def finish(self, runtime: Runtime, span: Span, result: Any) -> None:
        """Record a result; never raises."""
        try:
            if self.capture_output:
                record_result(runtime, span, self.convention, result)
            elif self.convention.observation_type in {"generation", "embedding"}:
                span.set_attributes(
                    genai_result_attributes(runtime, self.convention.observation_type, result)
                )
        except Exception:
            logger.debug("fluxloop: could not record the result", exc_info=True)


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
    from fluxloop.sdk._conventions import observation_type_of

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
