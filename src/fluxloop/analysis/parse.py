"""``fluxloop parse experiment``: one readable timeline per run.

Writes ``{output}/{iteration:02d}_{trace_id}.md`` (the original FluxLoop's layout: front matter,
Summary, Input, Output, Conversation, Timeline) or ``.json`` with ``--format json``, for every
run — failed ones included, with their error — plus ``per_trace.jsonl`` (one structured record
per run, the original's keys without its triple copies of every record).

Streaming: one run and its observations in memory at a time (see :mod:`.experiment`). The
output is built in a temporary sibling directory and moved into place at the end, so a failure
never leaves a half-written output, and ``--overwrite`` replaces the old output only then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import InputError
from fluxloop.project.layout import PARSE_DIR, PER_TRACE_FILE

from ._jsonl import collect_warnings, dump_line, dumps_pretty, loads, masked_text, where
from .experiment import Experiment, Run, iter_traces
from .timeline import Step, build_timeline
from .traces_dir import Selection, load_directory

__all__ = [
    "ParseResult",
    "parse_experiment",
    "render_markdown",
    "safe_file_stem",
    "trace_record",
]

DEFAULT_OUTPUT = PARSE_DIR
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


def safe_file_stem(iteration: int, trace_id: str | None, fallback: str) -> str:
    """``{iteration:02d}_{slug}``: letters, digits, ``-`` and ``_`` only (no path can escape)."""
    slug = _SLUG.sub("", trace_id or "")[:96] or _SLUG.sub("", fallback)[:96] or "trace"
    it = iteration if iteration >= 0 else 0
    return f"{it:02d}_{slug}"


# ---------------------------------------------------------------------------------------------
# Markdown


def _fence(body: str, lang: str = "json") -> str:
    """A fenced code block whose fence is longer than any backtick run in ``body``."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def _json_block(value: Any) -> str:
    if value is None:
        return "(no data)"
    return _fence(dumps_pretty(value))


def _inline(text: str) -> str:
    """Text for a list item: continuation lines indented so they stay in the item."""
    return text.replace("\r\n", "\n").replace("\n", "\n  ")


