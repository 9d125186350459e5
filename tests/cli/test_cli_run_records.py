"""A retried run keeps the traces of its failed attempts (each its own trace, marked by attempt)."""

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
