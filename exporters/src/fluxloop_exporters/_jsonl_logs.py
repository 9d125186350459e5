"""``JsonlFileLogExporter``: log records (see :mod:`._log_contract`) in daily files.

Layout: ``{base_path}/logs_YYYYMMDD.jsonl``, dated by the UTC date of each record's ``time`` (else
its ``observed_time``), beside the span exporter's files. Appends go through
:class:`~fluxloop_exporters._appendfiles.AppendFiles` (whole lines only, rotation-safe).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from . import _json
from ._appendfiles import AppendFiles
from ._jsonl import resolve_base_path
from ._log_contract import encode_logs

__all__ = ["JsonlFileLogExporter"]

_logger = logging.getLogger("fluxloop")


class JsonlFileLogExporter(LogRecordExporter):
    """Writes log records as FluxLoop log records to ``logs_YYYYMMDD.jsonl``.

    ``base_path`` defaults to ``$FLUXLOOP_BASE_PATH`` or ``./traces``. Thread-safe; never raises
    from ``export``: on an I/O error it logs one warning, counts the records in
    :attr:`dropped_records` and returns ``FAILURE``. Also usable without FluxLoop as
    ``OTEL_LOGS_EXPORTER=fluxloop_jsonl``.
    """

    def __init__(self, base_path: str | os.PathLike[str] | None = None) -> None:
        self.base_path = resolve_base_path(base_path)
        self.exported_records = 0
        self.dropped_records = 0
        self._files = AppendFiles(self.base_path)
        self._lock = threading.Lock()
        self._shutdown = False
        self._failing = False

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        """Append one line per record; ``FAILURE`` (logged once) when not written."""
        records = encode_logs(batch)
        if not records:
            return LogRecordExportResult.SUCCESS
        by_date: dict[str, list[bytes]] = {}
        for record in records:
            day = (record["time"] or record["observed_time"] or "1970-01-01")[:10]
            by_date.setdefault(day.replace("-", ""), []).append(_json.dumps_line(record))
        with self._lock:
            if self._shutdown:
                self.dropped_records += len(records)
                return LogRecordExportResult.FAILURE
            result = LogRecordExportResult.SUCCESS
            for date, lines in by_date.items():
                error = self._files.write(f"logs_{date}.jsonl", b"".join(lines))
                if error is None:
                    self.exported_records += len(lines)
                    continue
                result = LogRecordExportResult.FAILURE
                self.dropped_records += len(lines)
                if not self._failing:
                    self._failing = True
                    _logger.warning(
                        "fluxloop: log export failed, %d record(s) dropped (%s); further "
                        "failures are counted in dropped_records",
                        len(lines),
                        error,
                    )
            if result is LogRecordExportResult.SUCCESS:
                self._failing = False
            return result

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every export is written before it returns."""
        return True

    def reopen(self) -> None:
        """Close the open files; the next export reopens them by name (log rotation)."""
        with self._lock:
            self._files.close_all()

    def shutdown(self) -> None:
        """Close the files; later exports fail (and are counted as dropped)."""
        with self._lock:
            self._shutdown = True
            self._files.close_all()
