"""JSON encoding for the exporters: orjson when importable, the standard library otherwise.

Every function here is total: :func:`dumps_line` never raises (unknown objects become ``str(obj)``,
non-finite floats become strings, out-of-range integers become strings), and :func:`loads` raises
only :class:`ValueError` on malformed input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["backend", "dumps_line", "dumps_pretty", "loads", "set_backend"]
# ``dumps_line`` and ``loads`` are module attributes rebound by ``set_backend``.

_orjson: Any
try:  # pragma: no cover - exercised by the stdlib-fallback test in a subprocess
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


_MAX_STR_BITS = 14_000  # about 4,200 decimal digits: below CPython's str() limit


def _default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    dump = getattr(obj, "model_dump", None)  # a pydantic model (the runner's records)
    if callable(dump):
        try:
            return dump()
        except Exception:
            pass
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {type(obj).__name__}>"


def _sanitize(obj: Any, depth: int = 0) -> Any:
    """Make ``obj`` strictly JSON-safe (slow path, used only after a fast dump failed)."""
    if depth > 64:
        return str(obj)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        if -(2**63) <= obj < 2**64:
            return obj
        # str() refuses more than 4,300 digits (CPython's limit): such a value is dropped
        # with a note rather than failing the whole line (and with it the batch)
        if obj.bit_length() <= _MAX_STR_BITS:
            return str(obj)
        return f"<dropped: an integer of {obj.bit_length()} bits>"
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, dict):
        return {str(k): _sanitize(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_sanitize(v, depth + 1) for v in obj]
    return _sanitize(_default(obj), depth + 1)


def _std_dumps_line(obj: Any) -> bytes:
    try:
        text = json.dumps(
            obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default
        )
    except (ValueError, TypeError, RecursionError):
        text = json.dumps(
            _sanitize(obj), ensure_ascii=False, separators=(",", ":"), default=_default
        )
    return text.encode("utf-8", "replace") + b"\n"


if _orjson is not None:
    _OPTS = _orjson.OPT_APPEND_NEWLINE | _orjson.OPT_NON_STR_KEYS | _orjson.OPT_SERIALIZE_NUMPY
    _ORJSON_ERRORS = (_orjson.JSONEncodeError, TypeError, ValueError, OverflowError)

    def _orjson_dumps_line(obj: Any) -> bytes:
        try:
            out: bytes = _orjson.dumps(obj, default=_default, option=_OPTS)
        except _ORJSON_ERRORS:
            # e.g. an int beyond 64 bits, a str with lone surrogates, recursion
            return _std_dumps_line(_sanitize(obj))
        return out


_backend: str
dumps_line: Callable[[Any], bytes]
"""``obj`` as one line of UTF-8 JSON ending in ``\\n``; never raises."""
loads: Callable[[bytes | str], Any]
"""Parse JSON; raises :class:`ValueError` on malformed input."""


def set_backend(name: str) -> None:
    """Select ``"orjson"`` (default when importable) or ``"stdlib"``; for tests and benchmarks.
    Callers must look the functions up on the module (``_json.dumps_line``) to see the switch."""
    global dumps_line, loads, _backend
    if name == "orjson" and _orjson is not None:
        # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
        dumps_line, loads, _backend = _orjson_dumps_line, _orjson.loads, "orjson"
    elif name in ("stdlib", "orjson"):
        dumps_line, loads, _backend = _std_dumps_line, json.loads, "stdlib"
    else:
        raise ValueError(f"unknown JSON backend {name!r}; expected 'orjson' or 'stdlib'")


def dumps_pretty(obj: Any) -> str:
    """``obj`` as indented JSON text for people (no trailing newline); never raises."""
    if _backend == "orjson":
        try:
            pretty: bytes = _orjson.dumps(
                obj, default=_default, option=_orjson.OPT_INDENT_2 | _orjson.OPT_NON_STR_KEYS
            )
            return pretty.decode("utf-8")
        except _ORJSON_ERRORS:
            pass
    try:
        return json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False, default=_default)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(_sanitize(obj), ensure_ascii=False, indent=2, default=_default)


def backend() -> str:
    """The JSON backend in use: ``"orjson"`` or ``"stdlib"``."""
    return _backend


set_backend("orjson")
