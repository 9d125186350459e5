"""``fluxloop status check|experiments|traces``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import config_options, echo

__all__ = ["status"]


@click.group()
def status() -> None:
    """Show the state of the project: settings, experiments, traces."""


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
    from fluxloop.project.status import experiments_directory, list_experiments
    from fluxloop.project.yaml import display_path

    from .render import experiments_table

    directory = experiments_directory(config_path, project, root, output)
    found = list_experiments(directory)
    shown = found[:limit]
    if as_json:
        echo(json.dumps([e.as_dict() for e in shown], indent=2))
        return
    if not found:
        echo(f"No experiments found in {display_path(directory)}")
        echo("Run an experiment first: fluxloop run experiment")
        return
    echo(f"Recent experiments in {display_path(directory)} (showing {len(shown)} of {len(found)})")
    for line in experiments_table(shown):
        echo("  " + line)


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
    from fluxloop.project.status import experiments_directory, find_experiment, recent_traces
    from fluxloop.project.yaml import display_path

    from .render import traces_table

    if experiment_id and is_traces_directory(Path(experiment_id).expanduser()):
        experiment = Path(experiment_id).expanduser()
        lines, total, failures = recent_runs(experiment, limit, failed_only=failed)
    else:
        directory = experiments_directory(config_path, project, root, output)
        experiment = find_experiment(experiment_id, directory)
        lines, total, failures = recent_traces(experiment, limit, failed_only=failed)
    echo(
        f"Traces of {display_path(experiment)}: {total} run(s), {failures} failed "
        f"(showing {len(lines)})"
    )
    for row in traces_table(lines):
        echo("  " + row)
