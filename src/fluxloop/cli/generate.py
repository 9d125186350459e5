"""``fluxloop generate inputs``."""

from __future__ import annotations

from pathlib import Path

import click

from ._common import config_options, echo, info, state, warn
from .cassette import cassette_options

__all__ = ["generate"]


@click.group()
def generate() -> None:
    """Generate input variations from personas and base inputs (or a recording)."""


@generate.command("inputs")
@config_options
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: inputs_file from the config, else inputs/generated.yaml).",
)
@click.option(
    "--limit", "-l", type=click.IntRange(min=1), default=None, help="Generate at most N inputs."
)
@click.option(
    "--strategy",
    "-s",
    "strategies",
    multiple=True,
    help="Variation strategy (repeatable): rephrase, verbose, concise, error_prone, "
    "persona_based, adversarial, formal, casual, technical, simple, or a custom template name.",
)
@click.option(
    "--mode",
    type=click.Choice(["llm", "deterministic"], case_sensitive=False),
    default=None,
    help="llm or deterministic (default: input_generation.mode; deterministic without an LLM).",
)
@click.option(
    "--from-recording",
    "from_recording",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Use the content at replay_args.override_param_path of a recorded call as the base input.",
)
@click.option(
    "--recording-index",
    default="-1",
    show_default=True,
    help="Which recorded call to use with --from-recording (an index, -1 = last, or 'all').",
)
@click.option(
    "--override-param-path",
    default=None,
    help="Dot path of the message in the recorded kwargs (default: "
    "replay_args.override_param_path, else data.content).",
)
@click.option("--seed", type=int, default=None, help="Seed (default: input_generation.seed/seed).")
@click.option(
    "--variation-count",
    "--count",
    "variation_count",
    type=click.IntRange(min=1),
    default=None,
    help="Variations per base input x persona x strategy (default: variation_count, 1).",
)
@click.option("--llm-provider", default=None, help="openai, anthropic, gemini or module:factory.")
@click.option("--llm-model", default=None, help="Model name.")
@click.option("--llm-api-key", default=None, help="API key (default: environment / .env).")
@click.option("--base-url", default=None, help="OpenAI-compatible endpoint (e.g. a local server).")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=None, help="Concurrent LLM calls."
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the LLM response cache.")
@click.option(
    "--overwrite/--no-overwrite",
    default=None,
    help="Replace an existing output file without a backup / refuse to (default: keep the "
    "previous one as <file>.bak, then replace it).",
)
@click.option(
    "--offset",
    type=click.IntRange(min=0),
    default=None,
    help="Skip the first N inputs of the sequence (default: continue after sibling files "
    "generated from the same config, e.g. inputs/batch1.yaml before batch2.yaml).",
)
@click.option(
    "--dry-run", is_flag=True, help="Show the plan and the prompts; call and write nothing."
)
@cassette_options
def inputs(
    config_path: str | None,
    project: str | None,
    root: str | None,
    output: Path | None,
    limit: int | None,
    strategies: tuple[str, ...],
    mode: str | None,
    from_recording: Path | None,
    recording_index: str,
    override_param_path: str | None,
    seed: int | None,
    variation_count: int | None,
    llm_provider: str | None,
    llm_model: str | None,
    llm_api_key: str | None,
    base_url: str | None,
    concurrency: int | None,
    no_cache: bool,
    overwrite: bool | None,
    offset: int | None,
    dry_run: bool,
    cassette: str | None,
    cassette_timing: str | None,
) -> None:
    """Write inputs/generated.yaml: base inputs x personas x strategies (x variation_count).

    Exit status: 0 written, 1 nothing could be generated (the reasons are printed), 2
    configuration error (including a missing API key or an existing file without --overwrite).
    """
    from fluxloop.generation.api import GenerateOptions, generate_inputs
    from fluxloop.generation.settings import generation_rules
    from fluxloop.project.config import load_config

    from .render import LiveProgress, generation_summary_lines

    config = load_config(
        config_path, project, root, require_target=False, rules=(generation_rules,)
    )
    options = GenerateOptions(
        output=output,
        limit=limit,
        strategies=list(strategies) or None,
        mode=mode.lower() if mode else None,
        seed=seed,
        variation_count=variation_count,
        from_recording=from_recording,
        recording_index=recording_index.strip().lower(),
        override_param_path=override_param_path,
        provider=llm_provider,
        model=llm_model,
        api_key=llm_api_key,
        base_url=base_url,
        concurrency=concurrency,
        no_cache=no_cache,
        overwrite=overwrite,
        offset=offset,
        dry_run=dry_run,
        cassette=cassette,
        cassette_timing=cassette_timing,
    )
    progress = LiveProgress(enabled=not state().quiet)
    outcome = generate_inputs(config, options, progress=progress)
    for note in outcome.notes:
        info(f"note: {note}")
    if dry_run:
        for line in outcome.dry_run_lines:
            echo(line)
        echo("Dry run: nothing was called or written.")
        return
    lines = generation_summary_lines(outcome)
    if lines:
        echo(lines[0])
        for line in lines[1:]:
            info(line)
    if outcome.result is not None and outcome.result.skipped:
        warn(
            f"{len(outcome.result.skipped)} group(s) skipped; see generation.skipped_groups in "
            "the output"
        )
