from __future__ import annotations

from collections.abc import Iterator

import pytest

from .servers import FakeServer


@pytest.fixture
def openai_server() -> Iterator[FakeServer]:
    server = FakeServer("openai").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def anthropic_server() -> Iterator[FakeServer]:
    server = FakeServer("anthropic").start()
    try:
        yield server
    finally:
        server.stop()
