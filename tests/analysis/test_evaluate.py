"""`fluxloop evaluate experiment` on real experiment directories (subprocesses)."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import RUNS, dedent, fl, read_jsonl

HERE = Path(__file__).parent


@pytest.fixture
def proj(exp_a: Path) -> Path:
    """The project directory holding the copy of experiment A, with the test judges."""
    root = exp_a.parent.parent
    for name in ("judges.py", "custom_evals.py"):
        shutil.copy(HERE / name, root / name)
    return root


def write(root: Path, text: str, name: str = "evaluation.yaml") -> Path:
    path = root / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def evaluate(exp: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, str, dict]:
    proc = fl("evaluate", "experiment", str(exp), *args, cwd=cwd or exp.parent.parent)
    summary_path = exp / "evaluation" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return proc.returncode, proc.stdout, proc.stderr, summary


def per_trace(exp: Path) -> list[dict]:
    return read_jsonl(exp / "evaluation" / "per_trace.jsonl")


def by_input(records: list[dict], text: str) -> list[dict]:
    return [r for r in records if r["input"] == text]


def test_defaults_score_every_run_and_write_all_outputs(exp_a: Path) -> None:
    code, out, err, summary = evaluate(exp_a)
    assert code == 1, err  # 6 failed runs; by default every trace must pass
    assert err.strip().splitlines()[-1] == (
        "error: evaluation below threshold: pass_rate: 70.0% (required >= 100.0%)"
    )
    assert "Evaluation FAILED: 14/20 traces passed (70.0%)" in out
    for name in ("summary.json", "per_trace.jsonl", "report.md", "report.html", "junit.xml"):
        assert (exp_a / "evaluation" / name).is_file(), name
    overall = summary["overall"]
    assert (overall["traces"], overall["evaluated"], overall["passed"]) == (RUNS, RUNS, 14)
    assert overall["pass_rate"] == 0.7 and overall["success_rate"] == 0.7
    assert summary["config"].startswith("built-in defaults")
    assert summary["passed"] is False
    assert set(summary["per_persona"]) == {"novice", "expert"}
    records = per_trace(exp_a)
    assert len(records) == RUNS
    failed = [r for r in records if not r["passed"]]
    assert {r["input"] for r in failed} == {"order boom please", "Tell me something flaky"}
    checks = failed[0]["evaluators"][0]["checks"]
    assert [c["check"] for c in checks] == ["output_not_empty", "success"]
    assert checks[1]["passed"] is False and "run error" in checks[1]["detail"]
    junit = ET.parse(exp_a / "evaluation" / "junit.xml").getroot()
    assert junit.get("tests") == str(RUNS + 1) and junit.get("failures") == str(6 + 1)
    suites = junit.findall("testsuite")
    assert [s.get("failures") for s in suites] == ["6", "1"]
    assert len(suites[0].findall("testcase/failure")) == 6
    md = (exp_a / "evaluation" / "report.md").read_text()
    assert "**Verdict: FAILED** — 14/20 traces passed (70.0%)" in md
    assert "- FAIL pass_rate: 70.0% (required >= 100.0%)" in md


def test_original_documented_format(proj: Path, exp_a: Path) -> None:
    """The docs' "Standard Testing" evaluation.yaml, with its judges' model swapped for a fake."""
    write(
        proj,
        """
        evaluation_goal:
          text: "Validate agent provides accurate, helpful responses"
        evaluators:
          - name: completeness
            type: rule_based
            enabled: true
            weight: 0.3
            rules:
              - check: output_not_empty
              - check: success
              - check: latency_under
                budget_ms: 2000
          - name: response_quality
            type: llm_judge
            enabled: true
            weight: 0.7
            threshold: 0.5
            chat_model: judges:make_score
            model_parameters:
              reasoning:
                effort: medium
            prompt_template: |
              Score the assistant's response from 1-10.
              User Input: {input}
              Assistant Output: {output}
              Persona: {persona} ({metadata.expected})
              Provide only a number from 1-10.
            max_score: 10
            parser: first_number_1_10
          - name: response_clarity
            type: llm_judge
            enabled: false
            model: gpt-4o-mini
        aggregate:
          method: weighted_sum
          threshold: 0.75
          by_persona: true
        limits:
          sample_rate: 1.0
          max_llm_calls: 100
          cache: evaluation_cache.jsonl
        thresholds:
          pass_rate: 0.6
        success_criteria:
          performance:
            avg_response_time:
              enabled: true
              threshold_ms: 1500
          quality:
            response_quality: true
        report:
          style: detailed
        """,
    )
    code, out, err, summary = evaluate(exp_a, "--config", "evaluation.yaml")
    assert code == 0, err + out
    assert summary["evaluation_goal"] == "Validate agent provides accurate, helpful responses"
    records = per_trace(exp_a)
    ok = next(r for r in records if r["success"])
    judge = ok["evaluators"][1]
    assert judge["score"] == 0.8 and judge["passed"] is True
    assert ok["score"] == pytest.approx(0.3 * 1.0 + 0.7 * 0.8)
    bad = next(r for r in records if not r["success"])
    assert bad["evaluators"][1]["reason"] == "not judged: the run failed"
    assert [g["name"] for g in summary["gates"]] == [
        "pass_rate",
        "avg_response_time",
        "response_quality.mean_score",
    ]
    assert all(g["passed"] for g in summary["gates"])
    assert summary["llm"]["calls"] == 14
    assert (exp_a / "evaluation" / "evaluation_cache.jsonl").is_file()


def test_extended_rule_checks_on_runs_and_traces(proj: Path, exp_a: Path) -> None:
    (proj / "answer.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "required": ["answer", "order"],
                "properties": {"order": {"type": "string", "pattern": "^A"}},
            }
        )
    )
    write(
        proj,
        """
        evaluators:
          - name: orders
            type: rule_based
            rules:
              - check: tool_called
                tool: lookup_order
              - check: tool_args
                tool: lookup_order
                args: {order_id: A1}
              - check: tool_sequence
                sequence: [lookup_order, refund]
              - check: tool_not_called
                tools: [delete_account]
              - check: no_error_spans
              - check: max_steps
                max: 4
              - check: json_valid
              - check: json_schema
                schema_file: answer.schema.json
              - check: regex
                pattern: 'shipped'
              - check: contains
                keywords: [ORDER, shipped]
                mode: all
              - check: not_contains
                keywords: [error]
              - check: length
                min: 10
                max: 500
              - check: token_usage_under
                max_total_tokens: 100
              - check: latency_under
                budget_ms: 5000
              - check: similarity
                expected_path: metadata.expected
                threshold: 0.01
              - check: equals
                target: persona
                value: novice
        thresholds:
          pass_rate: 0
        """,
    )
    code, _out, err, _ = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 0, err
    records = per_trace(exp_a)

    def checks(text: str, persona: str = "novice") -> dict[str, bool]:
        rec = next(r for r in records if r["input"] == text and r["persona"] == persona)
        return {c["check"].split("(")[0]: c["passed"] for c in rec["evaluators"][0]["checks"]}

    refund = checks("I want a refund for my order")
    assert all(refund.values()), refund
    where = checks("Where is my order?")
    assert where["tool_sequence"] is False and where["tool_called"] is True
    assert where["contains"] is True
    assert where["tool_args"] and where["json_schema"] and where["regex"]
    boom = checks("order boom please")
    assert boom["no_error_spans"] is False and boom["tool_args"] is False
    assert boom["json_valid"] is False and boom["contains"] is False
    hello = checks("hello there", "expert")
    assert hello["tool_called"] is False and hello["tool_not_called"] is True
    assert hello["equals"] is False and hello["max_steps"] is True
    rec = next(r for r in records if r["input"] == "order boom please")
    detail = next(
        c["detail"] for c in rec["evaluators"][0]["checks"] if c["check"] == "no_error_spans"
    )
    assert "order service down" in detail


def test_llm_judge_rubric_concurrency_and_cache(proj: Path, exp_a: Path) -> None:
    stats = proj / "judge_stats.json"
    write(
        proj,
        f"""
        evaluation_goal: Answers about orders are correct
        evaluators:
          - name: judge
            type: llm_judge
            chat_model: judges:make_rubric
            factory_kwargs: {{stats_file: "{stats}", delay: 0.05}}
            criteria:
              - The answer talks about the user's order
              - name: grounded
                description: Claims are backed by the trace
        limits:
          concurrency: 2
        thresholds:
          pass_rate: 0
        """,
    )
    code, _out, err, summary = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 0, err
    assert json.loads(stats.read_text()) == {"calls": 14, "max_active": 2}
    assert summary["llm"]["calls"] == 14 and summary["llm"]["cache_hits"] == 0
    records = per_trace(exp_a)
    where = next(r for r in records if r["input"] == "Where is my order?")["evaluators"][0]
    assert where["score"] == 1.0 and where["passed"] is True
    assert where["criteria"] == [
        {
            "criterion": "The answer talks about the user's order",
            "verdict": "pass",
            "reasoning": "output mentions an order",
        },
        {
            "criterion": "grounded: Claims are backed by the trace",
            "verdict": "pass",
            "reasoning": "trace has 3 steps",
        },
    ]
    refund = next(r for r in records if r["input"].startswith("I want a refund"))["evaluators"][0]
    assert refund["criteria"][1]["verdict"] == "inconclusive" and refund["score"] == 0.5
    assert refund["passed"] is False and "1 inconclusive" in refund["reason"]
    hello = next(r for r in records if r["input"] == "hello there")["evaluators"][0]
    assert hello["criteria"][0]["verdict"] == "fail" and hello["score"] == 0.5
    # recomputed from the cache, with a different threshold and no new judge call
    stats.unlink()
    text = (proj / "evaluation.yaml").read_text() + "aggregate:\n  threshold: 0.5\n"
    (proj / "evaluation.yaml").write_text(text)
    code, _, err, summary2 = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 2 and "already exists; pass --overwrite" in err
    code, _, err, summary2 = evaluate(exp_a, "-c", "evaluation.yaml", "--overwrite")
    assert code == 0, err
    assert not stats.exists()
    assert summary2["llm"] == {**summary["llm"], "calls": 0, "cache_hits": 14}
    assert summary2["overall"]["passed"] > summary["overall"]["passed"]
    assert all(e["cached"] for r in per_trace(exp_a) if r["success"] for e in r["evaluators"])


def test_unparseable_and_slow_judges_are_inconclusive(proj: Path, exp_a: Path) -> None:
    write(
        proj,
        """
        evaluators:
          - name: garbage
            type: llm_judge
            chat_model: judges:make_garbage
            criteria: [The answer is helpful]
          - name: ignored
            type: llm_judge
            chat_model: judges:make_garbage
            criteria: [The answer is helpful]
            inconclusive: ignore
          - name: slow
            type: llm_judge
            chat_model: judges:make_slow
            criteria: [The answer is helpful]
        limits:
          # well above what an instant judge needs even on a loaded machine (at 0.2 s one
          # garbage call timed out under load and was retried), well below the slow one's 5 s
          timeout_seconds: 1.0
          retries: 1
          retry_delay: 0.01
          concurrency: 8
          circuit_breaker: 0
        thresholds:
          pass_rate: 0
        """,
    )
    code, _out, err, summary = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 0, err
    rec = next(r for r in per_trace(exp_a) if r["success"])
    garbage, ignored, slow = rec["evaluators"]
    assert garbage["status"] == "inconclusive" and garbage["score"] == 0.0
    assert garbage["reason"].startswith("unparseable judge answer: 'I cannot decide, sorry.'")
    assert garbage["criteria"][0]["verdict"] == "inconclusive"
    assert ignored["score"] is None and ignored["status"] == "inconclusive"
    assert slow["status"] == "inconclusive" and "timed out" in slow["reason"]
    assert summary["llm"]["errors"] == 14 * 3
    # garbage: 1 call + 1 re-ask; slow: 2 attempts
    assert summary["llm"]["calls"] == 14 * (2 + 2 + 2)
    assert not (exp_a / "evaluation" / "evaluation_cache.jsonl").exists()


def test_a_judge_that_keeps_failing_is_not_called_again(proj: Path, exp_a: Path) -> None:
    write(
        proj,
        """
        evaluators:
          - name: rules
            type: rule_based
            rules: [{check: success}]
          - name: slow
            type: llm_judge
            chat_model: judges:make_slow
            criteria: [The answer is helpful]
        limits: {timeout_seconds: 0.1, retries: 0, concurrency: 1, circuit_breaker: 3}
        thresholds: {pass_rate: 0}
        """,
    )
    code, _, err, summary = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 0, err
    assert summary["llm"]["calls"] == 3
    assert "judge 'slow': 3 calls in a row failed, last: timed out; not calling it again" in err
    reasons = [r["evaluators"][1]["reason"] for r in per_trace(exp_a) if r["success"]]
    assert sum(1 for r in reasons if r.startswith("not judged: the judge is down")) == 14 - 3
    assert summary["evaluators"][1]["inconclusive"] == 14


def test_custom_evaluators_weights_and_required(proj: Path, exp_a: Path) -> None:
    write(
        proj,
        """
        evaluators:
          - name: mentions
            type: custom
            function: custom_evals:mentions_order
            params: {word: order}
            weight: 3
          - name: short
            type: custom
            function: custom_evals:short_enough
            params: {limit: 40}
            weight: 1
            required: true
          - name: half
            type: custom
            function: custom_evals:async_half
            weight: 0
          - name: buggy
            type: custom
            function: custom_evals:explodes
            weight: 0
        aggregate: {method: weighted_sum, threshold: 0.5}
        thresholds: {pass_rate: 0}
        """,
    )
    code, _out, err, _summary = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 0, err
    assert "custom evaluator 'buggy' raised RuntimeError: evaluator bug" in err
    records = per_trace(exp_a)
    where = next(r for r in records if r["input"] == "Where is my order?")
    mentions, short, half, buggy = where["evaluators"]
    assert mentions["score"] == 1.0 and mentions["reason"] == "tools=['lookup_order']"
    assert short["passed"] is False  # the JSON answer is longer than 40 characters
    assert half["score"] == 0.5 and half["reason"] == "always half"
    assert buggy["status"] == "error" and buggy["score"] == 0.0
    assert where["score"] == pytest.approx(0.75)
    assert where["passed"] is False  # a required evaluator failed
    hello = next(r for r in records if r["input"] == "hello there")
    assert hello["score"] == pytest.approx(0.25)


def test_aggregation_across_iterations(exp_a: Path) -> None:
    code, _, _, summary = evaluate(exp_a, "--fail-under", "0.5")
    assert code == 0
    flaky = [g for g in summary["per_input"] if g["input"] == "Tell me something flaky"]
    assert len(flaky) == 2
    for group in flaky:
        assert (group["traces"], group["passed"], group["k"]) == (2, 1, 2)
        assert group["pass_at_k"] == 1.0 and group["pass_hat_k"] == 0.0
        assert group["mean_score"] == 0.5
    overall = summary["overall"]
    # 10 input/persona groups: 6 always pass, 2 flaky (1 of 2), 2 always fail
    assert overall["pass_at_k"] == pytest.approx(0.8)
    assert overall["pass_hat_k"] == pytest.approx(0.6)
    assert overall["k"] == 2 and overall["inputs"] == 10


def test_gates_from_thresholds_and_success_criteria(proj: Path, exp_a: Path) -> None:
    write(
        proj,
        """
        evaluators:
          - name: basic
            type: rule_based
            rules: [{check: success}]
        thresholds:
          pass_rate: 0.5
          pass_at_k: 0.9
          evaluators: {basic: 0.6}
        success_criteria:
          performance:
            all_traces_successful: true
            error_rate: {enabled: true, threshold_percent: 40}
        """,
    )
    code, out, err, summary = evaluate(exp_a, "-c", "evaluation.yaml", "--verbose")
    assert code == 1
    gates = {g["name"]: g["passed"] for g in summary["gates"]}
    assert gates == {
        "pass_rate": True,
        "pass_at_k": False,
        "basic.pass_rate": True,
        "all_traces_successful": False,
        "error_rate": True,
    }
    assert re.search(
        r"  FAIL 0[01]_\w+ \[(novice|expert)\] 'order boom please' score 0\.0: basic: ", out
    )
    assert "FAIL pass_at_k: 80.0% (required >= 90.0%)" in out
    assert err.strip().splitlines()[-1].startswith("error: evaluation below threshold: pass_at_k")


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "- name: x\n  type: rule_base\n  rules: [{check: success}]\n",
            r"evaluation\.yaml:4: evaluators\[0\]\.type: unknown evaluator type 'rule_base' "
            r"\(did you mean 'rule_based'\?\)",
        ),
        (
            "- name: x\n  type: rule_based\n  rules:\n    - check: output_not_emty\n",
            r"evaluation\.yaml:6: evaluators\[0\]\.rules\[0\]\.check: unknown check "
            r"'output_not_emty' \(did you mean 'output_not_empty'\?\)",
        ),
        (
            "- name: x\n  type: rule_based\n  rules:\n    - check: latency_under\n      budjet_ms: 5\n",
            r"evaluation\.yaml:7: evaluators\[0\]\.rules\[0\]\.budjet_ms: unknown parameter for "
            r"check 'latency_under' \(did you mean 'budget_ms'\?\)",
        ),
        (
            "- name: x\n  type: rule_based\n  rules:\n    - check: regex\n      pattern: '(('\n",
            r"evaluation\.yaml:7: .*pattern: invalid regular expression",
        ),
        (
            "- name: x\n  type: custom\n  function: no_such_module:fn\n",
            r"evaluation\.yaml:5: evaluators\[0\]\.function: cannot import 'no_such_module:fn'",
        ),
        (
            "- name: x\n  type: llm_judge\n  model: gpt-4o-mini\n",
            r"(provider openai needs the langchain-openai package: pip install 'fluxloop\[openai\]'"
            r"|cannot create the openai judge model: .*\(set OPENAI_API_KEY or FLUXLOOP_LLM_API_KEY)",
        ),
        (
            "- name: x\n  type: llm_judge\n  chat_model: judges:not_a_model\n",
            r"chat_model 'judges:not_a_model': expected a langchain-core chat model",
        ),
        (
            "- name: x\n  type: llm_judge\n  provider: opnai\n  model: m\n",
            r"evaluators\[0\]\.provider: .*found provider 'opnai' \(did you mean 'openai'\?\)",
        ),
        (
            "- name: x\n  type: rule_based\n  weight: heavy\n  rules: [{check: success}]\n",
            r"evaluation\.yaml:5: evaluators\[0\]\.weight: expected a number >= 0, found 'heavy'",
        ),
    ],
)
def test_configuration_errors_are_one_line(
    proj: Path, exp_a: Path, snippet: str, message: str
) -> None:
    (proj / "evaluation.yaml").write_text(
        "# evaluators\nevaluators:\n"
        + "\n".join("  " + line for line in snippet.splitlines())
        + "\n"
    )
    code, _out, err, _ = evaluate(exp_a, "-c", "evaluation.yaml")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert re.search(message, lines[0]), lines[0]
    assert not (exp_a / "evaluation" / "summary.json").exists()


def test_config_discovery_prefers_the_project(proj: Path, exp_a: Path, tmp_path: Path) -> None:
    write(
        proj,
        """
        evaluators:
          - name: from_project
            type: rule_based
            rules: [{check: output_not_empty}]
        thresholds: {pass_rate: 0}
        """,
        name="setting.yaml",
    )
    code, _, err, summary = evaluate(exp_a, cwd=tmp_path)  # not from the project directory
    assert code == 0, err
    assert summary["evaluators"][0]["name"] == "from_project"
    assert "(project)" in summary["config"]


def test_per_trace_input_and_original_directory(exp_a: Path, original_dir: Path) -> None:
    assert fl("parse", "experiment", str(exp_a), cwd=exp_a).returncode == 0
    code, _, _, direct = evaluate(exp_a, "--fail-under", "0")
    code2, _, err, from_parsed = evaluate(
        exp_a,
        "--overwrite",
        "--fail-under",
        "0",
        "--per-trace",
        str(exp_a / "per_trace_analysis" / "per_trace.jsonl"),
    )
    assert code == code2 == 0, err
    assert from_parsed["overall"] == direct["overall"]
    code, _out, err, summary = evaluate(original_dir, cwd=original_dir)
    assert code == 1, err
    assert (summary["overall"]["traces"], summary["overall"]["passed"]) == (4, 3)
    assert summary["experiment"] == "my-first-agent_experiment"
    assert summary["experiment_format"] == "original"
    assert summary["overall"]["tokens"]["total"] == 36.0


def test_report_html_is_self_contained(exp_a: Path) -> None:
    evaluate(exp_a)
    html = (exp_a / "evaluation" / "report.html").read_text()
    assert "<script src" not in html and "<link" not in html and "@import" not in html
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"]
    assert 'id="fluxloop-data"' in html and "70.0%" in html
    assert "</script>" not in html.split('id="fluxloop-data">', 1)[1].split("</script>", 1)[0]


def test_malformed_trace_summary_writes_nothing(exp_a: Path) -> None:
    path = exp_a / "trace_summary.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[4] = "{oops\n"
    path.write_text("".join(lines))
    code, _, err, _ = evaluate(exp_a)
    assert code == 2
    assert "trace_summary.jsonl:5: malformed JSON line" in err
    assert len(err.strip().splitlines()) == 1
    assert not (exp_a / "evaluation").exists()


def test_report_html_timelines_are_failing_first(exp_a: Path) -> None:
    evaluate(exp_a)
    html = (exp_a / "evaluation" / "report.html").read_text()
    section = html.split("Timelines (", 1)[1]
    badges = re.findall(r'<details class="tl"( open)?><summary>(.*?)</summary>', section)
    verdicts = ["verdict fail" in summary for _, summary in badges]
    assert any(verdicts) and not all(verdicts)
    first_pass = verdicts.index(False)
    assert all(verdicts[:first_pass]) and not any(verdicts[first_pass:])  # failures first
    opened = [bool(is_open) for is_open, _ in badges]
    assert opened[:3] == [True, True, True] and not any(opened[3:])
    assert all(verdicts[i] for i in range(min(3, first_pass)))  # the open ones are failures
