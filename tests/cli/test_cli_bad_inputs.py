"""Every kind of bad input the fault probes fed FluxLoop (issue #12 points 8, 13, 16): exit 2 and
one clear line, never "internal error", never a traceback, never a silent exit 0."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import fl

AGENT = "def run(input_text):\n    return input_text.upper()\n"
SETTING = """\
name: probe
runner:
  target: "agent:run"
base_inputs:
  - input: "hello"
personas:
  - name: novice
    description: new to this
output_directory: out
"""


def billion_laughs(key: str = "laughs") -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    lines.append(f"{key}: *a8")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real experiment directory, copied by the tests that need one."""
    root = tmp_path_factory.mktemp("exp")
    (root / "agent.py").write_text(AGENT)
    (root / "setting.yaml").write_text(SETTING)
    done = fl("--quiet", "run", "experiment", cwd=root)
    assert done.returncode == 0, done.stderr
    (directory,) = (root / "out").glob("probe_*[0-9]")
    return directory


def _project(tmp_path: Path, setting: str = SETTING) -> None:
    (tmp_path / "agent.py").write_text(AGENT)
    (tmp_path / "setting.yaml").write_text(setting)


def _copy_experiment(experiment: Path, tmp_path: Path) -> Path:
    target = tmp_path / "exp"
    shutil.copytree(experiment, target)
    return target


def _billion_laughs_setting(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path, SETTING + billion_laughs("extra"))
    return ["run", "experiment"]


def _billion_laughs_inputs(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path)
    (tmp_path / "in.yaml").write_text(billion_laughs("inputs"))
    return ["run", "experiment", "--inputs", "in.yaml"]


def _billion_laughs_evaluation(tmp_path: Path, experiment: Path) -> list[str]:
    exp = _copy_experiment(experiment, tmp_path)
    (tmp_path / "evaluation.yaml").write_text(billion_laughs("evaluators"))
    return ["evaluate", "experiment", str(exp), "-c", "evaluation.yaml"]


def _billion_laughs_config_set(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path, SETTING + billion_laughs("extra"))
    return ["config", "set", "runner.timeout_seconds", "5"]


def _output_directory_is_a_file(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path)
    (tmp_path / "out").write_text("a file\n")
    return ["run", "experiment"]


def _deeply_nested_otlp_line(tmp_path: Path, experiment: Path) -> list[str]:
    (tmp_path / "deep.jsonl").write_text('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")
    return ["import", "otlp", "deep.jsonl", "--output", "imported"]


def _unknown_persona(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path)
    (tmp_path / "in.yaml").write_text("- input: hi\n  persona: expert\n")
    return ["run", "experiment", "--inputs", "in.yaml"]


def _empty_evaluation_config(tmp_path: Path, experiment: Path) -> list[str]:
    exp = _copy_experiment(experiment, tmp_path)
    (tmp_path / "evaluation.yaml").write_text("")
    return ["evaluate", "experiment", str(exp), "-c", "evaluation.yaml"]


def _summary_trace_id_not_a_string(tmp_path: Path, experiment: Path) -> list[str]:
    exp = _copy_experiment(experiment, tmp_path)
    path = exp / "trace_summary.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    path.write_text(json.dumps({**line, "trace_id": 5}) + "\n")
    return ["evaluate", "experiment", str(exp)]


def _summary_success_not_a_bool(tmp_path: Path, experiment: Path) -> list[str]:
    exp = _copy_experiment(experiment, tmp_path)
    path = exp / "trace_summary.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    path.write_text(json.dumps({**line, "success": "yes"}) + "\n")
    return ["evaluate", "experiment", str(exp)]


def _config_set_unknown_key(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path)
    return ["config", "set", "nonsense.key", "1"]


def _resume_a_lookalike(tmp_path: Path, experiment: Path) -> list[str]:
    _project(tmp_path)
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "summary.json").write_text("{}\n")
    (fake / "trace_summary.jsonl").write_text("junk\n")
    return ["run", "experiment", "--resume", "fake"]


# (id, builder, a fragment of the one line)
CASES: list[tuple[str, Callable[[Path, Path], list[str]], str]] = [
    ("billion-laughs-setting", _billion_laughs_setting, "setting.yaml:1: YAML aliases expand"),
    ("billion-laughs-inputs", _billion_laughs_inputs, "in.yaml:1: YAML aliases expand"),
    ("billion-laughs-evaluation", _billion_laughs_evaluation, "YAML aliases expand"),
    ("billion-laughs-config-set", _billion_laughs_config_set, "YAML aliases expand"),
    ("output-directory-file", _output_directory_is_a_file, "out is a file, expected a directory"),
    ("otlp-deep-json", _deeply_nested_otlp_line, "deep.jsonl:1: invalid JSON: nested too deeply"),
    ("unknown-persona", _unknown_persona, "in.yaml:1: [0].persona: unknown persona 'expert'"),
    ("empty-evaluation-config", _empty_evaluation_config, "evaluators: no evaluators defined"),
    ("summary-trace-id-type", _summary_trace_id_not_a_string, "trace_id: expected a string"),
    ("summary-success-type", _summary_success_not_a_bool, "success: expected true or false"),
    ("config-set-unknown-key", _config_set_unknown_key, "nonsense: unknown key; not set"),
    ("resume-lookalike", _resume_a_lookalike, "was not written by FluxLoop"),
]


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exit_2_one_line(
    tmp_path: Path,
    experiment: Path,
    build: Callable[[Path, Path], list[str]],
    expected: str,
) -> None:
    args = build(tmp_path, experiment)
    done = fl(*args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert expected in errors[0], errors[0]
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_the_same_inputs_still_work_when_valid(tmp_path: Path) -> None:
    """Sanity: the probes' shapes minus the fault run (personas known, modest aliases)."""
    _project(tmp_path, SETTING + "shared: &s {k: 1}\nalso: [*s, *s]\n")
    (tmp_path / "in.yaml").write_text(textwrap.dedent("- input: hi\n  persona: novice\n"))
    done = fl("--quiet", "run", "experiment", "--inputs", "in.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
