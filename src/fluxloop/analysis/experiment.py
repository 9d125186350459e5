"""Reading an experiment directory, streamed: each run with its observations.

Works on FluxLoop's directories (contract v1: OTel hex ids, failed runs in
``trace_summary.jsonl``) and on the original FluxLoop's (UUID ids, naive timestamps, observation
lines in completion order, ``trace_summary.jsonl`` holding only successful runs and failed runs
only in ``errors.json``, without a trace id).

Memory: ``trace_summary.jsonl`` is read one line at a time; ``observations.jsonl`` is read once
to build an index of byte ranges per trace (a few dozen bytes per trace, nothing of the
payloads), then each trace's lines are read back when its run comes up. When a file interleaves
traces so much that reading ranges would re-read it many times, its lines are first sorted by
trace into a temporary file through hash buckets of bounded size. Only one trace's observations
are in memory at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fluxloop.errors import InputError
from fluxloop.project.layout import (
    ERRORS_FILE,
    OBSERVATIONS_FILE,
    SUMMARY_FILE,
    TRACE_SUMMARY_FILE,
)

from ._jsonl import iter_jsonl, loads, read_json, warn, where

__all__ = [
    "Experiment",
    "ObservationIndex",
    "Run",
    "TraceBundle",
    "iter_traces",
    "load_experiment",
    "norm_id",
    "parse_time",
]


#: bytes of observation lines per bucket when a heavily interleaved file is sorted by trace
BUCKET_BYTES = 32 * 1024 * 1024
#: range reads may cover up to 4x the file (plus this) before the file is sorted by trace instead
SORT_SLACK_BYTES = 1 << 20


_HEX_ID = re.compile(r"[0-9a-f]{16}|[0-9a-f]{32}")


def norm_id(value: object) -> str | None:
    """A trace / observation id in canonical form (hex lowercased, UUIDs dashed); None if empty."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else str(value)
    if _HEX_ID.fullmatch(text):  # our ids, already canonical: the hot path
        return text
    from fluxloop_exporters import normalize_id

    try:
        return normalize_id(text)
    except ValueError:
        return text


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from our timestamps or the original's (naive = UTC); else None."""
    if not isinstance(value, str) or not value:
        return None
    from fluxloop_exporters import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError:
        return None


def _as_int(value: object, default: int = 0) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return default


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
    return None


