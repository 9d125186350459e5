"""Secrets masked in every span FluxLoop writes, whoever made the span.

FluxLoop's decorators check what they capture (:mod:`fluxloop.sdk._serialize`, and
:mod:`fluxloop.sdk._deferred` on the export thread), but other instrumentations on the same
provider, and code calling the OpenTelemetry API directly, set attributes FluxLoop never saw: an
``api_key`` attribute, a prompt quoting ``sk-…``, an exception message with a token. Before any of
FluxLoop's exporters or run captures sees a batch, :func:`mask_spans` applies the rules of
:mod:`fluxloop.sdk.masking` to every span, as the collector does on ingest: the span name,
attribute keys and string values (JSON text structurally: a secret key inside it is masked whatever
its value), string items of sequence values, event names and attributes (``exception.message``,
``exception.stacktrace``), link attributes, the status description and the resource's
attributes. Deferred content (bytes) is left to :func:`fluxloop.sdk._deferred.resolve_spans`,
which checks it.

Cost: a span whose keys are all known clean and whose string values are short and plain costs a
set test and a loop over its values; JSON text is parsed for its keys; longer strings are scanned
for the whole batch at once (one superset test over their concatenation per group), value by value
only in a group that may hold a secret.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from fluxloop.sdk._readable import copy_span, plain_attributes
from fluxloop.sdk.masking import (
    REDACTED,
    is_secret_key,
    json_text_has_secret_key,
    mask_attributes,
    mask_name,
    mask_string,
    text_may_contain_secret_many,
)

__all__ = ["mask_spans"]

logger = logging.getLogger("fluxloop")

#: set on a span object once it went through :func:`mask_spans` (a second pass skips it)
_MASKED = "_fluxloop_masked"
_SHORT = 16  # shorter strings without "=", "@" or ":" hold no secret (see masking)
_JSON_OPENERS = ("{", "[")
_GROUP = 64
_CLEAN_KEYS_MAX = 4096
#: attribute keys that are neither secret keys nor hold secret-looking text
_CLEAN_KEYS: set[str] = set()


def mask_spans(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
    """``spans`` with their secrets masked (see the module docstring): the same sequence when
    nothing needed masking, a span copied only when it changed. Never raises: a span that cannot
    be checked keeps only its identity, timing and numbers (see :func:`_failed_closed`)."""
    try:
        suspects = _suspects(spans)
    except Exception:  # fail closed: every span is looked at, one by one
        logger.debug("fluxloop: could not screen spans for secrets", exc_info=True)
        suspects = set(range(len(spans)))
    out: list[ReadableSpan] | None = None
    for index, span in enumerate(spans):
        new = span
        if index in suspects:
            try:
                new = _masked(span)
            except Exception:
                logger.debug("fluxloop: could not mask a span; strings dropped", exc_info=True)
                new = _failed_closed(span)
        _mark(new)
        if new is not span and out is None:
            out = list(spans[:index])
        if out is not None:
            out.append(new)
    return spans if out is None else out


def _suspects(spans: Sequence[ReadableSpan]) -> set[int]:
    """The positions of the spans that may hold something to mask (a superset)."""
    suspects: set[int] = set()
    texts: list[str] = []
    owners: list[int] = []
    clean = _CLEAN_KEYS
    for index, span in enumerate(spans):
        if getattr(span, _MASKED, False):
            continue
        if _has_events(span) or _has_links(span) or span.status.description:
            suspects.add(index)
            continue
        attributes = plain_attributes(span)
        if not clean.issuperset(attributes) and not _keys_clean(attributes):
            suspects.add(index)
            continue
        name = span.name
        if len(name) >= _SHORT or _has_marks(name):
            texts.append(name)
            owners.append(index)
        for value in attributes.values():
            if type(value) is str:
                if value[:1] in _JSON_OPENERS and json_text_has_secret_key(value):
                    suspects.add(index)  # a secret key of any spelling, inside JSON text
                    break
                if len(value) >= _SHORT or _has_marks(value):
                    texts.append(value)
                    owners.append(index)
            elif type(value) is tuple or type(value) is list:
                for item in value:
                    if type(item) is str:
                        if item[:1] in _JSON_OPENERS and json_text_has_secret_key(item):
                            suspects.add(index)
                        texts.append(item)
                        owners.append(index)
        resource = span.resource
        if (
            resource is not None
            and resource.attributes
            and _resource_masked(resource) is not resource
        ):
            suspects.add(index)
    for start in range(0, len(texts), _GROUP):
        group = texts[start : start + _GROUP]
        if text_may_contain_secret_many(group):
            suspects.update(owners[start : start + _GROUP])
    return suspects


def _has_marks(text: str) -> bool:
    return "=" in text or "@" in text or ":" in text


def _keys_clean(attributes: Mapping[str, Any]) -> bool:
    """Whether no key of ``attributes`` is secret or holds secret-looking text (learning the
    clean ones)."""
    for key in attributes:
        if key in _CLEAN_KEYS:
            continue
        if type(key) is not str or is_secret_key(key) or mask_name(key) is not key:
            return False
        if len(_CLEAN_KEYS) >= _CLEAN_KEYS_MAX:
            _CLEAN_KEYS.clear()
        _CLEAN_KEYS.add(key)
    return True


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


def _has_links(span: ReadableSpan) -> bool:
    links = getattr(span, "_links", None)
    if links is None:
        return bool(span.links)
    try:
        return len(links) > 0
    except TypeError:
        return bool(span.links)


def _masked(span: ReadableSpan) -> ReadableSpan:
    attributes = plain_attributes(span)
    masked_attributes = mask_attributes(attributes)
    changed = masked_attributes is not attributes
    events = list(span.events)
    for index, event in enumerate(events):
        event_attributes = mask_attributes(event.attributes or {})
        name = mask_name(event.name)
        if event_attributes is not (event.attributes or {}) or name != event.name:
            events[index] = Event(name, event_attributes, event.timestamp)
            changed = True
    links = list(span.links)
    for index, link in enumerate(links):
        link_attributes = mask_attributes(link.attributes or {})
        if link_attributes is not (link.attributes or {}):
            links[index] = Link(link.context, link_attributes)
            changed = True
    status = span.status
    if status.description:
        description = mask_string(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
            changed = True
    resource = span.resource
    if resource is not None and resource.attributes:
        resource = _resource_masked(resource)
        changed = changed or resource is not span.resource
    name = mask_name(span.name)
    if not changed and name == span.name:
        return span
    return copy_span(
        span,
        name=name,
        attributes=dict(masked_attributes),
        events=events,
        links=links,
        status=status,
        resource=resource,
    )


_RESOURCES: dict[int, tuple[Resource, Resource]] = {}


def _resource_masked(resource: Resource) -> Resource:
    """``resource`` with its attributes masked (checked once per resource object)."""
    known = _RESOURCES.get(id(resource))
    if known is not None and known[0] is resource:
        return known[1]
    attributes = mask_attributes(resource.attributes)
    masked = (
        resource
        if attributes is resource.attributes
        else Resource(dict(attributes), resource.schema_url)
    )
    if len(_RESOURCES) >= 64:
        _RESOURCES.clear()
    _RESOURCES[id(resource)] = (resource, masked)
    return masked


def _failed_closed(span: ReadableSpan) -> ReadableSpan:
    """What is left of a span that could not be masked: its identity and timing, its name if it
    can be masked, its numbers; every string, event, link and description dropped."""
    try:
        attributes = {
            key: (REDACTED if isinstance(value, str | bytes | tuple | list) else value)
            for key, value in plain_attributes(span).items()
        }
    except Exception:
        attributes = {}
    try:
        name = mask_name(span.name)
    except Exception:
        name = "<span>"
    return copy_span(
        span,
        name=name,
        attributes=attributes,
        events=(),
        links=(),
        status=Status(span.status.status_code),
        resource=Resource.get_empty(),
    )


def _mark(span: ReadableSpan) -> None:
    # a ReadableSpan subclass with __slots__ cannot be marked: it is checked again next time
    with contextlib.suppress(Exception):
        setattr(span, _MASKED, True)
