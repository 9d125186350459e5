"""Progress reporting: a rich bar on a terminal, plain periodic lines otherwise.

The bar shows done/total, failures, rate and ETA. Without a terminal (CI logs, pipes) a line is
printed at most every ``interval`` seconds and once at the end. ``rich`` is optional (the
``rich`` extra); without it the plain lines are used everywhere.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Any, TextIO

from .events import NullProgress, ProgressReporter

__all__ = [
    "NullProgress",
    "PlainProgress",
    "ProgressReporter",
    "format_duration",
    "make_progress",
]


def format_duration(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds + 0.5), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class _Counts:
    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.failed = 0
        self.base = 0
        self.started = time.monotonic()

    def begin(self, total: int, done: int, failed: int) -> None:
        self.total, self.done, self.failed, self.base = total, done, failed, done
        self.started = time.monotonic()

    def add(self, success: bool) -> None:
        self.done += 1
        if not success:
            self.failed += 1

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        fresh = self.done - self.base
        return fresh / elapsed if elapsed > 0 and fresh > 0 else 0.0

    def eta(self) -> float:
        rate = self.rate()
        remaining = self.total - self.done
        return remaining / rate if rate > 0 else float("inf")

    def line(self) -> str:
        pct = (100.0 * self.done / self.total) if self.total else 100.0
        rate = self.rate()
        eta = format_duration(self.eta()) if self.done < self.total else "0s"
        return (
            f"[fluxloop] {self.done}/{self.total} ({pct:.0f}%) failed={self.failed} "
            f"rate={rate:.1f}/s ETA {eta}"
        )


class PlainProgress:
    """One status line every ``interval`` seconds (and at the end)."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self.counts = _Counts()
        self._last = 0.0

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        self.counts.begin(total, done, failed)
        self._last = time.monotonic()

    def advance(self, success: bool) -> None:
        self.counts.add(success)
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit(self.counts.line())

    def info(self, message: str) -> None:
        self._emit(message)

    def finish(self) -> None:
        self._emit(self.counts.line())

    def _emit(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            print(text, file=self.stream, flush=True)


class RichProgress:
    """A rich progress bar on stderr."""

    def __init__(self, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(file=stream or sys.stderr)
        self.counts = _Counts()
        self.progress = Progress(
            TextColumn("[bold]fluxloop"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self._task: Any = None
        self._last = 0.0

    def start(self, total: int, done: int = 0, failed: int = 0) -> None:
        self.counts.begin(total, done, failed)
        self.progress.start()
        self._task = self.progress.add_task(
            "runs", total=total, completed=done, failed=failed, rate="0.0", eta="?"
        )

    def advance(self, success: bool) -> None:
        self.counts.add(success)
        now = time.monotonic()
        if now - self._last < 0.1 and self.counts.done < self.counts.total:
            return
        self._last = now
        self.progress.update(
            self._task,
            completed=self.counts.done,
            failed=self.counts.failed,
            rate=f"{self.counts.rate():.1f}",
            eta=format_duration(self.counts.eta()),
        )

    def info(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def finish(self) -> None:
        if self._task is not None:
            self.progress.update(
                self._task,
                completed=self.counts.done,
                failed=self.counts.failed,
                rate=f"{self.counts.rate():.1f}",
                eta="0s",
            )
        self.progress.stop()


def make_progress(
    *, quiet: bool = False, stream: TextIO | None = None, interval: float = 5.0
) -> ProgressReporter:
    """Rich on a terminal when available, plain lines otherwise, nothing when ``quiet``."""
    if quiet:
        return NullProgress()
    out = stream or sys.stderr
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        try:
            return RichProgress(out)
        except ImportError:
            pass
    return PlainProgress(out, interval=interval)
