"""Reading argument recordings, and dot paths into the recorded kwargs.

The SDK writes recordings (``fluxloop.record_call_args``, :mod:`fluxloop.sdk`); this module reads
them for the runner's replay, ``fluxloop generate inputs --from-recording`` and ``fluxloop record
status``, so a generated input's ``recording_index`` names the very call a replay uses.

* :func:`load_recording` returns the :class:`RecordedCall` entries of a file (ours or the
  original SDK's): a line that is JSON but not a recorded call is an error naming ``file:line``;
  the remains of a torn write are skipped with a note; an oversized line is bounded like a span
  attribute.
* :func:`extract_at_path` / :func:`set_at_path` read and write a dot path (``data.content``,
  ``item.content.0.text``, ``messages[0].text``); a missing path is an error naming the path
  and the keys that do exist. :func:`find_markers` and :func:`masked_paths` list the callable
  markers and the masked values of a call.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import InputError
from fluxloop.sdk import (
    MASK,
    RECORDING_VERSION,
    SerializeOptions,
    parse_marker,
    recording_line_options,
    to_json,
)

from .yaml import display_path

__all__ = [
    "RecordedCall",
    "RecordingNotFoundError",
    "extract_at_path",
    "find_markers",
    "format_path",
    "load_recording",
    "masked_paths",
    "set_at_path",
    "split_path",
]

logger = logging.getLogger("fluxloop")

_DEFAULT_OPTIONS = SerializeOptions()


class RecordingNotFoundError(InputError, FileNotFoundError):
    """The recording file does not exist (exit code 2 at the CLI)."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        InputError.__init__(self, message, key=key)


