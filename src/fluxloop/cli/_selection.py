"""The options that choose runs in a collector / import directory of traces (production data):
``--group-by``, ``--since``, ``--until``, ``--service``; shared by parse, evaluate and compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from fluxloop.analysis.traces_dir import Selection

__all__ = ["selection_from", "selection_options"]

F = TypeVar("F", bound=Callable[..., Any])


def selection_options(func: F) -> F:
    """Add the four options (each passed to the command as a keyword argument)."""
    options = [
        click.option(
            "--group-by",
            type=click.Choice(["trace", "session"]),
            default="trace",
            show_default=True,
            help="Directory of traces only: one run per root trace, or per session "
            "(a conversation of its traces).",
        ),
        click.option(
            "--since",
            default=None,
            metavar="WHEN",
            help="Directory of traces only: traces that started at or after WHEN "
            "(ISO-8601 date/time, or 30m, 24h, 7d back from now).",
        ),
        click.option(
            "--until",
            default=None,
            metavar="WHEN",
            help="Directory of traces only: traces that started before WHEN.",
        ),
        click.option(
            "--service",
            default=None,
            metavar="NAME",
            help="Directory of traces only: traces whose resource service.name is NAME.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def selection_from(
    group_by: str, since: str | None, until: str | None, service: str | None
) -> Selection | None:
    """The library's :class:`~fluxloop.analysis.traces_dir.Selection` (None when nothing is
    chosen); bad values raise InputError (exit 2)."""
    from fluxloop.analysis.traces_dir import Selection, parse_when

    if group_by == "trace" and since is None and until is None and service is None:
        return None
    return Selection(
        group_by=group_by,
        since=parse_when(since, "--since") if since is not None else None,
        until=parse_when(until, "--until") if until is not None else None,
        service=service,
    )
