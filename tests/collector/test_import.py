"""``fluxloop import otlp``: OTLP JSON lines (the OTel Collector's file exporter) -> contract."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from fluxloop_exporters import load_schema

from fluxloop.cli import cli
from fluxloop.cli.render import span_tree_lines
from fluxloop.collector import import_otlp_files
from fluxloop.errors import InputError

from .conftest import read_jsonl
from .helpers import otlp_json
from .spans import expected_records, make_spans


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_round_trip(tmp_path: Path) -> None:
    spans = make_spans(3)
    half = len(spans) // 2
    source = _write_lines(
        tmp_path / "otel-file-exporter.jsonl",
        [
            otlp_json(spans[:half]),  # the Collector's file exporter: camelCase, hex ids
            json.dumps({"resourceProfiles": []}),  # a signal that is not imported
            "",
            otlp_json(spans[half:], hex_ids=False, snake=True),  # snake_case, base64 ids
        ],
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["import", "otlp", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Imported {len(spans)} span(s) in 3 trace(s) from 3 line(s) of 1 file(s)" in (
        result.output
    )
    assert "Ignored 1 line(s) of other signals" in result.output

    observations = read_jsonl(out, "observations")
    traces = read_jsonl(out, "traces")
    expected_obs, expected_traces = expected_records(spans)
    assert {r["id"]: r for r in observations} == expected_obs
    assert {r["id"]: r for r in traces} == expected_traces
    assert len(observations) == len(spans)
    # the result reads like any FluxLoop output: schema-valid, renders as a tree
    for record in observations:
        jsonschema.validate(record, load_schema("observation"))
    for record in traces:
        jsonschema.validate(record, load_schema("trace"))
    tree = span_tree_lines(observations)
    assert tree[0].startswith("agent support")
    assert any("generation chat gpt-4o-mini" in line for line in tree[1:])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # staging removed


def test_gzip_and_appending(tmp_path: Path) -> None:
    first, second = make_spans(1), make_spans(1)
    plain = _write_lines(tmp_path / "a.jsonl", [otlp_json(first)])
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress((otlp_json(second) + "\n").encode()))
    out = tmp_path / "out"
    import_otlp_files([plain], out)
    result = import_otlp_files([packed], out)  # appends to the same daily files
    assert result.spans == len(second) and result.files == 1
    ids = {r["id"] for r in read_jsonl(out, "observations")}
    assert ids == set(expected_records(first)[0]) | set(expected_records(second)[0])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected an OTLP JSON object, found list"),
        (
            '{"hello": 1}',
            "expected an OTLP object with resourceSpans, resourceMetrics or resourceLogs, found hello",
        ),
        ('{"resourceSpans": {}}', "$.resourceSpans: expected an array, found an object"),
        (
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "00", "spanId": "01",'
            ' "name": "x", "startTimeUnixNano": "1"}]}]}]}',
            "1 invalid span(s): resource_spans[0].scope_spans[0].spans[0]: trace_id",
        ),
    ],
)
def test_malformed_line_stops_with_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    source = _write_lines(tmp_path / "in.jsonl", [otlp_json(make_spans(1)), "", line])
    out = tmp_path / "out"
    with pytest.raises(InputError) as info:
        import_otlp_files([source], out)
    assert str(info.value).startswith(f"{source}:3: ")
    assert reason in str(info.value)
    assert list(out.iterdir()) == []  # all or nothing


def test_skip_invalid(tmp_path: Path) -> None:
    spans = make_spans(1)
    source = _write_lines(tmp_path / "in.jsonl", ["{oops", otlp_json(spans), "7"])
    result = import_otlp_files([source], tmp_path / "out", skip_invalid=True)
    assert result.skipped_lines == 2 and result.spans == len(spans)
    assert result.errors[0].startswith(f"{source}:1: invalid JSON")
    assert len(read_jsonl(tmp_path / "out", "observations")) == len(spans)


def test_cli_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    bad = _write_lines(tmp_path / "bad.jsonl", [otlp_json(make_spans(1)), "{nope"])
    command = [sys.executable, "-m", "fluxloop.cli", "import", "otlp"]
    proc = subprocess.run(
        [*command, str(bad), "--output", str(tmp_path / "out")], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}:2: invalid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    ]
    proc = subprocess.run(
        [*command, str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'missing.jsonl'}: no such file"
    proc = subprocess.run(
        [*command, str(bad), "--skip-invalid", "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Skipped 1 invalid line(s)" in proc.stderr


def test_metrics_and_logs_lines(tmp_path: Path) -> None:
    """The OTel Collector's file exporter writes MetricsData and LogsData lines beside the
    traces: they land in metrics_*.jsonl and logs_*.jsonl, as the collector would write them."""
    from google.protobuf import json_format
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    meters.get_meter("m").create_counter("gen_ai.calls").add(2)
    metrics_line = json_format.MessageToJson(encode_metrics(reader.get_metrics_data()), indent=None)
    memory = InMemoryLogRecordExporter()
    loggers = LoggerProvider()
    loggers.add_log_record_processor(SimpleLogRecordProcessor(memory))
    loggers.get_logger("l").emit(
        LogRecord(body="hello", severity_number=SeverityNumber.WARN, trace_id=7, span_id=9)
    )
    logs_line = json_format.MessageToJson(encode_logs(memory.get_finished_logs()), indent=None)
    spans = make_spans(1)
    source = _write_lines(tmp_path / "all.jsonl", [otlp_json(spans), metrics_line, logs_line])
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["import", "otlp", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "Imported 1 metric data point(s) and 1 log record(s)" in result.output
    (point,) = read_jsonl(out, "metrics")
    assert point["name"] == "gen_ai.calls" and point["value"] == 2
    jsonschema.validate(point, load_schema("metric"))
    (log,) = read_jsonl(out, "logs")
    jsonschema.validate(log, load_schema("log"))
    assert log["body"] == "hello" and log["severity_number"] == 13
    assert (log["trace_id"], log["span_id"]) == (f"{7:032x}", f"{9:016x}")
    assert len(read_jsonl(out, "observations")) == len(spans)
