"""Config validation: every problem at once, each with file:line, key, expected vs found.

The schema covers the keys the seeds document (project, input, simulation and evaluation files,
single ``setting.yaml`` or merged ``configs/*.yaml``). Sections owned by other capabilities
(evaluators, input generation, multi-turn) are accepted as opaque mappings here and checked by
their owners. An unknown key close to a known one (difflib) is an error with a suggestion; an
unknown key with no close match is a warning, so extensions and other tools' keys still load.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop.errors import ConfigError

from .yamlio import Located, join_key

__all__ = [
    "ConfigProblems",
    "Problem",
    "SCHEMA",
    "Spec",
    "ValidationReport",
    "validate_config",
]


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    where: Located | None = None
    file_hint: str | None = None

    def __str__(self) -> str:
        if self.where is not None:
            loc = f"{self.where}: "
        elif self.file_hint:
            loc = f"{self.file_hint}: "
        else:
            loc = ""
        key = f"{self.key}: " if self.key else ""
        return f"{loc}{key}{self.message}"


class ConfigProblems(ConfigError):
    """One or more config problems; ``str()`` is one line per problem (exit code 2)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        super().__init__(
            "\n".join(str(p) for p in self.problems) or "invalid configuration",
            key=first.key if first else None,
            where=str(first.where) if first and first.where else None,
        )


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ConfigProblems(self.problems)


@dataclass(frozen=True)
class Spec:
    """Expected shape of one config value.

    kind: str | int | num | bool | list | dict | section | any | scalar | strlist | str_or_list
    """

    kind: str
    children: Mapping[str, Spec] | None = None
    item: Spec | None = None
    nullable: bool = True
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    choices: tuple[str, ...] | None = None
    required: tuple[str, ...] = ()
    unsupported: str | None = None

    def describe(self) -> str:
        base = {
            "str": "a string",
            "int": "an integer",
            "num": "a number",
            "bool": "true or false",
            "list": "a list",
            "dict": "a mapping",
            "section": "a mapping",
            "any": "a value",
            "scalar": "a string, number or boolean",
            "strlist": "a list of strings",
            "str_or_list": "a path or a list of paths",
        }[self.kind]
        if self.choices:
            base = "one of " + ", ".join(self.choices)
        bounds = []
        if self.minimum is not None:
            bounds.append(
                f"> {_fmt(self.minimum)}" if self.exclusive_min else f">= {_fmt(self.minimum)}"
            )
        if self.maximum is not None:
            bounds.append(f"<= {_fmt(self.maximum)}")
        if bounds:
            base += " " + " and ".join(bounds)
        return base


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


S = Spec
_STR = S("str")
_BOOL = S("bool")
_DICT = S("dict")
_ANY = S("any")
_STRLIST = S("strlist")

PERSONA = S(
    "section",
    children={
        "name": _STR,
        "description": _STR,
        "characteristics": _STRLIST,
        "language": _STR,
        "expertise_level": _STR,
        "goals": _STRLIST,
        "constraints": _STRLIST,
        "custom_attributes": _DICT,
        "metadata": _DICT,
    },
    required=("name",),
)

RUNNER = S(
    "section",
    children={
        "target": _STR,
        "module_path": _STR,
        "function_name": _STR,
        "working_directory": _STR,
        "python_path": S("str_or_list"),
        "environment_vars": S("dict", item=S("scalar")),
        "timeout_seconds": S("num", minimum=0, exclusive_min=True),
        "max_retries": S("int", minimum=0, maximum=100),
        "retry_delay": S("num", minimum=0),
        "factory": _STR,
        "factory_kwargs": _DICT,
        "stream_output_path": _STR,
        "auto_instrument": _BOOL,
        "iterations": S("int", minimum=1, maximum=1_000_000),
        "guards": S(
            "section",
            children={"max_duration": S("scalar"), "output_char_limit": S("int", minimum=1)},
        ),
        "setup_commands": S("list"),
        "executor": S(
            "section",
            children={
                "type": S("str", choices=("local", "ray")),
                "address": _STR,
                "num_cpus_per_run": S("num", minimum=0),
                "num_gpus_per_run": S("num", minimum=0),
                "resources": S("dict", item=S("num")),
                "max_in_flight": S("int", minimum=1),
                "reuse_workers": _BOOL,
                "excludes": _STRLIST,
            },
        ),
        "docker": _ANY,
        "http": S(
            "any",
            unsupported="HTTP runners are not supported; expose a Python callable "
            "and set runner.target",
        ),
        "process": S(
            "any",
            unsupported="subprocess runners are not supported; expose a Python "
            "callable and set runner.target",
        ),
    },
)

