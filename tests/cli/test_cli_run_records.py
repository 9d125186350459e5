"""What a run records: failed attempts keep their traces; tokens are counted once."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import fl


def test_failed_attempts_keep_their_spans(tmp_path: Path) -> None:
    (tmp_path / "flaky.py").write_text(
        "import fluxloop\n"
        "calls = {'n': 0}\n"
        "@fluxloop.agent(name='Flaky')\n"
        "def run(input_text: str) -> str:\n"
        "    calls['n'] += 1\n"
        "    if calls['n'] == 1:\n"
        "        raise RuntimeError('first attempt fails')\n"
        "    return 'ok'\n"
    )
    (tmp_path / "setting.yaml").write_text(
        "name: flaky\nrunner:\n  target: flaky:run\n  max_retries: 1\n  retry_delay: 0\n"
        "base_inputs:\n  - input: hi\niterations: 1\n"
    )
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (exp,) = (tmp_path / "experiments").glob("flaky_*")
    (line,) = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert line["success"] is True and line["attempts"] == 2
    agents = [json.loads(x) for x in (exp / "observations.jsonl").read_text().splitlines()]
    agents = [o for o in agents if o["type"] == "agent"]
    assert [o["attributes"]["fluxloop.run.attempt"] for o in agents] == [1, 2]
    assert agents[0]["error"] and agents[0]["level"] == "error"
    assert agents[1]["trace_id"] == line["trace_id"]  # the run's trace is the last attempt's
    traces = [json.loads(x) for x in (exp / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 2


def test_tokens_of_an_agent_that_returns_the_model_message_are_counted_once(tmp_path: Path) -> None:
    (tmp_path / "passthrough.py").write_text(
        "import fluxloop\n"
        "@fluxloop.prompt(model='gpt-4o-mini')\n"
        "def llm(q: str) -> dict:\n"
        "    return {'content': 'hi', 'usage': {'prompt_tokens': 7, 'completion_tokens': 3}}\n"
        "@fluxloop.agent\n"
        "def run(input_text: str) -> dict:\n"
        "    return llm(input_text)  # the agent's result carries the same usage again\n"
    )
    (tmp_path / "setting.yaml").write_text(
        "name: tok\nrunner:\n  target: passthrough:run\nbase_inputs:\n  - input: hi\niterations: 1\n"
    )
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (exp,) = (tmp_path / "experiments").glob("tok_*")
    (line,) = [json.loads(x) for x in (exp / "trace_summary.jsonl").read_text().splitlines()]
    assert line["token_usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
