"""``fluxloop evaluate experiment``: score every run, aggregate, gate, report.

Reads the experiment's artifacts only (the agent is never re-run), streamed one batch of traces
at a time; judge calls of a batch run concurrently. Writes ``{output}/per_trace.jsonl`` (as it
goes), then ``summary.json``, ``report.md``, ``report.html`` and ``junit.xml``. Re-running is
cheap: judge answers come from the cache, so scores can be recomputed after changing weights,
rules or thresholds.

Scoring: each evaluator gives a score in 0..1 (rule-based: the fraction of its rules passed;
judge: the fraction of criteria passed, or the parsed score / ``max_score``; custom: what the
function returns) and passes when the score reaches its ``threshold`` (default
``aggregate.threshold``). A trace's score is the weighted mean (``weighted_sum``) or plain mean
(``average``) of its evaluators' scores; it passes when the score reaches
``aggregate.threshold`` and no ``required`` evaluator failed. Runs are grouped by
(input, persona) across iterations for mean, pass@k and pass^k. The gate (exit code 1) is
``thresholds`` + the original's ``success_criteria``; by default every trace must pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import inspect
import os
import tempfile
import time
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fluxloop._files import atomic_write, read_jsonl
from fluxloop.cassette import CassetteMiss, CassetteSession, resolve_settings
from fluxloop.errors import InputError
from fluxloop.llm.cache import ResponseCache
from fluxloop.llm.models import PROVIDER_KEY_VARS, UNIVERSAL_KEY_VAR
from fluxloop.project.layout import (
    EVALUATION_DIR,
    PARSE_DIR,
    PER_TRACE_FILE,
    REPORT_HTML_FILE,
    SUMMARY_FILE,
)
from fluxloop.sdk.envfile import apply_environ, read_dotenv

from ._jsonl import collect_warnings, dump_line, iter_jsonl, masked_text, warn, where
from .config import EvaluationConfig, EvaluatorDef, find_config, load_evaluation_config
from .experiment import (
    Experiment,
    Run,
    TraceBundle,
    iter_traces,
    run_from_summary,
)
from .judge import JudgeClient, build_chat_model, cache_path_for
from .parse import safe_file_stem
from .rules import RuleContext
from .stats import mean, pass_at_k, pass_hat_k, percentile
from .timeline import Step, build_timeline, tool_calls
from .traces_dir import Selection, load_directory

__all__ = ["EvaluationResult", "evaluate_experiment"]

DEFAULT_OUTPUT = EVALUATION_DIR
BATCH = 64
MAX_ROWS_FAILING = 300
MAX_ROWS_PASSING = 200
MAX_TIMELINES_FAILING = 60
MAX_TIMELINES_PASSING = 40
MAX_TIMELINE_SPANS = 150
MAX_INPUTS_IN_SUMMARY = 200


@dataclass
class EvaluatorResult:
    name: str
    type: str
    weight: float
    score: float | None
    passed: bool | None
    status: str
    reason: str
    checks: list[dict[str, Any]] = field(default_factory=list)
    criteria: list[dict[str, Any]] = field(default_factory=list)
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "weight": self.weight,
            "score": None if self.score is None else round(self.score, 6),
            "passed": self.passed,
            "status": self.status,
            "reason": self.reason,
        }
        if self.checks:
            out["checks"] = self.checks
        if self.criteria:
            out["criteria"] = self.criteria
        if self.cached:
            out["cached"] = True
        return out


# ---------------------------------------------------------------------------------------------
# evaluating one trace


def _sampled(trace_id: str | None, name: str, rate: float) -> bool:
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(f"{trace_id}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _ev_threshold(cfg: EvaluationConfig, ev: EvaluatorDef) -> float:
    return ev.threshold if ev.threshold is not None else cfg.threshold


def _rule_result(cfg: EvaluationConfig, ev: EvaluatorDef, ctx: RuleContext) -> EvaluatorResult:
    checks: list[dict[str, Any]] = []
    for rule in ev.rules:
        try:
            ok, detail = rule.apply(ctx)
        except Exception as exc:  # a rule must never stop the evaluation
            ok, detail = False, f"check raised {type(exc).__name__}: {exc}"
        checks.append({"check": rule.label, "passed": ok, "detail": detail})
    passed = sum(1 for c in checks if c["passed"])
    score = passed / len(checks)
    ok = score >= _ev_threshold(cfg, ev)
    failing = [c for c in checks if not c["passed"]]
    reason = f"{passed}/{len(checks)} rules passed"
    if failing:
        reason += "; " + "; ".join(f"{c['check']}: {c['detail']}" for c in failing[:3])
    return EvaluatorResult(
        ev.name, ev.type, ev.weight, score, ok, "pass" if ok else "fail", reason, checks=checks
    )


def _custom_view(run: Run, record: dict[str, Any], steps: list[Step]) -> dict[str, Any]:
    view = dict(record)
    view["observations"] = [dict(s.record) for s in steps]
    view["tool_calls"] = [{"name": name, "arguments": args} for name, args, _ in tool_calls(steps)]
    return view


def _coerce_custom(value: Any) -> tuple[float | None, bool | None, str]:
    if isinstance(value, tuple) and len(value) == 2:
        score, reason = value
        s, p, _ = _coerce_custom(score)
        return s, p, str(reason)
    if isinstance(value, bool):
        return (1.0 if value else 0.0), value, "passed" if value else "failed"
    if isinstance(value, (int, float)):
        return float(value), None, f"score {float(value):.3g}"
    if isinstance(value, Mapping):
        raw = value.get("score")
        passed = value.get("passed")
        reason = str(value.get("reason") or value.get("reasoning") or "")
        if raw is None and isinstance(passed, bool):
            raw = 1.0 if passed else 0.0
        if isinstance(raw, bool):
            raw = 1.0 if raw else 0.0
        if not isinstance(raw, (int, float)):
            raise TypeError(f"returned a mapping without a numeric 'score': {value!r}")
        return float(raw), passed if isinstance(passed, bool) else None, reason
    if value is None:
        return None, None, "no score returned (skipped)"
    raise TypeError(
        f"returned {type(value).__name__}; expected bool, a number, a mapping or (score, reason)"
    )


async def _custom_result(
    cfg: EvaluationConfig, ev: EvaluatorDef, run: Run, record: dict[str, Any], steps: list[Step]
) -> EvaluatorResult:
    assert ev.function is not None
    try:
        value = ev.function(_custom_view(run, record, steps), **ev.params)
        if inspect.isawaitable(value):
            value = await value
        score, passed, reason = _coerce_custom(value)
    except Exception as exc:
        warn(f"custom evaluator {ev.name!r} raised {type(exc).__name__}: {exc}")
        return EvaluatorResult(
            ev.name, ev.type, ev.weight, 0.0, False, "error", f"raised {type(exc).__name__}: {exc}"
        )
    if score is None:
        return EvaluatorResult(ev.name, ev.type, ev.weight, None, None, "skipped", reason)
    if not 0.0 <= score <= 1.0:
        clipped = max(0.0, min(1.0, score))
        reason = f"{reason} (score {score:g} clipped to {clipped:g})".strip()
        score = clipped
    if passed is None:
        passed = score >= _ev_threshold(cfg, ev)
    return EvaluatorResult(
        ev.name, ev.type, ev.weight, score, passed, "pass" if passed else "fail", reason
    )


async def _judge_result(
    cfg: EvaluationConfig,
    ev: EvaluatorDef,
    client: JudgeClient,
    run: Run,
    record: dict[str, Any],
    steps: list[Step],
    no_llm: bool,
) -> EvaluatorResult:
    assert ev.judge is not None
    if no_llm:
        return EvaluatorResult(ev.name, ev.type, ev.weight, None, None, "skipped", "--no-llm")
    if not _sampled(run.trace_id, ev.name, cfg.sample_rate):
        return EvaluatorResult(
            ev.name, ev.type, ev.weight, None, None, "skipped", "not sampled (limits.sample_rate)"
        )
    verdict = await client.judge(ev.judge, ev.model, run, steps, record)
    if verdict.score is None:
        return EvaluatorResult(
            ev.name,
            ev.type,
            ev.weight,
            None,
            None,
            verdict.status,
            verdict.reason,
            criteria=verdict.criteria,
            cached=verdict.cached,
        )
    ok = verdict.score >= _ev_threshold(cfg, ev)
    status = verdict.status if verdict.status == "inconclusive" else ("pass" if ok else "fail")
    return EvaluatorResult(
        ev.name,
        ev.type,
        ev.weight,
        verdict.score,
        ok,
        status,
        verdict.reason,
        criteria=verdict.criteria,
        cached=verdict.cached,
    )


def _combine(
    cfg: EvaluationConfig, results: list[EvaluatorResult]
) -> tuple[float | None, bool | None]:
    scored = [r for r in results if r.score is not None]
    if not scored:
        return None, None
    if cfg.method == "average":
        score = sum(r.score or 0.0 for r in scored) / len(scored)
    else:
        total = sum(r.weight for r in scored)
        if total <= 0:
            score = sum(r.score or 0.0 for r in scored) / len(scored)
        else:
            score = sum((r.score or 0.0) * r.weight for r in scored) / total
    required = {e.name for e in cfg.evaluators if e.required}
    blocked = any(r.name in required and r.passed is False for r in results)
    return score, (score >= cfg.threshold - 1e-12) and not blocked


# ---------------------------------------------------------------------------------------------
# aggregation


class _Group:
    """Counters of a group of runs; ``detailed`` groups (overall, personas) keep the values for
    percentiles, the others (one per input, possibly many) only sums."""

    __slots__ = (
        "dur_n",
        "dur_sum",
        "durations",
        "evaluated",
        "n",
        "passed",
        "score_sum",
        "successes",
        "tok_n",
        "tok_sum",
        "tokens",
    )

    def __init__(self, detailed: bool = True) -> None:
        self.n = self.passed = self.evaluated = self.successes = 0
        self.score_sum = 0.0
        self.dur_n = self.tok_n = 0
        self.dur_sum = self.tok_sum = 0.0
        self.durations: array[float] | None = array("d") if detailed else None
        self.tokens: array[float] | None = array("d") if detailed else None

    def add(self, run: Run, score: float | None, passed: bool | None) -> None:
        self.n += 1
        self.successes += 1 if run.success else 0
        if score is not None:
            self.evaluated += 1
            self.score_sum += score
            self.passed += 1 if passed else 0
        if run.duration_ms is not None:
            self.dur_n += 1
            self.dur_sum += run.duration_ms
            if self.durations is not None:
                self.durations.append(run.duration_ms)
        total = run.total_tokens()
        if total is not None:
            self.tok_n += 1
            self.tok_sum += total
            if self.tokens is not None:
                self.tokens.append(total)

    def stats(self) -> dict[str, Any]:
        durations = list(self.durations) if self.durations is not None else []
        out: dict[str, Any] = {
            "traces": self.n,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "pass_rate": _r(self.passed / self.evaluated) if self.evaluated else None,
            "mean_score": _r(self.score_sum / self.evaluated) if self.evaluated else None,
            "success_rate": _r(self.successes / self.n) if self.n else None,
            "latency_ms": {"mean": _r(self.dur_sum / self.dur_n) if self.dur_n else None},
            "tokens": {
                "total": _r(self.tok_sum) if self.tok_n else None,
                "mean": _r(self.tok_sum / self.tok_n) if self.tok_n else None,
            },
        }
        if self.durations is not None:
            out["latency_ms"].update(
                p50=_r(percentile(durations, 50)),
                p95=_r(percentile(durations, 95)),
                max=_r(max(durations)) if durations else None,
            )
        return out


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class _EvalStats:
    scores: list[float] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    inconclusive: int = 0
    errors: int = 0
    cached: int = 0


class Accumulator:
    """Everything the summary and the reports need, O(runs) small numbers, bounded samples."""

    def __init__(self, cfg: EvaluationConfig) -> None:
        self.cfg = cfg
        self.overall = _Group()
        self.personas: dict[str, _Group] = {}
        self.inputs: dict[tuple[str, str], _Group] = {}
        self.evaluators: dict[str, _EvalStats] = {e.name: _EvalStats() for e in cfg.evaluators}
        self.rows_failing: list[dict[str, Any]] = []
        self.rows_passing: list[dict[str, Any]] = []
        self.timelines: list[dict[str, Any]] = []
        self._timelines_failing = 0
        self._timelines_passing = 0
        self.points: list[tuple[float | None, float | None, bool | None]] = []  # latency, tokens

    def add(
        self,
        run: Run,
        steps: list[Step],
        results: list[EvaluatorResult],
        score: float | None,
        passed: bool | None,
        stem: str,
    ) -> None:
        self.overall.add(run, score, passed)
        persona = run.persona or "(none)"
        self.personas.setdefault(persona, _Group()).add(run, score, passed)
        text, persona_key, _ = run.key
        group_key = (text, persona_key)
        self.inputs.setdefault(group_key, _Group(detailed=False)).add(run, score, passed)
        for r in results:
            st = self.evaluators[r.name]
            if r.score is not None:
                st.scores.append(r.score)
            if r.status == "skipped":
                st.skipped += 1
            elif r.status == "inconclusive":
                st.inconclusive += 1
            elif r.status == "error":
                st.errors += 1
            if r.passed is True:
                st.passed += 1
            elif r.passed is False:
                st.failed += 1
            if r.cached:
                st.cached += 1
        if len(self.points) < 20000:
            self.points.append((run.duration_ms, run.total_tokens(), passed))
        failing = passed is False
        reason = "; ".join(f"{r.name}: {r.reason}" for r in results if r.passed is False) or (
            "not evaluated" if passed is None else ""
        )
        row = {
            "stem": stem,
            "trace_id": run.trace_id,
            "iteration": run.iteration,
            "persona": run.persona,
            "input": _clip(run.key[0], 160),
            "output": _clip(_text(run.output), 160),
            "success": run.success,
            "status": run.status,
            "score": _r(score),
            "passed": passed,
            "duration_ms": _r(run.duration_ms, 2),
            "tokens": run.total_tokens(),
            "reason": _clip(reason, 300),
            "evaluators": {r.name: {"score": _r(r.score), "passed": r.passed} for r in results},
        }
        target = self.rows_failing if failing else self.rows_passing
        cap = MAX_ROWS_FAILING if failing else MAX_ROWS_PASSING
        if len(target) < cap:
            target.append(row)
        take = (
            self._timelines_failing < MAX_TIMELINES_FAILING
            if failing
            else self._timelines_passing < MAX_TIMELINES_PASSING
        )
        if take:
            if failing:
                self._timelines_failing += 1
            else:
                self._timelines_passing += 1
            self.timelines.append({**row, "spans": _compact_spans(steps)})

    # -- results ----------------------------------------------------------------------------
    def iter_per_input(self) -> Iterator[dict[str, Any]]:
        for key, group in self.inputs.items():
            n = group.evaluated
            k = min(self.cfg.k or n, n) if n else 0
            item = {
                "input": key[0][:200],
                "persona": key[1] or None,
                **group.stats(),
                "k": k,
                "pass_at_k": _r(pass_at_k(n, group.passed, k)) if n else None,
                "pass_hat_k": _r(pass_hat_k(n, group.passed, k)) if n else None,
            }
            yield item

    def per_evaluator(self) -> list[dict[str, Any]]:
        out = []
        for ev in self.cfg.evaluators:
            st = self.evaluators[ev.name]
            judged = st.passed + st.failed
            out.append(
                {
                    "name": ev.name,
                    "type": ev.type,
                    "weight": ev.weight,
                    "threshold": _ev_threshold(self.cfg, ev),
                    "required": ev.required,
                    "evaluated": len(st.scores),
                    "mean_score": _r(mean(st.scores)),
                    "passed": st.passed,
                    "failed": st.failed,
                    "pass_rate": _r(st.passed / judged) if judged else None,
                    "skipped": st.skipped,
                    "inconclusive": st.inconclusive,
                    "errors": st.errors,
                    "cached": st.cached,
                }
            )
        return out


def _text(value: Any) -> str:
    from .rules import text_of

    return text_of(value)


def _clip(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _compact_spans(steps: list[Step]) -> list[dict[str, Any]]:
    starts = [s.start for s in steps if s.start is not None]
    origin = min(starts) if starts else None
    spans = []
    for step in steps[:MAX_TIMELINE_SPANS]:
        offset = (step.start - origin).total_seconds() * 1000 if step.start and origin else None
        spans.append(
            {
                "n": step.index,
                "type": step.type,
                "name": _clip(step.name, 60),
                "start_ms": _r(offset, 3),
                "duration_ms": _r(step.duration_ms, 3),
                "depth": step.depth,
                "error": _clip(step.error, 120) if step.error else None,
            }
        )
    return spans


# ---------------------------------------------------------------------------------------------
# gate


def _gates(
    cfg: EvaluationConfig, acc: Accumulator, overall: dict[str, Any], fail_under: float | None
) -> list[dict[str, Any]]:
    gates: list[dict[str, Any]] = []

    def gate(name: str, actual: float | None, op: str, limit: float, unit: str = "") -> None:
        if actual is None:
            ok = False
        elif op == ">=":
            ok = actual >= limit - 1e-12
        else:
            ok = actual <= limit + 1e-12
        gates.append(
            {
                "name": name,
                "actual": _r(actual),
                "op": op,
                "limit": limit,
                "unit": unit,
                "passed": ok,
            }
        )

    if acc.overall.evaluated == 0:
        gates.append(
            {
                "name": "evaluated_traces",
                "actual": 0,
                "op": ">=",
                "limit": 1,
                "unit": "",
                "passed": False,
            }
        )
    pass_rate_limit = fail_under if fail_under is not None else cfg.thresholds.get("pass_rate", 1.0)
    gate("pass_rate", overall["pass_rate"], ">=", float(pass_rate_limit))
    for name in ("mean_score", "success_rate"):
        if name in cfg.thresholds:
            gate(name, overall[name], ">=", float(cfg.thresholds[name]))
    for name in ("pass_at_k", "pass_hat_k"):
        if name in cfg.thresholds:
            gate(name, overall[name], ">=", float(cfg.thresholds[name]))
    evaluators = {e["name"]: e for e in acc.per_evaluator()}
    for name, limit in cfg.thresholds.get("evaluators", {}).items():
        gate(f"{name}.pass_rate", evaluators[name]["pass_rate"], ">=", float(limit))
    perf = cfg.performance
    if perf.get("all_traces_successful"):
        gate("all_traces_successful", overall["success_rate"], ">=", 1.0)
    if "avg_response_time" in perf:
        gate(
            "avg_response_time",
            overall["latency_ms"]["mean"],
            "<=",
            perf["avg_response_time"],
            "ms",
        )
    if "max_response_time" in perf:
        gate(
            "max_response_time", overall["latency_ms"]["max"], "<=", perf["max_response_time"], "ms"
        )
    if "error_rate" in perf:
        rate = overall["success_rate"]
        gate(
            "error_rate", None if rate is None else (1 - rate) * 100, "<=", perf["error_rate"], "%"
        )
    for name in cfg.quality:
        ev = next(e for e in cfg.evaluators if e.name == name)
        gate(f"{name}.mean_score", evaluators[name]["mean_score"], ">=", _ev_threshold(cfg, ev))
    return gates


# ---------------------------------------------------------------------------------------------
# the command


@dataclass
class EvaluationResult:
    output_dir: Path
    summary: dict[str, Any]
    passed: bool
    files: dict[str, Path]
    #: what this evaluation skipped or doubted (torn lines, unknown config keys, failing
    #: evaluators); ``summary["warnings"]`` keeps the first 50
    warnings: list[str] = field(default_factory=list)

    def failed_gates(self) -> list[dict[str, Any]]:
        return [g for g in self.summary["gates"] if not g["passed"]]

    def failed_traces(self, limit: int = 50) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` per_trace.jsonl records that failed, and whether there are more
        (streamed: the file holds every trace)."""
        found: list[dict[str, Any]] = []
        for line in read_jsonl(self.files["per_trace"]):  # this evaluation's: masked, whole
            record = line.value
            if not isinstance(record, dict) or record.get("passed") is not False:
                continue
            if len(found) == limit:
                return found, True
            found.append(record)
        return found, False


