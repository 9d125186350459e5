"""`fluxloop compare DIR_A DIR_B` on two real experiments of the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import fl


def test_regressions_improvements_and_deltas(exp_a: Path, exp_b: Path, tmp_path: Path) -> None:
    md = tmp_path / "comment.md"
    proc = fl("compare", str(exp_a), str(exp_b), "--markdown", str(md), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # no threshold given
    out = proc.stdout
    assert "aligned 20 run(s) by (input, persona, iteration); only in A: 0, only in B: 0" in out
    assert "Regressions: 4   Improvements: 4" in out
    assert "REGRESSED 'hello there' [novice] iter 0 — KeyError: 'greeting table missing'" in out
    assert "improved  'order boom please' [expert] iter 1" in out
    assert "success_rate             70.0%           70.0%  +0.0 pp =" in out
    text = md.read_text()
    assert text.startswith("### ⚠️ FluxLoop comparison: 4 regression(s), 4 improvement(s)")
    assert "| tokens_total | 206 | 494 | +288 (+139.8%) | 🔴 |" in text
    assert "| latency_p95_ms |" in text and "<summary><b>Regressions</b></summary>" in text


def test_json_format_and_gates(exp_a: Path, exp_b: Path, tmp_path: Path) -> None:
    proc = fl("compare", str(exp_a), str(exp_b), "--format", "json", cwd=tmp_path)
    data = json.loads(proc.stdout)
    assert data["regressions"] == 4 and data["improvements"] == 4 and data["matched"] == 20
    metrics = {m["metric"]: m for m in data["metrics"]}
    assert metrics["tokens_mean"]["delta_pct"] > 100
    assert metrics["latency_p50_ms"]["b"] > metrics["latency_p50_ms"]["a"]
    proc = fl("compare", str(exp_a), str(exp_b), "--fail-on-regression", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: comparison failed: 4 regression(s) (allowed 0)"
    )
    assert "FAIL regressions" in proc.stdout
    proc = fl(
        "compare",
        str(exp_a),
        str(exp_b),
        "--max-regressions",
        "4",
        "--max-success-drop",
        "0.01",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = fl("compare", str(exp_a), str(exp_b), "--max-token-increase", "50", cwd=tmp_path)
    assert proc.returncode == 1 and "tokens_mean +" in proc.stderr
    proc = fl(
        "compare",
        str(exp_a),
        str(exp_a),
        "--fail-on-regression",
        "--max-latency-increase",
        "0",
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and "Regressions: 0   Improvements: 0" in proc.stdout


def test_evaluation_verdicts_are_compared_when_both_were_evaluated(
    exp_a: Path, exp_b: Path, tmp_path: Path
) -> None:
    for exp in (exp_a, exp_b):
        assert (
            fl("evaluate", "experiment", str(exp), "--fail-under", "0", cwd=tmp_path).returncode
            == 0
        )
    proc = fl("compare", str(exp_a), str(exp_b), "--format", "markdown", cwd=tmp_path)
    assert "Outcome: evaluation verdicts." in proc.stdout
    assert "| pass_rate | 70.0% | 70.0% |" in proc.stdout
    assert "| mean_score |" in proc.stdout


def test_partial_overlap_and_bad_input(exp_a: Path, original_dir: Path, tmp_path: Path) -> None:
    lines = (exp_a / "trace_summary.jsonl").read_text().splitlines(keepends=True)
    half = tmp_path / "half"
    half.mkdir()
    (half / "trace_summary.jsonl").write_text("".join(lines[:8]))
    proc = fl("compare", str(exp_a), str(half), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "aligned 8 run(s)" in proc.stdout and "only in A: 12, only in B: 0" in proc.stdout
    proc = fl("compare", str(exp_a), str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: missing: experiment directory not found"
    (half / "trace_summary.jsonl").write_text(lines[0] + "not json\n" + lines[1])
    proc = fl("compare", str(half), str(exp_a), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: half/trace_summary.jsonl:2: malformed JSON line")
    proc = fl("compare", str(original_dir), str(original_dir), cwd=tmp_path)
    assert proc.returncode == 0 and "aligned 4 run(s)" in proc.stdout
