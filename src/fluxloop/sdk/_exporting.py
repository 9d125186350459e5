"""FluxLoop's exporting processors: which span exporters a configuration names, and what runs on
the export thread before each batch leaves (deferred content resolved, the attributes backends
read added, GenAI metrics recorded).

``storage`` picks one destination (``file``, ``http``, ``otlp``, ``console``, ``none``);
``OTEL_TRACES_EXPORTER`` may instead name several (``otlp,console``, ``fluxloop_jsonl``, any
installed ``opentelemetry_traces_exporter`` entry point). Every exporter gets its own
:class:`~fluxloop_exporters.FluxLoopSpanProcessor` (its own queue, as the SDK does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from importlib.metadata import entry_points
from typing import Any, cast

from fluxloop_exporters import (
    FluxLoopSpanProcessor,
    JsonlFileMetricExporter,
    JsonlFileSpanExporter,
    create_otlp_exporter,
)
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from fluxloop.sdk import _deferred as deferred
from fluxloop.sdk._config import SDKConfig
from fluxloop.sdk._otel_env import OTLP_EXPORTERS
from fluxloop.sdk._serialize import SerializeOptions
from fluxloop.sdk._span_masking import mask_spans

logger = logging.getLogger("fluxloop")

__all__ = [
    "Prepare",
    "build_metric_exporters",
    "build_processors",
    "metric_exporter_names",
    "metrics_key",
    "serialize_options",
    "span_exporter_names",
]

_STORAGE_EXPORTERS = {
    "file": ("fluxloop_jsonl",),
    "http": ("fluxloop_collector",),
    "otlp": ("otlp",),
    "console": ("console",),
    "none": (),
    "otel": (),
}


def serialize_options(config: SDKConfig) -> SerializeOptions:
    """Serializer limits derived from the settings."""
    return replace(
        SerializeOptions(),
        max_bytes=config.max_attribute_bytes,
        max_depth=config.max_depth,
        redact=config.redact,
    )


def span_exporter_names(config: SDKConfig) -> tuple[str, ...]:
    """The span exporters of ``config``: OTEL_TRACES_EXPORTER's list, else the storage's one."""
    if not config.enabled:
        return ()
    if config.exporters:
        return tuple(n for n in config.exporters if n != "none")
    return _STORAGE_EXPORTERS.get(config.storage, ())


class Prepare:
    """The export-thread hook of one processor: mask every span's secrets
    (:func:`~fluxloop.sdk._span_masking.mask_spans`), resolve deferred content, add the attributes
    OTLP backends read (``enrich``, not for the JSONL contract, which has its own fields) and
    hand the batch's spans over to the GenAI metrics (``drain``, once per pipeline)."""

    __slots__ = ("drain", "enrich", "resolver")

    def __init__(
        self,
        options: SerializeOptions,
        enrich: Callable[[Sequence[ReadableSpan]], None] | None = None,
        drain: Callable[[], None] | None = None,
    ) -> None:
        self.resolver = deferred.SpanResolver(options)
        self.enrich = enrich
        self.drain = drain

    def __call__(self, spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        # every span's secrets masked (other instrumentations' too), then FluxLoop's deferred
        # content checked
        resolved = self.resolver(mask_spans(spans))
        if self.enrich is not None:
            try:
                self.enrich(resolved)
            except Exception:
                logger.debug("fluxloop: could not add backend attributes", exc_info=True)
        if self.drain is not None:
            try:
                self.drain()
            except Exception:
                logger.debug("fluxloop: could not record metrics", exc_info=True)
        return resolved


def build_processors(
    config: SDKConfig,
    *,
    enrich: Callable[[Sequence[ReadableSpan]], None] | None = None,
    drain: Callable[[], None] | None = None,
) -> list[SpanProcessor]:
    """One exporting processor per span exporter of ``config`` (empty for ``none`` or when
    disabled). ``enrich`` runs for every exporter but the JSONL one; ``drain`` on the first."""
    processors: list[SpanProcessor] = []
    options = serialize_options(config)
    for name in span_exporter_names(config):
        exporter = build_span_exporter(name, config)
        if exporter is None:
            continue
        processors.append(
            FluxLoopSpanProcessor(
                exporter,
                max_queue_size=config.max_queue_size,
                max_export_batch_size=config.batch_size,
                schedule_delay_millis=config.flush_interval * 1000,
                prepare=Prepare(
                    options,
                    None if name == "fluxloop_jsonl" else enrich,
                    None if processors else drain,
                ),
            )
        )
    return processors


def build_span_exporter(name: str, config: SDKConfig) -> SpanExporter | None:
    """The span exporter called ``name`` (see :func:`span_exporter_names`); ``None`` (with one
    warning) for an entry point that cannot be loaded."""
    if name == "fluxloop_jsonl":
        return JsonlFileSpanExporter(base_path=config.base_path)
    if name == "console":
        return ConsoleSpanExporter()
    if name == "fluxloop_collector" or name in OTLP_EXPORTERS:
        return _otlp_exporter(config, OTLP_EXPORTERS.get(name))
    try:
        (entry,) = [
            e for e in entry_points(group="opentelemetry_traces_exporter") if e.name == name
        ]
        loaded: Any = entry.load()
        return cast(SpanExporter, loaded())
    except Exception as exc:
        logger.warning("fluxloop: OTEL_TRACES_EXPORTER: could not load %r: %s", name, exc)
        return None


def otlp_endpoint(config: SDKConfig, signal: str = "traces") -> str | None:
    """The OTLP endpoint of ``config``: the collector URL, else the standard variables."""
    if config.collector_url or config.storage == "http":
        return config.collector_url
    return os.environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )


