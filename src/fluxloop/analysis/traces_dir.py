"""Directories of traces without runs -- `fluxloop collector serve` and `fluxloop import otlp`
output, an SDK ``./traces`` folder -- read as runs, so parse, evaluate, compare, status and the
viewer take them like an experiment directory.

A run is a root trace (a ``traces_YYYYMMDD.jsonl`` / ``traces.jsonl`` record) with its
observations. What an experiment's ``trace_summary.jsonl`` says is derived from the spans:

* input / output: the trace record's (the root span's), else those of the trace's first agent
  observation (a root that only wraps the agent, e.g. a web request span);
* success: the trace's status; error: the failing root's (or first failing observation's) message;
* duration: root start to root end; tokens: summed from the trace's generations;
* session, user, tags, service (``resource["service.name"]``) in the run's metadata;
* persona / iteration from ``fluxloop.run.persona`` / ``fluxloop.run.iteration`` (or the
  metadata's ``persona`` / ``iteration``) when the spans carry them.

:class:`Selection` narrows production data: ``group_by="session"`` makes one run (a conversation)
per session, ``since`` / ``until`` keep traces that started in a time window, ``service`` keeps one
service's traces.

Memory: trace records are streamed; per trace only a hash is kept (to drop the duplicates that
at-least-once delivery can write) and, when grouping by session, each trace record's position.
Observations come from :class:`~fluxloop.analysis.experiment.ObservationIndex` one trace at a time.
"""

from __future__ import annotations

import os
import re
from array import array
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fluxloop.errors import InputError
from fluxloop.project.layout import ERRORS_FILE, TRACE_SUMMARY_FILE

from ._jsonl import iter_jsonl, warn, where
from .experiment import (
    Experiment,
    ObservationIndex,
    Run,
    TraceBundle,
    load_experiment,
    norm_id,
    parse_time,
)

__all__ = [
    "Selection",
    "derive_run",
    "is_traces_directory",
    "load_directory",
    "parse_when",
    "recent_runs",
]

_DAILY = re.compile(r"(traces|observations|logs|metrics)_\d{8}\.jsonl")
_GROUPS = ("trace", "session")


@dataclass(frozen=True)
class Selection:
    """Which traces become runs, and how (see the module docstring)."""

    group_by: str = "trace"
    since: datetime | None = None
    until: datetime | None = None
    service: str | None = None

    def __post_init__(self) -> None:
        if self.group_by not in _GROUPS:
            raise InputError(
                f"--group-by: expected one of {', '.join(_GROUPS)}, found {self.group_by!r}"
            )

    @property
    def narrows(self) -> bool:
        return (
            self.group_by != "trace"
            or self.since is not None
            or self.until is not None
            or self.service is not None
        )

    def keeps(self, trace: Mapping[str, Any]) -> bool:
        if self.service is not None:
            resource = trace.get("resource")
            name = resource.get("service.name") if isinstance(resource, Mapping) else None
            if name != self.service:
                return False
        if self.since is not None or self.until is not None:
            started = parse_time(trace.get("start_time"))
            if started is None:
                return False
            if self.since is not None and started < self.since:
                return False
            if self.until is not None and started >= self.until:
                return False
        return True


_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str, option: str, *, now: datetime | None = None) -> datetime:
    """``--since`` / ``--until``: an ISO-8601 date or time (naive = UTC), or a duration back from
    now (``30m``, ``24h``, ``7d``, ``2w``). Raises :class:`InputError` naming the option."""
    text = value.strip()
    match = _RELATIVE.fullmatch(text)
    if match is not None:
        delta = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    parsed = parse_time(text)
    if parsed is None:
        raise InputError(
            f"{option}: expected an ISO-8601 date/time (2026-01-02, 2026-01-02T10:00:00Z) or a "
            f"duration back from now (30m, 24h, 7d), found {value!r}"
        )
    return parsed


# ---------------------------------------------------------------------------------------------
# the directory


def _files(directory: Path, kind: str) -> list[Path]:
    """``{kind}_YYYYMMDD.jsonl`` by date, then a plain ``{kind}.jsonl``."""
    daily = sorted(p for p in directory.glob(f"{kind}_*.jsonl") if _DAILY.fullmatch(p.name))
    plain = directory / f"{kind}.jsonl"
    return [*daily, plain] if plain.is_file() else daily


