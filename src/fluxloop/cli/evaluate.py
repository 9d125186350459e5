"""``fluxloop evaluate experiment``: scores, gates and reports for an experiment."""

from __future__ import annotations

from pathlib import Path

import click

from fluxloop.ui import viewer_link

from ._common import RUN_DIR, config_option, echo, info, warn
from ._selection import selection_from, selection_options
from .cassette import cassette_options

__all__ = ["evaluate"]


@click.group()
def evaluate() -> None:
    """Score experiment traces with rule-based, LLM-judge and custom evaluators."""


@evaluate.command("experiment")
@click.argument("experiment_dir", type=RUN_DIR)
@config_option(
    path=True,
    help="evaluation.yaml, a setting.yaml with an evaluators: section, or a project directory "
    "(default: ./configs/evaluation.yaml, ./evaluation.yaml, ./setting.yaml, then the "
    "experiment's project, then its config.yaml snapshot).",
)
@click.option(
    "--output",
    "-o",
    default="evaluation",
    show_default=True,
    help="Output directory (relative to EXPERIMENT_DIR unless absolute).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing evaluation.")
@click.option(
    "--per-trace",
    "per_trace",
    type=click.Path(path_type=Path),
    default=None,
    help="Read runs from a per_trace.jsonl (fluxloop parse / the original's) instead of the "
    "experiment's trace_summary.jsonl + observations.jsonl.",
)
@click.option("--no-llm", is_flag=True, help="Skip LLM judges (they count as not evaluated).")
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 1),
    default=None,
    help="Minimum fraction of traces that must pass (overrides thresholds.pass_rate; default 1).",
)
@click.option(
    "--llm-api-key",
    default=None,
    envvar="FLUXLOOP_LLM_API_KEY",
    help="API key for provider judges (else OPENAI_API_KEY / ANTHROPIC_API_KEY).",
)
@click.option("--verbose", "-v", is_flag=True, help="Also list the failing traces and why.")
@selection_options
@cassette_options
def experiment(
    experiment_dir: Path,
    config_path: Path | None,
    output: str,
    overwrite: bool,
    per_trace: Path | None,
    no_llm: bool,
    fail_under: float | None,
    llm_api_key: str | None,
    verbose: bool,
    cassette: str | None,
    cassette_timing: str | None,
    **selection: str | None,
) -> None:
    """Evaluate EXPERIMENT_DIR (or a `collector serve` / `import otlp` output directory, whose
    root traces are the runs); exit code 1 when a gate fails."""
    from fluxloop.analysis.evaluate import evaluate_experiment
    from fluxloop.analysis.report import fmt_gate
    from fluxloop.errors import ThresholdError

    from .render import evaluation_summary_lines, failure_lines

    result = evaluate_experiment(
        experiment_dir,
        config=config_path,
        output=output,
        overwrite=overwrite,
        per_trace=per_trace,
        no_llm=no_llm,
        fail_under=fail_under,
        llm_api_key=llm_api_key,
        cassette=cassette,
        cassette_timing=cassette_timing,
        selection=selection_from(**selection),  # type: ignore[arg-type]
    )
    for message in result.warnings:
        warn(message)
    info(f"Config: {result.summary['config']}")
    for line in evaluation_summary_lines(result):
        echo(line)
    if verbose:
        for line in failure_lines(*result.failed_traces()):
            echo(line)
    echo(f"  report: {result.files['report_html']}")
    link = viewer_link("experiment", x=Path(experiment_dir))
    if link is not None:
        echo(f"  viewer: {link}")
    if not result.passed:
        failed = "; ".join(fmt_gate(g).removeprefix("FAIL ") for g in result.failed_gates())
        raise ThresholdError(f"evaluation below threshold: {failed}")
