"""``fluxloop_spans``: the spans and contract records of one test, in memory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from fluxloop.sdk import RunCapture

__all__ = ["SpanRecorder", "recording"]


class SpanRecorder:
    """Spans that ended during a test (started in the test's context), with lookups.

    ``spans`` are OpenTelemetry ``ReadableSpan`` objects; ``observations`` and ``traces`` are
    the same spans as FluxLoop JSONL contract records (dicts), exactly as the exporters write
    them. Everything is ordered by start time.
    """

    def __init__(self, capture: RunCapture) -> None:
        self._capture = capture

    # ------------------------------------------------------------------ spans

    @property
    def spans(self) -> list[ReadableSpan]:
        """The ended spans, ordered by start time."""
        return sorted(self._capture.spans, key=lambda s: s.start_time or 0)

    def __len__(self) -> int:
        return len(self._capture.spans)

    def __iter__(self) -> Iterator[ReadableSpan]:
        return iter(self.spans)

    def names(self) -> list[str]:
        """Span names in start order, e.g. ``["invoke_agent run", "execute_tool search"]``."""
        return [span.name for span in self.spans]

    def named(self, name: str) -> list[ReadableSpan]:
        """Every span called ``name``."""
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The single span called ``name`` (an AssertionError listing the names otherwise)."""
        found = self.named(name)
        if len(found) != 1:
            raise AssertionError(
                f"expected exactly one span named {name!r}, found {len(found)}; "
                f"spans: {self.names()}"
            )
        return found[0]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        """The direct children of ``span``."""
        parent_id = span.context.span_id if span.context is not None else None
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == parent_id]

    def tree(self) -> list[str]:
        """Span names indented by depth (two spaces per level), depth first in start order."""
        spans = self.spans
        ids = {s.context.span_id for s in spans if s.context is not None}
        lines: list[str] = []

        def walk(span: ReadableSpan, depth: int) -> None:
            lines.append("  " * depth + span.name)
            for child in self.children(span):
                walk(child, depth + 1)

        for span in spans:
            if span.parent is None or span.parent.span_id not in ids:
                walk(span, 0)
        return lines

    # ------------------------------------------------------------------ contract records

    @property
    def observations(self) -> list[dict[str, Any]]:
        """Contract observation records (``type``, ``name``, ``input``, ``output``, …)."""
        from fluxloop_exporters import encode_observation

        return [encode_observation(span) for span in self.spans]

    @property
    def traces(self) -> list[dict[str, Any]]:
        """Contract trace records, one per local root span."""
        from fluxloop_exporters import encode_trace

        records = (encode_trace(span) for span in self.spans)
        return [record for record in records if record is not None]

    def by_type(self, observation_type: str) -> list[dict[str, Any]]:
        """Observation records of one type: ``agent``, ``tool``, ``generation``, ``chain``, …"""
        wanted = str(getattr(observation_type, "value", observation_type)).lower()
        return [obs for obs in self.observations if obs.get("type") == wanted]

    def by_name(self, name: str) -> list[dict[str, Any]]:
        """Observation records whose contract ``name`` (or span name) is ``name``."""
        return [obs for obs in self.observations if obs.get("name") == name]

    @property
    def trace_id(self) -> str | None:
        """Hex id of the (first) trace recorded in this test."""
        return self._capture.trace_id

    def clear(self) -> None:
        """Forget everything recorded so far."""
        self._capture.clear()

    def __repr__(self) -> str:
        return f"<SpanRecorder {len(self)} spans: {self.names()}>"


@contextmanager
def recording() -> Iterator[SpanRecorder]:
    """Record the spans of the current context; configure FluxLoop in memory if it is not yet.

    When FluxLoop is not configured yet it is configured with ``storage="none"`` (nothing is
    written) for the duration and reset afterwards; an existing configuration is kept.
    """
    import fluxloop
    from fluxloop.sdk import capture_run, is_configured

    configured_here = not is_configured()
    if configured_here:
        fluxloop.configure(storage="none")
    try:
        with capture_run({}) as capture:
            yield SpanRecorder(capture)
    finally:
        if configured_here:
            fluxloop.reset_config()
