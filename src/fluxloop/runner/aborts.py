"""The one-line error of an experiment aborted because an artifact could not be written.

A full disk (or a file-size limit, or a revoked permission) in the middle of
``fluxloop run experiment`` stops new runs; what was committed stays (whole lines only),
``summary.json`` says ``"status": "aborted"`` with ``"resumable": true`` and the true counts,
and the command exits 2, or 1 when the runs recorded so far had already failed the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fluxloop.errors import StorageError
from fluxloop.project.yaml import display_path

__all__ = ["aborted_error"]


def aborted_error(
    cause: StorageError, summary: Mapping[str, Any], directory: Path | None
) -> StorageError:
    """``cause`` with the counts and the resume command; exit 1 if the gate had failed."""
    results = summary.get("results") or {}
    total = int(results.get("total_runs") or 0)
    threshold = summary.get("threshold") or {}
    gate_failed = total > 0 and not threshold.get("passed")
    where = display_path(directory) if directory is not None else "?"
    return StorageError(
        f"{cause}; aborted after {total}/{results.get('planned_runs', 0)} runs "
        f"(resume with: fluxloop run experiment --resume {where})",
        exit_code=1 if gate_failed else 2,
    )
