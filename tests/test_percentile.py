"""The one percentile (fluxloop._stats), used by the runner's summary and the analysis."""

from __future__ import annotations

import pytest

from fluxloop._stats import percentile
from fluxloop.analysis import stats as analysis_stats
from fluxloop.runner import stats as runner_stats


def test_no_values_have_no_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile((), 99, is_sorted=True) is None


def test_linear_interpolation() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0 and percentile([1.0, 4.0], 100) == 4.0
    assert percentile([7.0], 90) == 7.0
    # an already sorted sequence is not sorted again (the runner's reservoir)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50, is_sorted=True) == 2.5


def test_runner_and_analysis_share_it() -> None:
    assert analysis_stats.percentile is percentile
    assert runner_stats.percentile is percentile


def test_the_runner_summary_writes_zero_for_no_successful_run() -> None:
    # summary.json's schema documents 0 (not null) when no run succeeded
    empty = runner_stats.LatencyStats().summary()
    assert (empty["p50"], empty["p90"], empty["p95"], empty["p99"]) == (0.0, 0.0, 0.0, 0.0)
    stats = runner_stats.LatencyStats()
    for value in (10.0, 20.0, 30.0, 40.0):
        stats.add(value)
    assert stats.summary()["p50"] == 25.0 and stats.summary()["p95"] == 38.5