def _iter_per_trace_file(path: Path) -> Iterator[TraceBundle]:
    """The original's ``per_trace_analysis/per_trace.jsonl`` (or ours) as runs + observations."""
    for number, _, record in iter_jsonl(path):
        summary = record.get("summary")
        base = dict(summary) if isinstance(summary, Mapping) else dict(record)
        for key in (
            "trace_id",
            "iteration",
            "persona",
            "input",
            "output",
            "duration_ms",
            "success",
            "status",
            "error",
            "token_usage",
            "conversation",
        ):
            if key not in base and key in record:
                base[key] = record[key]
        run = run_from_summary(base, number)
        timeline = record.get("timeline")
        observations = []
        for item in timeline if isinstance(timeline, list) else []:
            if isinstance(item, Mapping):
                raw = item.get("raw")
                observations.append(dict(raw) if isinstance(raw, Mapping) else dict(item))
        yield TraceBundle(run, observations)


def _keys_from_project_env(directories: list[Path]) -> None:
    """LLM keys (``FLUXLOOP_LLM_API_KEY``, ``OPENAI_API_KEY``, …) from the project's ``.env``
    (and its parent's: the seeds' ``fluxloop/.env``), as ``run`` and ``generate`` read them;
    variables already set win. Nothing else is taken from the file."""
    names = {UNIVERSAL_KEY_VAR, *(v for vs in PROVIDER_KEY_VARS.values() for v in vs)}
    seen: set[Path] = set()
    for directory in directories:
        for candidate in (directory / ".env", directory.parent / ".env"):
            if candidate in seen:
                continue
            seen.add(candidate)
            values = read_dotenv(candidate)
            apply_environ({k: v for k, v in values.items() if k in names and v}, override=False)