def is_traces_directory(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds contract traces but no experiment runs (no ``trace_summary.jsonl``
    nor ``errors.json``): a collector, ``import otlp`` or SDK file-storage directory."""
    directory = Path(path)
    if not directory.is_dir():
        return False
    if (directory / TRACE_SUMMARY_FILE).is_file() or (directory / ERRORS_FILE).is_file():
        return False
    return bool(_files(directory, "traces") or _files(directory, "observations"))


def load_directory(path: str | os.PathLike[str], selection: Selection | None = None) -> Experiment:
    """Open an experiment directory, or a directory of traces read as runs (see the module
    docstring). ``selection`` applies to directories of traces only."""
    directory = Path(path)
    if not is_traces_directory(directory):
        has_runs = (directory / TRACE_SUMMARY_FILE).is_file() or (directory / ERRORS_FILE).is_file()
        if directory.is_dir() and not has_runs:
            raise InputError(
                f"{where(directory)}: not an experiment directory (no {TRACE_SUMMARY_FILE}) nor a "
                "directory of traces (no traces_*.jsonl or observations_*.jsonl); expected the "
                "output of `fluxloop run experiment`, `collector serve` or `import otlp`"
            )
        if has_runs and selection is not None and selection.narrows:
            raise InputError(
                f"{where(directory)}: --group-by/--since/--until/--service apply to a collector "
                "or import directory of traces; this is an experiment directory"
            )
        return load_experiment(directory)
    chosen = selection or Selection()

    def derive(experiment: Experiment, index: ObservationIndex) -> Iterator[TraceBundle]:
        return _bundles(experiment, index, chosen)

    return Experiment(
        path=directory,
        summary={"name": directory.name},
        has_trace_summary=False,
        format="traces",
        derive=derive,
        observation_files=_files(directory, "observations"),
        trace_files=_files(directory, "traces"),
        log_files=_files(directory, "logs"),
    )


def recent_runs(
    path: str | os.PathLike[str], limit: int = 10, *, failed_only: bool = False
) -> tuple[list[dict[str, Any]], int, int]:
    """The last ``limit`` runs of a directory of traces as ``trace_summary``-shaped dicts
    (streamed), the total and the failed count: ``fluxloop status traces DIR``."""
    keep: deque[dict[str, Any]] = deque(maxlen=max(limit, 1))
    total = failed = 0
    for run in load_directory(path).iter_runs():
        total += 1
        failed += 0 if run.success else 1
        if failed_only and run.success:
            continue
        record = run.record()
        record.pop("conversation", None)
        keep.append(record)
    return list(keep), total, failed


# ---------------------------------------------------------------------------------------------
# runs


def _trace_records(
    experiment: Experiment, selection: Selection
) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
    """``(file, line, offset, record)`` of every selected trace record, first copy of each id."""
    seen: set[int] = set()
    for file, path in enumerate(experiment.trace_files):
        for number, offset, record in iter_jsonl(path):
            tid = norm_id(record.get("id") or record.get("trace_id"))
            if tid is None:
                raise InputError(
                    f"{where(path, number)}: trace record has no id",
                    where=where(path, number),
                    expected="a trace record with an id",
                )
            key = hash(tid)
            if key in seen:  # at-least-once delivery, or a second local root of the trace
                continue
            seen.add(key)
            if selection.keeps(record):
                yield file, number, offset, record


def _bundles(
    experiment: Experiment, index: ObservationIndex, selection: Selection
) -> Iterator[TraceBundle]:
    if selection.group_by == "session":
        yield from _sessions(experiment, index, selection)
        return
    runs = 0
    for _, number, _, record in _trace_records(experiment, selection):
        tid = norm_id(record.get("id") or record.get("trace_id"))
        observations = index.get(tid)
        runs += 1
        yield TraceBundle(derive_run(record, observations, number), observations)
    orphans = index.traces - runs
    if orphans > 0 and not selection.narrows:
        warn(
            f"{where(experiment.path)}: {orphans} trace(s) have observations but no root trace "
            "record yet (still running, or their root span was not sent); they were skipped"
        )


def _sessions(
    experiment: Experiment, index: ObservationIndex, selection: Selection
) -> Iterator[TraceBundle]:
    """One run per session (its traces in start order); traces without a session alone."""
    order: list[str] = []
    where_is: dict[str, array[int]] = {}
    for file, _, offset, record in _trace_records(experiment, selection):
        session = record.get("session_id")
        key = str(session) if session not in (None, "") else f"\0{offset}:{file}"
        positions = where_is.get(key)
        if positions is None:
            positions = where_is[key] = array("q")
            order.append(key)
        positions.extend((file, offset))
    for key in order:
        positions = where_is.pop(key)
        traces: list[tuple[int, dict[str, Any]]] = []
        for i in range(0, len(positions), 2):
            path = experiment.trace_files[positions[i]]
            offset = positions[i + 1]
            for number, _, record in iter_jsonl(path, start=offset, end=offset + 1):
                traces.append((number, record))
        traces.sort(key=lambda item: str(item[1].get("start_time") or ""))
        bundles = []
        for number, record in traces:
            observations = index.get(norm_id(record.get("id") or record.get("trace_id")))
            bundles.append(TraceBundle(derive_run(record, observations, number), observations))
        yield bundles[0] if len(bundles) == 1 else _merge_session(bundles)


def _merge_session(bundles: list[TraceBundle]) -> TraceBundle:
    """A session's traces as one run: a conversation of their inputs and outputs."""
    first, last = bundles[0].run, bundles[-1].run
    conversation: list[Any] = []
    for turn, bundle in enumerate(bundles, start=1):
        conversation.append({"turn_index": turn, "role": "user", "content": bundle.run.input})
        conversation.append({"turn_index": turn, "role": "assistant", "content": bundle.run.output})
    failed = [b.run for b in bundles if not b.run.success]
    tokens = _sum_usage([b.run.token_usage for b in bundles])
    start = parse_time(first.raw.get("start_time"))
    end = parse_time(last.raw.get("end_time"))
    metadata = dict(first.metadata)
    metadata["trace_ids"] = [b.run.trace_id for b in bundles]
    metadata["turns"] = len(bundles)
    run = Run(
        trace_id=first.trace_id,
        iteration=first.iteration,
        persona=first.persona,
        input=first.input,
        output=last.output,
        duration_ms=(end - start).total_seconds() * 1000 if start and end else None,
        success=not failed,
        status="error" if failed else "success",
        error=failed[0].error if failed else None,
        token_usage=tokens,
        conversation=conversation,
        metadata=metadata,
        raw={**first.raw, "end_time": last.raw.get("end_time"), "turns": len(bundles)},
        source="traces",
        line=first.line,
    )
    observations = [o for b in bundles for o in b.observations]
    return TraceBundle(run, observations)


def _sum_usage(usages: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    known = [u for u in usages if u]
    if not known:
        return None
    return {
        key: sum(int(u.get(key) or 0) for u in known)
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
    }


def _tokens(observations: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Token usage summed over the trace's generations (other types would count twice: an agent
    span that reports its children's total, as pydantic-ai's does)."""
    prompt = completion = total = 0
    seen = False
    for obs in observations:
        if obs.get("type") != "generation":
            continue
        p, c, t = (obs.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
        p = p if type(p) is int else 0
        c = c if type(c) is int else 0
        t = t if type(t) is int else p + c
        if p or c or t:
            seen = True
        prompt += p
        completion += c
        total += t
    if not seen:
        return None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _int_or(value: Any, default: int) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return default


def derive_run(
    trace: Mapping[str, Any], observations: list[dict[str, Any]], line: int | None = None
) -> Run:
    """The run a trace record and its observations describe (see the module docstring)."""
    tid = norm_id(trace.get("id") or trace.get("trace_id"))
    attributes = trace.get("attributes") if isinstance(trace.get("attributes"), Mapping) else {}
    assert isinstance(attributes, Mapping)
    metadata_raw = trace.get("metadata")
    metadata: dict[str, Any] = dict(metadata_raw) if isinstance(metadata_raw, Mapping) else {}
    ordered = sorted(observations, key=lambda o: str(o.get("start_time") or ""))
    ids = {o.get("id") for o in ordered}
    root = next(
        (
            o
            for o in ordered
            if o.get("parent_observation_id") in (None, "")
            or o.get("parent_observation_id") not in ids
        ),
        None,
    )
    inp, out = trace.get("input"), trace.get("output")
    if inp is None and out is None:
        agent = next((o for o in ordered if o.get("type") == "agent"), None)
        source = agent or root
        if source is not None:
            inp, out = source.get("input"), source.get("output")
    failed = trace.get("status") == "error"
    error: dict[str, Any] | None = None
    if failed:
        culprit = root if root is not None and root.get("error") else None
        culprit = culprit or next((o for o in ordered if o.get("error")), None)
        details = culprit.get("metadata") if culprit is not None else None
        details = details if isinstance(details, Mapping) else {}
        error = {
            "type": details.get("error_type"),
            "message": str(culprit.get("error") if culprit is not None else "error"),
            "traceback": details.get("traceback"),
        }
    start = parse_time(trace.get("start_time"))
    end = parse_time(trace.get("end_time"))
    resource = trace.get("resource")
    service = resource.get("service.name") if isinstance(resource, Mapping) else None
    for key, value in (
        ("session_id", trace.get("session_id")),
        ("user_id", trace.get("user_id")),
        ("tags", trace.get("tags") or None),
        ("service", service),
    ):
        if value is not None:
            metadata.setdefault(key, value)
    persona = attributes.get("fluxloop.run.persona", metadata.get("persona"))
    iteration = _int_or(attributes.get("fluxloop.run.iteration", metadata.get("iteration")), 0)
    raw = {
        "trace_id": tid,
        "name": trace.get("name"),
        "start_time": trace.get("start_time"),
        "end_time": trace.get("end_time"),
        "session_id": trace.get("session_id"),
        "user_id": trace.get("user_id"),
        "service": service,
    }
    return Run(
        trace_id=tid,
        iteration=iteration,
        persona=str(persona) if persona not in (None, "") else None,
        input=inp,
        output=out,
        duration_ms=(end - start).total_seconds() * 1000 if start and end else None,
        success=not failed,
        status="error" if failed else "success",
        error=error,
        token_usage=_tokens(observations),
        conversation=None,
        metadata=metadata,
        raw=raw,
        source="traces",
        line=line,
    )
