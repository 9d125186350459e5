"""The pytest plugin: fluxloop_spans, fluxloop_runner, fluxloop_cli, the template, xdist."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import fluxloop
from fluxloop.errors import ConfigError
from fluxloop.integrations.pytest_plugin import CLIResult, FluxLoopTestResult, SpanRecorder
from fluxloop.integrations.pytest_plugin._runner import apply_overrides
from fluxloop.integrations.pytest_plugin.template import render_template, write_template
from fluxloop.project.scaffold import create_project
from fluxloop.sdk import _runtime

FAILING_AGENT = """
import fluxloop

@fluxloop.agent(name="Flaky")
def run(input_text: str) -> str:
    if "started" in input_text:
        raise ValueError("cannot start")
    return "ok"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return create_project("demo", tmp_path).project_dir


# ---------------------------------------------------------------------- fluxloop_spans


def test_fluxloop_spans_records_spans_and_contract_records(
    fluxloop_spans: SpanRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    @fluxloop.tool
    def search(query: str) -> list[str]:
        return [query]

    @fluxloop.agent(name="helper")
    def agent(question: str) -> str:
        return search(question)[0]

    assert agent("q") == "q"
    assert fluxloop_spans.names() == ["invoke_agent helper", "execute_tool search"]
    assert fluxloop_spans.tree() == ["invoke_agent helper", "  execute_tool search"]
    assert len(fluxloop_spans) == 2
    (tool_obs,) = fluxloop_spans.by_type("tool")
    assert tool_obs["name"] == "search"
    assert tool_obs["input"] == {"query": "q"}
    assert tool_obs["output"] == ["q"]
    (agent_obs,) = fluxloop_spans.by_type(fluxloop.ObservationType.AGENT)
    assert tool_obs["parent_observation_id"] == agent_obs["id"]
    (trace,) = fluxloop_spans.traces
    assert trace["id"] == fluxloop_spans.trace_id == agent_obs["trace_id"]
    assert fluxloop_spans.one("execute_tool search").attributes["gen_ai.tool.name"] == "search"
    with pytest.raises(AssertionError, match="expected exactly one span named 'nope'"):
        fluxloop_spans.one("nope")
    fluxloop_spans.clear()
    assert fluxloop_spans.spans == []
    assert not (tmp_path / "traces").exists()  # unconfigured: nothing written


def test_fluxloop_spans_keeps_an_existing_configuration(tmp_path: Path) -> None:
    from fluxloop.integrations.pytest_plugin._spans import recording

    fluxloop.configure(storage="none", capture_content=False)
    try:
        with recording() as recorder:

            @fluxloop.tool
            def secret(x: str) -> str:
                return x

            secret("hidden")
        assert "gen_ai.tool.call.arguments" not in recorder.spans[0].attributes
        assert _runtime.RUNTIME.configured
    finally:
        fluxloop.reset_config()


# ---------------------------------------------------------------------- fluxloop_runner


def test_apply_overrides_sets_dotted_paths_and_list_indexes() -> None:
    data: dict[str, Any] = {"runner": {"target": "a:b", "python_path": ["x"]}, "iterations": 3}
    apply_overrides(
        data,
        {
            "iterations": 1,
            "runner.python_path.0": "src",
            "runner.python_path.1": "lib",
            "runner.environment_vars": {"A": "1"},
            "multi_turn": {"max_turns": 2},
        },
    )
    assert data == {
        "runner": {"target": "a:b", "python_path": ["src", "lib"], "environment_vars": {"A": "1"}},
        "iterations": 1,
        "multi_turn": {"max_turns": 2},
    }


def test_fluxloop_runner_runs_the_experiment_in_process(
    fluxloop_runner: Any, project: Path
) -> None:
    fluxloop.configure(storage="none", capture_content=False)
    try:
        result = fluxloop_runner(
            project_root=project,
            simulation_config=project / "setting.yaml",
            overrides={"iterations": 2, "personas": ["expert_user"]},
            env={"FLUXLOOP_TEST_MARKER": "1"},
        )
        assert _runtime.RUNTIME.capture_content is False  # the caller's configuration is back
    finally:
        fluxloop.reset_config()
    assert isinstance(result, FluxLoopTestResult)
    assert result.total_runs == 4  # 2 base inputs x 1 persona x 2 iterations
    assert (result.failed, result.failures, result.success_rate) == (0, 0, 1.0)
    assert result.passed and result.status == "completed"
    assert result.experiment_dir.parent == project / "experiments"
    assert result.trace_summary_path.is_file() and len(result.trace_summary()) == 4
    assert {r["persona"] for r in result.trace_summary()} == {"expert_user"}
    assert result.observations_path.is_file() and result.traces_path.is_file()
    assert result.avg_duration_ms >= 0
    assert result.require_success() is result
    result.require_min_runs(4).require_max_duration(60_000)


def test_fluxloop_runner_failures_give_a_clear_assertion(
    fluxloop_runner: Any, project: Path
) -> None:
    (project / "examples" / "simple_agent.py").write_text(FAILING_AGENT)
    result = fluxloop_runner(project_root=project, overrides={"iterations": 1}, timeout=120)
    assert result.total_runs == 4 and result.failed == 2
    assert result.success_rate == 0.5 and not result.passed
    assert len(result.failed_runs()) == 2
    result.require_success(threshold=0.5)
    with pytest.raises(AssertionError) as caught:
        result.require_success(message="smoke")
    text = str(caught.value)
    assert text.startswith("smoke: FluxLoop experiment 'demo': 2/4 runs succeeded (50.0%)")
    assert "ValueError: cannot start" in text
    assert str(result.experiment_dir) in text
    with pytest.raises(AssertionError, match="expected >= 10"):
        result.require_min_runs(10)
    with pytest.raises(AssertionError, match=r"^support agent: FluxLoop experiment 'demo'"):
        result.require_success("support agent")  # the original plugin's label form


def test_two_projects_with_the_same_module_names_run_their_own_code(
    fluxloop_runner: Any, tmp_path: Path
) -> None:
    good = create_project("good", tmp_path).project_dir
    bad = create_project("bad", tmp_path).project_dir
    (bad / "examples" / "simple_agent.py").write_text(FAILING_AGENT)
    assert fluxloop_runner(project_root=good).failed == 0
    assert fluxloop_runner(project_root=bad).failed == 2
    assert fluxloop_runner(project_root=good).failed == 0


def test_fluxloop_runner_config_errors_raise(fluxloop_runner: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no FluxLoop config"):
        fluxloop_runner(project_root=tmp_path)


def test_fluxloop_runner_works_inside_a_running_event_loop(
    fluxloop_runner: Any, project: Path
) -> None:
    import asyncio

    async def main() -> FluxLoopTestResult:
        result: FluxLoopTestResult = fluxloop_runner(project_root=project, iterations=1)
        return result

    assert asyncio.run(main()).total_runs == 4


# ---------------------------------------------------------------------- fluxloop_cli


def test_fluxloop_cli_runs_commands_and_experiments(fluxloop_cli: Any, project: Path) -> None:
    version = fluxloop_cli("--version")
    assert isinstance(version, CLIResult)
    assert version.ok and version.exit_code == 0 and fluxloop.__version__ in version.output
    assert version.command == "fluxloop --version"

    run = fluxloop_cli(
        project_root=project, simulation_config="setting.yaml", cli_args=["--iterations", "1"]
    )
    run.require_success()
    assert run.experiment is not None
    assert run.total_runs == 4 and run.success_rate == 1.0 and run.failed == 0
    assert run.experiment_dir.parent == project / "experiments"
    assert run.stdout_path is not None and run.stdout_path.read_text() == run.stdout

    bad = fluxloop_cli("run", "experiment", "--config", "missing.yaml", cwd=project)
    assert bad.exit_code == 2 and bad.experiment is None
    with pytest.raises(AssertionError, match="exited with code 2"):
        bad.require_success()
    with pytest.raises(AttributeError, match="did not produce an experiment"):
        _ = bad.total_runs


# ---------------------------------------------------------------------- template + xdist


def test_render_template_is_valid_python_and_points_at_the_project(tmp_path: Path) -> None:
    text = render_template()
    compile(text, "test_fluxloop_smoke.py", "exec")
    assert "Path(__file__).resolve().parents[1]" in text
    assert "def test_fluxloop_smoke(fluxloop_runner):" in text
    assert "parents[2]" in render_template(levels_up=2)
    assert repr(str(tmp_path.resolve())) in render_template(project_root=tmp_path)
    assert "CONFIG = 'configs/simulation.yaml'" in render_template(config="configs/simulation.yaml")


def test_write_template_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_template(project_root=tmp_path)
    assert path == tmp_path / "tests" / "test_fluxloop_smoke.py"
    with pytest.raises(FileExistsError, match="force"):
        write_template(project_root=tmp_path)
    path.write_text("changed")
    write_template(project_root=tmp_path, force=True)
    assert "fluxloop_runner" in path.read_text()
    nested = write_template(project_root=tmp_path, tests_dir="it/smoke", filename="test_x.py")
    assert "parents[2]" in nested.read_text()
    outside = write_template(tmp_path / "elsewhere" / "test_y.py", project_root=tmp_path / "p")
    assert repr(str((tmp_path / "p").resolve())) in outside.read_text()


def test_generated_template_and_fixtures_pass_under_xdist(project: Path) -> None:
    write_template(project_root=project)
    (project / "tests" / "test_more.py").write_text(
        textwrap.dedent(
            """
            import fluxloop
            from pathlib import Path

            ROOT = Path(__file__).resolve().parents[1]


            def test_spans(fluxloop_spans):
                @fluxloop.tool
                def t(x):
                    return x

                t(1)
                assert fluxloop_spans.names() == ["execute_tool t"]


            def test_runner_again(fluxloop_runner):
                fluxloop_runner(project_root=ROOT, iterations=1).require_success()


            def test_cli(fluxloop_cli):
                fluxloop_cli("config", "validate", cwd=ROOT).require_success()
            """
        )
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "4 passed" in completed.stdout
    runs = [
        d
        for d in (project / "experiments").iterdir()
        if (d / "summary.json").is_file() and not d.is_symlink()
    ]
    assert len(runs) == 2  # two experiments at (maybe) the same second: distinct directories


# ---------------------------------------------------------------------- the original's imports

ORIGINAL_STYLE = """
from pathlib import Path

import pytest

from fluxloop_cli.testing.pytest_plugin import fluxloop_runner  # noqa: F401  (the original's line)

pytest_plugins = ["fluxloop_cli.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]


def test_smoke(fluxloop_runner):
    result = fluxloop_runner(
        project_root=ROOT,
        simulation_config=ROOT / "setting.yaml",
        overrides={"iterations": 1},
        env={"PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    result.require_success()


def test_cli_with_overrides(fluxloop_cli):
    result = fluxloop_cli(
        project_root=ROOT,
        simulation_config="setting.yaml",
        overrides={"iterations": 2, "base_inputs": [{"input": "only one"}], "personas": []},
        timeout=120,
    )
    result.require_success()
    assert result.total_runs == 2
    assert not list(ROOT.glob(".fluxloop_overrides_*"))  # the temporary config is gone
"""


def test_the_original_import_line_and_fluxloop_cli_overrides(project: Path) -> None:
    (project / "tests").mkdir()
    (project / "tests" / "test_original.py").write_text(ORIGINAL_STYLE, encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout
    version = subprocess.run(
        [sys.executable, "-m", "fluxloop_cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0 and fluxloop.__version__ in version.stdout
