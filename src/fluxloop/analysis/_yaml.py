"""YAML with line numbers (for ``file:line`` in configuration errors) and name suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fluxloop.errors import ConfigError

from ._jsonl import where

__all__ = ["LocatedYaml", "load_yaml", "suggest"]


def suggest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, or ``''``."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class LocatedYaml:
    """A parsed YAML file and the line of each key path (``evaluators[1].rules[0].check``)."""

    def __init__(self, path: Path, data: Any, lines: dict[str, int]) -> None:
        self.path = path
        self.data = data
        self._lines = lines

    def at(self, key: str) -> str:
        """``file:line`` of ``key`` (or of its nearest located parent)."""
        probe = key
        while probe:
            if probe in self._lines:
                return where(self.path, self._lines[probe])
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return where(self.path)

    def error(self, key: str, message: str) -> ConfigError:
        location = self.at(key)
        return ConfigError(f"{location}: {key}: {message}", key=key, where=location)


def _index(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
                out[key] = key_node.start_mark.line + 1
                _index(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = item.start_mark.line + 1
            _index(item, key, out)


def load_yaml(path: Path) -> LocatedYaml:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where(path)}: cannot read: {exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            f"{where(path, line)}: invalid YAML: {exc.problem or exc.context or 'syntax error'}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where(path)}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {}
    if node is not None:
        _index(node, "", lines)
    return LocatedYaml(path, data, lines)
