"""The LLM judge: a langchain-core chat model grading a trace against a rubric.

Two modes:

* **rubric** (``criteria:``): the judge answers, per criterion, ``pass`` / ``fail`` /
  ``inconclusive`` with its reasoning written first; the score is the fraction of criteria
  passed (``inconclusive: fail`` counts an inconclusive criterion as failed, the default;
  ``ignore`` leaves it out). The judge sees the input, the output and a digest of the trace's
  steps, and is told to verify claims about internal behaviour against the steps.
* **score** (the original's ``prompt_template`` + ``parser`` + ``max_score``): the template is
  filled with ``{input}``, ``{output}``, ``{persona}``, ``{duration_ms}``, ``{metadata.X}``,
  ``{observations}``; the number parsed from the answer divided by ``max_score`` is the score.

The chat model is ``provider: openai|anthropic`` + ``model`` (the ``langchain-openai`` /
``langchain-anthropic`` packages, FluxLoop's ``openai`` / ``anthropic`` extras) or
``chat_model: module:attr`` (a chat model, or a factory returning one, called with
``factory_kwargs``). Calls go through :class:`fluxloop.llm.client.LLMClient` (the client of
generation and the simulated user): bounded by ``limits.concurrency``, each attempt within
``timeout_seconds``, retried with backoff honouring ``Retry-After``, at most ``max_llm_calls``,
a judge failing ``circuit_breaker`` times in a row not called again; an answer that cannot be
parsed is asked for again once, then recorded as inconclusive — a bad answer never stops the
evaluation. Parsed answers are cached (``limits.cache``, the client's JSONL response cache keyed
by model and prompt), so re-running ``evaluate`` costs nothing. This module keeps the prompts
and the parsing of verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.llm.cache import ResponseCache
from fluxloop.llm.client import (
    BoundModel,
    BudgetExhausted,
    LLMCallError,
    LLMClient,
    ModelDown,
)
from fluxloop.llm.factory import make_chat_model
from fluxloop.llm.models import PROVIDERS
from fluxloop.llm.settings import CallPolicy, LLMSettings, resolve_api_key
from fluxloop.llm.text import MalformedOutput, extract_json
from fluxloop.sdk import infer_provider as infer_model_provider

from ._jsonl import warn
from .experiment import Run
from .rules import resolve_path, text_of
from .timeline import Step

__all__ = [
    "BUILTIN_CRITERIA",
    "JudgeClient",
    "JudgeSpec",
    "JudgeVerdict",
    "build_messages",
    "extract_json",
    "parse_score",
    "parse_verdicts",
]

PROMPT_VERSION = "fluxloop-judge-1"

#: criteria of the original's pre-built judges and of its 0.3 metric names
BUILTIN_CRITERIA: dict[str, str] = {
    "intent_recognition": "The response correctly recognises what the user wants and addresses "
    "that intent.",
    "response_consistency": "The response is logically consistent: it contradicts neither "
    "itself, nor the user's input, nor the results of the steps in the trace.",
    "response_clarity": "The response is clear and concise, without needless verbosity or "
    "ambiguity.",
    "information_completeness": "The response gives all the information needed to fully answer "
    "the user's request.",
    "task_completion": "The agent completed the task the user asked for.",
    "hallucination": "The response contains no claims that are unsupported by the input or by "
    "the results of the steps in the trace.",
    "relevance": "The response is relevant to the user's input.",
    "tool_usage_appropriateness": "The agent chose appropriate tools with correct arguments, "
    "judged from the tool steps in the trace.",
    "user_satisfaction": "A user with this persona would be satisfied with the response.",
    "clarity": "The response is clear and easy to follow.",
    "persona_consistency": "The response suits the user's persona (expertise, language, tone).",
}
DEFAULT_CRITERION = "The response is relevant and helpful for the user's input."

SYSTEM_PROMPT = """You are a strict, fair evaluator of an AI agent's behaviour.
Judge each criterion independently, using only the evidence given: the user's input, the
agent's final output, and the trace of the steps the agent executed.
- Criteria about the agent's internal behaviour (tools, retrieval, steps) must be verified
  against the trace, never against what the output claims.
