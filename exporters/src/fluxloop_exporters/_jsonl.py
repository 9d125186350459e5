"""``JsonlFileSpanExporter``: the FluxLoop JSONL contract written to daily files.

Layout: ``{base_path}/observations_YYYYMMDD.jsonl`` (one record per span) and
``{base_path}/traces_YYYYMMDD.jsonl`` (one record per local root span), dated by the UTC date of the
span's end time. Appends go through :class:`~fluxloop_exporters._appendfiles.AppendFiles` (one
``O_APPEND`` write per file and batch, never a partial line).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from . import _json
from ._appendfiles import AppendFiles
from ._contract import encode_records

__all__ = ["JsonlFileSpanExporter", "resolve_base_path"]

_logger = logging.getLogger("fluxloop")

BASE_PATH_ENV = "FLUXLOOP_BASE_PATH"
DEFAULT_BASE_PATH = "./traces"
_DATES: dict[str, str] = {}  # "2026-01-02" -> "20260102"


def resolve_base_path(base_path: str | os.PathLike[str] | None = None) -> Path:
    """The exporter's directory: the argument, else ``$FLUXLOOP_BASE_PATH``, else ``./traces``
    (made absolute against the current directory at the time of the call)."""
    if base_path is None or str(base_path) == "":
        base_path = os.environ.get(BASE_PATH_ENV) or DEFAULT_BASE_PATH
    return Path(os.path.abspath(os.path.expanduser(os.fspath(base_path))))


class _DateGroup:
    """The lines of one batch for one day's files."""

    __slots__ = ("count", "observations", "traces")

    def __init__(self) -> None:
        self.observations = bytearray()
        self.traces = bytearray()
        self.count = 0


class JsonlFileSpanExporter(SpanExporter):
    """Writes spans as FluxLoop contract-v1 JSONL records.

    Thread-safe; never raises from ``export``: on an I/O error it logs one warning on the
    ``fluxloop`` logger, counts the spans in :attr:`dropped_spans` and returns
    ``SpanExportResult.FAILURE``. Also usable without FluxLoop as the OpenTelemetry entry point
    ``OTEL_TRACES_EXPORTER=fluxloop_jsonl``.
    """

    #: Spilling a span to disk costs what writing it here costs: FluxLoopSpanProcessor applies
    #: bounded backpressure instead (unless an export is stuck, e.g. on a hung file system).
    spill_pays_off = False

    def __init__(self, base_path: str | os.PathLike[str] | None = None) -> None:
        self.base_path: Path = resolve_base_path(base_path)
        self.dropped_spans = 0
        self.exported_spans = 0
        self._lock = threading.Lock()
        self._files = AppendFiles(self.base_path)
        self._shutdown = False
        self._failing = False
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) is not None and m())

    def _after_fork_in_child(self) -> None:
        # the lock may have been held by a parent thread at the fork; the inherited O_APPEND
        # descriptors stay valid (appends from both processes remain whole lines)
        self._lock = threading.Lock()

    # -- SpanExporter --------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            groups = self._encode(spans)
        except Exception as exc:  # pragma: no cover - the encoder is total; belt and braces
            return self._fail(len(spans), f"could not encode spans: {exc}")
        with self._lock:
            if self._shutdown:
                self.dropped_spans += len(spans)
                return SpanExportResult.FAILURE
            result = SpanExportResult.SUCCESS
            for date, group in groups.items():
                # trace records first: when they cannot be written the observations are not
                # written either, so a span counted as dropped is never on disk
                error = None
                if group.traces:
                    error = self._files.write(f"traces_{date}.jsonl", group.traces)
                if error is None:
                    error = self._files.write(f"observations_{date}.jsonl", group.observations)
                if error is not None:
                    self._fail_locked(group.count, error)
                    result = SpanExportResult.FAILURE
                else:
                    self.exported_spans += group.count
            if result is SpanExportResult.SUCCESS and self._failing:
                self._failing = False
                _logger.info("fluxloop: JSONL export to %s recovered", self.base_path)
            return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        # every export is handed to the OS with os.write before it returns: nothing is buffered
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._shutdown = True
            self._files.close_all()

    def reopen(self) -> None:
        """Close the open files; the next export reopens them by name (after log rotation; a
        moved or deleted file is also noticed on its own at the next export)."""
        with self._lock:
            self._files.close_all()

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _encode(spans: Sequence[ReadableSpan]) -> dict[str, _DateGroup]:
        dumps = _json.dumps_line
        groups: dict[str, _DateGroup] = {}
        current_date = ""
        group = _DateGroup()
        for span in spans:
            observation, trace = encode_records(span)
            day = (observation["end_time"] or observation["start_time"] or "1970-01-01")[:10]
            date = _DATES.get(day)
            if date is None:
                date = _DATES[day] = day.replace("-", "")
            if date != current_date:
                current_date = date
                group = groups.setdefault(date, _DateGroup())
            # appended to one buffer as they are made: each line's memory is reused at once
            # (a list of a batch's lines, joined at the end, costs a third more on page faults)
            group.observations += dumps(observation)
            group.count += 1
            if trace is not None:
                group.traces += dumps(trace)
        return groups

    def _fail(self, count: int, error: str) -> SpanExportResult:
        with self._lock:
            self._fail_locked(count, error)
        return SpanExportResult.FAILURE

    def _fail_locked(self, count: int, error: str) -> None:
        self.dropped_spans += count
        if not self._failing:
            self._failing = True
            _logger.warning(
                "fluxloop: JSONL export failed, %d span(s) dropped (%s); further failures are "
                "counted in dropped_spans",
                count,
                error,
            )
