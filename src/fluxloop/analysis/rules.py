"""Rule-based checks: deterministic, offline, on the run's fields and on its trace.

A rule is ``{check: NAME, ...params}``. :func:`compile_rule` validates the parameters once (an
unknown check or parameter is a configuration error with the nearest name); the compiled rule
is then applied to each trace and returns ``(passed, detail)``.
"""

from __future__ import annotations

import difflib
import importlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.project.yaml import YamlDoc, suggest

from .experiment import Run
from .timeline import Step, tool_calls

__all__ = ["CHECKS", "CompiledRule", "RuleContext", "compile_rule", "resolve_path", "text_of"]


@dataclass
class RuleContext:
    """What a rule looks at: the run's fields (by path) and its timeline."""

    run: Run
    record: dict[str, Any]
    steps: list[Step]


CheckFn = Callable[[RuleContext, Mapping[str, Any]], tuple[bool, str]]


@dataclass
class CompiledRule:
    check: str
    params: dict[str, Any]
    fn: CheckFn
    label: str

    def apply(self, ctx: RuleContext) -> tuple[bool, str]:
        return self.fn(ctx, self.params)


_MISSING = object()


def resolve_path(data: Any, path: str) -> Any:
    """``a.b.0.c`` / ``a.b[0].c`` into nested mappings and lists; ``_MISSING`` when absent."""
    current = data
    for part in re.split(r"\.|\[(\d+)\]", path):
        if part is None or part == "":
            continue
        if isinstance(current, Mapping):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, Sequence) and not isinstance(current, (str, bytes)):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return current


def text_of(value: Any) -> str:
    if value is None or value is _MISSING:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _target(ctx: RuleContext, params: Mapping[str, Any]) -> Any:
    return resolve_path(ctx.record, str(params.get("target") or "output"))


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------------------------
# checks on the run


