"""Atomic file replacement: the one way FluxLoop rewrites a whole file.

A temporary file in the same directory, then ``os.replace`` over the target, so a reader or a
kill -9 sees the old file or the new one, never half of either. Shared by the runner, analysis and
the cassettes (which sit below the runner), hence a top-level private module.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


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
