"""Where the collector's data goes: the FluxLoop JSONL contract files of one directory.

Spans are written by the SDK's own :class:`fluxloop_exporters.JsonlFileSpanExporter` (the same
encoder, the same daily files); records of the original SDK's JSON API are appended to the same
files with the same ``O_APPEND`` single-``write`` discipline, so lines never interleave.

Durability: :meth:`Sink.write_spans` / :meth:`Sink.write_records` return only after the data was
handed to the operating system (``os.write``), so an acknowledged batch survives the collector
being killed (``kill -9``). With ``fsync=True`` the touched files are also ``os.fsync``-ed before
returning, so it survives a power loss too, at the cost of a disk flush per request. One lock
serialises writers: concurrent clients never interleave and never race.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fluxloop_exporters import (
    JsonlFileLogExporter,
    JsonlFileMetricExporter,
    JsonlFileSpanExporter,
)
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from fluxloop.collector._ingest import (
    DEFAULT_POLICY,
    IngestPolicy,
    prepare_logs,
    prepare_record,
    prepare_spans,
)
from fluxloop.collector._legacy import record_day

__all__ = ["Sink", "SinkError", "repair_partial_lines"]

_NS_PER_DAY = 86_400 * 1_000_000_000


def repair_partial_lines(directory: Path) -> list[tuple[Path, int]]:
    """Cut a partial last line off every contract file in ``directory``; returns the files
    repaired and the bytes removed.

    A process killed in the middle of a large ``write`` (``kill -9``) can leave one: the batch
    was never acknowledged, so its sender re-sends it; the fragment would only be an unreadable
    line. Run at startup, before anything writes.
    """
    repaired: list[tuple[Path, int]] = []
    for path in sorted(directory.glob("*.jsonl")):
        if not path.name.startswith(("observations_", "traces_", "logs_", "metrics_")):
            continue
        try:
            with open(path, "rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    continue
                handle.seek(size - 1)
                if handle.read(1) == b"\n":
                    continue
                end = size
                keep = 0
                while end > 0:
                    start = max(0, end - 65536)
                    handle.seek(start)
                    newline = handle.read(end - start).rfind(b"\n")
                    if newline >= 0:
                        keep = start + newline + 1
                        break
                    end = start
                handle.truncate(keep)
                repaired.append((path, size - keep))
        except OSError:
            continue
    return repaired


class SinkError(OSError):
    """The output directory could not be written (answered with 503 / UNAVAILABLE: retry)."""


def _day_of_ns(ns: int) -> str:
    try:
        return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y%m%d")
    except (OverflowError, OSError, ValueError):
        return "19700101"


class Sink:
    """The collector's single writer; thread-safe. Counts what it wrote for ``/health``."""

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        fsync: bool = False,
        policy: IngestPolicy = DEFAULT_POLICY,
    ) -> None:
        self.output_dir = Path(os.path.abspath(os.fspath(output_dir)))
        self.fsync = fsync
        self.policy = policy
        self.started = time.monotonic()
        self.spans_received = 0
        self.spans_rejected = 0
        self.records_received = 0
        self.requests = 0
        self.failed_writes = 0
        self.logs_received = 0
        self.logs_rejected = 0
        self.metric_points_received = 0
        self.metric_points_rejected = 0
        self._exporter = JsonlFileSpanExporter(self.output_dir)
        self._logs = JsonlFileLogExporter(self.output_dir)
        self._metrics = JsonlFileMetricExporter(self.output_dir)
        self._lock = threading.Lock()
        self._closed = False
        self._reopen = False

    # -- writing -------------------------------------------------------------------------------

    def write_spans(self, spans: Sequence[ReadableSpan], rejected: int = 0) -> None:
        """Write ``spans`` as contract records, after the ingest step (masking, limits: see
        :mod:`fluxloop.collector._ingest`); raises :class:`SinkError` if not written."""
        spans = prepare_spans(spans, self.policy)
        with self._lock:
            self.requests += 1
            self.spans_rejected += rejected
            if not spans:
                return
            self._check_open()
            result = self._exporter.export(spans)
            if result is not SpanExportResult.SUCCESS:
                self.failed_writes += 1
                raise SinkError(f"cannot write to {self.output_dir}")
            if self.fsync:
                self._sync(self._span_days(spans))
            self.spans_received += len(spans)

    def write_logs(self, records: Sequence[ReadableLogRecord], rejected: int = 0) -> None:
        """Write log records to ``logs_*.jsonl``, after the ingest step (masking, limits);
        raises :class:`SinkError` if not written."""
        records = prepare_logs(records, self.policy)
        with self._lock:
            self.requests += 1
            self.logs_rejected += rejected
            if not records:
                return
            self._check_open()
            if self._logs.export(records) is not LogRecordExportResult.SUCCESS:
                self.failed_writes += 1
                raise SinkError(f"cannot write to {self.output_dir}")
            if self.fsync:
                self._sync_prefix("logs_")
            self.logs_received += len(records)

    def write_metrics(self, data: MetricsData, points: int, rejected: int = 0) -> None:
        """Write metric data points to ``metrics_*.jsonl``; raises :class:`SinkError`."""
        with self._lock:
            self.requests += 1
            self.metric_points_rejected += rejected
            if not points:
                return
            self._check_open()
            if self._metrics.export(data) is not MetricExportResult.SUCCESS:
                self.failed_writes += 1
                raise SinkError(f"cannot write to {self.output_dir}")
            if self.fsync:
                self._sync_prefix("metrics_")
            self.metric_points_received += points

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError("the collector is shutting down")
        if self._reopen:
            self._reopen = False
            for exporter in (self._exporter, self._logs):
                exporter.reopen()
            self._metrics.shutdown()  # it has no reopen(): a fresh one opens by name
            self._metrics = JsonlFileMetricExporter(self.output_dir)

    def _sync_prefix(self, prefix: str) -> None:
        # the files a request touched are today's (or a few days'): sync every file of the kind
        # modified in the last minute rather than tracking dates per record
        now = time.time()
        for path in self.output_dir.glob(f"{prefix}*.jsonl"):
            try:
                if now - path.stat().st_mtime > 60:
                    continue
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def write_records(self, kind: str, records: Sequence[Mapping[str, Any]]) -> None:
        """Append contract ``records`` of ``kind`` (``"traces"`` or ``"observations"``) to the
        daily files; raises :class:`SinkError`."""
        by_day: dict[str, list[bytes]] = {}
        for record in records:
            prepared = prepare_record(record, self.policy)
            line = json.dumps(prepared, ensure_ascii=False, separators=(",", ":"), default=str)
            try:
                data = line.encode("utf-8")
            except UnicodeEncodeError:
                # a lone surrogate ("\ud800" is valid JSON) is text: U+FFFD, as on the OTLP path
                data = line.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()
            by_day.setdefault(record_day(prepared), []).append(data + b"\n")
        with self._lock:
            self.requests += 1
            if self._closed:
                raise SinkError("the collector is shutting down")
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                for day, lines in by_day.items():
                    self._append(self.output_dir / f"{kind}_{day}.jsonl", b"".join(lines))
            except OSError as exc:
                self.failed_writes += 1
                raise SinkError(
                    f"cannot write to {self.output_dir}: {exc.strerror or exc}"
                ) from exc
            self.records_received += len(records)

    def _append(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            start = os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(data)
            written = 0
            try:
                while written < len(data):
                    written += os.write(fd, view[written:])
            except OSError:
                if written:  # never leave a partial line behind
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                raise
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    @staticmethod
    def _span_days(spans: Iterable[ReadableSpan]) -> set[str]:
        days: set[int] = set()
        for span in spans:
            ns = span.end_time or span.start_time or 0
            days.add(ns // _NS_PER_DAY)
        return {_day_of_ns(day * _NS_PER_DAY) for day in days}

    def _sync(self, days: Iterable[str]) -> None:
        for day in days:
            for kind in ("observations", "traces"):
                try:
                    fd = os.open(self.output_dir / f"{kind}_{day}.jsonl", os.O_RDONLY)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise SinkError(f"cannot sync {self.output_dir}: {exc}") from exc
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    # -- state ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Counters for ``GET /health``."""
        with self._lock:
            return {
                "spans_received": self.spans_received,
                "spans_rejected": self.spans_rejected,
                "records_received": self.records_received,
                "logs_received": self.logs_received,
                "logs_rejected": self.logs_rejected,
                "metric_points_received": self.metric_points_received,
                "metric_points_rejected": self.metric_points_rejected,
                "requests": self.requests,
                "failed_writes": self.failed_writes,
                "uptime_seconds": round(time.monotonic() - self.started, 3),
                "output_dir": str(self.output_dir),
                "fsync": self.fsync,
            }

    def request_reopen(self) -> None:
        """Reopen the output files by name before the next write (SIGHUP, after log rotation).
        Safe in a signal handler: it only sets a flag (the writer's lock may be held)."""
        self._reopen = True

    def close(self) -> None:
        """Refuse further writes (after in-flight ones finished) and close the files."""
        with self._lock:
            self._closed = True
        self._exporter.shutdown()
        self._logs.shutdown()
        self._metrics.shutdown()
