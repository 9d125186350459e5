"""Everything the ``fluxloop`` command draws on the terminal, in one place.

The libraries (runner, generation, analysis) never print: they report through callbacks and
events (:class:`fluxloop.runner.progress.ProgressReporter`,
:class:`fluxloop.generation.progress.GenerationProgress`) and return data (summaries, records).
This module turns those into what the user sees: the experiment progress bar (``rich`` on a
terminal when the ``rich`` extra is installed, plain periodic lines otherwise), the live line of
LLM work, summary lines, aligned tables and span trees.

It is public so scripts that want the CLI's look (the demo prints a span tree) need not copy it.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from fluxloop.analysis.report import fmt_gate, pct
from fluxloop.analysis.tree import span_tree
from fluxloop.project.yaml import display_path
from fluxloop.runner.progress import NullProgress, ProgressReporter

__all__ = [
    "LiveProgress",
    "PlainProgress",
    "RichProgress",
    "evaluation_summary_lines",
    "experiment_summary_lines",
    "experiments_table",
    "format_date",
    "format_duration",
    "failure_lines",
    "format_table",
    "generation_summary_lines",
    "make_progress",
    "multi_turn_line",
    "span_tree_lines",
    "traces_table",
    "usage_line",
]


def format_duration(seconds: float) -> str:
    """``5.2s``, ``1m 15s``, ``2h 01m``; ``?`` when unknown (an ETA with no rate yet)."""
    if math.isnan(seconds) or math.isinf(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _emit(stream: TextIO, text: str) -> None:
    # a closed or broken stderr must not end an experiment
    with contextlib.suppress(OSError, ValueError):
        print(text, file=stream, flush=True)


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


# -- the experiment progress (a ProgressReporter) --------------------------------------------


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.base = 0
        self.started = time.monotonic()

    def begin(self, total: int, done: int, failed: int) -> None:
        self.total, self.done, self.failed, self.base = total, done, failed, done
        self.started = time.monotonic()

    def add(self, success: bool) -> None:
        self.done += 1
        if not success:
            self.failed += 1

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        fresh = self.done - self.base
        return fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0

    def eta(self) -> float:
        rate = self.rate()
        remaining = self.total - self.done
        return remaining / rate if rate > 0 else float("inf")

    def line(self) -> str:
        pct = (100.0 * self.done / self.total) if self.total else 100.0
        rate = self.rate()
        eta = format_duration(self.eta()) if self.done < self.total else "0s"
        return (
            f"[fluxloop] {self.done}/{self.total} ({pct:.0f}%) failed={self.failed} "
            f"rate={rate:.1f}/s ETA {eta}"
        )


class PlainProgress:
    """One status line every ``interval`` seconds (and at the end): CI logs, pipes."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.counts = _Counts()
        self._last = 0.0

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        self.counts.begin(total, done, failed)
        self._last = time.monotonic()

    def advance(self, success: bool) -> None:
        self.counts.add(success)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            _emit(self.stream, self.counts.line())

    def info(self, message: str) -> None:
        _emit(self.stream, message)

    def conversations(self, summary: Mapping[str, Any]) -> None:
        _emit(self.stream, "[fluxloop] " + multi_turn_line(summary))

    def finish(self) -> None:
        _emit(self.stream, self.counts.line())


