"""One run in full: its ``trace_summary.jsonl`` line, its spans, its evaluation.

Spans come from the analysis package's :class:`~fluxloop.analysis.experiment.ObservationIndex`
(byte ranges per trace, built once per experiment and rebuilt when the file grows), so opening a
run reads only that run's lines. A file the index refuses (a malformed line in the middle) is
read with DuckDB instead, skipping bad lines, and the page says so.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from pathlib import Path
from typing import Any

import duckdb

from fluxloop.analysis.experiment import ObservationIndex, load_experiment, norm_id
from fluxloop.analysis.tree import span_tree
from fluxloop.errors import FluxLoopError
from fluxloop.project.layout import (
    ERRORS_FILE,
    EVALUATION_DIR,
    OBSERVATIONS_FILE,
    PER_TRACE_FILE,
    TRACE_SUMMARY_FILE,
)

__all__ = ["RunDetails"]


def _size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def _line_for(path: Path, trace_id: str) -> dict[str, Any] | None:
    """The line of a JSONL file whose ``trace_id`` is this one: a byte search for the quoted id
    in the mapped file (tens of milliseconds for 100,000 runs), each hit checked by parsing its
    line; malformed lines are passed over."""
    needle = json.dumps(trace_id).encode()
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            pos = mm.find(needle)
            while pos != -1:
                start = mm.rfind(b"\n", 0, pos) + 1
                end = mm.find(b"\n", pos)
                end = len(mm) if end == -1 else end
                try:
                    record = json.loads(mm[start:end])
                except ValueError:
                    record = None
                if isinstance(record, dict) and record.get("trace_id") == trace_id:
                    return record
                pos = mm.find(needle, end)
    except (OSError, ValueError):  # missing, unreadable, or empty (mmap refuses 0 bytes)
        return None
    return None


class _Observations:
    """The observation index of one directory (its files: ``observations.jsonl``, or a
    collector's daily files), rebuilt when their sizes change."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.size = -2
        self.index: ObservationIndex | None = None
        self.notice: str | None = None
        self.lock = threading.Lock()

    def get(self, trace_id: str) -> tuple[list[dict[str, Any]], str | None]:
        sizes = [_size(p) for p in self.paths]
        size = sum(s for s in sizes if s > 0)
        if all(s < 0 for s in sizes):
            return [], "observations.jsonl: missing (no spans to show)"
        with self.lock:
            if size != self.size:
                if self.index is not None:
                    self.index.close()
                self.index, self.notice = None, None
                try:
                    self.index = ObservationIndex(
                        [p for p, s in zip(self.paths, sizes, strict=True) if s >= 0]
                    ).build()
                except FluxLoopError as exc:
                    self.notice = f"{str(exc).rsplit('/', 1)[-1]}; bad lines are skipped"
                self.size = size
            index, notice = self.index, self.notice
        if index is not None:
            return index.get(norm_id(trace_id)), notice
        return self._scan(trace_id), notice

    def _scan(self, trace_id: str) -> list[dict[str, Any]]:
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT json FROM read_json_objects(?, format='newline_delimited', "
                "ignore_errors=true) WHERE json ->> 'trace_id' = ?",
                [[str(p) for p in self.paths if p.is_file()], trace_id],
            ).fetchall()
        except duckdb.Error:
            return []
        finally:
            con.close()
        out = []
        for (raw,) in rows:
            value = json.loads(raw)
            if isinstance(value, dict):
                out.append(value)
        return out

    def close(self) -> None:
        if self.index is not None:
            self.index.close()


class RunDetails:
    """Run pages for any number of experiments (one observation index each)."""

    def __init__(self) -> None:
        self._obs: dict[Path, _Observations] = {}
        self._lock = threading.Lock()

    def _observations(self, directory: Path, paths: list[Path] | None) -> _Observations:
        wanted = paths if paths is not None else [directory / OBSERVATIONS_FILE]
        with self._lock:
            found = self._obs.get(directory)
            if found is None or found.paths != wanted:
                if found is not None:
                    found.close()
                found = self._obs[directory] = _Observations(wanted)
            return found

    def spans(
        self, directory: Path, trace_id: str, observation_paths: list[Path] | None = None
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The run's spans in waterfall order, and notices about unreadable input."""
        records, notice = self._observations(directory, observation_paths).get(trace_id)
        return span_tree(records), [notice] if notice else []

    def run(
        self,
        directory: Path,
        trace_id: str,
        summary: Path | None = None,
        observation_paths: list[Path] | None = None,
    ) -> dict[str, Any]:
        """The run's summary line (with errors.json's traceback), spans and evaluation.
        For a directory of traces: ``summary`` holds its derived runs, ``observation_paths``
        its observation files."""
        notices: list[str] = []
        line = _line_for(summary or directory / TRACE_SUMMARY_FILE, trace_id)
        error_entry = self._error_entry(directory, trace_id, notices)
        if line is None and error_entry is not None:
            line = {**error_entry, "success": False}
        if line is not None and error_entry is not None:
            error = line.get("error") if isinstance(line.get("error"), dict) else {}
            assert isinstance(error, dict)
            if not error.get("traceback") and error_entry.get("traceback"):
                line["error"] = {
                    "type": error.get("type") or error_entry.get("error_type"),
                    "message": error.get("message") or error_entry.get("message"),
                    "traceback": error_entry.get("traceback"),
                }
        spans, span_notices = self.spans(directory, trace_id, observation_paths)
        notices += span_notices
        evaluation = _line_for(directory / EVALUATION_DIR / PER_TRACE_FILE, trace_id)
        return {"run": line, "spans": spans, "evaluation": evaluation, "notices": notices}

    @staticmethod
    def _error_entry(directory: Path, trace_id: str, notices: list[str]) -> dict[str, Any] | None:
        if not (directory / ERRORS_FILE).is_file():
            return None
        try:
            experiment = load_experiment(directory)
        except FluxLoopError as exc:
            notices.append(str(exc).rsplit("/", 1)[-1])
            return None
        wanted = norm_id(trace_id)
        for entry in experiment.errors:
            if norm_id(entry.get("trace_id")) == wanted:
                return entry
        return None

    def close(self) -> None:
        with self._lock:
            for obs in self._obs.values():
                obs.close()
            self._obs.clear()
