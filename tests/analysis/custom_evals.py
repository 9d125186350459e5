"""Custom evaluators used by the tests (module:function)."""

from __future__ import annotations

from typing import Any


def mentions_order(trace: dict[str, Any], word: str = "order") -> dict[str, Any]:
    output = str(trace.get("output") or "")
    tools = [c["name"] for c in trace["tool_calls"]]
    return {"score": 1.0 if word in output else 0.0, "reason": f"tools={tools}"}


def short_enough(trace: dict[str, Any], limit: int = 200) -> bool:
    return len(str(trace.get("output") or "")) <= limit


async def async_half(trace: dict[str, Any]) -> tuple[float, str]:
    return 0.5, "always half"


def explodes(trace: dict[str, Any]) -> float:
    raise RuntimeError("evaluator bug")
