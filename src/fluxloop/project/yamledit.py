"""Setting one value in a YAML file while keeping every other byte (comments, order, quoting).

The value's text span is located with PyYAML's node marks and replaced in place; a missing key is
inserted as new lines at the end of its parent mapping with the parent's indentation. The result
is parsed again and checked before it is returned, so a file is never corrupted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from fluxloop.errors import ConfigError
from fluxloop.project.yamlpos import compose, safe_load

__all__ = ["get_path", "parse_cli_value", "render_scalar", "set_yaml_value"]

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
