"""YAML: the one module that parses it (bounded, with line numbers) and edits it in place.

Configuration YAML is read for ``file:line`` error messages and edited by ``fluxloop config set``
without losing the user's comments. Both go through here, built on PyYAML's composer (whose node
marks give each key's line and each value's exact text span):

Loading
    :func:`load_yaml_file` / :func:`load_yaml_text` return a :class:`YamlDoc`: the data, the
    :class:`Located` line of each key path (``evaluators[1].rules[0].check``) and the keys
    written twice in one mapping (PyYAML silently keeps the last). A read or syntax error is a
    one-line :class:`~fluxloop.errors.ConfigError` such as ``setting.yaml:7: invalid YAML: ...``.
    Every document is composed first and refused when its aliases would expand past
    :data:`MAX_ALIAS_EXPANSION` nodes ("billion laughs"); :func:`safe_load` is the same loader
    for YAML read without positions. Nothing else in FluxLoop parses YAML (a test greps for it).

Editing
    :func:`set_yaml_value` sets one dotted key and keeps every other byte (comments, order,
    quoting): the value's text span is replaced, a missing key is inserted at the end of its
    parent mapping with the parent's indentation, and the result is parsed again and checked
    before it is returned, so a file is never corrupted. :func:`parse_cli_value` types a
    command-line value the way ``config set`` does.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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
    "get_path",
    "join_key",
    "load_yaml_file",
    "load_yaml_text",
    "parse_cli_value",
    "render_scalar",
    "safe_load",
    "set_yaml_value",
    "suggest",
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

    def error(self, key: str, message: str) -> ConfigError:
        """``file:line: key: message`` as a :class:`ConfigError` (raise it)."""
        location = self.where(key)
        return ConfigError(f"{location}: {key}: {message}", key=key, where=location)


def suggest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, or ``''``."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


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
    with _one_line_errors(path, loader):
        node = loader.get_single_node()
    if node is not None:
        _check_expansion(node, path)
    return node


@contextmanager
def _one_line_errors(path: Path, loader: yaml.SafeLoader) -> Iterator[None]:
    """PyYAML's errors as one-line ConfigErrors naming ``path``; the loader disposed of."""
    try:
        yield
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, path) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display_path(path)}: invalid YAML: {exc}") from None
    except RecursionError:
        raise _too_deep(path) from None
    finally:
        loader.dispose()


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
    with _one_line_errors(path, loader):
        data = loader.construct_document(node) if node is not None else None
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


# ---------------------------------------------------------------------------------------------
# editing in place

_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$")


def parse_cli_value(text: str) -> Any:
    """``config set`` typing: int, float, bool, null, a ``[..]``/``{..}`` literal, else str."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    if _INT.match(stripped):
        return int(stripped)
    if _FLOAT.match(stripped):
        return float(stripped)
    if stripped[:1] in "[{":
        try:
            return safe_load(stripped, "the value")
        except ConfigError:
            return text
    return text


def render_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30)
    lines = [line for line in dumped.strip().splitlines() if line.strip() != "..."]
    return " ".join(lines)


def get_path(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(dotted)
    return node


def _last_line(node: yaml.Node) -> int:
    """0-based index of the last line holding ``node``'s text."""
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("|", ">") and node.end_mark.column == 0:
            return max(node.end_mark.line - 1, node.start_mark.line)
        return node.end_mark.line
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if node.flow_style or not node.value:
            return node.end_mark.line
        last = node.value[-1]
        return _last_line(last[1] if isinstance(node, yaml.MappingNode) else last)
    return node.end_mark.line  # pragma: no cover


def _line_start(text: str, line: int) -> int:
    """Offset of the start of 0-based ``line`` (len(text) past the end)."""
    offset = 0
    for _ in range(line):
        nxt = text.find("\n", offset)
        if nxt < 0:
            return len(text)
        offset = nxt + 1
    return offset


def _block(keys: list[str], value: Any, indent: int) -> str:
    out = []
    for depth, key in enumerate(keys[:-1]):
        out.append(" " * (indent + 2 * depth) + f"{key}:\n")
    out.append(" " * (indent + 2 * (len(keys) - 1)) + f"{keys[-1]}: {render_scalar(value)}\n")
    return "".join(out)


