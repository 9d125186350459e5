"""A cassette in memory: entries indexed by run, replaced run by run, saved atomically.

The store also keeps the *usage* of the last session that replayed from it (which entries were
used, per scope) in a small sidecar file ``.<name>.usage.json`` next to the cassette, so
``fluxloop cassette prune`` can drop what no run used without rewriting the cassette on every
replay.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fluxloop._files import atomic_write

from .errors import CassetteError
from .format import entry_id, read_cassette, write_cassette

__all__ = ["Cassette", "cassette_path", "scope_of", "usage_path"]


def cassette_path(directory: Path, name: str) -> Path:
    """``<directory>/<name>.jsonl`` (characters unsafe in a file name become ``_``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".") or "cassette"
    return directory / f"{safe}.jsonl"


def usage_path(path: Path) -> Path:
    """The sidecar file recording which entries the last session used."""
    return path.with_name(f".{path.stem}.usage.json")


def scope_of(run_key: str) -> str:
    """``run`` for ``run:0|alice|…``: what kind of caller recorded an entry."""
    return run_key.split(":", 1)[0]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Cassette:
    """The entries of one cassette file, by run key, each run's entries in call order."""

    def __init__(self, path: Path, header: Mapping[str, Any], entries: Iterable[dict[str, Any]]):
        self.path = path
        self.header: dict[str, Any] = dict(header)
        self.runs: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            self.runs.setdefault(entry["run"], []).append(entry)
        for run in self.runs.values():
            run.sort(key=lambda e: int(e["call"]))
        self.dirty = False
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, name: str, target: str | None) -> Cassette:
        """The cassette at ``path`` (empty when the file does not exist yet). CassetteError
        when the file is unreadable, corrupt, of another version, or recorded for another
        target than ``target``."""
        if not path.exists():
            header = {"name": name, "target": target, "created_at": _now()}
            return cls(path, header, [])
        header, entries = read_cassette(path)
        recorded = header.get("target")
        if target and recorded and recorded != target:
            raise CassetteError(
                f"{path}: cassette recorded for target {recorded!r}, this run calls "
                f"{target!r}; use another cassette dir or delete the file to re-record"
            )
        return cls(path, header, entries)

    # -- reading ---------------------------------------------------------------------------

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, by run key then call number."""
        return [e for run in sorted(self.runs) for e in self.runs[run]]

    def run(self, key: str) -> list[dict[str, Any]]:
        """The entries recorded for run ``key`` (in call order; empty when none)."""
        return self.runs.get(key, [])

    def __len__(self) -> int:
        return sum(len(v) for v in self.runs.values())

    # -- writing ---------------------------------------------------------------------------

    def replace_run(self, key: str, entries: list[dict[str, Any]]) -> None:
        """Make ``entries`` (renumbered in order) the whole recording of run ``key``."""
        renumbered = [{**e, "run": key, "call": i} for i, e in enumerate(entries)]
        with self._lock:
            self.runs[key] = renumbered
            self.dirty = True

    def drop(self, ids: set[str]) -> int:
        """Remove the entries named by ``ids``; returns how many were removed."""
        removed = 0
        with self._lock:
            for key in list(self.runs):
                kept = [e for e in self.runs[key] if entry_id(e) not in ids]
                removed += len(self.runs[key]) - len(kept)
                if kept:
                    self.runs[key] = kept
                else:
                    del self.runs[key]
            self.dirty = self.dirty or removed > 0
        return removed

    def save(self) -> bool:
        """Write the cassette (atomically) when something changed; True when written."""
        with self._lock:
            if not self.dirty:
                return False
            header = {k: v for k, v in self.header.items() if k != "fluxloop_cassette"}
            header["updated_at"] = _now()
            write_cassette(self.path, header, self.entries())
            self.header = header
            self.dirty = False
        return True

    # -- usage -----------------------------------------------------------------------------

    def read_usage(self) -> dict[str, Any]:
        """``{scope: {"at": ..., "used": [entry ids]}}`` from the last sessions (empty when
        there is no usage file or it cannot be read)."""
        try:
            data = json.loads(usage_path(self.path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        scopes = data.get("scopes") if isinstance(data, dict) else None
        return scopes if isinstance(scopes, dict) else {}

    def write_usage(self, used: Mapping[str, set[str]]) -> None:
        """Record, per scope, which entries this session used (other scopes are kept)."""
        scopes = self.read_usage()
        for scope, ids in used.items():
            scopes[scope] = {"at": _now(), "used": sorted(ids)}
        text = json.dumps({"scopes": scopes}, indent=1, sort_keys=True)
        with contextlib.suppress(OSError):  # usage only informs `prune`; never fail a run on it
            atomic_write(usage_path(self.path), text, mode=0o600)

    def unused(self) -> list[dict[str, Any]]:
        """Entries of a scope some session used, that that session did not use."""
        usage = self.read_usage()
        out = []
        for entry in self.entries():
            record = usage.get(scope_of(entry["run"]))
            if isinstance(record, dict) and entry_id(entry) not in set(record.get("used") or ()):
                out.append(entry)
        return out
