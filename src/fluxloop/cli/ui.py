"""``fluxloop ui [PATH]``: the local viewer for experiments and traces."""

from __future__ import annotations

import webbrowser
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from fluxloop.ui import UiSettings, serve

__all__ = ["ui"]


@click.command("ui")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port (0: any free port).",
)
@click.option(
    "--token",
    envvar="FLUXLOOP_UI_TOKEN",
    default=None,
    help="Require this token on every request (generated when --host is not loopback).",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser.")
def ui(path: Path, host: str, port: int, token: str | None, no_open: bool) -> None:
    """Serve a read-only web viewer over PATH (a project, an experiment directory, or a folder
    of experiments) until Ctrl-C."""

    def ready(info: Mapping[str, Any]) -> None:
        click.echo(f"FluxLoop viewer: {info['url']} (serving {info['root']}; Ctrl-C to stop)")
        if not no_open:
            webbrowser.open(info["url"])

    serve(UiSettings(path=path, host=host, port=port, token=token), on_ready=ready)
