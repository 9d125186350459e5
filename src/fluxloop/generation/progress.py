"""Live progress of LLM work: calls done, tokens, cache hits, retries (stderr).

On a terminal one line is redrawn in place; otherwise a line is printed at most every
``interval`` seconds and once at the end (CI logs stay short).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TextIO

from fluxloop.llm.usage import UsageMeter

__all__ = ["LiveProgress", "usage_line"]


def usage_line(meter: UsageMeter) -> str:
    parts = [
        f"tokens {meter.total_tokens:,} (prompt {meter.prompt_tokens:,}, "
        f"completion {meter.completion_tokens:,})",
        f"calls {meter.calls}",
    ]
    if meter.cached:
        parts.append(f"cached {meter.cached}")
    if meter.retries:
        parts.append(
            f"retries {meter.retries}"
            + (f" ({meter.rate_limited} rate-limited)" if meter.rate_limited else "")
        )
    if meter.malformed:
        parts.append(f"malformed {meter.malformed}")
    if meter.failed:
        parts.append(f"failed {meter.failed}")
    return ", ".join(parts)


class LiveProgress:
    def __init__(
        self,
        label: str,
        meter: UsageMeter,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        interval: float = 5.0,
    ) -> None:
        self.label = label
        self.meter = meter
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval = interval
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(callable(isatty) and isatty())
        self.done = 0
        self.total = 0
        self._last = 0.0
        self._drawn = False
        self.started = time.monotonic()
        meter.listeners.append(lambda _m: self._render(False))

    def update(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self._render(False)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        return (
            f"[fluxloop] {self.label} {self.done}/{self.total} - {usage_line(self.meter)} - "
            f"{elapsed:.1f}s"
        )

    def _render(self, final: bool) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        with contextlib.suppress(OSError, ValueError):
            if self.tty:
                if final or now - self._last >= 0.1:
                    self._last = now
                    self.stream.write("\r\x1b[2K" + self._line())
                    self._drawn = True
                    if final:
                        self.stream.write("\n")
                    self.stream.flush()
            elif final or now - self._last >= self.interval:
                self._last = now
                print(self._line(), file=self.stream, flush=True)

    def finish(self) -> None:
        self._render(True)