def _insert_at_line(text: str, line: int, block: str) -> str:
    pos = _line_start(text, line)
    if pos >= len(text) and text and not text.endswith("\n"):
        return text + "\n" + block
    return text[:pos] + block + text[pos:]


def _is_empty_null(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag.endswith(":null")
        and node.value
        in (
            "",
            "~",
            "null",
            "Null",
            "NULL",
        )
    )


def _edit(text: str, keys: list[str], value: Any, label: str) -> str:
    try:
        root = compose(text, Path(label))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; not edited") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.value == ""):
        prefix = text if not text or text.endswith("\n") else text + "\n"
        return prefix + _block(keys, value, 0)
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{label}: the top level is not a mapping, not edited")
    current: yaml.Node = root
    for i, key in enumerate(keys):
        rest = keys[i:]
        if isinstance(current, yaml.SequenceNode):
            if not key.isdigit() or int(key) >= len(current.value):
                raise ConfigError(f"{label}: {'.'.join(keys[:i])} has no item {key}")
            current = current.value[int(key)]
            continue
        if not isinstance(current, yaml.MappingNode):  # pragma: no cover - guarded below
            raise ConfigError(f"{label}: {'.'.join(keys[:i])} is not a mapping")
        pair = next(
            ((k, v) for k, v in current.value if isinstance(k, yaml.ScalarNode) and k.value == key),
            None,
        )
        if pair is None:
            if current.flow_style:
                raise ConfigError(
                    f"{label}: {'.'.join(keys[:i]) or 'the document'} is a flow mapping "
                    "({...}); edit it by hand"
                )
            indent = current.value[0][0].start_mark.column if current.value else 0
            return _insert_at_line(text, _last_line(current) + 1, _block(rest, value, indent))
        key_node, value_node = pair
        if i == len(keys) - 1:
            if not isinstance(value_node, yaml.ScalarNode):
                kind = "mapping" if isinstance(value_node, yaml.MappingNode) else "list"
                raise ConfigError(
                    f"{label}: {'.'.join(keys)} is a {kind}; set one of its keys instead"
                )
            rendered = render_scalar(value)
            if isinstance(value, str) and value_node.style == '"':
                rendered = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, str) and value_node.style == "'":
                rendered = "'" + value.replace("'", "''") + "'"
            if value_node.start_mark.index == value_node.end_mark.index:  # `key:` with nothing
                colon = text.index(":", key_node.end_mark.index)
                return text[: colon + 1] + " " + rendered + text[colon + 1 :]
            if value_node.style in ("|", ">"):
                rendered += "\n"
            start, end = value_node.start_mark.index, value_node.end_mark.index
            return text[:start] + rendered + text[end:]
        if isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)):
            if value_node.flow_style and isinstance(value_node, yaml.MappingNode):
                nxt = next((v for k, v in value_node.value if k.value == keys[i + 1]), None)
                if nxt is None:
                    raise ConfigError(
                        f"{label}: {'.'.join(keys[: i + 1])} is a flow mapping ({{...}}); "
                        "edit it by hand"
                    )
            current = value_node
            continue
        if _is_empty_null(value_node):
            indent = key_node.start_mark.column + 2
            block = _block(keys[i + 1 :], value, indent)
            if value_node.start_mark.index == value_node.end_mark.index:
                return _insert_at_line(text, key_node.start_mark.line + 1, block)
            start, end = value_node.start_mark.index, value_node.end_mark.index
            edited = text[:start].rstrip(" ") + text[end:]
            return _insert_at_line(edited, key_node.start_mark.line + 1, block)
        raise ConfigError(
            f"{label}: {'.'.join(keys[: i + 1])} is {value_node.value!r}, not a mapping; "
            f"cannot set {'.'.join(keys)}"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def set_yaml_value(text: str, dotted: str, value: Any, *, label: str = "config") -> str:
    """``text`` with ``dotted`` (``a.b.c``) set to ``value``; everything else untouched."""
    keys = [k for k in dotted.split(".") if k]
    if not keys:
        raise ConfigError("config set: empty key")
    edited = _edit(text, keys, value, label)
    data = safe_load(edited, label)  # the bound on alias expansion applies here too
    try:
        ok = get_path(data, ".".join(keys)) == value
    except KeyError:
        ok = False
    if not ok:
        raise ConfigError(
            f"{label}: could not set {dotted} without rewriting the file; edit it by hand"
        )
    return edited
