"""Cassettes for `generate inputs` (LLM mode) and LLM simulated users in multi-turn runs:
record against a local OpenAI-compatible server, stop it, replay (subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from . import openai_server
from .conftest import edit_yaml, fl, load_yaml
from .test_multiturn import _lines, _setup

GENERATED = "inputs/generated.yaml"


def test_generate_inputs_llm_mode_replays_offline(project: Path) -> None:
    server = openai_server.start()
    try:
        edit_yaml(
            project / "setting.yaml",
            input_generation={
                "mode": "llm",
                "llm": {"provider": "openai", "model": "m", "base_url": server.base_url},
            },
            variation_strategies=["rephrase", "verbose"],
        )
        env = {"OPENAI_API_KEY": "sk-gen0123456789abcdefghijklmn"}
        done = fl("generate", "inputs", "--cassette", "record", cwd=project, env=env)
        assert done.returncode == 0, done.stderr
        calls = len(server.requests)
        assert calls == 8
    finally:
        openai_server.stop(server)
    recorded = load_yaml(project / GENERATED)["inputs"]
    cassette = project / "cassettes" / "my-agent.jsonl"
    assert "sk-gen0123456789" not in cassette.read_text()
    again = fl("generate", "inputs", "--overwrite", "--cassette", "replay", cwd=project, env=env)
    assert again.returncode == 0, again.stderr
    assert load_yaml(project / GENERATED)["inputs"] == recorded
    # another strategy was never recorded: one line, exit 1, the file is left alone
    edit_yaml(project / "setting.yaml", variation_strategies=["rephrase", "error_prone"])
    miss = fl("generate", "inputs", "--overwrite", "--cassette", "replay", cwd=project, env=env)
    assert miss.returncode == 1
    assert "no recording for run generate:all" in miss.stderr
    assert "re-record with --cassette auto" in miss.stderr
    assert load_yaml(project / GENERATED)["inputs"] == recorded


def test_llm_simulated_user_replays_offline(configs_project: Path) -> None:
    server = openai_server.start()
    try:
        multi = {
            "enabled": True,
            "max_turns": 4,
            "supervisor": {"provider": "openai", "model": "sim-model", "base_url": server.base_url},
        }
        project = _setup(configs_project, multi)
        (project / ".env").write_text("OPENAI_API_KEY=sk-sim\n", encoding="utf-8")
        server.on(
            "Conversation so far",
            ("content", json.dumps({"decision": "continue", "next_user_message": "Refund?"})),
            ("content", json.dumps({"decision": "terminate", "goal_met": True})),
        )
        done = fl("run", "experiment", "--cassette", "record", cwd=project)
        assert done.returncode == 0, done.stderr
        assert len(server.requests) == 2
    finally:
        openai_server.stop(server)
    exp, (recorded,) = _lines(project, done.stdout)
    new_dir = project / "replayed"
    replay = fl(
        "run", "experiment", "--cassette", "replay", "--output-dir", str(new_dir), cwd=project
    )
    assert replay.returncode == 0, replay.stderr
    (replayed_dir,) = (p for p in new_dir.iterdir() if not p.is_symlink())
    (replayed,) = [
        json.loads(x) for x in (replayed_dir / "trace_summary.jsonl").read_text().splitlines()
    ]
    assert replayed["conversation"] == recorded["conversation"]
    assert replayed["simulation"]["token_usage"] == recorded["simulation"]["token_usage"]
    assert recorded["turn_count"] == 2 and replayed["termination_reason"] == "goal_met"
    assert exp.exists()
