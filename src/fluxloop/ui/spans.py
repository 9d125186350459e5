"""The difference between two runs' span trees for the compare page: tools called in one
run and not the other, the same tool called with different arguments, errors new in B.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["span_diff"]


def _args(record: Mapping[str, Any]) -> str:
    return json.dumps(record.get("input"), sort_keys=True, ensure_ascii=False, default=str)


def _tools(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    calls: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("type") == "tool":
            calls[str(record.get("name"))].append(record)
    return calls


def span_diff(
    spans_a: list[Mapping[str, Any]], spans_b: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """What differs between two runs' spans, most telling first. Each item names the span ids
    involved on each side so the page can highlight them."""
    tools_a, tools_b = _tools(spans_a), _tools(spans_b)
    diffs: list[dict[str, Any]] = []
    for name in sorted(set(tools_a) | set(tools_b)):
        calls_a, calls_b = tools_a.get(name, []), tools_b.get(name, [])
        if calls_a and not calls_b:
            diffs.append(
                {
                    "kind": "tool_only_in_a",
                    "text": f"tool {name} called in A, not in B",
                    "a": [c.get("id") for c in calls_a],
                    "b": [],
                }
            )
        elif calls_b and not calls_a:
            diffs.append(
                {
                    "kind": "tool_only_in_b",
                    "text": f"tool {name} called in B, not in A",
                    "a": [],
                    "b": [c.get("id") for c in calls_b],
                }
            )
        else:
            if len(calls_a) != len(calls_b):
                diffs.append(
                    {
                        "kind": "tool_count",
                        "text": f"tool {name} called {len(calls_a)}x in A, {len(calls_b)}x in B",
                        "a": [c.get("id") for c in calls_a],
                        "b": [c.get("id") for c in calls_b],
                    }
                )
            for call_a, call_b in zip(calls_a, calls_b, strict=False):
                if _args(call_a) != _args(call_b):
                    diffs.append(
                        {
                            "kind": "tool_arguments",
                            "text": f"tool {name}: arguments differ ({_short(call_a)} -> "
                            f"{_short(call_b)})",
                            "a": [call_a.get("id")],
                            "b": [call_b.get("id")],
                        }
                    )
    errors_a = {(r.get("type"), r.get("name")) for r in spans_a if r.get("error")}
    for record in spans_b:
        if record.get("error") and (record.get("type"), record.get("name")) not in errors_a:
            diffs.append(
                {
                    "kind": "new_error",
                    "text": f"new error in B at {record.get('type')} {record.get('name')}: "
                    f"{_short_text(record.get('error'))}",
                    "a": [],
                    "b": [record.get("id")],
                }
            )
    order = {"new_error": 0, "tool_only_in_a": 1, "tool_only_in_b": 1}
    diffs.sort(key=lambda d: order.get(d["kind"], 2))
    return diffs


def _short(record: Mapping[str, Any]) -> str:
    return _short_text(record.get("input"))


def _short_text(value: Any, width: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
