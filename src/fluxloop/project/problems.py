"""Config validation against :mod:`.schema`: every problem at once, each with file:line.

pydantic validates the whole mapping in one pass; this module is the one place its errors
become FluxLoop's lines: ``setting.yaml:7: runner.timeout_seconds: expected a number > 0,
found -1``. An unknown key close to a known one (difflib) is an error with a suggestion; an
unknown key with no close match is a warning, so extensions and other tools' keys still load.
The rules that span several keys (the runner target, duplicate persona names) follow the
schema here, so a config with several kinds of mistakes reports them all together.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, Discriminator, ValidationError
from pydantic.fields import FieldInfo

from fluxloop.errors import ConfigError

from .schema import (
    EVALUATION_KEYS,
    EVALUATOR_TYPE_ALIASES,
    EVALUATOR_TYPES,
    Expect,
    FluxLoopConfig,
    evaluator_type,
)
from .yaml import Located, join_key, suggest

__all__ = [
    "ConfigProblems",
    "ConfigRule",
    "Problem",
    "ValidationReport",
    "found_text",
    "schema_report",
    "validate_config",
]


@dataclass(frozen=True)
class Problem:
    """One problem (or warning): the key path, the message and where the key was written."""

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

    @property
    def section(self) -> str:
        """The top-level key the problem is under (``runner`` for ``runner.target``)."""
        return self.key.split(".", 1)[0].split("[", 1)[0]


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


#: a capability's own check of the merged mapping: ``(key, message)`` for each problem
ConfigRule = Callable[[Mapping[str, Any]], Iterable[tuple[str, str]]]


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
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def found_text(value: object) -> str:
    """How a found value is shown: ``'three'``, ``5 (an integer)``, ``a list``."""
    if isinstance(value, (dict, list)):
        return _type_name(value)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({_type_name(value)})" if not isinstance(value, str) else text


def _fmt(value: object) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return found_text(value)


# --- reading the models: what a key expects ----------------------------------------------------


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """``tp`` without ``Annotated`` and ``None`` branches, and the metadata it carried."""
    meta: list[Any] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            base, *extra = typing.get_args(tp)
            for item in extra:
                meta.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            tp = base
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, meta
            tp = args[0]
        else:
            return tp, meta


def _field_type(info: FieldInfo) -> Any:
    if not info.metadata:
        return info.annotation
    return Annotated.__class_getitem__((info.annotation, *info.metadata))  # type: ignore[attr-defined]


def _tags(union: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for member in typing.get_args(union):
        for item in typing.get_args(member)[1:] if typing.get_origin(member) is Annotated else ():
            tag = getattr(item, "tag", None)
            if isinstance(tag, str):
                out[tag] = member
    return out


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _bounds(meta: list[Any]) -> str:
    parts = []
    for item in meta:
        for cls, attr, sign in (
            (annotated_types.Gt, "gt", ">"),
            (annotated_types.Ge, "ge", ">="),
            (annotated_types.Lt, "lt", "<"),
            (annotated_types.Le, "le", "<="),
        ):
            if isinstance(item, cls):
                parts.append(f"{sign} {_fmt(getattr(item, attr))}")
    return " and ".join(parts)


def describe(tp: Any) -> str:
    """What a value of type ``tp`` must be, in words (``an integer >= 0 and <= 100``)."""
    base, meta = _unwrap(tp)
    for item in meta:
        if isinstance(item, Expect):
            return item.text
    if typing.get_origin(base) is Literal:
        return "one of " + ", ".join(str(v) for v in typing.get_args(base))
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    origin = typing.get_origin(base) or base
    if base in words:
        text = words[base]
    elif origin in (list, tuple):
        text = "a list"
    elif origin is dict or _is_model(base):
        text = "a mapping"
    else:
        text = "a value"
    bounds = _bounds(meta)
    return f"{text} {bounds}" if bounds else text


@dataclass
class _Spot:
    """Where an error's location leads in the models."""

    key: str = ""
    tp: Any = None
    info: FieldInfo | None = None
    parent: type[BaseModel] | None = None
    union: Any = None  # the tagged union the error is about, when it stopped at one
    unknown: bool = False


