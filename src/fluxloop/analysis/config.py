"""The evaluation configuration: the original FluxLoop's ``evaluation.yaml`` and its extensions.

Accepted from the original (docs-cli/configuration/evaluation-config.md): ``evaluation_goal``,
``evaluators`` (``rule_based`` with ``rules: [{check: …}]``, ``llm_judge`` with
``prompt_template``/``parser``/``max_score``/``model``), ``weight``, ``enabled``,
``aggregate{method, threshold, by_persona}``, ``limits{sample_rate, max_llm_calls,
timeout_seconds, cache}``, ``success_criteria{performance, quality}``; the 0.3 ``metrics:``
schema becomes one rubric judge. Sections the original documents as reporting or "Phase 2"
(``report``, ``additional_analysis``, ``advanced``, ``efficiency``) are accepted and ignored.

Extensions: more rule checks (see :mod:`.rules`), ``llm_judge`` rubrics (``criteria``,
``provider``, ``chat_model``), ``custom`` evaluators (``function: module:function``),
per-evaluator ``threshold`` / ``required``, ``aggregate.k`` (pass@k, pass^k), ``limits``
``concurrency`` / ``retries``, and ``thresholds`` (the gate: ``pass_rate``, ``mean_score``,
``success_rate``, ``pass_at_k``, ``pass_hat_k``, ``evaluators: {name: min pass rate}``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import ConfigError
from fluxloop.llm.models import import_attr
from fluxloop.project.config import discover_evaluation_config
from fluxloop.project.problems import ConfigProblems, Problem, schema_report
from fluxloop.project.schema import EVALUATION_KEYS, EVALUATOR_TYPE_ALIASES
from fluxloop.project.yaml import YamlDoc, load_yaml_file, suggest

from ._jsonl import warn, where
from .judge import BUILTIN_CRITERIA, JudgeLimits, JudgeSpec, infer_provider
from .rules import CompiledRule, compile_rule

__all__ = ["EvaluationConfig", "EvaluatorDef", "find_config", "load_evaluation_config"]


@dataclass
class EvaluatorDef:
    name: str
    type: str
    key: str  # where it is in the file, e.g. evaluators[2]
    weight: float = 1.0
    threshold: float | None = None
    required: bool = False
    rules: list[CompiledRule] = field(default_factory=list)
    judge: JudgeSpec | None = None
    function: Callable[..., Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: Any = None  # the judge's chat model, built by the evaluation


@dataclass
class EvaluationConfig:
    source: str
    path: Path | None
    base_dir: Path
    goal: str | None = None
    evaluators: list[EvaluatorDef] = field(default_factory=list)
    method: str = "weighted_sum"
    threshold: float = 0.7
    by_persona: bool = True
    k: int | None = None
    limits: JudgeLimits = field(default_factory=JudgeLimits)
    sample_rate: float = 1.0
    cache: Any = "evaluation_cache.jsonl"
    thresholds: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    quality: list[str] = field(default_factory=list)
    doc: YamlDoc | None = None

    def where(self, key: str) -> str:
        return self.doc.where(key) if self.doc is not None else self.source


DEFAULT_EVALUATORS: list[dict[str, Any]] = [
    {
        "name": "basic_checks",
        "type": "rule_based",
        "weight": 1.0,
        "rules": [{"check": "output_not_empty"}, {"check": "success"}],
    }
]


def find_config(experiment_dir: Path, explicit: Path | None) -> tuple[Path | None, str]:
    """The evaluation config to use and how it was found (the project's discovery rules)."""
    return discover_evaluation_config(experiment_dir, explicit)


def _section(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _validate(doc: YamlDoc, data: Mapping[str, Any]) -> None:
    """The evaluation keys against the one schema: every problem at once; unknown keys warn."""
    report = schema_report(dict(data), doc.lines, default_file=where(doc.path))
    problems = [p for p in report.problems if p.section in EVALUATION_KEYS]
    if problems:
        raise ConfigProblems(problems)
    for warning in report.warnings:
        if warning.section in EVALUATION_KEYS:
            warn(f"{warning} (ignored)")


def load_evaluation_config(
    path: Path | None, source: str = "", *, explicit: bool = False
) -> EvaluationConfig:
    """Load and validate; every problem is a one-line ConfigError with file:line.

    ``explicit``: the file was named with ``--config``, so it must define evaluators (an empty
    or unrelated file is an error, not a silent fall-back to the built-in defaults)."""
    if path is None:
        doc = YamlDoc(Path("<defaults>"), {"evaluators": DEFAULT_EVALUATORS}, {})
        base = Path.cwd()
    else:
        doc = load_yaml_file(path)
        base = path.resolve().parent
        if base.name == "configs":
            base = base.parent
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, Mapping):
        raise doc.error("(root)", f"expected a mapping, found {type(data).__name__}")
    _validate(doc, data)
    cfg = EvaluationConfig(source=source or str(path), path=path, base_dir=base, doc=doc)
    goal = data.get("evaluation_goal")
    if isinstance(goal, Mapping):
        goal = goal.get("text")
    cfg.goal = str(goal).strip() if goal else None

    aggregate = _section(data.get("aggregate"))
    cfg.method = str(aggregate.get("method") or "weighted_sum")
    if aggregate.get("threshold") is not None:
        cfg.threshold = float(aggregate["threshold"])
    cfg.by_persona = aggregate.get("by_persona") is not False
    if aggregate.get("k") is not None:
        cfg.k = int(aggregate["k"])

    limits = _section(data.get("limits"))
    advanced = _section(data.get("advanced"))
    lim = JudgeLimits()
    if limits.get("sample_rate") is not None:
        cfg.sample_rate = float(limits["sample_rate"])
    if limits.get("max_llm_calls") is not None:
        lim.max_llm_calls = int(limits["max_llm_calls"])
    if limits.get("timeout_seconds") is not None:
        lim.timeout_seconds = float(limits["timeout_seconds"])
    concurrency = limits.get("concurrency", limits.get("llm_concurrency"))
    if concurrency is None:
        # the original's advanced.llm_concurrency (1..16); the schema leaves advanced open
        concurrency = advanced.get("llm_concurrency")
        if concurrency is not None and (
            isinstance(concurrency, bool)
            or not isinstance(concurrency, int)
            or not 1 <= concurrency <= 256
        ):
            raise doc.error(
                "advanced.llm_concurrency",
                f"expected an integer >= 1 and <= 256, found {concurrency!r}",
            )
    if concurrency is not None:
        lim.concurrency = int(concurrency)
    retries = limits.get("retries", limits.get("llm_retries"))
    if retries is not None:
        lim.retries = int(retries)
    if limits.get("circuit_breaker") is not None:
        lim.circuit_breaker = int(limits["circuit_breaker"])
    if limits.get("retry_delay") is not None:
        lim.retry_delay = float(limits["retry_delay"])
    cfg.limits = lim
    if "cache" in limits:
        cfg.cache = limits["cache"]

    raw_evaluators = data.get("evaluators")
    if raw_evaluators is None and isinstance(data.get("metrics"), Mapping):
        raw_evaluators = _from_metrics(data)
    if raw_evaluators is None:
        if explicit:
            raise doc.error(
                "evaluators",
                "no evaluators defined (expected an 'evaluators:' list or 'metrics:'; the "
                "built-in defaults apply only without --config)",
            )
        raw_evaluators = DEFAULT_EVALUATORS
    names: set[str] = set()
    problems: list[Problem] = []
    for i, spec in enumerate(raw_evaluators):
        try:
            ev = _evaluator(doc, f"evaluators[{i}]", spec, cfg, i)
        except ConfigError as exc:  # the others are still checked: every problem at once
            problems.append(Problem("", str(exc)))
            continue
        if ev is None:
            continue
        if ev.name in names:
            problems.append(
                _problem(doc, f"evaluators[{i}].name", f"duplicate evaluator name {ev.name!r}")
            )
        names.add(ev.name)
        cfg.evaluators.append(ev)
    if problems:
        raise ConfigProblems(problems)
    if not cfg.evaluators:
        raise doc.error("evaluators", "no enabled evaluator")
    if sum(e.weight for e in cfg.evaluators) <= 0:
        raise doc.error("evaluators", "the weights of the enabled evaluators sum to 0")

    thresholds = _section(data.get("thresholds"))
    for name in ("pass_rate", "mean_score", "success_rate", "pass_at_k", "pass_hat_k"):
        if thresholds.get(name) is not None:
            cfg.thresholds[name] = float(thresholds[name])
    per_eval = _section(thresholds.get("evaluators"))
    if per_eval:
        cfg.thresholds["evaluators"] = {}
        for name, value in per_eval.items():
            if name not in names:
                problems.append(
                    _problem(
                        doc,
                        f"thresholds.evaluators.{name}",
                        f"no evaluator named {name!r}{suggest(str(name), names)}",
                    )
                )
            cfg.thresholds["evaluators"][name] = float(value)

    criteria = _section(data.get("success_criteria"))
    perf = _section(criteria.get("performance"))
    if perf.get("all_traces_successful"):
        cfg.performance["all_traces_successful"] = True
    for name, unit in (
        ("avg_response_time", "threshold_ms"),
        ("max_response_time", "threshold_ms"),
        ("error_rate", "threshold_percent"),
    ):
        item = _section(perf.get(name))
        if item and item.get("enabled", True) and item.get(unit) is not None:
            cfg.performance[name] = float(item[unit])
    for name, wanted in _section(criteria.get("quality")).items():
        if not wanted:
            continue
        if name not in names:
            problems.append(
                _problem(
                    doc,
                    f"success_criteria.quality.{name}",
                    f"no enabled evaluator named {name!r}{suggest(str(name), names)}",
                )
            )
        cfg.quality.append(str(name))
    if problems:
        raise ConfigProblems(problems)
    return cfg


def _problem(doc: YamlDoc, key: str, message: str) -> Problem:
    return Problem("", str(doc.error(key, message)))


def _from_metrics(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The 0.3 metric schema as one rubric judge (its criteria = the enabled metrics)."""
    metrics = data["metrics"]
    criteria = [
        BUILTIN_CRITERIA.get(str(name), str(name))
        for name, item in metrics.items()
        if not isinstance(item, Mapping) or item.get("enabled", True)
    ]
    advanced = data.get("advanced") if isinstance(data.get("advanced"), Mapping) else {}
    judge = advanced.get("llm_judge") if isinstance(advanced, Mapping) else None
    spec: dict[str, Any] = {"name": "metrics", "type": "llm_judge", "criteria": criteria}
    if isinstance(judge, Mapping):
        if judge.get("model"):
            spec["model"] = judge["model"]
        for key in ("provider", "chat_model", "factory_kwargs"):
            if judge.get(key):
                spec[key] = judge[key]
        if judge.get("temperature") is not None:
            spec["model_parameters"] = {"temperature": judge["temperature"]}
    if "model" not in spec and "chat_model" not in spec:
        spec["model"] = "gpt-5.1"
    return [spec]


def _evaluator(
    doc: YamlDoc, key: str, spec: Mapping[str, Any], cfg: EvaluationConfig, index: int
) -> EvaluatorDef | None:
    """Build one evaluator (its keys and types were checked by the schema)."""
    if spec.get("enabled", True) is False:
        return None
    kind = EVALUATOR_TYPE_ALIASES.get(str(spec["type"]), str(spec["type"]))
    name = str(spec.get("name") or f"{kind}_{index + 1}")
    ev = EvaluatorDef(name=name, type=kind, key=key)
    if spec.get("weight") is not None:
        ev.weight = float(spec["weight"])
    if spec.get("threshold") is not None:
        ev.threshold = float(spec["threshold"])
    ev.required = bool(spec.get("required", False))
    if kind == "rule_based":
        ev.rules = [
            compile_rule(doc, f"{key}.rules[{i}]", r, cfg.base_dir)
            for i, r in enumerate(spec["rules"])
        ]
    elif kind == "llm_judge":
        ev.judge = _judge_spec(doc, key, spec, name, cfg)
    else:
        _custom(doc, key, spec, ev, cfg)
    return ev


def _custom(
    doc: YamlDoc, key: str, spec: Mapping[str, Any], ev: EvaluatorDef, cfg: EvaluationConfig
) -> None:
    target = spec.get("function") or spec.get("callable") or spec.get("target")
    if not isinstance(target, str) or ":" not in target:
        raise doc.error(f"{key}.function", f"expected module:function, found {target!r}")
    try:
        fn = import_attr(target, [cfg.base_dir, Path.cwd()])
    except (ImportError, AttributeError, ValueError) as exc:
        raise doc.error(f"{key}.function", f"cannot import {target!r}: {exc}") from None
    except Exception as exc:
        raise doc.error(
            f"{key}.function", f"importing {target!r} raised {type(exc).__name__}: {exc}"
        ) from None
    if not callable(fn):
        raise doc.error(f"{key}.function", f"{target!r} is not callable")
    ev.function = fn
    ev.params = dict(spec.get("params") or {})
    try:
        inspect.signature(fn).bind({}, **ev.params)
    except TypeError as exc:
        raise doc.error(f"{key}.params", f"do not fit {target}: {exc}") from None
    except ValueError:
        pass  # builtins without a signature


def _judge_spec(
    doc: YamlDoc, key: str, spec: Mapping[str, Any], name: str, cfg: EvaluationConfig
) -> JudgeSpec:
    judge = JudgeSpec(name=name, goal=cfg.goal)
    for i, item in enumerate(spec.get("criteria") or ()):
        if isinstance(item, str) and item.strip():
            judge.criteria.append(item.strip())
            continue
        text = (
            item.get("description") or item.get("criterion") or item.get("name")
            if isinstance(item, Mapping)
            else None
        )
        if not isinstance(item, Mapping) or not text:
            raise doc.error(f"{key}.criteria[{i}]", "expected a text or {name, description}")
        label = item.get("name")
        judge.criteria.append(f"{label}: {text}" if label and label != text else str(text))
    template = spec.get("prompt_template")
    # the docs' pre-built judges show a comment-only placeholder template
    if template and not all(line.strip().startswith("#") for line in template.strip().splitlines()):
        judge.prompt_template = template
    if spec.get("rubric") is not None:
        judge.rubric = str(spec["rubric"])
    judge.parser = str(spec.get("parser") or "first_number_1_10")
    if spec.get("max_score") is not None:
        judge.max_score = float(spec["max_score"])
    judge.inconclusive = str(spec.get("inconclusive") or "fail")
    judge.include_trace = spec.get("include_trace") is not False
    judge.judge_failed_runs = bool(spec.get("judge_failed_runs", False))
    if spec.get("max_trace_chars") is not None:
        judge.max_trace_chars = int(spec["max_trace_chars"])
    params = spec.get("model_parameters") or {}
    # the original's OpenAI Responses-API knobs are not constructor arguments
    judge.model_parameters = {k: v for k, v in params.items() if k not in ("reasoning", "text")}
    judge.factory_kwargs = dict(spec.get("factory_kwargs") or {})
    if spec.get("chat_model"):
        judge.chat_model = str(spec["chat_model"])
    else:
        provider = spec.get("provider")
        inferred, model = infer_provider(str(spec["model"]) if spec.get("model") else None)
        provider = provider or inferred
        if provider not in ("openai", "anthropic"):
            raise doc.error(
                f"{key}.provider" if spec.get("provider") else key,
                f"the judge needs provider: openai|anthropic (with model) or chat_model: "
                f"module:attr; found provider {provider!r}"
                + (suggest(str(provider), ["openai", "anthropic"]) if provider else ""),
            )
        if not model:
            raise doc.error(f"{key}.model", f"provider {provider} needs a model name")
        judge.provider = str(provider)
        judge.model = model
    if judge.prompt_template is None and not judge.criteria and name not in BUILTIN_CRITERIA:
        warn(
            f"{doc.where(key)}: {key}: llm_judge {name!r} has no criteria or prompt_template; "
            "using the default criterion (relevant and helpful)"
        )
    return judge
