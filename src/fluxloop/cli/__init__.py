"""The ``fluxloop`` command line: a thin Click layer over :mod:`fluxloop.runner` (and the other
capabilities). One module per command group, loaded lazily, so ``fluxloop --version`` does not
import OpenTelemetry.

Errors are mapped to exit codes here and only here: a :class:`fluxloop.errors.FluxLoopError`
becomes its ``exit_code`` (2 config/usage, 1 threshold, 130 interrupted) and a one-line message
on stderr; a traceback is printed only with ``--debug``. Everything printed passes through the
SDK's masking rules (:mod:`fluxloop.cli._output`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from fluxloop.errors import FluxLoopError
from fluxloop.runner.interrupts import ignore_interrupts, take_termination

from ._common import CliState
from ._output import masked_stdio

__all__ = ["LAZY_COMMANDS", "cli", "main"]

#: command name -> "module:attribute"; modules that are not installed are simply not listed.
LAZY_COMMANDS: dict[str, str] = {
    "init": "fluxloop.cli.init:init",
    "generate": "fluxloop.cli.generate:generate",
    "run": "fluxloop.cli.run:run",
    "parse": "fluxloop.cli.parse:parse",
    "evaluate": "fluxloop.cli.evaluate:evaluate",
    "compare": "fluxloop.cli.compare:compare",
    "status": "fluxloop.cli.status:status",
    "config": "fluxloop.cli.config:config",
    "record": "fluxloop.cli.record:record",
    "collector": "fluxloop.cli.collector:collector",
    "import": "fluxloop.cli.import_otlp:import_",
    "cassette": "fluxloop.cli.cassette:cassette",
    "ui": "fluxloop.cli.ui:ui",
}


def _available(spec: str) -> bool:
    module = spec.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(name for name, spec in LAZY_COMMANDS.items() if _available(spec))
        order = list(LAZY_COMMANDS)
        return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        spec = LAZY_COMMANDS.get(cmd_name)
        if spec is None or not _available(spec):
            return None
        module_name, _, attr = spec.partition(":")
        module = importlib.import_module(module_name)
        loaded = getattr(module, attr)
        if not isinstance(loaded, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{spec} is not a click command")
        return loaded


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("fluxloop")
    except Exception:  # pragma: no cover
        return "unknown"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    _version(), "--version", "-V", prog_name="fluxloop", message="%(prog)s %(version)s"
)
@click.option(
    "--debug", is_flag=True, envvar="FLUXLOOP_CLI_DEBUG", help="Show tracebacks and debug logs."
)
@click.option("--quiet", "-q", is_flag=True, help="Only print results and errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """FluxLoop: instrument AI agents with OpenTelemetry, run experiments, gate them in CI."""
    ctx.obj = CliState(debug=debug, quiet=quiet)
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")


def _debug_requested(args: Sequence[str]) -> bool:
    if "--debug" in args:
        return True
    return os.environ.get("FLUXLOOP_CLI_DEBUG", "").lower() in ("1", "true", "yes")


def _error(message: str) -> None:
    lines = [line for line in str(message).splitlines() if line.strip()] or ["unknown error"]
    for line in lines:
        click.echo(f"error: {line}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``fluxloop``): runs the CLI and exits with its status.

    SIGTERM is handled like Ctrl-C (``KeyboardInterrupt``): an interrupted command prints
    ``error: interrupted`` or its partial results and exits 130; once it is exiting with 130,
    further signals are ignored so a second Ctrl-C cannot turn the exit into a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    with masked_stdio():
        code = _run(args)
    sys.exit(code)


def _run(args: list[str]) -> int:
    debug = _debug_requested(args)
    code: Any = 0
    take_termination()
    try:
        code = cli.main(args=args, prog_name="fluxloop", standalone_mode=False)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt
        ignore_interrupts()
        click.echo("error: interrupted", err=True)
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except FluxLoopError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        ignore_interrupts()
        click.echo("error: interrupted", err=True)
        code = 130
    except BrokenPipeError:  # pragma: no cover - e.g. `fluxloop ... | head`
        code = 0
    except Exception as exc:
        if debug:
            traceback.print_exc()
            _error(f"internal error: {type(exc).__name__}: {exc}")
        else:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            _error(
                f"internal error: {type(exc).__name__}{': ' + first if first else ''} "
                "(run with --debug for the traceback)"
            )
        code = 1
    if code is None:
        code = 0
    if not isinstance(code, int):
        code = 0
    if code == 130:
        ignore_interrupts()  # exiting as interrupted: the exit path itself must not be cut
    sys.stdout.flush()
    return int(code)
