"""Base inputs from a recording (``fluxloop generate inputs --from-recording FILE``).

A recording is JSON lines written by ``fluxloop.record_call_args``::

    {"_version": "1", "iteration": 0, "target": "app:Handler.handle", "kwargs": {...},
     "timestamp": "..."}

The content at ``replay_args.override_param_path`` (dot path, integer segments index lists;
default ``data.content``) of the chosen call (the last one by default) becomes the base input.
Calls are read by the replay engine's reader (:func:`fluxloop.project.recording.load_recording`),
so a generated input's ``recording_index`` names the very call it replays into.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fluxloop.errors import InputError
from fluxloop.project.recording import RecordedCall, extract_at_path, load_recording
from fluxloop.project.yaml import display_path

__all__ = [
    "DEFAULT_OVERRIDE_PATH",
    "RecordedCall",
    "extract_at_path",
    "read_recording",
    "recorded_bases",
]

DEFAULT_OVERRIDE_PATH = "data.content"


def read_recording(path: Path) -> tuple[list[RecordedCall], list[str]]:
    """Every recorded call of a recording file (the replay engine's reader, so indexes agree),
    and notes about the lines that were skipped."""
    notes: list[str] = []
    calls = load_recording(path, notes=notes)
    return calls, notes


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
        value = extract_at_path(call.kwargs, override_path, where=call.where)
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
