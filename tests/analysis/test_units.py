"""In-process tests of the analysis building blocks: judge parsing, statistics, file names,
the observation index (including the sort-by-trace path), the judge client's limits."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from fluxloop.analysis import experiment as experiment_mod
from fluxloop.analysis.experiment import ObservationIndex, load_experiment, run_from_summary
from fluxloop.analysis.judge import (
    JudgeClient,
    JudgeLimits,
    JudgeSpec,
    build_chat_model,
    extract_json,
    parse_score,
    parse_verdicts,
)
from fluxloop.analysis.parse import parse_experiment, safe_file_stem
from fluxloop.analysis.rules import resolve_path
from fluxloop.analysis.stats import pass_at_k, pass_hat_k, percentile
from fluxloop.errors import ConfigError
from fluxloop.llm.cache import ResponseCache as JudgeCache

CRITERIA = ["answers the question", "uses the tool"]


@pytest.mark.parametrize(
    "text",
    [
        '{"criteria": [{"id": 1, "verdict": "pass", "reasoning": "ok"}, '
        '{"id": 2, "verdict": "fail", "reasoning": "no tool"}]}',
        'Sure!\n```json\n{"criteria": [{"id": 1, "reasoning": "ok", "verdict": "PASS"},\n'
        '{"id": 2, "reasoning": "no tool", "verdict": "Failed"},]}\n```\nHope that helps.',
        "{'criteria': [{'id': 2, 'verdict': False, 'reasoning': 'no tool'}, "
        "{'id': 1, 'verdict': True, 'reasoning': 'ok'}]}",
        'prefix [{"verdict": "yes", "reasoning": "ok"}, {"passed": false, "reason": "no tool"}]',
        "1. PASS - ok\n2. FAIL - no tool\n",
    ],
)
def test_verdicts_are_parsed_robustly(text: str) -> None:
    verdicts = parse_verdicts(text, CRITERIA)
    assert verdicts is not None
    assert [v["verdict"] for v in verdicts] == ["pass", "fail"]
    assert [v["criterion"] for v in verdicts] == CRITERIA
    assert verdicts[1]["reasoning"] == "no tool"


def test_missing_and_unknown_verdicts() -> None:
    one = parse_verdicts('{"criteria": [{"id": 2, "verdict": "maybe"}]}', CRITERIA)
    assert one is not None
    assert [v["verdict"] for v in one] == ["inconclusive", "inconclusive"]
    assert one[0]["reasoning"] == "the judge gave no verdict"
    assert parse_verdicts("I refuse.", CRITERIA) is None
    assert parse_verdicts('{"unrelated": 1}', CRITERIA) is None


def test_extract_json_edge_cases() -> None:
    assert extract_json('text {"a": "}"} more') == {"a": "}"}
    assert extract_json("```\n[1, 2,]\n```") == [1, 2]
    assert extract_json("no json here") is None
    assert extract_json('{"a": {"b": [1, {"c": "x"}]}}') == {"a": {"b": [1, {"c": "x"}]}}


@pytest.mark.parametrize(
    ("parser", "text", "value"),
    [
        ("first_number_1_10", "The score is 8", 8.0),
        ("first_number_1_10", "Score: 10/10", 10.0),
        ("first_number_1_10", "I'd give it 7.5", 7.5),
        ("first_number_1_10", "none", None),
        ("json_score", '```json\n{"score": 7}\n```', 7.0),
        ("json_score", '{"score": "6.5"}', 6.5),
        ("json_score", "7", None),
        ("first_float", "Score: 8.5/10", 8.5),
    ],
)
def test_score_parsers(parser: str, text: str, value: float | None) -> None:
    assert parse_score(text, parser) == value


def test_pass_at_k_and_pass_hat_k() -> None:
    assert pass_at_k(2, 1, 2) == 1.0 and pass_hat_k(2, 1, 2) == 0.0
    assert pass_at_k(5, 0, 3) == 0.0 and pass_hat_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 2, 1) == pytest.approx(0.5) and pass_hat_k(4, 2, 1) == pytest.approx(0.5)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert pass_hat_k(4, 3, 2) == pytest.approx(0.5)  # C(3,2)/C(4,2)
    assert pass_at_k(3, 1, 10) == 1.0  # k larger than n uses n
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)


@given(st.text(), st.integers(min_value=-5, max_value=10_000), st.text())
def test_file_stems_never_escape(trace_id: str, iteration: int, fallback: str) -> None:
    stem = safe_file_stem(iteration, trace_id, fallback)
    assert "/" not in stem and "\\" not in stem and ".." not in stem and "\x00" not in stem
    assert stem[:2].isdigit() and len(stem) < 120
    assert stem.replace("_", "").replace("-", "").isalnum()


def test_resolve_path() -> None:
    data = {"a": {"b": [10, {"c": "x"}]}, "output": "o"}
    assert resolve_path(data, "a.b[1].c") == "x"
    assert resolve_path(data, "a.b.0") == 10
    assert resolve_path(data, "output") == "o"
    assert resolve_path(data, "a.z") is not None  # the missing marker, not an exception


def test_summary_line_shapes() -> None:
    ours = run_from_summary(
        {
            "trace_id": "AB" * 16,
            "iteration": 1,
            "success": False,
            "status": "timeout",
            "error": {"type": "TimeoutError", "message": "slow"},
        }
    )
    assert ours.trace_id == "ab" * 16 and ours.status == "timeout"
    assert ours.error == {"type": "TimeoutError", "message": "slow", "traceback": None}
    original = run_from_summary(
        {
            "trace_id": "EC8CFAB2-2ED1-4F08-9E05-E7CE32C7B544",
            "iteration": 0,
            "success": True,
            "token_usage": {"prompt_tokens": 5.0, "completion_tokens": 7.0},
        }
    )
    assert original.trace_id == "ec8cfab2-2ed1-4f08-9e05-e7ce32c7b544"
    assert original.total_tokens() == 12.0 and original.status == "success"


def test_interleaved_observations_are_sorted_by_trace(
    project: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ordered = tmp_path / "ordered"
    shuffled = tmp_path / "shuffled"
    shutil.copytree(project["a"], ordered)
    shutil.copytree(project["a"], shuffled)
    lines = (shuffled / "observations.jsonl").read_text().splitlines(keepends=True)
    random.Random(7).shuffle(lines)
    (shuffled / "observations.jsonl").write_text("".join(lines))
    monkeypatch.setattr(experiment_mod, "SORT_SLACK_BYTES", 0)
    monkeypatch.setattr(experiment_mod, "BUCKET_BYTES", 2048)  # several buckets
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(suffix: str | None = None, prefix: str | None = None, dir: Any = None) -> str:
        return real_mkdtemp(suffix, prefix, dir if dir is not None else scratch)

    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)
    index = ObservationIndex(shuffled / "observations.jsonl").build()
    try:
        assert index.sorted_by_trace and index.lines == len(lines)
    finally:
        index.close()
    a = parse_experiment(ordered)
    b = parse_experiment(shuffled)
    assert b.sorted_by_trace and not a.sorted_by_trace
    names = sorted(p.name for p in a.output_dir.iterdir())
    assert names == sorted(p.name for p in b.output_dir.iterdir())
    for name in names:
        if name.endswith(".md"):
            assert (a.output_dir / name).read_text() == (b.output_dir / name).read_text(), name
    assert list(scratch.iterdir()) == []  # the sorted copy was removed


def test_duplicate_observation_lines_are_dropped(original_dir: Path) -> None:
    path = original_dir / "observations.jsonl"
    first = path.read_text().splitlines(keepends=True)[0]
    with open(path, "a") as fh:
        fh.write(first)
    exp = load_experiment(original_dir)
    index = ObservationIndex(exp.observations_path).build()
    tid = json.loads(first)["trace_id"]
    assert index.count(tid) == 4 and len(index.get(tid)) == 3
    index.close()


# ---------------------------------------------------------------------------------------------
# the judge client


def _run(
    spec: JudgeSpec, model: Any, limits: JudgeLimits, n: int = 3
) -> tuple[list[Any], JudgeClient]:
    client = JudgeClient(limits, JudgeCache(None))
    run = run_from_summary({"trace_id": "1" * 32, "input": "q", "output": "a", "success": True})

    async def go() -> list[Any]:
        return [await client.judge(spec, model, run, [], run.record()) for _ in range(n)]

    return asyncio.run(go()), client


def test_max_llm_calls_budget_and_memory_cache() -> None:
    spec = JudgeSpec(name="j", criteria=["ok"])
    model = FakeListChatModel(responses=['{"criteria": [{"id": 1, "verdict": "pass"}]}'])
    results, client = _run(spec, model, JudgeLimits(max_llm_calls=0))
    assert [r.status for r in results] == ["skipped"] * 3
    assert client.budget_exhausted and client.calls == 0
    results, client = _run(spec, model, JudgeLimits())
    assert [r.cached for r in results] == [False, True, True] and client.calls == 1


def test_generic_fake_chat_model_as_judge() -> None:
    spec = JudgeSpec(name="j", criteria=["ok", "fine"])
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage(
                    content='{"criteria": [{"id": 1, "verdict": "pass"}, {"id": 2, "verdict": "fail",'
                    ' "reasoning": "meh"}]}'
                )
            ]
        )
    )
    (result,), _client = _run(spec, model, JudgeLimits(), n=1)
    assert result.score == 0.5 and result.status == "judged"
    assert result.criteria[1] == {"criterion": "fine", "verdict": "fail", "reasoning": "meh"}


def test_missing_provider_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fluxloop.analysis import judge

    monkeypatch.setitem(
        judge._PROVIDERS,
        "openai",
        ("no_such_langchain_openai", "ChatOpenAI", "langchain-openai", "openai"),
    )
    spec = JudgeSpec(name="j", provider="openai", model="gpt-4o-mini")
    with pytest.raises(ConfigError, match=r"pip install 'fluxloop\[openai\]'"):
        build_chat_model(spec, [], "evaluation.yaml:3")


def test_compare_text_says_how_many_regressions_are_not_listed() -> None:
    from fluxloop.analysis.compare import CompareResult, _Side, render_text

    items = [{"input": f"q{i}", "persona": None, "iteration": 0} for i in range(30)]
    result = CompareResult(
        a=_Side("A", "a"),
        b=_Side("B", "b"),
        basis="success",
        regressions=items,
        regression_count=30,
        improvements=items[:21],
        improvement_count=21,
        metrics=[
            {
                "metric": "success_rate",
                "a": 1.0,
                "b": 0.5,
                "unit": "rate",
                "delta": -0.5,
                "delta_pct": None,
                "better": "higher",
            }
        ],
    )
    text = render_text(result)
    assert text.count("REGRESSED") == 20
    assert "… 10 more regression(s)" in text
    assert "… 1 more improvement(s)" in text
