"""How other commands find a running viewer: a small file per viewer under the user's state
directory (``$XDG_STATE_HOME/fluxloop/ui`` or ``~/.local/state/fluxloop/ui``; never inside the
data), confirmed by a health request. ``fluxloop evaluate`` and ``compare`` use
:func:`viewer_link` to print a link to their result.

This module needs only the standard library (the ``ui`` extra may not be installed where the
link is printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

__all__ = ["register", "state_dir", "unregister", "viewer_link"]

HEALTH_TIMEOUT = 0.5


def state_dir() -> Path:
    """Where viewers leave their discovery files."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "fluxloop" / "ui"


def register(url: str, root: Path, token: str | None) -> Path | None:
    """Write this viewer's discovery file (owner-only: it may hold the token); None if the
    state directory is not writable (the viewer works anyway, links are just not printed)."""
    directory = state_dir()
    path = directory / f"viewer-{os.getpid()}.json"
    data = {"url": url, "root": str(root), "pid": os.getpid(), "token": token}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
    except OSError:
        return None
    return path


def unregister(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(OSError):
            path.unlink()


def _healthy(url: str, token: str | None, root: str) -> bool:
    request = urllib.request.Request(url.rstrip("/") + "/api/health")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT) as response:
            data = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("app") == "fluxloop-ui" and data.get("root") == root


def _viewers() -> list[dict[str, Any]]:
    directory = state_dir()
    try:
        files = sorted(directory.glob("viewer-*.json"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []
    out = []
    for path in reversed(files):  # the newest viewer first
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            out.append(data)
    return out


def _below(path: Path, root: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root)
    except (ValueError, OSError):
        return None
    text = rel.as_posix()
    return "" if text == "." else text


def viewer_link(page: str, **dirs: Path | str) -> str | None:
    """The URL of ``page`` (``experiment`` with ``x=DIR``, ``compare`` with ``a=DIR, b=DIR``)
    on a running viewer that serves every directory given; None when there is none."""
    for viewer in _viewers():
        root = Path(str(viewer.get("root") or ""))
        params: dict[str, str] = {}
        for key, value in dirs.items():
            if isinstance(value, Path):
                rel = _below(value, root)
                if rel is None:
                    break
                params[key] = rel
            else:
                params[key] = value
        else:
            token = viewer.get("token") if isinstance(viewer.get("token"), str) else None
            if not _healthy(viewer["url"], token, str(root)):
                continue
            if token:
                params["token"] = token
            return f"{viewer['url'].rstrip('/')}/{page}?{urlencode(params)}"
    return None
