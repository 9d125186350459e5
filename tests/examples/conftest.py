"""Fixtures for the example tests: LangChain instrumentation scoped to each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fluxloop.integrations.langchain import instrument_langchain, uninstrument_langchain


@pytest.fixture
def langchain_traced() -> Iterator[None]:
    """The LangChain examples instrument LangChain at import; keep it to this test."""
    instrument_langchain()
    yield
    uninstrument_langchain()
