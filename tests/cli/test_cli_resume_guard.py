"""``--resume`` touches only directories FluxLoop wrote, and never deletes a line (issue #12
point 12): unparseable lines move to ``<file>.corrupt``, records of unfinished runs to
``<file>.unfinished``."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import fl

AGENT = "def run(input_text):\n    return input_text.upper()\n"
SETTING = """\
name: guard
runner:
  target: "agent:run"
base_inputs:
  - input: "a"
  - input: "b"
  - input: "c"
output_directory: out
"""


def _project(tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "setting.yaml").write_text(SETTING)


def test_a_directory_fluxloop_did_not_write_is_refused_untouched(tmp_path: Path) -> None:
    _project(tmp_path)
    fake = tmp_path / "lookalike"
    fake.mkdir()
    files = {
        "summary.json": b'{"name": "x", "status": "running"}\n',
        "trace_summary.jsonl": b'{"trace_id": "t1", "success": true}\nnot json at all\n',
        "traces.jsonl": b'{"id": "other"}\n',
        "observations.jsonl": b"garbage\n",
    }
    for name, data in files.items():
        (fake / name).write_bytes(data)
    done = fl("run", "experiment", "--resume", str(fake), cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: --resume: lookalike was not written by FluxLoop")
    assert {p.name: p.read_bytes() for p in fake.iterdir()} == files


def test_resume_sets_lines_aside_and_never_deletes_one(tmp_path: Path) -> None:
    _project(tmp_path)
    first = fl("--quiet", "run", "experiment", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (directory,) = (tmp_path / "out").glob("guard_*[0-9]")
    summary_json = json.loads((directory / "summary.json").read_text())
    assert summary_json["written_by"] == "fluxloop"
    ts = directory / "trace_summary.jsonl"
    kept, lost = ts.read_text().splitlines()[:2], ts.read_text().splitlines()[2]
    # a crash: the last run lost its summary line; a corrupt line and a torn one remain
    ts.write_text("\n".join(kept) + "\n{not json\n" + '{"trace_id": "torn", "ru')
    before = set((directory / "observations.jsonl").read_text().splitlines())

    done = fl("run", "experiment", "--resume", str(directory), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "moved a torn last line and 1 unparseable line(s) to trace_summary.jsonl.corrupt" in (
        done.stderr
    )
    corrupt = (directory / "trace_summary.jsonl.corrupt").read_text().splitlines()
    assert corrupt == ["{not json", '{"trace_id": "torn", "ru']
    lost_trace = json.loads(lost)["trace_id"]
    unfinished = (directory / "observations.jsonl.unfinished").read_text().splitlines()
    assert unfinished and all(json.loads(x)["trace_id"] == lost_trace for x in unfinished)
    after = set((directory / "observations.jsonl").read_text().splitlines())
    assert before <= after | set(unfinished)  # every line is somewhere
    assert len(ts.read_text().splitlines()) == 3
