"""Per-run, in-memory capture of spans (what the experiment runner and the pytest plugin use).

:class:`RunCapture` holds one run's spans and :data:`CAPTURE_PROCESSOR` routes them to it;
``with capture_run({...}) as cap:`` (:mod:`fluxloop.sdk._runtime`, which installs the processor)
stamps the given attributes on every span started in the
current context (the same thread or asyncio task, and worker threads that copy the context)
and collects the spans as they end, so a runner never re-reads shared trace files.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from fluxloop_exporters import encode_observation, encode_trace
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from fluxloop.sdk._deferred import resolve_spans
from fluxloop.sdk._serialize import DEFAULT_OPTIONS, SerializeOptions
from fluxloop.sdk._span_masking import mask_spans

CAPTURE_KEY = otel_context.create_key("fluxloop-capture")


class RunCapture:
    """Spans of one run, in the order they ended."""

    def __init__(
        self, attributes: Mapping[str, Any], options: SerializeOptions = DEFAULT_OPTIONS
    ) -> None:
        self.attributes = dict(attributes)
        self._options = options
        self._spans: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def _add(self, span: ReadableSpan) -> None:
        with self._lock:
            self._spans.append(span)

    @property
    def spans(self) -> list[ReadableSpan]:
        """The ended spans (a copy), their secrets masked and their deferred content resolved."""
        with self._lock:
            resolved = resolve_spans(mask_spans(self._spans), self._options)
            if resolved is not self._spans:
                self._spans = list(resolved)
            return list(self._spans)

    @property
    def trace_id(self) -> str | None:
        """Hex id of the first trace whose root span ended in this capture."""
        for span in self.spans:
            if span.parent is None and span.context is not None:
                return format(span.context.trace_id, "032x")
        for span in self.spans:
            if span.context is not None:
                return format(span.context.trace_id, "032x")
        return None

    def observations(self) -> list[dict[str, Any]]:
        """Contract-v1 observation records of the captured spans."""
        return [encode_observation(span) for span in self.spans]

    def traces(self) -> list[dict[str, Any]]:
        """Contract-v1 trace records (one per local root span)."""
        records = (encode_trace(span) for span in self.spans)
        return [record for record in records if record is not None]

    def clear(self) -> None:
        """Forget the spans captured so far."""
        with self._lock:
            self._spans.clear()


class _CaptureProcessor(SpanProcessor):
    """Routes each ended span to the capture that was current when it started."""

    def __init__(self) -> None:
        self._owners: dict[int, RunCapture] = {}
        #: how many capture_run() blocks are open, in any thread
        self.active = 0
        self._lock = threading.Lock()

    def opened(self) -> None:
        with self._lock:
            self.active += 1

    def closed(self) -> None:
        with self._lock:
            self.active -= 1

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if not self.active:  # no capture_run anywhere: skip the context lookup
            return
        capture = otel_context.get_value(CAPTURE_KEY, parent_context)
        if isinstance(capture, RunCapture) and span.context is not None:
            self._owners[span.context.span_id] = capture

    def on_end(self, span: ReadableSpan) -> None:
        if not self._owners or span.context is None:
            return
        capture = self._owners.pop(span.context.span_id, None)
        if capture is not None:
            capture._add(span)

    def shutdown(self) -> None:
        self._owners.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


CAPTURE_PROCESSOR = _CaptureProcessor()
