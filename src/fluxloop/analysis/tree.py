"""Render contract-v1 observation records as an indented tree (``run single``, the demo)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["render_tree"]


def _duration_ms(record: Mapping[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(record["start_time"]))
        end = datetime.fromisoformat(str(record["end_time"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds() * 1000


def _preview(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(record: Mapping[str, Any], width: int) -> str:
    parts = [f"[{record.get('type', 'span')}] {record.get('name', '?')}"]
    duration = _duration_ms(record)
    if duration is not None:
        parts.append(f"{duration:.1f} ms")
    tokens = record.get("total_tokens")
    if tokens:
        parts.append(f"{tokens} tokens")
    if record.get("error"):
        parts.append(f"ERROR {record['error']}")
    elif record.get("output") is not None and width > 0:
        parts.append("→ " + _preview(record["output"], width))
    return "  ".join(parts)


def render_tree(observations: Iterable[Mapping[str, Any]], *, preview_width: int = 60) -> str:
    """An indented tree per trace, children in start order; orphans are shown as roots."""
    records = list(observations)
    ids = {r.get("id") for r in records}
    children: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        parent = record.get("parent_observation_id")
        children[parent if parent in ids else None].append(record)
    for siblings in children.values():
        siblings.sort(key=lambda r: str(r.get("start_time", "")))
    lines: list[str] = []

    def walk(record: Mapping[str, Any], prefix: str, last: bool, root: bool) -> None:
        connector = "" if root else ("└─ " if last else "├─ ")
        lines.append(prefix + connector + _label(record, preview_width))
        kids = children.get(record.get("id"), [])
        extension = "" if root else ("   " if last else "│  ")
        for index, kid in enumerate(kids):
            walk(kid, prefix + extension, index == len(kids) - 1, False)

    roots = children.get(None, [])
    for root in roots:
        lines.append(f"trace {root.get('trace_id', '?')}")
        walk(root, "  ", True, True)
    return "\n".join(lines)