def _error_of(line: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run's error as ``{type, message, traceback}`` from ours or the original's shapes."""
    err = line.get("error")
    if isinstance(err, Mapping):
        return {
            "type": err.get("type") or err.get("error_type"),
            "message": str(err.get("message") or err.get("error") or ""),
            "traceback": err.get("traceback"),
        }
    if err:  # the original: a message string
        return {
            "type": line.get("error_type"),
            "message": str(err),
            "traceback": line.get("traceback"),
        }
    if line.get("error_type") or line.get("message"):  # our errors.json entries
        return {
            "type": line.get("error_type"),
            "message": str(line.get("message") or ""),
            "traceback": line.get("traceback"),
        }
    return None


@dataclass
class Run:
    """One run of the agent, normalised from a ``trace_summary.jsonl`` line (or an errors.json
    entry of the original, which has no trace)."""

    trace_id: str | None
    iteration: int
    persona: str | None
    input: Any
    output: Any
    duration_ms: float | None
    success: bool
    status: str
    error: dict[str, Any] | None
    token_usage: dict[str, Any] | None
    conversation: list[Any] | None
    metadata: dict[str, Any]
    raw: dict[str, Any]
    source: str  # "trace_summary" | "errors"
    line: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """The alignment key across experiments: (input, persona, iteration)."""
        text = self.input if isinstance(self.input, str) else _stable(self.input)
        return (text, self.persona or "", self.iteration)

    def total_tokens(self) -> float | None:
        usage = self.token_usage or {}
        total = _as_float(usage.get("total_tokens"))
        if total is None:
            parts = [_as_float(usage.get(k)) for k in ("prompt_tokens", "completion_tokens")]
            known = [p for p in parts if p is not None]
            total = sum(known) if known else None
        return total

    def record(self) -> dict[str, Any]:
        """The fields evaluators address by path (``output``, ``metadata.expected``, …)."""
        data = dict(self.raw)
        data.update(
            trace_id=self.trace_id,
            iteration=self.iteration,
            persona=self.persona,
            input=self.input,
            output=self.output,
            duration_ms=self.duration_ms,
            success=self.success,
            status=self.status,
            error=self.error,
            token_usage=self.token_usage,
            conversation=self.conversation,
            metadata=self.metadata,
        )
        return data


def _stable(value: object) -> str:
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


#: trace_summary.jsonl fields whose type analysis cannot guess: name -> (types, description).
#: ``None`` is accepted for each (the original SDK leaves some out); other fields are coerced
#: (an iteration written as text is still a label).
_SUMMARY_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "trace_id": ((str,), "a string"),
    "success": ((bool,), "true or false"),
    "status": ((str,), "a string"),
}


def check_summary_line(line: Mapping[str, Any], path: Path, number: int) -> None:
    """A trace_summary line whose fields have the wrong type is an InputError naming
    ``file:line``, the field, what was expected and what was found (not a silent guess)."""
    for name, (types, expected) in _SUMMARY_TYPES.items():
        value = line.get(name)
        if value is None:
            continue
        wrong_bool = isinstance(value, bool) and bool not in types
        if wrong_bool or not isinstance(value, types):
            raise InputError(
                f"{where(path, number)}: {name}: expected {expected}, found {value!r}",
                key=name,
                expected=expected,
                found=value,
            )


def run_from_summary(line: dict[str, Any], number: int | None = None) -> Run:
    error = _error_of(line)
    status = line.get("status")
    success_raw = line.get("success")
    if isinstance(success_raw, bool):
        success = success_raw
    elif isinstance(status, str):
        success = status == "success"
    else:
        success = error is None
    if not isinstance(status, str) or not status:
        status = "success" if success else "error"
    usage = line.get("token_usage")
    conversation = line.get("conversation")
    metadata = line.get("metadata")
    persona = line.get("persona")
    return Run(
        trace_id=norm_id(line.get("trace_id")),
        iteration=_as_int(line.get("iteration")),
        persona=str(persona) if persona not in (None, "") else None,
        input=line.get("input"),
        output=line.get("output"),
        duration_ms=_as_float(line.get("duration_ms")),
        success=success,
        status=status,
        error=error,
        token_usage=dict(usage) if isinstance(usage, Mapping) else None,
        conversation=list(conversation) if isinstance(conversation, list) else None,
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
        raw=line,
        source="trace_summary",
        line=number,
    )


def run_from_error(entry: dict[str, Any]) -> Run:
    """A failed run of the original FluxLoop, known only from errors.json."""
    persona = entry.get("persona")
    return Run(
        trace_id=norm_id(entry.get("trace_id")),
        iteration=_as_int(entry.get("iteration")),
        persona=str(persona) if persona not in (None, "") else None,
        input=entry.get("input"),
        output=None,
        duration_ms=_as_float(entry.get("duration_ms")),
        success=False,
        status=str(entry.get("status") or "error"),
        error=_error_of(entry) or {"type": None, "message": "", "traceback": None},
        token_usage=None,
        conversation=None,
        metadata={},
        raw=entry,
        source="errors",
    )


# ---------------------------------------------------------------------------------------------
# observations


class ObservationIndex:
    """Where each trace's lines are in ``observations.jsonl`` (or in the daily
    ``observations_YYYYMMDD.jsonl`` files of a collector directory); reads them back on demand.

    Per trace it keeps four integers in arrays and a slot in a dict keyed by the trace id's
    hash (a few dozen bytes per trace, no strings). Two ids with the same hash share a range;
    reading filters by the exact id, so a collision only costs a longer read. A trace whose lines
    are in two files (a run across midnight) makes the index sort all lines by trace first.
    """

    def __init__(self, path: Path | Sequence[Path], *, require_trace_id: bool = True) -> None:
        self.paths: list[Path] = [path] if isinstance(path, Path) else list(path)
        # log records without a span context have no trace id: skipped, not an error
        self.require_trace_id = require_trace_id
        self.path = self.paths[0] if self.paths else Path("observations.jsonl")
        self._slots: dict[int, int] = {}
        self._file = array("q")
        self._first = array("q")
        self._end = array("q")
        self._count = array("q")
        self._tmpdir: Path | None = None
        self._sources = list(self.paths)
        self._split = False
        self.lines = 0
        self.size = 0
        self.sorted_by_trace = False

    @property
    def traces(self) -> int:
        return len(self._slots)

    def _add(self, tid: str, first: int, end: int, count: int, file: int = 0) -> None:
        key = hash(tid)
        slot = self._slots.get(key)
        if slot is None:
            self._slots[key] = len(self._first)
            self._file.append(file)
            self._first.append(first)
            self._end.append(end)
            self._count.append(count)
        else:
            if self._file[slot] != file:
                self._split = True
            self._first[slot] = min(self._first[slot], first)
            self._end[slot] = max(self._end[slot], end)
            self._count[slot] += count

    # -- building ---------------------------------------------------------------------------
    def build(self) -> ObservationIndex:
        """One validating pass; sorts the file by trace first if it is heavily interleaved."""
        self.paths = [p for p in self.paths if p.exists()]
        self._sources = list(self.paths)
        for file, path in enumerate(self.paths):
            self.size += os.path.getsize(path)
            for number, offset, record in iter_jsonl(path):
                tid = norm_id(record.get("trace_id"))
                if tid is None and not self.require_trace_id:
                    continue
                if tid is None:
                    raise InputError(
                        f"{where(path, number)}: observation has no trace_id",
                        where=where(path, number),
                        expected="an observation record with a trace_id",
                    )
                self.lines += 1
                # end: the byte after the start of the trace's last line is enough, since a
                # range read stops at the first line starting at or after it
                self._add(tid, offset, offset + 1, 1, file)
        covered = sum(e - f for f, e in zip(self._first, self._end, strict=True))
        if self._split or covered > 4 * self.size + SORT_SLACK_BYTES:
            self._sort_by_trace()
        return self

    def _sort_by_trace(self) -> None:
        """Rewrite the observation lines grouped by trace into a temporary file (bounded memory:
        lines go to hash buckets of about BUCKET_BYTES, each sorted in memory)."""
        buckets = max(1, min(512, -(-self.size // BUCKET_BYTES)))
        tmp = Path(tempfile.mkdtemp(prefix="fluxloop-parse-"))
        self._tmpdir = tmp
        handles = [open(tmp / f"b{i}", "wb") for i in range(buckets)]  # noqa: SIM115
        try:
            for path in self.paths:
                with open(path, "rb") as fh:
                    for line in fh:
                        if not line.strip():
                            continue
                        raw = line if line.endswith(b"\n") else line + b"\n"
                        tid = self._tid_of(raw)
                        if tid is None:
                            continue
                        digest = hashlib.blake2b(tid.encode(), digest_size=4).digest()
                        handles[int.from_bytes(digest, "big") % buckets].write(raw)
        finally:
            for h in handles:
                h.close()
        out_path = tmp / "sorted.jsonl"
        self._slots = {}
        self._first, self._end, self._count = array("q"), array("q"), array("q")
        self._file = array("q")
        offset = 0
        with open(out_path, "wb") as out:
            for i in range(buckets):
                bucket = tmp / f"b{i}"
                groups: dict[str, list[bytes]] = {}
                with open(bucket, "rb") as fh:
                    for raw in fh:
                        tid = self._tid_of(raw)
                        if tid is not None:
                            groups.setdefault(tid, []).append(raw)
                for tid, lines in groups.items():
                    start = offset
                    for raw in lines:
                        out.write(raw)
                        offset += len(raw)
                    self._add(tid, start, offset, len(lines))
                del groups
                bucket.unlink()
        self._sources = [out_path]
        self.sorted_by_trace = True

    @staticmethod
    def _tid_of(raw: bytes) -> str | None:
        try:
            record = loads(raw)
        except ValueError:
            return None
        return norm_id(record.get("trace_id")) if isinstance(record, dict) else None

    # -- reading ----------------------------------------------------------------------------
    def _slot(self, trace_id: str | None) -> int | None:
        return self._slots.get(hash(trace_id)) if trace_id else None

    def __contains__(self, trace_id: object) -> bool:
        return isinstance(trace_id, str) and self._slot(trace_id) is not None

    def count(self, trace_id: str | None) -> int:
        slot = self._slot(trace_id)
        return self._count[slot] if slot is not None else 0

    def get(self, trace_id: str | None) -> list[dict[str, Any]]:
        """The observation records of one trace, deduplicated on (id, start_time), file order."""
        slot = self._slot(trace_id)
        if slot is None:
            return []
        expected = self._count[slot]
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, Any]] = set()
        for _, _, record in iter_jsonl(
            self._sources[self._file[slot]],
            start=self._first[slot],
            end=self._end[slot],
            validate_torn=False,
        ):
            if norm_id(record.get("trace_id")) != trace_id:
                continue
            ident = (record.get("id"), record.get("start_time"))
            if ident[0] is not None and ident in seen:
                continue
            seen.add(ident)
            out.append(record)
            if len(out) >= expected:
                break
        return out

    def close(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


# ---------------------------------------------------------------------------------------------
# the experiment


@dataclass
class Experiment:
    """An experiment directory: its files and whole-file metadata (small files only)."""

    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    has_trace_summary: bool = True
    format: str = "fluxloop"  # or "original", or "traces" (a collector / import directory)
    derive: Callable[[Experiment, ObservationIndex], Iterator[TraceBundle]] | None = None
    """For a directory without runs (collector, ``import otlp``): derives the runs from its
    traces (see :mod:`fluxloop.analysis.traces_dir`)."""
    observation_files: list[Path] = field(default_factory=list)
    trace_files: list[Path] = field(default_factory=list)
    log_files: list[Path] = field(default_factory=list)
    """``logs_*.jsonl`` (collector output): attached to their observations as events."""

    @property
    def name(self) -> str:
        name = self.summary.get("name")
        return str(name) if name else self.path.name

    @property
    def trace_summary_path(self) -> Path:
        return self.path / TRACE_SUMMARY_FILE

    @property
    def observations_path(self) -> Path:
        return self.path / OBSERVATIONS_FILE

    @property
    def observation_paths(self) -> list[Path]:
        """Every file holding this directory's observation records."""
        return self.observation_files or [self.observations_path]

    def observation_index(self) -> ObservationIndex:
        """The built index over :attr:`observation_paths` (close it when done)."""
        return ObservationIndex(self.observation_paths).build()

    def log_index(self) -> ObservationIndex:
        """The built index of the log records with a trace id, by trace (close it when done)."""
        return ObservationIndex(self.log_files, require_trace_id=False).build()

    def validate(self) -> int:
        """Read trace_summary.jsonl once (a malformed line is an InputError with file:line
        before anything is written); returns the number of lines."""
        if self.derive is not None:
            return sum(1 for path in self.trace_files for _ in iter_jsonl(path))
        if not self.has_trace_summary:
            return 0
        count = 0
        for number, _, line in iter_jsonl(self.trace_summary_path):
            check_summary_line(line, self.trace_summary_path, number)
            count += 1
        return count

    def iter_runs(self) -> Iterator[Run]:
        """Every run: the trace_summary lines in order (errors.json details merged into failed
        ones), then errors.json entries that match no line (the original's failed runs); for a
        directory without runs, the runs derived from its traces."""
        if self.derive is not None:
            index = self.observation_index()
            try:
                for bundle in self.derive(self, index):
                    yield bundle.run
            finally:
                index.close()
            return
        pending: dict[str, dict[str, Any]] = {}
        loose: list[dict[str, Any]] = []
        for entry in self.errors:
            tid = norm_id(entry.get("trace_id"))
            if tid is None:
                loose.append(entry)
            else:
                pending[tid] = entry
        if self.has_trace_summary:
            for number, _, line in iter_jsonl(self.trace_summary_path):
                check_summary_line(line, self.trace_summary_path, number)
                run = run_from_summary(line, number)
                extra = pending.pop(run.trace_id, None) if run.trace_id else None
                if extra is not None and not run.success:
                    merged = _error_of(extra) or {}
                    base = run.error or {}
                    run.error = {
                        "type": base.get("type") or merged.get("type"),
                        "message": base.get("message") or merged.get("message") or "",
                        "traceback": base.get("traceback") or merged.get("traceback"),
                    }
                yield run
        for entry in [*pending.values(), *loose]:
            yield run_from_error(entry)


