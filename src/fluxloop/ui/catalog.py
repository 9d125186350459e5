"""The experiments list: one row per experiment directory, from its small files only.

Status and run counts come from the runner's own reading of ``summary.json``
(:func:`fluxloop.project.status.experiment_info`); the row adds what the viewer shows beside them
(latency p50, tokens, the evaluation pass rate when ``evaluation/summary.json`` exists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fluxloop_exporters import CONTRACT_VERSION

from fluxloop.project.layout import EVALUATION_DIR, SUMMARY_FILE
from fluxloop.project.status import experiment_info

from .runload import count_lines

__all__ = ["experiment_row", "read_small_json", "status_word", "traces_row"]

#: contract versions this viewer reads (every version up to the exporters' own)
KNOWN_VERSIONS = tuple(str(v) for v in range(1, int(CONTRACT_VERSION) + 1))

#: the list's four words for the runner's statuses
_STATUS = {
    "completed": "complete",
    "running": "running",
    "interrupted": "interrupted",
    "aborted (resumable)": "resumable",
    "no summary": "resumable",
}


def status_word(raw: str) -> str:
    """running / complete / interrupted / resumable (an unknown status is shown as is)."""
    return _STATUS.get(raw, raw)


def read_small_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A small JSON object file and, when it cannot be used, a one-line notice."""
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path.name}: cannot read ({exc})"
    except ValueError as exc:
        return None, f"{path.name}: malformed JSON ({exc})"
    if not isinstance(data, dict):
        return None, f"{path.name}: expected a JSON object, found {type(data).__name__}"
    return data, None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def traces_row(path: Path, relative: str, trace_files: list[Path]) -> dict[str, Any]:
    """What the list shows for a directory of traces (collector, ``import otlp``, SDK)."""
    evaluation, notice = read_small_json(path / EVALUATION_DIR / SUMMARY_FILE)
    overall = (evaluation or {}).get("overall") or {}
    try:
        mtime = max((p.stat().st_mtime for p in trace_files), default=path.stat().st_mtime)
    except OSError:
        mtime = 0.0
    return {
        "id": relative,
        "name": path.name,
        "dir": path.name,
        "kind": "traces",
        "date": None,
        "status": "traces",
        "runs": sum(count_lines(p) for p in trace_files),
        "planned": None,
        "failed": None,
        "success_rate": None,
        "pass_rate": _num(overall.get("pass_rate")),
        "evaluated": evaluation is not None,
        "p50_ms": None,
        "p95_ms": None,
        "tokens": None,
        "mtime": mtime,
        "notices": ["evaluation/" + notice] if notice else [],
    }


def experiment_row(path: Path, relative: str) -> dict[str, Any]:
    """What the list shows for one experiment directory."""
    info = experiment_info(path)
    notices: list[str] = []
    summary, notice = read_small_json(path / SUMMARY_FILE)
    if notice:
        notices.append(notice)
    summary = summary or {}
    version = summary.get("contract_version")
    if version is not None and str(version) not in KNOWN_VERSIONS:
        notices.append(
            f"summary.json: unknown contract version {version!r} "
            f"(expected {' or '.join(KNOWN_VERSIONS)}); shown as far as it can be read"
        )
    evaluation, notice = read_small_json(path / EVALUATION_DIR / SUMMARY_FILE)
    if notice:
        notices.append("evaluation/" + notice)
    overall = (evaluation or {}).get("overall") or {}
    results = summary.get("results") if isinstance(summary.get("results"), dict) else {}
    assert isinstance(results, dict)
    tokens = summary.get("tokens") if isinstance(summary.get("tokens"), dict) else {}
    assert isinstance(tokens, dict)
    p50 = _num(results.get("p50_duration_ms"))
    if p50 is None and isinstance(summary.get("duration_ms"), dict):
        p50 = _num(summary["duration_ms"].get("p50"))
    return {
        "id": relative,
        "name": info.name if info else path.name,
        "dir": path.name,
        "kind": "experiment",
        "date": info.date if info else None,
        "status": status_word(info.status) if info else "unknown",
        "runs": info.total if info else 0,
        "planned": info.planned if info else None,
        "failed": info.failed if info else 0,
        "success_rate": info.success_rate if info else None,
        "pass_rate": _num(overall.get("pass_rate")),
        "evaluated": evaluation is not None,
        "p50_ms": p50,
        "p95_ms": info.p95_duration_ms if info else None,
        "tokens": _num(tokens.get("total_tokens")),
        "mtime": info.sort_key if info else 0.0,
        "notices": notices,
    }
