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
from fluxloop.project.layout import CONFIG_FILE
from fluxloop.project.yaml import YamlDoc, load_yaml_file, suggest

from ._jsonl import warn, where
from .judge import BUILTIN_CRITERIA, JudgeLimits, JudgeSpec, infer_provider
from .rules import CompiledRule, compile_rule

__all__ = ["EvaluationConfig", "EvaluatorDef", "find_config", "load_evaluation_config"]

TYPES = ("rule_based", "llm_judge", "custom")
TYPE_ALIASES = {
    "rule": "rule_based",
    "rules": "rule_based",
    "llm": "llm_judge",
    "judge": "llm_judge",
    "function": "custom",
    "python": "custom",
}
PARSERS = ("first_number_1_10", "json_score", "first_float")
_COMMON_KEYS = {
    "name",
    "type",
    "enabled",
    "weight",
    "threshold",
    "required",
    "description",
    "metadata",
}
_KEYS = {
    "rule_based": _COMMON_KEYS | {"rules"},
    "llm_judge": _COMMON_KEYS
    | {
        "model",
        "provider",
        "model_parameters",
        "chat_model",
        "factory_kwargs",
        "prompt_template",
        "max_score",
        "parser",
        "criteria",
        "rubric",
        "inconclusive",
        "include_trace",
        "max_trace_chars",
        "judge_failed_runs",
    },
    "custom": _COMMON_KEYS | {"function", "callable", "target", "params"},
}
_SECTION_KEYS = {
    "aggregate": {"method", "threshold", "by_persona", "k"},
    "limits": {
        "sample_rate",
        "max_llm_calls",
        "timeout_seconds",
        "cache",
        "concurrency",
        "llm_concurrency",
        "retries",
        "llm_retries",
        "retry_delay",
        "circuit_breaker",
    },
    "thresholds": {
        "pass_rate",
        "mean_score",
        "success_rate",
        "pass_at_k",
        "pass_hat_k",
        "evaluators",
    },
}


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


def _has_evaluation(data: Any) -> bool:
    return isinstance(data, Mapping) and ("evaluators" in data or "metrics" in data)


def find_config(experiment_dir: Path, explicit: Path | None) -> tuple[Path | None, str]:
    """The evaluation config to use and how it was found.

    ``--config`` (a file, or a directory holding ``configs/evaluation.yaml``,
    ``evaluation.yaml`` or ``setting.yaml``) > the current directory > the experiment's project
    (``<project>/experiments/<run>``) > the run's ``config.yaml`` snapshot > built-in defaults.
    """
    names = ("configs/evaluation.yaml", "evaluation.yaml", "setting.yaml", "fluxloop.yaml")
    if explicit is not None:
        if explicit.is_dir():
            for name in names:
                if (explicit / name).is_file():
                    return explicit / name, "--config"
            raise ConfigError(
                f"{where(explicit)}: no configs/evaluation.yaml, evaluation.yaml or setting.yaml "
                "in this directory"
            )
        if not explicit.exists():
            raise ConfigError(f"{where(explicit)}: evaluation config not found")
        return explicit, "--config"
    exp = experiment_dir.resolve()
    for directory, how in (
        (Path.cwd(), "current directory"),
        (exp.parent.parent, "project"),
        (exp.parent, "project"),
    ):
        for name in names:
            candidate = directory / name
            if candidate.is_file() and _quick_has_evaluation(candidate):
                return candidate, how
    snapshot = exp / CONFIG_FILE
    if snapshot.is_file() and _quick_has_evaluation(snapshot):
        return snapshot, "experiment snapshot"
    return None, "built-in defaults (output_not_empty, success)"


def _quick_has_evaluation(path: Path) -> bool:
    try:
        return _has_evaluation(load_yaml_file(path).data)
    except ConfigError:
        return True  # let the real load report the problem


