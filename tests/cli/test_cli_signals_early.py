"""Signals at the worst moments (issue #12 point 15): SIGTERM in the first 0.3 s, Ctrl-C while
the CLI is still importing, a second Ctrl-C 50 ms after the first. Always exit 130, never a
traceback, and a valid experiment directory or none at all.

The real ``fluxloop`` console script is started (its launcher owns the signals before the SDK
is imported) and signalled at a spread of delays after that, so each window is hit on any
machine speed. (A signal while the interpreter itself starts, before any Python code runs, is
outside any program's reach.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import clean_env

AGENT = "import time\n\ndef run(input_text):\n    time.sleep(0.05)\n    return input_text\n"
SETTING = """\
name: early
runner:
  target: "agent:run"
base_inputs:
{inputs}
parallel_runs: 2
output_directory: out
"""

DELAYS = (0.0, 0.02, 0.06, 0.12, 0.2, 0.3, 0.6, 1.0)


def _console_script() -> str:
    script = Path(sys.executable).parent / "fluxloop"
    assert script.exists(), "the fluxloop console script is not installed"
    return str(script)


def _project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(AGENT)
    inputs = "\n".join(f"  - input: q{i}" for i in range(40))
    (root / "setting.yaml").write_text(SETTING.format(inputs=inputs))


def _start(root: Path) -> subprocess.Popen[str]:
    """Start the command; return once its launcher owns SIGTERM (before that the interpreter
    itself is starting up, and no Python code can handle a signal)."""
    proc = subprocess.Popen(
        [_console_script(), "run", "experiment"],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not _catches_sigterm(proc.pid):
        time.sleep(0.001)
    return proc


def _catches_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next((line for line in status.splitlines() if line.startswith("SigCgt:")), "")
    return bool(caught) and bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def _check_outcome(root: Path, proc: subprocess.Popen[str]) -> None:
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert "error: interrupted" in stderr or "resume with" in stderr, stderr
    for directory in (root / "out").glob("early_*"):
        summary = json.loads((directory / "summary.json").read_text())
        assert summary["status"] in ("interrupted", "completed"), summary["status"]
        assert (directory / "config.yaml").read_text().startswith("# FluxLoop")
        raw = (directory / "trace_summary.jsonl").read_bytes()
        assert not raw or raw.endswith(b"\n")
        assert summary["results"]["total_runs"] == raw.count(b"\n")


@pytest.mark.parametrize("delay", DELAYS)
def test_sigterm_early_exits_130_with_a_valid_directory_or_none(
    tmp_path: Path, delay: float
) -> None:
    _project(tmp_path)
    proc = _start(tmp_path)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGTERM)
    _check_outcome(tmp_path, proc)


@pytest.mark.parametrize("delay", DELAYS[:4])
def test_ctrl_c_during_imports_is_one_line(tmp_path: Path, delay: float) -> None:
    _project(tmp_path)
    proc = _start(tmp_path)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGINT)
    _check_outcome(tmp_path, proc)


@pytest.mark.parametrize("delay", DELAYS)
def test_a_second_ctrl_c_50ms_later_still_exits_130(tmp_path: Path, delay: float) -> None:
    _project(tmp_path)
    proc = _start(tmp_path)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGINT)
    time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
    _check_outcome(tmp_path, proc)
