"""`fluxloop evaluate experiment --cassette`: the LLM judge's calls recorded, then replayed
without calling the judge model (subprocesses)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import dedent, fl, read_jsonl

HERE = Path(__file__).parent


@pytest.fixture
def proj(exp_a: Path) -> Path:
    root = exp_a.parent.parent
    shutil.copy(HERE / "judges.py", root / "judges.py")
    return root


def test_judge_calls_record_then_replay_without_the_model(proj: Path, exp_a: Path) -> None:
    stats = proj / "judge_stats.json"
    (proj / "evaluation.yaml").write_text(
        dedent(
            f"""
            evaluators:
              - name: judge
                type: llm_judge
                chat_model: judges:make_rubric
                factory_kwargs: {{stats_file: "{stats}"}}
                criteria:
                  - The answer talks about the user's order
            thresholds:
              pass_rate: 0
            """
        ),
        encoding="utf-8",
    )
    args = ("evaluate", "experiment", str(exp_a), "-c", "evaluation.yaml")
    rec = fl(*args, "--cassette", "record", cwd=proj)
    assert rec.returncode == 0, rec.stderr
    assert json.loads(stats.read_text())["calls"] == 14
    recorded = read_jsonl(exp_a / "evaluation" / "per_trace.jsonl")
    cassette = (
        proj / "cassettes" / f"{json.loads((exp_a / 'summary.json').read_text())['name']}.jsonl"
    )
    lines = cassette.read_text().splitlines()
    assert len(lines) == 15 and all('"run":"judge:all"' in x for x in lines[1:])
    stats.unlink()
    rep = fl(*args, "--overwrite", "--cassette", "replay", cwd=proj)
    assert rep.returncode == 0, rep.stderr
    assert not stats.exists()  # the judge model was never called
    replayed = read_jsonl(exp_a / "evaluation" / "per_trace.jsonl")
    strip = lambda rs: [  # noqa: E731
        [(e["name"], e["score"], e["passed"], e.get("criteria")) for e in r["evaluators"]]
        for r in rs
    ]
    assert strip(replayed) == strip(recorded)
    summary = json.loads((exp_a / "evaluation" / "summary.json").read_text())
    assert summary["llm"]["calls"] == 14 and summary["llm"]["cache_hits"] == 0
    # a judge prompt nobody recorded: one line, exit 1
    text = (proj / "evaluation.yaml").read_text().replace("user's order", "user's parcel")
    (proj / "evaluation.yaml").write_text(text)
    miss = fl(*args, "--overwrite", "--cassette", "replay", cwd=proj)
    assert miss.returncode == 1
    (last,) = [x for x in miss.stderr.splitlines() if "no recording" in x]
    assert "run judge:all, call" in last and "re-record with --cassette auto" in last
