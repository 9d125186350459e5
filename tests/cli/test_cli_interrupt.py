"""Ctrl-C / SIGTERM / kill -9 leave a valid, resumable experiment directory."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from .conftest import fl, popen

AGENT = """\
import asyncio
import time


async def arun(input_text):
    await asyncio.sleep(0.1)
    return "a:" + input_text


def srun(input_text):
    time.sleep(0.1)
    return "s:" + input_text


async def hang(input_text):
    await asyncio.sleep(60)
"""


def make_project(root: Path, target: str, runs: int = 30, parallel: int = 2) -> None:
    (root / "agent.py").write_text(AGENT)
    inputs = "\n".join(f'  - input: "q{i}"' for i in range(runs))
    (root / "setting.yaml").write_text(
        f'name: slow\nrunner:\n  target: "agent:{target}"\nbase_inputs:\n{inputs}\n'
        f"parallel_runs: {parallel}\noutput_directory: out\n"
    )


def wait_for_lines(root: Path, count: int, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for exp in (root / "out").glob("slow_*"):
            path = exp / "trace_summary.jsonl"
            if path.exists() and path.read_bytes().count(b"\n") >= count:
                return exp
        time.sleep(0.02)
    raise AssertionError("the experiment did not make progress")


def check_valid(exp: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    summary = json.loads((exp / "summary.json").read_text())
    raw = (exp / "trace_summary.jsonl").read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1] if b"\n" in raw else b""
    lines = [json.loads(line) for line in complete.splitlines()]
    for name in ("traces.jsonl", "observations.jsonl"):
        data = (exp / name).read_bytes()
        whole = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
        for line in whole.splitlines():
            json.loads(line)
    return summary, lines


@pytest.mark.parametrize(("target", "signum"), [("arun", signal.SIGINT), ("srun", signal.SIGTERM)])
def test_signal_stops_with_partial_summary_and_exit_130(
    tmp_path: Path, target: str, signum: int
) -> None:
    make_project(tmp_path, target)
    proc = popen(["run", "experiment"], cwd=tmp_path)
    exp = wait_for_lines(tmp_path, 4)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert "resume with: fluxloop run experiment --resume" in stderr
    summary, lines = check_valid(exp)
    assert summary["status"] == "interrupted"
    results = summary["results"]
    assert isinstance(results, dict)
    assert results["total_runs"] == len(lines) < 30
    assert results["remaining_runs"] == 30 - len(lines)
    # resume finishes the job without duplicates
    done = fl("run", "experiment", "--resume", str(exp), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary, lines = check_valid(exp)
    assert summary["status"] == "completed"
    keys = [line["run_key"] for line in lines]
    assert len(keys) == len(set(keys)) == 30
    assert sorted(str(line["input"]) for line in lines) == sorted(f"q{i}" for i in range(30))


def test_grace_period_then_cancel(tmp_path: Path) -> None:
    make_project(tmp_path, "hang", runs=4)
    proc = popen(["run", "experiment", "--grace-period", "0.3"], cwd=tmp_path)
    deadline = time.monotonic() + 20
    summary_path = None
    while time.monotonic() < deadline and summary_path is None:
        summary_path = next((p for p in (tmp_path / "out").glob("slow_*/summary.json")), None)
        time.sleep(0.05)
    assert summary_path is not None
    time.sleep(0.3)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert time.monotonic() - start < 5
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "interrupted"
    assert summary["results"]["total_runs"] == 0


def test_kill_9_leaves_a_valid_resumable_directory(tmp_path: Path) -> None:
    make_project(tmp_path, "arun", runs=30, parallel=2)
    proc = popen(["run", "experiment", "--iterations", "2"], cwd=tmp_path)
    exp = wait_for_lines(tmp_path, 6)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    summary, lines = check_valid(exp)
    assert summary["status"] == "running"
    assert len(lines) >= 6
    status = fl("status", "experiments", cwd=tmp_path)
    assert "aborted (resumable)" in status.stdout
    # resume without repeating options: config and --iterations come from the directory
    done = fl("run", "experiment", "--resume", str(exp), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary, lines = check_valid(exp)
    assert summary["status"] == "completed"
    assert len(lines) == 60
    assert len({line["run_key"] for line in lines}) == 60
    traces = [json.loads(x) for x in (exp / "traces.jsonl").read_text().splitlines()]
    assert sorted(t["id"] for t in traces) == sorted(str(line["trace_id"]) for line in lines)
    assert len(summary["sessions"]) == 2  # type: ignore[arg-type]


def test_no_new_run_starts_after_the_signal(tmp_path: Path) -> None:
    """A run that ends in the same loop iteration as the signal must not let the next one start."""
    (tmp_path / "sigagent.py").write_text(
        "import os, signal\n"
        "def run(input_text: str) -> str:\n"
        "    if input_text == 'first':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return input_text\n"
    )
    (tmp_path / "setting.yaml").write_text(
        "name: sig\nrunner:\n  target: sigagent:run\n"
        "base_inputs:\n  - input: first\n  - input: second\n  - input: third\niterations: 1\n"
    )
    for _ in range(3):
        done = fl("run", "experiment", "--grace-period", "2", cwd=tmp_path)
        assert done.returncode == 130, done.stderr
        latest = sorted((tmp_path / "experiments").glob("sig_*"))[-1]
        lines = (latest / "trace_summary.jsonl").read_text().splitlines()
        assert [json.loads(x)["input"] for x in lines] == ["first"]
        time.sleep(1.1)  # a new experiment directory name each time
