"""Fixtures for SDK tests: a real SDK TracerProvider with FluxLoop's router and an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fluxloop


class Exported:
    """Spans exported through a real provider, with helpers to look them up."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def named(self, name: str) -> ReadableSpan:
        matches = [s for s in self.spans if s.name == name]
        assert len(matches) == 1, (
            f"expected one span {name!r}, found {[s.name for s in self.spans]}"
        )
        return matches[0]

    def names(self) -> list[str]:
        return [s.name for s in self.spans]

    def clear(self) -> None:
        self._exporter.clear()


@pytest.fixture
def exported() -> Iterator[Exported]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fluxloop.reset_config()
    fluxloop.configure(tracer_provider=provider, storage="none")
    yield Exported(exporter)
    fluxloop.reset_config()
    provider.shutdown()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id
