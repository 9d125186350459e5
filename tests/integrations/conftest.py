"""Fixtures for integration tests: FluxLoop on a real TracerProvider with an in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fluxloop
from fluxloop.integrations.langchain import uninstrument_langchain


class Spans:
    """Exported spans with lookup helpers."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    @property
    def all(self) -> list[ReadableSpan]:
        return list(self._exporter.get_finished_spans())

    def names(self) -> list[str]:
        return [s.name for s in sorted(self.all, key=lambda s: s.start_time or 0)]

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, found {self.names()}"
        return found[0]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        assert span.context is not None
        kids = [
            s for s in self.all if s.parent is not None and s.parent.span_id == span.context.span_id
        ]
        return sorted(kids, key=lambda s: s.start_time or 0)

    def parent(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        for s in self.all:
            if s.context is not None and s.context.span_id == span.parent.span_id:
                return s
        return None

    def tree(self) -> list[str]:
        """Indented span names, depth-first in start order."""
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            lines.append("  " * depth + span.name)
            for child in self.children(span):
                walk(child, depth + 1)

        for root in sorted(
            (s for s in self.all if self.parent(s) is None), key=lambda s: s.start_time or 0
        ):
            walk(root, 0)
        return lines

    def clear(self) -> None:
        self._exporter.clear()


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fluxloop.reset_config()
    fluxloop.configure(tracer_provider=provider, storage="none")
    yield Spans(exporter)
    uninstrument_langchain()
    fluxloop.reset_config()
    provider.shutdown()
