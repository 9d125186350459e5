"""JSON for all of FluxLoop: orjson when importable (the ``fast`` extra), the standard library
otherwise, the same output either way for JSON data.

The one orjson fallback: the exporters, the runner's artifacts, the analysis and the SDK's
masking all encode and decode through here. Encoding never raises: sets and tuples become lists,
bytes are decoded, pydantic models are dumped, anything else becomes ``str(obj)``; non-finite
floats and integers beyond 64 bits are written as strings rather than failing the line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _json

__all__ = ["backend", "dumps", "dumps_line", "dumps_pretty", "loader", "loads"]


def dumps_line(obj: Any) -> bytes:
    """``obj`` as one line of compact UTF-8 JSON ending in ``\\n``."""
    return _json.dumps_line(obj)


def dumps(obj: Any) -> bytes:
    """``obj`` as compact UTF-8 JSON (no newline)."""
    return _json.dumps_line(obj)[:-1]


def dumps_pretty(obj: Any) -> str:
    """``obj`` as indented JSON text for people (Markdown code blocks, per-trace files)."""
    return _json.dumps_pretty(obj)


def loads(data: bytes | str) -> Any:
    """Parse JSON text; raises :class:`ValueError` (a ``json.JSONDecodeError``) when malformed."""
    return _json.loads(data)


def loader() -> Callable[[bytes | str], Any]:
    """The current :func:`loads` itself, for a loop that parses many lines (one lookup)."""
    return _json.loads


def backend() -> str:
    """``"orjson"`` or ``"stdlib"``."""
    return _json.backend()
