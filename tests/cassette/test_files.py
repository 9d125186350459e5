"""Cassette files: bad input is one line and exit 2 before any run; a kill -9 while recording
leaves the previous cassette whole; ``fluxloop cassette ls|show|prune``. Real CLI subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from fluxloop.cassette import CassetteError, read_cassette
from tests.cli_process import clean_env, fl, fluxloop_cmd

AGENT = """
import os
import time

from langchain_core.language_models.fake_chat_models import FakeListChatModel

MODEL = FakeListChatModel(responses=[f"answer {i}" for i in range(100)])


def run(input):
    time.sleep(float(os.environ.get("AGENT_SLEEP", "0")))
    return MODEL.invoke(f"question: {input}").content
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agent.py").write_text(AGENT, encoding="utf-8")
    config = {
        "name": "files",
        "runner": {"target": "agent:run"},
        "base_inputs": [{"input": f"q{i}"} for i in range(4)],
        "output_directory": "out",
    }
    (tmp_path / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return tmp_path


def _record(project: Path) -> Path:
    proc = fl("run", "experiment", "--cassette", "record", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return project / "cassettes" / "files.jsonl"


def test_bad_cassettes_are_one_line_and_exit_2_before_any_run(project: Path) -> None:
    cassette = _record(project)
    good = cassette.read_text(encoding="utf-8")
    lines = good.splitlines(keepends=True)
    header = json.loads(lines[0])
    cases = {
        "corrupt": (
            lines[0] + lines[1][:40] + "\n" + "".join(lines[2:]),
            "files.jsonl:2: corrupt cassette line",
        ),
        "truncated": (good[:-25], "truncated cassette line"),
        "version": (
            json.dumps({**header, "fluxloop_cassette": 99}) + "\n" + "".join(lines[1:]),
            "files.jsonl:1: unknown cassette version 99",
        ),
        "target": (
            json.dumps({**header, "target": "other:agent"}) + "\n" + "".join(lines[1:]),
            "cassette recorded for target 'other:agent', this run calls 'agent:run'",
        ),
    }
    for name, (text, expected) in cases.items():
        cassette.write_text(text, encoding="utf-8")
        proc = fl(
            "run", "experiment", "--cassette", "replay", "--output-dir", f"out/{name}", cwd=project
        )
        assert proc.returncode == 2, (name, proc.stderr)
        errors = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and expected in errors[0], (name, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not (project / "out" / name).exists()  # nothing ran, nothing was written
        if name != "target":
            with pytest.raises(CassetteError):
                read_cassette(cassette)


def test_kill_9_while_recording_leaves_the_previous_cassette_whole(project: Path) -> None:
    cassette = _record(project)
    before = cassette.read_text(encoding="utf-8").splitlines()
    config = yaml.safe_load((project / "setting.yaml").read_text())
    config["base_inputs"] = [{"input": f"q{i}"} for i in range(40)]  # 36 runs to record
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = subprocess.Popen(
        [*fluxloop_cmd(), "run", "experiment", "--cassette", "auto"],
        cwd=project,
        env=clean_env({"AGENT_SLEEP": "0.1"}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        # wait until at least one save of new calls happened, then kill mid-run
        while time.monotonic() < deadline and len(cassette.read_text().splitlines()) == len(before):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    header, _ = read_cassette(cassette)  # whole: parses, every line complete
    after = cassette.read_text(encoding="utf-8").splitlines()
    assert set(before[1:]) <= set(after[1:])  # the previous calls are all there
    assert len(before) < len(after) < 41  # some new calls, appended whole, not all of them
    assert header["name"] == "files"


def test_cassette_ls_show_prune(project: Path) -> None:
    cassette = _record(project)
    proc = fl("cassette", "ls", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "files: 4 call(s) in 4 run(s) (run 4); target agent:run" in proc.stdout
    proc = fl("cassette", "show", "files", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout.count("langchain  fake-list-chat-model") == 4
    assert "question: q0" in proc.stdout
    # replay only half the inputs: the other runs' entries were not used
    config = yaml.safe_load((project / "setting.yaml").read_text())
    config["base_inputs"] = config["base_inputs"][:2]
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = fl("run", "experiment", "--cassette", "replay", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "2 unused in the last replay" in fl("cassette", "ls", cwd=project).stdout
    proc = fl("cassette", "prune", "files", "--dry-run", cwd=project)
    assert "2 unused entries would be removed" in proc.stdout
    assert len(read_cassette(cassette)[1]) == 4
    proc = fl("cassette", "prune", "files", cwd=project)
    assert proc.returncode == 0 and "removed 2 unused entries" in proc.stdout
    assert len(read_cassette(cassette)[1]) == 2
    proc = fl("cassette", "show", "nope", cwd=project)
    assert proc.returncode == 2 and "no cassette 'nope'" in proc.stderr


def test_run_single_replays_the_experiment_run_with_the_same_key(project: Path) -> None:
    _record(project)  # q0..q3 got answers 0..3 from the module's one fake model
    proc = fl(
        "run",
        "single",
        "agent:run",
        "q2",
        "--config",
        "setting.yaml",
        "--cassette",
        "replay",
        cwd=project,
    )
    assert proc.returncode == 0, proc.stderr
    # live, a fresh process would answer "answer 0"; the recording of run q2 says "answer 2"
    assert "Output: answer 2" in proc.stdout
    miss = fl(
        "run",
        "single",
        "agent:run",
        "q9",
        "--config",
        "setting.yaml",
        "--cassette",
        "replay",
        cwd=project,
    )
    assert miss.returncode == 1
    assert "CassetteMiss: cassette" in miss.stdout and "'question: q9'" in miss.stdout
    assert "re-record with --cassette auto" in miss.stdout


def test_bad_mode_in_config_or_environment_is_one_line_exit_2(project: Path) -> None:
    proc = fl("run", "experiment", cwd=project, env={"FLUXLOOP_CASSETTE": "sometimes"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: FLUXLOOP_CASSETTE: expected one of record, replay, auto, off, found 'sometimes'"
    ]
    config = yaml.safe_load((project / "setting.yaml").read_text())
    config["cassette"] = {"mode": "always", "dir": "tapes"}
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    proc = fl("run", "experiment", cwd=project)
    assert proc.returncode == 2
    assert "setting.yaml" in proc.stderr and "cassette.mode" in proc.stderr
    assert not (project / "out").exists()
    # a valid section: mode and dir from the config
    config["cassette"] = {"mode": "record", "dir": "tapes"}
    (project / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert fl("run", "experiment", cwd=project).returncode == 0
    assert len((project / "tapes" / "files.jsonl").read_text().splitlines()) == 5
