"""``fluxloop cassette ls|show|prune`` and the ``--cassette`` options of the model-calling
commands (run, generate, evaluate)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fluxloop.cassette import MODES, TIMINGS, resolve_settings
from fluxloop.cassette.listing import find_cassette, list_cassettes, prune_cassette, show_lines

from ._common import echo

__all__ = ["cassette", "cassette_options"]

F = TypeVar("F", bound=Callable[..., Any])


def cassette_options(func: F) -> F:
    """``--cassette record|replay|auto|off`` and ``--cassette-timing instant|recorded``."""
    func = click.option(
        "--cassette-timing",
        "cassette_timing",
        type=click.Choice(TIMINGS),
        default=None,
        help="Replay instantly (default) or with the recorded latency of each call.",
    )(func)
    return click.option(
        "--cassette",
        "cassette",
        type=click.Choice(MODES),
        default=None,
        help="Record model calls, replay them (strict, offline), auto (replay what is "
        "recorded, record the rest) or off (default: FLUXLOOP_CASSETTE, cassette.mode, off).",
    )(func)


def _directory(directory: Path | None) -> Path:
    return directory if directory is not None else resolve_settings(mode="off").directory


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cassette directory (default: FLUXLOOP_CASSETTE_DIR, ./cassettes).",
)


@click.group()
def cassette() -> None:
    """Inspect and tidy model-call cassettes."""


@cassette.command("ls")
@_dir_option
def ls(directory: Path | None) -> None:
    """List the cassettes: calls, runs, target, last update."""
    where = _directory(directory)
    infos = list_cassettes(where)
    if not infos:
        echo(f"no cassettes in {where}")
        return
    for info in infos:
        echo(info.line())


@cassette.command("show")
@click.argument("name")
@click.option("--run", "run", default=None, help="Only the entries of runs containing this key.")
@_dir_option
def show(name: str, run: str | None, directory: Path | None) -> None:
    """Print a cassette's entries (NAME: an experiment name or a file)."""
    for line in show_lines(find_cassette(_directory(directory), name), run):
        echo(line)


@cassette.command("prune")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Only say how many entries would go.")
@_dir_option
def prune(name: str, dry_run: bool, directory: Path | None) -> None:
    """Drop the entries no run used in the last replay (NAME: an experiment name or a file)."""
    path = find_cassette(_directory(directory), name)
    count, known = prune_cassette(path, dry_run=dry_run)
    if not known:
        echo(f"{path}: no replay has used this cassette yet; nothing to prune")
    elif dry_run:
        echo(f"{path}: {count} unused entr{'y' if count == 1 else 'ies'} would be removed")
    else:
        echo(f"{path}: removed {count} unused entr{'y' if count == 1 else 'ies'}")