@dataclass(frozen=True)
class RecordedCall:
    """One recorded call (one line of a recording file)."""

    kwargs: dict[str, Any]
    target: str | None = None
    iteration: int | None = None
    timestamp: str | None = None
    version: str | None = None
    index: int = 0
    """Position among the file's recorded calls (0-based)."""
    line: int = 0
    """Line number in the file (1-based)."""
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Other top-level keys of the line, kept as they are."""

    @property
    def where(self) -> str:
        """``file:line`` of the call, for messages."""
        return (
            f"{display_path(self.path)}:{self.line}" if self.path is not None else f"#{self.index}"
        )


#: Lines longer than this (the default attribute bound plus the line's envelope) are bounded
#: when read.
_READ_BOUND = _DEFAULT_OPTIONS.max_bytes + 4_096
_KNOWN_KEYS = frozenset({"_version", "iteration", "target", "kwargs", "timestamp"})


def load_recording(
    path: str | os.PathLike[str], *, notes: list[str] | None = None
) -> list[RecordedCall]:
    """Read every recorded call of a recording file (ours or the original SDK's).

    Raises :class:`RecordingNotFoundError` when the file is missing and
    :class:`~fluxloop.errors.InputError` (one line, ``file:line``) for a line that is not a
    JSON object with a ``kwargs`` mapping, an unsupported ``_version``, or a file with no
    recorded call. A line that is not JSON at all (the remains of a write cut short by a
    crash) is skipped with a note appended to ``notes`` (logged as a warning when ``notes``
    is None).
    """
    file = Path(path).expanduser()
    shown = display_path(file)
    if not file.is_file():
        raise RecordingNotFoundError(
            f"Recording file not found: {shown}", key="replay_args.recording_file"
        )
    calls: list[RecordedCall] = []
    try:
        with file.open(encoding="utf-8", newline="\n") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                call = _parse_line(raw, lineno, file, shown, len(calls), notes)
                if call is not None:
                    calls.append(call)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            key="replay_args.recording_file",
        ) from None
    except OSError as exc:
        raise InputError(
            f"{shown}: cannot read the recording: {exc.strerror or exc}",
            key="replay_args.recording_file",
        ) from None
    if not calls:
        raise InputError(
            f"{shown}: no recorded calls (expected JSON lines like "
            '{"_version": "1", "target": "...", "kwargs": {...}}; record them with '
            "fluxloop.record_call_args)",
            key="replay_args.recording_file",
        )
    return calls


def _parse_line(
    raw: str, lineno: int, file: Path, shown: str, index: int, notes: list[str] | None
) -> RecordedCall | None:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        # Not JSON: the remains of a write cut short by a crash (the writer terminates such a
        # line before appending). Skipped, and said so.
        what = "incomplete last line" if not raw.endswith("\n") else "not valid JSON"
        why = (
            # some messages end in "at" already ("Unterminated string starting at")
            f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else "nested too deeply"
        )
        note = f"{shown}:{lineno}: {what} ({why}), skipped"
        if notes is not None:
            notes.append(note)
        else:
            logger.warning("fluxloop: %s", note)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("kwargs"), dict):
        found = (
            type(data).__name__
            if not isinstance(data, dict)
            else f"kwargs {type(data.get('kwargs')).__name__}"
            if "kwargs" in data
            else "no 'kwargs' key"
        )
        raise InputError(
            f"{shown}:{lineno}: expected a recorded call (a JSON object with a 'kwargs' "
            f"mapping), found {found}",
            key="replay_args.recording_file",
        )
    version = data.get("_version")
    if version is not None and str(version) != RECORDING_VERSION:
        raise InputError(
            f"{shown}:{lineno}: unsupported recording _version {version!r} (this FluxLoop "
            f"reads version {RECORDING_VERSION!r})",
            key="replay_args.recording_file",
        )
    kwargs = data["kwargs"]
    if len(raw) > _READ_BOUND:
        # a line the writer would not have written (an older writer, another tool): bounded
        # like a span attribute, so one huge line cannot flood generation or a replay
        kwargs = json.loads(to_json(kwargs, recording_line_options(_DEFAULT_OPTIONS))[0])
        note = (
            f"{shown}:{lineno}: recorded call of {len(raw):,} characters bounded to "
            f"{_DEFAULT_OPTIONS.max_bytes:,} bytes like a span attribute (values truncated)"
        )
        if notes is not None:
            notes.append(note)
        else:
            logger.warning("fluxloop: %s", note)
    iteration = data.get("iteration")
    target = data.get("target")
    timestamp = data.get("timestamp")
    return RecordedCall(
        kwargs=kwargs,
        target=str(target) if target is not None else None,
        iteration=iteration
        if isinstance(iteration, int) and not isinstance(iteration, bool)
        else None,
        timestamp=str(timestamp) if timestamp is not None else None,
        version=str(version) if version is not None else None,
        index=index,
        line=lineno,
        path=file,
        extra={k: v for k, v in data.items() if k not in _KNOWN_KEYS},
    )


# ---------------------------------------------------------------------------------------------
# paths


def split_path(path: str) -> list[str | int]:
    """``"data.items.0.text"`` / ``"data.items[0].text"`` → ``["data", "items", 0, "text"]``."""
    parts: list[str | int] = []
    for chunk in path.replace("[", ".").replace("]", "").split("."):
        piece = chunk.strip()
        if not piece:
            continue
        digits = piece[1:] if piece.startswith("-") else piece
        parts.append(int(piece) if digits.isdigit() else piece)
    return parts


def format_path(parts: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in parts)


def _keys_hint(node: Mapping[Any, Any]) -> str:
    keys = [str(k) for k in node]
    if not keys:
        return "it is empty"
    shown = ", ".join(keys[:20]) + (f", … ({len(keys) - 20} more)" if len(keys) > 20 else "")
    return f"keys: {shown}"


def _step(node: Any, part: str | int, done: list[str | int], full: str, label: str) -> Any:
    here = format_path(done)
    owner = f"{here!r}" if done else "the recorded kwargs"
    if isinstance(node, Mapping):
        if part in node:
            return node[part]
        if isinstance(part, int) and str(part) in node:
            return node[str(part)]
        raise InputError(
            f"{label} {full!r}: no key {str(part)!r} in {owner} ({_keys_hint(node)})",
            key=label,
        )
    if isinstance(node, list | tuple):
        if isinstance(part, int) and -len(node) <= part < len(node):
            return node[part]
        if isinstance(part, int):
            raise InputError(
                f"{label} {full!r}: {owner} is a list of {len(node)} item(s); index {part} is "
                "out of range",
                key=label,
            )
        raise InputError(
            f"{label} {full!r}: {owner} is a list of {len(node)} item(s); use an index, not "
            f"{part!r}",
            key=label,
        )
    raise InputError(
        f"{label} {full!r}: {owner} is {_kind(node)}, not a mapping or a list; cannot look up "
        f"{str(part)!r}",
        key=label,
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    return f"a {type(value).__name__}"


def extract_at_path(
    data: Mapping[str, Any], path: str, *, label: str = "override_param_path", where: str = ""
) -> Any:
    """The value at dot ``path`` in ``data`` (``data.content``, ``items.0.text``).

    Raises :class:`~fluxloop.errors.InputError` naming the path, how far it matched and the
    keys that exist there (``label`` names the setting in the message, ``where`` prefixes it,
    e.g. ``recordings/args.jsonl:3``).
    """
    parts = split_path(path)
    if not parts:
        raise InputError(f"{where + ': ' if where else ''}{label}: empty path", key=label)
    node: Any = data
    done: list[str | int] = []
    try:
        for part in parts:
            node = _step(node, part, done, path, label)
            done.append(part)
    except InputError as exc:
        if where:
            raise InputError(f"{where}: {exc}", key=label) from None
        raise
    return node


def set_at_path(
    data: dict[str, Any],
    path: str,
    value: Any,
    *,
    label: str = "override_param_path",
    where: str = "",
) -> None:
    """Set the value at dot ``path`` (which must exist, see :func:`extract_at_path`)."""
    parts = split_path(path)
    parent_path = format_path(parts[:-1])
    parent: Any = (
        extract_at_path(data, parent_path, label=label, where=where) if parts[:-1] else data
    )
    extract_at_path(data, path, label=label, where=where)  # the same checks and messages
    last = parts[-1]
    if isinstance(parent, list):
        parent[int(last)] = value
    elif isinstance(parent, dict):
        if isinstance(last, int) and last not in parent and str(last) in parent:
            parent[str(last)] = value
        else:
            parent[last] = value
    else:  # pragma: no cover - extract_at_path has raised already
        raise InputError(f"{label} {path!r}: cannot set a value here", key=label)


def _walk_paths(value: Any, prefix: list[str | int]) -> Iterator[tuple[list[str | int], Any]]:
    yield prefix, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk_paths(item, [*prefix, str(key)])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_paths(item, [*prefix, index])


def find_markers(kwargs: Mapping[str, Any]) -> dict[str, str]:
    """Dot path → callable marker (``<builtin:...>`` / ``<callable:...>``) in recorded kwargs."""
    out: dict[str, str] = {}
    for parts, value in _walk_paths(kwargs, []):
        if parts and parse_marker(value) is not None:
            out[format_path(parts)] = value
    return out


def masked_paths(kwargs: Mapping[str, Any]) -> list[str]:
    """Dot paths of values that were masked when recorded (``"***"``, ``"Bearer ***"``…)."""
    return [
        format_path(parts)
        for parts, value in _walk_paths(kwargs, [])
        if parts and isinstance(value, str) and MASK in value
    ]
