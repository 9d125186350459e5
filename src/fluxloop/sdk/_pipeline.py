"""Where spans go: FluxLoop's span processor router and the provider it lives in.

FluxLoop adds exactly one processor, a :class:`Router`, to a tracer provider, and swaps what
the router delegates to on every ``configure()``. That makes ``configure()`` idempotent (no
stacked processors, no duplicate exports) and lets FluxLoop live inside a provider the
application already set up without ever replacing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler, TraceIdRatioBased

from fluxloop.sdk._config import SDKConfig
from fluxloop.sdk._deferred import SpanResolver, span_has_deferred

logger = logging.getLogger("fluxloop")

_TRACE_ID_LIMIT = (1 << 64) - 1

#: Attributes stamped on every span started in the current context (experiment/run/session).
SCOPED_ATTRIBUTES: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "fluxloop_scoped_attributes", default=None
)


class Router(SpanProcessor):
    """The one processor FluxLoop adds to a provider; delegates to a swappable pipeline."""

    def __init__(self) -> None:
        self._processors: tuple[SpanProcessor, ...] = ()
        self._starting: tuple[SpanProcessor, ...] = ()  # those whose on_start does something
        self._observers: tuple[SpanProcessor, ...] = ()
        self._observers_starting: tuple[SpanProcessor, ...] = ()
        self._ratio_bound: int | None = None
        self._lock = threading.Lock()
        #: the provider's span-processor holder (set by :func:`attach_router`)
        self.holder: Any = None
        #: whether a span ever started while the router was the provider's only processor
        #: (only such spans can carry deferred content)
        self._alone = False
        #: resolves deferred content when other processors must see a span
        self.resolver: SpanResolver | None = None
        # what on_start / on_end call, in order, flattened (they run for every span)
        self._start_calls: tuple[Callable[[Span, otel_context.Context | None], None], ...] = ()
        self._end_calls: tuple[Callable[[ReadableSpan], None], ...] = ()
        self._sampled_end_calls: tuple[Callable[[ReadableSpan], None], ...] = ()

    @property
    def processors(self) -> tuple[SpanProcessor, ...]:
        """The exporting processors currently in use."""
        return self._processors

    def set_pipeline(
        self, processors: Sequence[SpanProcessor], sample_rate: float | None
    ) -> tuple[SpanProcessor, ...]:
        """Install new exporting processors; return the previous ones (the caller closes them)."""
        with self._lock:
            previous = self._processors
            self._processors = tuple(processors)
            self._starting = tuple(p for p in self._processors if _has_on_start(p))
            self._ratio_bound = (
                None
                if sample_rate is None or sample_rate >= 1.0
                else round(sample_rate * _TRACE_ID_LIMIT)
            )
            self._flatten()
        return previous

    def add_observer(self, observer: SpanProcessor) -> None:
        """Add a processor that sees every span regardless of sampling and storage (capture).
        An observer may offer an ``end_call`` attribute: a callable doing what its ``on_end``
        does, called instead of it (a Python call saved per span)."""
        with self._lock:
            if observer not in self._observers:
                self._set_observers((*self._observers, observer))

    def remove_observer(self, observer: SpanProcessor) -> None:
        """Stop calling ``observer``."""
        with self._lock:
            self._set_observers(tuple(o for o in self._observers if o is not observer))

    def _set_observers(self, observers: tuple[SpanProcessor, ...]) -> None:
        self._observers = observers
        self._observers_starting = tuple(o for o in observers if _has_on_start(o))
        self._flatten()

    def _flatten(self) -> None:
        self._start_calls = tuple(p.on_start for p in (*self._observers_starting, *self._starting))
        observers = tuple(getattr(o, "end_call", None) or o.on_end for o in self._observers)
        exporting = tuple(p.on_end for p in self._processors)
        if self._ratio_bound is None:
            self._end_calls, self._sampled_end_calls = (*observers, *exporting), ()
        else:
            self._end_calls, self._sampled_end_calls = observers, exporting

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if not self._alone:
            holder = self.holder
            if holder is not None and len(holder._span_processors) == 1:
                self._alone = True  # spans started now may carry deferred content
        scoped = SCOPED_ATTRIBUTES.get()
        if scoped:
            try:
                span.set_attributes(scoped)
            except Exception:  # instrumentation never raises into user code
                logger.debug("could not stamp scoped attributes", exc_info=True)
        for on_start in self._start_calls:
            on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self._alone and len(self.holder._span_processors) > 1:
            self._resolve_for_others(span)
        for on_end in self._end_calls:
            on_end(span)
        bound = self._ratio_bound
        if bound is None or (span.context and span.context.trace_id & _TRACE_ID_LIMIT >= bound):
            return
        for on_end in self._sampled_end_calls:
            on_end(span)

    def _resolve_for_others(self, span: ReadableSpan) -> None:
        """A processor was added while ``span`` was open with deferred content: resolve it in
        place, before processors FluxLoop does not own see it (the router runs first)."""
        resolver = self.resolver
        try:
            if resolver is not None and span_has_deferred(span):
                resolved = resolver([span])[0]  # in place when the SDK allows it
                if resolved is not span:
                    span._attributes = dict(resolved.attributes or {})
        except Exception:  # fail closed: never let unchecked content through
            logger.debug("fluxloop: could not resolve deferred content", exc_info=True)
            span._attributes = {
                k: v for k, v in (span.attributes or {}).items() if type(v) is not bytes
            }

    def shutdown(self) -> None:
        for processor in self._processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        ok = True
        for processor in self._processors:
            ok = processor.force_flush(timeout_millis) and ok
        return ok


def _has_on_start(processor: SpanProcessor) -> bool:
    """Whether ``processor.on_start`` does anything: processors that keep the SDK base class's
    no-op (FluxLoop's exporting processor does) are skipped, a call saved per span."""
    return getattr(type(processor), "on_start", None) is not SpanProcessor.on_start


def attach_router(provider: TracerProvider) -> Router:
    """The router living in ``provider``, added on first use (never twice)."""
    existing = getattr(provider, "_fluxloop_router", None)
    if isinstance(existing, Router):
        return existing
    router = Router()
    provider.add_span_processor(router)
    router.holder = getattr(provider, "_active_span_processor", None)
    if type(getattr(router.holder, "_span_processors", None)) is not tuple:
        router.holder = None
    provider._fluxloop_router = router  # type: ignore[attr-defined]
    return router


def make_sampler(config: SDKConfig) -> Sampler | None:
    """The sampler for a provider FluxLoop owns (None: the SDK default)."""
    if isinstance(config.sampler, Sampler):
        return config.sampler
    if config.sample_rate < 1.0:
        return ParentBased(TraceIdRatioBased(config.sample_rate))
    return None


def make_resource(config: SDKConfig) -> Resource:
    """The resource of a provider FluxLoop owns: the SDK's (OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SERVICE_NAME) with ``service_name`` and ``environment`` over it. Neither overwrites
    what the user set: the resolver takes ``environment`` from OTEL_RESOURCE_ATTRIBUTES unless an
    argument or FLUXLOOP_ENVIRONMENT set it (argument > FLUXLOOP_* > OTEL_*)."""
    own: dict[str, str] = {"deployment.environment.name": config.environment}
    if config.service_name:
        own["service.name"] = config.service_name
    return Resource.create(own)


def choose_provider(config: SDKConfig, owned: TracerProvider | None) -> tuple[TracerProvider, bool]:
    """The provider FluxLoop should use, and whether FluxLoop owns it.

    An explicit ``tracer_provider`` wins; else the application's global SDK provider (FluxLoop
    adds its router to it); else a provider of FluxLoop's own, installed globally when no
    provider was set (and ``set_global`` allows), or kept private when a non-SDK provider is
    installed (FluxLoop never fights the application's provider).
    """
    if isinstance(config.tracer_provider, TracerProvider):
        return config.tracer_provider, False
    current = otel_trace.get_tracer_provider()
    if owned is not None and current is owned:
        return owned, True
    if isinstance(current, TracerProvider):
        return current, False
    # a sampler always given: the SDK would read OTEL_TRACES_SAMPLER again and warn a second time
    # about a bad value FluxLoop's resolver already reported (FluxLoop's provider gets ALWAYS_ON
    # unless configured otherwise: see _runtime._apply)
    provider = owned or TracerProvider(
        resource=make_resource(config), sampler=make_sampler(config) or ALWAYS_ON
    )
    if isinstance(current, otel_trace.ProxyTracerProvider) and config.set_global:
        otel_trace.set_tracer_provider(provider)
    elif not isinstance(current, otel_trace.ProxyTracerProvider):
        logger.warning(
            "fluxloop: the global tracer provider is a %s, not an OpenTelemetry SDK provider; "
            "FluxLoop uses a private provider (spans of other instrumentations are not captured)",
            type(current).__name__,
        )
    return provider, True
