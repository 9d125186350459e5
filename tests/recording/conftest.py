"""Fixtures for recording tests: a clean SDK (no spans written) in a temporary directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fluxloop
from fluxloop.sdk import _recording

RECORDING_ENV = (
    "FLUXLOOP_RECORD_ARGS",
    "FLUXLOOP_RECORDING_FILE",
    "FLUXLOOP_ENABLED",
    "FLUXLOOP_STORAGE",
    "OTEL_SDK_DISABLED",
)


@pytest.fixture
def clean_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A reset SDK with ``storage="none"``, cwd = ``tmp_path``, no recording variables."""
    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    fluxloop.reset_config()
    _recording._reset_state()
    fluxloop.configure(storage="none")
    yield tmp_path
    fluxloop.reset_config()
    _recording._reset_state()


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
