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

Why from spans, and why not through the SDK's instruments: recording one histogram point through
the OpenTelemetry SDK costs several microseconds (it cleans and hashes the attributes and takes a
lock per point), three points per model call. The caller pays only a ``deque.append`` when its
span ends (:meth:`GenAIMetrics.on_end`); the points are added up on the export thread
(:meth:`GenAIMetrics.drain`, run by the first exporting processor before each batch, by
``flush()`` and at exit) into FluxLoop's own explicit-bucket histograms (:class:`Histograms`, well
under a microsecond per point), which are handed to the configured metric exporters as the SDK's
own :class:`~opentelemetry.sdk.metrics.export.MetricsData` every 60 s, on ``flush()`` and at exit
(delta or cumulative, as each exporter prefers). When the application installed an SDK
``MeterProvider`` of its own, the points go through its instruments instead, to its readers.
Only spans of FluxLoop's own tracers count, so an instrumentation that records these metrics
itself (the official OpenAI one) is not counted twice.
"""

from __future__ import annotations

import atexit
import bisect
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib.metadata import version as distribution_version
from typing import Any, Protocol, TypeGuard

from fluxloop_semconv import attributes as attr
from fluxloop_semconv import metrics as semconv_metrics
from opentelemetry import metrics as otel_metrics
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from fluxloop.sdk._readable import plain_attributes

logger = logging.getLogger("fluxloop")

__all__ = [
    "DURATION_BUCKETS",
    "INSTRUMENTS",
    "OWN_SCOPES",
    "TOKEN_BUCKETS",
    "GenAIMetrics",
    "Histograms",
    "MetricsPipeline",
]

# Names, units, descriptions and bucket boundaries come from the registry (semconv/registry/
# gen-ai-metrics.yaml), generated into fluxloop_semconv.metrics.
_RECORDED = (
    semconv_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
    semconv_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
    semconv_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
    semconv_metrics.GEN_AI_INVOKE_AGENT_DURATION,
    semconv_metrics.GEN_AI_EXECUTE_TOOL_DURATION,
)
DURATION = semconv_metrics.GEN_AI_CLIENT_OPERATION_DURATION.name
TOKENS = semconv_metrics.GEN_AI_CLIENT_TOKEN_USAGE.name
FIRST_CHUNK = semconv_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK.name
AGENT = semconv_metrics.GEN_AI_INVOKE_AGENT_DURATION.name
TOOL = semconv_metrics.GEN_AI_EXECUTE_TOOL_DURATION.name
DURATION_BUCKETS = semconv_metrics.GEN_AI_CLIENT_OPERATION_DURATION.bucket_boundaries
TOKEN_BUCKETS = semconv_metrics.GEN_AI_CLIENT_TOKEN_USAGE.bucket_boundaries

#: name -> (unit, description, bucket boundaries), for every instrument FluxLoop records
INSTRUMENTS: Mapping[str, tuple[str, str, tuple[float, ...]]] = {
    metric.name: (metric.unit, metric.description, metric.bucket_boundaries) for metric in _RECORDED
}

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
_KEYS_OF = {"invoke_agent": _AGENT_KEYS, "execute_tool": _TOOL_KEYS}
# the attribute names GenAIMetrics._record reads for every span, as module constants
_OPERATION = attr.GEN_AI_OPERATION_NAME
_PROVIDER = attr.GEN_AI_PROVIDER_NAME
_REQUEST_MODEL = attr.GEN_AI_REQUEST_MODEL
_RESPONSE_MODEL = attr.GEN_AI_RESPONSE_MODEL
_AGENT_NAME = attr.GEN_AI_AGENT_NAME
_TOOL_NAME = attr.GEN_AI_TOOL_NAME
_TOOL_TYPE = attr.GEN_AI_TOOL_TYPE
_ERROR = attr.ERROR_TYPE
_INPUT_TOKENS = attr.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT_TOKENS = attr.GEN_AI_USAGE_OUTPUT_TOKENS
_FIRST_CHUNK = attr.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
_MAX_PENDING = 65_536
_MAX_SERIES = 2_000  # attribute combinations per instrument (model names are bounded in practice)
_EXPORT_INTERVAL_S = 60.0
_DRAIN_BATCH = 512

#: Records one value into one series (an instrument and one combination of attributes).
Add = Callable[[float], None]
#: The attributes of a series, as sorted-by-convention pairs.
SeriesKey = tuple[tuple[str, Any], ...]


class Series(Protocol):
    """One series of one instrument: ``add`` records a value; ``fold`` settles what was added
    (called once per drained batch, holding the recorder's lock)."""

    add: Add

    def fold(self) -> None:
        """Settle the values added since the last fold."""


class Recorder(Protocol):
    """Where points go: :class:`Histograms`, or the application's SDK instruments."""

    def series(self, name: str, attributes: SeriesKey) -> Series | None:
        """The series of instrument ``name`` with ``attributes`` (``None``: the instrument takes
        no more series)."""


class _Series:
    """An explicit-bucket histogram series. ``add`` only appends (a list's own ``append``: no
    Python frame per point); :meth:`fold` sorts a batch's values and counts them into the
    buckets with one bisection per bucket boundary, so a point costs about a tenth of counting
    it on its own."""

    __slots__ = ("add", "bounds", "buckets", "count", "max", "min", "pending", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.buckets = [0] * (len(bounds) + 1)
        self.pending: list[float] = []
        self.add: Add = self.pending.append

    def fold(self) -> None:
        values = self.pending
        if not values:
            return
        values.sort()
        # a value goes to the first bucket whose upper bound it does not exceed
        below = 0
        for index, bound in enumerate(self.bounds):
            upto = bisect.bisect_right(values, bound)
            self.buckets[index] += upto - below
            below = upto
        self.buckets[-1] += len(values) - below
        self.count += len(values)
        self.sum += sum(values)
        self.min = min(self.min, values[0])
        self.max = max(self.max, values[-1])
        values.clear()


class Histograms:
    """Explicit-bucket histograms of :data:`INSTRUMENTS`, kept cumulatively since ``start``;
    ``snapshot`` turns them into the SDK's ``MetricsData`` (delta against the previous snapshot
    of the same reader, or cumulative)."""

    def __init__(self) -> None:
        self.start_ns = time.time_ns()
        self._series: dict[str, dict[tuple[tuple[str, Any], ...], _Series]] = {
            name: {} for name in INSTRUMENTS
        }
        #: held while points are recorded or read
        self.lock = threading.Lock()
        self._previous: dict[object, dict[tuple[str, tuple[Any, ...]], tuple[Any, ...]]] = {}
        self._last_ns: dict[object, int] = {}

    def series(self, name: str, attributes: SeriesKey) -> Series | None:
        """The series of ``name`` with ``attributes``, made on first use (``None`` past the
        series limit). Called, and points added and folded, on the export thread only, holding
        :attr:`lock` (taken once per drained batch by :class:`GenAIMetrics`: a snapshot sees
        whole batches)."""
        series = self._series[name]
        found = series.get(attributes)
        if found is None:
            if len(series) >= _MAX_SERIES:
                return None
            found = series[attributes] = _Series(INSTRUMENTS[name][2])
        return found

    def snapshot(self, reader: object, resource: Resource, delta: bool) -> MetricsData | None:
        """The histograms as ``MetricsData`` for ``reader`` (``None`` when it has nothing new)."""
        now = time.time_ns()
        with self.lock:
            for by_attributes in self._series.values():  # nothing is left unfolded, but be sure
                for each in by_attributes.values():
                    each.fold()
            previous = self._previous.setdefault(reader, {})
            start = self._last_ns.get(reader, self.start_ns) if delta else self.start_ns
            metrics: list[Metric] = []
            for name, series in self._series.items():
                unit, description, bounds = INSTRUMENTS[name]
                points: list[HistogramDataPoint] = []
                for attributes, s in list(series.items()):
                    key = (name, attributes)
                    state = (s.count, s.sum, s.min, s.max, tuple(s.buckets))
                    before = previous.get(key)
                    if s.count == 0 or (before is not None and before[0] == s.count):
                        continue  # nothing (new) in this series since this reader's last export
                    if delta and before is not None:
                        count = s.count - before[0]
                        total = s.sum - before[1]
                        buckets = [a - b for a, b in zip(s.buckets, before[4], strict=True)]
                    else:
                        count, total, buckets = s.count, s.sum, list(s.buckets)
                    previous[key] = state
                    points.append(
                        HistogramDataPoint(
                            attributes=dict(attributes),
                            start_time_unix_nano=start,
                            time_unix_nano=now,
                            count=count,
                            sum=total,
                            bucket_counts=buckets,
                            explicit_bounds=list(bounds),
                            min=s.min,
                            max=s.max,
                        )
                    )
                if points:
                    temporality = (
                        AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
                    )
                    metrics.append(Metric(name, description, unit, Histogram(points, temporality)))
            self._last_ns[reader] = now
        if not metrics:
            return None
        scope = InstrumentationScope("fluxloop", _version())
        return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, metrics, "")], "")])


