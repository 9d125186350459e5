"""Inputs of an experiment: an inputs file (ours and the original's formats) or base_inputs x
personas.

Accepted inputs files (YAML, JSON or JSONL):

* a plain list of entries;
* a mapping with ``generated_inputs:`` (the seeds' run.md) or ``inputs:`` (the original's
  generator, old and new writers) holding that list; other top-level keys are ignored.

An entry is a string or a mapping with a non-empty ``input``; the persona is the entry's
``persona`` or ``metadata.persona``; the metadata is ``metadata`` plus any other keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop._files import read_jsonl
from fluxloop.errors import InputError

from .config import ExperimentConfig
from .yaml import Located, display_path, join_key, load_yaml_file

__all__ = ["InputItem", "InputSet", "load_inputs", "parse_inputs_data"]

_LIST_KEYS = ("generated_inputs", "inputs")
DEFAULT_INPUTS_FILE = Path("inputs") / "generated.yaml"


@dataclass(frozen=True)
class InputItem:
    index: int
    input: Any
    persona: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    source: str = "base_inputs"
    where: str | None = None
    """``file:line`` of the entry in an inputs file, for messages."""


@dataclass
class InputSet:
    items: list[InputItem]
    source: str
    path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def personas(self) -> list[str | None]:
        seen: dict[str | None, None] = {}
        for item in self.items:
            seen.setdefault(item.persona, None)
        return list(seen)


def _entry(
    raw: object, index: int, key: str, where: Located | None, source: str, problems: list[str]
) -> InputItem | None:
    loc = f"{where}: " if where else ""
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        return InputItem(index=index, input=str(raw), source=source)
    if not isinstance(raw, Mapping):
        problems.append(
            f"{loc}{key}: expected a mapping with 'input' or a string, found {type(raw).__name__}"
        )
        return None
    value = raw.get("input")
    if value is None or value == "":
        problems.append(f"{loc}{key}.input: required key is missing")
        return None
    meta_raw = raw.get("metadata")
    metadata: dict[str, Any] = dict(meta_raw) if isinstance(meta_raw, Mapping) else {}
    for k, v in raw.items():
        if k not in ("input", "persona", "metadata"):
            metadata.setdefault(str(k), v)
    persona = raw.get("persona")
    if persona is None:
        persona = metadata.get("persona")
    if isinstance(persona, Mapping):
        persona = persona.get("name")
    return InputItem(
        index=index,
        input=value,
        persona=str(persona) if persona not in (None, "") else None,
        metadata=metadata,
        source=source,
        where=f"{where}: {'' if key.startswith('line ') else key + '.'}persona"
        if where is not None
        else key,
    )


def _check_personas(items: Sequence[InputItem], config: ExperimentConfig) -> None:
    """An input naming a persona the config does not define is an error: it would run as a
    bare persona (no description, no simulated-user setup) without a word."""
    known = {p.name for p in config.personas}
    for item in items:
        if item.persona is not None and item.persona not in known:
            listed = ", ".join(sorted(known)) or "none are defined"
            raise InputError(
                f"{item.where or item.source}: unknown persona {item.persona!r} (known: "
                f"{listed}); define it under personas: or fix the inputs file",
                key="personas",
            )


def parse_inputs_data(
    data: object, path: Path, lines: Mapping[str, Located] | None = None
) -> list[InputItem]:
    """Turn the parsed content of an inputs file into items (all problems at once)."""
    lines = lines or {}
    prefix = ""
    entries: Sequence[object]
    if isinstance(data, list):
        entries = data
    elif isinstance(data, Mapping):
        for key in _LIST_KEYS:
            if isinstance(data.get(key), list):
                entries, prefix = data[key], key
                break
        else:
            present = next((key for key in _LIST_KEYS if key in data), None)
            if present is not None:  # the key is there, its value is not a list
                raise InputError(
                    f"{display_path(path)}: {present}: expected a list of inputs, found "
                    f"{type(data[present]).__name__} {data[present]!r:.60}",
                    key="inputs_file",
                )
            raise InputError(
                f"{display_path(path)}: expected a list of inputs or a mapping with "
                f"'generated_inputs:' or 'inputs:', found keys {sorted(map(str, data))[:6]}",
                key="inputs_file",
            )
    elif data is None:
        entries = []
    else:
        raise InputError(
            f"{display_path(path)}: expected a list of inputs, found {type(data).__name__}",
            key="inputs_file",
        )
    problems: list[str] = []
    items: list[InputItem] = []
    source = f"inputs_file:{path.name}"
    for i, raw in enumerate(entries):
        key = join_key(prefix, i)
        where = lines.get(key) or Located(path, 0)
        item = _entry(
            raw, len(items), key or f"[{i}]", where if where.line else None, source, problems
        )
        if item is not None:
            items.append(item)
    if problems:
        raise InputError("\n".join(problems), key="inputs_file")
    return items


def _read_inputs_file(path: Path) -> list[InputItem]:
    if not path.is_file():
        raise InputError(f"{display_path(path)}: inputs file not found", key="inputs_file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        problems: list[str] = []
        items: list[InputItem] = []
        for line in read_jsonl(path):
            if line.error is not None:
                problems.append(f"{display_path(path)}:{line.number}: invalid JSON: {line.error}")
                continue
            item = _entry(
                line.value,
                len(items),
                f"line {line.number}",
                Located(path, line.number),
                f"inputs_file:{path.name}",
                problems,
            )
            if item is not None:
                items.append(item)
        if problems:
            raise InputError("\n".join(problems), key="inputs_file")
        return items
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{display_path(path)}:{exc.lineno}: invalid JSON: {exc.msg}", key="inputs_file"
            ) from None
        return parse_inputs_data(data, path)
    try:
        doc = load_yaml_file(path)
    except InputError:
        raise
    except Exception as exc:  # ConfigError from the YAML reader
        raise InputError(str(exc), key="inputs_file") from None
    return parse_inputs_data(doc.data, path, doc.lines)


def _from_base_inputs(config: ExperimentConfig) -> list[InputItem]:
    items: list[InputItem] = []
    persona_names = [p.name for p in config.personas]
    for base_index, base in enumerate(config.base_inputs):
        meta_raw = base.get("metadata")
        metadata: dict[str, Any] = dict(meta_raw) if isinstance(meta_raw, Mapping) else {}
        for k, v in base.items():
            if k not in ("input", "persona", "metadata"):
                metadata.setdefault(str(k), v)
        metadata["base_index"] = base_index
        own = base.get("persona")
        names: list[str | None] = [str(own)] if own else list(persona_names) or [None]
        for name in names:
            items.append(
                InputItem(
                    index=len(items),
                    input=base["input"],
                    persona=name,
                    metadata=metadata,
                    source="base_inputs",
                )
            )
    return items


def load_inputs(
    config: ExperimentConfig,
    override: Path | None = None,
    *,
    personas: Sequence[str] | None = None,
) -> InputSet:
    """The experiment's inputs: ``override`` (``--inputs``) > ``inputs_file`` > base_inputs."""
    notes: list[str] = []
    if override is not None:
        items = _read_inputs_file(override)
        result = InputSet(items, f"--inputs {display_path(override)}", override, notes)
    elif config.inputs_file is not None and config.inputs_file.is_file():
        items = _read_inputs_file(config.inputs_file)
        result = InputSet(items, display_path(config.inputs_file), config.inputs_file, notes)
    elif config.inputs_file is None and (config.project_dir / DEFAULT_INPUTS_FILE).is_file():
        # seed 002: --inputs defaults to inputs/generated.yaml, so what `generate inputs` just
        # wrote is what runs, even beside base_inputs (seed 003 "Test with Recording")
        default = config.project_dir / DEFAULT_INPUTS_FILE
        items = _read_inputs_file(default)
        result = InputSet(items, f"{display_path(default)}, the default --inputs", default, notes)
    else:
        if config.inputs_file is not None:
            if not config.base_inputs:
                raise InputError(
                    f"{display_path(config.inputs_file)}: inputs file not found and no "
                    "base_inputs configured; run `fluxloop generate inputs` or add base_inputs",
                    key="inputs_file",
                )
            notes.append(
                f"inputs file {display_path(config.inputs_file)} not found; using base_inputs"
                + (" x personas" if config.personas else "")
                + " (create it with `fluxloop generate inputs`)"
            )
        items = _from_base_inputs(config)
        label = "base_inputs x personas" if config.personas else "base_inputs"
        result = InputSet(items, label, None, notes)
    if result.path is not None:
        _check_personas(result.items, config)
    if personas:
        wanted = set(personas)
        unknown = wanted - {p for p in result.personas if p}
        if unknown and not any(item.persona in wanted for item in result.items):
            raise InputError(
                f"--personas: no inputs for {', '.join(sorted(unknown))} "
                f"(known: {', '.join(sorted(p for p in result.personas if p)) or 'none'})",
                key="--personas",
            )
        result.items = [
            InputItem(i, it.input, it.persona, it.metadata, it.source)
            for i, it in enumerate(x for x in result.items if x.persona in wanted)
        ]
    if not result.items:
        raise InputError(
            f"no inputs to run ({result.source} is empty); add base_inputs or generate inputs",
            key="inputs_file",
        )
    return result