def _resolve(root: type[BaseModel], loc: tuple[int | str, ...]) -> _Spot:
    spot = _Spot(tp=root)
    for part in loc:
        base, meta = _unwrap(spot.tp)
        spot.union = None
        if typing.get_origin(base) in (typing.Union, types.UnionType):
            tags = _tags(base)
            if isinstance(part, str) and part in tags:
                spot.tp = tags[part]
                continue
            spot.union = (base, meta)
            break
        if _is_model(base):
            spot.parent = base
            spot.key = join_key(spot.key, str(part))
            info = base.model_fields.get(str(part))
            if info is None:
                spot.unknown, spot.tp, spot.info = True, Any, None
                return spot
            spot.tp, spot.info = _field_type(info), info
            continue
        origin = typing.get_origin(base)
        spot.key = join_key(spot.key, part)
        args = typing.get_args(base)
        spot.info = None
        if origin is list and args:
            spot.tp = args[0]
        elif origin is dict and len(args) == 2:
            spot.tp = args[1]
        else:
            spot.tp = Any
    base, meta = _unwrap(spot.tp)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        spot.union = (base, meta)
    return spot


def _discriminator(meta: list[Any]) -> Any:
    for item in meta:
        if isinstance(item, Discriminator):
            return item.discriminator
    return None


# --- errors to problems ------------------------------------------------------------------------

_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


@functools.cache
def leaf_owners(root: type[BaseModel]) -> dict[str, str]:
    """``timeout_seconds -> runner.timeout_seconds``: a section's key written at the top level.

    The runner's keys come first (the usual mistake), the evaluation sections last."""
    owners: dict[str, str] = {}
    names = sorted(root.model_fields, key=lambda n: (n != "runner", n in EVALUATION_KEYS))
    for name in names:
        section, _ = _unwrap(_field_type(root.model_fields[name]))
        if _is_model(section):
            for leaf in section.model_fields:
                owners.setdefault(leaf, f"{name}.{leaf}")
    return owners


class _Mapper:
    def __init__(
        self,
        root: type[BaseModel],
        lines: Mapping[str, Located],
        default_file: str | None,
        report: ValidationReport,
    ) -> None:
        self.root = root
        self.lines = lines
        self.default_file = default_file
        self.report = report
        self.owners = leaf_owners(root)

    def where(self, key: str) -> Located | None:
        loc = self.lines.get(key)
        if loc is None and "." in key:
            # a missing child: point at its parent mapping
            loc = self.lines.get(key.rsplit(".", 1)[0])
        if loc is None and "[" in key:
            loc = self.lines.get(key.rsplit("[", 1)[0])
        return loc

    def error(self, key: str, message: str) -> None:
        self.report.problems.append(Problem(key, message, self.where(key), self.default_file))

    def warn(self, key: str, message: str) -> None:
        self.report.warnings.append(Problem(key, message, self.where(key), self.default_file))

    def add(self, err: Any) -> None:
        spot = _resolve(self.root, tuple(err["loc"]))
        kind: str = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden" or spot.unknown:
            self.unknown(spot)
            return
        if spot.union is not None:
            _, meta = spot.union
            if _discriminator(meta) is evaluator_type:
                self.evaluator_type(spot.key, kind, value)
                return
        required = spot.info is not None and spot.info.is_required()
        if kind == "missing" or (required and value in (None, "")):
            self.error(spot.key, "required key is missing")
        elif kind == "fluxloop":
            self.error(spot.key, err["msg"])
        elif kind == "literal_error":
            choices = typing.get_args(_unwrap(spot.tp)[0])
            hint = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else ""
            self.error(spot.key, f"expected {describe(spot.tp)}, found {found_text(value)}{hint}")
        elif kind in _BOUND_ERRORS:
            self.error(spot.key, f"expected {describe(spot.tp)}, found {_fmt(value)}")
        else:
            self.error(spot.key, f"expected {describe(spot.tp)}, found {found_text(value)}")

    def evaluator_type(self, key: str, kind: str, value: object) -> None:
        types_ = ", ".join(EVALUATOR_TYPES)
        if kind == "union_tag_invalid" and isinstance(value, dict):
            raw = str(value.get("type"))
            hint = suggest(raw, [*EVALUATOR_TYPES, *EVALUATOR_TYPE_ALIASES])
            self.error(
                join_key(key, "type"),
                f"unknown evaluator type {raw!r}{hint}; expected one of {types_}",
            )
        elif isinstance(value, dict):
            self.error(key, f"missing type (one of {types_})")
        else:
            self.error(key, f"expected a mapping with name and type, found {found_text(value)}")

    def unknown(self, spot: _Spot) -> None:
        key = spot.key
        prefix, _, name = key.rpartition(".")
        known = list(spot.parent.model_fields) if spot.parent is not None else []
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        better: str | None = join_key(prefix, close[0]) if close else None
        if better is None and not prefix and spot.parent is self.root:
            better = self.owners.get(name)
            if better is None:
                leaf = difflib.get_close_matches(name, list(self.owners), n=1, cutoff=0.85)
                better = self.owners[leaf[0]] if leaf else None
        if better:
            self.error(key, f"unknown key (did you mean {better!r}?)")
        else:
            self.warn(key, "unknown key, ignored")