def _version() -> str | None:
    try:
        return distribution_version("fluxloop")
    except Exception:  # pragma: no cover - a source tree without metadata
        return None


class _SdkInstruments:
    """The application's SDK ``MeterProvider``: points go through its histograms."""

    def __init__(self, meter: Meter) -> None:
        self._histograms = {
            name: meter.create_histogram(
                name, unit=unit, description=brief, explicit_bucket_boundaries_advisory=bounds
            )
            for name, (unit, brief, bounds) in INSTRUMENTS.items()
        }

    def series(self, name: str, attributes: SeriesKey) -> Series:
        return _SdkSeries(
            functools.partial(self._histograms[name].record, attributes=dict(attributes))
        )


class _SdkSeries:
    """A series of the application's SDK instruments: they aggregate points themselves."""

    __slots__ = ("add",)

    def __init__(self, add: Add) -> None:
        self.add = add

    def fold(self) -> None:
        """Nothing to settle."""


class GenAIMetrics(SpanProcessor):
    """A router observer: keeps ended spans until :meth:`drain` records their metrics.

    Each span's points go to series handles looked up by the span's metric attributes (one
    dictionary lookup per span): a combination's handles are made once, by :func:`_plan`.
    """

    def __init__(self) -> None:
        self._pending: deque[ReadableSpan] = deque(maxlen=_MAX_PENDING)
        #: the router calls this instead of on_end: the caller's whole cost is one append
        self.end_call = self._pending.append
        self._recorder: Recorder | None = None
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._record_lock: AbstractContextManager[object] = nullcontext()
        self._drain_lock = threading.Lock()

    def bind(
        self, recorder: Recorder | None, lock: AbstractContextManager[object] | None = None
    ) -> None:
        """Record into ``recorder`` from now on, holding ``lock`` while a batch is recorded
        (``None``: stop, forget pending spans)."""
        with self._drain_lock:
            self._recorder = recorder
            self._plans = {}
            self._record_lock = lock if lock is not None else nullcontext()
            if recorder is None:
                self._pending.clear()

    def on_end(self, span: ReadableSpan) -> None:
        self._pending.append(span)

    def drain(self) -> None:
        """Record the metrics of every pending span (on an export thread, never the caller's)."""
        pending = self._pending
        if not pending:
            return
        with self._drain_lock:
            if self._recorder is None:
                pending.clear()
                return
            popleft = pending.popleft
            while pending:
                with self._record_lock:  # per batch: a snapshot waits for at most one batch
                    touched: dict[int, _Plan] = {}
                    last: _Plan | None = None
                    for _ in range(min(len(pending), _DRAIN_BATCH)):
                        try:
                            span = popleft()
                        except IndexError:
                            break
                        try:
                            plan = self._record(span)
                        except Exception:
                            logger.debug("fluxloop: could not record a metric", exc_info=True)
                            continue
                        if plan is not None and plan is not last:
                            touched[id(plan)] = last = plan
                    for plan in touched.values():
                        for series in plan[4]:
                            series.fold()

    def _record(self, span: ReadableSpan) -> _Plan | None:
        """Add the metric points of one span of FluxLoop's own tracers; the plan they went to."""
        scope = span.instrumentation_scope
        if scope is None or scope.name not in OWN_SCOPES:
            return None
        attributes = plain_attributes(span)
        get = attributes.get
        operation = get(_OPERATION)
        start, end = span.start_time, span.end_time
        if operation is None or start is None or end is None:
            return None
        # the values of the metric attributes, spelled out: a comprehension costs a frame
        error = get(_ERROR)
        model = operation in _MODEL_OPERATIONS
        values: tuple[Any, ...]
        if model:
            values = (operation, get(_PROVIDER), get(_REQUEST_MODEL), get(_RESPONSE_MODEL), error)
        elif operation == "invoke_agent":
            values = (operation, get(_AGENT_NAME), get(_PROVIDER), error)
        elif operation == "execute_tool":
            values = (operation, get(_TOOL_NAME), get(_TOOL_TYPE), error)
        else:
            return None
        plan = self._plans.get(values)
        if plan is None:
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            plan = self._plans[values] = _plan(self._recorder, values)  # type: ignore[arg-type]
        duration, input_tokens, output_tokens, first_chunk, _ = plan
        if duration is not None:
            duration(max(end - start, 0) / 1e9)
        if not model:
            return plan
        if input_tokens is not None:
            count = get(_INPUT_TOKENS)
            if (type(count) is int and count >= 0) or (count is not None and _is_count(count)):
                input_tokens(count)
        if output_tokens is not None:
            count = get(_OUTPUT_TOKENS)
            if (type(count) is int and count >= 0) or (count is not None and _is_count(count)):
                output_tokens(count)
        if first_chunk is not None:
            first = get(_FIRST_CHUNK)
            if type(first) is float or (isinstance(first, int | float) and type(first) is not bool):
                first_chunk(float(first))
        return plan