- Judge only the listed criteria; do not add your own.
- If the evidence is insufficient to decide a criterion, its verdict is "inconclusive".
- Write the reasoning before the verdict.
Answer with a single JSON object and nothing else:
{"criteria": [{"id": 1, "reasoning": "<one or two sentences>",
               "verdict": "pass" | "fail" | "inconclusive"}, ...]}"""


@dataclass
class JudgeSpec:
    """One ``llm_judge`` evaluator's settings (validated by the evaluation config loader)."""

    name: str
    criteria: list[str] = field(default_factory=list)
    rubric: str | None = None
    goal: str | None = None
    prompt_template: str | None = None
    parser: str = "first_number_1_10"
    max_score: float = 10.0
    inconclusive: str = "fail"  # or "ignore"
    include_trace: bool = True
    max_trace_chars: int = 8000
    provider: str | None = None
    model: str | None = None
    model_parameters: dict[str, Any] = field(default_factory=dict)
    chat_model: str | None = None
    factory_kwargs: dict[str, Any] = field(default_factory=dict)
    judge_failed_runs: bool = False

    @property
    def mode(self) -> str:
        return "score" if self.prompt_template and not self.criteria else "rubric"

    def identity(self) -> str:
        if self.chat_model:
            kwargs = json.dumps(self.factory_kwargs, sort_keys=True, default=str)
            return f"factory:{self.chat_model}:{kwargs}"
        params = json.dumps(self.model_parameters, sort_keys=True, default=str)
        return f"{self.provider}:{self.model}:{params}"


@dataclass
class JudgeVerdict:
    """The outcome of judging one trace."""

    score: float | None
    criteria: list[dict[str, Any]]
    reason: str
    status: str  # pass | fail | inconclusive | skipped | error
    cached: bool = False
    calls: int = 0
    raw: str | None = None


# ---------------------------------------------------------------------------------------------
# the chat model


#: the providers a judge can name (``chat_model:`` reaches any other)
_PROVIDERS = {name: PROVIDERS[name] for name in ("openai", "anthropic")}


def infer_provider(model: str | None) -> tuple[str | None, str | None]:
    """``openai:gpt-4o`` -> (openai, gpt-4o); a well-known bare name (``gpt-…``, ``claude-…``)
    implies its provider when a judge can use it (the SDK's table: one list of model names)."""
    if not model:
        return None, None
    head, colon, rest = model.partition(":")
    if colon and head in _PROVIDERS:
        return head, rest
    guessed = infer_model_provider(model)
    return (guessed if guessed in _PROVIDERS else None), model


def build_chat_model(spec: JudgeSpec, base_dirs: Sequence[Path], where_: str) -> Any:
    """The langchain-core chat model of a judge (the one factory of :mod:`fluxloop.llm`);
    problems are one-line ConfigErrors."""
    if spec.chat_model:
        settings = LLMSettings(
            provider=spec.chat_model,
            timeout=None,
            init_kwargs=dict(spec.factory_kwargs),
            search_paths=tuple(base_dirs),
        )
        return make_chat_model(settings, where=where_, role="judge", field="chat_model")
    provider = spec.provider or ""
    settings = LLMSettings(
        provider=provider,
        model=spec.model,
        # the provider's own variable, else FLUXLOOP_LLM_API_KEY (--llm-api-key); the
        # project's .env is in the environment already (evaluate loads it)
        api_key=resolve_api_key(provider, explicit=None, configured=None, dotenv={})[0],
        temperature=0,
        timeout=None,
        init_kwargs=dict(spec.model_parameters),
    )
    return make_chat_model(
        settings,
        where=where_,
        role="judge",
        offline_hint="pass --llm-api-key, or --no-llm",
        providers=_PROVIDERS,
    )


