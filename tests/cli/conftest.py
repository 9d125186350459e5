"""Helpers for CLI tests: the real ``fluxloop`` command in subprocesses, on real projects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_process import ISOLATED_ENV_PREFIXES, clean_env, fl, fluxloop_cmd, popen

__all__ = ["ISOLATED_ENV_PREFIXES", "clean_env", "fl", "fluxloop_cmd", "popen"]


@pytest.fixture
def initialized(tmp_path: Path) -> Path:
    """A project made by `fluxloop init project --name my-agent`; returns its directory."""
    done = fl("init", "project", "--name", "my-agent", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "fluxloop" / "my-agent"