def load_experiment(path: str | os.PathLike[str]) -> Experiment:
    """Open an experiment directory (small files read now; the JSONL files are streamed later)."""
    directory = Path(path)
    if not directory.exists():
        raise InputError(f"{where(directory)}: experiment directory not found")
    if not directory.is_dir():
        raise InputError(f"{where(directory)}: not a directory (expected an experiment directory)")
    has_summary = (directory / TRACE_SUMMARY_FILE).is_file()
    has_errors = (directory / ERRORS_FILE).is_file()
    if not has_summary and not has_errors:
        raise InputError(
            f"{where(directory)}: not an experiment directory (no {TRACE_SUMMARY_FILE}; "
            "expected the output of `fluxloop run experiment`)"
        )
    summary: dict[str, Any] = {}
    if (directory / SUMMARY_FILE).is_file():
        data = read_json(directory / SUMMARY_FILE)
        if isinstance(data, dict):
            summary = data
        else:
            raise InputError(f"{where(directory / SUMMARY_FILE)}: expected a JSON object")
    errors: list[dict[str, Any]] = []
    if has_errors:
        data = read_json(directory / ERRORS_FILE)
        if isinstance(data, dict) and isinstance(data.get("failures"), list):
            data = data["failures"]  # 0.4.0's shape
        if not isinstance(data, list):
            raise InputError(f"{where(directory / ERRORS_FILE)}: expected a JSON array of failures")
        errors = [e for e in data if isinstance(e, dict)]
    fmt = "fluxloop" if summary.get("contract_version") else "original"
    return Experiment(
        path=directory,
        summary=summary,
        errors=errors,
        has_trace_summary=has_summary,
        format=fmt,
    )


@dataclass
class TraceBundle:
    """A run and its observation records (file order)."""

    run: Run
    observations: list[dict[str, Any]]


def iter_traces(
    experiment: Experiment, index: ObservationIndex | None = None
) -> Iterator[TraceBundle]:
    """Each run with its observations; the index is built (and cleaned up) here when not given."""
    own = index is None
    idx = index if index is not None else experiment.observation_index()
    try:
        if experiment.derive is not None:
            yield from experiment.derive(experiment, idx)
            return
        matched = 0
        for run in experiment.iter_runs():
            observations = idx.get(run.trace_id)
            if observations:
                matched += 1
            yield TraceBundle(run, observations)
        orphans = idx.traces - matched
        if orphans > 0:
            warn(
                f"{where(experiment.observations_path)}: {orphans} trace(s) with observations but "
                "no trace_summary line were skipped (runs that never completed)"
            )
    finally:
        if own:
            idx.close()