def evaluate_experiment(
    experiment_dir: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    per_trace: str | os.PathLike[str] | None = None,
    no_llm: bool = False,
    fail_under: float | None = None,
    llm_api_key: str | None = None,
    selection: Selection | None = None,
    cassette: str | None = None,
    cassette_timing: str | None = None,
) -> EvaluationResult:
    """Evaluate an experiment directory (or a collector / import directory of traces, whose runs
    ``selection`` chooses); writes the evaluation files and returns the summary.
    Raises ConfigError/InputError (exit 2) on bad input; the caller decides about the gate."""
    with collect_warnings() as warnings:
        return _evaluate(
            experiment_dir,
            config=config,
            output=output,
            overwrite=overwrite,
            per_trace=per_trace,
            no_llm=no_llm,
            fail_under=fail_under,
            llm_api_key=llm_api_key,
            selection=selection,
            cassette=cassette,
            cassette_timing=cassette_timing,
            warnings=warnings,
        )


def _evaluate(
    experiment_dir: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    per_trace: str | os.PathLike[str] | None = None,
    no_llm: bool = False,
    fail_under: float | None = None,
    llm_api_key: str | None = None,
    selection: Selection | None = None,
    cassette: str | None = None,
    cassette_timing: str | None = None,
    warnings: list[str],
) -> EvaluationResult:
    """:func:`evaluate_experiment`, its warnings collected in ``warnings``."""
    experiment = load_directory(experiment_dir, selection)
    cfg_path, how = find_config(experiment.path, Path(config) if config is not None else None)
    cfg = load_evaluation_config(
        cfg_path,
        how if cfg_path is None else f"{where(cfg_path)} ({how})",
        explicit=how == "--config",
    )
    out_dir = Path(output) if output is not None else Path(DEFAULT_OUTPUT)
    if not out_dir.is_absolute():
        out_dir = experiment.path / out_dir
    out_dir = out_dir.resolve()
    if out_dir == experiment.path.resolve() or experiment.path.resolve().is_relative_to(out_dir):
        raise InputError(
            f"--output {where(out_dir)}: refusing to write into the experiment directory itself"
        )
    if (out_dir / SUMMARY_FILE).exists() and not overwrite:
        raise InputError(
            f"{where(out_dir)}: an evaluation already exists; pass --overwrite to replace it "
            "(judge answers are cached, so re-evaluating is cheap)"
        )
    per_trace_path = Path(per_trace) if per_trace is not None else None
    if per_trace_path is not None and not per_trace_path.is_file():
        raise InputError(f"{where(per_trace_path)}: per-trace file not found")
    if llm_api_key:
        os.environ.setdefault("FLUXLOOP_LLM_API_KEY", llm_api_key)
    _keys_from_project_env([cfg.base_dir, experiment.path.resolve().parent.parent, Path.cwd()])
    if not no_llm:
        for ev in cfg.evaluators:
            if ev.judge is not None:
                ev.model = build_chat_model(
                    ev.judge, [cfg.base_dir, Path.cwd()], f"{cfg.where(ev.key)}: {ev.key}"
                )
    index = None
    if per_trace_path is None:  # bad input is reported before anything is written
        experiment.validate()
        index = experiment.observation_index()
    else:
        sum(1 for _ in iter_jsonl(per_trace_path))
    # the judge's model calls: cassette of the experiment's name, in the working directory's
    # cassettes/ (or FLUXLOOP_CASSETTE_DIR); with a cassette, it is the judge's cache
    tape = resolve_settings(mode=cassette, timing=cassette_timing)
    if no_llm:
        tape = replace(tape, mode="off")
    target = experiment.summary.get("target")
    session = CassetteSession.open(  # a bad cassette is reported before anything is written
        tape, name=experiment.name, target=str(target) if target else None, scope="judge"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = ResponseCache(None if tape.enabled else cache_path_for(out_dir, cfg.cache))
    client = JudgeClient(cfg.limits, cache)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(prefix=".per_trace.", suffix=".tmp", dir=out_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            bundles = (
                _iter_per_trace_file(per_trace_path)
                if per_trace_path is not None
                else iter_traces(experiment, index)
            )
            with session.tape("all") if session else contextlib.nullcontext() as run_tape:
                acc = asyncio.run(_run_all(cfg, client, bundles, fh, no_llm))
        if run_tape is not None and run_tape.misses:
            raise CassetteMiss(run_tape.misses[0])
        os.replace(tmp, out_dir / PER_TRACE_FILE)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        if index is not None:
            index.close()
        if session is not None:
            session.close()
    elapsed = time.perf_counter() - started
    summary = _summary(
        experiment, cfg, acc, client, elapsed, fail_under, no_llm, out_dir / "per_input.jsonl"
    )
    summary["warnings"] = warnings[:50]
    files = _write_outputs(experiment, cfg, acc, summary, out_dir)
    return EvaluationResult(out_dir, summary, bool(summary["passed"]), files, warnings)


async def _run_all(
    cfg: EvaluationConfig,
    client: JudgeClient,
    bundles: Iterator[TraceBundle],
    fh: Any,
    no_llm: bool,
) -> Accumulator:
    acc = Accumulator(cfg)
    batch: list[TraceBundle] = []
    counter = [0]
    for bundle in bundles:
        batch.append(bundle)
        if len(batch) >= max(BATCH, cfg.limits.concurrency * 4):
            await _run_batch(cfg, client, batch, fh, acc, no_llm, counter)
            batch = []
    if batch:
        await _run_batch(cfg, client, batch, fh, acc, no_llm, counter)
    return acc


async def _run_batch(
    cfg: EvaluationConfig,
    client: JudgeClient,
    batch: list[TraceBundle],
    fh: Any,
    acc: Accumulator,
    no_llm: bool,
    counter: list[int],
) -> None:
    prepared = []
    for bundle in batch:
        steps = build_timeline(bundle.observations)
        record = bundle.run.record()
        prepared.append((bundle.run, steps, record))

    async def one(run: Run, steps: list[Step], record: dict[str, Any]) -> list[EvaluatorResult]:
        ctx = RuleContext(run=run, record=record, steps=steps)
        jobs = []
        for ev in cfg.evaluators:
            if ev.type == "rule_based":
                jobs.append(_done(_rule_result(cfg, ev, ctx)))
            elif ev.type == "custom":
                jobs.append(_custom_result(cfg, ev, run, record, steps))
            else:
                jobs.append(_judge_result(cfg, ev, client, run, record, steps, no_llm))
        return list(await asyncio.gather(*jobs))

    all_results = await asyncio.gather(*(one(*p) for p in prepared))
    for (run, steps, _), results in zip(prepared, all_results, strict=True):
        score, passed = _combine(cfg, results)
        stem = safe_file_stem(run.iteration, run.trace_id, f"failed-{counter[0]:04d}")
        counter[0] += 1
        fh.write(
            dump_line(
                {
                    "trace_id": run.trace_id,
                    "iteration": run.iteration,
                    "persona": run.persona,
                    "input": run.input,
                    "output": run.output,
                    "success": run.success,
                    "status": run.status,
                    "error": run.error,
                    "duration_ms": run.duration_ms,
                    "total_tokens": run.total_tokens(),
                    "observation_count": len(steps),
                    "score": _r(score, 6),
                    "passed": passed,
                    "evaluated": score is not None,
                    "file": f"{stem}.md",
                    "evaluators": [r.as_dict() for r in results],
                }
            )
        )
        acc.add(run, steps, results, score, passed, stem)


async def _done(value: EvaluatorResult) -> EvaluatorResult:
    return value


def _summary(
    experiment: Experiment,
    cfg: EvaluationConfig,
    acc: Accumulator,
    client: JudgeClient,
    elapsed: float,
    fail_under: float | None,
    no_llm: bool,
    per_input_path: Path,
) -> dict[str, Any]:
    overall = acc.overall.stats()
    # every input group goes to per_input.jsonl; summary.json keeps the worst ones
    at_k_sum = hat_k_sum = 0.0
    at_k_n = 0
    ks: set[int] = set()
    inputs = 0

    def groups() -> Iterator[dict[str, Any]]:
        nonlocal at_k_sum, hat_k_sum, at_k_n, inputs
        with open(per_input_path, "wb") as fh:
            for item in acc.iter_per_input():
                inputs += 1
                fh.write(dump_line(item))
                if item["pass_at_k"] is not None:
                    at_k_n += 1
                    at_k_sum += item["pass_at_k"]
                    hat_k_sum += item["pass_hat_k"]
                    ks.add(item["k"])
                yield item

    worst = heapq.nsmallest(
        MAX_INPUTS_IN_SUMMARY,
        groups(),
        key=lambda g: (g["pass_rate"] if g["pass_rate"] is not None else -1.0, g["input"]),
    )
    overall.update(
        {
            "pass_at_k": _r(at_k_sum / at_k_n) if at_k_n else None,
            "pass_hat_k": _r(hat_k_sum / at_k_n) if at_k_n else None,
            "k": next(iter(ks)) if len(ks) == 1 else sorted(ks),
            "inputs": inputs,
            "failed": acc.overall.evaluated - acc.overall.passed,
            "not_evaluated": acc.overall.n - acc.overall.evaluated,
        }
    )
    gates = _gates(cfg, acc, overall, fail_under)
    return {
        "version": 1,
        "experiment": experiment.name,
        "experiment_dir": str(experiment.path.resolve()),
        "experiment_format": experiment.format,
        "evaluated_at": datetime.now(UTC).isoformat(),
        "duration_seconds": round(elapsed, 3),
        "config": cfg.source,
        "evaluation_goal": cfg.goal,
        "aggregate": {
            "method": cfg.method,
            "threshold": cfg.threshold,
            "by_persona": cfg.by_persona,
            "k": cfg.k,
        },
        "passed": all(g["passed"] for g in gates),
        "gates": gates,
        "overall": overall,
        "evaluators": acc.per_evaluator(),
        "per_persona": {name: g.stats() for name, g in sorted(acc.personas.items())},
        "per_input": worst,
        "per_input_file": per_input_path.name,
        "llm": {
            "calls": client.calls,
            "cache_hits": client.cache.hits,
            "errors": client.errors,
            "budget_exhausted": client.budget_exhausted,
            "skipped": no_llm,
            "concurrency": cfg.limits.concurrency,
        },
        "warnings": [],  # the evaluation's, set by _evaluate
    }


def _write_outputs(
    experiment: Experiment,
    cfg: EvaluationConfig,
    acc: Accumulator,
    summary: dict[str, Any],
    out_dir: Path,
) -> dict[str, Path]:
    from .report import render_markdown_report, write_junit
    from .report_html import render_html_report

    files = {
        "summary": out_dir / SUMMARY_FILE,
        "per_trace": out_dir / PER_TRACE_FILE,
        "report_md": out_dir / "report.md",
        "report_html": out_dir / REPORT_HTML_FILE,
        "junit": out_dir / "junit.xml",
    }
    parsed = experiment.path / PARSE_DIR
    link_base = os.path.relpath(parsed, out_dir) if parsed.is_dir() else None
    _atomic(files["summary"], _json(summary))
    _atomic(files["report_md"], render_markdown_report(summary, acc, link_base))
    _atomic(files["report_html"], render_html_report(summary, acc))
    write_junit(summary, files["per_trace"], files["junit"])
    return files


def _json(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"


def _atomic(path: Path, text: str) -> None:
    atomic_write(path, masked_text(text), mode=0o644)
