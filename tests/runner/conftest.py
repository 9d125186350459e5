"""Helpers for runner tests: tiny projects in tmp dirs, driven in-process."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import fluxloop
from fluxloop.runner.config import ExperimentConfig, load_config
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
        cfg = config or self.load()
        opts = RunOptions(**options)
        return run_experiment(cfg, opts)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    monkeypatch.chdir(tmp_path)
    proj = Project(tmp_path)
    yield proj
    for name in list(sys.modules):
        if name.split(".")[0] in proj.modules:
            del sys.modules[name]
    fluxloop.reset_config()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
