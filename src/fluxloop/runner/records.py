"""What flows between the experiment and an executor: a planned run in, its record out.

Both are plain, picklable data, so an executor may run a run in another process or on
another machine and hand the record back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fluxloop.project.inputs import InputItem

__all__ = ["PlannedRun", "RunRecord"]


@dataclass(frozen=True)
class PlannedRun:
    """One run of the plan: an input at an iteration, keyed for resume (``iteration|item key``)."""

    key: str
    iteration: int
    item: InputItem


@dataclass
class RunRecord:
    """The outcome of one run, ready to be written."""

    line: dict[str, Any]
    observations: list[dict[str, Any]]
    traces: list[dict[str, Any]]

    @property
    def success(self) -> bool:
        return bool(self.line.get("success"))