def _output_not_empty(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    value = _target(ctx, params)
    if value is _MISSING or value is None:
        return False, "output is missing"
    if isinstance(value, str):
        return (bool(value.strip()), "output is empty" if not value.strip() else "non-empty")
    if isinstance(value, (list, dict)):
        return (bool(value), "output is empty" if not value else "non-empty")
    return True, "non-empty"


def _success(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    if ctx.run.success:
        return True, "run succeeded"
    err = ctx.run.error or {}
    kind = err.get("type")
    message = _short(str(err.get("message") or ""), 80)
    return False, f"run {ctx.run.status}: {kind + ': ' if kind else ''}{message}".rstrip(": ")


def _keywords(params: Mapping[str, Any]) -> list[str]:
    raw = params.get("keywords", params.get("keyword", params.get("value")))
    if isinstance(raw, str):
        return [raw]
    return [str(k) for k in raw or []]


def _contains(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    text = text_of(_target(ctx, params))
    words = _keywords(params)
    if not params.get("case_sensitive"):
        text = text.lower()
        probe = [w.lower() for w in words]
    else:
        probe = words
    hits = [w for w, p in zip(words, probe, strict=True) if p in text]
    if str(params.get("mode", "any")) == "all":
        missing = [w for w in words if w not in hits]
        return (not missing, f"missing {missing}" if missing else f"contains all of {words}")
    return (bool(hits), f"contains {hits[0]!r}" if hits else f"contains none of {words}")


def _not_contains(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    text = text_of(_target(ctx, params))
    words = _keywords(params)
    if not params.get("case_sensitive"):
        found = [w for w in words if w.lower() in text.lower()]
    else:
        found = [w for w in words if w in text]
    return (not found, f"contains forbidden {found}" if found else f"contains none of {words}")


def _regex(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    pattern: re.Pattern[str] = params["_compiled"]
    text = text_of(_target(ctx, params))
    matched = pattern.search(text) is not None
    if params.get("must_match", True) is False:
        return (not matched, "matches (forbidden)" if matched else "does not match")
    return (matched, f"matches /{pattern.pattern}/" if matched else f"no match /{pattern.pattern}/")


def _expected(ctx: RuleContext, params: Mapping[str, Any]) -> Any:
    if "expected_path" in params:
        return resolve_path(ctx.record, str(params["expected_path"]))
    return params.get("value", params.get("expected"))


def _equals(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    actual = _target(ctx, params)
    expected = _expected(ctx, params)
    if expected is _MISSING:
        return False, f"expected value {params.get('expected_path')!r} is missing"
    if isinstance(expected, str) or isinstance(actual, str):
        a, e = text_of(actual).strip(), text_of(expected).strip()
        if params.get("case_sensitive") is False or params.get("ignore_case"):
            a, e = a.lower(), e.lower()
        ok = a == e
    else:
        ok = actual == expected
    return ok, "equal" if ok else f"{_short(text_of(actual))!r} != {_short(text_of(expected))!r}"


def _parse_json_target(value: Any) -> tuple[bool, Any, str]:
    if value is _MISSING or value is None:
        return False, None, "target is missing"
    if isinstance(value, (dict, list, int, float, bool)):
        return True, value, "structured value"
    try:
        return True, json.loads(str(value)), "valid JSON"
    except ValueError as exc:
        return False, None, f"invalid JSON: {exc}"


def _json_valid(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    ok, _, detail = _parse_json_target(_target(ctx, params))
    return ok, detail


def _json_schema(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    ok, value, detail = _parse_json_target(_target(ctx, params))
    if not ok:
        return False, detail
    validator = params["_validator"]
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return True, "matches the schema"
    loc = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return False, f"schema violation at {loc}: {_short(error.message, 100)}"


def _length(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    text = text_of(_target(ctx, params))
    unit = str(params.get("unit", "chars"))
    size = len(text.split()) if unit == "words" else len(text)
    low = params.get("min", params.get("min_length", params.get("min_chars")))
    high = params.get("max", params.get("max_length", params.get("max_chars")))
    if low is not None and size < float(low):
        return False, f"{size} {unit} < min {low}"
    if high is not None and size > float(high):
        return False, f"{size} {unit} > max {high}"
    return True, f"{size} {unit}"


def _latency_under(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    budget = float(params.get("budget_ms", params.get("max_ms", 0)))
    duration = ctx.run.duration_ms
    if duration is None:
        return False, "no duration recorded"
    return (
        duration < budget,
        f"{duration:.1f} ms {'<' if duration < budget else '>='} {budget:g} ms",
    )


def _token_usage_under(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    usage = ctx.run.token_usage or {}
    problems: list[str] = []
    for key in ("total_tokens", "prompt_tokens", "completion_tokens"):
        limit = params.get(f"max_{key}")
        if limit is None:
            continue
        value = usage.get(key)
        if key == "total_tokens" and value is None:
            value = ctx.run.total_tokens()
        if value is not None and float(value) > float(limit):
            problems.append(f"{key} {value:g} > {limit}")
    if problems:
        return False, "; ".join(problems)
    total = ctx.run.total_tokens()
    return True, f"{total:g} tokens" if total is not None else "no token usage recorded"


def _levenshtein_ratio(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def _similarity(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    expected = _expected(ctx, params)
    if expected is _MISSING or expected is None:
        return False, f"expected value {params.get('expected_path', 'expected')!r} is missing"
    a = text_of(_target(ctx, params)).strip().lower()
    b = text_of(expected).strip().lower()
    method = str(params.get("method", "difflib"))
    if method == "levenshtein":
        score = _levenshtein_ratio(a[:2000], b[:2000])
    else:
        score = difflib.SequenceMatcher(None, a, b).ratio()
    threshold = float(params.get("threshold", params.get("min_score", 0.7)))
    return (
        score >= threshold,
        f"similarity {score:.2f} {'>=' if score >= threshold else '<'} {threshold:g}",
    )


# ---------------------------------------------------------------------------------------------
# checks on the trace


def _tool_names(params: Mapping[str, Any], *keys: str) -> list[str]:
    for key in keys:
        raw = params.get(key)
        if raw is not None:
            return [raw] if isinstance(raw, str) else [str(x) for x in raw]
    return []


def _tool_called(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    names = [n for n, _, _ in tool_calls(ctx.steps)]
    wanted = _tool_names(params, "tool", "tools", "name")
    low = int(params.get("min_times", 1))
    high = params.get("max_times")
    for tool in wanted:
        count = names.count(tool)
        if count < low:
            return False, f"{tool!r} called {count} time(s), expected at least {low}"
        if high is not None and count > int(high):
            return False, f"{tool!r} called {count} time(s), expected at most {high}"
    return True, f"called {', '.join(repr(t) for t in wanted)}"


def _tool_not_called(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    names = {n for n, _, _ in tool_calls(ctx.steps)}
    called = [t for t in _tool_names(params, "tool", "tools", "name") if t in names]
    return (not called, f"called forbidden {called}" if called else "forbidden tools not called")


def _tool_sequence(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    names = [n for n, _, _ in tool_calls(ctx.steps)]
    sequence = _tool_names(params, "sequence", "tools")
    if params.get("strict"):
        ok = names == sequence
        return ok, f"tool calls {names}" + ("" if ok else f" != {sequence}")
    position = 0
    for name in names:
        if position < len(sequence) and name == sequence[position]:
            position += 1
    ok = position == len(sequence)
    return ok, (
        f"{sequence} in order" if ok else f"tool calls {names} lack {sequence[position:]} in order"
    )


def _args_match(actual: Any, expected: Mapping[str, Any], use_regex: bool) -> bool:
    if isinstance(actual, str):
        try:
            actual = json.loads(actual)
        except ValueError:
            return False
    if not isinstance(actual, Mapping):
        return False
    for key, want in expected.items():
        got = resolve_path(actual, str(key))
        if got is _MISSING:
            return False
        if use_regex and isinstance(want, str):
            if re.search(want, text_of(got)) is None:
                return False
        elif isinstance(want, Mapping) and isinstance(got, Mapping):
            if not _args_match(got, want, use_regex):
                return False
        elif got != want and text_of(got) != text_of(want):
            return False
    return True


def _tool_args(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    tool = str(params.get("tool") or params.get("name"))
    expected = params.get("args") or params.get("arguments") or {}
    calls = [args for name, args, _ in tool_calls(ctx.steps) if name == tool]
    if not calls:
        return False, f"{tool!r} was not called"
    which = str(params.get("call", "any"))
    if which == "first":
        calls = calls[:1]
    elif which == "last":
        calls = calls[-1:]
    use_regex = str(params.get("match", "equals")) == "regex"
    results = [_args_match(args, expected, use_regex) for args in calls]
    ok = all(results) if which == "all" else any(results)
    shown = _short(text_of(calls[0]), 80)
    return ok, f"{tool!r} args match" if ok else f"{tool!r} args {shown} do not match {expected}"


def _no_error_spans(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    types = set(_tool_names(params, "types"))
    bad = [s for s in ctx.steps if s.failed and (not types or s.type in types)]
    if not bad:
        return True, "no error spans"
    first = bad[0]
    return False, f"{len(bad)} error span(s), first [{first.type}] {first.name}: {first.error}"


def _max_steps(ctx: RuleContext, params: Mapping[str, Any]) -> tuple[bool, str]:
    types = set(_tool_names(params, "types"))
    count = sum(1 for s in ctx.steps if not types or s.type in types)
    limit = int(params.get("max", params.get("max_steps", 0)))
    what = "/".join(sorted(types)) + " steps" if types else "steps"
    return count <= limit, f"{count} {what} {'<=' if count <= limit else '>'} {limit}"


# ---------------------------------------------------------------------------------------------
# registry: name -> (function, allowed parameters, required parameter groups)

_TARGET = {"target"}
_KEYWORDS = {"keywords", "keyword", "value", "case_sensitive"}
CHECKS: dict[str, tuple[CheckFn, set[str], list[set[str]]]] = {
    "output_not_empty": (_output_not_empty, _TARGET, []),
    "success": (_success, set(), []),
    "contains": (_contains, _TARGET | _KEYWORDS | {"mode"}, [{"keywords", "keyword", "value"}]),
    "not_contains": (_not_contains, _TARGET | _KEYWORDS, [{"keywords", "keyword", "value"}]),
    "regex": (_regex, _TARGET | {"pattern", "ignore_case", "must_match", "flags"}, [{"pattern"}]),
    "equals": (
        _equals,
        _TARGET | {"value", "expected", "expected_path", "case_sensitive", "ignore_case"},
        [{"value", "expected", "expected_path"}],
    ),
    "json_valid": (_json_valid, _TARGET, []),
    "json_schema": (_json_schema, _TARGET | {"schema", "schema_file"}, [{"schema", "schema_file"}]),
    "length": (
        _length,
        _TARGET | {"min", "max", "min_length", "max_length", "min_chars", "max_chars", "unit"},
        [{"min", "max", "min_length", "max_length", "min_chars", "max_chars"}],
    ),
    "latency_under": (_latency_under, {"budget_ms", "max_ms"}, [{"budget_ms", "max_ms"}]),
    "token_usage_under": (
        _token_usage_under,
        {"max_total_tokens", "max_prompt_tokens", "max_completion_tokens"},
        [{"max_total_tokens", "max_prompt_tokens", "max_completion_tokens"}],
    ),
    "similarity": (
        _similarity,
        _TARGET | {"expected", "expected_path", "method", "threshold", "min_score"},
        [{"expected", "expected_path"}],
    ),
    "tool_called": (
        _tool_called,
        {"tool", "tools", "name", "min_times", "max_times"},
        [{"tool", "tools", "name"}],
    ),
    "tool_not_called": (_tool_not_called, {"tool", "tools", "name"}, [{"tool", "tools", "name"}]),
    "tool_sequence": (_tool_sequence, {"sequence", "tools", "strict"}, [{"sequence", "tools"}]),
    "tool_args": (
        _tool_args,
        {"tool", "name", "args", "arguments", "call", "match"},
        [{"tool", "name"}, {"args", "arguments"}],
    ),
    "no_error_spans": (_no_error_spans, {"types"}, []),
    "max_steps": (_max_steps, {"max", "max_steps", "types"}, [{"max", "max_steps"}]),
}
ALIASES = {
    "matches_regex": "regex",
    "not_empty": "output_not_empty",
    "length_between": "length",
    "max_length": "length",
    "min_length": "length",
    "json": "json_valid",
    "is_json": "json_valid",
    "latency": "latency_under",
    "token_usage": "token_usage_under",
    "no_errors": "no_error_spans",
    "max_observations": "max_steps",
}
_COMMON = {"check", "name", "weight", "description"}


def compile_rule(doc: YamlDoc, key: str, spec: Any, base_dir: Path) -> CompiledRule:
    """Validate one ``{check: ...}`` mapping; errors carry ``file:line`` and a suggestion."""
    if isinstance(spec, str):
        spec = {"check": spec}
    if not isinstance(spec, Mapping):
        raise doc.error(key, f"expected a mapping with a 'check' key, found {spec!r}")
    name = spec.get("check")
    if not isinstance(name, str) or not name:
        raise doc.error(key, "missing 'check' (the rule name, e.g. output_not_empty)")
    check = ALIASES.get(name, name)
    if check not in CHECKS:
        known = sorted([*CHECKS, *ALIASES])
        raise doc.error(
            f"{key}.check",
            f"unknown check {name!r}{suggest(name, known)}; "
            f"expected one of {', '.join(sorted(CHECKS))}",
        )
    fn, allowed, required = CHECKS[check]
    params = {k: v for k, v in spec.items() if k not in _COMMON}
    for param in params:
        if param not in allowed:
            hint = suggest(param, allowed)
            raise doc.error(
                f"{key}.{param}",
                f"unknown parameter for check {check!r}{hint}; expected one of "
                f"{', '.join(sorted(allowed)) or '(none)'}",
            )
    for group in required:
        if not any(g in params for g in group):
            raise doc.error(key, f"check {check!r} needs {' or '.join(sorted(group))}")
    _prepare(doc, key, check, params, base_dir)
    label = str(spec.get("name") or _label(check, params))
    return CompiledRule(check=check, params=params, fn=fn, label=label)


def _label(check: str, params: Mapping[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if not k.startswith("_") and k != "schema"}
    if not shown:
        return check
    inner = ", ".join(f"{k}={v}" for k, v in shown.items())
    return _short(f"{check}({inner})", 80)


def _number(doc: YamlDoc, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise doc.error(key, f"expected a number, found {value!r}")


def _prepare(doc: YamlDoc, key: str, check: str, params: dict[str, Any], base_dir: Path) -> None:
    for numeric in (
        "budget_ms",
        "max_ms",
        "max_total_tokens",
        "max_prompt_tokens",
        "max_completion_tokens",
        "threshold",
        "min_score",
        "min",
        "max",
        "min_length",
        "max_length",
        "min_chars",
        "max_chars",
        "min_times",
        "max_times",
        "max_steps",
    ):
        if numeric in params and not (check == "max_steps" and numeric == "max_steps"):
            _number(doc, f"{key}.{numeric}", params[numeric])
    if "target" in params and not isinstance(params["target"], str):
        raise doc.error(
            f"{key}.target", f"expected a field path such as output, found {params['target']!r}"
        )
    if check == "regex":
        flags = 0
        if params.get("ignore_case") or "i" in str(params.get("flags", "")):
            flags |= re.IGNORECASE
        if "m" in str(params.get("flags", "")):
            flags |= re.MULTILINE
        if "s" in str(params.get("flags", "")):
            flags |= re.DOTALL
        try:
            params["_compiled"] = re.compile(str(params["pattern"]), flags)
        except re.error as exc:
            raise doc.error(f"{key}.pattern", f"invalid regular expression: {exc}") from None
    if check == "similarity" and str(params.get("method", "difflib")) not in (
        "difflib",
        "levenshtein",
    ):
        raise doc.error(
            f"{key}.method",
            f"expected difflib or levenshtein, found {params['method']!r} "
            "(embedding similarity needs a model: use an llm_judge or a custom evaluator)",
        )
    if check == "tool_args" and not isinstance(
        params.get("args", params.get("arguments")), Mapping
    ):
        raise doc.error(f"{key}.args", "expected a mapping of argument name to expected value")
    if check == "json_schema":
        try:
            jsonschema: Any = importlib.import_module("jsonschema")
        except ImportError:
            raise doc.error(
                key, "the json_schema check needs the jsonschema package (pip install jsonschema)"
            ) from None
        schema = params.get("schema")
        if schema is None:
            schema_path = Path(str(params["schema_file"]))
            if not schema_path.is_absolute():
                schema_path = base_dir / schema_path
            try:
                schema = json.loads(schema_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise doc.error(f"{key}.schema_file", f"cannot load {schema_path}: {exc}") from None
        try:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise doc.error(f"{key}.schema", f"invalid JSON Schema: {exc.message}") from None
        params["_validator"] = cls(schema)
