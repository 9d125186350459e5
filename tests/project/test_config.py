"""Config discovery, merging, resolution and validation (every problem, file:line, typos)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fluxloop.errors import ConfigError
from fluxloop.project.config import discover_config, load_config, resolve_project_dir
from fluxloop.project.problems import ConfigProblems
from tests.projects import Project

# The seeds' config examples, verbatim.
SEED_MODE1 = """\
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

SEED_MODE2 = """\
# setting.yaml
name: pluto_duck_simulation

runner:
  target: "examples.pluto_duck.message_handler:MessageHandler.handle_message"
  working_directory: "."

# Argument Replay
replay_args:
  enabled: true
  recording_file: "recordings/pluto_args.jsonl"
  callable_providers:
    send_message_callback: "builtin:collector.send"
    send_error_callback: "builtin:collector.error"
  override_param_path: "data.content"

inputs_file: "inputs/generated.yaml"
iterations: 50
parallel_runs: 4
"""

SEED_RUNNER_REFERENCE = """\
runner:
  # New format (recommended)
  target: "module.path:ClassName.method_name"

  # Legacy format (still supported)
  module_path: "module.path"
  function_name: "function_name"

  # Environment
  working_directory: "."
  python_path: "/usr/bin/python3"
  environment_vars:
    DATABASE_URL: "postgresql://..."

  # Execution
  timeout_seconds: 300
  max_retries: 3
  retry_delay: 5

replay_args:
  enabled: true
  recording_file: "recordings/args.jsonl"

  # Map callable parameters to builtin providers
  callable_providers:
    send_message_callback: "builtin:collector.send"
    send_error_callback: "builtin:collector.error"

  # Path to override with runtime input (dot notation)
  override_param_path: "data.content"

input_generation:
  mode: llm  # or "deterministic"
  llm:
    enabled: true
    provider: openai
    model: gpt-4o-mini
    temperature: 0.7
    max_tokens: 1024
"""

SEED_QUICK = """\
name: quick_test
runner:
  target: "examples.simple_agent:run"
base_inputs:
  - input: "Hello"
iterations: 1
output_directory: /tmp/test_output
"""

SEED_RUN_MD = """\
runner:
  target: "examples.my_agent:run"
  iterations: 10
output:
  directory: "experiments"
  format: jsonl
"""


@pytest.mark.parametrize(
    "text", [SEED_MODE1, SEED_MODE2, SEED_RUNNER_REFERENCE, SEED_QUICK, SEED_RUN_MD]
)
def test_every_seed_config_loads_as_written(project: Project, text: str) -> None:
    project.config(text)
    cfg = project.load()
    assert cfg.runner.target
    assert not [w for w in cfg.warnings if "unknown key" in w.message]


def test_seed_values_are_resolved(project: Project) -> None:
    project.config(SEED_RUNNER_REFERENCE)
    cfg = project.load()
    assert cfg.runner.target == "module.path:ClassName.method_name"
    assert cfg.runner.timeout_seconds == 300
    assert cfg.runner.max_retries == 3
    assert cfg.runner.retry_delay == 5
    assert cfg.runner.environment_vars == {"DATABASE_URL": "postgresql://..."}
    assert cfg.runner.python_path == ()  # an interpreter path: warned about, not added
    assert any("interpreter" in w.message for w in cfg.warnings)
    assert cfg.replay.enabled
    assert cfg.replay.recording_file == project.root / "recordings/args.jsonl"
    assert cfg.replay.callable_providers["send_error_callback"] == "builtin:collector.error"


def test_output_directory_forms_and_runner_iterations(project: Project) -> None:
    project.config(SEED_RUN_MD)
    cfg = project.load()
    assert cfg.output_directory == project.root / "experiments"
    assert cfg.iterations == 10
    project.config(SEED_MODE1)
    cfg = project.load()
    assert cfg.output_directory == project.root / "experiments"
    assert cfg.iterations == 10
    assert [b["input"] for b in cfg.base_inputs] == ["Hello world", "Test message"]