def _is_count(value: object) -> TypeGuard[int]:
    return (type(value) is int or (isinstance(value, int) and type(value) is not bool)) and (
        value >= 0
    )


#: The series one combination of metric attributes records into: the ``add`` of the duration
#: (of the model call, agent or tool), input and output tokens and time to first chunk (``None``:
#: not recorded), then those series, to fold.
_Plan = tuple[Add | None, Add | None, Add | None, Add | None, tuple[Series, ...]]
_MAX_PLANS = 4_096


def _plan(recorder: Recorder, values: tuple[Any, ...]) -> _Plan:
    """The series of a span whose metric attributes (then ``error.type``) have ``values``."""
    *own, error = values
    keys = _KEYS_OF.get(own[0], _MODEL_KEYS)
    common = tuple((key, value) for key, value in zip(keys, own, strict=True) if value is not None)
    timed = (*common, (attr.ERROR_TYPE, error)) if error else common
    if keys is _MODEL_KEYS:
        series = (
            recorder.series(DURATION, timed),
            recorder.series(TOKENS, (*common, (attr.GEN_AI_TOKEN_TYPE, "input"))),
            recorder.series(TOKENS, (*common, (attr.GEN_AI_TOKEN_TYPE, "output"))),
            recorder.series(FIRST_CHUNK, common),
        )
    else:
        series = (recorder.series(AGENT if keys is _AGENT_KEYS else TOOL, timed), None, None, None)
    duration, input_tokens, output_tokens, first_chunk = (
        None if each is None else each.add for each in series
    )
    return (
        duration,
        input_tokens,
        output_tokens,
        first_chunk,
        tuple(each for each in series if each is not None),
    )


