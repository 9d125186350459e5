"""``fluxloop run experiment`` and ``fluxloop run single``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fluxloop.errors import ConfigError, ThresholdError

from ._common import (
    RUN_DIR,
    config_option,
    config_options,
    echo,
    info,
    multi_turn_options,
    state,
    warn,
)
from .cassette import cassette_options

__all__ = ["run"]


@click.group()
def run() -> None:
    """Run experiments (many traced runs) or a single traced call."""


@run.command("experiment")
@config_options
@click.option(
    "--iterations",
    "-i",
    type=click.IntRange(min=1),
    default=None,
    help="Runs per input (default: iterations from the config).",
)
@click.option(
    "--inputs",
    "inputs_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Inputs file overriding inputs_file / base_inputs.",
)
@click.option(
    "--output-dir",
    "--output",
    "-o",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for experiment results (default: output_directory).",
)
@click.option(
    "--name",
    "--experiment-name",
    "name",
    default=None,
    help="Experiment name (directory prefix; default: name from the config).",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 1000),
    default=None,
    help="Concurrent runs (default: parallel_runs from the config, 1).",
)
@click.option("--personas", "-p", default=None, help="Comma-separated personas to run.")
@click.option("--no-collector", is_flag=True, help="Do not ship spans to the collector.")
@click.option(
    "--resume",
    "resume_dir",
    type=RUN_DIR,
    default=None,
    help="Continue an experiment directory: run only the missing runs.",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; run and write nothing.")
@click.option(
    "--grace-period",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds in-flight runs get to finish after Ctrl-C / SIGTERM.",
)
@click.option(
    "--multi-turn/--no-multi-turn",
    "multi_turn",
    default=None,
    help="Hold whole conversations with a simulated user (default: multi_turn.enabled).",
)
@click.option(
    "--max-turns",
    type=click.IntRange(min=1),
    default=None,
    help="Agent turns per conversation (overrides multi_turn.max_turns).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where runs execute: this process (local) or a Ray cluster (default: runner.executor).",
)
@click.option(
    "--ray-address",
    default=None,
    help="Ray cluster for --executor ray: auto, HOST:PORT or ray://HOST:PORT.",
)
@cassette_options
@multi_turn_options
@click.option("--yes", "-y", is_flag=True, hidden=True, help="Accepted for compatibility.")
@click.option("--display/--no-display", default=True, hidden=True)
def experiment(
    config_path: str | None,
    project: str | None,
    root: str | None,
    iterations: int | None,
    inputs_path: Path | None,
    output_dir: Path | None,
    name: str | None,
    parallel: int | None,
    personas: str | None,
    no_collector: bool,
    resume_dir: Path | None,
    dry_run: bool,
    grace_period: float,
    multi_turn: bool | None,
    max_turns: int | None,
    executor: str | None,
    ray_address: str | None,
    cassette: str | None,
    cassette_timing: str | None,
    auto_approve_tools: bool | None,
    persona_override: str | None,
    supervisor_provider: str | None,
    supervisor_model: str | None,
    supervisor_temperature: float | None,
    supervisor_api_key: str | None,
    yes: bool,
    display: bool,
) -> None:
    """Run the configured target over every input x persona x iteration.

    Exit status: 0 all runs succeeded (or success_threshold met), 1 below the threshold,
    2 configuration error, 130 interrupted (partial results written; resume with --resume).
    """
    from fluxloop.project.config import load_config
    from fluxloop.runner.engine import RunOptions, run_experiment
    from fluxloop.runner.invocation import Invocation
    from fluxloop.runner.multiturn import apply_overrides as apply_multi_turn_overrides

    from .render import experiment_summary_lines, make_progress

    given = Invocation(
        config=config_path,
        iterations=iterations,
        inputs=inputs_path,
        personas=[p.strip() for p in personas.split(",") if p.strip()] if personas else None,
        parallel=parallel,
        name=name,
        output_dir=output_dir,
        no_collector=no_collector,
        multi_turn=multi_turn,
        max_turns=max_turns,
        executor=executor,
        ray_address=ray_address,
    )
    if resume_dir is not None:
        resume_dir = resume_dir.resolve()
        given = given.resuming(resume_dir, config_given=project is not None)
    config = load_config(given.config, project, root)
    for note in apply_multi_turn_overrides(
        config,
        enabled=given.multi_turn,
        max_turns=given.max_turns,
        auto_approve_tools=auto_approve_tools,
        persona_override=persona_override,
        supervisor={
            "provider": supervisor_provider,
            "model": supervisor_model,
            "temperature": supervisor_temperature,
            "api_key": supervisor_api_key,
        },
    ):
        warn(note)
    for warning in config.warnings:
        warn(str(warning))
    quiet = state().quiet
    options = RunOptions(
        iterations=given.iterations,
        inputs=given.inputs.resolve() if given.inputs else None,
        output_dir=output_dir.resolve() if output_dir else None,
        name=name,
        parallel=given.parallel,
        no_collector=no_collector,
        resume=resume_dir,
        dry_run=dry_run,
        personas=given.personas,
        grace_seconds=grace_period,
        invocation=given.record(config),
        executor=given.executor,
        ray_address=given.ray_address,
        cassette=cassette,
        cassette_timing=cassette_timing,
    )
    outcome = run_experiment(config, options, reporter=make_progress(quiet=quiet or dry_run))
    if outcome.dry_run:
        for line in outcome.dry_run_lines:
            echo(line)
        echo("Dry run: nothing was executed or written.")
        return
    if quiet:
        echo(str(outcome.directory))
    else:
        for line in experiment_summary_lines(outcome.summary, outcome.directory):
            echo(line)
    outcome.raise_for_status()


@run.command("single")
@click.argument("target")
@click.argument("input_text", metavar="INPUT")
@click.option(
    "--function",
    "-f",
    "function",
    default="run",
    show_default=True,
    help="Function to call when TARGET is a module without ':function'.",
)
@config_option(help="Use this config's runner settings (working directory, paths, env).")
@click.option(
    "--working-directory",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to import the target from (default: current).",
)
@click.option("--persona", default=None, help="Persona name to inject.")
@click.option("--iteration", type=int, default=0, help="Iteration number to inject.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds before the call is abandoned.",
)
@click.option("--no-collector", is_flag=True, help="Do not ship spans to the collector.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
@cassette_options
@click.option("--trace-name", default=None, hidden=True)
def single(
    target: str,
    input_text: str,
    function: str,
    config_path: str | None,
    working_directory: Path | None,
    persona: str | None,
    iteration: int,
    timeout: float | None,
    no_collector: bool,
    as_json: bool,
    cassette: str | None,
    cassette_timing: str | None,
    trace_name: str | None,
) -> None:
    """Call TARGET ("module:function") once with INPUT; print the output and the span tree."""
    from fluxloop.project.config import load_config
    from fluxloop.runner.single import run_single

    from .render import span_tree_lines

    base = load_config(config_path, require_target=False) if config_path else None
    if working_directory is not None and not working_directory.is_dir():
        raise ConfigError(f"--working-directory: directory not found: {working_directory}")
    result = run_single(
        target if ":" in target else f"{target}:{function}",
        input_text,
        working_directory=working_directory.resolve() if working_directory else None,
        persona=persona,
        iteration=iteration,
        timeout_seconds=timeout,
        no_collector=no_collector,
        base=base,
        cassette=cassette,
        cassette_timing=cassette_timing,
    )
    line = result.record.line
    if as_json:
        echo(
            json.dumps(
                {**line, "observations": result.record.observations},
                default=str,
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        if result.success:
            echo(f"Output: {result.output}")
        else:
            error = line.get("error") or {}
            echo(f"Failed: {error.get('type')}: {error.get('message')}")
        if not state().quiet:
            tree = span_tree_lines(result.record.observations)
            echo("")
            echo(f"Trace {line['trace_id']} ({len(tree)} span(s), {line['duration_ms']:.1f} ms)")
            for row in tree:
                echo("  " + row)
        if state().debug and not result.success:
            info(str((line.get("error") or {}).get("traceback") or ""))
    if not result.success:
        error = line.get("error") or {}
        raise ThresholdError(f"the run failed: {error.get('type')}: {error.get('message')}")
