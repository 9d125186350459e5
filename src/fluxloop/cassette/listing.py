"""What ``fluxloop cassette ls|show|prune`` print and do, as library functions."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CassetteError
from .format import entry_id, read_cassette
from .store import Cassette, scope_of

__all__ = ["CassetteInfo", "find_cassette", "list_cassettes", "prune_cassette", "show_lines"]


@dataclass(frozen=True)
class CassetteInfo:
    """One cassette file, summarised."""

    path: Path
    name: str
    target: str | None
    entries: int
    runs: int
    scopes: dict[str, int]
    updated_at: str | None
    unused: int

    def line(self) -> str:
        scopes = ", ".join(f"{k} {v}" for k, v in sorted(self.scopes.items())) or "empty"
        unused = f", {self.unused} unused in the last replay" if self.unused else ""
        return (
            f"{self.name}: {self.entries} call(s) in {self.runs} run(s) ({scopes}){unused}; "
            f"target {self.target or '-'}; updated {self.updated_at or '-'}  [{self.path}]"
        )


def find_cassette(directory: Path, name_or_path: str) -> Path:
    """The cassette file named by a path or by an experiment name in ``directory``."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    named = directory / f"{name_or_path.removesuffix('.jsonl')}.jsonl"
    if named.is_file():
        return named
    raise CassetteError(f"no cassette {name_or_path!r} (looked for {candidate} and {named})")


def _info(path: Path) -> CassetteInfo:
    header, entries = read_cassette(path)
    cassette = Cassette(path, header, entries)
    return CassetteInfo(
        path=path,
        name=str(header.get("name") or path.stem),
        target=header.get("target"),
        entries=len(entries),
        runs=len({e["run"] for e in entries}),
        scopes=dict(Counter(scope_of(e["run"]) for e in entries)),
        updated_at=header.get("updated_at") or header.get("created_at"),
        unused=len(cassette.unused()),
    )


def list_cassettes(directory: Path) -> list[CassetteInfo]:
    """Every cassette in ``directory`` (CassetteError on the first unreadable one)."""
    if not directory.is_dir():
        return []
    return [_info(p) for p in sorted(directory.glob("*.jsonl"))]


def _preview(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _request_preview(entry: dict[str, Any]) -> str:
    request = entry.get("request") or {}
    body = request.get("body") if entry["kind"] == "http" else request
    messages = body.get("messages") if isinstance(body, dict) else None
    if isinstance(messages, list) and messages:
        last = messages[-1]
        return _preview(last.get("content") if isinstance(last, dict) else last)
    return _preview(body)


def _response_preview(entry: dict[str, Any]) -> str:
    response = entry.get("response") or {}
    if "chunks" in response:
        return f"{len(response['chunks'])} streamed chunk(s)"
    for key in ("json", "text", "result"):
        if key in response:
            return _preview(response[key])
    return _preview(response)


def show_lines(path: Path, run: str | None = None) -> list[str]:
    """The header and one line per entry (``run#call kind model ms: request -> response``)."""
    header, entries = read_cassette(path)
    lines = [
        f"{path}: cassette v{header.get('fluxloop_cassette')} {header.get('name')!r}, "
        f"target {header.get('target') or '-'}, {len(entries)} call(s)"
    ]
    for entry in entries:
        if run is not None and run not in entry["run"]:
            continue
        status = (entry.get("response") or {}).get("status")
        lines.append(
            f"  {entry_id(entry)}  {entry['kind']}"
            f"{f' {status}' if status else ''}  {entry.get('model') or '-'}  "
            f"{float(entry.get('duration_ms') or 0):.0f}ms  "
            f"{_request_preview(entry)} -> {_response_preview(entry)}"
        )
    return lines


def prune_cassette(path: Path, *, dry_run: bool = False) -> tuple[int, bool]:
    """Drop the entries no run used in the last session of their scope; returns (how many,
    whether any session recorded its usage)."""
    header, entries = read_cassette(path)
    cassette = Cassette(path, header, entries)
    if not cassette.read_usage():
        return 0, False
    unused = {entry_id(e) for e in cassette.unused()}
    if dry_run or not unused:
        return len(unused), True
    removed = cassette.drop(unused)
    cassette.save()
    return removed, True