def test_relative_paths_resolve_against_the_project_dir(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.config(
        {
            "runner": {"target": "a:b", "working_directory": "src", "python_path": ["lib"]},
            "inputs_file": "inputs/x.yaml",
            "output_directory": "out",
        }
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project.root / "lib").mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(project.root / "setting.yaml")
    assert cfg.runner.working_directory == project.root / "src"
    assert cfg.runner.python_path == (project.root / "lib",)
    assert cfg.inputs_file == project.root / "inputs/x.yaml"
    assert cfg.output_directory == project.root / "out"


def test_configs_layout_is_deep_merged_in_order(project: Project) -> None:
    project.write("configs/project.yaml", "name: proj\ncollector_url: null\nmetadata: {a: 1}\n")
    project.write("configs/input.yaml", "base_inputs:\n  - input: hi\nmetadata: {b: 2}\n")
    project.write(
        "configs/simulation.yaml",
        "name: sim\nrunner:\n  target: m:f\n  timeout_seconds: 5\niterations: 3\n",
    )
    project.write("configs/evaluation.yaml", "evaluators: []\nrunner: {max_retries: 2}\n")
    source = discover_config(cwd=project.root)
    assert source.layout == "configs"
    assert [f.name for f in source.files] == [
        "project.yaml",
        "input.yaml",
        "simulation.yaml",
        "evaluation.yaml",
    ]
    cfg = load_config(cwd=project.root)
    assert cfg.name == "sim"
    assert cfg.metadata == {"a": 1, "b": 2}
    assert cfg.runner.timeout_seconds == 5
    assert cfg.runner.max_retries == 2
    assert cfg.iterations == 3
    # --config setting.yaml falls back to configs/ when only that exists (the original's rule)
    assert load_config("setting.yaml", cwd=project.root).name == "sim"
    # a section file selects the whole configs/ directory
    assert load_config(project.root / "configs/project.yaml").name == "sim"


def test_project_option_finds_fluxloop_subdirectory(tmp_path: Path) -> None:
    proj = tmp_path / "fluxloop" / "my-agent"
    proj.mkdir(parents=True)
    (proj / "setting.yaml").write_text("runner: {target: 'm:f'}\n")
    assert resolve_project_dir("my-agent", cwd=tmp_path) == proj
    assert load_config(project="my-agent", cwd=tmp_path).name == "my-agent"
    with pytest.raises(ConfigError, match="project 'nope' not found"):
        resolve_project_dir("nope", cwd=tmp_path)


def test_environment_overrides_config_and_dotenv(project: Project) -> None:
    project.config({"runner": {"target": "m:f"}, "collector_url": "http://file:1"})
    assert project.load(environ={}).collector_url == "http://file:1"
    project.write(".env", "FLUXLOOP_COLLECTOR_URL=http://dotenv:2\n")
    assert project.load(environ={}).collector_url == "http://dotenv:2"
    env = {"FLUXLOOP_COLLECTOR_URL": "http://env:3"}
    assert project.load(environ=env).collector_url == "http://env:3"


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no FluxLoop config in"):
        load_config(cwd=tmp_path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_validation_reports_every_problem_with_file_line_and_suggestions(project: Project) -> None:
    project.config(
        textwrap.dedent(
            """\
            name: demo
            iteratons: 5
            runner:
              target: "examples.agent:run"
              timeout_seconds: -1
              max_retries: "three"
              taget: "x"
            parallel_runs: 0
            timeout_seconds: 3
            personas:
              - description: no name
            output:
              format: xml
            """
        )
    )
    with pytest.raises(ConfigProblems) as info:
        project.load()
    lines = str(info.value).splitlines()
    text = "\n".join(lines)
    assert "setting.yaml:2: iteratons: unknown key (did you mean 'iterations'?)" in text
    assert "setting.yaml:5: runner.timeout_seconds: expected a number > 0, found -1" in text
    assert (
        "setting.yaml:6: runner.max_retries: expected an integer >= 0 and <= 100, found "
        "'three'" in text
    )
    assert "setting.yaml:7: runner.taget: unknown key (did you mean 'runner.target'?)" in text
    assert "setting.yaml:8: parallel_runs: expected an integer >= 1 and <= 1000, found 0" in text
    assert (
        "setting.yaml:9: timeout_seconds: unknown key (did you mean 'runner.timeout_seconds'?)"
    ) in text
    assert "setting.yaml:11: personas[0].name: required key is missing" in text
    assert "setting.yaml:13: output.format: expected one of jsonl, found 'xml'" in text
    assert len(info.value.problems) == len(lines) == 8


def test_unknown_keys_without_a_close_match_are_warnings(project: Project) -> None:
    project.config({"runner": {"target": "m:f"}, "my_team_setting": 1})
    cfg = project.load()
    assert [str(w) for w in cfg.warnings] == [
        "setting.yaml:3: my_team_setting: unknown key, ignored"
    ]


def test_yaml_syntax_error_has_file_and_line(project: Project) -> None:
    project.config("runner:\n  target: a:b\n bad: [\n")
    with pytest.raises(ConfigError, match=r"setting.yaml:3: invalid YAML"):
        project.load()


def test_target_is_required_and_checked(project: Project) -> None:
    project.config({"name": "x"})
    with pytest.raises(ConfigProblems, match=r"runner\.target: required"):
        project.load()
    project.config({"runner": {"target": "no_colon"}})
    with pytest.raises(ConfigProblems, match='expected "module:function"'):
        project.load()
    project.config({"runner": {"module_path": "pkg.mod", "function_name": "go"}})
    assert project.load().runner.target == "pkg.mod:go"


def test_guards_max_duration_sets_the_timeout(project: Project) -> None:
    project.config({"runner": {"target": "m:f", "guards": {"max_duration": "90s"}}})
    assert project.load().runner.timeout_seconds == 90
    project.config({"runner": {"target": "m:f", "timeout_seconds": None}})
    assert project.load().runner.timeout_seconds is None


def test_env_applied_and_restored(project: Project) -> None:
    from fluxloop.project.targets import target_environment

    os.environ.pop("FL_TEST_VAR", None)
    with target_environment(project.root, (), {"FL_TEST_VAR": "1"}, {"FL_DOTENV": "x"}):
        assert os.environ["FL_TEST_VAR"] == "1"
        assert os.environ["FL_DOTENV"] == "x"
        assert Path.cwd() == project.root
    assert "FL_TEST_VAR" not in os.environ
    assert "FL_DOTENV" not in os.environ


def test_collector_url_is_the_sdks_resolution(project: Project) -> None:
    """FLUXLOOP_COLLECTOR_URL is read once, by the SDK's resolver, for every caller."""
    from fluxloop.project.config import collector_endpoint
    from fluxloop.sdk import resolve_config

    env = {"FLUXLOOP_COLLECTOR_URL": "http://env:3/", "FLUXLOOP_API_KEY": "k"}
    assert collector_endpoint({}, env) == ("http://env:3", "k")
    assert collector_endpoint({}, env)[0] == resolve_config({}, env, {}).collector_url
    project.config({"runner": {"target": "m:f"}, "collector_url": "http://file:1"})
    assert project.load(environ=env).collector_url == "http://env:3"
    # an invalid value is warned about (as the SDK says it) and the config's URL applies
    project.write(".env", "FLUXLOOP_COLLECTOR_URL=ftp://nope\n")
    cfg = project.load(environ={})
    assert cfg.collector_url == "http://file:1"
    assert any("FLUXLOOP_COLLECTOR_URL" in str(w) for w in cfg.warnings)
    assert collector_endpoint({"FLUXLOOP_COLLECTOR_URL": "ftp://nope"}, {}) == (None, None)