# ---------------------------------------------------------------------------------------------
# prompts


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def trace_digest(steps: Sequence[Step], limit: int) -> str:
    """The trace as numbered, indented lines: type, name, duration, input, output, error."""
    lines: list[str] = []
    used = 0
    for step in steps:
        dur = f" {step.duration_ms:.1f} ms" if step.duration_ms is not None else ""
        head = f"{'  ' * min(step.depth, 8)}{step.index}. [{step.type}] {step.name}{dur}"
        parts = [head]
        rec = step.record
        if rec.get("input") is not None:
            parts.append(f"input={_clip(text_of(rec.get('input')), 400)}")
        if rec.get("output") is not None:
            parts.append(f"output={_clip(text_of(rec.get('output')), 400)}")
        if step.error:
            parts.append(f"ERROR={_clip(step.error, 300)}")
        line = " | ".join(parts)
        if used + len(line) > limit:
            lines.append(f"… {len(steps) - len(lines)} more step(s) omitted")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines) if lines else "(no steps recorded)"


_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def fill_template(template: str, run: Run, steps: Sequence[Step], record: Mapping[str, Any]) -> str:
    """The original's placeholders; unknown ones are left as written (no KeyError on braces)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "observations":
            return trace_digest(steps, 8000)
        if name == "persona":
            return run.persona or "N/A"
        if name == "duration_ms":
            return f"{run.duration_ms:.1f}" if run.duration_ms is not None else "N/A"
        found = resolve_path(record, name)
        if found is None or (not isinstance(found, (str, int, float, bool, list, dict))):
            return match.group(0) if found is not None else ""
        return text_of(found)

    return _PLACEHOLDER.sub(value, template)


def build_messages(
    spec: JudgeSpec, run: Run, steps: Sequence[Step], record: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """``[(role, content)]`` for the judge."""
    if spec.mode == "score":
        assert spec.prompt_template is not None
        return [("human", fill_template(spec.prompt_template, run, steps, record))]
    criteria = spec.criteria or [BUILTIN_CRITERIA.get(spec.name, DEFAULT_CRITERION)]
    parts: list[str] = []
    if spec.goal:
        parts.append(f"## Evaluation goal\n{spec.goal}")
    if run.persona:
        parts.append(f"## User persona\n{run.persona}")
    parts.append(f"## User input\n{text_of(run.input)}")
    parts.append(f"## Agent output\n{text_of(run.output) or '(empty)'}")
    if run.error:
        parts.append(f"## Run error\n{run.error.get('type')}: {run.error.get('message')}")
    if spec.include_trace:
        parts.append(f"## Trace ({len(steps)} steps)\n{trace_digest(steps, spec.max_trace_chars)}")
    if spec.rubric:
        parts.append(f"## Guidance\n{spec.rubric.strip()}")
    numbered = "\n".join(f"{i}. {c}" for i, c in enumerate(criteria, 1))
    parts.append(f"## Criteria\n{numbered}")
    return [("system", SYSTEM_PROMPT), ("human", "\n\n".join(parts))]


# ---------------------------------------------------------------------------------------------
# parsing the judge's answer


_PASS = {"pass", "passed", "yes", "true", "met", "satisfied", "success", "ok", "correct"}
_FAIL = {"fail", "failed", "no", "false", "not met", "unmet", "not satisfied", "incorrect"}


def _verdict_word(value: Any) -> str:
    if isinstance(value, bool):
        return "pass" if value else "fail"
    text = str(value or "").strip().lower().replace("_", " ")
    if text in _PASS:
        return "pass"
    if text in _FAIL:
        return "fail"
    return "inconclusive"


def parse_verdicts(text: str, criteria: Sequence[str]) -> list[dict[str, Any]] | None:
    """Per-criterion ``{criterion, verdict, reasoning}`` from the judge's answer, matched by
    ``id`` (1-based), else by position; None when the answer holds no usable verdicts."""
    data = extract_json(text)
    items: Any = None
    if isinstance(data, Mapping):
        for key in ("criteria", "verdicts", "results", "evaluations", "scores"):
            if isinstance(data.get(key), list):
                items = data[key]
                break
        if items is None and ("verdict" in data or "passed" in data):
            items = [data]
    elif isinstance(data, list):
        items = data
    if not isinstance(items, list) or not items:
        return _verdicts_from_lines(text, criteria)
    results: list[dict[str, Any] | None] = [None] * len(criteria)
    for position, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        slot = position
        ident = item.get("id", item.get("index"))
        if (
            isinstance(ident, (int, str))
            and str(ident).isdigit()
            and 1 <= int(ident) <= len(criteria)
        ):
            slot = int(ident) - 1
        if slot >= len(criteria) or results[slot] is not None:
            continue
        verdict = item.get("verdict", item.get("status", item.get("passed", item.get("result"))))
        results[slot] = {
            "criterion": criteria[slot],
            "verdict": _verdict_word(verdict),
            "reasoning": str(
                item.get("reasoning") or item.get("reason") or item.get("explanation") or ""
            ),
        }
    if all(r is None for r in results):
        return None
    return [
        r
        if r is not None
        else {"criterion": c, "verdict": "inconclusive", "reasoning": "the judge gave no verdict"}
        for r, c in zip(results, criteria, strict=True)
    ]


def _verdicts_from_lines(text: str, criteria: Sequence[str]) -> list[dict[str, Any]] | None:
    """Fallback for plain-text answers such as ``1. PASS - because …``."""
    found: dict[int, dict[str, Any]] = {}
    for match in re.finditer(
        r"^\s*(\d+)[.):\-\s]+\W*(pass(?:ed)?|fail(?:ed)?|inconclusive)\W*(.*)$", text, re.I | re.M
    ):
        slot = int(match.group(1)) - 1
        if 0 <= slot < len(criteria) and slot not in found:
            found[slot] = {
                "criterion": criteria[slot],
                "verdict": _verdict_word(match.group(2)),
                "reasoning": match.group(3).strip(" -:"),
            }
    if not found:
        return None
    return [
        found.get(i, {"criterion": c, "verdict": "inconclusive", "reasoning": "no verdict given"})
        for i, c in enumerate(criteria)
    ]


def parse_score(text: str, parser: str) -> float | None:
    """The original's parsers: ``first_number_1_10``, ``json_score``, ``first_float``."""
    if parser == "json_score":
        data = extract_json(text)
        if isinstance(data, Mapping):
            value = data.get("score")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    return None
        return None
    if parser == "first_number_1_10":
        first = re.search(r"(?<![\d.])(10|[1-9])(?:\.\d+)?(?![\d])", text)
        return float(first.group(0)) if first else None
    number = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(number.group(0)) if number else None


