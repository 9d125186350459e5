"""A project's ``.env`` files: the chain that is read, and a line-preserving writer.

Parsing and applying are the SDK's (:mod:`fluxloop.sdk.envfile`, python-dotenv's parser), so a
project's ``.env`` means the same to ``fluxloop run`` as to ``fluxloop.load_env()`` in the
user's service. Files written here are private (mode ``0600``): they hold API keys.

The chain for a project is ``<project>/../.env`` then ``<project>/.env`` (the project file wins);
variables already in the process environment win over both (explicit > environment > file).
"""

from __future__ import annotations

import re
from pathlib import Path

from fluxloop._files import atomic_write
from fluxloop.sdk.envfile import entries, read_dotenv

__all__ = [
    "DOTENV_MODE",
    "dotenv_chain",
    "set_dotenv_value",
]

DOTENV_MODE = 0o600
"""The mode of every ``.env`` file FluxLoop writes: it holds keys, so only its owner reads it."""


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


def _commented(key: str) -> re.Pattern[str]:
    """A whole line ``# KEY=...`` (``export`` allowed)."""
    return re.compile(rf"^[ \t]*#[ \t]*(?:export[ \t]+)?{re.escape(key)}[ \t]*=.*$", re.M)


def _quote(value: str) -> str:
    """``value`` as python-dotenv reads it back: bare when plain, else double-quoted."""
    if value and re.fullmatch(r"[A-Za-z0-9_./:@+,=-]*", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\r", "\\r").replace("\t", "\\t") + '"'


def set_dotenv_value(
    path: Path, key: str, value: str, *, overwrite: bool = True, revive_commented: bool = False
) -> bool:
    """Set ``key=value`` in ``path`` keeping every other line (comments included).

    Returns False (and leaves the file alone) when the key exists and ``overwrite`` is False.
    With ``revive_commented``, a key that is only commented out (``# KEY=...``) is set on that
    line, where the user documented it, rather than appended.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    new_line = f"{key}={_quote(value)}"
    found = [entry for entry in entries(text) if entry.key == key]
    if found and not overwrite:
        return False
    if found:
        # the last assignment is the one readers use; its text (quotes, a multi-line value, an
        # inline comment) is replaced, every other byte kept
        last = found[-1]
        eol = "\n" if text[last.body : last.end].endswith(("\n", "\r")) else ""
        text = text[: last.body] + new_line + eol + text[last.end :]
    elif revive_commented and (match := _commented(key).search(text)):
        text = text[: match.start()] + new_line + text[match.end() :]
    else:
        text = (text if not text or text.endswith("\n") else text + "\n") + new_line + "\n"
    atomic_write(path, text, mode=DOTENV_MODE)
    return True
