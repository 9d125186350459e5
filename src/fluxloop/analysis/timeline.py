"""A trace's observations as an ordered timeline of steps (start order, depth from parents)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .experiment import norm_id, parse_time

__all__ = ["Step", "build_timeline", "tool_calls"]


@dataclass
class Step:
    index: int  # 1-based position in the timeline
    record: Mapping[str, Any]
    id: str | None
    parent_id: str | None
    type: str
    name: str
    start: datetime | None
    end: datetime | None
    depth: int = 0
    parent_index: int | None = None
    events: list[Mapping[str, Any]] = field(default_factory=list)
    """Log records emitted inside this span (``logs_*.jsonl``), in time order."""

    @property
    def duration_ms(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds() * 1000

    @property
    def error(self) -> str | None:
        err = self.record.get("error")
        if err in (None, ""):
            return None
        return err if isinstance(err, str) else str(err)

    @property
    def failed(self) -> bool:
        return self.error is not None or str(self.record.get("level", "")).lower() == "error"

    @property
    def level(self) -> str:
        level = self.record.get("level")
        if level:
            return str(level)
        return "error" if self.error else "info"

    def time_text(self, which: str) -> str:
        value = self.start if which == "start" else self.end
        if value is not None:
            return value.isoformat()
        raw = self.record.get("start_time" if which == "start" else "end_time")
        return str(raw) if raw not in (None, "") else "N/A"


def build_timeline(
    observations: Iterable[Mapping[str, Any]], logs: Iterable[Mapping[str, Any]] = ()
) -> list[Step]:
    """Steps sorted by (start, end) — the original's order — with depth and parent step; each
    log record of ``logs`` whose ``span_id`` is a step's id becomes one of its events."""
    steps: list[Step] = []
    for record in observations:
        steps.append(
            Step(
                index=0,
                record=record,
                id=norm_id(record.get("id")),
                parent_id=norm_id(record.get("parent_observation_id")),
                type=str(record.get("type") or "span"),
                name=str(record.get("name") or "?"),
                start=parse_time(record.get("start_time")),
                end=parse_time(record.get("end_time")),
            )
        )

    def order(step: Step) -> tuple[float, float]:
        # start order; on equal starts the longer span first, so a parent precedes its children
        start = step.start.timestamp() if step.start else float("inf")
        end = step.end.timestamp() if step.end else start
        return (start, -end)

    steps.sort(key=order)
    by_id: dict[str, Step] = {}
    for position, step in enumerate(steps, start=1):
        step.index = position
        if step.id is not None:
            by_id.setdefault(step.id, step)
    for step in steps:
        parent = by_id.get(step.parent_id) if step.parent_id else None
        if parent is not None and parent is not step:
            step.parent_index = parent.index
    # depth: walk up parents (bounded against cycles)
    for step in steps:
        depth = 0
        current = step
        seen: set[int] = set()
        while current.parent_index is not None and current.index not in seen and depth < 64:
            seen.add(current.index)
            current = steps[current.parent_index - 1]
            depth += 1
        step.depth = depth
    for log in logs:
        owner = by_id.get(norm_id(log.get("span_id")) or "")
        if owner is not None:
            owner.events.append(log)
    for step in steps:
        if len(step.events) > 1:
            step.events.sort(key=lambda e: str(e.get("time") or e.get("observed_time") or ""))
    return steps


def _tool_name(step: Step) -> str:
    attrs = step.record.get("attributes")
    if isinstance(attrs, Mapping):
        name = attrs.get("gen_ai.tool.name")
        if isinstance(name, str) and name:
            return name
    return step.name


def tool_calls(steps: Iterable[Step]) -> list[tuple[str, Any, Step]]:
    """``(tool name, arguments, step)`` of every tool observation, in start order."""
    calls: list[tuple[str, Any, Step]] = []
    for step in steps:
        if step.type == "tool":
            calls.append((_tool_name(step), step.record.get("input"), step))
    return calls