REPLAY = S(
    "section",
    children={
        "enabled": _BOOL,
        "recording_file": _STR,
        "override_param_path": _STR,
        "callable_providers": S("dict", item=_STR),
        "use": S("scalar"),
        "secrets": S("dict", item=_STR),
        "error_callback_fails_run": _BOOL,
    },
)

MULTI_TURN = S(
    "section",
    children={
        "enabled": _BOOL,
        "max_turns": S("int", minimum=1, maximum=1000),
        "auto_approve_tools": _BOOL,
        "persona_override": _STR,
        "persona": _STR,
        "goal_phrases": _STRLIST,
        "supervisor": S(
            "section",
            children={
                "provider": _STR,
                "model": _STR,
                "temperature": S("num", minimum=0),
                "max_tokens": S("int", minimum=1),
                "system_prompt": _STR,
                "api_key": _STR,
                "base_url": _STR,
                "request_timeout": S("num", minimum=0, exclusive_min=True),
                "max_retries": S("int", minimum=0),
                "retry_delay": S("num", minimum=0),
                "concurrency": S("int", minimum=1),
                "script": _STRLIST,
                "scripted_questions": _STRLIST,
                "metadata": S(
                    "section",
                    children={
                        "scripted_questions": _STRLIST,
                        "mock_decision": S("str", choices=("terminate", "continue")),
                        "mock_reason": _STR,
                        "mock_closing": _STR,
                        "mock_next_user_message": _STR,
                    },
                ),
            },
        ),
    },
)

CASSETTE = S(
    "section",
    children={
        "mode": S("str", choices=("record", "replay", "auto", "off")),
        "dir": _STR,
        "timing": S("str", choices=("instant", "recorded")),
    },
)

OUTPUT = S(
    "section",
    children={
        "directory": _STR,
        "format": S("str", choices=("jsonl",)),
    },
)

SCHEMA = S(
    "section",
    children={
        # project.yaml
        "name": S("scalar"),
        "description": _STR,
        "version": S("scalar"),
        "tags": _STRLIST,
        "metadata": _DICT,
        "source_root": _STR,
        "collector_url": _STR,
        "collector_api_key": _STR,
        # simulation.yaml
        "iterations": S("int", minimum=1, maximum=1_000_000),
        "parallel_runs": S("int", minimum=1, maximum=1000),
        "run_delay_seconds": S("num", minimum=0),
        "seed": S("int"),
        "runner": RUNNER,
        "replay_args": REPLAY,
        "multi_turn": MULTI_TURN,
        "cassette": CASSETTE,
        "langchain": S("section", children={"hide_internal": _BOOL}),
        "output_directory": _STR,
        "output": OUTPUT,
        "save_traces": _BOOL,
        "save_aggregated_metrics": _BOOL,
        "success_threshold": S("num", minimum=0, maximum=1),
        # input.yaml
        "personas": S("list", item=PERSONA),
        "base_inputs": S("list", item=_ANY),
        "inputs_file": _STR,
        "input_template": _STR,
        "variation_strategies": S("list"),
        "variation_count": S("int", minimum=1),
        "variation_temperature": S("num", minimum=0),
        "variation_model": _STR,
        "custom_variation_prompt": _STR,
        "input_generation": _DICT,
        # evaluation.yaml (validated by the evaluation capability)
        "evaluation_goal": _ANY,
        "evaluators": S("list"),
        "aggregate": _DICT,
        "limits": _DICT,
        "success_criteria": _DICT,
        "additional_analysis": _DICT,
        "report": _DICT,
        "advanced": _DICT,
        "metrics": _DICT,
        "efficiency": _DICT,
        "evaluation": _DICT,
    },
)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _found(value: object) -> str:
    if isinstance(value, (dict, list)):
        return _type_name(value)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_type_name(value)})" if not isinstance(value, str) else text


