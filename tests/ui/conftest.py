"""Fixtures for the viewer: a project with two evaluated experiments (made by the real CLI, once
per session) and ``fluxloop ui`` itself, started as a subprocess on 127.0.0.1 and stopped after."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.conftest import build_original, write_project
from tests.cli_process import clean_env, fl, fluxloop_cmd

CHAT_AGENT = """
import fluxloop


@fluxloop.tool(description="Look up the refund policy")
def policy(topic: str) -> str:
    return "30 days"


@fluxloop.agent(name="ChatAgent")
def chat(message: str, messages: list) -> str:
    if "refund" in message.lower():
        return "Refunds within " + policy("refund")
    return f"reply to {message!r} after {len(messages)} message(s)"
"""

CHAT_SETTING = """
name: chat
runner:
  target: agent_chat:chat
base_inputs:
  - input: Hi, I need help
multi_turn:
  enabled: true
  max_turns: 3
  supervisor:
    provider: script
    script: ["Do you offer refunds?", "Thanks"]
output_directory: experiments
"""


def _new_run(root: Path, before: set[Path], prefix: str) -> Path:
    """The experiment directory a run just made, renamed ``{prefix}_<dir>`` (ids sort by
    prefix), its ``latest_<name>`` link pointed at the new name."""
    new = set((root / "experiments").glob("*")) - before
    (created,) = [p for p in new if not p.is_symlink()]
    target = created.rename(created.with_name(f"{prefix}_{created.name}"))
    for link in (root / "experiments").glob("latest_*"):
        if link.is_symlink() and not link.exists():
            link.unlink()
            link.symlink_to(target.name)
    return target


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
        target = _new_run(root, before, name)
        proc = fl("evaluate", "experiment", str(target), cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        dirs[name] = target
    (root / "agent_chat.py").write_text(CHAT_AGENT, encoding="utf-8")
    (root / "setting_chat.yaml").write_text(CHAT_SETTING, encoding="utf-8")
    before = set((root / "experiments").glob("*"))
    proc = fl("run", "experiment", "--config", "setting_chat.yaml", cwd=root)
    assert proc.returncode == 0, proc.stderr
    dirs["chat"] = _new_run(root, before, "chat")
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


def settled(viewer: Viewer, path: str, until: Any = None, timeout: float = 60) -> Any:
    """GET ``path`` until the run table is built (no ``loading`` flag) and ``until(body)``."""
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = viewer.get(path)
        assert status == 200, body
        done = not body.get("loading") and (until is None or until(body))
        if done or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


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
    shutil.copytree(ui_project["root"], target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def viewer(served: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    running = start_viewer(served, tmp_path_factory.mktemp("state"))
    try:
        yield running
    finally:
        stop_viewer(running)


def experiment_ids(viewer: Viewer) -> dict[str, str]:
    """'a', 'b', 'c' (the multi-turn one), 'original' -> the experiment's id in URLs."""
    status, data, _ = viewer.get("/api/experiments")
    assert status == 200
    out = {}
    for row in data["experiments"]:
        name = row["dir"]
        out["original" if name == "original_run" else name[0]] = row["id"]
    return out
