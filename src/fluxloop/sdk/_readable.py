"""Ended spans as FluxLoop's export-thread steps read and rewrite them: their attributes as a plain
``dict`` where the SDK keeps one, and a copy with some fields changed (the one way FluxLoop rebuilds
a ``ReadableSpan``: deferred content, masking, the collector's bounds)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["attribute_storage", "copy_span", "plain_attributes"]


def plain_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attributes as a plain ``dict`` where the SDK keeps one (see
    :func:`attribute_storage`), else the public mapping. Reading through the SDK's
    ``BoundedAttributes`` costs a lock and a Python call per key, and an exception per missing
    key."""
    storage = attribute_storage(span)
    return storage if storage is not None else (span.attributes or {})


def attribute_storage(span: ReadableSpan) -> dict[str, Any] | None:
    """The ``dict`` the span's attributes live in (its own, or the one inside its
    ``BoundedAttributes``), if the SDK keeps one."""
    own = getattr(span, "_attributes", None)
    if type(own) is dict:
        return own
    inner = getattr(own, "_dict", None)
    if type(inner) is dict or type(inner) is OrderedDict:
        return inner
    return None


def copy_span(span: ReadableSpan, **changes: Any) -> ReadableSpan:
    """A new ``ReadableSpan`` with ``span``'s fields and ``changes`` (``name``, ``attributes``,
    ``events``, ``links``, ``status``, ``resource``…) applied; a changed field is not read from
    ``span``."""
    for field in _FIELDS:
        if field not in changes:
            changes[field] = (
                plain_attributes(span) if field == "attributes" else getattr(span, field)
            )
    return ReadableSpan(**changes)


_FIELDS = (  # and the attributes, read as plain_attributes()
    "name",
    "context",
    "parent",
    "resource",
    "events",
    "links",
    "kind",
    "status",
    "start_time",
    "end_time",
    "instrumentation_scope",
)
