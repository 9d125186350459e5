"""A write that fails mid-experiment (issue #12 point 11): one line, exit 2 (or 1), whole lines
only, summary.json "aborted" with the true counts, and ``--resume`` completes.

The disk is made "full" for the child process with a real kernel limit (RLIMIT_FSIZE: any write
past 200 KB fails with EFBIG, as ENOSPC would), so the failure comes from the real write path.
"""

from __future__ import annotations

import json
import resource
import subprocess
from pathlib import Path

from .conftest import clean_env, fl, fluxloop_cmd

AGENT = """\
def run(input_text):
    if input_text == "fail":
        raise RuntimeError("boom")
    return input_text + "x" * 30_000
"""

SETTING = """\
name: disk
runner:
  target: "agent:run"
base_inputs:
{inputs}
iterations: 10
output_directory: out
"""


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def _project(tmp_path: Path, inputs: list[str]) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    listed = "\n".join(f"  - input: {text!r}" for text in inputs)
    (tmp_path / "setting.yaml").write_text(SETTING.format(inputs=listed))


def _run_limited(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fluxloop_cmd(), "--quiet", "run", "experiment"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_file_size,
        check=False,
    )


def _jsonl(path: Path) -> list[dict[str, object]]:
    raw = path.read_bytes()
    assert not raw or raw.endswith(b"\n"), f"torn last line in {path.name}"
    return [json.loads(line) for line in raw.splitlines()]


def test_a_full_disk_aborts_resumably(tmp_path: Path) -> None:
    _project(tmp_path, ["hello"])
    done = _run_limited(tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: cannot write out/disk_") and "File too large" in line
    assert "resume with: fluxloop run experiment --resume" in line
    (directory,) = (tmp_path / "out").glob("disk_*[0-9]")
    summary = json.loads((directory / "summary.json").read_text())
    recorded = _jsonl(directory / "trace_summary.jsonl")
    assert summary["status"] == "aborted" and summary["resumable"] is True
    assert "File too large" in summary["error"]
    assert 0 < summary["results"]["total_runs"] == len(recorded) < 10
    traces = _jsonl(directory / "traces.jsonl")
    assert {t["id"] for t in traces} == {r["trace_id"] for r in recorded}  # nothing orphaned
    _jsonl(directory / "observations.jsonl")

    resumed = fl("--quiet", "run", "experiment", "--resume", str(directory), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["results"]["total_runs"] == 10
    assert len(_jsonl(directory / "trace_summary.jsonl")) == 10


def test_a_full_disk_after_a_failed_gate_exits_1(tmp_path: Path) -> None:
    _project(tmp_path, ["fail", "hello"])
    done = _run_limited(tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    (line,) = done.stderr.splitlines()
    assert "File too large" in line and "aborted after" in line


def test_output_directory_that_is_a_file(tmp_path: Path) -> None:
    _project(tmp_path, ["hello"])
    (tmp_path / "out").write_text("not a directory\n")
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: output_directory: out cannot be created: out is a file, expected a directory"
    ]
