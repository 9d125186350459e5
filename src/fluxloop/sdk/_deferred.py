"""Deferred content: captured on the caller's thread by one ``orjson.dumps``, bounded and
masked on the export thread.

A decorated call's input and output are serialized before the call returns (a snapshot:
later mutation of an argument cannot change what was recorded), but the checks that make
them safe to store (size, depth and string limits, secret keys and secret-looking values)
cost several times the serialization itself. When every consumer of the span is FluxLoop's
own (the provider's only span processor is FluxLoop's router), the raw ``orjson`` bytes go
into the attribute and those checks run later, in batch, where the span is exported:
:func:`resolve_spans` turns every deferred value into exactly the text :func:`to_json`
would have produced on the caller's thread (truncation marker included), before any
exporter, spool or run capture sees the span.

Anything ``orjson`` cannot take as plain data (pydantic models, dataclasses, datetimes, str
or dict subclasses, big ints, cycles), anything over the attribute size limit, a ``redact``
hook, or a provider shared with other span processors takes the eager path: :func:`to_json`
on the caller's thread, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from fluxloop_semconv import attributes as attr
from opentelemetry.sdk.trace import ReadableSpan

from fluxloop.sdk._readable import attribute_storage, copy_span, plain_attributes
from fluxloop.sdk._serialize import (
    ORJSON_AVAILABLE,
    SerializeOptions,
    to_json_serialized_many,
)

logger = logging.getLogger("fluxloop")

#: Attributes whose truncation is marked in ``fluxloop.truncated``: every convention's input
#: and output.
CONTENT = (
    attr.FLUXLOOP_INPUT,
    attr.FLUXLOOP_OUTPUT,
    attr.GEN_AI_TOOL_CALL_ARGUMENTS,
    attr.GEN_AI_TOOL_CALL_RESULT,
)
#: Attributes that may hold deferred (``bytes``) content: the content and the GenAI messages.
DEFERRABLE = (*CONTENT, attr.GEN_AI_INPUT_MESSAGES, attr.GEN_AI_OUTPUT_MESSAGES)


_dumps: Any = None
_SNAPSHOT_OPTIONS = 0
if ORJSON_AVAILABLE:
    import orjson

    _dumps = orjson.dumps
    # anything but plain data raises, and takes the eager path
    _SNAPSHOT_OPTIONS = (
        orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )


def _sdk_keeps_bytes() -> bool:
    """Whether this OpenTelemetry SDK keeps ``bytes`` attribute values (1.45+; older ones
    decode them to text, which would skip the checks: content is then checked eagerly)."""
    try:
        from opentelemetry.attributes import BoundedAttributes

        return BoundedAttributes(attributes={"probe": b"{}"}).get("probe") == b"{}"
    except Exception:
        return False


SUPPORTED = ORJSON_AVAILABLE and _sdk_keeps_bytes()
"""Whether deferred capture can be used at all (orjson installed, SDK keeps bytes)."""


def snapshot(value: object, max_bytes: int) -> bytes | None:
    """``value`` as compact JSON bytes if it is plain data of at most ``max_bytes`` (the
    attribute limit: a larger value is cut on the caller's thread, so that queued spans never
    hold more content than the eager path would), else ``None``."""
    try:
        data: bytes = _dumps(value, option=_SNAPSHOT_OPTIONS)
    except Exception:
        return None
    return data if len(data) <= max_bytes else None


def has_deferred(attributes: Any) -> bool:
    """Whether ``attributes`` hold deferred content."""
    if not attributes:
        return False
    get = attributes.get
    for key in DEFERRABLE:  # noqa: SIM110 - a generator costs twice as much, per span
        if type(get(key)) is bytes:
            return True
    return False


def resolved_attributes(attributes: Any, options: SerializeOptions) -> dict[str, Any]:
    """A copy of ``attributes`` with deferred content resolved (and truncation marked)."""
    values = dict(attributes)
    keys = [key for key in DEFERRABLE if type(values.get(key)) is bytes]
    _apply(values, keys, to_json_serialized_many([values[key] for key in keys], options))
    return values


def _apply(values: dict[str, Any], keys: Sequence[str], texts: Sequence[tuple[str, bool]]) -> None:
    """Set each deferred ``keys`` of ``values`` to its checked text; mark what was cut."""
    cut_keys = []
    for key, (text, cut) in zip(keys, texts, strict=True):
        values[key] = text  # what to_json made of the value
        if cut:
            cut_keys.append(key)
    if cut_keys:
        _mark_truncated(values, cut_keys)


def _mark_truncated(values: dict[str, Any], cut_keys: Sequence[str]) -> None:
    """Add the content keys among ``cut_keys`` to the span's ``fluxloop.truncated``."""
    marked = [key for key in cut_keys if key in CONTENT]
    if marked:
        truncated = list(values.get(attr.FLUXLOOP_TRUNCATED) or ())
        truncated.extend(key for key in marked if key not in truncated)
        values[attr.FLUXLOOP_TRUNCATED] = truncated


