"""The compare page: ``fluxloop compare``'s own alignment and numbers, plus one aligned pair's
outputs and span trees side by side with their differences."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fluxloop.analysis.compare import compare_experiments
from fluxloop.project.layout import EVALUATION_DIR, PER_TRACE_FILE

from .spans import span_diff

__all__ = ["Comparisons"]


def _stamp(directory: Path) -> tuple[int, ...]:
    """Sizes and times of the files a comparison reads (runs, traces, evaluation)."""
    out: list[int] = []
    files = sorted([*directory.glob("*.jsonl"), *directory.glob("*.json")])
    for path in [*files, directory / EVALUATION_DIR / PER_TRACE_FILE]:
        try:
            st = os.stat(path)
            out += [st.st_size, st.st_mtime_ns]
        except OSError:
            out += [-1, 0]
    return tuple(out)


class Comparisons:
    """Comparison results, cached until either experiment's files change; ``run`` reads one
    run in full (the viewer's :meth:`~fluxloop.ui.app.ViewerState.run`)."""

    def __init__(self, run: Callable[[Path, str], dict[str, Any]]) -> None:
        self._run = run
        self._cache: dict[tuple[Path, Path], tuple[tuple[int, ...], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def result(self, a: Path, b: Path) -> dict[str, Any]:
        """``compare_experiments(a, b).as_dict()`` (regressions first, as the CLI lists them)."""
        stamp = _stamp(a) + _stamp(b)
        with self._lock:
            cached = self._cache.get((a, b))
        if cached is not None and cached[0] == stamp:
            return cached[1]
        data = compare_experiments(a, b).as_dict()
        with self._lock:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[(a, b)] = (stamp, data)
        return data

    def pair(self, a: Path, trace_a: str, b: Path, trace_b: str) -> dict[str, Any]:
        """Both runs of one aligned pair, and what differs between their spans."""
        run_a = self._run(a, trace_a)
        run_b = self._run(b, trace_b)
        return {"a": run_a, "b": run_b, "diff": span_diff(run_a["spans"], run_b["spans"])}
