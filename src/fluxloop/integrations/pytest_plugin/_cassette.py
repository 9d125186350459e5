"""``@pytest.mark.fluxloop_cassette`` and the ``fluxloop_cassette`` fixture.

A marked test (or one that asks for the fixture) runs with a tape current: its model calls
(langchain-core chat models, the OpenAI / Anthropic SDKs) are recorded to, or replayed from,
``cassettes/<test module>.jsonl`` next to the test file, keyed by the test's name.

Mode: ``--fluxloop-cassette`` > ``FLUXLOOP_CASSETTE`` > the marker's ``mode=`` > ``auto``
(replay what is recorded, record what is missing); CI sets ``FLUXLOOP_CASSETTE=replay`` to be
strict and offline. Marker arguments: ``name=`` (cassette file name), ``mode=``, ``dir=``.
A call with no recording in ``replay`` fails the test with the one miss line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fluxloop.cassette import (
    ENV_MODE,
    CassetteError,
    CassetteMiss,
    Tape,
    resolve_settings,
    use_cassette,
)

__all__ = ["CALL_FAILED", "MARKER", "cassette_for", "register"]

MARKER = "fluxloop_cassette"
#: set by the plugin's report hook: the test body already failed (a miss it did not catch)
CALL_FAILED = pytest.StashKey[bool]()


def register(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(name=None, mode=None, dir=None): record / replay the model calls of this "
        "test in cassettes/<name>.jsonl (mode: record, replay, auto, off)",
    )


def cassette_for(request: pytest.FixtureRequest) -> Iterator[Tape | None]:
    """The tape of the requesting test (None when cassettes are off)."""
    marker = request.node.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker is not None else {}
    option = request.config.getoption("fluxloop_cassette", default=None)
    mode = option or os.environ.get(ENV_MODE) or kwargs.get("mode") or "auto"
    test_file = Path(str(request.node.path))
    directory = Path(kwargs.get("dir") or test_file.parent / "cassettes")
    if not directory.is_absolute():
        directory = test_file.parent / directory
    try:
        settings = resolve_settings(mode=str(mode), config={"dir": str(directory)})
        name = str(kwargs.get("name") or test_file.stem)
        key = request.node.nodeid.split("::", 1)[-1]
        with use_cassette(
            settings, name=name, target=test_file.name, scope="pytest", key=key
        ) as tape:
            yield tape
    except CassetteMiss as exc:
        if not request.node.stash.get(CALL_FAILED, False):  # else it was reported already
            pytest.fail(str(exc), pytrace=False)
    except CassetteError as exc:
        pytest.fail(str(exc), pytrace=False)
