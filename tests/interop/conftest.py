"""Interop tests against real third-party backends, each in its own virtual environment.

Opt-in: they install large packages, so they run only with ``-m interop`` (``make
test-interop``); the normal suite skips them.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "interop" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="interop test: run with -m interop (make test-interop)")
    for item in items:
        if "interop" in item.keywords:
            item.add_marker(skip)
