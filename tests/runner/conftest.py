"""Helpers for runner tests: tiny projects in tmp dirs, driven in-process."""

from __future__ import annotations

from tests.projects import Project, project_fixture, read_jsonl

__all__ = ["Project", "project_fixture", "read_jsonl"]
