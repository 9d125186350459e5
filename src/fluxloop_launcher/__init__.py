"""The ``fluxloop`` console script: owns SIGINT and SIGTERM before anything heavy is imported.

Importing :mod:`fluxloop.cli` imports the SDK and OpenTelemetry (a few hundred milliseconds).
A Ctrl-C or SIGTERM in that window used to print a ``KeyboardInterrupt`` traceback or kill the
process with -15; here it is one line, ``error: interrupted``, and exit status 130, like every
other interruption (SIGTERM is handled exactly like Ctrl-C). This package is deliberately
separate from :mod:`fluxloop`: a submodule of it could not run before ``fluxloop/__init__.py``.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

__all__ = ["main"]

INTERRUPTED_EXIT = 130


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM takes the Ctrl-C path: partial results, exit 130


def _exit_interrupted() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)  # a second signal cannot cut the exit short
    try:
        sys.stderr.write("error: interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(INTERRUPTED_EXIT)  # nothing was started: no atexit work to wait for


_HELD = {signal.SIGINT, signal.SIGTERM}


def main() -> None:
    """Entry point of the ``fluxloop`` command."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        # A C extension being initialised (orjson's module init segfaults) cannot take the
        # KeyboardInterrupt a signal handler raises: the signals wait, blocked, until the
        # imports are done, and are handled right after (same exit: one line, status 130).
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            from fluxloop.cli import main as cli_main
        finally:
            if hasattr(signal, "pthread_sigmask"):
                # a signal that came during the imports is taken here, not by the handler on
                # unblocking: that handler's KeyboardInterrupt can land in a callback the
                # interpreter runs (an import lock's weakref callback) and be swallowed there
                if signal.sigpending() & _HELD:
                    _exit_interrupted()
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    except KeyboardInterrupt:
        _exit_interrupted()
    try:
        cli_main()
    except KeyboardInterrupt:  # only in the few instructions before the CLI's own handling
        _exit_interrupted()
