"""The ingest step: what the collector and ``fluxloop import otlp`` do to every span and record
before it is written. One step, applied in :class:`~fluxloop.collector._sink.Sink` (OTLP/HTTP,
OTLP/gRPC and the original SDK's JSON API) and in :func:`~fluxloop.collector.import_otlp_files`.

1. **Masking** (unless ``--no-mask``): the SDK's rules (:mod:`fluxloop.sdk.masking`) on span
   names, attributes (keys such as ``api_key`` or ``db.password``; values such as ``sk-…``,
   ``Bearer …``, JWTs, credentials in URLs, also inside JSON-encoded attribute values), event
   attributes (``exception.message``, ``exception.stacktrace``), link attributes, the status
   message and resource attributes; for the original SDK's records, every field.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status

from fluxloop.sdk._serialize import SerializeOptions, to_json
from fluxloop.sdk.masking import (
    REDACTED,
    is_secret_key,
    mask_json_text,
    mask_secrets,
    mask_string,
)

__all__ = ["DEFAULT_POLICY", "IngestPolicy", "prepare_record", "prepare_spans"]


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
    limit = policy.max_attribute_bytes
    looks_json = text[:1] in ("{", "[")
    if looks_json and (_over(text, limit) or _deep(text, policy.max_depth)):
        bounded = _bounded_json(text, policy)
        if bounded is not None:
            if bounded[1]:
                marks.add(key)
            return bounded[0]
    if policy.mask:
        text = mask_json_text(text) if looks_json else mask_string(text)
    if _over(text, limit):
        marks.add(key)
        return _cut(text, limit)
    return text


def _value(key: str, value: Any, policy: IngestPolicy, marks: _Marks) -> Any:
    if policy.mask and value is not None and not isinstance(value, bool) and is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return _string(key, value, policy, marks)
    if isinstance(value, tuple | list):
        items = [_string(key, v, policy, marks) if isinstance(v, str) else v for v in value]
        if len(items) > policy.max_attributes:
            items = items[: policy.max_attributes]
            marks.add(key)
        return tuple(items)
    return value


def _attributes(
    source: Mapping[str, Any] | None, policy: IngestPolicy, marks: _Marks
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not source:
        return out
    for index, (key, value) in enumerate(source.items()):
        if index >= policy.max_attributes:
            marks.add(_TRUNCATED_ATTRIBUTES)
            break
        name = mask_string(key) if policy.mask else key
        out[name] = _value(key, value, policy, marks)
    return out


def _prepare_span(span: ReadableSpan, policy: IngestPolicy) -> ReadableSpan:
    marks = _Marks()
    attributes = _attributes(span.attributes, policy, marks)
    events = [
        Event(
            mask_string(event.name) if policy.mask else event.name,
            _attributes(event.attributes, policy, marks),
            event.timestamp,
        )
        for event in span.events
    ]
    links = [Link(link.context, _attributes(link.attributes, policy, marks)) for link in span.links]
    status = span.status
    if policy.mask and status.description:
        status = Status(status.status_code, mask_string(status.description))
    resource = span.resource
    if resource is not None and resource.attributes:
        resource_marks = _Marks()
        bounded = _attributes(resource.attributes, policy, resource_marks)
        if bounded != dict(resource.attributes):
            resource = Resource(bounded, resource.schema_url)
    if marks.keys:
        previous = attributes.get(attr.FLUXLOOP_TRUNCATED)
        known = [str(v) for v in previous] if isinstance(previous, tuple | list) else []
        attributes[attr.FLUXLOOP_TRUNCATED] = tuple(dict.fromkeys([*known, *marks.keys]))
    return ReadableSpan(
        name=mask_string(span.name) if policy.mask else span.name,
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def prepare_spans(spans: Sequence[ReadableSpan], policy: IngestPolicy) -> list[ReadableSpan]:
    """``spans`` masked and bounded by ``policy`` (see the module docstring)."""
    return [_prepare_span(span, policy) for span in spans]


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
