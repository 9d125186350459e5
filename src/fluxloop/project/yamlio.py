"""YAML reading with line numbers, and atomic text writes.

The YAML-with-positions loading lives in :mod:`fluxloop.project.yamlpos` (shared with analysis)
and is re-exported here for the runner and generation: ``load_yaml_file`` parses once and keeps, for
every key path, the line where the key was written, so validation can say
``setting.yaml:7: runner.timeout_seconds: ...``.
"""

from __future__ import annotations

from pathlib import Path

from fluxloop._files import atomic_write
from fluxloop.project.yamlpos import (
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
    """Write ``text`` to ``path`` atomically (see :func:`fluxloop._files.atomic_write`)."""
    atomic_write(path, text, mode=mode)
