"""``.env`` files: a small, dependency-free reader and a line-preserving writer.

Files written here are private (mode ``0600``): they hold API keys.

The chain for a project is ``<project>/../.env`` then ``<project>/.env`` (the project file wins);
variables already in the process environment win over both (explicit > environment > file).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .yamlio import atomic_write_text

__all__ = [
    "DOTENV_MODE",
    "applied_environ",
    "dotenv_chain",
    "parse_dotenv",
    "read_dotenv",
    "set_dotenv_value",
]

DOTENV_MODE = 0o600
"""The mode of every ``.env`` file FluxLoop writes: it holds keys, so only its owner reads it."""

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        if raw[0] == '"':
            inner = (
                inner.replace("\\n", "\n")
                .replace("\\t", "\t")
                .replace('\\"', '"')
                .replace("\\\\", "\\")
            )
        return inner
    # strip an inline comment (" #...") from unquoted values
    match = re.search(r"\s+#", raw)
    return raw[: match.start()] if match else raw


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = _unquote(match.group(2))
    return values


def read_dotenv(path: Path) -> dict[str, str]:
    try:
        return parse_dotenv(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def dotenv_chain(project_dir: Path) -> tuple[dict[str, str], list[Path], dict[str, Path]]:
    """Merged values of the ``.env`` chain, the files read, and which file set each key."""
    merged: dict[str, str] = {}
    origin: dict[str, Path] = {}
    files: list[Path] = []
    for candidate in (project_dir.parent / ".env", project_dir / ".env"):
        if candidate.is_file():
            files.append(candidate)
            for key, value in read_dotenv(candidate).items():
                merged[key] = value
                origin[key] = candidate
    return merged, files, origin


@contextmanager
def applied_environ(values: Mapping[str, str], *, override: bool) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the duration; restore the previous state after.

    With ``override=False`` a variable that is already set keeps its value.
    """
    saved: dict[str, str | None] = {}
    try:
        for key, value in values.items():
            if not override and key in os.environ:
                continue
            saved.setdefault(key, os.environ.get(key))
            os.environ[key] = str(value)
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9_./:@+,=-]*", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def set_dotenv_value(path: Path, key: str, value: str, *, overwrite: bool = True) -> bool:
    """Set ``key=value`` in ``path`` keeping every other line (comments included).

    Returns False (and leaves the file alone) when the key exists and ``overwrite`` is False.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = text.splitlines(keepends=True)
    new_line = f"{key}={_quote(value)}\n"
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and match.group(1) == key:
            if not overwrite:
                return False
            lines[i] = new_line
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(new_line)
    atomic_write_text(path, "".join(lines), mode=DOTENV_MODE)
    return True
