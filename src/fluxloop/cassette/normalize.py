"""Requests as the cassette sees them: secrets masked, volatile parts dropped, a stable digest.

Two requests match when their normalised forms are equal, so everything that differs between
two identical calls (message ids, callback managers, the API key, the host and port of a local
server) is left out, and everything that changes the answer (model, messages, tools, sampling
parameters, stop sequences) is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fluxloop.llm.text import message_text
from fluxloop.sdk.masking import is_secret_key, mask_secrets, mask_string

__all__ = [
    "canonical",
    "digest",
    "last_message_text",
    "mask",
    "mask_text",
    "normalize_body",
    "normalize_url",
]

PREVIEW_CHARS = 80


def mask(value: Any) -> Any:
    """``value`` with secrets masked by the SDK's rules (keys and value patterns)."""
    return mask_secrets(value)


def mask_text(text: str) -> str:
    """``text`` with secret-looking values (``sk-…``, ``Bearer …``) masked."""
    return mask_string(text)


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digest(value: Any) -> str:
    """A short stable digest of a normalised request."""
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()[:20]


def normalize_url(url: str) -> str:
    """Path and query of ``url`` (secret query parameters masked); scheme, host and port are
    left out so a recording made against one address replays against another."""
    parts = urlsplit(url)
    query = [
        (k, "***" if is_secret_key(k) else mask_text(v))
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return parts.path + (f"?{urlencode(query)}" if query else "")


def normalize_body(raw: bytes) -> Any:
    """A request body as JSON (masked) when it is JSON, else its masked text."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"sha256": hashlib.sha256(raw).hexdigest()}
    try:
        return mask(json.loads(text))
    except ValueError:
        return mask_text(text)


def last_message_text(messages: Any) -> str:
    """The first characters of the last message of a chat request (for the miss line)."""
    if not isinstance(messages, list) or not messages:
        return ""
    last = messages[-1]
    text = message_text(last.get("content") if isinstance(last, Mapping) else last)
    text = " ".join(text.split())
    return text[:PREVIEW_CHARS]
