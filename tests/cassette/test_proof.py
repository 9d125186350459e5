"""The cassette proof: an experiment of 20 runs at --parallel 4 against local OpenAI- and
Anthropic-compatible servers (tool calls and streaming through the raw SDKs), recorded, then
replayed with the servers stopped and a socket guard in the process; a changed prompt in one
run fails only that run in replay and is re-recorded alone in auto.

Every step is the real ``fluxloop`` command in a subprocess.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_process import fl

from .agent_source import AGENT, SOCKET_GUARD
from .servers import FakeServer

OPENAI_KEY = "sk-test0123456789abcdefghijklmnop"
ANTHROPIC_KEY = "sk-ant-api03-test0123456789abcdefghij"
INPUTS = [
    "Weather in Paris",
    "Weather in Rome",
    "Weather in Oslo",
    "Weather in Lima",
    "Weather in Kyiv",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "agent.py").write_text(AGENT, encoding="utf-8")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD, encoding="utf-8")
    config = {
        "name": "trips",
        "runner": {"target": "agent:run", "timeout_seconds": 60},
        "personas": [{"name": "alice", "description": "a"}, {"name": "bob", "description": "b"}],
        "base_inputs": [{"input": text} for text in INPUTS],
        "iterations": 2,
        "parallel_runs": 4,
        "output_directory": "out",
    }
    (tmp_path / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return tmp_path


@pytest.fixture
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    pair = (FakeServer("openai").start(), FakeServer("anthropic").start())
    try:
        yield pair
    finally:
        for server in pair:
            server.stop()


def _env(openai: FakeServer | str, claude: FakeServer | str, **extra: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": openai if isinstance(openai, str) else openai.base_url,
        "ANTHROPIC_BASE_URL": claude if isinstance(claude, str) else claude.base_url,
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        **extra,
    }


def _guarded(project: Path, env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "PYTHONPATH": str(project / "guard"),
        "CASSETTE_TEST_SOCKET_LOG": str(project / "connections.log"),
    }


def _run(project: Path, step: str, *args: str, env: dict[str, str]) -> tuple[Any, Path]:
    proc = fl(
        "run",
        "experiment",
        "--no-collector",
        "--output-dir",
        f"out/{step}",
        *args,
        cwd=project,
        env=env,
        timeout=300,
    )
    dirs = sorted((project / "out" / step).glob("trips_*"))
    assert dirs, proc.stdout + proc.stderr
    return proc, dirs[-1]


def _lines(directory: Path) -> dict[str, dict[str, Any]]:
    rows = [json.loads(x) for x in (directory / "trace_summary.jsonl").read_text().splitlines()]
    return {row["run_key"]: row for row in rows}


def _trees(directory: Path) -> dict[str, Any]:
    """Per run: the span tree as nested (type, name, model, tokens, output) tuples."""
    run_of = {row["trace_id"]: key for key, row in _lines(directory).items()}
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in (directory / "observations.jsonl").read_text().splitlines():
        obs = json.loads(line)
        by_trace[obs["trace_id"]].append(obs)

    def node(obs: dict[str, Any], kids: dict[Any, list[dict[str, Any]]]) -> Any:
        own = tuple(
            json.dumps(obs.get(k), sort_keys=True)
            for k in (
                "type",
                "name",
                "model",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "input",
                "output",
                "error",
            )
        )
        return (own, sorted(node(k, kids) for k in kids.get(obs["id"], [])))

    out = {}
    for trace_id, observations in by_trace.items():
        kids: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for obs in observations:
            kids[obs.get("parent_observation_id")].append(obs)
        roots = [
            o
            for o in observations
            if o.get("parent_observation_id") not in {x["id"] for x in observations}
        ]
        out[run_of[trace_id]] = sorted(node(r, kids) for r in roots)
    return out


def _entries(cassette: Path) -> list[str]:
    return cassette.read_text(encoding="utf-8").splitlines()[1:]


def test_record_replay_offline_and_rerecord_one_changed_run(
    project: Path, servers: tuple[FakeServer, FakeServer]
) -> None:
    openai, claude = servers
    cassette = project / "cassettes" / "trips.jsonl"

    # 1. record: 20 runs, 4 model calls each, every one live
    proc, recorded = _run(project, "record", "--cassette", "record", env=_env(openai, claude))
    assert proc.returncode == 0, proc.stderr
    rec_lines = _lines(recorded)
    assert len(rec_lines) == 20 and all(row["success"] for row in rec_lines.values())
    assert len(openai.requests) == 40 and len(claude.requests) == 40
    assert all("chunks 1" not in row["output"] for row in rec_lines.values())  # streamed in pieces
    text = cassette.read_text(encoding="utf-8")
    assert len(_entries(cassette)) == 80
    assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text
    assert "authorization" not in text.lower() and "x-api-key" not in text.lower()
    streamed = [json.loads(x) for x in _entries(cassette) if '"chunks"' in x]
    assert len(streamed) == 40  # kept chunk by chunk, as the network delivered them
    assert sum(len(e["response"]["chunks"]) for e in streamed) > 3 * len(streamed)
    summary = json.loads((recorded / "summary.json").read_text())
    assert summary["cassette"]["recorded"] == 80
    before = cassette.read_bytes()

    # 2. the servers are gone; replay with a socket guard in the process
    for server in servers:
        server.stop()
    dead = _env(openai, claude)
    proc, replayed = _run(project, "replay", "--cassette", "replay", env=_guarded(project, dead))
    assert proc.returncode == 0, proc.stderr
    assert not (project / "connections.log").exists()  # zero connection attempts
    rep_lines = _lines(replayed)
    assert rep_lines.keys() == rec_lines.keys()
    for key, row in rec_lines.items():
        assert rep_lines[key]["output"] == row["output"]
        assert rep_lines[key]["token_usage"] == row["token_usage"]
        assert row["token_usage"]["total_tokens"] > 0
    assert _trees(replayed) == _trees(recorded)
    assert cassette.read_bytes() == before  # replay never rewrites the cassette
    assert json.loads((replayed / "summary.json").read_text())["cassette"]["replayed"] == 80

    # 3. one run's prompt changes: in replay only that run fails, with the one line
    changed = {"CHANGE_RUN": "Weather in Rome|bob|1"}
    proc, failing = _run(
        project, "changed", "--cassette", "replay", env=_guarded(project, {**dead, **changed})
    )
    assert proc.returncode == 1, proc.stderr
    assert not (project / "connections.log").exists()
    rows = _lines(failing)
    failed = [row for row in rows.values() if not row["success"]]
    assert len(failed) == 1
    (bad,) = failed
    assert (bad["input"], bad["persona"], bad["iteration"]) == ("Weather in Rome", "bob", 1)
    message = bad["error"]["message"]
    assert bad["error"]["type"] == "CassetteMiss"
    assert f"run run:{bad['run_key']}, call 0" in message
    assert "model gpt-test" in message and "'Weather in Rome'" in message
    assert message.endswith("re-record with --cassette auto") and "\n" not in message
    assert message in proc.stderr
    for key, row in rows.items():
        if key != bad["run_key"]:
            assert row["output"] == rec_lines[key]["output"]

    # 4. auto re-records that run alone (servers back, on other ports)
    again = (FakeServer("openai").start(), FakeServer("anthropic").start())
    try:
        proc, _ = _run(project, "auto", "--cassette", "auto", env=_env(*again, **changed))
        assert proc.returncode == 0, proc.stderr
        # the prompt change touches the two OpenAI calls; the Anthropic ones still match
        assert len(again[0].requests) == 2 and len(again[1].requests) == 0
        assert again[0].requests[0]["body"]["messages"][0]["content"] == "Be brief."
    finally:
        for server in again:
            server.stop()
    old, new = set(before.decode().splitlines()[1:]), set(_entries(cassette))
    assert len(new) == 80
    assert {json.loads(x)["run"] for x in old - new} == {f"run:{bad['run_key']}"}
    assert {json.loads(x)["run"] for x in new - old} == {f"run:{bad['run_key']}"}
    assert len(old - new) == 2 and len(new - old) == 2

    # 5. and now the changed experiment replays offline, every run
    proc, final = _run(
        project, "final", "--cassette", "replay", env=_guarded(project, {**dead, **changed})
    )
    assert proc.returncode == 0, proc.stderr
    assert all(row["success"] for row in _lines(final).values())
    assert not (project / "connections.log").exists()
