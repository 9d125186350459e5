"""The seeds' workflows run verbatim through the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import clean_env, fl, fluxloop_cmd

# The seeds' "Quick Test (No Recording)", character for character.
QUICK_TEST = """\
# 1. Create test config
cat > test.yaml << EOF
name: quick_test
runner:
  target: "examples.simple_agent:run"
base_inputs:
  - input: "Hello"
iterations: 1
output_directory: /tmp/test_output
EOF

# 2. Run
fluxloop run experiment --config test.yaml --no-collector

# 3. Check output
cat /tmp/test_output/quick_test_*/summary.json
"""


def test_seed_quick_test_exactly_as_written(initialized: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "test_output"
    script = QUICK_TEST.replace("/tmp/test_output", str(out_dir))
    fluxloop = " ".join(fluxloop_cmd())
    done = subprocess.run(
        ["bash", "-e", "-c", f'fluxloop() {{ {fluxloop} "$@"; }}\n{script}'],
        cwd=initialized,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    start = done.stdout.index("{")
    summary = json.loads(done.stdout[start:])
    assert summary["name"] == "quick_test"
    assert summary["results"]["total_runs"] == 1
    assert summary["results"]["successful"] == 1
    assert summary["total_traces"] == 1
    (exp,) = out_dir.glob("quick_test_*")
    for name in (
        "summary.json",
        "trace_summary.jsonl",
        "traces.jsonl",
        "observations.jsonl",
        "config.yaml",
        "errors.json",
    ):
        assert (exp / name).is_file(), name
    line = json.loads((exp / "trace_summary.jsonl").read_text())
    assert line["input"] == "Hello" and line["success"] is True and line["output"]


def test_init_project_then_run_and_single(initialized: Path) -> None:
    root = initialized.parent
    assert (root / ".env").is_file()
    for rel in (
        "setting.yaml",
        ".env",
        "examples/simple_agent.py",
        "inputs",
        "experiments",
        "recordings",
    ):
        assert (initialized / rel).exists(), rel
    done = fl("run", "experiment", cwd=initialized)
    assert done.returncode == 0, done.stderr
    assert "4/4 runs succeeded" in done.stdout
    assert "not found; using base_inputs" in done.stderr
    done = fl("run", "single", "examples.simple_agent:run", "How do I start?", cwd=initialized)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Output: Happy to help!")
    assert "agent SimpleAgent" in done.stdout
    assert "├─ tool classify_intent" in done.stdout
    assert "└─ generation generate_response" in done.stdout
    done = subprocess.run(
        [fluxloop_cmd()[0], "examples/simple_agent.py", "hi"],
        cwd=initialized,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip()


def test_init_never_prompts_and_refuses_to_overwrite(initialized: Path) -> None:
    root = initialized.parent.parent
    again = fl("init", "project", "--name", "my-agent", cwd=root)
    assert again.returncode == 2
    assert "pass --force" in again.stderr
    forced = fl("init", "project", "--name", "my-agent", "--force", cwd=root)
    assert forced.returncode == 0, forced.stderr


def test_init_configs_layout_runs(tmp_path: Path) -> None:
    done = fl(
        "init",
        "project",
        "--name",
        "cfg",
        "--layout",
        "configs",
        "--path",
        "projects",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    project = tmp_path / "projects" / "cfg"
    assert sorted(p.name for p in (project / "configs").iterdir()) == [
        "evaluation.yaml",
        "input.yaml",
        "project.yaml",
        "simulation.yaml",
    ]
    done = fl("--quiet", "run", "experiment", "--iterations", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    exp = Path(done.stdout.strip())
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["results"]["total_runs"] == 8
    # --project from the root
    done = fl("status", "experiments", "--project", "cfg", "--root", "projects", cwd=tmp_path)
    assert done.returncode == 0 and "100.0%" in done.stdout


def test_agent_templates_run(tmp_path: Path) -> None:
    for template in ("simple", "langchain"):
        name = f"bot_{template}"
        done = fl("init", "agent", name, "--template", template, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert f"agents.{name}:run" in done.stdout
        done = fl("run", "single", f"agents.{name}:run", "What is FluxLoop?", cwd=tmp_path)
        assert done.returncode == 0, (template, done.stderr)
        assert done.stdout.startswith("Output: ")
        assert "generation" in done.stdout
        run = subprocess.run(
            [fluxloop_cmd()[0], f"agents/{name}.py", "hi"],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr


def test_langgraph_template_says_what_is_missing(tmp_path: Path) -> None:
    import importlib.util

    done = fl("init", "agent", "graph", "--template", "langgraph", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    single = fl("run", "single", "agents.graph:run", "hi", cwd=tmp_path)
    direct = subprocess.run(
        [fluxloop_cmd()[0], "agents/graph.py", "hi"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if importlib.util.find_spec("langgraph") is not None:
        assert single.returncode == 0, single.stderr
        assert direct.returncode == 0, direct.stderr
        return
    assert "pip install langgraph" in done.stderr
    assert single.returncode == 2
    assert single.stderr.count("\n") == 1 and "pip install langgraph" in single.stderr
    assert direct.returncode == 1
    assert "pip install langgraph" in direct.stderr and "Traceback" not in direct.stderr


def test_pytest_template_runs_the_experiment(initialized: Path) -> None:
    done = fl("init", "pytest-template", cwd=initialized)
    assert done.returncode == 0, done.stderr
    test_file = initialized / "tests" / "test_fluxloop_smoke.py"
    assert test_file.is_file()
    run = subprocess.run(
        [fluxloop_cmd()[0], "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=initialized,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    again = fl("init", "pytest-template", cwd=initialized)
    assert again.returncode == 2 and "pass --force" in again.stderr
