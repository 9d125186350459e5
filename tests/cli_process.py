"""The real ``fluxloop`` command in subprocesses, isolated from the developer's environment.

Shared by the CLI, generation and analysis tests (and anything else that drives the CLI), with
:func:`python` for a program run in a process of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

#: variables that would leak the developer's setup (keys, collectors, OTel config) into a test
ISOLATED_ENV_PREFIXES = ("FLUXLOOP_", "OTEL_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment minus anything FluxLoop or an LLM SDK would read, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_ENV_PREFIXES)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


def fluxloop_cmd() -> list[str]:
    return [sys.executable, "-m", "fluxloop.cli"]


def fl(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``fluxloop ARGS`` in ``cwd`` and wait for it."""
    return subprocess.run(
        [*fluxloop_cmd(), *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin if stdin is not None else "",
    )


def python(
    source: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the Python program ``source`` (dedented) as ``cwd/app.py``, in ``cwd``, and wait."""
    script = cwd / "app.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def popen(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``fluxloop ARGS`` in its own session (so tests can signal it)."""
    return subprocess.Popen(
        [*fluxloop_cmd(), *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
