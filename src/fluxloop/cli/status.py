"""``fluxloop status check|experiments|traces``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ._common import config_options, echo

__all__ = ["status"]


@click.group()
def status() -> None:
    """Show the state of the project: settings, experiments, traces."""


def _output_dir(
    config_path: str | None, project: str | None, root: str | None, output: Path | None
) -> Path:
    from fluxloop.errors import ConfigError
    from fluxloop.project.config import load_config, resolve_project_dir

    if output is not None:
        return output
    try:
        return load_config(config_path, project, root, require_target=False).output_directory
    except ConfigError:
        if config_path is not None:
            raise
        base = resolve_project_dir(project, root) if project else Path.cwd()
        return base / "experiments"


@status.command("check")
@config_options
@click.option("--verbose", "-v", is_flag=True, help="Also import the target to check it.")
def check(config_path: str | None, project: str | None, root: str | None, verbose: bool) -> None:
    """Check installation, configuration, inputs, experiments, collector and keys."""
    from fluxloop.collector import check_health
    from fluxloop.project.status import check_project

    from .render import format_table

    report = check_project(config_path, project, root, verbose=verbose, health=check_health)
    echo("FluxLoop status")
    for line in format_table(
        [[r.component, r.symbol, r.details] for r in report.rows], ["Component", "", "Details"]
    ):
        echo("  " + line)
    if report.recommendations:
        echo("Recommendations:")
        for rec in report.recommendations:
            echo(f"  - {rec}")


@status.command("experiments")
@config_options
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory holding experiments (default: the config's output_directory).",
)
@click.option("--limit", "-l", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def experiments(
    config_path: str | None,
    project: str | None,
    root: str | None,
    output: Path | None,
    limit: int,
    as_json: bool,
) -> None:
    """List recent experiments with their results (read from summary.json)."""
    from fluxloop.project.status import format_date, list_experiments
    from fluxloop.project.yaml import display_path

    from .render import format_table

    directory = _output_dir(config_path, project, root, output)
    found = list_experiments(directory)
    shown = found[:limit]
    if as_json:
        echo(
            json.dumps(
                [
                    {
                        "path": str(e.path),
                        "name": e.name,
                        "date": e.date,
                        "status": e.status,
                        "total_runs": e.total,
                        "planned_runs": e.planned,
                        "successful": e.successful,
                        "failed": e.failed,
                        "success_rate": e.success_rate,
                        "avg_duration_ms": e.avg_duration_ms,
                        "p95_duration_ms": e.p95_duration_ms,
                    }
                    for e in shown
                ],
                indent=2,
            )
        )
        return
    if not found:
        echo(f"No experiments found in {display_path(directory)}")
        echo("Run an experiment first: fluxloop run experiment")
        return
    echo(f"Recent experiments in {display_path(directory)} (showing {len(shown)} of {len(found)})")
    rows = []
    for e in shown:
        runs = f"{e.total}" + (f"/{e.planned}" if e.planned and e.planned != e.total else "")
        rows.append(
            [
                e.path.name,
                format_date(e.date),
                e.status,
                runs,
                f"{e.success_rate:.1%}" if e.success_rate is not None else "-",
                f"{e.avg_duration_ms:.1f} ms" if e.avg_duration_ms is not None else "-",
                f"{e.p95_duration_ms:.1f} ms" if e.p95_duration_ms is not None else "-",
            ]
        )
    for line in format_table(
        rows, ["Experiment", "Date", "Status", "Runs", "Success", "Avg", "p95"]
    ):
        echo("  " + line)


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


@status.command("traces")
@click.argument("experiment_id", required=False)
@config_options
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory holding experiments (default: the config's output_directory).",
)
@click.option("--limit", "-l", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--failed", is_flag=True, help="Only failed runs.")
def traces(
    experiment_id: str | None,
    config_path: str | None,
    project: str | None,
    root: str | None,
    output: Path | None,
    limit: int,
    failed: bool,
) -> None:
    """List the latest traces of an experiment (default: the most recent experiment), or of a
    `collector serve` / `import otlp` output directory given as EXPERIMENT_ID."""
    from fluxloop.analysis.traces_dir import is_traces_directory, recent_runs
    from fluxloop.project.status import find_experiment, recent_traces
    from fluxloop.project.yaml import display_path

    from .render import format_table

    if experiment_id and is_traces_directory(Path(experiment_id).expanduser()):
        experiment = Path(experiment_id).expanduser()
        lines, total, failures = recent_runs(experiment, limit, failed_only=failed)
    else:
        directory = _output_dir(config_path, project, root, output)
        experiment = find_experiment(experiment_id, directory)
        lines, total, failures = recent_traces(experiment, limit, failed_only=failed)
    echo(
        f"Traces of {display_path(experiment)}: {total} run(s), {failures} failed "
        f"(showing {len(lines)})"
    )
    rows = []
    for line in lines:
        ok = line.get("success", True)
        error = line.get("error") if isinstance(line.get("error"), dict) else None
        result = (
            _short(line.get("output"))
            if ok
            else _short(f"{(error or {}).get('type', 'Error')}: {(error or {}).get('message', '')}")
        )
        duration = line.get("duration_ms")
        rows.append(
            [
                str(line.get("trace_id", ""))[:16],
                str(line.get("iteration", "")),
                str(line.get("persona") or "-"),
                "ok" if ok else str(line.get("status") or "error"),
                f"{duration:.1f} ms" if isinstance(duration, (int, float)) else "-",
                _short(line.get("input"), 30),
                result,
            ]
        )
    for row in format_table(
        rows, ["Trace", "Iter", "Persona", "Status", "Duration", "Input", "Output / error"]
    ):
        echo("  " + row)
