"""Helpers: the real ``fluxloop`` CLI in subprocesses, on projects made by ``init project``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_process import ISOLATED_ENV_PREFIXES, clean_env, fl

__all__ = ["ISOLATED_ENV_PREFIXES", "clean_env", "fl"]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def edit_yaml(path: Path, **changes: Any) -> None:
    data = load_yaml(path) or {}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``fluxloop init project --name my-agent`` (single setting.yaml layout)."""
    done = fl("init", "project", "--name", "my-agent", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "fluxloop" / "my-agent"


@pytest.fixture
def configs_project(tmp_path: Path) -> Path:
    """``fluxloop init project --name my-agent --layout configs``."""
    done = fl("init", "project", "--name", "my-agent", "--layout", "configs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path / "fluxloop" / "my-agent"
