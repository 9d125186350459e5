"""YAML reading with line numbers, and atomic text writes.

``load_yaml_file`` parses once with PyYAML's safe loader and keeps, for every key path, the line
where the key was written, so validation can say ``setting.yaml:7: runner.timeout_seconds: ...``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fluxloop.errors import ConfigError

__all__ = [
    "Located",
    "YamlDoc",
    "atomic_write_text",
    "display_path",
    "join_key",
    "load_yaml_file",
    "load_yaml_text",
]


@dataclass(frozen=True)
class Located:
    """Where a key was written: file and 1-based line."""

    file: Path
    line: int

    def __str__(self) -> str:
        return f"{display_path(self.file)}:{self.line}"


@dataclass
class YamlDoc:
    """A parsed YAML document and the location of each key path (``a.b[0].c``)."""

    path: Path
    data: Any
    lines: dict[str, Located] = field(default_factory=dict)
    duplicates: list[tuple[str, Located, Located]] = field(default_factory=list)


def display_path(path: Path) -> str:
    """The path relative to the current directory when it is below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def join_key(prefix: str, key: object) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def _index_node(
    node: yaml.Node,
    prefix: str,
    path: Path,
    out: dict[str, Located],
    dups: list[tuple[str, Located, Located]],
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, Located] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = join_key(prefix, key_node.value)
            here = Located(path, key_node.start_mark.line + 1)
            if key in seen:
                dups.append((key, seen[key], here))
            seen[key] = here
            out[key] = here
            _index_node(value_node, key, path, out, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = join_key(prefix, i)
            out[key] = Located(path, item.start_mark.line + 1)
            _index_node(item, key, path, out, dups)


def load_yaml_text(text: str, path: Path) -> YamlDoc:
    """Parse ``text``; a syntax error becomes a one-line :class:`ConfigError` with file:line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{display_path(path)}:{mark.line + 1}" if mark else display_path(path)
        problem = exc.problem or exc.context or "syntax error"
        raise ConfigError(
            f"{where}: invalid YAML: {problem}", where=where, expected="valid YAML"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display_path(path)}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[str, Located] = {}
    dups: list[tuple[str, Located, Located]] = []
    if node is not None:
        _index_node(node, "", path, lines, dups)
    return YamlDoc(path=path, data=data, lines=lines, duplicates=dups)


def load_yaml_file(path: Path) -> YamlDoc:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display_path(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display_path(path)}: cannot read: {exc}") from None
    return load_yaml_text(text, path)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
