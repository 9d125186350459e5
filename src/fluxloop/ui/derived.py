"""Directories of traces (``collector serve`` and ``import otlp`` output, the SDK's ``traces/``
folder) seen as experiments: their runs are the root traces, derived by the analysis package
(:func:`fluxloop.analysis.traces_dir.load_directory`) and kept as a ``trace_summary.jsonl``-like
file in a private temporary directory, never beside the data. The file is derived again when the
directory's trace or observation files change (a collector still receiving)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from fluxloop.analysis.traces_dir import is_traces_directory, load_directory

from .runload import file_stamp

__all__ = ["DerivedRuns", "is_traces_directory"]


class DerivedRuns:
    """The derived run files of every directory of traces the viewer opened."""

    def __init__(self) -> None:
        self._tmp: Path | None = None
        self._stamps: dict[Path, tuple[tuple[int, int], ...]] = {}
        self._lock = threading.Lock()

    def trace_paths(self, directory: Path) -> list[Path]:
        """The directory's trace files (daily files of a collector, or one file)."""
        return load_directory(directory).trace_files

    def observation_paths(self, directory: Path) -> list[Path]:
        """The directory's observation files (daily files of a collector, or one file)."""
        return load_directory(directory).observation_paths

    def summary_for(self, directory: Path) -> Path:
        """The derived runs of ``directory`` as JSONL, one run record per line."""
        experiment = load_directory(directory)
        stamp = file_stamp(*experiment.trace_files, *experiment.observation_files)
        with self._lock:
            if self._tmp is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="fluxloop-ui-"))
            digest = hashlib.blake2b(str(directory).encode(), digest_size=8).hexdigest()
            target = self._tmp / f"{digest}.jsonl"
            if self._stamps.get(directory) == stamp and target.is_file():
                return target
            partial = target.with_suffix(".partial")
            with partial.open("w", encoding="utf-8") as fh:
                for run in experiment.iter_runs():
                    fh.write(json.dumps(run.record(), ensure_ascii=False, default=str) + "\n")
            os.replace(partial, target)
            self._stamps[directory] = stamp
            return target

    def close(self) -> None:
        with self._lock:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None
            self._stamps.clear()
