"""The text of a model's reply, lenient JSON extraction (JSON repair) from it, and
:class:`MalformedOutput`, the error a reply parser raises to have the model asked again."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["MalformedOutput", "extract_json", "json_values", "message_text", "parse_json_object"]

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_MAX_SPANS = 40


class MalformedOutput(ValueError):
    """The model answered, but the answer cannot be used; ``content`` is the last reply."""

    def __init__(self, message: str, *, content: str = "") -> None:
        super().__init__(message)
        self.content = content


def message_text(message: Any) -> str:
    """The text of an AI message: string content, or the text of a list of content blocks."""
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "".join(parts)
    return "" if content is None else str(content)


def _balanced_spans(text: str) -> list[str]:
    """Balanced ``{...}`` / ``[...]`` substrings (strings and escapes respected), in the order
    they start, so an outer value comes before the values nested in it."""
    spans: list[tuple[int, str]] = []
    for opener, closer in (("{", "}"), ("[", "]")):
        start = text.find(opener)
        while start != -1 and len(spans) < _MAX_SPANS:
            depth = 0
            in_str = escape = False
            for i in range(start, len(text)):
                ch = text[i]
                if in_str:
                    if escape:
                        escape = False
                    elif ch == "\\":
                        escape = True
                    elif ch == '"':
                        in_str = False
                elif ch == '"':
                    in_str = True
                elif ch == opener:
                    depth += 1
                elif ch == closer:
                    depth -= 1
                    if depth == 0:
                        spans.append((start, text[start : i + 1]))
                        break
            start = text.find(opener, start + 1)
    spans.sort(key=lambda item: item[0])
    return [span for _, span in spans]


_NOTHING = object()


def _lenient_loads(candidate: str) -> Any:
    """JSON, else JSON without trailing commas, else a Python list/dict literal (single
    quotes, ``True``/``None``); ``_NOTHING`` when none of them parses."""
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", candidate)
    try:
        return json.loads(repaired)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(repaired)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOTHING
    return value if isinstance(value, (dict, list)) else _NOTHING


def json_values(text: str) -> Iterator[Any]:
    """The JSON values found in a model's reply, best first: the whole reply, code-fenced
    blocks, then balanced ``{...}`` / ``[...]`` spans in the order they start. Tolerates prose
    around the JSON, trailing commas, single quotes and Python literals."""
    stripped = text.strip()
    fenced = [m.group(1) for m in _FENCE.finditer(stripped)]
    for found in [stripped, *fenced, *_balanced_spans(stripped)]:
        candidate = found.strip()
        if not candidate:
            continue
        value = _lenient_loads(candidate)
        if value is not _NOTHING:
            yield value


def extract_json(text: str) -> Any:
    """The first JSON value in a model's reply (see :func:`json_values`); None when none."""
    return next(json_values(text), None)


def parse_json_object(content: str) -> dict[str, Any]:
    """The first JSON object in a reply (code fences, prose and the repairs of
    :func:`json_values` tolerated); :class:`MalformedOutput` otherwise."""
    text = content.strip()
    if not text:
        raise MalformedOutput("empty reply")
    for candidate in json_values(text):
        if isinstance(candidate, dict):
            return candidate
        break
    raise MalformedOutput(f"expected a JSON object, found {text[:60]!r}")
