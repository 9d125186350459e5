"""The metric record (JSONL contract v1) and ``JsonlFileMetricExporter``, over data recorded by the
real OpenTelemetry SDK (a ``MeterProvider`` read by an ``InMemoryMetricReader``).

Regenerate the golden file with ``FLUXLOOP_UPDATE_GOLDEN=1 pytest tests/exporters/test_metrics.py``
(then review the diff: a change here is a change of the contract).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fluxloop_exporters import (
    CONTRACT_VERSION,
    JsonlFileMetricExporter,
    encode_metrics,
    load_schema,
)
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from .conftest import T0

GOLDEN = Path(__file__).parent / "golden" / f"v{CONTRACT_VERSION}" / "metrics.jsonl"
UPDATE = os.environ.get("FLUXLOOP_UPDATE_GOLDEN") == "1"
DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48]
DURATION_BOUNDS += [40.96, 81.92]
TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]
TOKEN_BOUNDS += [16777216, 67108864]


def record_metrics(reader: Any) -> MeterProvider:
    """Every instrument type, recorded through the SDK's API (the GenAI histograms as FluxLoop
    records them, a counter, an up-down counter, a gauge, an exponential histogram)."""
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource({"service.name": "golden-agent", "deployment.environment.name": "test"}),
        views=[
            View(
                instrument_name="golden.latency",
                aggregation=ExponentialBucketHistogramAggregation(),
            )
        ],
    )
    meter = provider.get_meter("fluxloop", "1.2.3")
    duration = meter.create_histogram(
        "gen_ai.client.operation.duration",
        unit="s",
        description="GenAI operation duration.",
        explicit_bucket_boundaries_advisory=DURATION_BOUNDS,
    )
    tokens = meter.create_histogram(
        "gen_ai.client.token.usage",
        unit="{token}",
        description="Number of input and output tokens used.",
        explicit_bucket_boundaries_advisory=TOKEN_BOUNDS,
    )
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    }
    duration.record(0.25, chat)
    duration.record(1.5, chat)
    duration.record(0.05, {**chat, "error.type": "TimeoutError"})
    tokens.record(57, {**chat, "gen_ai.token.type": "input"})
    tokens.record(12, {**chat, "gen_ai.token.type": "output"})
    meter.create_counter("golden.calls", unit="{call}").add(3, {"tags": ("a", "b")})
    meter.create_up_down_counter("golden.open").add(-2)
    meter.create_gauge("golden.queue", unit="{span}").set(7.5)
    latency = meter.create_histogram("golden.latency", unit="s")
    for value in (0.5, 1.0, 2.0, 0.0):
        latency.record(value)
    return provider


def fixed_times(data: MetricsData) -> MetricsData:
    """The SDK stamps points with the wall clock; the golden file needs fixed times."""

    def points(metric: Any) -> Any:
        new = [
            dataclasses.replace(p, start_time_unix_nano=T0, time_unix_nano=T0 + 60 * 10**9)
            for p in metric.data.data_points
        ]
        return dataclasses.replace(metric, data=dataclasses.replace(metric.data, data_points=new))

    return dataclasses.replace(
        data,
        resource_metrics=[
            dataclasses.replace(
                rm,
                scope_metrics=[
                    dataclasses.replace(sm, metrics=[points(m) for m in sm.metrics])
                    for sm in rm.scope_metrics
                ],
            )
            for rm in data.resource_metrics
        ],
    )


def golden_data() -> MetricsData:
    reader = InMemoryMetricReader(
        preferred_temporality={Histogram: AggregationTemporality.DELTA},
    )
    provider = record_metrics(reader)
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return fixed_times(data)


def load_golden() -> list[dict[str, Any]]:
    return [json.loads(line) for line in GOLDEN.read_text().splitlines()]


def test_golden_file_matches_the_encoder() -> None:
    records = encode_metrics(golden_data())
    if UPDATE:
        GOLDEN.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    assert load_golden() == records


def test_golden_records_validate_and_cover_every_type() -> None:
    validator = jsonschema.Draft202012Validator(load_schema("metric"))
    records = load_golden()
    for record in records:
        validator.validate(record)
    assert {r["type"] for r in records} == {"histogram", "sum", "gauge", "exponential_histogram"}
    # what the schema forbids: an extra key, a value on a histogram, an unknown type
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**records[0], "extra": 1})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**records[0], "value": 3})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**records[0], "type": "summary"})


def test_genai_histogram_record_shape() -> None:
    records = load_golden()
    durations = [r for r in records if r["name"] == "gen_ai.client.operation.duration"]
    ok = next(r for r in durations if "error.type" not in r["attributes"])
    assert ok["type"] == "histogram" and ok["unit"] == "s" and ok["temporality"] == "delta"
    assert ok["explicit_bounds"] == DURATION_BOUNDS
    assert len(ok["bucket_counts"]) == len(DURATION_BOUNDS) + 1
    assert (ok["count"], ok["sum"], ok["min"], ok["max"]) == (2, 1.75, 0.25, 1.5)
    assert ok["time"] == "2026-01-02T03:05:05.123456+00:00"
    assert ok["resource"]["service.name"] == "golden-agent"
    assert ok["scope"] == {"name": "fluxloop", "version": "1.2.3"}
    tokens = {
        r["attributes"]["gen_ai.token.type"]: r["sum"]
        for r in records
        if r["name"] == "gen_ai.client.token.usage"
    }
    assert tokens == {"input": 57, "output": 12}
    counter = next(r for r in records if r["name"] == "golden.calls")
    assert counter["attributes"] == {"tags": ["a", "b"]} and counter["monotonic"] is True
    gauge = next(r for r in records if r["name"] == "golden.queue")
    assert gauge["temporality"] is None and gauge["value"] == 7.5


def test_exporter_writes_daily_files_through_a_periodic_reader(tmp_path: Path) -> None:
    """The SDK's own reader drives the exporter; shutdown flushes; lines are the encoder's."""
    exporter = JsonlFileMetricExporter(tmp_path / "out")
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = record_metrics(reader)
    provider.shutdown()  # collects and exports once more, then shuts the exporter down
    (written,) = (tmp_path / "out").glob("metrics_*.jsonl")
    lines = [json.loads(line) for line in written.read_text().splitlines()]
    validator = jsonschema.Draft202012Validator(load_schema("metric"))
    for line in lines:
        validator.validate(line)
    assert written.name == f"metrics_{lines[0]['time'][:10].replace('-', '')}.jsonl"
    assert exporter.exported_points == len(lines) == len(load_golden())
    # the exporter asks for delta histograms and counters, cumulative up-down counters
    by_name = {r["name"]: r for r in lines}
    assert by_name["gen_ai.client.token.usage"]["temporality"] == "delta"
    assert by_name["golden.calls"]["temporality"] == "delta"
    assert by_name["golden.open"]["temporality"] == "cumulative"
    # after shutdown: a failure, counted, never an exception
    assert exporter.export(golden_data()) is MetricExportResult.FAILURE
    assert exporter.dropped_points == len(lines)


def test_delta_temporality_writes_nothing_for_an_idle_interval(tmp_path: Path) -> None:
    exporter = JsonlFileMetricExporter(tmp_path)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("m").create_histogram("h").record(1.0)
    assert provider.force_flush()
    assert provider.force_flush()  # nothing new was recorded
    provider.shutdown()
    (written,) = tmp_path.glob("metrics_*.jsonl")
    assert len(written.read_text().splitlines()) == 1


def test_unwritable_directory_fails_once_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")  # even root cannot make a directory under a file
    exporter = JsonlFileMetricExporter(blocked / "sub")
    data = golden_data()
    assert exporter.export(data) is MetricExportResult.FAILURE
    assert exporter.export(data) is MetricExportResult.FAILURE
    warnings = [r for r in caplog.records if "metric export failed" in r.getMessage()]
    assert len(warnings) == 1
    assert exporter.dropped_points == 2 * len(load_golden())


def test_base_path_defaults_to_the_fluxloop_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUXLOOP_BASE_PATH", str(tmp_path / "env"))
    assert JsonlFileMetricExporter().base_path == tmp_path / "env"


def test_metrics_entry_point_is_registered() -> None:
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="opentelemetry_metrics_exporter")
        if e.name == "fluxloop_jsonl"
    ]
    assert entry.load() is JsonlFileMetricExporter


def test_encoder_is_total() -> None:
    """Non-finite bounds (an empty histogram's min/max) become null; a broken metric is skipped."""
    data = golden_data()
    rm = data.resource_metrics[0]
    sm = rm.scope_metrics[0]
    hist = next(m for m in sm.metrics if m.name == "gen_ai.client.operation.duration")
    point = dataclasses.replace(
        hist.data.data_points[0], count=0, sum=0, min=float("inf"), max=float("-inf")
    )
    empty = dataclasses.replace(hist, data=dataclasses.replace(hist.data, data_points=[point]))
    broken = dataclasses.replace(hist, name="broken", data=object())  # type: ignore[arg-type]
    bad_points = dataclasses.replace(
        hist, name="bad", data=dataclasses.replace(hist.data, data_points=[None])
    )
    data = MetricsData(
        [
            dataclasses.replace(
                rm, scope_metrics=[dataclasses.replace(sm, metrics=[empty, broken, bad_points])]
            )
        ]
    )
    (record,) = encode_metrics(data)
    assert record["min"] is None and record["max"] is None and record["count"] == 0
    jsonschema.Draft202012Validator(load_schema("metric")).validate(record)
