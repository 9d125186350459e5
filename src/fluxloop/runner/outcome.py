"""The outcome of an experiment and its exit-code semantics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import InterruptedRunError, StorageError, ThresholdError
from fluxloop.project.yaml import display_path

from .aborts import aborted_error
from .planning import ExperimentPlan

__all__ = ["ExperimentOutcome"]


@dataclass
class ExperimentOutcome:
    """What :func:`~fluxloop.runner.engine.run_experiment` returns: the plan, the directory
    (None for a dry run) and the summary it wrote."""

    plan: ExperimentPlan
    directory: Path | None
    summary: dict[str, Any]
    interrupted: bool = False
    dry_run: bool = False
    error: StorageError | None = None
    """Set when an artifact could not be written (the experiment was aborted, resumable)."""
    dry_run_lines: list[str] = field(default_factory=list)
    """With ``dry_run``: the plan (notes, target, inputs, runs), for the caller to show."""

    @property
    def passed(self) -> bool:
        threshold = self.summary.get("threshold") or {}
        return bool(threshold.get("passed"))

    def raise_for_status(self) -> None:
        """Exit-code semantics: :class:`InterruptedRunError` (130), :class:`ThresholdError` (1)."""
        if self.dry_run:
            return
        results = self.summary.get("results", {})
        if self.error is not None:
            raise aborted_error(self.error, self.summary, self.directory)
        if self.interrupted:
            where = display_path(self.directory) if self.directory else "?"
            raise InterruptedRunError(
                f"interrupted after {results.get('total_runs', 0)}/"
                f"{results.get('planned_runs', 0)} runs; partial results in {where}; "
                f"resume with: fluxloop run experiment --resume {where}"
            )
        if not self.passed:
            threshold = self.summary.get("threshold") or {}
            raise ThresholdError(str(threshold.get("reason") or "experiment failed"))
