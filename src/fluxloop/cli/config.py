"""``fluxloop config show|validate|schema|env|set|set-llm``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from ._common import config_option, echo, info, project_options, warn
from ._output import unmasked

__all__ = ["config"]


@click.group()
def config() -> None:
    """Show, validate and edit the configuration and the environment."""


_config_option = config_option(
    "--file", "-f", help="A config file (setting.yaml, configs/*.yaml) or project directory."
)


@config.command("show")
@_config_option
@project_options
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
def show(config_path: str | None, project: str | None, root: str | None, fmt: str) -> None:
    """Print the configuration (merged for configs/*.yaml, secrets masked)."""
    import yaml

    from fluxloop.project.configtools import shown_config

    masked, label = shown_config(config_path, project, root)
    if fmt == "json":
        echo(json.dumps(masked, indent=2, ensure_ascii=False, default=str))
    else:
        echo(f"# {label}")
        echo(yaml.safe_dump(masked, sort_keys=False, allow_unicode=True).rstrip())


@config.command("validate")
@_config_option
@project_options
@click.option("--no-import", is_flag=True, help="Do not import the runner target.")
def validate(
    config_path: str | None, project: str | None, root: str | None, no_import: bool
) -> None:
    """Check the configuration; print every problem with file:line (exit 2 if any)."""
    from fluxloop.generation.settings import generation_rules
    from fluxloop.project.configtools import validate_project

    from .render import format_table

    summary = validate_project(
        config_path,
        project,
        root,
        check_target=not no_import,
        section_checks=[("Generation", _generation_row)],
        rules=[generation_rules],
        target_checks=[_replay_check],
    )
    for warning in summary.warnings:
        warn(str(warning))
    echo("✓ Configuration is valid")
    for line in format_table([[k, v] for k, v in summary.rows]):
        echo("  " + line)


def _replay_check(config: Any) -> None:
    """The replay recording (when enabled) loaded the way ``run experiment`` loads it."""
    from fluxloop.runner.replay import load_replay

    if config.replay.enabled:
        load_replay(config.replay, config.runner.target)


def _generation_row(config: Any) -> str:
    """``input_generation`` checked the way ``generate inputs`` checks it."""
    from fluxloop.generation.settings import load_generation_settings

    settings = load_generation_settings(config)
    return f"{settings.mode}; strategies {', '.join(settings.strategies)}"


@config.command("schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the schema to this file instead of printing it.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the configuration (for editors; see docs/configuration.md)."""
    from fluxloop._files import atomic_write
    from fluxloop.project.schema import json_schema_text
    from fluxloop.project.yaml import display_path

    text = json_schema_text()
    if output is None:
        echo(text.rstrip("\n"))
        return
    atomic_write(output, text)
    info(f"Wrote {display_path(output)}")


@config.command("env")
@project_options
@click.option("--show-values", "-s", is_flag=True, help="Show secret values unmasked.")
def env(project: str | None, root: str | None, show_values: bool) -> None:
    """Show the environment variables FluxLoop reads, their values and where they come from."""
    from fluxloop.project.config import resolve_project_dir
    from fluxloop.project.configtools import env_rows
    from fluxloop.project.yaml import display_path

    from .render import format_table

    project_dir = resolve_project_dir(project, root)
    rows, files = env_rows(project_dir, show_values=show_values)
    _echo_instrumentations()
    echo("FluxLoop environment variables")
    table = format_table(
        [[r.name, r.value, r.source, r.description] for r in rows],
        ["Variable", "Value", "Source", "Description"],
    )
    with unmasked() if show_values else contextlib.nullcontext():  # asked for: --show-values
        for line in table:
            echo("  " + line)
    if files:
        echo(
            "Loaded from: "
            + ", ".join(display_path(f) for f in files)
            + " (variables already set in the environment win)"
        )
    else:
        echo(f"No .env file in {display_path(project_dir)} or its parent")


def _echo_instrumentations() -> None:
    """The OpenTelemetry instrumentations ``opentelemetry-instrument`` would load."""
    from fluxloop.integrations.distro import instrumentations

    from .render import format_table

    found = instrumentations()
    echo("OpenTelemetry instrumentations (what `opentelemetry-instrument` activates)")
    if not found:
        echo("  none installed")
        return
    for line in format_table(
        [[i.name, f"{i.distribution} {i.version}", i.status, i.reason] for i in found],
        ["Instrumentation", "Package", "Status", "Why"],
    ):
        echo("  " + line)


@config.command("set", context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("value")
@_config_option
@project_options
def set_(
    key: str, value: str, config_path: str | None, project: str | None, root: str | None
) -> None:
    """Set KEY (dot notation, e.g. runner.timeout_seconds) to VALUE, keeping comments."""
    from fluxloop.project.configtools import set_config_value_in
    from fluxloop.project.yaml import display_path

    path, typed = set_config_value_in(key, value, config_path, project, root)
    echo(f"Set {key} = {json.dumps(typed, default=str)} in {display_path(path)}")


@config.command("set-llm")
@click.argument(
    "provider", type=click.Choice(["openai", "anthropic", "gemini"], case_sensitive=False)
)
@click.argument("api_key")
@click.option("--model", "-m", default=None, help="Default model (provider default if omitted).")
@click.option(
    "--overwrite-env/--keep-env",
    default=True,
    help="Replace a key already in the .env file (default) / keep it.",
)
@click.option(
    "--file",
    "-f",
    "file",
    default=None,
    help="Config file to update (default: setting.yaml or configs/input.yaml).",
)
@click.option("--env-file", default=None, help="Environment file (default: the project's .env).")
@config_option(hidden=True)
@project_options
def set_llm(
    provider: str,
    api_key: str,
    model: str | None,
    overwrite_env: bool,
    file: str | None,
    env_file: str | None,
    config_path: str | None,
    project: str | None,
    root: str | None,
) -> None:
    """Store PROVIDER's API_KEY in .env and use it for LLM input generation."""
    from fluxloop.project.config import discover_config
    from fluxloop.project.configtools import LLM_PROVIDERS
    from fluxloop.project.configtools import set_llm as do_set_llm
    from fluxloop.project.yaml import display_path
    from fluxloop.sdk.masking import display_mask

    source = discover_config(config_path, project, root)
    env_path, written, cfg_path, chosen = do_set_llm(
        provider,
        api_key,
        source=source,
        model=model,
        overwrite_env=overwrite_env,
        file=file,
        env_file=env_file,
    )
    var = LLM_PROVIDERS[provider.lower()][0]
    if written:
        echo(f"Saved {var}={display_mask(api_key)} to {display_path(env_path)}")
    else:
        info(f"{var} already set in {display_path(env_path)}; kept it (--keep-env)")
    echo(f"LLM input generation: {provider.lower()} / {chosen} in {display_path(cfg_path)}")
