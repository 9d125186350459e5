"""YAML reading with line numbers, and atomic text writes.

The YAML-with-positions loading lives in :mod:`fluxloop._yamlpos` (shared with analysis) and is
re-exported here for the runner and generation: ``load_yaml_file`` parses once and keeps, for
every key path, the line where the key was written, so validation can say
``setting.yaml:7: runner.timeout_seconds: ...``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from fluxloop._yamlpos import (
    Located,
    YamlDoc,
    display_path,
    join_key,
    load_yaml_file,
    load_yaml_text,
    safe_load,
)

__all__ = [
    "Located",
    "YamlDoc",
    "atomic_write_text",
    "display_path",
    "join_key",
    "load_yaml_file",
    "load_yaml_text",
    "safe_load",
]


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace`` (never half written).

    The file keeps the mode of the file it replaces (``0644`` for a new one) unless ``mode`` is
    given; the temporary file is private (``0600``) until then, so a secret is never readable
    by others, even for a moment, when ``mode`` is ``0o600``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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
