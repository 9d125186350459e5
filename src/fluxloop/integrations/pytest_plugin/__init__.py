"""FluxLoop's pytest plugin (registered through the ``pytest11`` entry point ``fluxloop``).

Fixtures:

``fluxloop_spans``
    The spans that code called in the test produced, in memory: ``.spans``, ``.names()``,
    ``.tree()``, ``.one(name)``, ``.observations`` / ``.traces`` (contract records),
    ``.by_type("tool")``. If FluxLoop is not configured it runs with ``storage="none"`` for the
    test (nothing written) and is reset afterwards.

``fluxloop_runner``
    ``fluxloop_runner(project_root=..., simulation_config=..., overrides={"iterations": 1},
    env={...}, timeout=600)`` runs an experiment in-process through the runner's library API
    and returns a :class:`FluxLoopTestResult` (``total_runs``, ``failed``, ``success_rate``,
    ``experiment_dir``, ``trace_summary_path``, …, ``require_success(threshold)``).

``fluxloop_runner_multi_turn``
    The same runner (multi-turn settings go in ``overrides``), for the original plugin's name.

``fluxloop_cli``
    ``fluxloop_cli("run", "experiment", "--iterations", "1", cwd=...)`` runs the ``fluxloop`` CLI
    in a subprocess and returns a :class:`CLIResult` (``exit_code``, ``stdout``, ``stderr``,
    ``require_success()``, and the experiment's numbers after ``run experiment``).

``fluxloop_cassette`` / ``@pytest.mark.fluxloop_cassette(name=None, mode=None, dir=None)``
    The test's model calls are recorded to / replayed from ``cassettes/<module>.jsonl`` next to
    the test file (mode: ``--fluxloop-cassette`` > ``FLUXLOOP_CASSETTE`` > ``mode=`` >
    ``auto``); the fixture's value is the test's tape (None when off).

The plugin works under pytest-xdist: every fixture is per test, experiment directories are
created atomically (a suffix on a name clash), and nothing is shared between workers.
Importing this module configures nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fluxloop.cassette import Tape
from fluxloop.integrations.pytest_plugin._cassette import (
    CALL_FAILED,
    MARKER,
    cassette_for,
    register,
)
from fluxloop.integrations.pytest_plugin._results import CLIResult, FluxLoopTestResult
from fluxloop.integrations.pytest_plugin._spans import SpanRecorder

__all__ = [
    "CLIResult",
    "FluxLoopTestResult",
    "SpanRecorder",
    "fluxloop_cassette",
    "fluxloop_cli",
    "fluxloop_runner",
    "fluxloop_runner_multi_turn",
    "fluxloop_spans",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fluxloop-cassette",
        dest="fluxloop_cassette",
        choices=("record", "replay", "auto", "off"),
        default=None,
        help="FluxLoop model-call cassettes for marked tests (default: FLUXLOOP_CASSETTE, "
        "the marker's mode, auto).",
    )


def pytest_configure(config: pytest.Config) -> None:
    register(config)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed


@pytest.fixture
def fluxloop_cassette(request: pytest.FixtureRequest) -> Iterator[Tape | None]:
    """The test's model calls recorded / replayed (see the module docstring)."""
    yield from cassette_for(request)


@pytest.fixture(autouse=True)
def _fluxloop_cassette_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    # a marked test gets its tape without asking for the fixture
    if request.node.get_closest_marker(MARKER) is None or "fluxloop_cassette" in (
        request.fixturenames
    ):
        yield
        return
    for _ in cassette_for(request):
        yield


@pytest.fixture
def fluxloop_spans() -> Iterator[SpanRecorder]:
    """Spans (and contract records) of everything traced during the test."""
    from fluxloop.integrations.pytest_plugin._spans import recording

    with recording() as recorder:
        yield recorder


@pytest.fixture
def fluxloop_runner() -> Callable[..., FluxLoopTestResult]:
    """Run a FluxLoop experiment in-process: ``fluxloop_runner(project_root=..., ...)``."""
    from fluxloop.integrations.pytest_plugin._runner import run_experiment_in_process

    return run_experiment_in_process


@pytest.fixture
def fluxloop_runner_multi_turn(
    fluxloop_runner: Callable[..., FluxLoopTestResult],
) -> Callable[..., FluxLoopTestResult]:
    """Same as ``fluxloop_runner`` (put the multi-turn settings in ``overrides``)."""
    return fluxloop_runner


@pytest.fixture
def fluxloop_cli(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CLIResult]:
    """Run the ``fluxloop`` CLI in a subprocess: ``fluxloop_cli("status", "check", cwd=...)``."""
    from fluxloop.integrations.pytest_plugin._runner import run_cli

    def invoke(*args: Any, **kwargs: Any) -> CLIResult:
        kwargs.setdefault("log_dir", Path(tmp_path_factory.mktemp("fluxloop_cli")))
        return run_cli(*args, **kwargs)

    return invoke
