"""``fluxloop compare DIR_A DIR_B``: what changed between a baseline (A) and a candidate (B).

Runs are aligned by (input, persona, iteration) — plus an occurrence number when an input is
repeated within one experiment — so the same cell of the matrix is compared. A run's outcome is
its evaluation verdict when both experiments were evaluated (``evaluation/per_trace.jsonl``),
else whether it succeeded. A regression is a pass in A that fails in B; an improvement the
reverse. Metrics (success rate, pass rate, latency p50/p95, tokens) are computed on the aligned
runs, so experiments with different sizes still compare like with like.

Memory: one small tuple per run of A; B is streamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.project.layout import EVALUATION_DIR, PER_TRACE_FILE

from ._jsonl import iter_jsonl, where
from .experiment import Experiment, Run, norm_id
from .stats import mean, percentile
from .traces_dir import Selection, load_directory

__all__ = ["CompareResult", "compare_experiments", "render_markdown", "render_text"]

MAX_LISTED = 50


@dataclass
class _Cell:
    trace_id: str | None
    success: bool
    passed: bool | None  # evaluation verdict, when evaluated
    score: float | None
    duration_ms: float | None
    tokens: float | None
    error: str
    output: str


@dataclass
class _Side:
    label: str
    path: str
    runs: int = 0
    evaluated: bool = False


@dataclass
class CompareResult:
    a: _Side
    b: _Side
    basis: str  # "evaluation" | "success"
    matched: int = 0
    only_a: int = 0
    only_b: int = 0
    regressions: list[dict[str, Any]] = field(default_factory=list)
    improvements: list[dict[str, Any]] = field(default_factory=list)
    regression_count: int = 0
    improvement_count: int = 0
    only_a_keys: list[dict[str, Any]] = field(default_factory=list)
    only_b_keys: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    personas: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": vars(self.a),
            "b": vars(self.b),
            "basis": self.basis,
            "matched": self.matched,
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
            "regressions": self.regression_count,
            "improvements": self.improvement_count,
            "regressed_runs": self.regressions,
            "improved_runs": self.improvements,
            "metrics": self.metrics,
            "personas": self.personas,
            "gates": self.gates,
            "passed": self.passed,
        }


def _evaluations(experiment: Experiment) -> dict[str, tuple[bool | None, float | None]] | None:
    path = experiment.path / EVALUATION_DIR / PER_TRACE_FILE
    if not path.is_file():
        return None
    out: dict[str, tuple[bool | None, float | None]] = {}
    for _, _, rec in iter_jsonl(path):
        tid = norm_id(rec.get("trace_id"))
        if tid is not None:
            passed = rec.get("passed")
            score = rec.get("score")
            out[tid] = (
                passed if isinstance(passed, bool) else None,
                float(score) if isinstance(score, (int, float)) else None,
            )
    return out


def _cells(
    experiment: Experiment, evaluations: Mapping[str, tuple[bool | None, float | None]] | None
) -> Iterator[tuple[tuple[str, str, int, int], Run, _Cell]]:
    seen: dict[tuple[str, str, int], int] = {}
    for run in experiment.iter_runs():
        key = run.key
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        passed: bool | None = None
        score: float | None = None
        if evaluations is not None and run.trace_id is not None and run.trace_id in evaluations:
            passed, score = evaluations[run.trace_id]
        err = run.error or {}
        error = f"{err.get('type') or ''}: {err.get('message') or ''}".strip(": ") if err else ""
        output = (
            run.output
            if isinstance(run.output, str)
            else ("" if run.output is None else str(run.output))
        )
        yield (
            (*key, occurrence),
            run,
            _Cell(
                trace_id=run.trace_id,
                success=run.success,
                passed=passed,
                score=score,
                duration_ms=run.duration_ms,
                tokens=run.total_tokens(),
                error=error[:200],
                output=" ".join(output.split())[:120],
            ),
        )


def _outcome(cell: _Cell, basis: str) -> bool:
    if basis == "evaluation":
        return bool(cell.passed)
    return cell.success


def _delta(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    if a is None or b is None:
        return None, None
    diff = b - a
    rel = (diff / a * 100) if a else None
    return diff, rel


def compare_experiments(
    dir_a: str | os.PathLike[str],
    dir_b: str | os.PathLike[str],
    *,
    fail_on_regression: bool = False,
    max_regressions: int | None = None,
    max_success_drop: float | None = None,
    max_p95_increase: float | None = None,
    max_token_increase: float | None = None,
    selection: Selection | None = None,
) -> CompareResult:
    """Compare two experiment directories (or collector / import directories of traces, whose
    runs ``selection`` chooses)."""
    exp_a = load_directory(dir_a, selection)
    exp_b = load_directory(dir_b, selection)
    eval_a = _evaluations(exp_a)
    eval_b = _evaluations(exp_b)
    basis = "evaluation" if eval_a is not None and eval_b is not None else "success"
    result = CompareResult(
        a=_Side("A", str(exp_a.path), evaluated=eval_a is not None),
        b=_Side("B", str(exp_b.path), evaluated=eval_b is not None),
        basis=basis,
    )
    table: dict[tuple[str, str, int, int], _Cell] = {}
    for key, _, cell in _cells(exp_a, eval_a):
        table[key] = cell
        result.a.runs += 1
    pairs_a: list[_Cell] = []
    pairs_b: list[_Cell] = []
    persona_counts: dict[str, list[int]] = {}  # persona -> [n, ok_a, ok_b]
    for key, _, cell_b in _cells(exp_b, eval_b):
        result.b.runs += 1
        cell_a = table.pop(key, None)
        item = {"input": key[0][:200], "persona": key[1] or None, "iteration": key[2]}
        if cell_a is None:
            result.only_b += 1
            if len(result.only_b_keys) < MAX_LISTED:
                result.only_b_keys.append(item)
            continue
        result.matched += 1
        pairs_a.append(cell_a)
        pairs_b.append(cell_b)
        ok_a, ok_b = _outcome(cell_a, basis), _outcome(cell_b, basis)
        counts = persona_counts.setdefault(key[1] or "(none)", [0, 0, 0])
        counts[0] += 1
        counts[1] += int(ok_a)
        counts[2] += int(ok_b)
        if ok_a != ok_b:
            entry = {
                **item,
                "trace_a": cell_a.trace_id,
                "trace_b": cell_b.trace_id,
                "score_a": cell_a.score,
                "score_b": cell_b.score,
                "error_b": cell_b.error if ok_a else cell_a.error,
                "output_a": cell_a.output,
                "output_b": cell_b.output,
            }
            if ok_a:
                result.regression_count += 1
                if len(result.regressions) < MAX_LISTED:
                    result.regressions.append(entry)
            else:
                result.improvement_count += 1
                if len(result.improvements) < MAX_LISTED:
                    result.improvements.append(entry)
    result.only_a = len(table)
    for key in list(table)[:MAX_LISTED]:
        result.only_a_keys.append(
            {"input": key[0][:200], "persona": key[1] or None, "iteration": key[2]}
        )
    result.metrics = _metrics(pairs_a, pairs_b, basis)
    result.personas = [
        {
            "persona": name,
            "runs": n,
            "a": ok_a / n if n else None,
            "b": ok_b / n if n else None,
            "delta": (ok_b - ok_a) / n if n else None,
        }
        for name, (n, ok_a, ok_b) in sorted(persona_counts.items())
    ]
    result.gates = _gates(
        result,
        fail_on_regression,
        max_regressions,
        max_success_drop,
        max_p95_increase,
        max_token_increase,
    )
    return result


def _metrics(a: list[_Cell], b: list[_Cell], basis: str) -> list[dict[str, Any]]:
    def rate(cells: list[_Cell], fn: Any) -> float | None:
        return sum(1 for c in cells if fn(c)) / len(cells) if cells else None

    rows: list[dict[str, Any]] = []

    def add(name: str, va: float | None, vb: float | None, unit: str, better: str) -> None:
        diff, rel = _delta(va, vb)
        rows.append(
            {
                "metric": name,
                "a": va,
                "b": vb,
                "delta": diff,
                "delta_pct": rel,
                "unit": unit,
                "better": better,
            }
        )

    add(
        "success_rate", rate(a, lambda c: c.success), rate(b, lambda c: c.success), "rate", "higher"
    )
    if basis == "evaluation":
        add("pass_rate", rate(a, lambda c: c.passed), rate(b, lambda c: c.passed), "rate", "higher")
        add(
            "mean_score",
            mean([c.score for c in a if c.score is not None]),
            mean([c.score for c in b if c.score is not None]),
            "score",
            "higher",
        )
    lat_a = [c.duration_ms for c in a if c.duration_ms is not None]
    lat_b = [c.duration_ms for c in b if c.duration_ms is not None]
    add("latency_p50_ms", percentile(lat_a, 50), percentile(lat_b, 50), "ms", "lower")
    add("latency_p95_ms", percentile(lat_a, 95), percentile(lat_b, 95), "ms", "lower")
    tok_a = [c.tokens for c in a if c.tokens is not None]
    tok_b = [c.tokens for c in b if c.tokens is not None]
    add(
        "tokens_total",
        sum(tok_a) if tok_a else None,
        sum(tok_b) if tok_b else None,
        "tokens",
        "lower",
    )
    add("tokens_mean", mean(tok_a), mean(tok_b), "tokens", "lower")
    return rows


def _gates(
    result: CompareResult,
    fail_on_regression: bool,
    max_regressions: int | None,
    max_success_drop: float | None,
    max_p95_increase: float | None,
    max_token_increase: float | None,
) -> list[dict[str, Any]]:
    gates: list[dict[str, Any]] = []
    metrics = {m["metric"]: m for m in result.metrics}
    limit = 0 if fail_on_regression and max_regressions is None else max_regressions
    if limit is not None:
        gates.append(
            {
                "name": "regressions",
                "actual": result.regression_count,
                "limit": limit,
                "text": f"{result.regression_count} regression(s) (allowed {limit})",
                "passed": result.regression_count <= limit,
            }
        )
    if max_success_drop is not None:
        key = "pass_rate" if result.basis == "evaluation" else "success_rate"
        delta = metrics[key]["delta"]
        drop = -delta if delta is not None else None
        gates.append(
            {
                "name": f"{key}_drop",
                "actual": drop,
                "limit": max_success_drop,
                "text": f"{key} drop {_pp(drop)} (allowed {_pp(max_success_drop)})",
                "passed": drop is not None and drop <= max_success_drop + 1e-12,
            }
        )
    for name, metric, allowed in (
        ("latency_p95_increase", "latency_p95_ms", max_p95_increase),
        ("tokens_mean_increase", "tokens_mean", max_token_increase),
    ):
        if allowed is None:
            continue
        rel = metrics[metric]["delta_pct"]
        gates.append(
            {
                "name": name,
                "actual": rel,
                "limit": allowed,
                "text": f"{metric} {_signed_pct(rel)} (allowed +{allowed:g}%)",
                "passed": rel is None or rel <= allowed + 1e-9,
            }
        )
    return gates


def _pp(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pp".replace("+-", "-")


def _signed_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "rate":
        return f"{value * 100:.1f}%"
    if unit == "score":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:,.1f}" if value % 1 else f"{value:,.0f}"


def _fmt_delta(row: Mapping[str, Any]) -> str:
    delta = row["delta"]
    if delta is None:
        return "n/a"
    unit = row["unit"]
    if unit == "rate":
        text = f"{delta * 100:+.1f} pp"
    elif unit == "score":
        text = f"{delta:+.3f}"
    elif unit == "ms":
        text = f"{delta:+,.1f} ms"
    else:
        text = f"{delta:+,.1f}" if delta % 1 else f"{delta:+,.0f}"
    if row["delta_pct"] is not None and unit not in ("rate",):
        text += f" ({row['delta_pct']:+.1f}%)"
    return text


def _trend(row: Mapping[str, Any]) -> str:
    delta = row["delta"]
    if delta is None or abs(delta) < 1e-12:
        return "="
    good = (delta > 0) == (row["better"] == "higher")
    return "better" if good else "worse"


def _label(item: Mapping[str, Any]) -> str:
    text = " ".join(str(item["input"]).split())
    text = text if len(text) <= 70 else text[:69] + "…"
    persona = f" [{item['persona']}]" if item.get("persona") else ""
    return f"{text!r}{persona} iter {item['iteration']}"


def render_text(result: CompareResult) -> str:
    basis = "evaluation verdicts" if result.basis == "evaluation" else "run success"
    lines = [
        f"Comparing A={where(Path(result.a.path))} (baseline) -> B={where(Path(result.b.path))}",
        f"  aligned {result.matched} run(s) by (input, persona, iteration); "
        f"only in A: {result.only_a}, only in B: {result.only_b}; outcome = {basis}",
        "",
    ]
    width = max(len(m["metric"]) for m in result.metrics)
    lines.append(f"  {'metric'.ljust(width)}  {'A':>14}  {'B':>14}  delta")
    for row in result.metrics:
        lines.append(
            f"  {row['metric'].ljust(width)}  {_fmt(row['a'], row['unit']):>14}  "
            f"{_fmt(row['b'], row['unit']):>14}  {_fmt_delta(row)} {_trend(row)}".rstrip()
        )
    lines += [
        "",
        f"Regressions: {result.regression_count}   Improvements: {result.improvement_count}",
    ]
    for item in result.regressions[:20]:
        why = f" — {item['error_b']}" if item.get("error_b") else ""
        lines.append(f"  - REGRESSED {_label(item)}{why}")
    more = result.regression_count - min(20, len(result.regressions))
    if more > 0:
        lines.append(f"  … {more} more regression(s) (--format json lists them)")
    for item in result.improvements[:20]:
        lines.append(f"  + improved  {_label(item)}")
    more = result.improvement_count - min(20, len(result.improvements))
    if more > 0:
        lines.append(f"  … {more} more improvement(s)")
    if len(result.personas) > 1:
        lines.append("")
        lines.append("By persona (outcome rate A -> B):")
        for p in result.personas:
            lines.append(
                f"  {p['persona']}: {_fmt(p['a'], 'rate')} -> {_fmt(p['b'], 'rate')} "
                f"({p['runs']} runs)"
            )
    for gate in result.gates:
        lines.append(f"{'PASS' if gate['passed'] else 'FAIL'} {gate['name']}: {gate['text']}")
    return "\n".join(lines)


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: CompareResult) -> str:
    """A pull-request comment."""
    icon = (
        "✅"
        if result.passed and not result.regression_count
        else ("❌" if not result.passed else "⚠️")
    )
    basis = "evaluation verdicts" if result.basis == "evaluation" else "run success"
    lines = [
        f"### {icon} FluxLoop comparison: {result.regression_count} regression(s), "
        f"{result.improvement_count} improvement(s)",
        "",
        f"Baseline **A** `{Path(result.a.path).name}` → "
        f"candidate **B** `{Path(result.b.path).name}`: "
        f"{result.matched} runs aligned by (input, persona, iteration); only in A: "
        f"{result.only_a}, only in B: {result.only_b}. Outcome: {basis}.",
        "",
        "| metric | A | B | Δ | |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in result.metrics:
        trend = {"better": "🟢", "worse": "🔴", "=": ""}[_trend(row)]
        lines.append(
            f"| {row['metric']} | {_fmt(row['a'], row['unit'])} | {_fmt(row['b'], row['unit'])} "
            f"| {_fmt_delta(row)} | {trend} |"
        )
    if result.gates:
        lines += ["", "**Gates**", ""]
        lines += [
            f"- {'✅' if g['passed'] else '❌'} `{g['name']}`: {_md_cell(g['text'])}"
            for g in result.gates
        ]
    if result.regressions:
        lines += [
            "",
            "<details open><summary><b>Regressions</b></summary>",
            "",
            "| input | persona | iter | B |",
            "| --- | --- | ---: | --- |",
        ]
        for item in result.regressions:
            lines.append(
                f"| {_md_cell(item['input'][:80])} | {_md_cell(item['persona'] or '')} | "
                f"{item['iteration']} | "
                f"{_md_cell(item.get('error_b') or item.get('output_b') or 'failed')} |"
            )
        if result.regression_count > len(result.regressions):
            lines.append(f"\n… and {result.regression_count - len(result.regressions)} more.")
        lines += ["", "</details>"]
    if result.improvements:
        lines += [
            "",
            "<details><summary><b>Improvements</b></summary>",
            "",
            "| input | persona | iter |",
            "| --- | --- | ---: |",
        ]
        for item in result.improvements:
            lines.append(
                f"| {_md_cell(item['input'][:80])} | {_md_cell(item['persona'] or '')} "
                f"| {item['iteration']} |"
            )
        lines += ["", "</details>"]
    if len(result.personas) > 1:
        lines += ["", "| persona | runs | A | B | Δ |", "| --- | ---: | ---: | ---: | ---: |"]
        for p in result.personas:
            delta = "n/a" if p["delta"] is None else f"{p['delta'] * 100:+.1f} pp"
            lines.append(
                f"| {_md_cell(p['persona'])} | {p['runs']} | {_fmt(p['a'], 'rate')} "
                f"| {_fmt(p['b'], 'rate')} | {delta} |"
            )
    return "\n".join(lines) + "\n"
