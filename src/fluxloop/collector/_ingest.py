"""The ingest step: what the collector and ``fluxloop import otlp`` do to every span and record
before it is written. One step, applied in :class:`~fluxloop.collector._sink.Sink` (OTLP/HTTP,
OTLP/gRPC and the original SDK's JSON API) and in :func:`~fluxloop.collector.import_otlp_files`.

1. **Masking** (unless ``--no-mask``): the SDK's rules (:mod:`fluxloop.sdk.masking`) on span
   names, attributes (keys such as ``api_key`` or ``db.password``; values such as ``sk-…``,
   ``Bearer …``, JWTs, credentials in URLs, also inside JSON-encoded attribute values), event
   attributes (``exception.message``, ``exception.stacktrace``), link attributes, the status
   message and resource attributes; for log records, the body and attributes; for the original
   SDK's records, every field.
2. **Limits**, the SDK's defaults unless configured: a string value longer than
   ``max_attribute_bytes`` (UTF-8) is cut and ends with ``…(truncated N chars)``; a
   JSON-encoded value nested deeper than ``max_depth`` or larger than ``max_attribute_bytes``
   is re-serialized within the limits by the SDK's serializer (valid JSON, markers); attributes
   beyond ``max_attributes`` per span (and per event, link and resource) are dropped. The keys
   of cut values, and ``"attributes"`` when attributes were dropped, are listed in the span's
   ``fluxloop.truncated`` attribute, as the SDK does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link

from fluxloop.sdk import SerializeOptions, copy_span, mask_spans, to_json
from fluxloop.sdk.masking import mask_attribute_text, mask_attributes, mask_secrets

__all__ = ["DEFAULT_POLICY", "IngestPolicy", "prepare_logs", "prepare_record", "prepare_spans"]


@dataclass(frozen=True)
class IngestPolicy:
    """What the ingest step does; the defaults are the SDK's capture limits."""

    mask: bool = True
    """Mask secrets with the SDK's rules (``--no-mask`` turns it off)."""
    max_attribute_bytes: int = 32_768
    """Largest attribute value (UTF-8 bytes), as the SDK's ``max_attribute_bytes``."""
    max_depth: int = 10
    """Deepest nesting kept in a JSON-encoded value, as the SDK's ``max_depth``."""
    max_attributes: int = 128
    """Attributes kept per span, event, link and resource (OpenTelemetry's default limit)."""


DEFAULT_POLICY = IngestPolicy()

_TRUNCATED_ATTRIBUTES = "attributes"


class _Marks:
    """Keys whose values were cut on one span (its ``fluxloop.truncated`` list)."""

    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[str] = []

    def add(self, key: str) -> None:
        if key not in self.keys:
            self.keys.append(key)


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-8 bytes, ending with the SDK's truncation marker."""
    keep = max(limit - 48, 16)
    head = text.encode("utf-8", "replace")[:keep].decode("utf-8", "ignore")
    return f"{head}…(truncated {len(text) - len(head)} chars)"


def _deep(text: str, limit: int) -> bool:
    """Whether JSON ``text`` may nest deeper than ``limit`` (cheap over-estimate)."""
    opened = text.count("{") + text.count("[")
    if opened <= limit:
        return False
    depth = 0
    for char in text:
        if char in "{[":
            depth += 1
            if depth > limit:
                return True
        elif char in "}]":
            depth -= 1
    return False


def _over(text: str, limit: int) -> bool:
    return len(text) > limit // 4 and len(text.encode("utf-8", "replace")) > limit


