"""Streaming JSON Lines reading and compact JSON writing for the analysis commands.

Every malformed line is reported as ``file:line: ...`` (an :class:`~fluxloop.errors.InputError`,
exit code 2), except a torn last line (no trailing newline: a run killed mid-write), which is
skipped with a warning, as the runner's resume does.

Every record read is masked with the SDK's rules (:mod:`fluxloop.sdk.masking`) before the
analysis sees it, so parse, evaluate, compare and their reports never carry a secret, whoever
wrote the directory (an older FluxLoop, an SDK with masking off, ``collector --no-mask``).
Text files the analysis writes are masked once more as a whole (:func:`masked_text`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from fluxloop_exporters.jsoncodec import dumps_line as dump_line
from fluxloop_exporters.jsoncodec import dumps_pretty, loads

from fluxloop._files import JsonLine, read_jsonl
from fluxloop.errors import InputError
from fluxloop.sdk.masking import (
    fast_key_scan,
    json_may_contain_secret_value,
    mask_secrets,
    mask_string,
)

__all__ = [
    "collect_warnings",
    "dump_line",
    "dumps_pretty",
    "iter_jsonl",
    "loads",
    "masked_text",
    "read_json",
    "warn",
    "where",
]

_log = logging.getLogger("fluxloop.analysis")

#: The warnings of the command running in this context (one parse, one evaluation), or None.
_COLLECTED: ContextVar[list[str] | None] = ContextVar("fluxloop_analysis_warnings", default=None)
MAX_WARNINGS = 1000


@contextmanager
def collect_warnings() -> Iterator[list[str]]:
    """A fresh list that receives every :func:`warn` made in this context (asyncio tasks started
    in it included) until the block ends: one command's warnings, so a long-lived process (the
    pytest plugin, a notebook) never carries one evaluation's warnings into the next."""
    collected: list[str] = []
    token = _COLLECTED.set(collected)
    try:
        yield collected
    finally:
        _COLLECTED.reset(token)


def warn(message: str) -> None:
    """Note skipped or doubtful input for the command in progress (and the debug log)."""
    collected = _COLLECTED.get()
    if collected is not None and len(collected) < MAX_WARNINGS:
        collected.append(message)
    _log.debug(message)


def where(path: Path, line: int | None = None) -> str:
    """``path`` relative to the current directory when below it, with ``:line``."""
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        shown = str(path)
    return f"{shown}:{line}" if line is not None else shown


def _masked(record: Any, raw: bytes) -> Any:
    if fast_key_scan(record) or json_may_contain_secret_value(raw):
        return mask_secrets(record)
    return record


def masked_text(text: str) -> str:
    """A rendered report (Markdown, HTML, XML) with any secret-looking value masked."""
    return mask_string(text)


def iter_jsonl(
    path: Path, *, start: int = 0, end: int | None = None, validate_torn: bool = True
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield ``(line_number, byte_offset, record)`` for each non-blank line of ``path``.

    Only one line is held at a time (:func:`fluxloop._files.read_jsonl`). ``start``/``end``
    restrict reading to a byte range (line numbers are then relative to ``start`` and only used
    internally). Lines appended while reading are not read.
    """
    try:
        size = os.path.getsize(path)
        yield from _records(
            path,
            read_jsonl(path, start=start, end=size if end is None else end),
            size,
            validate_torn,
        )
    except FileNotFoundError:
        raise InputError(f"{where(path)}: file not found") from None
    except OSError as exc:
        raise InputError(f"{where(path)}: cannot read: {exc.strerror or exc}") from None


def _records(
    path: Path, lines: Iterator[JsonLine], size: int, validate_torn: bool
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    for line in lines:
        number = line.number
        if line.error is not None:
            if validate_torn and not line.complete and line.offset + len(line.raw) >= size:
                warn(f"{where(path, number)}: skipped a torn last line (an interrupted write)")
                return
            raise InputError(
                f"{where(path, number)}: malformed JSON line: {line.error}",
                where=where(path, number),
                expected="one JSON object per line",
            )
        record = line.value
        if not isinstance(record, dict):
            raise InputError(
                f"{where(path, number)}: expected a JSON object, found {type(record).__name__}",
                where=where(path, number),
            )
        yield number, line.offset, _masked(record, line.raw)


def read_json(path: Path) -> Any:
    """A whole (small) JSON file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{where(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{where(path)}: cannot read: {exc}") from None
    try:
        return _masked(json.loads(text), text.encode("utf-8", "surrogatepass"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{where(path, exc.lineno)}: malformed JSON: {exc.msg}") from None
