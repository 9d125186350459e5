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


FAILING = """
import fluxloop


@fluxloop.agent()
def run(input_text: str) -> dict:
    if "started" in input_text:
        raise ValueError("cannot start")
    return {"content": "ok", "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
"""


def test_artifacts_carry_what_the_originals_readers_use(initialized: Path) -> None:
    from tests.generation import openai_server

    (initialized / "examples" / "flaky.py").write_text(FAILING, encoding="utf-8")
    setting = initialized / "setting.yaml"
    data = yaml.safe_load(setting.read_text())
    data["runner"]["target"] = "examples.flaky:run"
    data["success_threshold"] = 0.1
    setting.write_text(yaml.safe_dump(data), encoding="utf-8")
    run = fl("-q", "run", "experiment", cwd=initialized)
    assert run.returncode == 0, run.stderr
    exp = Path(run.stdout.strip().splitlines()[-1])
    lines = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    good = next(x for x in lines if x["success"])
    assert good["conversation_state"]["turns"][0] == {"role": "user", "content": good["input"]}
    assert good["conversation_state"]["turns"][1]["role"] == "assistant"
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["config"]["runner"]["target"] == "examples.flaky:run"
    errors = json.loads((exp / "errors.json").read_text())
    assert errors and all(e["error"] == e["message"] == "cannot start" for e in errors)
    parsed = fl("parse", "experiment", str(exp), cwd=initialized)
    assert parsed.returncode == 0, parsed.stderr
    records = [
        json.loads(x)
        for x in (exp / "per_trace_analysis" / "per_trace.jsonl").read_text().splitlines()
    ]
    record = next(r for r in records if r["success"])
    assert record["summary"]["raw"]["trace_id"] == record["trace_id"] == record["raw"]["trace_id"]
    assert record["summary"]["token_usage"]["total_tokens"] == 7

    # evaluate reads FLUXLOOP_LLM_API_KEY from the project's .env (seed 003's universal key)
    server = openai_server.start()
    try:
        server.on(lambda prompt: True, *([("content", "8")] * 8))
        key = "sk-judge-from-dotenv-5678"
        with (initialized / ".env").open("a", encoding="utf-8") as fh:
            fh.write(f"\nFLUXLOOP_LLM_API_KEY={key}\n")
        (initialized / "evaluation.yaml").write_text(
            yaml.safe_dump(
                {
                    "evaluators": [
                        {
                            "name": "quality",
                            "type": "llm_judge",
                            "provider": "openai",
                            "model": "gpt-4o-mini",
                            "model_parameters": {"base_url": server.base_url},
                            "prompt_template": "Score 1-10. {input} {output}",
                            "max_score": 10,
                            "parser": "first_number_1_10",
                        }
                    ]
                }
            ),
            encoding="utf-8",
        )
        done = fl(
            "evaluate", "experiment", str(exp), "--config", "evaluation.yaml", cwd=initialized
        )
        assert done.returncode in (0, 1), done.stderr
        assert server.requests
        assert all(r.headers["authorization"] == f"Bearer {key}" for r in server.requests)
        assert key not in done.stdout + done.stderr
    finally:
        openai_server.stop(server)


def test_smaller_things_found_on_the_way(tmp_path: Path) -> None:
    # init project takes --root like the other commands (and --path as before)
    done = fl("init", "project", "--name", "p", "--root", "roots", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "roots" / "p"
    assert (project / "setting.yaml").is_file()
    # one folder above the root: the hint names the project
    (tmp_path / "fluxloop").mkdir()
    (tmp_path / "roots" / "p").rename(tmp_path / "fluxloop" / "p")
    project = tmp_path / "fluxloop" / "p"
    above = fl("run", "experiment", cwd=tmp_path)
    assert above.returncode == 2 and "pass --project p" in above.stderr
    # an invalid SDK variable in the project's .env is said, not silently ignored
    with (project / ".env").open("a", encoding="utf-8") as fh:
        fh.write("\nFLUXLOOP_SAMPLE_RATE=often\n")
    run = fl("run", "experiment", "--iterations", "1", cwd=project)
    assert run.returncode == 0, run.stderr
    assert (
        "FLUXLOOP_SAMPLE_RATE: expected a number between 0.0 and 1.0, found 'often'" in run.stderr
    )
    # an inputs file whose list key holds no list names that key
    (project / "inputs" / "bad.yaml").write_text("generated_inputs: 42\n", encoding="utf-8")
    bad = fl("run", "experiment", "--inputs", "inputs/bad.yaml", cwd=project)
    assert bad.returncode == 2
    assert "generated_inputs: expected a list of inputs, found int 42" in bad.stderr
    # a missing module names the directory it looked in, not "."
    other = project / "elsewhere"
    other.mkdir()
    data = yaml.safe_load((project / "setting.yaml").read_text())
    data["runner"]["working_directory"] = "elsewhere"
    data["runner"]["target"] = "agents_here.bot:run"
    (project / "setting.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    missing = fl("run", "experiment", cwd=project)
    assert missing.returncode == 2
    assert f"named 'agents_here' under {other.resolve()}" in missing.stderr
    # a malformed recording line: one "at"
    rec = project / "recordings" / "bad.jsonl"
    rec.write_text('{"_version": "1", "kwargs": {"data": "unterminated}\n', encoding="utf-8")
    status = fl("record", "status", "--file", str(rec), cwd=project)
    assert "at at column" not in status.stdout + status.stderr
