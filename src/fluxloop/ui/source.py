"""What ``fluxloop ui PATH`` serves: the root directory and the experiments found under it.

A PATH may be a single experiment directory, a project (its ``experiments/``), a folder of
experiments, or anything above those (searched a few levels deep). Pages name an experiment by
its path relative to the root; :meth:`Root.resolve` refuses anything that leaves the root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fluxloop.analysis.traces_dir import is_traces_directory
from fluxloop.errors import InputError
from fluxloop.project.layout import ERRORS_FILE, EVALUATION_DIR, PARSE_DIR, TRACE_SUMMARY_FILE

__all__ = ["Root", "is_experiment_dir", "is_run_dir", "is_traces_directory"]

#: how deep experiments are looked for below the served directory
#: (fluxloop/<project>/experiments/<run> from a repository's root)
MAX_DEPTH = 4
_SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", PARSE_DIR, EVALUATION_DIR}


def is_experiment_dir(path: Path) -> bool:
    """An experiment directory as :func:`fluxloop.analysis.experiment.load_experiment` sees it."""
    return (path / TRACE_SUMMARY_FILE).is_file() or (path / ERRORS_FILE).is_file()


def is_run_dir(path: Path) -> bool:
    """An experiment directory, or a directory of traces whose root traces are its runs
    (collector or ``import otlp`` output, the SDK's ``traces/`` folder)."""
    return is_experiment_dir(path) or is_traces_directory(path)


class PathRefused(InputError):
    """A page asked for a path outside the served directory."""


@dataclass(frozen=True)
class Root:
    """The served directory (resolved once; every lookup stays below it)."""

    path: Path

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Root:
        directory = Path(path).expanduser()
        if not directory.exists():
            raise InputError(f"{directory}: not found (expected a project or experiment directory)")
        if not directory.is_dir():
            raise InputError(f"{directory}: not a directory (expected a project or experiment dir)")
        return cls(directory.resolve())

    def resolve(self, relative: str) -> Path:
        """The directory a page names, refused when it is not below the root."""
        if "\x00" in relative:
            raise PathRefused(f"{relative!r}: not a path")
        candidate = (self.path / relative).resolve()
        if candidate != self.path and self.path not in candidate.parents:
            raise PathRefused(f"{relative}: outside the served directory")
        return candidate

    def relative(self, path: Path) -> str:
        """The id pages use for a directory below the root (``.`` for the root itself)."""
        return path.resolve().relative_to(self.path).as_posix()

    def experiments(self) -> list[Path]:
        """Experiment directories and directories of traces under the root (the root itself
        when it is one)."""
        if is_run_dir(self.path):
            return [self.path]
        found: list[Path] = []

        def walk(directory: Path, depth: int) -> None:
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                return
            for entry in entries:
                if entry.name.startswith(".") or entry.name in _SKIP:
                    continue
                try:
                    # latest_<name> links point at runs listed already
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                child = Path(entry.path)
                if is_run_dir(child):
                    found.append(child)
                elif depth < MAX_DEPTH:
                    walk(child, depth + 1)

        walk(self.path, 1)
        return found
