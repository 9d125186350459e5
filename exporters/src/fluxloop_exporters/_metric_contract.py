"""The FluxLoop metric record (JSONL contract v1): a pure ``MetricsData -> records`` encoder.

One record per data point (schema: ``exporters/schemas/metric.schema.json``). Every record has the
same keys, whatever the metric type, so a reader needs no branching to find them:

* ``name``, ``description``, ``unit``: the instrument's;
* ``type``: ``histogram``, ``sum``, ``gauge`` or ``exponential_histogram``;
* ``temporality``: ``delta`` or ``cumulative`` (``null`` for a gauge); ``monotonic``: for a sum,
  else ``null``;
* ``start_time`` / ``time``: ISO-8601 UTC with microseconds and ``+00:00`` (the data point's
  interval; ``start_time`` is ``null`` when the SDK gave none);
* ``attributes``: the data point's attributes (arrays as JSON arrays);
* ``value``: a sum's or gauge's value, else ``null``;
* ``count``, ``sum``, ``min``, ``max``: a histogram's (either kind), else ``null``; a bound that is
  not finite (an empty histogram's) is ``null``;
* ``bucket_counts`` / ``explicit_bounds``: an explicit-bucket histogram's (``len(bucket_counts) ==
  len(explicit_bounds) + 1``), else ``null``;
* ``exponential``: an exponential histogram's ``{scale, zero_count, positive: {offset,
  bucket_counts}, negative: {offset, bucket_counts}}``, else ``null``;
* ``resource``: the resource's attributes; ``scope``: ``{name, version}`` of the meter.

The encoder works on the OpenTelemetry SDK's own data classes, so anything that can build an SDK
:class:`~opentelemetry.sdk.metrics.export.MetricsData` (the SDK's readers, or a receiver that
rebuilds it from OTLP) gets the same records. It is total: it never raises; a data point it does
not know is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    Gauge,
    Histogram,
    Metric,
    MetricsData,
    Sum,
)

from ._contract import format_timestamp_ns

__all__ = ["METRIC_TYPES", "encode_metrics"]

METRIC_TYPES = ("histogram", "sum", "gauge", "exponential_histogram")

_TEMPORALITY = {
    AggregationTemporality.DELTA: "delta",
    AggregationTemporality.CUMULATIVE: "cumulative",
}


def encode_metrics(metrics_data: MetricsData) -> list[dict[str, Any]]:
    """One metric record per data point of ``metrics_data``, in the SDK's order."""
    records: list[dict[str, Any]] = []
    for resource_metrics in metrics_data.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = {
                "name": scope_metrics.scope.name,
                "version": scope_metrics.scope.version or None,
            }
            for metric in scope_metrics.metrics:
                try:
                    encoded = list(_encode_metric(metric))
                except Exception:  # total by contract: a malformed metric is skipped
                    continue
                for record in encoded:
                    record["resource"] = resource
                    record["scope"] = scope
                    records.append(record)
    return records


def _encode_metric(metric: Metric) -> Iterator[dict[str, Any]]:
    data = metric.data
    base: dict[str, Any] = {
        "name": metric.name,
        "description": metric.description or "",
        "unit": metric.unit or "",
    }
    if isinstance(data, Histogram):
        temporality = _TEMPORALITY.get(data.aggregation_temporality)
        for hp in data.data_points:
            yield {
                **base,
                **_common("histogram", temporality, None, hp),
                "value": None,
                **_stats(hp.count, hp.sum, hp.min, hp.max),
                "bucket_counts": [int(c) for c in hp.bucket_counts],
                "explicit_bounds": [_number(b) for b in hp.explicit_bounds],
                "exponential": None,
            }
    elif isinstance(data, Sum | Gauge):
        kind, temporality, monotonic = "gauge", None, None
        if isinstance(data, Sum):
            kind, monotonic = "sum", bool(data.is_monotonic)
            temporality = _TEMPORALITY.get(data.aggregation_temporality)
        for np_ in data.data_points:
            yield {
                **base,
                **_common(kind, temporality, monotonic, np_),
                "value": _number(np_.value),
                **_stats(None, None, None, None),
                "bucket_counts": None,
                "explicit_bounds": None,
                "exponential": None,
            }
    elif isinstance(data, ExponentialHistogram):
        temporality = _TEMPORALITY.get(data.aggregation_temporality)
        for ep in data.data_points:
            yield {
                **base,
                **_common("exponential_histogram", temporality, None, ep),
                "value": None,
                **_stats(ep.count, ep.sum, ep.min, ep.max),
                "bucket_counts": None,
                "explicit_bounds": None,
                "exponential": {
                    "scale": int(ep.scale),
                    "zero_count": int(ep.zero_count),
                    "positive": _buckets(ep.positive),
                    "negative": _buckets(ep.negative),
                },
            }


def _common(
    kind: str, temporality: str | None, monotonic: bool | None, point: Any
) -> dict[str, Any]:
    start = point.start_time_unix_nano
    return {
        "type": kind,
        "temporality": temporality,
        "monotonic": monotonic,
        "start_time": format_timestamp_ns(start) if start else None,
        "time": format_timestamp_ns(point.time_unix_nano),
        "attributes": _attributes(point.attributes),
    }


def _stats(count: Any, total: Any, low: Any, high: Any) -> dict[str, Any]:
    return {
        "count": None if count is None else int(count),
        "sum": _number(total),
        "min": _number(low),
        "max": _number(high),
    }


def _buckets(buckets: Any) -> dict[str, Any]:
    return {"offset": int(buckets.offset), "bucket_counts": [int(c) for c in buckets.bucket_counts]}


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    if not attributes:
        return {}
    return {str(k): list(v) if isinstance(v, tuple | list) else v for k, v in attributes.items()}
