"""One deprecation warning per original-SDK name in use (``configure()`` keys, variables).

The original FluxLoop SDK's ``use_collector``, ``offline_store_enabled`` and
``offline_store_dir`` (and ``FLUXLOOP_USE_COLLECTOR``, ``FLUXLOOP_OFFLINE_ENABLED``,
``FLUXLOOP_OFFLINE_DIR``) keep working as aliases; each says once per process what replaces it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping

__all__ = ["warn_legacy_names"]

logger = logging.getLogger("fluxloop")

_REPLACEMENTS: Mapping[str, str] = {
    "use_collector": 'storage="http" (True) or storage="file" (False)',
    "offline_store_enabled": 'storage="file" (True) or storage="none" (False)',
    "offline_store_dir": "base_path",
    "FLUXLOOP_USE_COLLECTOR": "FLUXLOOP_STORAGE=http|file",
    "FLUXLOOP_OFFLINE_ENABLED": "FLUXLOOP_STORAGE=file|none",
    "FLUXLOOP_OFFLINE_DIR": "FLUXLOOP_BASE_PATH",
}
_warned: set[str] = set()
_lock = threading.Lock()


def warn_legacy_names(names: Iterable[str]) -> None:
    """Warn once per process for each original-SDK name among ``names``."""
    for name in names:
        replacement = _REPLACEMENTS.get(name)
        if replacement is None:
            continue
        with _lock:
            if name in _warned:
                continue
            _warned.add(name)
        kind = "variable" if name.isupper() else "configure() argument"
        logger.warning(
            "fluxloop: deprecated: the original SDK's %s %s still works; use %s",
            kind,
            name,
            replacement,
        )
