"""Helpers for runner tests: tiny projects in tmp dirs, driven in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.projects import Project, project_in, read_jsonl

__all__ = ["Project", "read_jsonl"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    yield from project_in(tmp_path)