def span_has_deferred(span: ReadableSpan) -> bool:
    """Whether ``span`` holds deferred content (cheap: no per-key lock, no exception)."""
    return has_deferred(plain_attributes(span))


def resolve_in_place(span: ReadableSpan, options: SerializeOptions) -> ReadableSpan:
    """``span`` with its deferred content resolved: the same object, its attributes changed
    where they are stored, when the SDK keeps them in a ``dict`` (spans with deferred content
    are seen only by FluxLoop's own consumers, which all resolve them identically), else a
    copy."""
    storage = attribute_storage(span)
    attributes = storage if storage is not None else (span.attributes or {})
    if not has_deferred(attributes):
        return span
    if storage is None:
        return copy_span(span, attributes=resolved_attributes(attributes, options))
    keys = [key for key in DEFERRABLE if type(storage.get(key)) is bytes]
    _apply(storage, keys, to_json_serialized_many([storage[key] for key in keys], options))
    return span


def resolve_spans(
    spans: Sequence[ReadableSpan], options: SerializeOptions
) -> Sequence[ReadableSpan]:
    """``spans`` with deferred content resolved; never raises (content that cannot be
    resolved is replaced by a marker rather than let through unchecked).

    The whole batch's deferred values are checked together (see
    :func:`~fluxloop.sdk._serialize.to_json_serialized_many`); should that fail, span by span."""
    try:
        return _resolve_together(spans, options)
    except Exception:
        logger.debug("fluxloop: could not resolve a batch; span by span", exc_info=True)
    resolved: list[ReadableSpan] | None = None
    for index, span in enumerate(spans):
        try:
            new = resolve_in_place(span, options)
        except Exception:
            logger.debug("fluxloop: could not resolve captured content", exc_info=True)
            new = copy_span(
                span,
                attributes={
                    key: (_UNAVAILABLE if type(value) is bytes else value)
                    for key, value in (span.attributes or {}).items()
                },
            )
        if new is not span:
            if resolved is None:
                resolved = list(spans[:index])
            resolved.append(new)
        elif resolved is not None:
            resolved.append(span)
    return spans if resolved is None else resolved


def _resolve_together(
    spans: Sequence[ReadableSpan], options: SerializeOptions
) -> Sequence[ReadableSpan]:
    found: list[tuple[int, dict[str, Any] | None, Mapping[str, Any], list[str]]] = []
    raws: list[bytes] = []
    for index, span in enumerate(spans):  # loops spelled out: this runs for every span
        storage = attribute_storage(span)
        attributes = storage if storage is not None else (span.attributes or {})
        keys: list[str] | None = None
        for key in DEFERRABLE:
            raw = attributes.get(key)
            if type(raw) is bytes:
                if keys is None:
                    keys = []
                keys.append(key)
                raws.append(raw)
        if keys is not None:
            found.append((index, storage, attributes, keys))
    if not found:
        return spans
    texts = iter(to_json_serialized_many(raws, options))
    resolved: list[ReadableSpan] | None = None
    for index, storage, attributes, keys in found:
        values = storage if storage is not None else dict(attributes)
        cut_keys: list[str] | None = None
        for key in keys:  # _apply, inline: this runs for every span
            values[key], cut = next(texts)
            if cut:
                cut_keys = [key] if cut_keys is None else [*cut_keys, key]
        if cut_keys is not None:
            _mark_truncated(values, cut_keys)
        if storage is None:  # see resolve_in_place
            if resolved is None:
                resolved = list(spans)
            resolved[index] = copy_span(spans[index], attributes=values)
    return spans if resolved is None else resolved


_UNAVAILABLE = '"<unavailable>"'


class SpanResolver:
    """The ``prepare`` hook of FluxLoop's processors: resolves deferred content of a batch."""

    __slots__ = ("options",)

    def __init__(self, options: SerializeOptions) -> None:
        self.options = replace(options, redact=None)  # the hook runs on the caller's thread

    def __call__(self, spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        return resolve_spans(spans, self.options)