def _bounded_json(text: str, policy: IngestPolicy) -> tuple[str, bool] | None:
    """A JSON-encoded value re-serialized within the limits (masked unless ``--no-mask``) and
    whether something was cut; ``None`` when ``text`` is not JSON."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    options = SerializeOptions(
        max_bytes=policy.max_attribute_bytes,
        max_depth=policy.max_depth,
        max_string=policy.max_attribute_bytes,
        mask_secrets=policy.mask,
    )
    return to_json(value, options)


def _string(key: str, text: str, policy: IngestPolicy, marks: _Marks) -> str:
    """``text`` within the limits (masked already: see :func:`_attributes`)."""
    limit = policy.max_attribute_bytes
    if text[:1] in ("{", "[") and (_over(text, limit) or _deep(text, policy.max_depth)):
        bounded = _bounded_json(text, policy)
        if bounded is not None:
            if bounded[1]:
                marks.add(key)
            return bounded[0]
    if _over(text, limit):
        marks.add(key)
        return _cut(text, limit)
    return text


def _value(key: str, value: Any, policy: IngestPolicy, marks: _Marks) -> Any:
    if isinstance(value, str):
        return _string(key, value, policy, marks)
    if isinstance(value, tuple | list):
        items = [_string(key, v, policy, marks) if isinstance(v, str) else v for v in value]
        if len(items) > policy.max_attributes:
            items = items[: policy.max_attributes]
            marks.add(key)
        return value if items == list(value) else tuple(items)
    return value


def _attributes(
    source: Mapping[str, Any] | None, policy: IngestPolicy, marks: _Marks
) -> Mapping[str, Any] | None:
    """``source`` masked (the SDK's rule for attributes, :func:`mask_attributes`) and bounded;
    ``source`` itself when nothing changed."""
    if not source:
        return source
    masked = mask_attributes(source) if policy.mask else source
    out: dict[str, Any] = {}
    changed = masked is not source
    items: Iterable[tuple[str, Any]] = masked.items()
    if len(masked) > policy.max_attributes:
        marks.add(_TRUNCATED_ATTRIBUTES)
        changed = True
        items = islice(items, policy.max_attributes)
    for key, value in items:
        new = (
            _string(key, value, policy, marks)
            if type(value) is str
            else _value(key, value, policy, marks)
        )
        changed = changed or new is not value
        out[key] = new
    return out if changed else source


class _Resources:
    """Prepared resources of one batch: spans of a request share their resource object."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done: dict[int, tuple[Resource, Resource]] = {}

    def get(self, resource: Resource, policy: IngestPolicy) -> Resource:
        known = self.done.get(id(resource))
        if known is not None and known[0] is resource:
            return known[1]
        bounded = _attributes(resource.attributes, policy, _Marks())
        prepared = resource
        if bounded is not resource.attributes and bounded is not None:
            prepared = Resource(dict(bounded), resource.schema_url)
        self.done[id(resource)] = (resource, prepared)
        return prepared


def _prepare_span(span: ReadableSpan, policy: IngestPolicy, resources: _Resources) -> ReadableSpan:
    """``span`` within the limits (masked already: see :func:`prepare_spans`)."""
    marks = _Marks()
    attributes = _attributes(span.attributes, policy, marks)
    changed = attributes is not span.attributes
    events = list(span.events)
    for index, event in enumerate(events):
        event_attributes = _attributes(event.attributes, policy, marks)
        if event_attributes is not event.attributes:
            events[index] = Event(event.name, event_attributes, event.timestamp)
            changed = True
    links = list(span.links)
    for index, link in enumerate(links):
        link_attributes = _attributes(link.attributes, policy, marks)
        if link_attributes is not link.attributes:
            links[index] = Link(link.context, link_attributes)
            changed = True
    resource = span.resource
    if resource is not None and resource.attributes:
        resource = resources.get(resource, policy)
        changed = changed or resource is not span.resource
    if not changed and not marks.keys:
        return span
    final = dict(attributes or {})
    if marks.keys:
        previous = final.get(attr.FLUXLOOP_TRUNCATED)
        known = [str(v) for v in previous] if isinstance(previous, tuple | list) else []
        final[attr.FLUXLOOP_TRUNCATED] = tuple(dict.fromkeys([*known, *marks.keys]))
    return copy_span(span, resource=resource, attributes=final, events=events, links=links)


def prepare_spans(spans: Sequence[ReadableSpan], policy: IngestPolicy) -> list[ReadableSpan]:
    """``spans`` masked and bounded by ``policy`` (see the module docstring); a span that needs
    nothing is passed through as is. The masking is the SDK's own export step
    (:func:`~fluxloop.sdk._span_masking.mask_spans`), so a span is masked the same whether it was
    written in process or sent to the collector."""
    resources = _Resources()
    if policy.mask:
        spans = mask_spans(spans)
        policy = replace(policy, mask=False)  # what is left is bounding
    return [_prepare_span(span, policy, resources) for span in spans]


def _body(body: Any, policy: IngestPolicy, marks: _Marks) -> Any:
    """A log record's body (any JSON value) masked and bounded like one attribute."""
    if isinstance(body, str):
        return _string("body", mask_attribute_text(body) if policy.mask else body, policy, marks)
    if not isinstance(body, dict | list | tuple):
        return body
    options = SerializeOptions(
        max_bytes=policy.max_attribute_bytes,
        max_depth=policy.max_depth,
        max_string=policy.max_attribute_bytes,
        mask_secrets=policy.mask,
    )
    text, cut = to_json(body, options)
    if cut:
        marks.add("body")
    bounded = json.loads(text)
    return body if bounded == body else bounded


def _prepare_log(
    readable: ReadableLogRecord, policy: IngestPolicy, resources: _Resources
) -> ReadableLogRecord:
    record = readable.log_record
    marks = _Marks()
    attributes = _attributes(record.attributes, policy, marks)
    body = _body(record.body, policy, marks)
    resource = readable.resource
    if resource is not None and resource.attributes:
        resource = resources.get(resource, policy)
    if (
        attributes is record.attributes
        and body is record.body
        and resource is readable.resource
        and not marks.keys
    ):
        return readable
    final = dict(attributes or {})
    if marks.keys:
        final[attr.FLUXLOOP_TRUNCATED] = tuple(marks.keys)
    new = LogRecord(
        timestamp=record.timestamp,
        observed_timestamp=record.observed_timestamp,
        trace_id=record.trace_id,
        span_id=record.span_id,
        trace_flags=record.trace_flags,
        severity_text=record.severity_text,
        severity_number=record.severity_number,
        body=body,
        attributes=final or None,
    )
    new.event_name = getattr(record, "event_name", None)
    return ReadableLogRecord(new, resource, readable.instrumentation_scope)


def prepare_logs(
    records: Sequence[ReadableLogRecord], policy: IngestPolicy
) -> list[ReadableLogRecord]:
    """OTLP log records masked and bounded by ``policy``: body and attributes as span
    attributes are (a record that needs nothing is passed through as is)."""
    resources = _Resources()
    return [_prepare_log(record, policy, resources) for record in records]


_RECORD_CONTENT = ("input", "output", "metadata", "attributes", "error")


def prepare_record(record: Mapping[str, Any], policy: IngestPolicy) -> dict[str, Any]:
    """An original-SDK contract record masked and bounded by ``policy``: every field masked;
    ``input``, ``output``, ``metadata``, ``attributes`` and ``error`` each bounded like one
    attribute (larger values are re-serialized within the limits and listed in
    ``metadata["fluxloop.truncated"]``)."""
    out: dict[str, Any] = dict(mask_secrets(dict(record)) if policy.mask else record)  # type: ignore[call-overload]
    cut: list[str] = []
    options = SerializeOptions(
        max_bytes=policy.max_attribute_bytes,
        max_depth=policy.max_depth,
        max_string=policy.max_attribute_bytes,
        mask_secrets=policy.mask,
    )
    for field in _RECORD_CONTENT:
        value = out.get(field)
        if value is None or isinstance(value, bool | int | float):
            continue
        text, truncated = to_json(value, options)
        if truncated:
            cut.append(field)
            out[field] = json.loads(text)
    if cut:
        metadata = out.get("metadata")
        metadata = dict(metadata) if isinstance(metadata, dict) else {}
        metadata[attr.FLUXLOOP_TRUNCATED] = cut
        out["metadata"] = metadata
    return out
