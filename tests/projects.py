"""A tiny FluxLoop project in a temporary directory, run in-process (runner and replay tests)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import fluxloop
from fluxloop.project.config import ExperimentConfig, load_config
from fluxloop.runner.engine import ExperimentOutcome, RunOptions, run_experiment


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def agent(self, code: str, module: str | None = None) -> str:
        """Write a module with ``code``; returns its (unique) module name."""
        name = module or f"agent_{uuid.uuid4().hex[:10]}"
        path = self.root / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(code), encoding="utf-8")
        self.modules.append(name.split(".")[0])
        return name

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def config(self, data: dict[str, Any] | str, name: str = "setting.yaml") -> Path:
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        return self.write(name, text)

    def load(self, name: str = "setting.yaml", **kw: Any) -> ExperimentConfig:
        return load_config(self.root / name, **kw)

    def run(self, config: ExperimentConfig | None = None, **options: Any) -> ExperimentOutcome:
        return run_experiment(config or self.load(), RunOptions(**options))

    def recording(self, relpath: str, *calls: dict[str, Any]) -> Path:
        """A recording file in the SDK's format with one line per call."""
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

    def forget_modules(self) -> None:
        """Unload the agent modules this project wrote (the next test may reuse names)."""
        for name in list(sys.modules):
            if name.split(".")[0] in self.modules:
                del sys.modules[name]


def project_in(root: Path) -> Iterator[Project]:
    """The body of a ``project`` fixture: a project in ``root`` (the cwd), cleaned up after."""
    proj = Project(root)
    yield proj
    proj.forget_modules()
    fluxloop.reset_config()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(name="project")
def project_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A tiny project in ``tmp_path`` (also the working directory), driven in-process."""
    monkeypatch.chdir(tmp_path)
    yield from project_in(tmp_path)