class RichProgress:
    """A rich progress bar (done/total, failures, rate, ETA, elapsed) on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # rich is the optional ``rich`` extra: imported only when a bar is wanted
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self.counts = _Counts()
        self.progress = Progress(
            TextColumn("[bold]fluxloop"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: Any = None
        self._last = 0.0

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        self.counts.begin(total, done, failed)
        self.progress.start()
        self._task = self.progress.add_task(
            "runs", total=total, completed=done, failed=failed, rate="0.0", eta="?"
        )

    def advance(self, success: bool) -> None:
        self.counts.add(success)
        now = time.monotonic()
        if now - self._last < 0.1 and self.counts.done < self.counts.total:
            return
        self._last = now
        self.progress.update(
            self._task,
            completed=self.counts.done,
            failed=self.counts.failed,
            rate=f"{self.counts.rate():.1f}",
            eta=format_duration(self.counts.eta()),
        )

    def info(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def conversations(self, summary: Mapping[str, Any]) -> None:
        self.info("[fluxloop] " + multi_turn_line(summary))

    def finish(self) -> None:
        if self._task is not None:
            self.progress.update(
                self._task,
                completed=self.counts.done,
                failed=self.counts.failed,
                rate=f"{self.counts.rate():.1f}",
                eta="0s",
            )
        self.progress.stop()


def make_progress(
    *, quiet: bool = False, stream: TextIO | None = None, interval: float = 5.0
) -> ProgressReporter:
    """Rich on a terminal when available, plain lines otherwise, nothing when ``quiet``."""
    if quiet:
        return NullProgress()
    out = stream or sys.stderr
    if _isatty(out):
        try:
            return RichProgress(out)
        except ImportError:
            pass
    return PlainProgress(out, interval=interval)


# -- LLM work (a GenerationProgress) -----------------------------------------------------------


class _Usage(Protocol):
    """What the usage lines read from a usage meter (:class:`fluxloop.llm.usage.UsageMeter`)."""

    calls: int
    cached: int
    retries: int
    rate_limited: int
    malformed: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def usage_line(meter: _Usage) -> str:
    """Tokens, calls, cache hits, retries, malformed answers and failures of LLM work."""
    parts = [
        f"tokens {meter.total_tokens:,} (prompt {meter.prompt_tokens:,}, "
        f"completion {meter.completion_tokens:,})",
        f"calls {meter.calls}",
    ]
    if meter.cached:
        parts.append(f"cached {meter.cached}")
    if meter.retries:
        parts.append(
            f"retries {meter.retries}"
            + (f" ({meter.rate_limited} rate-limited)" if meter.rate_limited else "")
        )
    if meter.malformed:
        parts.append(f"malformed {meter.malformed}")
    if meter.failed:
        parts.append(f"failed {meter.failed}")
    return ", ".join(parts)


class LiveProgress:
    """Live progress of LLM work: calls done, tokens, cache hits, retries (stderr).

    On a terminal one line is redrawn in place; otherwise a line is printed at most every
    ``interval`` seconds and once at the end (CI logs stay short). Redrawn on every progress
    update and every change of the usage meter given to :meth:`start`."""

    def __init__(
        self, *, stream: TextIO | None = None, enabled: bool = True, interval: float = 5.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval = interval
        self.tty = _isatty(self.stream)
        self.label = ""
        self.meter: _Usage | None = None
        self.done = 0
        self.total = 0
        self._last = 0.0
        self.started = time.monotonic()

    def start(self, label: str, meter: Any) -> None:
        self.label, self.meter = label, meter
        self.started = time.monotonic()
        meter.listeners.append(lambda _m: self._render(False))

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self._render(False)

    def finish(self) -> None:
        self._render(True)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        usage = usage_line(self.meter) if self.meter is not None else ""
        return f"[fluxloop] {self.label} {self.done}/{self.total} - {usage} - {elapsed:.1f}s"

    def _render(self, final: bool) -> None:
        if not self.enabled or self.meter is None:
            return
        now = time.monotonic()
        with contextlib.suppress(OSError, ValueError):
            if self.tty:
                if final or now - self._last >= 0.1:
                    self._last = now
                    self.stream.write("\r\x1b[2K" + self._line())
                    if final:
                        self.stream.write("\n")
                    self.stream.flush()
            elif final or now - self._last >= self.interval:
                self._last = now
                print(self._line(), file=self.stream, flush=True)


# -- summaries ---------------------------------------------------------------------------------


def _ms(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "?"
    return f"{number:.1f} ms" if number < 10_000 else format_duration(number / 1000)


def experiment_summary_lines(summary: Mapping[str, Any], directory: Path | None) -> list[str]:
    """What ``run experiment`` prints at the end, from its summary.json."""
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
    if isinstance(summary.get("multi_turn"), Mapping):
        lines.append(multi_turn_line(summary["multi_turn"]))
    return lines


def multi_turn_line(summary: Mapping[str, Any]) -> str:
    """One line about the conversations of an experiment (live and at the end)."""
    conversations = int(summary.get("conversations") or 0)
    turns = int(summary.get("turns") or 0)
    avg = turns / conversations if conversations else 0.0
    line = f"Multi-turn: {conversations} conversation(s), {turns} turn(s) (avg {avg:.1f})"
    line += f", agent tokens {int(summary.get('agent_tokens') or 0):,}"
    usage = summary.get("simulator_usage") or {}
    if usage:
        line += (
            f", simulated user {usage.get('calls', 0)} call(s), "
            f"{usage.get('total_tokens', 0):,} tokens"
        )
    reasons = summary.get("termination_reasons") or {}
    if reasons:
        ordered = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        line += "; ended: " + ", ".join(f"{k} {v}" for k, v in ordered)
    return line


def generation_summary_lines(outcome: Any) -> list[str]:
    """What ``generate inputs`` prints (a ``fluxloop.generation.api.GenerateOutcome``)."""
    result = outcome.result
    if result is None:
        return []
    s = outcome.settings
    per_persona: dict[str, int] = {}
    for item in result.inputs:
        key = item.persona or "(no persona)"
        per_persona[key] = per_persona.get(key, 0) + 1
    lines = [
        f"Generated {len(result.inputs)} input(s) -> {display_path(outcome.output)} "
        f"({s.mode}; strategies {', '.join(s.strategies)}; seed {s.seed}"
        + (f"; offset {result.offset}" if result.offset else "")
        + ")",
        "  by persona: " + ", ".join(f"{k} {v}" for k, v in per_persona.items()),
    ]
    if result.duplicates:
        lines.append(f"  duplicates removed: {result.duplicates}")
    if result.skipped:
        lines.append(f"  skipped groups: {len(result.skipped)}")
        for skip in result.skipped[:5]:
            lines.append(
                f"    base {skip['base_index']} / {skip['persona'] or '-'} / "
                f"{skip['strategy']}: {skip['reason']}"
            )
    if s.mode == "llm":
        lines.append(f"  {usage_line(result.usage)}; {result.duration_seconds:.1f}s")
    return lines


def evaluation_summary_lines(result: Any) -> list[str]:
    """What ``evaluate experiment`` prints (a ``fluxloop.analysis.evaluate.EvaluationResult``):
    the verdict, each evaluator, each gate and the judge's calls."""
    summary = result.summary
    overall = summary["overall"]
    lines = [
        f"Evaluation {'PASSED' if result.passed else 'FAILED'}: {overall['passed']}/"
        f"{overall['evaluated']} traces passed ({pct(overall['pass_rate'])}), mean score "
        f"{overall['mean_score'] if overall['mean_score'] is not None else 'n/a'}"
    ]
    for ev in summary["evaluators"]:
        lines.append(
            f"  {ev['name']} ({ev['type']}, weight {ev['weight']:g}): pass rate "
            f"{pct(ev['pass_rate'])}, mean {ev['mean_score']}"
            + (f", {ev['skipped']} skipped" if ev["skipped"] else "")
            + (f", {ev['inconclusive']} inconclusive" if ev["inconclusive"] else "")
        )
    lines.extend(f"  {fmt_gate(gate)}" for gate in summary["gates"])
    llm = summary["llm"]
    if llm["calls"] or llm["cache_hits"]:
        lines.append(
            f"  judge: {llm['calls']} call(s), {llm['cache_hits']} cached, {llm['errors']} error(s)"
        )
    return lines


