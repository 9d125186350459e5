"""Generation's reply parser: variations from a chat model's answer.

The calls themselves (cache, concurrency, retries, re-asks, usage) go through
:class:`fluxloop.llm.client.LLMClient`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fluxloop.llm.text import MalformedOutput, json_values

__all__ = ["parse_variations"]


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_REFUSAL = re.compile(
    r"^(i'?m sorry|i am sorry|sorry,? (i|but)|i cannot|i can'?t|i am unable|i'm unable|"
    r"as an ai|i won'?t)\b",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s+")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        for key in ("variations", "inputs", "variants", "outputs", "results", "items", "data"):
            if key in value:
                return _strings(value[key])
        for key in ("input", "text", "content", "variation", "message", "question"):
            if isinstance(value.get(key), str):
                return [value[key]]
        if value and all(isinstance(v, str) for v in value.values()):
            return list(value.values())
        return []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(_strings(item) if isinstance(item, (str, Mapping)) else [])
        return out
    return []


def _clean(text: str) -> str:
    text = _BULLET.sub("", text.strip())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'\u201c\u201d":
        text = text[1:-1].strip()
    return text


def parse_variations(content: str, expected: int = 1) -> list[str]:
    """Variations from a model reply, leniently: JSON (``{"variations": [...]}``, a list, list
    of objects, in a code fence or surrounded by prose), else numbered/bulleted lines, else the
    whole reply when one variation was asked. Raises :class:`MalformedOutput` otherwise."""
    text = content.strip()
    if not text:
        raise MalformedOutput("empty reply")
    for candidate in json_values(text):
        found = [s for s in (_clean(x) for x in _strings(candidate)) if s]
        if found:
            return found
        raise MalformedOutput("JSON reply without variations")
    body = _FENCE.sub(lambda m: m.group(1), text).strip()
    if body.startswith(("{", "[")):
        raise MalformedOutput(f"invalid JSON: {body[:60]!r}")
    if _REFUSAL.match(body):
        raise MalformedOutput(f"a refusal or a comment, not variations: {body[:60]!r}")
    lines = [line for line in body.splitlines() if line.strip()]
    bullets = [_clean(line) for line in lines if _BULLET.match(line)]
    if len(bullets) >= 2 or (bullets and expected == 1 and len(lines) == 1):
        return [b for b in bullets if b]
    if expected == 1 or len(lines) == 1:
        return [_clean(body)]
    return [_clean(line) for line in lines]
