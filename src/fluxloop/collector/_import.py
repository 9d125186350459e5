"""``import_otlp_files``: OTLP JSON lines -> the FluxLoop JSONL contract.

Reads the format of the OpenTelemetry Collector's ``file`` exporter and of
``opentelemetry-exporter-otlp-json-file``: one ``TracesData`` / ``ExportTraceServiceRequest`` JSON
object per line (lowerCamelCase or snake_case keys, hex or base64 ids; ``.gz`` files are read
through gzip). Spans go through the SDK exporter's encoder into ``traces_YYYYMMDD.jsonl`` /
``observations_YYYYMMDD.jsonl``; ``MetricsData`` lines into ``metrics_YYYYMMDD.jsonl`` and
``LogsData`` lines into ``logs_YYYYMMDD.jsonl`` (the same writers as the collector's). Lines of
profiles are skipped and counted.

The import is all or nothing: records are staged in a hidden directory inside the output
directory and appended to the daily files only once every line was read. A malformed line
(invalid JSON, not OTLP, or a span with invalid ids) stops the import with an
:class:`~fluxloop.errors.InputError` naming ``file:line``, unless ``skip_invalid`` is set, in which
case the line is counted in ``skipped_lines`` and the import goes on.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fluxloop_exporters import JsonlFileLogExporter, JsonlFileMetricExporter, JsonlFileSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from fluxloop.collector._convert import PayloadError, convert_json
from fluxloop.collector._ingest import (
    DEFAULT_POLICY,
    IngestPolicy,
    prepare_logs,
    prepare_spans,
)
from fluxloop.collector._signals import LOGS, METRICS, convert_logs, convert_metrics, parse_json
from fluxloop.errors import InputError

__all__ = ["ImportResult", "import_otlp_files"]

_BATCH = 4096
_METRICS_KEYS = frozenset({"resourceMetrics", "resource_metrics"})
_LOGS_KEYS = frozenset({"resourceLogs", "resource_logs"})
_OTHER_SIGNALS = frozenset({"resourceProfiles", "resource_profiles"})


@dataclass
class ImportResult:
    """What an import read and wrote."""

    files: int = 0
    lines: int = 0
    spans: int = 0
    traces: int = 0
    skipped_lines: int = 0
    metric_points: int = 0
    log_records: int = 0
    ignored_lines: int = 0
    """Lines of profiles (not imported)."""
    errors: list[str] = field(default_factory=list)
    """The first few ``file:line: reason`` of skipped lines."""
    output_dir: Path = Path()


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        handle = _open(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        try:
            yield from enumerate(handle, start=1)
        except (OSError, EOFError) as exc:  # a corrupt .gz
            raise InputError(f"{path}: cannot read: {exc}") from None


def _line_data(line: bytes) -> Any:
    """``("traces", spans)``, ``("metrics", (data, points))`` or ``("logs", records)`` of one
    line; ``None`` for a line of profiles; raises PayloadError."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    import json

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise PayloadError("invalid JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected an OTLP JSON object, found {type(data).__name__}")
    if "resourceSpans" not in data and "resource_spans" not in data:
        if not _METRICS_KEYS.isdisjoint(data):
            request = parse_json(METRICS, data)
            assert isinstance(request, ExportMetricsServiceRequest)
            metrics, points, rejected = convert_metrics(request)
            if rejected:
                raise PayloadError(f"{rejected} data point(s) of unsupported metrics (summary)")
            return ("metrics", (metrics, points))
        if not _LOGS_KEYS.isdisjoint(data):
            request = parse_json(LOGS, data)
            assert isinstance(request, ExportLogsServiceRequest)
            records, rejected = convert_logs(request)
            if rejected:
                raise PayloadError(f"{rejected} log record(s) with invalid trace or span ids")
            return ("logs", records)
        if any(key in data for key in _OTHER_SIGNALS):
            return None
        found = ", ".join(sorted(data)[:5]) or "no keys"
        raise PayloadError(
            "expected an OTLP object with resourceSpans, resourceMetrics or resourceLogs, "
            f"found {found}"
        )
    try:
        converted = convert_json(data)
    except RecursionError:
        raise PayloadError("nested too deeply") from None
    if converted.rejected:
        raise PayloadError(f"{converted.rejected} invalid span(s): {converted.error_message}")
    return ("traces", converted.spans)


def import_otlp_files(
    paths: Iterable[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    skip_invalid: bool = False,
    policy: IngestPolicy = DEFAULT_POLICY,
) -> ImportResult:
    """Convert OTLP JSON-lines files into contract files under ``output_dir``, through the
    collector's ingest step (secrets masked unless ``policy.mask`` is false, the SDK's
    attribute limits: :mod:`fluxloop.collector._ingest`).

    Raises:
        InputError: a file is missing or unreadable, or a line is malformed (without
            ``skip_invalid``); nothing is written then.
    """
    out = Path(os.path.abspath(os.fspath(output_dir)))
    result = ImportResult(output_dir=out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=out))
    except OSError as exc:
        raise InputError(f"--output: cannot write {out}: {exc.strerror or exc}") from None
    try:
        exporter = JsonlFileSpanExporter(staging)
        metric_exporter = JsonlFileMetricExporter(staging)
        log_exporter = JsonlFileLogExporter(staging)
        batch: list[ReadableSpan] = []

        def flush() -> None:
            if batch and (
                exporter.export(prepare_spans(batch, policy)) is not SpanExportResult.SUCCESS
            ):
                raise InputError(f"--output: cannot write {out}")
            batch.clear()

        for raw_path in paths:
            path = Path(raw_path)
            result.files += 1
            for number, line in _lines(path):
                if not line.strip():
                    continue
                result.lines += 1
                try:
                    found = _line_data(line)
                except PayloadError as exc:
                    message = f"{path}:{number}: {exc}"
                    if not skip_invalid:
                        raise InputError(message) from None
                    result.skipped_lines += 1
                    if len(result.errors) < 5:
                        result.errors.append(message)
                    continue
                if found is None:
                    result.ignored_lines += 1
                    continue
                kind, payload = found
                if kind == "metrics":
                    metrics, points = payload
                    if metric_exporter.export(metrics) is not MetricExportResult.SUCCESS:
                        raise InputError(f"--output: cannot write {out}")
                    result.metric_points += points
                    continue
                if kind == "logs":
                    logs = prepare_logs(payload, policy)
                    if log_exporter.export(logs) is not LogRecordExportResult.SUCCESS:
                        raise InputError(f"--output: cannot write {out}")
                    result.log_records += len(payload)
                    continue
                spans = payload
                result.spans += len(spans)
                result.traces += sum(1 for s in spans if s.parent is None or s.parent.is_remote)
                batch.extend(spans)
                if len(batch) >= _BATCH:
                    flush()
        flush()
        exporter.shutdown()
        metric_exporter.shutdown()
        log_exporter.shutdown()
        _merge(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _merge(staging: Path, out: Path) -> None:
    """Append every staged file to its namesake in ``out`` (created if absent)."""
    for staged in sorted(staging.iterdir()):
        target = out / staged.name
        try:
            with open(staged, "rb") as src, open(target, "ab") as dst:
                shutil.copyfileobj(src, dst, 1024 * 1024)
                dst.flush()
                with contextlib.suppress(OSError):
                    os.fsync(dst.fileno())
        except OSError as exc:
            raise InputError(f"--output: cannot write {target}: {exc.strerror or exc}") from None