def failure_lines(records: Iterable[Mapping[str, Any]], more: bool) -> list[str]:
    """``evaluate experiment --verbose``: each failed trace and the evaluators that failed it."""
    lines = []
    for rec in records:
        bad = [e for e in rec.get("evaluators", []) if e.get("passed") is False]
        why = "; ".join(f"{e['name']}: {e['reason']}" for e in bad) or "below threshold"
        text = " ".join(str(rec.get("input")).split())[:60]
        lines.append(
            f"  FAIL {rec.get('file', '').removesuffix('.md')} [{rec.get('persona') or '-'}] "
            f"{text!r} score {rec.get('score')}: {why}"
        )
    if more:
        lines.append("  … more in per_trace.jsonl")
    return lines


# -- tables and trees --------------------------------------------------------------------------


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


def format_date(value: str | None) -> str:
    """An ISO timestamp in local time (``2025-01-31 14:05:00``); ``-`` when missing."""
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def experiments_table(found: Iterable[Any]) -> list[str]:
    """``status experiments``: one row per ``fluxloop.project.status.ExperimentInfo``."""
    rows = []
    for e in found:
        runs = f"{e.total}" + (f"/{e.planned}" if e.planned and e.planned != e.total else "")
        rows.append(
            [
                e.path.name,
                format_date(e.date),
                e.status,
                runs,
                f"{e.success_rate:.1%}" if e.success_rate is not None else "-",
                f"{e.avg_duration_ms:.1f} ms" if e.avg_duration_ms is not None else "-",
                f"{e.p95_duration_ms:.1f} ms" if e.p95_duration_ms is not None else "-",
            ]
        )
    return format_table(rows, ["Experiment", "Date", "Status", "Runs", "Success", "Avg", "p95"])


