"""The cassette file: versioned JSON Lines, one header line then one line per recorded call.

::

    {"fluxloop_cassette": 1, "name": "demo", "target": "agent:run", "updated_at": "..."}
    {"run": "0|alice|3fa2…|0", "call": 0, "kind": "http", "digest": "…", "model": "gpt-4o-mini",
     "request": {...}, "response": {...}, "duration_ms": 812.4}

Entries are written sorted by run key and call number, so re-recording one run changes only
that run's lines in a pull request. Reading is strict: a line that is not a JSON object with
the required fields (a corrupt or truncated line), or a header of another version, is a
:class:`~fluxloop.cassette.errors.CassetteError` naming the file and line. Writing goes to a
temporary file in the same directory, flushed to disk and renamed over the cassette, so a crash
(even ``kill -9``) while writing leaves the previous cassette whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fluxloop._files import atomic_write, read_jsonl

from .errors import CassetteError

__all__ = [
    "ENTRY_FIELDS",
    "FORMAT_VERSION",
    "HEADER_KEY",
    "entry_id",
    "read_cassette",
    "write_cassette",
]

FORMAT_VERSION = 1
HEADER_KEY = "fluxloop_cassette"
KINDS = ("http", "langchain")
#: every entry line has these fields (``model`` and ``duration_ms`` are optional)
ENTRY_FIELDS = ("run", "call", "kind", "digest", "request", "response")


def entry_id(entry: Mapping[str, Any]) -> str:
    """``<run key>#<call>``: how ``cassette show`` and the usage file name an entry."""
    return f"{entry['run']}#{entry['call']}"


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}"


def _check_entry(path: Path, lineno: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CassetteError(
            f"{_where(path, lineno)}: expected a cassette entry (a JSON object), "
            f"found {type(value).__name__}"
        )
    missing = [f for f in ENTRY_FIELDS if f not in value]
    if missing:
        raise CassetteError(
            f"{_where(path, lineno)}: cassette entry lacks {', '.join(missing)} "
            "(truncated or hand-edited line?)"
        )
    if not isinstance(value["run"], str) or not isinstance(value["digest"], str):
        raise CassetteError(f"{_where(path, lineno)}: run and digest must be strings")
    if not isinstance(value["call"], int) or isinstance(value["call"], bool) or value["call"] < 0:
        raise CassetteError(
            f"{_where(path, lineno)}: call: expected an integer >= 0, found {value['call']!r}"
        )
    if value["kind"] not in KINDS:
        raise CassetteError(
            f"{_where(path, lineno)}: kind: expected one of {', '.join(KINDS)}, "
            f"found {value['kind']!r}"
        )
    if not isinstance(value["response"], dict):
        raise CassetteError(f"{_where(path, lineno)}: response: expected a JSON object")
    return value


def read_cassette(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and entries of the cassette at ``path``; CassetteError on any bad line."""
    header: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = []
    try:
        for line in read_jsonl(path):
            where = _where(path, line.number)
            if not line.complete:
                # every line we write ends with a newline: a missing one is a cut-off write
                raise CassetteError(f"{where}: truncated cassette line (no newline at end)")
            if line.error is not None:
                raise CassetteError(f"{where}: corrupt cassette line (invalid JSON: {line.error})")
            value = line.value
            if header is None:
                if not isinstance(value, dict) or HEADER_KEY not in value:
                    raise CassetteError(
                        f"{where}: expected a cassette header "
                        f'{{"{HEADER_KEY}": {FORMAT_VERSION}, ...}}, found another line'
                    )
                if value[HEADER_KEY] != FORMAT_VERSION:
                    raise CassetteError(
                        f"{where}: unknown cassette version "
                        f"{value[HEADER_KEY]!r} (this FluxLoop reads version {FORMAT_VERSION})"
                    )
                header = value
                continue
            entries.append(_check_entry(path, line.number, value))
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read cassette: {exc.strerror or exc}") from None
    if header is None:
        raise CassetteError(f"{path}: empty cassette (no header line)")
    return header, entries


def _line(value: Mapping[str, Any]) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return (text + "\n").encode("utf-8")


def write_cassette(
    path: Path, header: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]
) -> None:
    """Write the whole cassette atomically: a temporary file, fsync, rename over ``path``."""
    ordered = sorted(entries, key=lambda e: (str(e["run"]), int(e["call"])))
    lines = [_line({HEADER_KEY: FORMAT_VERSION, **header}), *(_line(e) for e in ordered)]
    atomic_write(path, b"".join(lines), mode=0o600, fsync=True)