def _fmt_ms(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "N/A"


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return dumps_pretty(str(value))


def _conversation_lines(conversation: Iterable[Any]) -> list[str]:
    lines: list[str] = []
    for turn in conversation:
        if not isinstance(turn, Mapping):
            continue
        role = str(turn.get("role") or "unknown")
        content = turn.get("content")
        text = content if isinstance(content, str) else dumps_pretty(content)
        meta = turn.get("metadata") if isinstance(turn.get("metadata"), Mapping) else {}
        assert isinstance(meta, Mapping)
        bits: list[str] = []
        if turn.get("source"):
            bits.append(f"source={turn['source']}")
        actions = meta.get("actions")
        if isinstance(actions, list) and actions:
            bits.append("actions=" + ", ".join(str(a) for a in actions))
        if meta.get("closing") or turn.get("closing"):
            bits.append("closing=true")
        if meta.get("persona"):
            bits.append(f"persona={meta['persona']}")
        suffix = f" _({' ; '.join(bits)})_" if bits else ""
        lines.append(f"- **{role.capitalize()}**: {_inline(text)}{suffix}")
    return lines


def _step_lines(step: Step, steps: list[Step]) -> list[str]:
    lines = [
        "---",
        f"### Step {step.index}: [{step.type}] {step.name}",
        f"- Start: `{step.time_text('start')}`",
        f"- End: `{step.time_text('end')}`",
        f"- Duration: `{_fmt_ms(step.duration_ms)} ms`",
        f"- Level: `{step.level}`",
    ]
    if step.parent_index is not None:
        parent = steps[step.parent_index - 1]
        lines.append(f"- Parent: Step {parent.index} ([{parent.type}] {parent.name})")
    record = step.record
    if record.get("model"):
        lines.append(f"- Model: `{record['model']}`")
    tokens = [
        f"{label} {record[key]}"
        for key, label in (
            ("prompt_tokens", "prompt"),
            ("completion_tokens", "completion"),
            ("total_tokens", "total"),
        )
        if record.get(key) is not None
    ]
    if tokens:
        lines.append(f"- Tokens: {', '.join(tokens)}")
    if step.error:
        lines.append(f"- Error: {_inline(step.error)}")
    lines += ["", "**Input**", _json_block(record.get("input")), ""]
    lines += ["**Output**", _json_block(record.get("output")), ""]
    if step.events:
        lines += ["**Events**", *(_event_line(e) for e in step.events), ""]
    return lines


def _event_line(event: Mapping[str, Any]) -> str:
    """One log record emitted in a step: time, severity, event name, body."""
    body = event.get("body")
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    parts = [
        f"`{event.get('time') or event.get('observed_time') or 'N/A'}`",
        f"`{event.get('severity_text') or event.get('severity_number') or 'LOG'}`",
    ]
    if event.get("event_name"):
        parts.append(f"`{event['event_name']}`")
    return f"- {' '.join(parts)} {_inline(text)}"


def render_markdown(run: Run, steps: list[Step]) -> str:
    """The per-trace Markdown document (the original FluxLoop's layout, plus errors)."""
    persona_front = _yaml_scalar(run.persona)
    front = [
        "---",
        f"trace_id: {_yaml_scalar(run.trace_id)}",
        f"iteration: {run.iteration}",
        f"persona: {persona_front}",
        f"duration_ms: {_fmt_ms(run.duration_ms) if run.duration_ms is not None else 'null'}",
        f"success: {'true' if run.success else 'false'}",
    ]
    if not run.success:
        front.append(f"status: {_yaml_scalar(run.status)}")
        if run.error:
            kind = run.error.get("type")
            message = str(run.error.get("message") or "")
            front.append(f"error: {_yaml_scalar(f'{kind}: {message}' if kind else message)}")
    front.append("---")
    lines = [
        *front,
        "",
        "# Trace Analysis",
        "",
        "## Summary",
        f"- Trace ID: `{run.trace_id or 'N/A'}`",
        f"- Iteration: `{run.iteration}`",
        f"- Persona: `{run.persona or 'N/A'}`",
        f"- Duration: `{_fmt_ms(run.duration_ms)} ms`",
        f"- Success: `{run.success}`",
    ]
    if not run.success:
        lines.append(f"- Status: `{run.status}`")
    usage = run.token_usage or {}
    if usage:
        parts = [f"{k.replace('_tokens', '')} {usage[k]}" for k in usage if usage[k] is not None]
        if parts:
            lines.append(f"- Tokens: {', '.join(parts)}")
    if run.error:
        kind = run.error.get("type")
        message = str(run.error.get("message") or "")
        lines.append(f"- Error: {_inline(f'{kind}: {message}' if kind else message)}")
    lines += ["", "### Input", _json_block({"input": run.input}), ""]
    lines += ["### Output", _json_block({"output": run.output}), ""]
    if run.error and run.error.get("traceback"):
        lines += ["### Error", _fence(str(run.error["traceback"]).rstrip("\n"), "text"), ""]
    if run.conversation:
        lines += ["## Conversation", "", *_conversation_lines(run.conversation), ""]
    lines.append("## Timeline")
    if not steps:
        lines += ["", "(no observations recorded)", ""]
    for step in steps:
        lines += _step_lines(step, steps)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# structured record


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return loads(value)
        except ValueError:
            return value
    return value


def trace_record(run: Run, steps: list[Step]) -> dict[str, Any]:
    """One ``per_trace.jsonl`` record (the original's keys; each observation stored once)."""
    conversation = []
    for turn in run.conversation or []:
        if isinstance(turn, Mapping):
            item = dict(turn)
            item["content"] = _maybe_json(item.get("content"))
            conversation.append(item)
    timeline = []
    for step in steps:
        record = step.record
        timeline.append(
            {
                "step": step.index,
                "id": record.get("id"),
                "parent_observation_id": record.get("parent_observation_id"),
                "trace_id": record.get("trace_id"),
                "type": step.type,
                "name": step.name,
                "start_time": step.time_text("start"),
                "end_time": step.time_text("end"),
                "duration_ms": step.duration_ms,
                "level": step.level,
                "depth": step.depth,
                "model": record.get("model"),
                "prompt_tokens": record.get("prompt_tokens"),
                "completion_tokens": record.get("completion_tokens"),
                "total_tokens": record.get("total_tokens"),
                "input": record.get("input"),
                "output": record.get("output"),
                "error": step.error,
            }
        )
        if step.events:
            timeline[-1]["events"] = [dict(e) for e in step.events]
    out: dict[str, Any] = {
        "trace_id": run.trace_id,
        "iteration": run.iteration,
        "persona": run.persona,
        "input": run.input,
        "output": run.output,
        "final_output": run.output,
        "duration_ms": run.duration_ms,
        "success": run.success,
        "status": run.status,
        "error": run.error,
        # the original's shape: the run's headline fields, the whole trace_summary line as
        # ``raw`` and the token usage (its readers use summary.raw and summary.token_usage)
        "summary": {
            "trace_id": run.trace_id,
            "iteration": run.iteration,
            "persona": run.persona,
            "input": run.input,
            "output": run.output,
            "duration_ms": run.duration_ms,
            "success": run.success,
            "raw": run.raw,
            "conversation_state": run.raw.get("conversation_state"),
            "termination_reason": run.raw.get("termination_reason"),
            "token_usage": run.token_usage,
        },
        "raw": run.raw,
        "timeline": timeline,
        "conversation": conversation,
        "metrics": {
            "observation_count": len(steps),
            "error_steps": sum(1 for s in steps if s.failed),
        },
    }
    if run.token_usage:
        out["token_usage"] = run.token_usage
    for key in ("conversation_state", "termination_reason"):
        if run.raw.get(key) is not None:
            out[key] = run.raw[key]
    return out


# ---------------------------------------------------------------------------------------------
# the command


@dataclass
class ParseResult:
    output_dir: Path
    files: int = 0
    runs: int = 0
    failed: int = 0
    observations: int = 0
    sorted_by_trace: bool = False
    warnings: list[str] = field(default_factory=list)


def _resolve_output(experiment_dir: Path, output: str | os.PathLike[str] | None) -> Path:
    target = Path(output) if output is not None else Path(DEFAULT_OUTPUT)
    if not target.is_absolute():
        target = experiment_dir / target
    resolved = target.resolve()
    exp = experiment_dir.resolve()
    if resolved == exp or exp.is_relative_to(resolved):
        raise InputError(
            f"--output {where(target)}: refusing to write into the experiment directory itself "
            "or one of its parents; choose a subdirectory such as per_trace_analysis"
        )
    return resolved


def _write_new(directory: Path, stem: str, suffix: str, text: str) -> Path:
    """Write a new file ``stem.suffix`` (``stem_2.suffix``… when a name repeats)."""
    for n in range(1, 100_000):
        name = f"{stem}{suffix}" if n == 1 else f"{stem}_{n}{suffix}"
        path = directory / name
        try:
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(masked_text(text))
        except FileExistsError:
            continue
        return path
    raise InputError(f"{where(directory)}: too many files named {stem}")  # pragma: no cover


def parse_experiment(
    experiment_dir: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str] | None = None,
    fmt: str = "md",
    overwrite: bool = False,
    selection: Selection | None = None,
) -> ParseResult:
    """Write per-trace timelines for every run of an experiment (or of a collector / import
    directory of traces, whose runs ``selection`` chooses); returns what was written (and the
    warnings about skipped input, in ``warnings``)."""
    with collect_warnings() as warnings:
        result = _parse(experiment_dir, output, fmt, overwrite, selection)
    result.warnings = warnings
    return result


