"""Seeds 002 and 003 followed verbatim: batches, the default inputs file, --limit from a recording."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import clean_env, fl, load_yaml

# seed 002, "Batch Processing", character for character
BATCHES = """\
# Generate in batches
fluxloop generate inputs --limit 100 --output inputs/batch1.yaml
fluxloop generate inputs --limit 100 --output inputs/batch2.yaml
# Run separately
fluxloop run experiment --inputs inputs/batch1.yaml --name batch1
fluxloop run experiment --inputs inputs/batch2.yaml --name batch2
"""

# seed 003, "Mode 1: Simple Functions", the configuration
MODE_1 = """\
# setting.yaml
name: simple_test

runner:
  target: "examples.simple_agent:run"
  working_directory: "."

base_inputs:
  - input: "Hello world"
  - input: "Test message"

iterations: 10
output_directory: "experiments"
"""

# seed 003, "Test with Recording", steps 1-3
WITH_RECORDING = """\
# 1. Create mock recording
cat > /tmp/test_recording.jsonl << EOF
{"_version": "1", "iteration": 0, "target": "examples.simple_agent:run", "kwargs": {"data": {"content": "test"}}, "timestamp": "2025-09-30T00:00:00"}
EOF

# 2. Generate inputs
fluxloop generate inputs \\
  --config setting.yaml \\
  --from-recording /tmp/test_recording.jsonl \\
  --limit 3

# 3. Run
fluxloop run experiment --config setting.yaml --iterations 1 --no-collector
"""


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cli = f"{sys.executable} -m fluxloop.cli"
    return subprocess.run(
        ["bash", "-e", "-c", f'fluxloop() {{ {cli} "$@"; }}\n{script}'],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def texts(path: Path) -> list[tuple[str | None, str]]:
    return [(e["persona"], e["input"]) for e in load_yaml(path)["inputs"]]


def test_seed_002_batches_differ_do_not_overlap_and_stay_reproducible(project: Path) -> None:
    done = bash(BATCHES, project)
    assert done.returncode == 0, done.stderr
    first = texts(project / "inputs" / "batch1.yaml")
    second = texts(project / "inputs" / "batch2.yaml")
    assert len(first) == len(second) == 100
    assert len(set(first)) == len(set(second)) == 100
    assert not set(first) & set(second)
    assert "continuing the sequence after the 100 input(s) already in batch1.yaml" in done.stderr
    assert load_yaml(project / "inputs" / "batch2.yaml")["generation"]["offset"] == 100
    for name in ("batch1", "batch2"):
        (exp,) = (project / "experiments").glob(f"{name}_*")
        summary = json.loads((exp / "summary.json").read_text())
        assert summary["results"]["total_runs"] == 100, name
    # the same command on the same files gives the same bytes (each file keeps its offset)
    before = {n: (project / "inputs" / n).read_bytes() for n in ("batch1.yaml", "batch2.yaml")}
    for name in ("batch1.yaml", "batch2.yaml"):
        again = fl(
            "generate", "inputs", "--limit", "100", "--output", f"inputs/{name}", cwd=project
        )
        assert again.returncode == 0, again.stderr
        assert (project / "inputs" / name).read_bytes() == before[name], name
    # an explicit --offset says so
    third = fl(
        "generate", "inputs", "--limit", "5", "--offset", "200", "-o", "inputs/b3.yaml", cwd=project
    )
    assert third.returncode == 0, third.stderr
    assert "starting at input 200 of the sequence (--offset)" in third.stderr
    assert not set(texts(project / "inputs" / "b3.yaml")) & (set(first) | set(second))


def test_seed_003_recording_in_a_mode_1_project_runs_the_generated_inputs(
    project: Path, tmp_path: Path
) -> None:
    (project / "setting.yaml").write_text(MODE_1, encoding="utf-8")
    recording = tmp_path / "test_recording.jsonl"
    done = bash(WITH_RECORDING.replace("/tmp/test_recording.jsonl", str(recording)), project)
    assert done.returncode == 0, done.stderr
    assert "Loaded 3 inputs (inputs/generated.yaml, the default --inputs)" in done.stderr
    (exp,) = (project / "experiments").glob("simple_test_*")
    lines = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    assert all(line["input"] not in {"Hello world", "Test message"} for line in lines)


def test_seed_003_limit_50_from_one_recorded_call(project: Path, tmp_path: Path) -> None:
    recording = tmp_path / "args.jsonl"
    recording.write_text(
        json.dumps(
            {
                "_version": "1",
                "iteration": 0,
                "target": "examples.simple_agent:run",
                "kwargs": {"data": {"content": "How do I reset my password?"}},
                "timestamp": "2025-09-30T00:00:00",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    args = ["generate", "inputs", "--config", "setting.yaml", "--from-recording", str(recording)]
    done = fl(*args, "--limit", "50", cwd=project)
    assert done.returncode == 0, done.stderr
    got = texts(project / "inputs" / "generated.yaml")
    assert len(got) == len(set(got)) == 50
    assert "Generated 50 input(s)" in done.stdout
    # a single strategy with little room says when it runs out
    short = fl(*args, "--limit", "400", "-s", "concise", "-o", "inputs/c.yaml", cwd=project)
    assert short.returncode == 0, short.stderr
    count = len(texts(project / "inputs" / "c.yaml"))
    assert count < 400
    assert f"ran out of distinct variations: {count} of the 400 asked for" in short.stderr
