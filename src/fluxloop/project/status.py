"""``fluxloop status``: real state read from the project (experiments, traces, settings)."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fluxloop._files import read_jsonl
from fluxloop.errors import ConfigError, InputError
from fluxloop.project.config import (
    ExperimentConfig,
    collector_endpoint,
    load_config,
    resolve_project_dir,
)
from fluxloop.project.envfiles import dotenv_chain
from fluxloop.project.layout import SUMMARY_FILE, TRACE_SUMMARY_FILE
from fluxloop.project.yaml import display_path
from fluxloop.sdk import VERSION
from fluxloop.sdk.masking import display_mask

from .configtools import resolve_configured_target
from .inputs import load_inputs

__all__ = [
    "CheckRow",
    "ExperimentInfo",
    "StatusReport",
    "check_project",
    "collector_reachable",
    "experiment_info",
    "experiments_directory",
    "find_experiment",
    "list_experiments",
    "recent_traces",
]


@dataclass
class ExperimentInfo:
    path: Path
    name: str
    date: str | None
    status: str
    total: int
    planned: int | None = None
    successful: int = 0
    failed: int = 0
    success_rate: float | None = None
    avg_duration_ms: float | None = None
    p95_duration_ms: float | None = None
    has_summary: bool = True
    sort_key: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form ``status experiments --json`` prints."""
        return {
            "path": str(self.path),
            "name": self.name,
            "date": self.date,
            "status": self.status,
            "total_runs": self.total,
            "planned_runs": self.planned,
            "successful": self.successful,
            "failed": self.failed,
            "success_rate": self.success_rate,
            "avg_duration_ms": self.avg_duration_ms,
            "p95_duration_ms": self.p95_duration_ms,
        }


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _count_lines(path: Path) -> tuple[int, int]:
    total = failed = 0
    try:
        for line in read_jsonl(path):
            if not line.complete or line.error is not None:
                continue
            total += 1
            if isinstance(line.value, dict) and not line.value.get("success", True):
                failed += 1
    except OSError:
        pass
    return total, failed


def _newer(path: Path, than: Path) -> bool:
    try:
        return path.stat().st_mtime_ns > than.stat().st_mtime_ns
    except OSError:
        return False


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def experiment_info(path: Path) -> ExperimentInfo | None:
    """What an experiment directory holds; None when it is not one."""
    summary_path = path / SUMMARY_FILE
    lines_path = path / TRACE_SUMMARY_FILE
    if not summary_path.is_file() and not lines_path.is_file():
        return None
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    summary: dict[str, Any] | None = None
    if summary_path.is_file():
        try:
            loaded = json.loads(summary_path.read_text(encoding="utf-8"))
            summary = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError):
            summary = None
    if summary is None:
        total, failed = _count_lines(lines_path)
        return ExperimentInfo(
            path=path,
            name=path.name,
            date=None,
            status="no summary",
            total=total,
            successful=total - failed,
            failed=failed,
            success_rate=(total - failed) / total if total else None,
            has_summary=False,
            sort_key=mtime,
        )
    results: Mapping[str, Any] = summary.get("results") or {}
    total = int(_number(results.get("total_runs")) or _number(summary.get("total_traces")) or 0)
    successful = int(_number(results.get("successful")) or _number(summary.get("successful")) or 0)
    failed = int(_number(results.get("failed")) or _number(summary.get("failed")) or 0)
    rate = _number(results.get("success_rate"))
    if rate is None and total:
        rate = successful / total
    status = str(summary.get("status") or "completed")
    if (status == "running" and not _pid_alive(summary.get("pid"))) or (
        status == "aborted" and summary.get("resumable")
    ):
        status = "aborted (resumable)"
    if status != "completed" and _newer(lines_path, summary_path):
        # summary.json is rewritten every few seconds, the run lines as each run ends: after a
        # kill -9 the lines are the truth
        total, failed = _count_lines(lines_path)
        successful = total - failed
        rate = successful / total if total else None
    durations = summary.get("duration_ms") if isinstance(summary.get("duration_ms"), dict) else {}
    assert isinstance(durations, dict)
    date = summary.get("started_at") or summary.get("date")
    # newest by when it ran, not by folder mtime (a later parse/evaluate touches the folder)
    started = _timestamp(date)
    return ExperimentInfo(
        path=path,
        name=str(summary.get("name") or summary.get("experiment_name") or path.name),
        date=str(date) if date else None,
        status=status,
        total=total,
        planned=int(_number(results.get("planned_runs")) or 0) or None,
        successful=successful,
        failed=failed,
        success_rate=rate,
        avg_duration_ms=_number(results.get("avg_duration_ms"))
        or _number(summary.get("avg_duration_ms")),
        p95_duration_ms=_number(durations.get("p95")),
        sort_key=started if started is not None else mtime,
    )


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:  # the original wrote naive local times
        moment = moment.astimezone()
    return moment.timestamp()


