"""``fluxloop run experiment`` and ``fluxloop run single``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from fluxloop.errors import ConfigError, ThresholdError
from fluxloop.project.layout import SUMMARY_FILE

from ._common import RUN_DIR, config_options, echo, info, multi_turn_options, state, warn
from .cassette import cassette_options

__all__ = ["run"]


@click.group()
def run() -> None:
    """Run experiments (many traced runs) or a single traced call."""


def _invocation_from(resume: Path) -> dict[str, Any]:
    try:
        data = json.loads((resume / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    inv = data.get("invocation") if isinstance(data, dict) else None
    return inv if isinstance(inv, dict) else {}


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
    from fluxloop.runner.multiturn import apply_overrides as apply_multi_turn_overrides
    from fluxloop.runner.multiturn import summary_line as multi_turn_line
    from fluxloop.runner.progress import make_progress
    from fluxloop.runner.report import summary_lines

    persona_list = [p.strip() for p in personas.split(",") if p.strip()] if personas else None
    if resume_dir is not None:
        resume_dir = resume_dir.resolve()
        previous = _invocation_from(resume_dir)
        if config_path is None and project is None and previous.get("config"):
            config_path = str(previous["config"])
        if iterations is None and isinstance(previous.get("iterations"), int):
            iterations = previous["iterations"]
        if inputs_path is None and previous.get("inputs"):
            inputs_path = Path(str(previous["inputs"]))
        if persona_list is None and isinstance(previous.get("personas"), list):
            persona_list = [str(p) for p in previous["personas"]]
        if parallel is None and isinstance(previous.get("parallel"), int):
            parallel = previous["parallel"]
        if max_turns is None and isinstance(previous.get("max_turns"), int):
            max_turns = previous["max_turns"]
        if multi_turn is None and isinstance(previous.get("multi_turn"), bool):
            multi_turn = previous["multi_turn"]
        if executor is None and isinstance(previous.get("executor"), str):
            executor = previous["executor"]
        if ray_address is None and isinstance(previous.get("ray_address"), str):
            ray_address = previous["ray_address"]

    config = load_config(config_path, project, root)
    for note in apply_multi_turn_overrides(
        config,
        enabled=multi_turn,
        max_turns=max_turns,
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
    invocation: dict[str, Any] = {
        "config": str(
            config.source.primary if config.source.layout == "single" else config.source.project_dir
        ),
        "iterations": iterations,
        "inputs": str(inputs_path.resolve()) if inputs_path else None,
        "personas": persona_list,
        "parallel": parallel,
        "name": name,
        "output_dir": str(output_dir.resolve()) if output_dir else None,
        "no_collector": no_collector,
        "multi_turn": multi_turn,
        "max_turns": max_turns,
        "executor": executor,
        "ray_address": ray_address,
    }
    quiet = state().quiet
    reporter = make_progress(quiet=quiet or dry_run)
    options = RunOptions(
        iterations=iterations,
        inputs=inputs_path.resolve() if inputs_path else None,
        output_dir=output_dir.resolve() if output_dir else None,
        name=name,
        parallel=parallel,
        no_collector=no_collector,
        resume=resume_dir,
        dry_run=dry_run,
        personas=persona_list,
        grace_seconds=grace_period,
        invocation=invocation,
        executor=executor,
        ray_address=ray_address,
        cassette=cassette,
        cassette_timing=cassette_timing,
    )
    outcome = run_experiment(config, options, reporter=reporter)
    if outcome.dry_run:
        return
    if quiet:
        echo(str(outcome.directory))
    else:
        for line in summary_lines(outcome.summary, outcome.directory):
            echo(line)
        if isinstance(outcome.summary.get("multi_turn"), dict):
            echo(multi_turn_line(outcome.summary["multi_turn"]))
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
@click.option(
    "--config",
    "-c",
    "config_path",
    default=None,
    help="Use this config's runner settings (working directory, paths, env).",
)
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
    import os

    from fluxloop.project.config import load_config
    from fluxloop.project.envfiles import dotenv_chain
    from fluxloop.runner.single import format_tree, run_single

    spec = target if ":" in target else f"{target}:{function}"
    base = load_config(config_path, require_target=False) if config_path else None
    if base is not None:
        collector_url, api_key = base.collector_url, base.collector_api_key
    else:
        dotenv, _, _ = dotenv_chain((working_directory or Path.cwd()).resolve())
        env = {**dotenv, **os.environ}
        collector_url = env.get("FLUXLOOP_COLLECTOR_URL")
        api_key = env.get("FLUXLOOP_API_KEY")
    if working_directory is not None and not working_directory.is_dir():
        raise ConfigError(f"--working-directory: directory not found: {working_directory}")
    result = run_single(
        spec,
        input_text,
        working_directory=working_directory.resolve() if working_directory else None,
        persona=persona,
        iteration=iteration,
        timeout_seconds=timeout,
        collector_url=collector_url,
        api_key=api_key,
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
            tree = format_tree(result.record.observations)
            echo("")
            echo(f"Trace {line['trace_id']} ({len(tree)} span(s), {line['duration_ms']:.1f} ms)")
            for row in tree:
                echo("  " + row)
        if state().debug and not result.success:
            info(str((line.get("error") or {}).get("traceback") or ""))
    if not result.success:
        error = line.get("error") or {}
        raise ThresholdError(f"the run failed: {error.get('type')}: {error.get('message')}")
