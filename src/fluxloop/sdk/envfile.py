"""``.env`` files: the one parser and the one way of applying them to the environment.

Every ``.env`` FluxLoop reads (the SDK's ``./.env`` and :func:`fluxloop.load_env`, the project's
``.env`` chain for ``run``, ``generate``, ``evaluate``, ``status`` and ``config``) is parsed by
python-dotenv's parser, so the file means what it means to the other tools that read it
(docker compose, IDEs, ``python-dotenv`` itself):

* ``KEY=value``, ``export KEY=value``, ``# comments`` and ``KEY=value  # inline comments``;
* ``'single quotes'`` keep their text as written (only ``\\'`` and ``\\\\`` are escapes);
* ``"double quotes"`` decode ``\\n``, ``\\t``, ``\\"``, ``\\\\`` and may span lines;
* no ``${VAR}`` interpolation: values are literal (a secret holding ``$`` stays whole);
* a line that does not parse, or a key without ``=``, sets nothing.

Applying is :func:`apply_environ` (variables already set win unless ``override``), which
returns what it replaced so :func:`restore_environ` (or :func:`applied_environ`, the same as a
context manager) can put the environment back.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream

__all__ = [
    "EnvEntry",
    "applied_environ",
    "apply_environ",
    "entries",
    "parse_dotenv",
    "read_dotenv",
    "restore_environ",
]


@dataclass(frozen=True)
class EnvEntry:
    """One statement of a ``.env`` text: its key and value (``None`` for a comment, a blank
    or a line that does not parse) and where it is (``start:end`` offsets; the statement
    proper begins at ``body``, after the blank lines and indentation before it)."""

    key: str | None
    value: str | None
    start: int
    body: int
    end: int


def entries(text: str) -> list[EnvEntry]:
    """The statements of ``text`` in order; they cover it exactly (a writer replaces one
    statement's ``body:end`` and keeps every other byte). A key written without ``=`` has
    the value ``None``."""
    out: list[EnvEntry] = []
    offset = 0
    for binding in parse_stream(io.StringIO(text)):
        chunk = binding.original.string
        body = offset + len(chunk) - len(chunk.lstrip())
        key = None if binding.error else binding.key
        value = binding.value if key is not None else None
        out.append(EnvEntry(key, value, offset, body, offset + len(chunk)))
        offset += len(chunk)
    return out


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY -> value`` of a ``.env`` text (the last assignment of a key wins)."""
    return {e.key: e.value for e in entries(text) if e.key is not None and e.value is not None}


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``.env`` file; a missing or unreadable file (or a directory) is ``{}``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return parse_dotenv(text)


def apply_environ(
    values: Mapping[str, str],
    *,
    override: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str | None]:
    """Set ``values`` in ``environ`` (default ``os.environ``); a variable already set keeps its
    value unless ``override``. Returns the previous value (``None``: unset) of each variable
    it set, for :func:`restore_environ`."""
    target = os.environ if environ is None else environ
    saved: dict[str, str | None] = {}
    for key, value in values.items():
        if not override and key in target:
            continue
        saved.setdefault(key, target.get(key))
        target[key] = str(value)
    return saved


def restore_environ(
    saved: Mapping[str, str | None], *, environ: MutableMapping[str, str] | None = None
) -> None:
    """Undo :func:`apply_environ`: put back each saved value, unset what was unset."""
    target = os.environ if environ is None else environ
    for key, old in saved.items():
        if old is None:
            target.pop(key, None)
        else:
            target[key] = old


@contextmanager
def applied_environ(values: Mapping[str, str], *, override: bool) -> Iterator[None]:
    """:func:`apply_environ` for the duration of the ``with`` block, then restored."""
    saved: dict[str, str | None] = {}
    try:
        saved = apply_environ(values, override=override)
        yield
    finally:
        restore_environ(saved)
