"""Exception events and error statuses of exported spans, masked on the export thread.

FluxLoop's decorators mask what they record (:func:`fluxloop.sdk._spans.record_failure`), but
other instrumentations on the same provider call ``Span.record_exception`` themselves: a message
such as ``"invalid key sk-…"`` would reach the files raw. The processor's ``prepare`` hook runs
:func:`mask_span_errors` on every batch; a span without events and without an error status costs
two attribute reads
(:func:`_has_events`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status, StatusCode

from fluxloop.sdk.masking import mask_string

__all__ = ["mask_span_errors"]

logger = logging.getLogger("fluxloop")

_TEXT_KEYS = ("exception.message", "exception.stacktrace")


def _has_events(span: ReadableSpan) -> bool:
    """Whether ``span`` has events, without ``ReadableSpan.events`` (which copies them into a
    new tuple under a lock: a microsecond per span, on every span exported)."""
    events = getattr(span, "_events", None)
    if events is None:
        return bool(span.events)
    queue = getattr(events, "_dq", None)  # the SDK's BoundedList keeps a deque
    if type(queue) is deque:
        return bool(queue)
    try:
        return len(events) > 0
    except TypeError:
        return bool(span.events)


def _masked(span: ReadableSpan) -> ReadableSpan:
    changed = False
    events: list[Event] = []
    for event in span.events:
        attributes = event.attributes or {}
        if event.name == "exception" and any(k in attributes for k in _TEXT_KEYS):
            new = dict(attributes)
            for key in _TEXT_KEYS:
                value = new.get(key)
                if isinstance(value, str):
                    masked = mask_string(value)
                    if masked != value:
                        new[key] = masked
                        changed = True
            events.append(Event(event.name, new, event.timestamp) if changed else event)
        else:
            events.append(event)
    status = span.status
    if status.status_code is StatusCode.ERROR and status.description:
        description = mask_string(status.description)
        if description != status.description:
            status = Status(StatusCode.ERROR, description)
            changed = True
    if not changed:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def mask_span_errors(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """``spans`` with exception messages, stack traces and error descriptions masked (the
    sequence itself when nothing changed); never raises."""
    out: list[ReadableSpan] | None = None
    error = StatusCode.ERROR
    for index, span in enumerate(spans):
        new = span
        if _has_events(span) or span.status.status_code is error:
            try:
                new = _masked(span)
            except Exception:
                logger.debug("fluxloop: could not mask an exception event", exc_info=True)
        if new is not span and out is None:
            out = list(spans[:index])
        if out is not None:
            out.append(new)
    return spans if out is None else out
