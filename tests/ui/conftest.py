"""Fixtures for the viewer: a project with two evaluated experiments (made by the real CLI, once
per session) and ``fluxloop ui`` itself, started as a subprocess on 127.0.0.1 and stopped after."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.conftest import build_original, write_project
from tests.cli_process import clean_env, fl, fluxloop_cmd


@pytest.fixture(scope="session")
def ui_project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """experiments/ holding A (baseline) and B (candidate: 'hello' regressed), both evaluated,
    and an experiment directory in the original FluxLoop's format."""
    root = tmp_path_factory.mktemp("uiproject")
    write_project(root)
    dirs: dict[str, Path] = {"root": root}
    for name in ("a", "b"):
        before = set((root / "experiments").glob("*")) if (root / "experiments").exists() else set()
        proc = fl("run", "experiment", "--config", f"setting_{name}.yaml", cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        (created,) = set((root / "experiments").glob("*")) - before
        target = created.with_name(f"{name}_{created.name}")  # a_… sorts before b_…
        created.rename(target)
        proc = fl("evaluate", "experiment", str(target), cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        dirs[name] = target
    build_original(root / "experiments" / "original_run")
    dirs["original"] = root / "experiments" / "original_run"
    return dirs


@dataclass
class Viewer:
    url: str
    root: Path
    state: Path
    proc: subprocess.Popen[str]

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        """(status, parsed JSON or text, response headers)."""
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body, head = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, body, head = exc.code, exc.read(), exc.headers
        text = body.decode("utf-8")
        try:
            return status, json.loads(text), head
        except ValueError:
            return status, text, head


def start_viewer(root: Path, state: Path, *args: str) -> Viewer:
    """``fluxloop ui ROOT --port 0 --no-open ARGS`` until its URL is printed."""
    state.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [*fluxloop_cmd(), "ui", str(root), "--port", "0", "--no-open", *args],
        cwd=root,
        env=clean_env({"XDG_STATE_HOME": str(state)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
    if match is None:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"fluxloop ui did not start: {line!r} {err}")
    return Viewer(match.group(1), root, state, proc)


def stop_viewer(viewer: Viewer) -> str:
    """SIGTERM, wait; returns what it wrote on stderr."""
    viewer.proc.send_signal(signal.SIGINT)
    try:
        _, err = viewer.proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        viewer.proc.kill()
        _, err = viewer.proc.communicate(timeout=10)
    return err


@pytest.fixture(scope="module")
def served(ui_project: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the project for one test module (tests may damage it)."""
    target = tmp_path_factory.mktemp("served") / "project"
    shutil.copytree(ui_project["root"], target)
    return target


@pytest.fixture(scope="module")
def viewer(served: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    running = start_viewer(served, tmp_path_factory.mktemp("state"))
    try:
        yield running
    finally:
        stop_viewer(running)


def experiment_ids(viewer: Viewer) -> dict[str, str]:
    """'a', 'b', 'original' -> the experiment's id in URLs."""
    status, data, _ = viewer.get("/api/experiments")
    assert status == 200
    out = {}
    for row in data["experiments"]:
        name = row["dir"]
        out["original" if name == "original_run" else name[0]] = row["id"]
    return out