def _parse(
    experiment_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None,
    fmt: str,
    overwrite: bool,
    selection: Selection | None,
) -> ParseResult:
    if fmt not in ("md", "json"):
        raise InputError(f"--format: expected md or json, found {fmt!r}")
    experiment: Experiment = load_directory(experiment_dir, selection)
    out_dir = _resolve_output(experiment.path, output)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{where(out_dir)}: exists and is not a directory")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise InputError(
            f"{where(out_dir)}: already exists; pass --overwrite to replace it "
            "(or --output to write elsewhere)"
        )
    experiment.validate()  # bad input is reported before anything is written
    index = experiment.observation_index()
    logs = experiment.log_index()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    result = ParseResult(output_dir=out_dir, sorted_by_trace=index.sorted_by_trace)
    suffix = ".md" if fmt == "md" else ".json"
    try:
        with open(staging / PER_TRACE_FILE, "wb") as per_trace:
            for n, bundle in enumerate(iter_traces(experiment, index)):
                run = bundle.run
                steps = build_timeline(bundle.observations, logs.get(run.trace_id))
                record = trace_record(run, steps)
                per_trace.write(dump_line(record))
                stem = safe_file_stem(run.iteration, run.trace_id, f"failed-{n:04d}")
                text = render_markdown(run, steps) if fmt == "md" else dumps_pretty(record) + "\n"
                _write_new(staging, stem, suffix, text)
                result.files += 1
                result.runs += 1
                result.failed += 0 if run.success else 1
                result.observations += len(steps)
        os.chmod(staging, 0o755)
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            os.replace(out_dir, trash / "old")
            os.replace(staging, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        index.close()
        logs.close()
    return result
