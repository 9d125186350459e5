"""GenAI metrics, as the semantic conventions define them, derived from FluxLoop's spans.

Instruments (the pinned GenAI conventions; bucket boundaries as they advise):

* ``gen_ai.client.operation.duration`` (s) and ``gen_ai.client.token.usage`` ({token}, one point
  per ``gen_ai.token.type`` input/output) for model calls: ``@prompt``, ``@embedding`` and the
  LangChain integration's model runs (operations chat, text_completion, generate_content,
  embeddings);
* ``gen_ai.client.operation.time_to_first_chunk`` (s) for streamed model calls;
* ``gen_ai.invoke_agent.duration`` and ``gen_ai.execute_tool.duration`` (s) for agents and tools.

Attributes: ``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.response.model``, ``error.type`` on failures (durations only), ``gen_ai.agent.name`` /
``gen_ai.tool.name``.

Why from spans: recording a histogram point costs a few microseconds (the SDK hashes the
attributes and takes a lock), three of them per model call. The caller pays only a
``deque.append`` when its span ends (:meth:`GenAIMetrics.on_end`); the points are recorded on the
export thread (:meth:`GenAIMetrics.drain`, run by the first exporting processor before each
batch, by ``flush()`` and at exit). Only spans of FluxLoop's own tracers count, so a provider
instrumentation that records these metrics itself (the official OpenAI one) is not counted twice.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

logger = logging.getLogger("fluxloop")

__all__ = [
    "DURATION_BUCKETS",
    "OWN_SCOPES",
    "TOKEN_BUCKETS",
    "GenAIMetrics",
    "MetricsPipeline",
]

#: Explicit bucket boundaries the GenAI conventions advise for durations (s) and token counts.
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56)
DURATION_BUCKETS += (5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: tuple[float, ...] = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144)
TOKEN_BUCKETS += (1048576, 4194304, 16777216, 67108864)

#: Tracers whose spans feed the metrics: the SDK's decorators and the LangChain integration.
OWN_SCOPES = frozenset({"fluxloop", "fluxloop.langchain"})

_MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_MODEL_KEYS = (
    attr.GEN_AI_OPERATION_NAME,
    attr.GEN_AI_PROVIDER_NAME,
    attr.GEN_AI_REQUEST_MODEL,
    attr.GEN_AI_RESPONSE_MODEL,
)
_AGENT_KEYS = (attr.GEN_AI_OPERATION_NAME, attr.GEN_AI_AGENT_NAME, attr.GEN_AI_PROVIDER_NAME)
_TOOL_KEYS = (attr.GEN_AI_OPERATION_NAME, attr.GEN_AI_TOOL_NAME, attr.GEN_AI_TOOL_TYPE)
_MAX_PENDING = 65_536


class _Instruments:
    def __init__(self, meter: Meter) -> None:
        def histogram(name: str, unit: str, brief: str, buckets: tuple[float, ...]) -> Histogram:
            return meter.create_histogram(
                name, unit=unit, description=brief, explicit_bucket_boundaries_advisory=buckets
            )

        self.duration = histogram(
            "gen_ai.client.operation.duration", "s", "GenAI operation duration.", DURATION_BUCKETS
        )
        self.tokens = histogram(
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used.",
            TOKEN_BUCKETS,
        )
        self.first_chunk = histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time to receive the first chunk of a streamed response.",
            DURATION_BUCKETS,
        )
        self.agent = histogram(
            "gen_ai.invoke_agent.duration",
            "s",
            "The end-to-end duration of a single agent invocation.",
            DURATION_BUCKETS,
        )
        self.tool = histogram(
            "gen_ai.execute_tool.duration",
            "s",
            "The duration of a single tool execution.",
            DURATION_BUCKETS,
        )


class GenAIMetrics(SpanProcessor):
    """A router observer: keeps ended spans until :meth:`drain` records their metrics."""

    def __init__(self) -> None:
        self._pending: deque[ReadableSpan] = deque(maxlen=_MAX_PENDING)
        self._instruments: _Instruments | None = None
        self._drain_lock = threading.Lock()

    def bind(self, meter: Meter | None) -> None:
        """Record into ``meter`` from now on (``None``: stop recording, forget pending spans)."""
        with self._drain_lock:
            self._instruments = _Instruments(meter) if meter is not None else None
            if meter is None:
                self._pending.clear()

    def on_end(self, span: ReadableSpan) -> None:
        # the caller's whole cost: one append (bounded: the oldest is dropped)
        self._pending.append(span)

    def drain(self) -> None:
        """Record the metrics of every pending span (on an export thread, never the caller's)."""
        pending = self._pending
        if not pending:
            return
        with self._drain_lock:
            instruments = self._instruments
            while pending:
                try:
                    span = pending.popleft()
                except IndexError:
                    break
                if instruments is not None:
                    try:
                        record_span(instruments, span)
                    except Exception:
                        logger.debug("fluxloop: could not record a metric", exc_info=True)


def record_span(instruments: _Instruments, span: ReadableSpan) -> None:
    """The metric points of one span of FluxLoop's own tracers."""
    scope = span.instrumentation_scope
    if scope is None or scope.name not in OWN_SCOPES:
        return
    attributes: Mapping[str, Any] = span.attributes or {}
    operation = attributes.get(attr.GEN_AI_OPERATION_NAME)
    if operation is None or span.start_time is None or span.end_time is None:
        return
    seconds = max(span.end_time - span.start_time, 0) / 1e9
    error = attributes.get(attr.ERROR_TYPE)
    if operation in _MODEL_OPERATIONS:
        common = _pick(attributes, _MODEL_KEYS)
        instruments.duration.record(
            seconds, {**common, attr.ERROR_TYPE: error} if error else common
        )
        for token_type, key in (
            ("input", attr.GEN_AI_USAGE_INPUT_TOKENS),
            ("output", attr.GEN_AI_USAGE_OUTPUT_TOKENS),
        ):
            count = attributes.get(key)
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                instruments.tokens.record(count, {**common, attr.GEN_AI_TOKEN_TYPE: token_type})
        first = attributes.get(attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
        if isinstance(first, int | float) and not isinstance(first, bool):
            instruments.first_chunk.record(float(first), common)
    elif operation == "invoke_agent":
        common = _pick(attributes, _AGENT_KEYS)
        instruments.agent.record(seconds, {**common, attr.ERROR_TYPE: error} if error else common)
    elif operation == "execute_tool":
        common = _pick(attributes, _TOOL_KEYS)
        instruments.tool.record(seconds, {**common, attr.ERROR_TYPE: error} if error else common)


def _pick(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k in keys if (v := attributes.get(k)) is not None}


class MetricsPipeline:
    """The meter FluxLoop records into: the application's SDK ``MeterProvider`` when it has
    one, else one of FluxLoop's own with the configured exporters (kept while they stay the
    same across ``configure()`` calls, flushed at exit after the spans)."""

    def __init__(self) -> None:
        self.metrics = GenAIMetrics()
        self.provider: MeterProvider | None = None
        self._key: object = None
        self._lock = threading.Lock()
        self._flush_spans: Callable[[], object] | None = None
        self._exit_hooked = False
        self._global: MeterProvider | None = None  # the one FluxLoop installed globally

    def configure(
        self,
        key: object,
        make_exporters: Callable[[], list[MetricExporter]],
        resource: Resource,
        *,
        set_global: bool,
        flush_spans: Callable[[], object],
    ) -> None:
        """Record into the global SDK meter provider, or into FluxLoop's own with the exporters
        ``make_exporters`` builds (``key`` says whether they changed; ``None``: no metrics)."""
        with self._lock:
            self._flush_spans = flush_spans
            current = otel_metrics.get_meter_provider()
            if key is None:
                self._retire()
                self.metrics.bind(None)
                return
            if isinstance(current, MeterProvider) and current is not self._global:
                self._retire()
                self.metrics.bind(current.get_meter("fluxloop"))
                return
            if self.provider is not None and key == self._key:
                return
            self._retire()
            readers = [
                PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)
                for exporter in make_exporters()
            ]
            if not readers:
                self.metrics.bind(None)
                return
            provider = MeterProvider(
                metric_readers=readers, resource=resource, shutdown_on_exit=False
            )
            if set_global and _is_proxy(current):
                otel_metrics.set_meter_provider(provider)
                self._global = provider
            self.provider, self._key = provider, key
            self.metrics.bind(provider.get_meter("fluxloop"))
            if not self._exit_hooked:
                self._exit_hooked = True
                atexit.register(self.shutdown)

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Record what the exported spans carry and export the metrics now."""
        self.metrics.drain()
        provider = self.provider
        return provider.force_flush(timeout_millis) if provider is not None else True

    def shutdown(self) -> None:
        """Flush the spans (their metrics are recorded on the way), then the metrics."""
        with self._lock:
            flush_spans = self._flush_spans
            if flush_spans is not None:
                try:
                    flush_spans()
                except Exception:
                    logger.debug("fluxloop: could not flush spans", exc_info=True)
            self._retire()

    def _retire(self) -> None:
        self.metrics.drain()
        provider, self.provider, self._key = self.provider, None, None
        if provider is not None:
            try:
                provider.shutdown()
            except Exception:
                logger.warning("fluxloop: closing the metric exporters failed", exc_info=True)


def _is_proxy(provider: object) -> bool:
    return type(provider).__name__ == "_ProxyMeterProvider"


PIPELINE = MetricsPipeline()
