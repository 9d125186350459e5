"""Shared CLI helpers: the global state, printing, common options."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = [
    "CONFIG_HELP",
    "RUN_DIR",
    "CliState",
    "config_option",
    "config_options",
    "echo",
    "info",
    "multi_turn_options",
    "project_options",
    "state",
    "traces_output_option",
    "warn",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    debug: bool = False
    quiet: bool = False


def state() -> CliState:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(CliState) if ctx is not None else None
    return obj if obj is not None else CliState()


def echo(message: str = "") -> None:
    """A result line on stdout (always printed)."""
    click.echo(message)


def info(message: str) -> None:
    """A progress / informational line on stderr (hidden by --quiet)."""
    if not state().quiet:
        click.echo(message, err=True)


def warn(message: str) -> None:
    if not state().quiet:
        click.echo(f"warning: {message}", err=True)


def project_options(func: F) -> F:
    """``--project`` and ``--root`` (the seeds' ``fluxloop/<project>`` layout)."""
    func = click.option(
        "--root",
        type=click.Path(file_okay=False),
        default=None,
        help="FluxLoop root directory holding projects (default ./fluxloop).",
    )(func)
    return click.option(
        "--project",
        default=None,
        help="Project name under the FluxLoop root, or a project directory.",
    )(func)


CONFIG_HELP = (
    "setting.yaml, a configs/*.yaml file or a project directory "
    "(default: ./setting.yaml or ./configs/)."
)


def config_option(
    *aliases: str, help: str = CONFIG_HELP, hidden: bool = False, path: bool = False
) -> Callable[[F], F]:
    """The one ``--config/-c`` declaration (``config_path``; ``aliases``: a command's older
    spellings, ``path``: a :class:`~pathlib.Path` instead of the text)."""
    return click.option(
        "--config",
        "-c",
        *aliases,
        "config_path",
        type=click.Path(path_type=Path) if path else None,
        default=None,
        hidden=hidden,
        help=help,
    )


def config_options(func: F) -> F:
    """``--config/-c`` (a FluxLoop config or project directory) plus :func:`project_options`."""
    return config_option()(project_options(func))


def multi_turn_options(func: F) -> F:
    """The original CLI's multi-turn options of ``run experiment``: tool approval, a persona
    for every conversation, and the simulated user's model (``multi_turn.supervisor.*``)."""
    for decorator in (
        click.option(
            "--supervisor-api-key",
            default=None,
            help="API key of the simulated user's model (default: environment / .env).",
        ),
        click.option(
            "--supervisor-temperature",
            type=click.FloatRange(0, 2),
            default=None,
            help="Sampling temperature of the simulated user's model.",
        ),
        click.option(
            "--supervisor-model", default=None, help="Model of the simulated user (supervisor)."
        ),
        click.option(
            "--supervisor-provider",
            default=None,
            help="Simulated user: openai, anthropic, gemini, module:factory, or mock (scripted).",
        ),
        click.option(
            "--persona-override",
            default=None,
            help="Hold every conversation as this persona (multi_turn.persona_override).",
        ),
        click.option(
            "--auto-approve-tools/--manual-approve-tools",
            "auto_approve_tools",
            default=None,
            help="Tell the agent tool calls are approved (default) or need approval "
            "(multi_turn.auto_approve_tools; passed to auto_approve / approve_tools parameters).",
        ),
    ):
        func = decorator(func)
    return func


def traces_output_option(help: str) -> Callable[[F], F]:
    """``--output DIR`` (default ``traces``): where the trace contract files are written."""
    return click.option(
        "--output",
        "output",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("traces"),
        show_default=True,
        help=help,
    )


def stderr_isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class RunDirType(click.ParamType):  # type: ignore[type-arg]  # generic only since click 8.2
    """An experiment directory argument: also ``latest`` (the newest run in ``./experiments``
    or ``DIR/latest``) and the ``experiments/latest_<name>`` links the runner keeps."""

    name = "directory"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Path:
        from fluxloop.project.status import resolve_run_dir

        return resolve_run_dir(Path(value))


RUN_DIR = RunDirType()
