"""``fluxloop import otlp``: OTLP JSON lines from any OpenTelemetry pipeline -> the contract."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import traces_output_option

__all__ = ["import_"]


@click.group("import")
def import_() -> None:
    """Import traces written by other tools."""


@import_.command("otlp")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@traces_output_option(help="Directory of the contract files (appended to; created if needed).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Count and skip malformed lines instead of stopping at the first one.",
)
@click.option(
    "--no-mask",
    is_flag=True,
    help="Import as is (default: secrets masked with the SDK's rules, as the collector does).",
)
def otlp(files: tuple[Path, ...], output: Path, skip_invalid: bool, no_mask: bool) -> None:
    """Convert OTLP JSON lines (the OTel Collector's file exporter, one TracesData, MetricsData
    or LogsData object per line; .gz read too) into traces_*.jsonl / observations_*.jsonl,
    metrics_*.jsonl and logs_*.jsonl in --output.

    A malformed line stops the import with FILE:LINE and exit code 2; nothing is written then.
    """
    from fluxloop.collector import IngestPolicy, import_otlp_files

    # an InputError (exit 2, one line naming FILE:LINE) is reported by fluxloop.cli.main
    result = import_otlp_files(
        files, output, skip_invalid=skip_invalid, policy=IngestPolicy(mask=not no_mask)
    )
    click.echo(
        f"Imported {result.spans} span(s) in {result.traces} trace(s) from {result.lines} "
        f"line(s) of {result.files} file(s) into {result.output_dir}"
    )
    if result.metric_points or result.log_records:
        click.echo(
            f"Imported {result.metric_points} metric data point(s) and {result.log_records} log "
            "record(s)"
        )
    if result.ignored_lines:
        click.echo(f"Ignored {result.ignored_lines} line(s) of other signals (profiles)")
    if result.skipped_lines:
        click.echo(f"Skipped {result.skipped_lines} invalid line(s):", err=True)
        for message in result.errors:
            click.echo(f"  {message}", err=True)