def traces_table(lines: Iterable[Mapping[str, Any]]) -> list[str]:
    """``status traces``: one row per trace_summary line (output, or the error when failed)."""
    rows = []
    for line in lines:
        ok = line.get("success", True)
        error = line.get("error") if isinstance(line.get("error"), dict) else None
        result = (
            _short(line.get("output"), 40)
            if ok
            else _short(
                f"{(error or {}).get('type', 'Error')}: {(error or {}).get('message', '')}", 40
            )
        )
        duration = line.get("duration_ms")
        rows.append(
            [
                str(line.get("trace_id", ""))[:16],
                str(line.get("iteration", "")),
                str(line.get("persona") or "-"),
                "ok" if ok else str(line.get("status") or "error"),
                f"{duration:.1f} ms" if isinstance(duration, (int, float)) else "-",
                _short(line.get("input"), 30),
                result,
            ]
        )
    return format_table(
        rows, ["Trace", "Iter", "Persona", "Status", "Duration", "Input", "Output / error"]
    )


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _duration_ms(record: Mapping[str, Any]) -> float | None:
    value = record.get("duration_ms")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        start = datetime.fromisoformat(str(record["start_time"]))
        end = datetime.fromisoformat(str(record["end_time"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds() * 1000.0


def _span_label(record: Mapping[str, Any]) -> str:
    bits = [f"{record.get('type', 'span')} {record.get('name', '?')}"]
    duration = _duration_ms(record)
    if duration is not None:
        bits.append(f"{duration:.1f} ms")
    if record.get("model"):
        bits.append(f"model={record['model']}")
    if record.get("total_tokens") is not None:
        bits.append(f"tokens={record['total_tokens']}")
    if record.get("error"):
        bits.append(f"ERROR {_short(record['error'])}")
    elif record.get("output") is not None:
        bits.append(f"-> {_short(record['output'])}")
    return "  ".join(bits)


def span_tree_lines(observations: Iterable[Mapping[str, Any]]) -> list[str]:
    """Contract-v1 observation records as an indented tree, one line per span.

    The nesting comes from :func:`fluxloop.analysis.tree.span_tree` (depth-first, children in
    start order, orphans as roots); roots have no connector, descendants ``├─`` / ``└─``."""
    nodes = span_tree(observations)
    last = [True] * len(nodes)  # is the node the last of its siblings (one backward pass)
    later_sibling: dict[int, bool] = {}
    for index in range(len(nodes) - 1, -1, -1):
        depth = int(nodes[index]["depth"])
        last[index] = not later_sibling.get(depth, False)
        later_sibling[depth] = True
        for deeper in [d for d in later_sibling if d > depth]:
            del later_sibling[deeper]  # those belong to another parent
    lines: list[str] = []
    open_levels: list[bool] = []  # per depth >= 1: does that ancestor have later siblings
    for node, is_last in zip(nodes, last, strict=True):
        depth = int(node["depth"])
        if depth == 0:
            lines.append(_span_label(node))
            open_levels = []
            continue
        del open_levels[depth - 1 :]
        prefix = "".join("│  " if more else "   " for more in open_levels)
        lines.append(prefix + ("└─ " if is_last else "├─ ") + _span_label(node))
        open_levels.append(not is_last)
    return lines
