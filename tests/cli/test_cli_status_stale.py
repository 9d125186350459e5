"""``status experiments`` after a kill -9 counts the runs on disk (issue #12 point 17)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from .conftest import fl, popen

AGENT = "import time\n\ndef run(input_text):\n    time.sleep(0.05)\n    return input_text\n"
SETTING = """\
name: killed
runner:
  target: "agent:run"
base_inputs:
  - input: "hello"
iterations: 400
output_directory: out
"""


def test_status_counts_runs_from_the_jsonl_after_kill_9(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "setting.yaml").write_text(SETTING)
    proc = popen(["--quiet", "run", "experiment"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        lines_path = None
        while time.monotonic() < deadline:
            found = list((tmp_path / "out").glob("killed_*/trace_summary.jsonl"))
            if found and len(found[0].read_bytes().splitlines()) >= 12:
                lines_path = found[0]
                break
            time.sleep(0.02)
        assert lines_path is not None, "the experiment never got going"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    on_disk = sum(
        1 for raw in lines_path.read_bytes().splitlines(keepends=True) if raw.endswith(b"\n")
    )
    written = json.loads((lines_path.parent / "summary.json").read_text())
    assert written["status"] == "running"  # what a kill -9 leaves behind

    done = fl("status", "experiments", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (info,) = json.loads(done.stdout)
    assert info["status"] == "aborted (resumable)"
    assert info["total_runs"] == on_disk and info["planned_runs"] == 400
    assert info["successful"] == on_disk and info["failed"] == 0
