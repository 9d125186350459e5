"""The response cache: successful replies keyed by purpose, model identity and messages.

One JSON Lines file, appended to (one line per answer: ``key``, ``model``, ``response``, ``at``)
and read whole when opened; a torn last line from an interrupted run is skipped. Without a
path the cache lives in memory only (the judge under a cassette). Replies are masked by
:mod:`fluxloop.sdk.masking` before they are kept, so a secret a model echoes never reaches
the disk; the key is a SHA-256 of the request, and the model's label is masked too.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

from fluxloop.sdk.masking import mask_string

from .messages import Message

__all__ = ["CACHE_FILE", "ResponseCache"]

#: the file name of a cache kept in a directory (generation's ``cache_dir``)
CACHE_FILE = "responses.jsonl"


class ResponseCache:
    """Replies by key; :meth:`get` counts ``hits``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.hits = 0
        self._entries: dict[str, str] = {}
        if path is not None and path.is_file():
            with open(path, "rb") as fh:
                for raw in fh:
                    try:
                        item = json.loads(raw)
                    except ValueError:
                        continue  # a torn line from an interrupted run
                    if isinstance(item, dict) and isinstance(item.get("response"), str):
                        self._entries[str(item.get("key"))] = item["response"]

    @classmethod
    def in_dir(cls, directory: Path) -> ResponseCache:
        """The cache kept in ``directory`` (:data:`CACHE_FILE`)."""
        return cls(directory / CACHE_FILE)

    @staticmethod
    def key(purpose: str, identity: str, messages: Sequence[Message]) -> str:
        """SHA-256 of what makes two requests the same request."""
        payload = json.dumps([purpose, identity, [list(m) for m in messages]], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def get(self, key: str) -> str | None:
        found = self._entries.get(key)
        if found is not None:
            self.hits += 1
        return found

    def put(self, key: str, label: str, response: str) -> None:
        """Keep ``response`` (masked) under ``key``; an unwritable file only costs the cache."""
        masked = mask_string(response)
        self._entries[key] = masked
        if self.path is None:
            return
        line = json.dumps(
            {"key": key, "model": mask_string(label), "response": masked, "at": time.time()},
            ensure_ascii=False,
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as fh:
                fh.write(line.encode("utf-8") + b"\n")
        except OSError:
            self.path = None  # read-only or full: keep answering from memory