class _Validator:
    def __init__(self, lines: Mapping[str, Located], default_file: str | None) -> None:
        self.lines = lines
        self.default_file = default_file
        self.report = ValidationReport()
        self._leaf_owner = {
            leaf: f"{name}.{leaf}"
            for name, spec in (SCHEMA.children or {}).items()
            if spec.kind == "section" and spec.children
            for leaf in spec.children
        }

    def where(self, key: str) -> Located | None:
        loc = self.lines.get(key)
        if loc is None and "." in key:
            # a missing child: point at its parent mapping
            loc = self.lines.get(key.rsplit(".", 1)[0])
        return loc

    def error(self, key: str, message: str) -> None:
        self.report.problems.append(Problem(key, message, self.where(key), self.default_file))

    def warn(self, key: str, message: str) -> None:
        self.report.warnings.append(Problem(key, message, self.where(key), self.default_file))

    def expected(self, key: str, spec: Spec, value: object) -> None:
        self.error(key, f"expected {spec.describe()}, found {_found(value)}")

    def check(self, key: str, spec: Spec, value: Any) -> None:
        if spec.unsupported:
            self.error(key, spec.unsupported)
            return
        if value is None:
            if not spec.nullable:
                self.expected(key, spec, value)
            return
        kind = spec.kind
        if kind == "any":
            return
        if kind == "str":
            if not isinstance(value, str):
                self.expected(key, spec, value)
            elif spec.choices and value not in spec.choices:
                self._choice(key, spec, value)
            return
        if kind == "scalar":
            if not isinstance(value, (str, int, float, bool)):
                self.expected(key, spec, value)
            return
        if kind == "bool":
            if not isinstance(value, bool):
                self.expected(key, spec, value)
            return
        if kind in ("int", "num"):
            ok = isinstance(value, int) and not isinstance(value, bool)
            if kind == "num":
                ok = ok or isinstance(value, float)
            if not ok:
                self.expected(key, spec, value)
                return
            self._bounds(key, spec, float(value))
            return
        if kind == "strlist":
            if not isinstance(value, list) or not all(
                isinstance(v, (str, int, float)) for v in value
            ):
                self.expected(key, spec, value)
            return
        if kind == "str_or_list":
            if isinstance(value, str):
                return
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.expected(key, spec, value)
            return
        if kind == "list":
            if not isinstance(value, list):
                self.expected(key, spec, value)
                return
            if spec.item is not None:
                for i, item in enumerate(value):
                    self.check(join_key(key, i), spec.item, item)
            return
        if kind == "dict":
            if not isinstance(value, dict):
                self.expected(key, spec, value)
                return
            if spec.item is not None:
                for k, v in value.items():
                    self.check(join_key(key, k), spec.item, v)
            return
        if kind == "section":
            if not isinstance(value, dict):
                self.expected(key, spec, value)
                return
            self.section(key, spec, value)
            return
        raise AssertionError(kind)  # pragma: no cover

    def _choice(self, key: str, spec: Spec, value: str) -> None:
        assert spec.choices
        close = difflib.get_close_matches(value, spec.choices, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        self.error(key, f"expected {spec.describe()}, found {value!r}{hint}")

    def _bounds(self, key: str, spec: Spec, number: float) -> None:
        low, high = spec.minimum, spec.maximum
        bad = (low is not None and (number <= low if spec.exclusive_min else number < low)) or (
            high is not None and number > high
        )
        if bad:
            self.error(key, f"expected {spec.describe()}, found {_fmt(number)}")

    def section(self, prefix: str, spec: Spec, value: Mapping[Any, Any]) -> None:
        children = spec.children or {}
        for name in spec.required:
            if value.get(name) in (None, ""):
                self.error(join_key(prefix, name), "required key is missing")
        for raw_key, child in value.items():
            key = join_key(prefix, str(raw_key))
            name = str(raw_key)
            child_spec = children.get(name)
            if child_spec is not None:
                self.check(key, child_spec, child)
                continue
            suggestion = self._suggest(prefix, name, children)
            if suggestion:
                self.error(key, f"unknown key (did you mean {suggestion!r}?)")
            else:
                self.warn(key, "unknown key, ignored")

    def _suggest(self, prefix: str, name: str, children: Mapping[str, Spec]) -> str | None:
        close = difflib.get_close_matches(name, list(children), n=1, cutoff=0.75)
        if close:
            return join_key(prefix, close[0])
        if not prefix and name in self._leaf_owner:
            return self._leaf_owner[name]
        if not prefix:
            leaf = difflib.get_close_matches(name, list(self._leaf_owner), n=1, cutoff=0.85)
            if leaf:
                return self._leaf_owner[leaf[0]]
        return None


def validate_config(
    data: object,
    lines: Mapping[str, Located] | None = None,
    *,
    require_target: bool = True,
    default_file: str | None = None,
) -> ValidationReport:
    """Check a merged config mapping against :data:`SCHEMA` and the runner's own rules."""
    v = _Validator(lines or {}, default_file)
    if not isinstance(data, dict):
        v.error("", f"expected a mapping at the top level, found {_type_name(data)}")
        return v.report
    v.section("", SCHEMA, data)

    runner = data.get("runner")
    has_target = isinstance(runner, dict) and (runner.get("target") or runner.get("module_path"))
    if require_target and not has_target and (runner is None or isinstance(runner, dict)):
        v.error(
            "runner.target",
            'required: set runner.target to "module:function" '
            '(for example "examples.simple_agent:run")',
        )
    if isinstance(runner, dict):
        target = runner.get("target")
        if isinstance(target, str) and target.strip():
            module, sep, attr = target.partition(":")
            if not sep or not module.strip() or not attr.strip():
                v.error(
                    "runner.target",
                    'expected "module:function", "module:Class.method" or '
                    f'"module:object.method", found {target!r}',
                )
        elif isinstance(target, str):
            v.error("runner.target", "expected a non-empty \"module:function\", found ''")
        factory_kwargs = runner.get("factory_kwargs")
        if factory_kwargs and not runner.get("factory"):
            v.warn("runner.factory_kwargs", "ignored without runner.factory")

    base_inputs = data.get("base_inputs")
    if isinstance(base_inputs, list):
        for i, item in enumerate(base_inputs):
            key = join_key("base_inputs", i)
            if isinstance(item, dict):
                if item.get("input") in (None, ""):
                    v.error(join_key(key, "input"), "required key is missing")
            elif not isinstance(item, str):
                v.error(key, f"expected a mapping with 'input' or a string, found {_found(item)}")

    personas = data.get("personas")
    if isinstance(personas, list):
        seen: set[str] = set()
        for i, item in enumerate(personas):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                if item["name"] in seen:
                    v.error(
                        join_key(join_key("personas", i), "name"),
                        f"duplicate persona name {item['name']!r}",
                    )
                seen.add(item["name"])

    out_dir = data.get("output_directory")
    output = data.get("output")
    if (
        isinstance(output, dict)
        and isinstance(out_dir, str)
        and output.get("directory")
        not in (
            None,
            out_dir,
        )
    ):
        v.warn("output.directory", f"overridden by output_directory {out_dir!r}")
    if isinstance(runner, dict) and "iterations" in runner and "iterations" in data:
        v.warn("iterations", "overridden by runner.iterations (the more specific key wins)")
    return v.report


def format_problems(problems: list[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
