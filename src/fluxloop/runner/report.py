"""Human-readable lines for an experiment summary (printed by the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fluxloop.project.yaml import display_path

from .progress import format_duration

__all__ = ["format_table", "summary_lines"]


def _ms(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{number:.1f} ms" if number < 10_000 else format_duration(number / 1000)


def summary_lines(summary: Mapping[str, Any], directory: Path | None) -> list[str]:
    results = summary.get("results") or {}
    total = int(results.get("total_runs") or 0)
    ok = int(results.get("successful") or 0)
    failed = int(results.get("failed") or 0)
    rate = float(results.get("success_rate") or 0.0)
    status = summary.get("status", "completed")
    head = (
        f"Experiment {summary.get('name')}: {ok}/{total} runs succeeded ({rate:.1%})"
        f" in {format_duration(float(results.get('duration_seconds') or 0))}"
    )
    if status == "interrupted":
        head += f" - interrupted, {results.get('remaining_runs', 0)} run(s) not done"
    lines = [head]
    if failed:
        by_type = (summary.get("errors") or {}).get("by_type") or {}
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(by_type.items(), key=lambda kv: -kv[1]))
        timed_out = int(results.get("timed_out") or 0)
        extra = f", {timed_out} timed out" if timed_out else ""
        lines.append(f"  failed: {failed}{extra} ({kinds})" if kinds else f"  failed: {failed}")
    pct = summary.get("duration_ms") or {}
    if pct.get("count"):
        lines.append(
            f"  latency: mean {_ms(pct.get('mean'))}, p50 {_ms(pct.get('p50'))}, "
            f"p95 {_ms(pct.get('p95'))}, p99 {_ms(pct.get('p99'))}, max {_ms(pct.get('max'))}"
        )
    tokens = summary.get("tokens") or {}
    if tokens.get("total_tokens"):
        lines.append(
            f"  tokens: {tokens.get('total_tokens')} (prompt {tokens.get('prompt_tokens')}, "
            f"completion {tokens.get('completion_tokens')})"
        )
    personas = summary.get("per_persona") or {}
    if len(personas) > 1:
        parts = [
            f"{name} {p.get('successful')}/{p.get('total_runs')}" for name, p in personas.items()
        ]
        lines.append("  personas: " + ", ".join(parts))
    if directory is not None:
        lines.append(f"  results: {display_path(directory)}")
    return lines


def format_table(rows: list[list[str]], headers: list[str] | None = None) -> list[str]:
    """Plain aligned columns (no dependencies; readable in CI logs)."""
    table = [headers, *rows] if headers else list(rows)
    if not table:
        return []
    widths = [max(len(str(r[i])) if i < len(r) else 0 for r in table) for i in range(len(table[0]))]
    out = []
    for n, row in enumerate(table):
        cells = [str(c).ljust(widths[i]) for i, c in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if headers and n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
