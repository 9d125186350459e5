"""Fixtures for recording tests: a clean SDK (no spans written) in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fluxloop
from fluxloop.sdk import _recording
from tests.projects import Project, project_in, read_jsonl

RECORDING_ENV = (
    "FLUXLOOP_RECORD_ARGS",
    "FLUXLOOP_RECORDING_FILE",
    "FLUXLOOP_ENABLED",
    "FLUXLOOP_STORAGE",
    "OTEL_SDK_DISABLED",
)
__all__ = ["RECORDING_ENV", "Project", "read_lines", "run_lines"]


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


read_lines = read_jsonl


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    fluxloop.reset_config()
    _recording._reset_state()
    yield from project_in(tmp_path)
    _recording._reset_state()


def run_lines(outcome: Any) -> list[dict[str, Any]]:
    lines = read_lines(outcome.directory / "trace_summary.jsonl")
    return sorted(lines, key=lambda line: (line["iteration"], line["input_index"]))
