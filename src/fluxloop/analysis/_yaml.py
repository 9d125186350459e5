"""Evaluation-config YAML: :class:`LocatedYaml` errors with ``file:line``, and name suggestions.

Loading with positions is :mod:`fluxloop.project.yamlpos` (shared with the runner); this module adds
only the analysis-side conveniences on top.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from fluxloop.errors import ConfigError
from fluxloop.project.yamlpos import YamlDoc, load_yaml_file

__all__ = ["LocatedYaml", "load_yaml", "suggest"]


def suggest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, or ``''``."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


class LocatedYaml(YamlDoc):
    """A parsed YAML file and the line of each key path (``evaluators[1].rules[0].check``)."""

    def at(self, key: str) -> str:
        """``file:line`` of ``key`` (or of its nearest located parent)."""
        return self.where(key)

    def error(self, key: str, message: str) -> ConfigError:
        """``file:line: key: message`` as a :class:`ConfigError` (raise it)."""
        location = self.at(key)
        return ConfigError(f"{location}: {key}: {message}", key=key, where=location)


def load_yaml(path: Path) -> LocatedYaml:
    """Load an evaluation config; read and syntax errors are one-line :class:`ConfigError`."""
    doc = load_yaml_file(path)
    return LocatedYaml(doc.path, doc.data, doc.lines, doc.duplicates)
