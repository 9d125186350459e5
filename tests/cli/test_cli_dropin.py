"""The seeds' commands on projects as their users have them (issue: drop-in for the original)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from .conftest import clean_env, fl, fluxloop_cmd
from .test_cli_dead_collector import SEED_ENV


def test_set_llm_replaces_the_placeholder_key_from_the_seed_env(initialized: Path) -> None:
    (initialized / ".env").write_text(SEED_ENV, encoding="utf-8")  # OPENAI_API_KEY=sk-...
    key = "sk-real-0123456789abcdef"
    done = fl("config", "set-llm", "openai", key, "--model", "gpt-4o-mini", cwd=initialized)
    assert done.returncode == 0, done.stderr
    env = (initialized / ".env").read_text()
    assert f"OPENAI_API_KEY={key}\n" in env and "OPENAI_API_KEY=sk-...\n" not in env
    assert "# LLM API Keys\n" in env  # the other lines and comments stay
    assert key not in done.stdout + done.stderr
    assert "Saved OPENAI_API_KEY=****cdef to .env" in done.stdout
    # the seed's own line, verbatim: the placeholder key given replaces the real one
    again = fl("config", "set-llm", "openai", "sk-xxxx", "--model", "gpt-4o-mini", cwd=initialized)
    assert again.returncode == 0, again.stderr
    assert "OPENAI_API_KEY=sk-xxxx\n" in (initialized / ".env").read_text()
    assert "sk-xxxx" not in again.stdout + again.stderr


def test_runner_iterations_wins_and_the_configs_scaffold_writes_one_key(tmp_path: Path) -> None:
    """Seed 001: `runner: {target: ..., iterations: 10}` in configs/simulation.yaml."""
    done = fl("init", "project", "--name", "p", "--layout", "configs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "fluxloop" / "p"
    simulation = project / "configs" / "simulation.yaml"
    data = yaml.safe_load(simulation.read_text())
    assert "iterations" not in data and data["runner"]["iterations"] == 1
    data["runner"]["iterations"] = 2
    data["iterations"] = 1  # an older top-level key: the more specific one wins, with a warning
    simulation.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = fl("run", "experiment", cwd=project)
    assert run.returncode == 0, run.stderr
    assert "8/8 runs succeeded" in run.stdout  # 4 inputs x 2
    assert "iterations: overridden by runner.iterations" in run.stderr


def test_missing_python_path_entries_are_a_warning(initialized: Path) -> None:
    """The fluxloop-tutorials customer-support project lists a python_path that is not there."""
    setting = initialized / "setting.yaml"
    data = yaml.safe_load(setting.read_text())
    data["runner"]["python_path"] = ["./src", "../shared_lib"]
    setting.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = fl("run", "experiment", cwd=initialized)
    assert run.returncode == 0, run.stderr
    assert "runner.python_path: directory not found: ./src; ignored" in run.stderr
    assert "Traceback" not in run.stderr
    single = fl(
        "run", "single", "examples.simple_agent:run", "hi", "-c", "setting.yaml", cwd=initialized
    )
    assert single.returncode == 0, single.stderr


# seed 001, "Integration with FluxLoop CLI", verbatim
SEED_001_CLI = """\
# Run experiments with your instrumented agent
fluxloop run experiment

# Parse and evaluate results
fluxloop parse experiment experiments/latest_*/
fluxloop evaluate experiment experiments/latest_*/
"""


def test_seed_001_latest_glob_and_latest_argument(initialized: Path) -> None:
    first = fl("-q", "run", "experiment", "--iterations", "1", cwd=initialized)
    assert first.returncode == 0, first.stderr
    first_dir = Path(first.stdout.strip().splitlines()[-1])
    cli = " ".join(fluxloop_cmd())
    done = subprocess.run(
        ["bash", "-e", "-c", f'fluxloop() {{ {cli} "$@"; }}\n{SEED_001_CLI}'],
        cwd=initialized,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    runs = sorted(p for p in (initialized / "experiments").iterdir() if not p.is_symlink())
    assert len(runs) == 2
    newest = max(runs, key=lambda p: p.name)
    (link,) = (initialized / "experiments").glob("latest_*")
    assert link.is_symlink() and link.resolve() == newest.resolve()
    assert (newest / "per_trace_analysis").is_dir()  # parse wrote into the real run
    assert (newest / "evaluation").is_dir()
    assert not (first_dir / "per_trace_analysis").exists()
    # `latest` wherever a run directory is taken
    parsed = fl("parse", "experiment", "latest", "--overwrite", cwd=initialized)
    assert parsed.returncode == 0, parsed.stderr
    compared = fl("compare", str(first_dir), "experiments/latest", cwd=initialized)
    assert compared.returncode in (0, 1), compared.stderr
    traces = fl("status", "traces", "latest", cwd=initialized)
    assert traces.returncode == 0, traces.stderr
    # status lists runs (not the link) newest first by run date, even after the old one was
    # touched by a later parse
    reparsed = fl("parse", "experiment", str(first_dir), cwd=initialized)
    assert reparsed.returncode == 0, reparsed.stderr
    listed = fl("status", "experiments", "--json", cwd=initialized)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    rows = rows.get("experiments", rows) if isinstance(rows, dict) else rows
    assert [Path(r["path"]).name for r in rows] == [newest.name, first_dir.name]
    missing = fl("parse", "experiment", "nowhere/latest", cwd=initialized)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
