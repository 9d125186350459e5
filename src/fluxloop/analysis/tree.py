"""The span tree of contract-v1 observation records, as data.

One tree for every view of a run's spans: the run page's waterfall (:mod:`fluxloop.ui`) and the
terminal tree of ``fluxloop run single`` and the demo (:func:`fluxloop.cli.render.span_tree_lines`)
both draw the list this returns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from .experiment import parse_time

__all__ = ["span_tree"]


def span_tree(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the records in depth-first order (children by start time) with ``depth``,
    ``child_count``, ``offset_ms`` (from the first start) and ``duration_ms`` (None when a
    time is unreadable); orphans become roots, a cycle in parent ids shows each record once."""
    items = [dict(r) for r in records]
    ids = {r.get("id") for r in items}
    starts = [parse_time(r.get("start_time")) for r in items]
    known = [s for s in starts if s is not None]
    origin = min(known) if known else None
    for record, start in zip(items, starts, strict=True):
        end = parse_time(record.get("end_time"))
        record["offset_ms"] = (start - origin).total_seconds() * 1000 if start and origin else 0.0
        record["duration_ms"] = (end - start).total_seconds() * 1000 if start and end else None
    children: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for record in items:
        parent = record.get("parent_observation_id")
        children[parent if parent in ids and parent != record.get("id") else None].append(record)
    for siblings in children.values():
        siblings.sort(key=lambda r: r["offset_ms"])
    out: list[dict[str, Any]] = []
    seen: set[int] = set()

    def walk(record: dict[str, Any], depth: int) -> None:
        if id(record) in seen:
            return
        seen.add(id(record))
        record["depth"] = depth
        record["child_count"] = len(children.get(record.get("id"), []))
        out.append(record)
        for child in children.get(record.get("id"), []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    for record in items:  # records only reachable through a cycle
        if id(record) not in seen:
            walk(record, 0)
    return out