def _otlp_exporter(config: SDKConfig, protocol: str | None) -> SpanExporter:
    protocol = protocol or config.otlp_protocol
    endpoint = otlp_endpoint(config)
    if endpoint is None:
        endpoint = "http://localhost:4317" if protocol == "grpc" else "http://localhost:8000"
    return create_otlp_exporter(
        endpoint,
        protocol=protocol,
        api_key=config.api_key,
        spool_root=config.spool_dir or (config.base_path / ".spool"),
        timeout=config.timeout,
    )


def metric_exporter_names(config: SDKConfig) -> tuple[str, ...]:
    """The metric exporters of ``config``: OTEL_METRICS_EXPORTER's (or the argument's) list,
    else JSONL beside JSONL spans and OTLP beside OTLP spans (nothing for console or none)."""
    if not config.enabled:
        return ()
    if config.metrics_exporter is not None:
        return tuple(n for n in config.metrics_exporter if n != "none")
    names: list[str] = []
    for name in span_exporter_names(config):
        if name == "fluxloop_jsonl":
            names.append(name)
        elif name == "fluxloop_collector" or name in OTLP_EXPORTERS:
            names.append("otlp" if name == "fluxloop_collector" else name)
    return tuple(dict.fromkeys(names))


def metrics_key(config: SDKConfig) -> tuple[object, ...]:
    """What the metric exporters depend on besides their names (a change rebuilds them)."""
    return (
        str(config.base_path),
        config.collector_url,
        config.otlp_protocol,
        config.api_key,
        config.service_name,
        config.environment,
    )


def build_metric_exporters(
    config: SDKConfig, names: Sequence[str], endpoint_up: Callable[[], bool] | None = None
) -> list[MetricExporter]:
    """One metric exporter per name (an entry point that cannot be loaded: one warning). OTLP
    ones to the spans' endpoint export only while ``endpoint_up()`` (the span exporter's circuit
    is closed): metrics are not spooled, and a dead collector must not delay the exit."""
    exporters: list[MetricExporter] = []
    for name in names:
        try:
            exporter = _metric_exporter(name, config)
        except Exception as exc:
            logger.warning("fluxloop: OTEL_METRICS_EXPORTER: could not load %r: %s", name, exc)
            continue
        if name in OTLP_EXPORTERS and endpoint_up is not None:
            exporter = GuardedMetricExporter(exporter, endpoint_up)
        exporters.append(exporter)
    return exporters


class GuardedMetricExporter(MetricExporter):
    """Exports through ``delegate`` only while ``endpoint_up()``; otherwise the interval's points
    are dropped at once (counted in :attr:`dropped_exports`), never retried against a dead
    endpoint."""

    def __init__(self, delegate: MetricExporter, endpoint_up: Callable[[], bool]) -> None:
        super().__init__(
            preferred_temporality=delegate._preferred_temporality,
            preferred_aggregation=delegate._preferred_aggregation,
        )
        self.delegate = delegate
        self.endpoint_up = endpoint_up
        self.dropped_exports = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Export unless the endpoint is known to be down."""
        try:
            up = self.endpoint_up()
        except Exception:
            up = True
        if not up:
            self.dropped_exports += 1
            return MetricExportResult.FAILURE
        return self.delegate.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """The delegate's."""
        return self.delegate.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """The delegate's."""
        self.delegate.shutdown(timeout_millis=timeout_millis, **kwargs)


class _MetricFailuresOnce(logging.Filter):
    """The official OTLP exporters log every failed metric export (every minute, for a backend
    that takes traces but not metrics): the first one is shown, with how to turn them off."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "metrics" not in message or "export" not in message.lower():
            return True
        if self.seen:
            return False
        self.seen = True
        record.msg = (
            f"{message} (FluxLoop's GenAI metrics; not repeated; OTEL_METRICS_EXPORTER=none)"
        )
        record.args = ()
        return True


_METRIC_FAILURES = _MetricFailuresOnce()
for _name in (
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
):
    logging.getLogger(_name).addFilter(_METRIC_FAILURES)


def _metric_exporter(name: str, config: SDKConfig) -> MetricExporter:
    if name == "fluxloop_jsonl":
        return JsonlFileMetricExporter(base_path=config.base_path)
    if name == "console":
        return ConsoleMetricExporter()
    if name in OTLP_EXPORTERS:
        protocol = OTLP_EXPORTERS[name] or config.otlp_protocol
        endpoint = config.collector_url  # else the exporter reads the OTEL_* variables itself
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else None
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcMetricExporter,
            )

            return GrpcMetricExporter(endpoint=endpoint, headers=headers, timeout=config.timeout)
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        url = endpoint.rstrip("/") + "/v1/metrics" if endpoint else None
        return HttpMetricExporter(endpoint=url, headers=headers, timeout=config.timeout)
    (entry,) = [e for e in entry_points(group="opentelemetry_metrics_exporter") if e.name == name]
    exporter: MetricExporter = entry.load()()
    return exporter
