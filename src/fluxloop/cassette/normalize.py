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
from fluxloop.sdk.masking import (
    fast_key_scan,
    is_secret_key,
    json_may_contain_secret_value,
    mask_secrets,
    mask_string,
)

try:  # orjson (the ``fast`` extra) sorts keys several times faster than json
    import orjson

    def _canonical_bytes(value: Any) -> bytes:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer beyond 64 bits, a non-str key: json copes
            return canonical(value).encode("utf-8")

except ImportError:  # pragma: no cover - orjson is in the dev and fast extras

    def _canonical_bytes(value: Any) -> bytes:
        return canonical(value).encode("utf-8")


__all__ = [
    "canonical",
    "last_message_text",
    "mask",
    "mask_text",
    "normalize_body",
    "normalize_url",
    "prepare",
]

PREVIEW_CHARS = 80


def mask(value: Any) -> Any:
    """``value`` with secrets masked by the SDK's rules (keys and value patterns)."""
    return mask_secrets(value)


def prepare(kind: str, value: Any) -> tuple[Any, str]:
    """``value`` masked, and the digest of ``kind`` + its canonical form. The SDK's cheap
    superset tests (secret keys, key-shaped runs in the serialized text) skip the masking
    walk when there is certainly nothing to mask, which is the usual chat request."""
    data = _canonical_bytes(value)
    if fast_key_scan(value) or json_may_contain_secret_value(data):
        value = mask_secrets(value)
        data = _canonical_bytes(value)
    return value, hashlib.sha256(kind.encode() + b"\n" + data).hexdigest()[:20]


def mask_text(text: str) -> str:
    """``text`` with secret-looking values (``sk-…``, ``Bearer …``) masked."""
    return mask_string(text)


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


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
    """A request body as JSON when it is JSON, else its text (masked by :func:`prepare`)."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"sha256": hashlib.sha256(raw).hexdigest()}
    try:
        return json.loads(text)
    except ValueError:
        return text


def last_message_text(messages: Any) -> str:
    """The first characters of the last message of a chat request (for the miss line)."""
    if not isinstance(messages, list) or not messages:
        return ""
    last = messages[-1]
    text = message_text(last.get("content") if isinstance(last, Mapping) else last)
    text = " ".join(text.split())
    return text[:PREVIEW_CHARS]