# ---------------------------------------------------------------------------------------------
# cache and client


@dataclass
class JudgeLimits:
    concurrency: int = 4
    timeout_seconds: float = 60.0
    retries: int = 2
    retry_delay: float = 1.0
    parse_retries: int = 1
    max_llm_calls: int | None = None
    #: after this many judge calls in a row failed (errors or timeouts, after retries), a judge
    #: is considered down and its remaining traces are inconclusive without a call (0: never)
    circuit_breaker: int = 5

    def policy(self) -> CallPolicy:
        """These limits as the LLM client's call policy (waits capped at 30 s)."""
        return CallPolicy(
            concurrency=max(1, self.concurrency),
            timeout=self.timeout_seconds,
            max_retries=self.retries,
            retry_delay=self.retry_delay,
            max_retry_delay=30.0,
            parse_retries=self.parse_retries,
            max_calls=self.max_llm_calls,
            circuit_breaker=self.circuit_breaker,
        )


class JudgeClient:
    """Judges traces through one :class:`~fluxloop.llm.client.LLMClient` (bounded, retried,
    budgeted, cached; a judge that keeps failing is not called again)."""

    def __init__(self, limits: JudgeLimits, cache: ResponseCache) -> None:
        self.limits = limits
        self.cache = cache
        self.errors = 0
        self.llm = LLMClient(limits.policy(), cache=cache)

    @property
    def calls(self) -> int:
        """Requests sent to judge models (failed attempts included)."""
        return self.llm.meter.attempts

    @property
    def budget_exhausted(self) -> bool:
        return self.llm.budget_exhausted

    async def judge(
        self,
        spec: JudgeSpec,
        model: Any,
        run: Run,
        steps: Sequence[Step],
        record: Mapping[str, Any],
    ) -> JudgeVerdict:
        if not run.success and not spec.judge_failed_runs:
            return JudgeVerdict(
                score=0.0,
                criteria=[],
                reason="not judged: the run failed",
                status="fail",
            )
        bound = (
            model
            if isinstance(model, BoundModel)
            else BoundModel(model, spec.name, spec.identity())
        )

        def parse(text: str) -> JudgeVerdict:
            verdict = self._interpret(spec, text)
            if verdict is None:
                raise MalformedOutput("the verdicts could not be parsed", content=text)
            return verdict

        calls_before = self.calls
        try:
            completion = await self.llm.complete(
                build_messages(spec, run, steps, record),
                parse,
                model=bound,
                purpose=PROMPT_VERSION,
                repair=_REASK if spec.mode == "rubric" else _REASK_SCORE,
            )
        except ModelDown as down:
            return self._inconclusive(
                spec, f"not judged: the judge is down ({down})", self.calls - calls_before
            )
        except BudgetExhausted:
            return JudgeVerdict(
                score=None,
                criteria=[],
                reason="not judged: limits.max_llm_calls reached",
                status="skipped",
                calls=self.calls - calls_before,
            )
        except LLMCallError as exc:
            self.errors += 1
            if exc.tripped:
                warn(f"judge {spec.name!r}: {exc.tripped}; not calling it again")
            return self._inconclusive(
                spec,
                f"judge error after {exc.attempts} attempt(s): {_clip(exc.reason, 200)}",
                self.calls - calls_before,
            )
        except MalformedOutput as exc:
            self.errors += 1
            text = exc.content
            return self._inconclusive(
                spec,
                f"unparseable judge answer: {_clip(' '.join(text.split()), 200)!r}",
                self.calls - calls_before,
                raw=text,
            )
        verdict = completion.value
        verdict.cached = completion.cached
        verdict.calls = self.calls - calls_before
        return verdict

    def _inconclusive(
        self, spec: JudgeSpec, reason: str, calls: int, raw: str | None = None
    ) -> JudgeVerdict:
        criteria = spec.criteria or [BUILTIN_CRITERIA.get(spec.name, DEFAULT_CRITERION)]
        items = (
            [{"criterion": c, "verdict": "inconclusive", "reasoning": reason} for c in criteria]
            if spec.mode == "rubric"
            else []
        )
        score = 0.0 if spec.inconclusive == "fail" else None
        return JudgeVerdict(
            score=score, criteria=items, reason=reason, status="inconclusive", calls=calls, raw=raw
        )

    @staticmethod
    def _interpret(spec: JudgeSpec, text: str) -> JudgeVerdict | None:
        if spec.mode == "score":
            value = parse_score(text, spec.parser)
            if value is None:
                return None
            score = max(0.0, min(1.0, value / spec.max_score)) if spec.max_score else 0.0
            return JudgeVerdict(
                score=score,
                criteria=[],
                reason=f"scored {value:g}/{spec.max_score:g}: {_clip(' '.join(text.split()), 160)}",
                status="scored",
                raw=text,
            )
        criteria = spec.criteria or [BUILTIN_CRITERIA.get(spec.name, DEFAULT_CRITERION)]
        items = parse_verdicts(text, criteria)
        if items is None:
            return None
        passed = sum(1 for i in items if i["verdict"] == "pass")
        failed = sum(1 for i in items if i["verdict"] == "fail")
        unsure = len(items) - passed - failed
        counted = len(items) if spec.inconclusive == "fail" else passed + failed
        ratio: float | None = passed / counted if counted else None
        reason = f"{passed}/{len(items)} criteria passed"
        if unsure:
            reason += f", {unsure} inconclusive"
        failing = [i for i in items if i["verdict"] != "pass"]
        if failing:
            reason += f"; {failing[0]['verdict']}: {_clip(failing[0]['reasoning'], 160)}"
        status = "inconclusive" if ratio is None else "judged"
        return JudgeVerdict(score=ratio, criteria=items, reason=reason, status=status, raw=text)


_REASK = (
    "Reply with the JSON object only: "
    '{"criteria": [{"id": 1, "reasoning": "...", "verdict": "pass" | "fail" | "inconclusive"}]}'
)
_REASK_SCORE = "Reply with the score only."


def cache_path_for(output_dir: Path, setting: Any) -> Path | None:
    """``limits.cache``: a file name (relative to the output directory), or null to disable."""
    if setting is None or setting is False:
        return None
    text = str(setting) if setting is not True else "evaluation_cache.jsonl"
    path = Path(text)
    return path if path.is_absolute() else output_dir / path
