"""``fluxloop compare DIR_A DIR_B``: regressions and deltas between two experiments."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fluxloop.ui import viewer_link

from ._common import RUN_DIR, echo, info
from ._selection import selection_from, selection_options

__all__ = ["compare"]


@click.command("compare")
@click.argument("dir_a", type=RUN_DIR)
@click.argument("dir_b", type=RUN_DIR)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="What to print on stdout.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the Markdown report (a pull-request comment) to this file.",
)
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 if any run regressed (passed in A, fails in B).",
)
@click.option(
    "--max-regressions",
    type=click.IntRange(min=0),
    default=None,
    help="Exit 1 if more runs than this regressed.",
)
@click.option(
    "--max-success-drop",
    type=click.FloatRange(0, 1),
    default=None,
    help="Exit 1 if the success (or pass) rate drops by more than this fraction (0.05 = 5 pp).",
)
@click.option(
    "--max-latency-increase",
    "max_p95_increase",
    type=click.FloatRange(min=0),
    default=None,
    help="Exit 1 if latency p95 grows by more than this percentage.",
)
@click.option(
    "--max-token-increase",
    type=click.FloatRange(min=0),
    default=None,
    help="Exit 1 if mean tokens per run grow by more than this percentage.",
)
@selection_options
def compare(
    dir_a: Path,
    dir_b: Path,
    fmt: str,
    markdown_path: Path | None,
    fail_on_regression: bool,
    max_regressions: int | None,
    max_success_drop: float | None,
    max_p95_increase: float | None,
    max_token_increase: float | None,
    **selection: str | None,
) -> None:
    """Compare experiment DIR_B (candidate) against DIR_A (baseline).

    Runs are aligned by (input, persona, iteration); the outcome is the evaluation verdict when
    both were evaluated, else run success. Exit code 1 when a threshold option is exceeded.
    """
    from fluxloop.analysis.compare import compare_experiments, render_markdown, render_text
    from fluxloop.errors import InputError, ThresholdError

    result = compare_experiments(
        dir_a,
        dir_b,
        fail_on_regression=fail_on_regression,
        max_regressions=max_regressions,
        max_success_drop=max_success_drop,
        max_p95_increase=max_p95_increase,
        max_token_increase=max_token_increase,
        selection=selection_from(**selection),  # type: ignore[arg-type]
    )
    if fmt == "markdown":
        echo(render_markdown(result).rstrip("\n"))
    elif fmt == "json":
        echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, default=str))
    else:
        echo(render_text(result))
    link = viewer_link("compare", a=dir_a, b=dir_b)
    if link is not None:
        info(f"Viewer: {link}")
    if markdown_path is not None:
        try:
            markdown_path.parent.mkdir(parents=True, exist_ok=True)
            markdown_path.write_text(render_markdown(result), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--markdown {markdown_path}: cannot write: {exc.strerror}") from None
        info(f"Markdown report: {markdown_path}")
    if not result.passed:
        failed = "; ".join(g["text"] for g in result.gates if not g["passed"])
        raise ThresholdError(f"comparison failed: {failed}")