def _num(
    doc: YamlDoc,
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not float(value).is_integer())
    ):
        expected = "an integer" if integer else "a number"
        raise doc.error(key, f"expected {expected}, found {value!r}")
    if low is not None and value < low:
        raise doc.error(key, f"expected a value >= {low:g}, found {value!r}")
    if high is not None and value > high:
        raise doc.error(key, f"expected a value <= {high:g}, found {value!r}")
    return float(value)


def _check_keys(doc: YamlDoc, key: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    for name in data:
        if name in allowed:
            continue
        hint = suggest(str(name), allowed)
        if hint:
            raise doc.error(f"{key}.{name}", f"unknown key{hint}")
        warn(f"{doc.where(f'{key}.{name}')}: {key}.{name}: unknown key (ignored)")


def _mapping(doc: YamlDoc, key: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(key, f"expected a mapping, found {type(value).__name__}")
    return value


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
    cfg = EvaluationConfig(source=source or str(path), path=path, base_dir=base, doc=doc)
    goal = data.get("evaluation_goal")
    if isinstance(goal, Mapping):
        goal = goal.get("text")
    cfg.goal = str(goal).strip() if goal else None

    aggregate = _mapping(doc, "aggregate", data.get("aggregate"))
    _check_keys(doc, "aggregate", aggregate, _SECTION_KEYS["aggregate"])
    method = aggregate.get("method", "weighted_sum")
    if method not in ("weighted_sum", "average"):
        raise doc.error(
            "aggregate.method",
            f"expected weighted_sum or average, found {method!r}"
            + suggest(str(method), ["weighted_sum", "average"]),
        )
    cfg.method = str(method)
    if "threshold" in aggregate:
        cfg.threshold = _num(doc, "aggregate.threshold", aggregate["threshold"], 0, 1)
    cfg.by_persona = bool(aggregate.get("by_persona", True))
    if aggregate.get("k") is not None:
        cfg.k = int(_num(doc, "aggregate.k", aggregate["k"], 1, integer=True))

    limits = _mapping(doc, "limits", data.get("limits"))
    _check_keys(doc, "limits", limits, _SECTION_KEYS["limits"])
    advanced = data.get("advanced") if isinstance(data.get("advanced"), Mapping) else {}
    assert isinstance(advanced, Mapping)
    lim = JudgeLimits()
    if "sample_rate" in limits:
        cfg.sample_rate = _num(doc, "limits.sample_rate", limits["sample_rate"], 0, 1)
    if limits.get("max_llm_calls") is not None:
        lim.max_llm_calls = int(
            _num(doc, "limits.max_llm_calls", limits["max_llm_calls"], 0, integer=True)
        )
    if "timeout_seconds" in limits:
        lim.timeout_seconds = _num(doc, "limits.timeout_seconds", limits["timeout_seconds"], 0.001)
    for name in ("concurrency", "llm_concurrency"):
        if name in limits:
            lim.concurrency = int(_num(doc, f"limits.{name}", limits[name], 1, 256, integer=True))
    if "llm_concurrency" in advanced and "concurrency" not in limits:
        lim.concurrency = int(
            _num(doc, "advanced.llm_concurrency", advanced["llm_concurrency"], 1, 256, integer=True)
        )
    for name in ("retries", "llm_retries"):
        if name in limits:
            lim.retries = int(_num(doc, f"limits.{name}", limits[name], 0, 10, integer=True))
    if "circuit_breaker" in limits:
        lim.circuit_breaker = int(
            _num(doc, "limits.circuit_breaker", limits["circuit_breaker"], 0, integer=True)
        )
    if "retry_delay" in limits:
        lim.retry_delay = _num(doc, "limits.retry_delay", limits["retry_delay"], 0)
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
    if not isinstance(raw_evaluators, list):
        raise doc.error(
            "evaluators", f"expected a list of evaluators, found {type(raw_evaluators).__name__}"
        )
    names: set[str] = set()
    for i, spec in enumerate(raw_evaluators):
        ev = _evaluator(doc, f"evaluators[{i}]", spec, cfg, i)
        if ev is None:
            continue
        if ev.name in names:
            raise doc.error(f"evaluators[{i}].name", f"duplicate evaluator name {ev.name!r}")
        names.add(ev.name)
        cfg.evaluators.append(ev)
    if not cfg.evaluators:
        raise doc.error("evaluators", "no enabled evaluator")
    if sum(e.weight for e in cfg.evaluators) <= 0:
        raise doc.error("evaluators", "the weights of the enabled evaluators sum to 0")

    thresholds = _mapping(doc, "thresholds", data.get("thresholds"))
    _check_keys(doc, "thresholds", thresholds, _SECTION_KEYS["thresholds"])
    for name in ("pass_rate", "mean_score", "success_rate", "pass_at_k", "pass_hat_k"):
        if thresholds.get(name) is not None:
            cfg.thresholds[name] = _num(doc, f"thresholds.{name}", thresholds[name], 0, 1)
    per_eval = _mapping(doc, "thresholds.evaluators", thresholds.get("evaluators"))
    if per_eval:
        cfg.thresholds["evaluators"] = {}
        for name, value in per_eval.items():
            if name not in names:
                raise doc.error(
                    f"thresholds.evaluators.{name}",
                    f"no evaluator named {name!r}{suggest(str(name), names)}",
                )
            cfg.thresholds["evaluators"][name] = _num(
                doc, f"thresholds.evaluators.{name}", value, 0, 1
            )

    criteria = _mapping(doc, "success_criteria", data.get("success_criteria"))
    perf = _mapping(doc, "success_criteria.performance", criteria.get("performance"))
    _check_keys(
        doc,
        "success_criteria.performance",
        perf,
        {"all_traces_successful", "avg_response_time", "max_response_time", "error_rate"},
    )
    if perf.get("all_traces_successful"):
        cfg.performance["all_traces_successful"] = True
    for name, unit in (
        ("avg_response_time", "threshold_ms"),
        ("max_response_time", "threshold_ms"),
        ("error_rate", "threshold_percent"),
    ):
        item = _mapping(doc, f"success_criteria.performance.{name}", perf.get(name))
        if item and item.get("enabled", True) and item.get(unit) is not None:
            cfg.performance[name] = _num(
                doc, f"success_criteria.performance.{name}.{unit}", item[unit], 0
            )
    quality = _mapping(doc, "success_criteria.quality", criteria.get("quality"))
    for name, wanted in quality.items():
        if not wanted:
            continue
        if name not in names:
            raise doc.error(
                f"success_criteria.quality.{name}",
                f"no enabled evaluator named {name!r}{suggest(str(name), names)}",
            )
        cfg.quality.append(str(name))
    return cfg


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
    doc: YamlDoc, key: str, spec: Any, cfg: EvaluationConfig, index: int
) -> EvaluatorDef | None:
    if not isinstance(spec, Mapping):
        raise doc.error(key, f"expected a mapping with name and type, found {spec!r}")
    if spec.get("enabled", True) is False:
        return None
    raw_type = spec.get("type")
    if raw_type is None:
        raise doc.error(key, f"missing type (one of {', '.join(TYPES)})")
    kind = TYPE_ALIASES.get(str(raw_type), str(raw_type))
    if kind not in TYPES:
        raise doc.error(
            f"{key}.type",
            f"unknown evaluator type {raw_type!r}"
            f"{suggest(str(raw_type), [*TYPES, *TYPE_ALIASES])}; "
            f"expected one of {', '.join(TYPES)}",
        )
    _check_keys(doc, key, spec, _KEYS[kind])
    name = str(spec.get("name") or f"{kind}_{index + 1}")
    ev = EvaluatorDef(name=name, type=kind, key=key)
    if "weight" in spec:
        ev.weight = _num(doc, f"{key}.weight", spec["weight"], 0)
    if spec.get("threshold") is not None:
        ev.threshold = _num(doc, f"{key}.threshold", spec["threshold"], 0, 1)
    ev.required = bool(spec.get("required", False))
    if kind == "rule_based":
        rules = spec.get("rules")
        if not isinstance(rules, list) or not rules:
            raise doc.error(f"{key}.rules", "expected a non-empty list of {check: ...} rules")
        ev.rules = [
            compile_rule(doc, f"{key}.rules[{i}]", r, cfg.base_dir) for i, r in enumerate(rules)
        ]
    elif kind == "llm_judge":
        ev.judge = _judge_spec(doc, key, spec, name, cfg)
    else:
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
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise doc.error(f"{key}.params", f"expected a mapping, found {params!r}")
        ev.params = dict(params)
        try:
            inspect.signature(fn).bind({}, **ev.params)
        except TypeError as exc:
            raise doc.error(f"{key}.params", f"do not fit {target}: {exc}") from None
        except ValueError:
            pass  # builtins without a signature
    return ev


def _judge_spec(
    doc: YamlDoc, key: str, spec: Mapping[str, Any], name: str, cfg: EvaluationConfig
) -> JudgeSpec:
    judge = JudgeSpec(name=name, goal=cfg.goal)
    criteria = spec.get("criteria")
    if criteria is not None:
        if not isinstance(criteria, list) or not criteria:
            raise doc.error(f"{key}.criteria", "expected a non-empty list of criteria")
        for i, item in enumerate(criteria):
            if isinstance(item, str) and item.strip():
                judge.criteria.append(item.strip())
            elif isinstance(item, Mapping):
                text = item.get("description") or item.get("criterion") or item.get("name")
                if not text:
                    raise doc.error(
                        f"{key}.criteria[{i}]", "expected a text or {name, description}"
                    )
                label = item.get("name")
                judge.criteria.append(f"{label}: {text}" if label and label != text else str(text))
            else:
                raise doc.error(f"{key}.criteria[{i}]", f"expected a text, found {item!r}")
    template = spec.get("prompt_template")
    if template is not None:
        if not isinstance(template, str):
            raise doc.error(f"{key}.prompt_template", "expected a text")
        # the docs' pre-built judges show a comment-only placeholder template
        if template.strip() and not all(
            line.strip().startswith("#") for line in template.strip().splitlines()
        ):
            judge.prompt_template = template
    if spec.get("rubric") is not None:
        judge.rubric = str(spec["rubric"])
    parser = spec.get("parser", "first_number_1_10")
    if parser not in PARSERS:
        raise doc.error(
            f"{key}.parser",
            f"unknown parser {parser!r}{suggest(str(parser), PARSERS)}; "
            f"expected one of {', '.join(PARSERS)}",
        )
    judge.parser = str(parser)
    if "max_score" in spec:
        judge.max_score = _num(doc, f"{key}.max_score", spec["max_score"], 1e-9)
    inconclusive = spec.get("inconclusive", "fail")
    if inconclusive not in ("fail", "ignore"):
        raise doc.error(f"{key}.inconclusive", f"expected fail or ignore, found {inconclusive!r}")
    judge.inconclusive = str(inconclusive)
    judge.include_trace = bool(spec.get("include_trace", True))
    judge.judge_failed_runs = bool(spec.get("judge_failed_runs", False))
    if "max_trace_chars" in spec:
        judge.max_trace_chars = int(
            _num(doc, f"{key}.max_trace_chars", spec["max_trace_chars"], 100, integer=True)
        )
    params = spec.get("model_parameters") or {}
    if not isinstance(params, Mapping):
        raise doc.error(f"{key}.model_parameters", "expected a mapping")
    # the original's OpenAI Responses-API knobs are not constructor arguments
    judge.model_parameters = {k: v for k, v in params.items() if k not in ("reasoning", "text")}
    factory_kwargs = spec.get("factory_kwargs") or {}
    if not isinstance(factory_kwargs, Mapping):
        raise doc.error(f"{key}.factory_kwargs", "expected a mapping")
    judge.factory_kwargs = dict(factory_kwargs)
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
