"""The one atomic file replacement and the one JSON Lines reader.

:func:`atomic_write`: a temporary file in the same directory, then ``os.replace`` over the
target, so a reader or a kill -9 sees the old file or the new one, never half of either.

:func:`read_jsonl`: a JSONL file streamed one line at a time, each line parsed with the one JSON
codec (:mod:`fluxloop_exporters.jsoncodec`) and handed over with its line number, byte offset
and, when it does not parse, why; the caller decides what a bad line means (an error naming
``file:line``, a skip, a line set aside).

Shared by the runner, analysis, the CLI, the pytest plugin and the cassettes (which sit below the
runner), hence a top-level private module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from fluxloop_exporters.jsoncodec import loader

__all__ = ["JsonLine", "atomic_write", "read_jsonl"]


def atomic_write(
    path: Path, data: str | bytes, *, mode: int | None = None, fsync: bool = False
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically.

    The file keeps the mode of the file it replaces (``0644`` for a new one) unless ``mode`` is
    given; the temporary file is private (``0600``) until then, so a secret is never readable
    by others, even for a moment, when ``mode`` is ``0o600``. ``fsync`` makes the content durable
    before the rename (survives power loss).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is None:
            try:
                mode = path.stat().st_mode & 0o777
            except FileNotFoundError:
                mode = 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class JsonLine(NamedTuple):
    """One line of a JSON Lines file (a tuple: cheap to make once per line)."""

    number: int
    """1-based, counting every line (blank ones too) from where the read started."""
    offset: int
    """Byte offset of the line's first byte in the file."""
    raw: bytes
    """The line as read, with its newline when it has one."""
    value: Any
    """The parsed JSON value (``None`` when :attr:`error` is set)."""
    error: str | None
    """Why the line is not JSON (the decoder's first message line), or None."""

    @property
    def complete(self) -> bool:
        """Whether the line ends in a newline; only the last line of a file can lack one (a
        write cut short, or a file being appended to)."""
        return self.raw.endswith(b"\n")

    @property
    def blank(self) -> bool:
        return not self.raw.strip()


def read_jsonl(
    path: Path, *, start: int = 0, end: int | None = None, blank: bool = False
) -> Iterator[JsonLine]:
    """The lines of ``path``, one in memory at a time, each parsed.

    Never raises for the content: a line that is not JSON comes with :attr:`JsonLine.error`
    set. Raises :class:`OSError` (``FileNotFoundError`` included) when the file cannot be read.
    ``start`` / ``end`` restrict the read to a byte range (whole lines from ``start``: lines are
    then numbered from there). Blank lines are skipped unless ``blank`` (they then come with an
    error, as they are not JSON).
    """
    loads = loader()
    with open(path, "rb") as fh:
        if start:
            fh.seek(start)
        offset = start
        number = 0
        while end is None or offset < end:
            raw = fh.readline()
            if not raw:
                return
            number += 1
            here = offset
            offset += len(raw)
            if not raw.strip():
                if blank:
                    yield JsonLine(number, here, raw, None, "blank line")
                continue
            try:
                value = loads(raw)
            except ValueError as exc:
                text = str(exc)
                yield JsonLine(
                    number, here, raw, None, text.splitlines()[0] if text else "invalid JSON"
                )
                continue
            except RecursionError:
                yield JsonLine(number, here, raw, None, "nested too deeply")
                continue
            yield JsonLine(number, here, raw, value, None)
