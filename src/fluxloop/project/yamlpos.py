"""YAML with positions: parse once, remember the line of every key path.

The one place FluxLoop loads configuration YAML for ``file:line`` error messages. Both the
runner (``setting.yaml``, inputs files) and analysis (``evaluation`` configs) use it, so it sits
below both layers and depends on nothing but PyYAML and :mod:`fluxloop.errors`.

* :func:`load_yaml_file` / :func:`load_yaml_text` return a :class:`YamlDoc`: the data, the
  :class:`Located` line of each key path (``evaluators[1].rules[0].check``) and the keys written
  twice in one mapping (PyYAML silently keeps the last).
* A read or syntax error is a one-line :class:`~fluxloop.errors.ConfigError` such as
  ``setting.yaml:7: invalid YAML: ...``.
* Every document is composed first and refused when its aliases would expand past
  :data:`MAX_ALIAS_EXPANSION` nodes ("billion laughs"); :func:`safe_load` is the same loader
  for YAML read without positions. Nothing in FluxLoop calls ``yaml.safe_load`` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fluxloop.errors import ConfigError

__all__ = [
    "MAX_ALIAS_EXPANSION",
    "Located",
    "YamlDoc",
    "compose",
    "display_path",
    "join_key",
    "load_yaml_file",
    "load_yaml_text",
    "safe_load",
]


def display_path(path: Path) -> str:
    """The path relative to the current directory when it is below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def join_key(prefix: str, key: object) -> str:
    """Extend a key path: ``join_key("a", "b") == "a.b"``, ``join_key("a", 0) == "a[0]"``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


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
    """``(key path, first, again)`` for each key written twice in one mapping."""

    def locate(self, key: str) -> Located | None:
        """The location of ``key``, else of its nearest located parent, else ``None``."""
        probe = key
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return None

    def where(self, key: str) -> str:
        """``file:line`` of ``key`` (or of its nearest located parent, or just the file)."""
        found = self.locate(key)
        return str(found) if found is not None else display_path(self.path)


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


MAX_ALIAS_EXPANSION = 100_000
"""Nodes that aliases (``*name``) may add to a document when expanded. A few kilobytes of
nested aliases can expand to billions of nodes ("billion laughs"); past this bound a document
is refused before anything walks it."""


def _expanded_sizes(root: yaml.Node) -> tuple[int, int]:
    """``(distinct nodes, nodes once every alias is expanded)``, in time linear in the
    distinct nodes (sizes of shared subtrees are remembered, never re-walked)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if not children_done and id(node) in open_nodes:
            raise _Recursive(node)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            sizes[id(node)] = 1
            continue
        if children_done:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            open_nodes.discard(id(node))
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return len(sizes), sizes[id(root)]


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _check_expansion(node: yaml.Node, path: Path) -> None:
    try:
        distinct, expanded = _expanded_sizes(node)
    except _Recursive as exc:
        where = f"{display_path(path)}:{exc.node.start_mark.line + 1}"
        raise ConfigError(
            f"{where}: a YAML alias refers to a node that contains it (a recursive "
            "structure); refused",
            where=where,
            expected="aliases to complete nodes only",
        ) from None
    if expanded - distinct > MAX_ALIAS_EXPANSION:
        where = f"{display_path(path)}:{node.start_mark.line + 1}"
        raise ConfigError(
            f"{where}: YAML aliases expand to {expanded:,} nodes from {distinct:,} written "
            f"(at most {MAX_ALIAS_EXPANSION:,} more through aliases); refused",
            where=where,
            expected=f"at most {MAX_ALIAS_EXPANSION:,} nodes added by aliases",
        )


def compose(text: str, path: Path) -> yaml.Node | None:
    """The node graph of ``text`` (aliases not expanded), checked against the expansion
    bound; a syntax error is a one-line :class:`ConfigError`."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display_path(path)}: invalid YAML: {exc}") from None
    except RecursionError:
        raise _too_deep(path) from None
    finally:
        loader.dispose()
    if node is not None:
        _check_expansion(node, path)
    return node


def _too_deep(path: Path) -> ConfigError:
    return ConfigError(
        f"{display_path(path)}: invalid YAML: nested too deeply",
        where=display_path(path),
        expected="at most a few hundred levels of nesting",
    )


def _syntax_error(exc: yaml.MarkedYAMLError, path: Path) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    where = f"{display_path(path)}:{mark.line + 1}" if mark else display_path(path)
    problem = exc.problem or exc.context or "syntax error"
    return ConfigError(f"{where}: invalid YAML: {problem}", where=where, expected="valid YAML")


def safe_load(text: str, label: str = "<text>") -> Any:
    """``yaml.safe_load`` with the alias expansion bound: every YAML FluxLoop reads without
    needing key positions goes through here (``label`` names it in errors).

    Raises:
        ConfigError: invalid YAML, or aliases that expand past :data:`MAX_ALIAS_EXPANSION`.
    """
    return load_yaml_text(text, Path(label), positions=False).data


def load_yaml_text(text: str, path: Path, *, positions: bool = True) -> YamlDoc:
    """Parse ``text`` (read from ``path``) with PyYAML's safe loader, keeping key positions
    (unless ``positions`` is false).

    Raises:
        ConfigError: ``path:line: invalid YAML: <problem>`` on a syntax error, and
        ``path:line: YAML aliases expand to N nodes ...`` past :data:`MAX_ALIAS_EXPANSION`.
    """
    node = compose(text, path)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display_path(path)}: invalid YAML: {exc}") from None
    except RecursionError:
        raise _too_deep(path) from None
    finally:
        loader.dispose()
    lines: dict[str, Located] = {}
    dups: list[tuple[str, Located, Located]] = []
    if node is not None and positions:
        _index_node(node, "", path, lines, dups)
    return YamlDoc(path=path, data=data, lines=lines, duplicates=dups)


def load_yaml_file(path: Path) -> YamlDoc:
    """Read ``path`` as UTF-8 and parse it like :func:`load_yaml_text`.

    Raises:
        ConfigError: ``path: file not found``, ``path: cannot read: ...`` or invalid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{display_path(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display_path(path)}: cannot read: {exc}") from None
    return load_yaml_text(text, path)
