"""``JsonlFileMetricExporter``: metric records (see :mod:`._metric_contract`) in daily files.

Layout: ``{base_path}/metrics_YYYYMMDD.jsonl``, dated by the UTC date of each data point's
``time``, beside the span exporter's ``observations_*``/``traces_*`` files. Appends go through
:class:`~fluxloop_exporters._appendfiles.AppendFiles` (whole lines only).

Temporality: delta for counters and histograms unless told otherwise, so every line holds what
happened in its own export interval (totals are sums over lines) and an idle process writes
nothing; up-down counters stay cumulative, as the OTLP exporters' ``delta`` preference does.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.metrics.view import Aggregation

from . import _json
from ._appendfiles import AppendFiles
from ._jsonl import resolve_base_path
from ._metric_contract import encode_metrics

__all__ = ["JsonlFileMetricExporter"]

_logger = logging.getLogger("fluxloop")

_DELTA = AggregationTemporality.DELTA
_CUMULATIVE = AggregationTemporality.CUMULATIVE
DEFAULT_TEMPORALITY: dict[type, AggregationTemporality] = {
    Counter: _DELTA,
    Histogram: _DELTA,
    ObservableCounter: _DELTA,
    UpDownCounter: _CUMULATIVE,
    ObservableUpDownCounter: _CUMULATIVE,
    ObservableGauge: _CUMULATIVE,
}


class JsonlFileMetricExporter(MetricExporter):
    """Writes metric data points as FluxLoop metric records to ``metrics_YYYYMMDD.jsonl``.

    ``base_path`` defaults to ``$FLUXLOOP_BASE_PATH`` or ``./traces`` (as for
    :class:`~fluxloop_exporters.JsonlFileSpanExporter`). Thread-safe; never raises from
    ``export``: on an I/O error it logs one warning on the ``fluxloop`` logger, counts the data
    points in :attr:`dropped_points` and returns ``MetricExportResult.FAILURE``. Also usable
    without FluxLoop as ``OTEL_METRICS_EXPORTER=fluxloop_jsonl``.
    """

    def __init__(
        self,
        base_path: str | os.PathLike[str] | None = None,
        preferred_temporality: Mapping[type, AggregationTemporality] | None = None,
        preferred_aggregation: Mapping[type, Aggregation] | None = None,
    ) -> None:
        super().__init__(
            preferred_temporality={**DEFAULT_TEMPORALITY, **(preferred_temporality or {})},
            preferred_aggregation=dict(preferred_aggregation or {}),
        )
        self.base_path = resolve_base_path(base_path)
        self.exported_points = 0
        self.dropped_points = 0
        self._files = AppendFiles(self.base_path)
        self._lock = threading.Lock()
        self._shutdown = False
        self._failing = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        """Append one line per data point; ``FAILURE`` (logged once) when the file is not
        writable or the exporter is shut down."""
        records = encode_metrics(metrics_data)
        if not records:
            return MetricExportResult.SUCCESS
        by_date: dict[str, list[bytes]] = {}
        for record in records:
            day = (record["time"] or "1970-01-01")[:10].replace("-", "")
            by_date.setdefault(day, []).append(_json.dumps_line(record))
        with self._lock:
            if self._shutdown:
                self.dropped_points += len(records)
                return MetricExportResult.FAILURE
            result = MetricExportResult.SUCCESS
            for date, lines in by_date.items():
                error = self._files.write(f"metrics_{date}.jsonl", b"".join(lines))
                if error is None:
                    self.exported_points += len(lines)
                    continue
                result = MetricExportResult.FAILURE
                self.dropped_points += len(lines)
                if not self._failing:
                    self._failing = True
                    _logger.warning(
                        "fluxloop: metric export failed, %d data point(s) dropped (%s); further "
                        "failures are counted in dropped_points",
                        len(lines),
                        error,
                    )
            if result is MetricExportResult.SUCCESS:
                self._failing = False
            return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Nothing is buffered here: every export is written before it returns."""
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        """Close the files; later exports fail (and are counted as dropped)."""
        with self._lock:
            self._shutdown = True
            self._files.close_all()
