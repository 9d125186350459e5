"""``fluxloop ui``: a local, read-only web viewer over experiment directories.

:func:`serve` runs it (needs the ``ui`` extra: starlette, uvicorn, duckdb);
:func:`viewer_link` finds a running viewer and returns the URL of a page on it (standard library
only, so any command can print the link).
"""

from __future__ import annotations

from .discovery import viewer_link
from .server import UiSettings, is_loopback, require_ui_extra, serve

__all__ = ["UiSettings", "is_loopback", "require_ui_extra", "serve", "viewer_link"]