def list_experiments(directory: Path, limit: int | None = None) -> list[ExperimentInfo]:
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():  # latest_<name> links are not runs
            info = experiment_info(child)
            if info is not None:
                found.append(info)
    found.sort(key=lambda e: (e.sort_key, e.path.name), reverse=True)
    return found[:limit] if limit else found


def resolve_run_dir(path: Path) -> Path:
    """``path`` as an experiment directory: a ``latest_<name>`` link becomes the run it points
    to, and ``latest`` (``experiments/latest``, or plain ``latest`` meaning ``./experiments``)
    the newest run in that folder. Other paths are returned as they are."""
    if path.is_symlink() and path.is_dir():
        return path.resolve()
    if path.exists() or path.name != "latest":
        return path
    folder = path.parent
    if folder == Path(".") and (Path("experiments")).is_dir():
        folder = Path("experiments")
    newest = list_experiments(folder, 1)
    if not newest:
        raise InputError(
            f"{display_path(path)}: no experiments in {display_path(folder)} to take the latest "
            "from; run `fluxloop run experiment` first",
            key="EXPERIMENT_DIR",
        )
    return newest[0].path


def find_experiment(ref: str | None, directory: Path) -> Path:
    """An experiment directory by path, directory name, name prefix, or the latest one."""
    if ref == "latest" or (ref and Path(ref).name.startswith("latest")):
        return resolve_run_dir(Path(ref) if Path(ref).exists() else directory / ref)
    if ref:
        path = Path(ref).expanduser()
        if path.is_dir() and experiment_info(path) is not None:
            return path
        candidate = directory / ref
        if candidate.is_dir() and experiment_info(candidate) is not None:
            return candidate
        matches = [
            e for e in list_experiments(directory) if e.path.name.startswith(ref) or e.name == ref
        ]
        if matches:
            return matches[0].path
        raise InputError(
            f"experiment {ref!r} not found in {display_path(directory)}", key="EXPERIMENT"
        )
    experiments = list_experiments(directory, 1)
    if not experiments:
        raise InputError(
            f"no experiments in {display_path(directory)}; run `fluxloop run experiment` first",
            key="EXPERIMENT",
        )
    return experiments[0].path


def recent_traces(
    experiment: Path, limit: int = 10, *, failed_only: bool = False
) -> tuple[list[dict[str, Any]], int, int]:
    """The last ``limit`` trace_summary lines (streamed), the total and the failed count."""
    keep: deque[dict[str, Any]] = deque(maxlen=max(limit, 1))
    total = failed = 0
    path = experiment / TRACE_SUMMARY_FILE
    if not path.is_file():
        return [], 0, 0
    for read in read_jsonl(path):
        line = read.value
        if not read.complete or not isinstance(line, dict):
            continue
        total += 1
        ok = bool(line.get("success", True))
        if not ok:
            failed += 1
        if failed_only and ok:
            continue
        keep.append(line)
    return list(keep), total, failed


def collector_reachable(url: str, timeout: float = 1.0) -> bool:
    parsed = urlparse(url if "://" in url else f"http://{url}")
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _collector_row(
    url: str,
    api_key: str | None,
    health: Callable[[str, str | None], Mapping[str, Any]] | None,
) -> tuple[CheckRow, str | None]:
    if health is None:
        if collector_reachable(url):
            return CheckRow("Collector", "✓", f"{url} (reachable)"), None
        answer: Mapping[str, Any] = {"status": "unreachable"}
    else:
        answer = health(url, api_key)
    status = answer.get("status")
    if status == "ok":
        details = f"{url} (healthy"
        if answer.get("version"):
            details += f", version {answer['version']}"
        if answer.get("spans_received") is not None:
            details += f", {answer['spans_received']} spans received"
        if answer.get("latency_ms") is not None:
            details += f", {answer['latency_ms']} ms"
        return CheckRow("Collector", "✓", details + ")"), None
    if status == "unauthorized":
        return (
            CheckRow("Collector", "✗", f"{url} (rejected the API key)"),
            "Set FLUXLOOP_API_KEY to the collector's key (fluxloop collector serve --api-key)",
        )
    if status == "unreachable":
        return (
            CheckRow(
                "Collector", "✗", f"{url} (not reachable; spans are spooled locally and retried)"
            ),
            f"Start it (fluxloop collector serve) or unset FLUXLOOP_COLLECTOR_URL ({url})",
        )
    error = answer.get("error") or "unexpected answer"
    return CheckRow("Collector", "✗", f"{url} ({error})"), None


@dataclass
class CheckRow:
    component: str
    symbol: str  # ✓ ok, ✗ error, - not configured, ? unknown
    details: str


@dataclass
class StatusReport:
    rows: list[CheckRow] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    config: ExperimentConfig | None = None


