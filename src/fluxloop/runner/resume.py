"""Resuming an experiment directory (after Ctrl-C, SIGTERM, a crash or ``kill -9``).

A run is done when its line is in ``trace_summary.jsonl`` (written last, after the run's traces
and observations). Only a directory FluxLoop wrote is touched: ``summary.json`` carries
``"written_by": "fluxloop"`` (or, for older experiments, ``config.yaml`` starts with FluxLoop's
snapshot header); anything else is refused with exit 2. Scanning a directory:

* sets aside a torn last line (no trailing newline) and any line that is not a JSON object, in
  ``<file>.corrupt`` next to the file;
* keeps the first line of each run key (so a resumed run can never be counted twice);
* sets aside from ``traces.jsonl`` / ``observations.jsonl`` the records of runs that have no
  summary line (a crash between the writes), and repeated run lines, in ``<file>.unfinished``,
  so they are not duplicated when the run is redone.

No line is ever deleted: a set-aside file is appended (and flushed) before the original is
replaced. Files are streamed, never loaded whole; they are rewritten (atomically) only when
needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fluxloop._files import read_jsonl
from fluxloop.errors import InputError
from fluxloop.project.layout import (
    CONFIG_FILE,
    OBSERVATIONS_FILE,
    SUMMARY_FILE,
    TRACE_SUMMARY_FILE,
    TRACES_FILE,
)
from fluxloop.project.yaml import display_path

from .artifacts import CONFIG_HEADER, WRITTEN_BY, dumps
from .stats import RunStats

__all__ = [
    "CORRUPT_SUFFIX",
    "UNFINISHED_SUFFIX",
    "ResumeState",
    "error_entry",
    "input_digest",
    "scan_experiment",
]


def input_digest(value: Any) -> str:
    return hashlib.sha1(dumps(value)).hexdigest()[:16]


def error_entry(line: dict[str, Any]) -> dict[str, Any]:
    """An ``errors.json`` entry for a failed trace_summary line."""
    error = line.get("error") if isinstance(line.get("error"), dict) else {}
    assert isinstance(error, dict)
    return {
        "trace_id": line.get("trace_id"),
        "run_id": line.get("run_id"),
        "iteration": line.get("iteration"),
        "persona": line.get("persona"),
        "input": line.get("input"),
        "status": line.get("status"),
        "error_type": error.get("type"),
        "message": error.get("message"),
        "error": error.get("message"),  # the original's key for the message
        "traceback": error.get("traceback"),
        "attempts": line.get("attempts", 1),
        "attempt_errors": line.get("attempt_errors", []),
        "timestamp": line.get("ended_at"),
    }


@dataclass
class ResumeState:
    directory: Path
    done_keys: set[str] = field(default_factory=set)
    trace_ids: set[str] = field(default_factory=set)
    stats: RunStats = field(default_factory=RunStats)
    errors: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.stats.total


CORRUPT_SUFFIX = ".corrupt"
UNFINISHED_SUFFIX = ".unfinished"


def _rewrite_without(path: Path, drop: dict[int, str]) -> None:
    """Rewrite ``path`` without the lines in ``drop``, each appended first to
    ``<path><suffix>`` (the value): set aside, never deleted."""
    aside: dict[str, BinaryIO] = {}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as src:
            for i, raw in enumerate(src):
                line = raw if raw.endswith(b"\n") else raw + b"\n"
                suffix = drop.get(i)
                if suffix is None:
                    out.write(line)
                    continue
                if suffix not in aside:
                    aside[suffix] = path.with_name(path.name + suffix).open("ab")
                aside[suffix].write(line)
        for fh in aside.values():  # on disk before the lines leave the original
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        for fh in aside.values():
            fh.close()


def _written_by_fluxloop(directory: Path, summary: dict[str, Any] | None) -> bool:
    if summary is not None and summary.get("written_by") == WRITTEN_BY:
        return True
    try:
        with (directory / CONFIG_FILE).open(encoding="utf-8", errors="replace") as fh:
            return fh.readline().startswith(CONFIG_HEADER)
    except OSError:
        return False


def _legacy_key(line: dict[str, Any], ordinals: Counter[str]) -> str:
    base = f"{line.get('persona') or ''}|{input_digest(line.get('input'))}"
    slot = f"{line.get('iteration', 0)}|{base}"
    n = ordinals[slot]
    ordinals[slot] += 1
    return f"{slot}|{n}"


def _scan_records(
    path: Path,
    keep: Callable[[dict[str, Any]], bool],
    repair: bool,
    label: str,
    notes: list[str],
) -> None:
    if not path.exists():
        return
    drop: dict[int, str] = {}
    torn = invalid = orphan = 0
    for line in read_jsonl(path, blank=True):
        i = line.number - 1
        if not line.complete:
            drop[i] = CORRUPT_SUFFIX
            torn += 1
            continue
        record = line.value
        if not isinstance(record, dict):
            drop[i] = CORRUPT_SUFFIX
            invalid += 1
            continue
        if not keep(record):
            drop[i] = UNFINISHED_SUFFIX
            orphan += 1
    if drop:
        bits = []
        if torn or invalid:
            what = [
                *(["a torn last line"] if torn else []),
                *([f"{invalid} unparseable line(s)"] if invalid else []),
            ]
            bits.append(f"{' and '.join(what)} to {label}{CORRUPT_SUFFIX}")
        if orphan:
            bits.append(f"{orphan} record(s) of unfinished runs to {label}{UNFINISHED_SUFFIX}")
        verb = "moved" if repair else "would move"
        notes.append(f"{label}: {verb} {', '.join(bits)}")
        if repair:
            _rewrite_without(path, drop)


def scan_experiment(directory: Path, *, repair: bool = True) -> ResumeState:
    """Read (and, with ``repair``, fix up) an experiment directory for resuming."""
    directory = directory.expanduser().resolve()
    if not directory.is_dir():
        raise InputError(
            f"--resume: experiment directory not found: {display_path(directory)}", key="--resume"
        )
    summary_path = directory / SUMMARY_FILE
    trace_summary = directory / TRACE_SUMMARY_FILE
    if not summary_path.exists() and not trace_summary.exists():
        raise InputError(
            f"--resume: {display_path(directory)} is not a FluxLoop experiment directory "
            "(no summary.json or trace_summary.jsonl)",
            key="--resume",
        )
    state = ResumeState(directory=directory)
    if summary_path.exists():
        try:
            loaded = json.loads(summary_path.read_text(encoding="utf-8"))
            state.summary = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError, RecursionError):
            state.notes.append("summary.json: unreadable, rebuilt from trace_summary.jsonl")
    if not _written_by_fluxloop(directory, state.summary):
        raise InputError(
            f"--resume: {display_path(directory)} was not written by FluxLoop (expected "
            f'"written_by": "{WRITTEN_BY}" in summary.json or FluxLoop\'s header in '
            f"{CONFIG_FILE}); nothing was changed",
            key="--resume",
        )

    ordinals: Counter[str] = Counter()

    def keep_summary(line: dict[str, Any]) -> bool:
        key = line.get("run_key")
        if not isinstance(key, str):
            key = _legacy_key(line, ordinals)
        if key in state.done_keys:
            return False
        state.done_keys.add(key)
        trace_id = line.get("trace_id")
        if isinstance(trace_id, str):
            state.trace_ids.add(trace_id)
        extra = line.get("trace_ids")
        if isinstance(extra, list):
            state.trace_ids.update(t for t in extra if isinstance(t, str))
        state.stats.add(line)
        if not line.get("success"):
            state.errors.append(error_entry(line))
        return True

    if trace_summary.exists():
        _scan_records(trace_summary, keep_summary, repair, TRACE_SUMMARY_FILE, state.notes)

    def keep_trace(record: dict[str, Any]) -> bool:
        return record.get("id") in state.trace_ids

    def keep_observation(record: dict[str, Any]) -> bool:
        return record.get("trace_id") in state.trace_ids

    _scan_records(directory / TRACES_FILE, keep_trace, repair, TRACES_FILE, state.notes)
    _scan_records(
        directory / OBSERVATIONS_FILE, keep_observation, repair, OBSERVATIONS_FILE, state.notes
    )
    return state
