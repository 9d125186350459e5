"""Progress reporting: rich on a terminal, plain periodic lines otherwise, nothing when quiet."""

from __future__ import annotations

import io

from fluxloop.runner.progress import (
    NullProgress,
    PlainProgress,
    RichProgress,
    format_duration,
    make_progress,
)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_selection() -> None:
    assert isinstance(make_progress(quiet=True), NullProgress)
    assert isinstance(make_progress(stream=io.StringIO()), PlainProgress)
    assert isinstance(make_progress(stream=FakeTTY()), RichProgress)


def test_plain_lines_are_periodic_with_counts_rate_and_eta() -> None:
    out = io.StringIO()
    progress = PlainProgress(out, interval=3600)
    progress.start(10, done=2, failed=1)
    for ok in (True, False, True):
        progress.advance(ok)
    assert out.getvalue() == ""  # nothing before the interval elapses
    progress.finish()
    line = out.getvalue().strip()
    assert line.startswith("[fluxloop] 5/10 (50%) failed=2 rate=")
    assert "ETA" in line


def test_rich_bar_renders_done_total_failures_rate_eta() -> None:
    out = FakeTTY()
    progress = make_progress(stream=out)
    progress.start(4)
    progress.info("hello")
    for ok in (True, True, False, True):
        progress.advance(ok)
    progress.finish()
    text = out.getvalue()
    assert "4/4" in text and "1 failed" in text and "ETA" in text and "hello" in text


def test_format_duration() -> None:
    assert format_duration(5.25) == "5.2s"
    assert format_duration(75) == "1m 15s"
    assert format_duration(7300) == "2h 01m"
    assert format_duration(float("inf")) == "?"
