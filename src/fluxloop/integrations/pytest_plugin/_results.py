"""What the ``fluxloop_runner`` and ``fluxloop_cli`` fixtures return."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop._files import read_jsonl
from fluxloop.project.layout import (
    ERRORS_FILE,
    OBSERVATIONS_FILE,
    PARSE_DIR,
    PER_TRACE_FILE,
    SUMMARY_FILE,
    TRACE_SUMMARY_FILE,
    TRACES_FILE,
)

__all__ = ["CLIResult", "FluxLoopTestResult"]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [line.value for line in read_jsonl(path) if isinstance(line.value, dict)]


@dataclass
class FluxLoopTestResult:
    """The outcome of one experiment: numbers, the artifact paths, assertion helpers.

    ``summary`` is the experiment's ``summary.json``; the counts come from its ``results``.
    """

    name: str
    experiment_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    cli_command: str | None = None
    stdout_path: Path | None = None
    stderr_path: Path | None = None

    @classmethod
    def from_directory(cls, directory: Path, **extra: Any) -> FluxLoopTestResult:
        """Read ``summary.json`` of an experiment directory."""
        summary: dict[str, Any] = {}
        path = directory / SUMMARY_FILE
        if path.is_file():
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                summary = loaded
        return cls(
            name=str(summary.get("name") or directory.name),
            experiment_dir=directory,
            summary=summary,
            **extra,
        )

    # ------------------------------------------------------------------ numbers

    @property
    def results(self) -> Mapping[str, Any]:
        found = self.summary.get("results")
        return found if isinstance(found, Mapping) else {}

    @property
    def total_runs(self) -> int:
        """Runs executed (successful + failed)."""
        return int(self.results.get("total_runs") or 0)

    @property
    def successful(self) -> int:
        return int(self.results.get("successful") or 0)

    @property
    def failed(self) -> int:
        """Failed runs (errors and timeouts)."""
        return int(self.results.get("failed") or 0)

    @property
    def failures(self) -> int:
        """Same as :attr:`failed`."""
        return self.failed

    @property
    def success_rate(self) -> float:
        """Successful runs / total runs (0.0 when nothing ran)."""
        rate = self.results.get("success_rate")
        if isinstance(rate, int | float):
            return float(rate)
        return self.successful / self.total_runs if self.total_runs else 0.0

    @property
    def avg_duration_ms(self) -> float:
        return float(self.results.get("avg_duration_ms") or 0.0)

    @property
    def status(self) -> str:
        """``completed`` or ``interrupted``."""
        return str(self.summary.get("status") or "unknown")

    @property
    def passed(self) -> bool:
        """The experiment's own verdict (its ``success_threshold``; default: no failed run)."""
        threshold = self.summary.get("threshold")
        if isinstance(threshold, Mapping) and "passed" in threshold:
            return bool(threshold["passed"])
        return self.total_runs > 0 and self.failed == 0

    # ------------------------------------------------------------------ paths

    @property
    def output_dir(self) -> Path:
        """Same as :attr:`experiment_dir`."""
        return self.experiment_dir

    @property
    def summary_path(self) -> Path:
        return self.experiment_dir / SUMMARY_FILE

    @property
    def trace_summary_path(self) -> Path:
        return self.experiment_dir / TRACE_SUMMARY_FILE

    @property
    def traces_path(self) -> Path:
        return self.experiment_dir / TRACES_FILE

    @property
    def observations_path(self) -> Path:
        return self.experiment_dir / OBSERVATIONS_FILE

    @property
    def errors_path(self) -> Path:
        return self.experiment_dir / ERRORS_FILE

    @property
    def per_trace_path(self) -> Path | None:
        """``per_trace_analysis/`` once ``fluxloop parse experiment`` ran, else None."""
        for candidate in (
            self.experiment_dir / PARSE_DIR / PER_TRACE_FILE,
            self.experiment_dir / PARSE_DIR,
        ):
            if candidate.exists():
                return candidate
        return None

    # ------------------------------------------------------------------ records

    def trace_summary(self) -> list[dict[str, Any]]:
        """One record per run (``trace_summary.jsonl``)."""
        return _read_jsonl(self.trace_summary_path)

    def failed_runs(self) -> list[dict[str, Any]]:
        """The ``trace_summary`` records of the runs that failed."""
        return [r for r in self.trace_summary() if not r.get("success")]

    def errors(self) -> list[dict[str, Any]]:
        """The records of ``errors.json`` (type, message, traceback per failed run)."""
        if not self.errors_path.is_file():
            return []
        loaded = json.loads(self.errors_path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            loaded = loaded.get("errors", [])
        return [e for e in loaded if isinstance(e, dict)] if isinstance(loaded, list) else []

    def observations(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.observations_path)

    def traces(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.traces_path)

    # ------------------------------------------------------------------ assertions

    def require_success(
        self, threshold: float | str = 1.0, message: str | None = None
    ) -> FluxLoopTestResult:
        """Raise AssertionError unless at least one run ran and ``success_rate >= threshold``.

        ``threshold`` is a fraction (0.8 = 80 %); a string is taken as the ``message`` (the
        original plugin's ``require_success("label")``). The error names the experiment, the
        counts, the first failures and where the results are.
        """
        if isinstance(threshold, str):
            message, threshold = threshold, 1.0
        if self.total_runs > 0 and self.success_rate + 1e-12 >= threshold:
            return self
        what = f"{self.successful}/{self.total_runs} runs succeeded ({self.success_rate:.1%})"
        if self.total_runs == 0:
            what = "no run was executed"
        detail = f"FluxLoop experiment {self.name!r}: {what}, required {threshold:.1%}"
        raise AssertionError(self._explain(f"{message}: {detail}" if message else detail))

    def require_min_runs(self, min_runs: int, message: str | None = None) -> FluxLoopTestResult:
        """Raise AssertionError if fewer than ``min_runs`` runs were executed."""
        if self.total_runs >= min_runs:
            return self
        detail = (
            f"FluxLoop experiment {self.name!r}: {self.total_runs} runs, expected >= {min_runs}"
        )
        raise AssertionError(self._explain(f"{message}: {detail}" if message else detail))

    def require_max_duration(self, max_ms: float, message: str | None = None) -> FluxLoopTestResult:
        """Raise AssertionError if the average run took longer than ``max_ms`` milliseconds."""
        if self.avg_duration_ms <= max_ms:
            return self
        detail = (
            f"FluxLoop experiment {self.name!r}: average run {self.avg_duration_ms:.1f} ms, "
            f"expected <= {max_ms:g} ms"
        )
        raise AssertionError(self._explain(f"{message}: {detail}" if message else detail))

    def _explain(self, headline: str) -> str:
        lines = [headline]
        for record in self.failed_runs()[:3]:
            error = record.get("error")
            if isinstance(error, Mapping):
                error = f"{error.get('type', 'Error')}: {error.get('message', '')}"
            persona = record.get("persona") or "-"
            lines.append(f"  [iter {record.get('iteration', '?')}] persona={persona}: {error}")
        if self.failed > 3:
            lines.append(f"  … and {self.failed - 3} more")
        lines.append(f"  results: {self.experiment_dir}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"<FluxLoopTestResult {self.name!r} runs={self.total_runs} failed={self.failed} "
            f"success_rate={self.success_rate:.3f} dir={self.experiment_dir}>"
        )


@dataclass
class CLIResult:
    """One ``fluxloop`` CLI invocation in a subprocess."""

    args: list[str]
    exit_code: int
    stdout: str
    stderr: str
    cwd: Path
    stdout_path: Path | None = None
    stderr_path: Path | None = None
    experiment: FluxLoopTestResult | None = None

    @property
    def command(self) -> str:
        """The command line, for messages: ``fluxloop run experiment --iterations 1``."""
        import shlex

        return shlex.join(["fluxloop", *self.args])

    cli_command = command

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        """stdout and stderr together."""
        return self.stdout + self.stderr

    def require_success(self, message: str | None = None) -> CLIResult:
        """Raise AssertionError (with the command, exit code and output) unless it exited 0."""
        if self.ok:
            return self
        tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
        detail = f"`{self.command}` exited with code {self.exit_code} (in {self.cwd})\n{tail}"
        raise AssertionError(f"{message}: {detail}" if message else detail)

    # the experiment's numbers, when the command ran one (``run experiment``)

    def _experiment(self) -> FluxLoopTestResult:
        if self.experiment is None:
            raise AttributeError(f"`{self.command}` did not produce an experiment directory")
        return self.experiment

    @property
    def total_runs(self) -> int:
        return self._experiment().total_runs

    @property
    def failed(self) -> int:
        return self._experiment().failed

    @property
    def success_rate(self) -> float:
        return self._experiment().success_rate

    @property
    def experiment_dir(self) -> Path:
        return self._experiment().experiment_dir

    def __repr__(self) -> str:
        return f"<CLIResult `{self.command}` exit_code={self.exit_code}>"