def schema_report(
    data: object,
    lines: Mapping[str, Located] | None = None,
    *,
    default_file: str | None = None,
    model: type[BaseModel] = FluxLoopConfig,
) -> ValidationReport:
    """Validate ``data`` against ``model``: every error and unknown-key warning, none raised."""
    report = ValidationReport()
    mapper = _Mapper(model, lines or {}, default_file, report)
    if not isinstance(data, dict):
        mapper.error("", f"expected a mapping at the top level, found {_type_name(data)}")
        return report
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            mapper.add(err)
    return report


def validate_config(
    data: object,
    lines: Mapping[str, Located] | None = None,
    *,
    require_target: bool = True,
    default_file: str | None = None,
    rules: Sequence[ConfigRule] = (),
) -> ValidationReport:
    """Check a merged config mapping against the schema and the rules spanning several keys.

    ``rules``: a capability's own checks (``generate inputs``' strategy names), reported with
    the others so every problem shows at once."""
    report = schema_report(data, lines, default_file=default_file)
    if isinstance(data, dict):
        mapper = _Mapper(FluxLoopConfig, lines or {}, default_file, report)
        _Rules(mapper).check(data, require_target=require_target)
        for rule in rules:
            for key, message in rule(data):
                mapper.error(key, message)
    return report


class _Rules:
    """What no single key says: the target's form, duplicate names, overridden keys."""

    def __init__(self, mapper: _Mapper) -> None:
        self.m = mapper

    def check(self, data: dict[str, Any], *, require_target: bool) -> None:
        runner = data.get("runner")
        self.target(runner, require_target=require_target)
        personas = data.get("personas")
        if isinstance(personas, list):
            seen: set[str] = set()
            for i, item in enumerate(personas):
                if isinstance(item, dict) and isinstance(item.get("name"), str):
                    if item["name"] in seen:
                        self.m.error(
                            join_key(join_key("personas", i), "name"),
                            f"duplicate persona name {item['name']!r}",
                        )
                    seen.add(item["name"])
        out_dir = data.get("output_directory")
        output = data.get("output")
        if (
            isinstance(output, dict)
            and isinstance(out_dir, str)
            and output.get("directory") not in (None, out_dir)
        ):
            self.m.warn("output.directory", f"overridden by output_directory {out_dir!r}")
        if isinstance(runner, dict) and "iterations" in runner and "iterations" in data:
            self.m.warn(
                "iterations", "overridden by runner.iterations (the more specific key wins)"
            )

    def target(self, runner: object, *, require_target: bool) -> None:
        has_target = isinstance(runner, dict) and (
            runner.get("target") or runner.get("module_path")
        )
        if require_target and not has_target and (runner is None or isinstance(runner, dict)):
            self.m.error(
                "runner.target",
                'required: set runner.target to "module:function" '
                '(for example "examples.simple_agent:run")',
            )
        if not isinstance(runner, dict):
            return
        target = runner.get("target")
        if isinstance(target, str) and target.strip():
            module, sep, attr = target.partition(":")
            if not sep or not module.strip() or not attr.strip():
                self.m.error(
                    "runner.target",
                    'expected "module:function", "module:Class.method" or '
                    f'"module:object.method", found {target!r}',
                )
        elif isinstance(target, str):
            self.m.error("runner.target", "expected a non-empty \"module:function\", found ''")
        if runner.get("factory_kwargs") and not runner.get("factory"):
            self.m.warn("runner.factory_kwargs", "ignored without runner.factory")
