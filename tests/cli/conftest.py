"""Helpers for CLI tests: the real ``fluxloop`` command in subprocesses, on real projects."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

ISOLATED_ENV_PREFIXES = ("FLUXLOOP_", "OTEL_", "OPENAI_", "ANTHROPIC_", "GEMINI_")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
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
    timeout: float = 60,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fluxloop_cmd(), *args],
        cwd=cwd,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin if stdin is not None else "",
    )


def popen(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*fluxloop_cmd(), *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def initialized(tmp_path: Path) -> Path:
    """A project made by `fluxloop init project --name my-agent`; returns its directory."""
    done = fl("init", "project", "--name", "my-agent", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "fluxloop" / "my-agent"