class MetricsPipeline:
    """Where FluxLoop's GenAI metrics go: the application's SDK ``MeterProvider`` when it has
    one, else FluxLoop's own histograms exported to the configured exporters (kept while they
    stay the same across ``configure()`` calls; exported after the spans at exit)."""

    def __init__(self) -> None:
        self.metrics = GenAIMetrics()
        self.exporters: list[MetricExporter] = []
        self.histograms: Histograms | None = None
        self.resource: Resource = Resource.get_empty()
        self._key: object = None
        self._lock = threading.RLock()
        self._flush_spans: Callable[[], object] | None = None
        self._exit_hooked = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.global_provider: MeterProvider | None = None

    def configure(
        self,
        key: object,
        make_exporters: Callable[[], list[MetricExporter]],
        resource: Resource,
        *,
        flush_spans: Callable[[], object],
    ) -> None:
        """Record into the global SDK meter provider, or into FluxLoop's own histograms for the
        exporters ``make_exporters`` builds (``key`` says whether they changed; ``None``: no
        metrics)."""
        with self._lock:
            self._flush_spans = flush_spans
            current = otel_metrics.get_meter_provider()
            if key is None:
                self._retire()
                self.metrics.bind(None)
                return
            if isinstance(current, MeterProvider):
                self._retire()
                self.metrics.bind(_SdkInstruments(current.get_meter("fluxloop")))
                self._start_timer()  # drains even when no FluxLoop processor exports
                return
            if self.histograms is not None and key == self._key:
                return
            self._retire()
            exporters = make_exporters()
            if not exporters:
                self.metrics.bind(None)
                return
            self.exporters, self.resource, self._key = exporters, resource, key
            self.histograms = Histograms()
            self.metrics.bind(self.histograms, self.histograms.lock)
            self._start_timer()
            if not self._exit_hooked:
                self._exit_hooked = True
                atexit.register(self.shutdown)

    def install_global_provider(self, exporters: list[MetricExporter], resource: Resource) -> bool:
        """Install an SDK ``MeterProvider`` exporting to ``exporters`` as the global one, so that
        other instrumentations' metrics (the official OpenAI one's, the app's own) go where
        FluxLoop's go; FluxLoop's then record through it too. Only when no SDK provider is set
        yet; False (and the exporters closed) otherwise. Flushed at exit after the spans."""
        with self._lock:
            if isinstance(otel_metrics.get_meter_provider(), MeterProvider) or not exporters:
                for exporter in exporters:
                    exporter.shutdown()
                return False
            readers = [
                PeriodicExportingMetricReader(e, export_interval_millis=_EXPORT_INTERVAL_S * 1000)
                for e in exporters
            ]
            # its own exit hook would run before FluxLoop's span flush (atexit is LIFO), losing
            # the metrics of the last spans: shutdown() closes it after flushing them instead
            provider = MeterProvider(
                metric_readers=readers, resource=resource, shutdown_on_exit=False
            )
            otel_metrics.set_meter_provider(provider)
            self.global_provider = provider
            if not self._exit_hooked:
                self._exit_hooked = True
                atexit.register(self.shutdown)
            return True

    def flush(self, timeout_millis: int = 30_000) -> bool:
        """Record what the exported spans carry and export the metrics now."""
        self.metrics.drain()
        with self._lock:
            ok = self._export()
            if self.global_provider is not None:
                ok = self.global_provider.force_flush(timeout_millis) and ok
            return ok

    def shutdown(self) -> None:
        """Flush the spans (their metrics are recorded on the way), then export the metrics."""
        with self._lock:
            flush_spans = self._flush_spans
            if flush_spans is not None:
                try:
                    flush_spans()
                except Exception:
                    logger.debug("fluxloop: could not flush spans", exc_info=True)
            self._retire()
            provider, self.global_provider = self.global_provider, None
            if provider is not None:
                self.metrics.drain()
                try:
                    provider.shutdown()
                except Exception:
                    logger.warning("fluxloop: closing the meter provider failed", exc_info=True)

    def _export(self) -> bool:
        histograms = self.histograms
        if histograms is None:
            return True
        ok = True
        for exporter in self.exporters:
            preferred = getattr(exporter, "_preferred_temporality", None) or {}
            delta = preferred.get(HistogramInstrument) is AggregationTemporality.DELTA
            data = histograms.snapshot(exporter, self.resource, delta)
            if data is None:
                continue
            try:
                result = exporter.export(data, timeout_millis=10_000)
                ok = ok and getattr(result, "name", "") == "SUCCESS"
            except Exception as exc:
                ok = False
                logger.warning("fluxloop: metric export failed: %s", exc)
        return ok

    def _retire(self) -> None:
        self.metrics.drain()
        self._export()
        exporters, self.exporters = self.exporters, []
        self.histograms, self._key = None, None
        for exporter in exporters:
            try:
                exporter.shutdown()
            except Exception:
                logger.warning("fluxloop: closing a metric exporter failed", exc_info=True)

    def _start_timer(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(
            target=self._every_interval, name="fluxloop-metrics", daemon=True
        )
        self._thread.start()

    def _every_interval(self) -> None:
        while not self._wake.wait(_EXPORT_INTERVAL_S):
            try:
                self.flush()
            except Exception:
                logger.debug("fluxloop: periodic metric export failed", exc_info=True)


PIPELINE = MetricsPipeline()
