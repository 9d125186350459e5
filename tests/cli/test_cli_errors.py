"""Broken configurations: exit code 2 and one clear line each, never a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .conftest import fl

AGENT = "def run(input_text):\n    return input_text\n"

GOOD = """\
name: broken
runner:
  target: "agent:run"
base_inputs:
  - input: "Hello"
output_directory: out
"""

# (id, setting.yaml, extra CLI args, extra files, expected fragment of the one line)
CASES: list[tuple[str, str | None, list[str], dict[str, str], str]] = [
    (
        "typo",
        GOOD + "iteratons: 3\n",
        [],
        {},
        "setting.yaml:7: iteratons: unknown key (did you mean 'iterations'?)",
    ),
    ("yaml-syntax", GOOD + "runner: [\n", [], {}, "setting.yaml:8: invalid YAML"),
    (
        "wrong-type",
        GOOD + "iterations: many\n",
        [],
        {},
        "setting.yaml:7: iterations: expected an integer >= 1",
    ),
    (
        "not-a-mapping",
        "- just\n- a list\n",
        [],
        {},
        "expected a mapping at the top level, found list",
    ),
    ("no-target", "name: x\nbase_inputs: [hi]\n", [], {}, "runner.target: required"),
    (
        "bad-target-form",
        GOOD.replace('"agent:run"', '"agent.run"'),
        [],
        {},
        'runner.target: expected "module:function"',
    ),
    (
        "missing-module",
        GOOD.replace('"agent:run"', '"examples.simple_agent:run"'),
        [],
        {},
        "set runner.working_directory",
    ),
    (
        "missing-attribute",
        GOOD.replace('"agent:run"', '"agent:runn"'),
        [],
        {},
        "has no attribute 'runn' (did you mean 'run'?)",
    ),
    (
        "import-fails",
        GOOD.replace('"agent:run"', '"needs_dep:run"'),
        [],
        {"needs_dep.py": "import some_missing_dependency_xyz\n"},
        "No module named 'some_missing_dependency_xyz'",
    ),
    (
        "working-directory",
        GOOD.replace(
            '  target: "agent:run"', '  target: "agent:run"\n  working_directory: nowhere'
        ),
        [],
        {},
        "runner.working_directory: directory not found",
    ),
    ("inputs-missing", GOOD, ["--inputs", "missing.yaml"], {}, "inputs file not found"),
    (
        "inputs-malformed",
        GOOD + "inputs_file: in.yaml\n",
        [],
        {"in.yaml": "- persona: x\n"},
        "in.yaml:1: [0].input: required key is missing",
    ),
    (
        "recording-missing",
        GOOD + "replay_args:\n  enabled: true\n  recording_file: rec.jsonl\n",
        [],
        {},
        "Recording file not found: rec.jsonl",
    ),
    (
        "parallel-zero",
        GOOD + "parallel_runs: 0\n",
        [],
        {},
        "parallel_runs: expected an integer >= 1 and <= 1000, found 0",
    ),
    (
        "threshold-range",
        GOOD + "success_threshold: 2\n",
        [],
        {},
        "success_threshold: expected a number >= 0 and <= 1, found 2",
    ),
    (
        "unsupported-runner",
        GOOD.replace("runner:\n", "runner:\n  http: {url: 'http://x'}\n"),
        [],
        {},
        "runner.http: HTTP runners are not supported",
    ),
    ("no-config", None, [], {}, "no FluxLoop config in"),
    ("resume-missing", GOOD, ["--resume", "no_such_dir"], {}, "experiment directory not found"),
]


@pytest.mark.parametrize(
    ("setting", "args", "files", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_config_exit_2_one_line(
    tmp_path: Path, setting: str | None, args: list[str], files: dict[str, str], expected: str
) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    if setting is not None:
        (tmp_path / "setting.yaml").write_text(textwrap.dedent(setting))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = fl("run", "experiment", *args, cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written before the config is valid


def test_validate_reports_every_problem_at_once(tmp_path: Path) -> None:
    (tmp_path / "setting.yaml").write_text(
        GOOD + "iteratons: 3\nparallel_runs: -1\nrunner:\n  timeout_seconds: x\n"
    )
    done = fl("config", "validate", "--config", "setting.yaml", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert lines == [
        "error: setting.yaml:3: runner.target: required: set runner.target to "
        '"module:function" (for example "examples.simple_agent:run")',
        "error: setting.yaml:7: iteratons: unknown key (did you mean 'iterations'?)",
        "error: setting.yaml:8: parallel_runs: expected an integer >= 1 and <= 1000, found -1",
        "error: setting.yaml:9: runner: duplicate key (first defined at line 2); the later value "
        "would silently win",
        "error: setting.yaml:10: runner.timeout_seconds: expected a number > 0, found 'x'",
    ]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "setting.yaml").write_text(GOOD.replace('"agent:run"', '"agent:nope"'))
    (tmp_path / "agent.py").write_text(AGENT)
    done = fl("--debug", "run", "experiment", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    done = fl("run", "experiment", "--iterations", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "Invalid value for '--iterations'" in done.stderr


def test_version(tmp_path: Path) -> None:
    done = fl("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("fluxloop ")
