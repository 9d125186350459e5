"""The evaluation's Markdown report and JUnit XML."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

from ._jsonl import iter_jsonl

if TYPE_CHECKING:
    from .evaluate import Accumulator

__all__ = ["fmt_gate", "pct", "render_markdown_report", "write_junit"]


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def fmt_gate(gate: Mapping[str, Any]) -> str:
    unit = gate.get("unit") or ""
    actual = gate.get("actual")
    limit = gate.get("limit")
    if unit in ("ms", "%"):
        shown_actual = num(actual, 1, " " + unit if unit == "ms" else unit)
        shown_limit = num(limit, 1, " " + unit if unit == "ms" else unit)
    elif gate["name"] == "evaluated_traces":
        shown_actual, shown_limit = str(actual), str(limit)
    else:
        shown_actual, shown_limit = pct(actual) if actual is not None else "n/a", pct(limit)
        if gate["name"].endswith("mean_score"):
            shown_actual = num(actual, 3) if actual is not None else "n/a"
            shown_limit = num(limit, 3)
    mark = "PASS" if gate["passed"] else "FAIL"
    return f"{mark} {gate['name']}: {shown_actual} (required {gate['op']} {shown_limit})"


def _cell(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_markdown_report(
    summary: Mapping[str, Any], acc: Accumulator, link_base: str | None
) -> str:
    overall = summary["overall"]
    verdict = "PASSED" if summary["passed"] else "FAILED"
    lines = [
        f"# Evaluation: {summary['experiment']}",
        "",
        f"**Verdict: {verdict}** — {overall['passed']}/{overall['evaluated']} traces passed "
        f"({pct(overall['pass_rate'])}), mean score {num(overall['mean_score'], 3)}.",
        "",
    ]
    if summary.get("evaluation_goal"):
        lines += [f"> {summary['evaluation_goal']}", ""]
    lines += [
        f"- Config: `{summary['config']}`",
        f"- Aggregate: {summary['aggregate']['method']}, trace threshold "
        f"{summary['aggregate']['threshold']}",
        f"- Evaluated at: {summary['evaluated_at']} in {summary['duration_seconds']} s",
        "",
        "## Gates",
        "",
    ]
    lines += [f"- {fmt_gate(g)}" for g in summary["gates"]]
    lat = overall["latency_ms"]
    tok = overall["tokens"]
    lines += [
        "",
        "## Overall",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| traces | {overall['traces']} |",
        f"| evaluated | {overall['evaluated']} |",
        f"| pass rate | {pct(overall['pass_rate'])} |",
        f"| mean score | {num(overall['mean_score'], 3)} |",
        f"| run success rate | {pct(overall['success_rate'])} |",
        f"| pass@k (k={overall['k']}) | {pct(overall['pass_at_k'])} |",
        f"| pass^k (k={overall['k']}) | {pct(overall['pass_hat_k'])} |",
        f"| latency p50 / p95 / max | {num(lat['p50'], 1)} / {num(lat['p95'], 1)} / "
        f"{num(lat['max'], 1)} ms |",
        f"| tokens total / mean per run | {num(tok['total'], 0)} / {num(tok['mean'], 1)} |",
        "",
        "## Evaluators",
        "",
        "| evaluator | type | weight | mean score | pass rate | passed | failed | skipped "
        "| inconclusive |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ev in summary["evaluators"]:
        lines.append(
            f"| {_cell(ev['name'])} | {ev['type']} | {ev['weight']:g} | {num(ev['mean_score'], 3)} "
            f"| {pct(ev['pass_rate'])} | {ev['passed']} | {ev['failed']} | {ev['skipped']} "
            f"| {ev['inconclusive']} |"
        )
    lines += [
        "",
        "## By persona",
        "",
        "| persona | traces | pass rate | mean score | success | p50 ms | p95 ms | mean tokens |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, g in summary["per_persona"].items():
        lines.append(
            f"| {_cell(name)} | {g['traces']} | {pct(g['pass_rate'])} | {num(g['mean_score'], 3)} "
            f"| {pct(g['success_rate'])} | {num(g['latency_ms']['p50'])} "
            f"| {num(g['latency_ms']['p95'])} | {num(g['tokens']['mean'])} |"
        )
    inputs = sorted(
        summary["per_input"],
        key=lambda g: (g["pass_rate"] if g["pass_rate"] is not None else -1, g["input"]),
    )
    lines += [
        "",
        f"## By input across iterations ({summary['overall']['inputs']} input/persona pairs, "
        "worst first)",
        "",
        "| input | persona | runs | pass rate | mean score | pass@k | pass^k |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for g in inputs[:50]:
        lines.append(
            f"| {_cell(_short(g['input'], 70))} | {_cell(g['persona'] or '')} | {g['traces']} "
            f"| {pct(g['pass_rate'])} | {num(g['mean_score'], 3)} | {pct(g['pass_at_k'])} "
            f"| {pct(g['pass_hat_k'])} |"
        )
    if summary["overall"]["inputs"] > 50:
        lines.append(f"\n… {summary['overall']['inputs'] - 50} more in per_input.jsonl.")
    failing = acc.rows_failing
    lines += ["", f"## Failing traces ({overall['failed']})", ""]
    if not failing:
        lines.append("None.")
    for row in failing[:50]:
        name = f"{row['stem']}"
        link = f"[{name}]({link_base}/{row['stem']}.md)" if link_base else f"`{name}`"
        lines.append(
            f"- {link} — persona {row['persona'] or 'N/A'}, score {num(row['score'], 3)}: "
            f"{_cell(_short(row['input'], 80))!s} → {_cell(row['reason'])}"
        )
    if overall["failed"] > 50:
        lines.append(f"- … {overall['failed'] - 50} more in per_trace.jsonl")
    if summary.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary["warnings"][:20]]
    return "\n".join(lines) + "\n"


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def write_junit(summary: Mapping[str, Any], per_trace: Path, out: Path) -> None:
    """One testcase per trace (streamed from per_trace.jsonl through a temporary file, so the
    memory does not grow with the number of traces) and one per gate; written atomically."""
    name = str(summary["experiment"])
    failures = skipped = total = 0
    total_time = 0.0
    body_file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
    with body_file:
        for _, _, rec in iter_jsonl(per_trace):
            total += 1
            seconds = (rec.get("duration_ms") or 0) / 1000
            total_time += seconds
            stem = str(rec.get("file", "")).removesuffix(".md")
            label = f"{stem} {_short(str(rec.get('input')), 80)}"
            persona = rec.get("persona") or "default"
            head = (
                f"    <testcase classname={quoteattr(f'fluxloop.{name}.{persona}')} "
                f'name={quoteattr(label)} time="{seconds:.6f}">'
            )
            if rec.get("passed") is None:
                skipped += 1
                body_file.write(f'{head}<skipped message="not evaluated"/></testcase>\n')
                continue
            if rec.get("passed"):
                body_file.write(f"{head}</testcase>\n")
                continue
            failures += 1
            evaluators = rec.get("evaluators") or []
            bad = [e for e in evaluators if e.get("passed") is False]
            message = "; ".join(f"{e['name']}: {e['reason']}" for e in bad) or "below threshold"
            detail = "\n".join(
                f"{e['name']} ({e['type']}): score {e.get('score')} - {e.get('reason')}"
                for e in evaluators
            )
            err = rec.get("error")
            if isinstance(err, Mapping):
                detail += f"\nrun error: {err.get('type')}: {err.get('message')}"
            body_file.write(
                f"{head}<failure message={quoteattr(_short(message, 500))} "
                f'type="threshold">{escape(detail)}</failure></testcase>\n'
            )
        gate_lines = []
        gate_failures = 0
        for gate in summary["gates"]:
            head = (
                f'    <testcase classname="fluxloop.gates" name={quoteattr(gate["name"])} time="0">'
            )
            if gate["passed"]:
                gate_lines.append(f"{head}</testcase>")
            else:
                gate_failures += 1
                gate_lines.append(
                    f'{head}<failure message={quoteattr(fmt_gate(gate))} type="gate"/></testcase>'
                )
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write('<?xml version="1.0" encoding="UTF-8"?>\n')
                fh.write(
                    f'<testsuites name="fluxloop evaluate" tests="{total + len(gate_lines)}" '
                    f'failures="{failures + gate_failures}" skipped="{skipped}">\n'
                )
                fh.write(
                    f'  <testsuite name={quoteattr(f"fluxloop.{name}.traces")} tests="{total}" '
                    f'failures="{failures}" errors="0" skipped="{skipped}" '
                    f'time="{total_time:.6f}">\n'
                )
                body_file.seek(0)
                shutil.copyfileobj(body_file, fh)
                fh.write("  </testsuite>\n")
                fh.write(
                    f"  <testsuite name={quoteattr(f'fluxloop.{name}.gates')} "
                    f'tests="{len(gate_lines)}" failures="{gate_failures}" errors="0" '
                    'skipped="0" time="0">\n'
                )
                fh.write("".join(line + "\n" for line in gate_lines))
                fh.write("  </testsuite>\n</testsuites>\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
