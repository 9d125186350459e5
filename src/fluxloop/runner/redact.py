"""Masking secrets in config snapshots and printed settings.

Keys are matched by segment (``api_key``, ``collector_api_key``, ``OPENAI_API_KEY``, ``token``,
``password``, ``secret``, ``authorization``, ``cookie``, ``credential``...), not by substring, so
``monkey`` or ``author`` stay readable. Values that look like keys (``sk-...``, ``Bearer ...``)
are masked wherever they appear.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "mask_value", "redact"]

MASK = "***"
_SECRET_SEGMENTS = {
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "auth",
    "cookie",
    "credential",
    "credentials",
    "apikey",
    "passphrase",
}
_SECRET_PAIRS = {("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key")}
_VALUE_PATTERNS = re.compile(
    r"^(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+|fl_sk_\S+|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[baprs]-\S+|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{20,})$"
)


def _segments(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)
    return [s for s in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if s]


def is_secret_key(key: str) -> bool:
    segs = _segments(key)
    if any(s in _SECRET_SEGMENTS for s in segs):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(segs))


def mask_value(value: str, *, keep: int = 4) -> str:
    """``****abcd``: the last characters of a secret, for humans who need to tell keys apart."""
    if not value:
        return value
    if len(value) <= keep * 2:
        return MASK
    return "****" + value[-keep:]


def redact(value: Any, *, key: str | None = None) -> Any:
    """A deep copy of ``value`` with secret keys and secret-looking values masked."""
    if key is not None and is_secret_key(key) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, Mapping):
        return {k: redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and _VALUE_PATTERNS.match(value.strip()):
        return MASK
    return value