def check_project(
    config_path: str | None,
    project: str | None,
    root: str | None,
    *,
    verbose: bool = False,
    cwd: Path | None = None,
    health: Callable[[str, str | None], Mapping[str, Any]] | None = None,
) -> StatusReport:
    """The status table of ``fluxloop status check``.

    ``health(url, api_key)`` asks a collector how it is (the CLI passes
    :func:`fluxloop.collector.check_health`); without it, only reachability is checked.
    """
    import platform

    here = (cwd or Path.cwd()).resolve()
    report = StatusReport()
    rows, recs = report.rows, report.recommendations
    rows.append(CheckRow("FluxLoop", "✓", f"version {VERSION}"))
    rows.append(CheckRow("Python", "✓", f"{platform.python_version()} ({sys.executable})"))
    config: ExperimentConfig | None = None
    project_dir = here
    try:
        config = load_config(config_path, project, root, require_target=False, cwd=here)
        project_dir = config.project_dir
        report.config = config
        files = ", ".join(display_path(f) for f in config.source.files)
        rows.append(CheckRow("Project", "✓", display_path(project_dir)))
        rows.append(CheckRow("Config", "✓", f"valid ({files})"))
    except ConfigError as exc:
        message = str(exc).splitlines()
        if "no FluxLoop config" in message[0] or "not found" in message[0]:
            rows.append(CheckRow("Config", "-", message[0]))
            recs.append("Create a project: fluxloop init project --name my-agent")
        else:
            extra = f" (+{len(message) - 1} more)" if len(message) > 1 else ""
            rows.append(CheckRow("Config", "✗", message[0] + extra))
            recs.append("Fix the configuration: fluxloop config validate")
    dotenv, env_files, _ = dotenv_chain(project_dir)
    env = {**dotenv, **os.environ}
    if config is not None:
        if not config.runner.target:
            rows.append(CheckRow("Target", "✗", "runner.target is not set"))
        elif verbose:
            try:
                target = resolve_configured_target(config)
                rows.append(CheckRow("Target", "✓", f"{config.runner.target} ({target.kind})"))
            except ConfigError as exc:
                rows.append(CheckRow("Target", "✗", str(exc)))
        else:
            rows.append(CheckRow("Target", "?", f"{config.runner.target} (--verbose imports it)"))
        try:
            inputs = load_inputs(config)
            rows.append(CheckRow("Inputs", "✓", f"{len(inputs.items)} from {inputs.source}"))
        except ConfigError as exc:
            rows.append(CheckRow("Inputs", "✗", str(exc).splitlines()[0]))
            recs.append("Add base_inputs or generate inputs: fluxloop generate inputs")
        experiments = list_experiments(config.output_directory)
        if experiments:
            latest = experiments[0]
            rate = f"{latest.success_rate:.1%}" if latest.success_rate is not None else "?"
            rows.append(
                CheckRow(
                    "Experiments",
                    "✓",
                    f"{len(experiments)} in {display_path(config.output_directory)}; latest "
                    f"{latest.path.name}: {latest.status}, {latest.total} runs, {rate} success",
                )
            )
        else:
            rows.append(
                CheckRow("Experiments", "-", f"none yet in {display_path(config.output_directory)}")
            )
            recs.append("Run an experiment: fluxloop run experiment")
    collector, api_key = (
        (config.collector_url, config.collector_api_key) if config else collector_endpoint(dotenv)
    )
    if collector:
        row, rec = _collector_row(collector, api_key, health)
        rows.append(row)
        if rec:
            recs.append(rec)
    else:
        rows.append(CheckRow("Collector", "-", "not configured (local files only)"))
    rows.append(
        CheckRow(
            "API key",
            "✓" if api_key else "-",
            f"FLUXLOOP_API_KEY {display_mask(api_key)}" if api_key else "FLUXLOOP_API_KEY not set",
        )
    )
    llm = [
        k
        for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "FLUXLOOP_LLM_API_KEY")
        if env.get(k)
    ]
    rows.append(
        CheckRow(
            "LLM keys",
            "✓" if llm else "-",
            ", ".join(llm) if llm else "none set (offline features only)",
        )
    )
    record = env.get("FLUXLOOP_RECORD_ARGS", "false")
    rows.append(
        CheckRow(
            "Recording",
            "✓" if record.lower() in ("1", "true", "yes") else "-",
            f"FLUXLOOP_RECORD_ARGS={record}",
        )
    )
    rows.append(
        CheckRow(
            ".env",
            "✓" if env_files else "-",
            ", ".join(display_path(p) for p in env_files) or "no .env file",
        )
    )
    return report


def experiments_directory(
    config_path: str | None,
    project: str | None,
    root: str | None,
    output: Path | None = None,
) -> Path:
    """Where the experiments are: ``output``, else the config's ``output_directory``; without
    a loadable config (and none named), ``experiments/`` of the project or the current
    directory."""
    if output is not None:
        return output
    try:
        return load_config(config_path, project, root, require_target=False).output_directory
    except ConfigError:
        if config_path is not None:
            raise
        base = resolve_project_dir(project, root) if project else Path.cwd()
        return base / "experiments"
