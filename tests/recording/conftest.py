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


class Project:
    """A tiny project in a temporary directory, run in-process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def agent(self, code: str, module: str | None = None) -> str:
        """Write a module with ``code``; returns its (unique) module name."""
        import textwrap
        import uuid

        name = module or f"replay_agent_{uuid.uuid4().hex[:10]}"
        path = self.root / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        self.modules.append(name.split(".")[0])
        return name

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def recording(self, relpath: str, *calls: dict[str, Any]) -> Path:
        lines = [
            json.dumps(
                {
                    "_version": "1",
                    "iteration": i,
                    "target": call.pop("target", None),
                    "kwargs": call["kwargs"] if "kwargs" in call else call,
                    "timestamp": "2025-09-30T00:00:00",
                }
            )
            for i, call in enumerate(dict(c) for c in calls)
        ]
        return self.write(relpath, "\n".join(lines) + "\n")

    def config(self, data: dict[str, Any], name: str = "setting.yaml") -> Path:
        import yaml

        return self.write(name, yaml.safe_dump(data, sort_keys=False))

    def run(self, name: str = "setting.yaml", **options: Any) -> Any:
        from fluxloop.runner.config import load_config
        from fluxloop.runner.engine import RunOptions, run_experiment

        return run_experiment(load_config(self.root / name), RunOptions(**options))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    import sys

    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    fluxloop.reset_config()
    _recording._reset_state()
    proj = Project(tmp_path)
    yield proj
    for name in list(sys.modules):
        if name.split(".")[0] in proj.modules:
            del sys.modules[name]
    fluxloop.reset_config()
    _recording._reset_state()


def run_lines(outcome: Any) -> list[dict[str, Any]]:
    lines = read_lines(outcome.directory / "trace_summary.jsonl")
    return sorted(lines, key=lambda line: (line["iteration"], line["input_index"]))
