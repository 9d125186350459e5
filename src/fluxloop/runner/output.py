"""A target's return value as a run's output: streams aggregated, values coerced to text.

A target may return a value, a message (``.content``), a pydantic model, or stream chunks
(sync or async generators, OpenAI/LangChain deltas); :class:`Streamed` joins the chunks' text
when every chunk has some, else keeps the chunks (at most ``MAX_STREAM_CHUNKS``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MAX_STREAM_CHUNKS",
    "Streamed",
    "aggregate_chunks",
    "coerce_output",
    "is_async_iterable",
    "is_sync_stream",
]

MAX_STREAM_CHUNKS = 10_000


def _chunk_text(chunk: Any, path: str | None) -> str | None:
    if isinstance(chunk, str):
        return chunk
    if path:
        node: Any = chunk
        for part in path.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, str):
            return node
    for key in ("content", "text", "delta"):
        value = chunk.get(key) if isinstance(chunk, Mapping) else getattr(chunk, key, None)
        if isinstance(value, str):
            return value
        if key == "delta" and value is not None:
            inner = _chunk_text(value, None)
            if inner is not None:
                return inner
    choices = (
        chunk.get("choices") if isinstance(chunk, Mapping) else getattr(chunk, "choices", None)
    )
    if isinstance(choices, (list, tuple)) and choices:
        delta = (
            choices[0].get("delta")
            if isinstance(choices[0], Mapping)
            else getattr(choices[0], "delta", None)
        )
        if delta is not None:
            content = (
                delta.get("content")
                if isinstance(delta, Mapping)
                else getattr(delta, "content", None)
            )
            return content if isinstance(content, str) else ""
    return None


class Streamed:
    """The chunks of a streaming target, aggregated."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.texts: list[str] | None = []
        self.chunks: list[Any] = []
        self.count = 0

    def add(self, chunk: Any) -> None:
        self.count += 1
        if self.texts is not None:
            text = _chunk_text(chunk, self.path)
            if text is not None:
                self.texts.append(text)
            else:
                self.texts = None
        if len(self.chunks) < MAX_STREAM_CHUNKS:
            self.chunks.append(chunk)

    def value(self) -> Any:
        if self.texts is not None:
            return "".join(self.texts)
        return self.chunks


def aggregate_chunks(chunks: Sequence[Any], path: str | None = None) -> Any:
    s = Streamed(path)
    for chunk in chunks:
        s.add(chunk)
    return s.value()


def coerce_output(value: Any, limit: int | None = None) -> str | None:
    """The output as text: strings as they are, messages by content, anything else as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        content = None if isinstance(value, Mapping) else getattr(value, "content", None)
        if isinstance(content, str):
            text = content
        else:
            dump = getattr(value, "model_dump", None)
            if callable(dump):
                with contextlib.suppress(Exception):
                    value = dump()
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"...[truncated {len(text) - limit} chars]"
    return text


def is_async_iterable(value: Any) -> bool:
    return hasattr(value, "__aiter__") and not isinstance(value, (str, bytes))


def is_sync_stream(value: Any) -> bool:
    return inspect.isgenerator(value) or (
        hasattr(value, "__next__")
        and hasattr(value, "__iter__")
        and not isinstance(value, (str, bytes, bytearray, Mapping, list, tuple))
    )
