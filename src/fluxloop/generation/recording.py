"""Base inputs from a recording (``fluxloop generate inputs --from-recording FILE``).

A recording is JSON lines written by ``fluxloop.record_call_args``::

    {"_version": "1", "iteration": 0, "target": "app:Handler.handle", "kwargs": {...},
     "timestamp": "..."}

The content at ``replay_args.override_param_path`` (dot path, integer segments index lists;
default ``data.content``) of the chosen call (the last one by default) becomes the base input.
Calls are numbered like the replay engine numbers them (blank, non-JSON and kwargs-less lines
are skipped), so a generated input's ``recording_index`` names the call it replays into.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.errors import InputError
from fluxloop.runner.yamlio import display_path

__all__ = [
    "DEFAULT_OVERRIDE_PATH",
    "RecordedCall",
    "extract_at_path",
    "read_recording",
    "recorded_bases",
]

DEFAULT_OVERRIDE_PATH = "data.content"


@dataclass(frozen=True)
class RecordedCall:
    """One recorded call: ``index`` among the usable lines, ``line`` in the file (1-based)."""

    index: int
    line: int
    kwargs: Mapping[str, Any]
    target: str | None = None
    iteration: int | None = None
    timestamp: str | None = None


def read_recording(path: Path) -> tuple[list[RecordedCall], list[str]]:
    """Every usable call of a recording file, and notes about the lines that were skipped."""
    if not path.is_file():
        raise InputError(f"Recording file not found: {display_path(path)}", key="--from-recording")
    calls: list[RecordedCall] = []
    notes: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                notes.append(f"{display_path(path)}:{lineno}: not JSON, skipped")
                continue
            if not isinstance(data, dict) or not isinstance(data.get("kwargs"), dict):
                notes.append(f"{display_path(path)}:{lineno}: no 'kwargs' mapping, skipped")
                continue
            iteration = data.get("iteration")
            calls.append(
                RecordedCall(
                    index=len(calls),
                    line=lineno,
                    kwargs=data["kwargs"],
                    target=str(data["target"]) if data.get("target") else None,
                    iteration=iteration if isinstance(iteration, int) else None,
                    timestamp=str(data["timestamp"]) if data.get("timestamp") else None,
                )
            )
    if not calls:
        raise InputError(
            f"{display_path(path)}: no recorded calls (expected JSON lines with a 'kwargs' "
            "mapping, as written by fluxloop.record_call_args)",
            key="--from-recording",
        )
    return calls, notes


def _segments(path: str) -> list[str | int]:
    return [int(p) if p.lstrip("-").isdigit() else p for p in path.split(".") if p != ""]


def extract_at_path(data: Any, path: str) -> Any:
    """The value at a dot path (``data.content``, ``messages.0.text``); KeyError if absent."""
    node = data
    for part in _segments(path):
        if isinstance(part, int) and isinstance(node, Sequence) and not isinstance(node, str):
            if not -len(node) <= part < len(node):
                raise KeyError(path)
            node = node[part]
        elif isinstance(node, Mapping) and str(part) in node:
            node = node[str(part)]
        else:
            raise KeyError(path)
    return node


def _keys_hint(kwargs: Mapping[str, Any], path: str) -> str:
    parts = _segments(path)
    node: Any = kwargs
    walked: list[str] = []
    for part in parts:
        if isinstance(node, Mapping) and str(part) in node:
            node = node[str(part)]
            walked.append(str(part))
            continue
        if (
            isinstance(node, Sequence)
            and not isinstance(node, str)
            and isinstance(part, int)
            and -len(node) <= part < len(node)
        ):
            node = node[part]
            walked.append(str(part))
            continue
        break
    where = ".".join(walked) or "kwargs"
    if isinstance(node, Mapping):
        return f"{where} has keys {', '.join(map(str, list(node)[:10])) or '(none)'}"
    return f"{where} is {type(node).__name__}"


def recorded_bases(
    path: Path, override_path: str, which: str | int = -1
) -> tuple[list[tuple[RecordedCall, str]], list[str]]:
    """``(call, content)`` pairs for the chosen call(s) (``which``: an index or ``"all"``)."""
    calls, notes = read_recording(path)
    if which == "all":
        chosen = calls
    else:
        try:
            index = int(which)
        except (TypeError, ValueError):
            raise InputError(
                f"--recording-index: expected an integer or 'all', found {which!r}",
                key="--recording-index",
            ) from None
        if not -len(calls) <= index < len(calls):
            raise InputError(
                f"--recording-index: {index} is out of range ({display_path(path)} has "
                f"{len(calls)} recorded call(s))",
                key="--recording-index",
            )
        chosen = [calls[index]]
    out: list[tuple[RecordedCall, str]] = []
    for call in chosen:
        try:
            value = extract_at_path(call.kwargs, override_path)
        except KeyError:
            raise InputError(
                f"{display_path(path)}:{call.line}: override_param_path {override_path!r} not "
                f"found in the recorded kwargs ({_keys_hint(call.kwargs, override_path)}); set "
                "replay_args.override_param_path or --override-param-path",
                key="replay_args.override_param_path",
            ) from None
        if isinstance(value, (Mapping, list)):
            raise InputError(
                f"{display_path(path)}:{call.line}: {override_path!r} holds a "
                f"{type(value).__name__}, expected text; point override_param_path at the "
                "message text",
                key="replay_args.override_param_path",
            )
        text = "" if value is None else str(value)
        if not text.strip():
            notes.append(f"{display_path(path)}:{call.line}: empty content at {override_path!r}")
            continue
        out.append((call, text))
    if not out:
        raise InputError(
            f"{display_path(path)}: no text at {override_path!r} in the chosen recorded call(s)",
            key="--from-recording",
        )
    return out, notes
