"""The CLI's one rendering module: the progress bar and lines, LLM progress, summaries, tables,
span trees (the libraries only report events and return data)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from fluxloop.cli.render import (
    LiveProgress,
    PlainProgress,
    RichProgress,
    experiment_summary_lines,
    format_duration,
    format_table,
    make_progress,
    span_tree_lines,
)
from fluxloop.llm.usage import UsageMeter
from fluxloop.runner.progress import NullProgress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


MULTI_TURN = {
    "conversations": 2,
    "turns": 5,
    "agent_tokens": 1200,
    "simulator_usage": {"calls": 3, "total_tokens": 90},
    "termination_reasons": {"max_turns": 1, "user_ended": 1},
}


def test_selection() -> None:
    assert isinstance(make_progress(quiet=True), NullProgress)
    assert isinstance(make_progress(stream=io.StringIO()), PlainProgress)
    assert isinstance(make_progress(stream=FakeTTY()), RichProgress)


def test_plain_lines_are_periodic_with_counts_rate_and_eta() -> None:
    out = io.StringIO()
    progress = PlainProgress(out, interval=3600)
    progress.start(10, done=2, failed=1)
    for ok in (True, False, True):
        progress.advance(ok)
    assert out.getvalue() == ""  # nothing before the interval elapses
    progress.finish()
    line = out.getvalue().strip()
    assert line.startswith("[fluxloop] 5/10 (50%) failed=2 rate=")
    assert "ETA" in line


def test_rich_bar_renders_done_total_failures_rate_eta() -> None:
    out = FakeTTY()
    progress = make_progress(stream=out)
    progress.start(4)
    progress.info("hello")
    progress.conversations(MULTI_TURN)
    for ok in (True, True, False, True):
        progress.advance(ok)
    progress.finish()
    text = out.getvalue()
    assert "4/4" in text and "1 failed" in text and "ETA" in text and "hello" in text
    assert "Multi-turn: 2 conversation(s)" in text


def test_conversation_events_become_the_multi_turn_line() -> None:
    out = io.StringIO()
    PlainProgress(out).conversations(MULTI_TURN)
    assert out.getvalue() == (
        "[fluxloop] Multi-turn: 2 conversation(s), 5 turn(s) (avg 2.5), agent tokens 1,200, "
        "simulated user 3 call(s), 90 tokens; ended: max_turns 1, user_ended 1\n"
    )


def test_format_duration() -> None:
    assert format_duration(5.25) == "5.2s"
    assert format_duration(75) == "1m 15s"
    assert format_duration(7300) == "2h 01m"
    assert format_duration(float("inf")) == "?"


def test_live_llm_progress_redraws_one_line_on_a_terminal() -> None:
    out = FakeTTY()
    meter = UsageMeter()
    progress = LiveProgress(stream=out)
    progress.start("generate (openai/gpt-4o-mini)", meter)
    progress.update(1, 4)
    meter.calls, meter.total_tokens, meter.prompt_tokens = 1, 30, 20
    meter.completion_tokens = 10
    progress._last = 0.0  # redraws are throttled to 10/s
    meter.notify()  # a usage change redraws too
    progress.update(4, 4)
    progress.finish()
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K[fluxloop] generate (openai/gpt-4o-mini) 1/4 - tokens 0")
    assert "\r\x1b[2K[fluxloop] generate (openai/gpt-4o-mini) 4/4 - tokens 30 (prompt 20, " in (
        text
    )
    assert "calls 1" in text and text.endswith("s\n") and text.count("\n") == 1


def test_live_llm_progress_prints_periodic_lines_otherwise_and_nothing_when_quiet() -> None:
    out = io.StringIO()
    meter = UsageMeter(retries=2, rate_limited=1)
    progress = LiveProgress(stream=out, interval=3600)
    progress.start("generate (mock)", meter)
    progress.update(1, 2)
    progress.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first update (the interval starts at 0) and the end
    assert lines[-1].startswith("[fluxloop] generate (mock) 1/2 - tokens 0 (prompt 0, ")
    assert "retries 2 (1 rate-limited)" in lines[-1]
    quiet = io.StringIO()
    silent = LiveProgress(stream=quiet, enabled=False)
    silent.start("generate (mock)", UsageMeter())
    silent.update(1, 1)
    silent.finish()
    assert quiet.getvalue() == ""


def test_experiment_summary_lines() -> None:
    summary: dict[str, Any] = {
        "name": "exp",
        "results": {
            "total_runs": 4,
            "successful": 3,
            "failed": 1,
            "success_rate": 0.75,
            "duration_seconds": 75,
        },
        "errors": {"by_type": {"TimeoutError": 1}},
        "duration_ms": {"count": 4, "mean": 12.0, "p50": 10, "p95": 20, "p99": 20, "max": 20500},
        "multi_turn": MULTI_TURN,
    }
    lines = experiment_summary_lines(summary, Path("/nowhere/exp_1"))
    assert lines[0] == "Experiment exp: 3/4 runs succeeded (75.0%) in 1m 15s"
    assert lines[1] == "  failed: 1 (TimeoutError: 1)"
    assert lines[2].endswith("p95 20.0 ms, p99 20.0 ms, max 20s")
    assert lines[3] == "  results: /nowhere/exp_1"
    assert lines[4].startswith("Multi-turn: 2 conversation(s)")


def test_format_table() -> None:
    assert format_table([["a", "long value"], ["bbb", "x"]], ["Key", "Value"]) == [
        "Key  Value",
        "---  ----------",
        "a    long value",
        "bbb  x",
    ]


def _obs(oid: str, parent: str | None, start: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": oid,
        "trace_id": "t1",
        "parent_observation_id": parent,
        "type": extra.pop("type", "span"),
        "name": oid,
        "start_time": f"2025-01-01T00:00:{start:02d}+00:00",
        "end_time": f"2025-01-01T00:00:{start + 1:02d}+00:00",
        **extra,
    }


def test_span_tree_nests_children_in_start_order_with_connectors() -> None:
    records = [  # deliberately out of order: children end (and are exported) first
        _obs("search", "plan", 2, type="tool", output={"hits": 3}),
        _obs("answer", "root", 5, type="generation", model="gpt", total_tokens=12, output="ok"),
        _obs("plan", "root", 1),
        _obs("lookup", "plan", 3, error="boom"),
        _obs("root", None, 0, type="agent"),
        _obs("orphan", "gone", 9),
    ]
    assert span_tree_lines(records) == [
        "agent root  1000.0 ms",
        "├─ span plan  1000.0 ms",
        '│  ├─ tool search  1000.0 ms  -> {"hits": 3}',
        "│  └─ span lookup  1000.0 ms  ERROR boom",
        "└─ generation answer  1000.0 ms  model=gpt  tokens=12  -> ok",
        "span orphan  1000.0 ms",
    ]


def test_span_tree_shows_each_record_once_in_a_parent_cycle() -> None:
    records = [_obs("a", "b", 0), _obs("b", "a", 1)]
    lines = span_tree_lines(records)
    assert lines == ["span a  1000.0 ms", "└─ span b  1000.0 ms"]


def test_status_tables() -> None:
    from fluxloop.cli.render import experiments_table, traces_table
    from fluxloop.project.status import ExperimentInfo

    info = ExperimentInfo(
        path=Path("/x/exp_1"),
        name="exp",
        date=None,
        status="completed",
        total=3,
        planned=4,
        successful=2,
        failed=1,
        success_rate=2 / 3,
        avg_duration_ms=12.34,
    )
    assert experiments_table([info])[2].split() == [
        "exp_1", "-", "completed", "3/4", "66.7%", "12.3", "ms", "-",
    ]  # fmt: skip
    assert info.as_dict()["planned_runs"] == 4
    rows = traces_table(
        [
            {"trace_id": "a" * 32, "iteration": 0, "input": "hi", "output": "x" * 80},
            {
                "trace_id": "b",
                "success": False,
                "status": "timeout",
                "error": {"type": "TimeoutError", "message": "slow"},
                "duration_ms": 5.0,
            },
        ]
    )
    assert rows[2].startswith("aaaaaaaaaaaaaaaa  0")
    assert rows[2].endswith("x" * 37 + "...")
    assert rows[3].split()[:5] == ["b", "-", "timeout", "5.0", "ms"]
    assert rows[3].endswith("TimeoutError: slow")
