"""``fluxloop parse experiment``: per-trace timelines (Markdown or JSON)."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import RUN_DIR, echo, warn
from ._selection import selection_from, selection_options

__all__ = ["parse"]


@click.group()
def parse() -> None:
    """Turn experiment traces into readable per-trace timelines."""


@parse.command("experiment")
@click.argument("experiment_dir", type=RUN_DIR)
@click.option(
    "--output",
    "-o",
    default="per_trace_analysis",
    show_default=True,
    help="Output directory (relative to EXPERIMENT_DIR unless absolute).",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["md", "json"]),
    default="md",
    show_default=True,
    help="One Markdown or JSON file per trace (per_trace.jsonl is always written).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@selection_options
def experiment(
    experiment_dir: Path, output: str, fmt: str, overwrite: bool, **selection: str | None
) -> None:
    """Write a timeline per run of EXPERIMENT_DIR, failed runs included.

    EXPERIMENT_DIR may also be a `collector serve` or `import otlp` output directory: its root
    traces are the runs."""
    from fluxloop.analysis.parse import parse_experiment

    result = parse_experiment(
        experiment_dir,
        output=output,
        fmt=fmt,
        overwrite=overwrite,
        selection=selection_from(**selection),  # type: ignore[arg-type]
    )
    for message in result.warnings:
        warn(message)
    failed = f", {result.failed} failed" if result.failed else ""
    echo(
        f"Parsed {result.runs} run(s){failed}, {result.observations} observation(s): "
        f"{result.files} {fmt} file(s) + per_trace.jsonl in {result.output_dir}"
    )
