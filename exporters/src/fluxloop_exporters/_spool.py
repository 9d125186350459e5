"""A durable on-disk spool of spans.

A spool directory holds *segments*: JSONL files of at most ``segment_spans`` spans, one span per
line, with everything needed to rebuild a :class:`ReadableSpan` with the same ids, times,
attributes, events, links, status, kind, resource and instrumentation scope.

Segments are written to a temporary name and renamed into place, so a segment is either complete
or absent (a crash mid-write leaves only a ``.tmp`` file, ignored and cleaned up later). Their
names sort oldest first. A reader *claims* a segment by renaming it (atomic, so two processes
sharing a spool never send the same segment), then either acknowledges it (the file is deleted)
or releases it (renamed back). Claims left by a dead process are released on the next scan, so
the spool survives process restarts: a new spool on the same directory re-sends what a previous
process left.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from . import _json

__all__ = ["SpanSpool", "span_from_dict", "span_to_dict"]

_logger = logging.getLogger("fluxloop")

SPOOL_FORMAT = 1
_SUFFIX = ".spool.jsonl"
_CLAIM = ".claimed-"
_TMP_PREFIX = ".tmp-"
_KINDS = {k.value: k for k in SpanKind}
_CODES = {c.value: c for c in StatusCode}

# ---------------------------------------------------------------------------------------------
# span <-> dict


def _attrs_out(attrs: Any) -> dict[str, Any]:
    # tuples serialize as JSON arrays; only non-finite floats need care (JSON has no NaN)
    if not attrs:
        return {}
    try:
        out: dict[str, Any] = attrs.copy()
    except AttributeError:
        out = dict(attrs)
    for key, value in out.items():
        if type(value) is float and value - value != 0:
            out[key] = {"$float": repr(value)}
        elif type(value) is tuple:
            for item in value:
                if type(item) is float and item - item != 0:
                    out[key] = [
                        {"$float": repr(v)} if type(v) is float and v - v != 0 else v for v in value
                    ]
                    break
    return out


def _float_in(value: Any) -> Any:
    if type(value) is dict and "$float" in value:
        return float(value["$float"])
    return value


def _attrs_in(attrs: Any) -> dict[str, Any]:
    if not attrs:
        return {}
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        t = type(value)
        if t is list:
            out[key] = tuple(_float_in(v) for v in value)
        elif t is dict:
            out[key] = _float_in(value)
        elif value is not None:
            out[key] = value
    return out


def _bounded(attrs: dict[str, Any], dropped: int) -> BoundedAttributes:
    bounded = BoundedAttributes(maxlen=None, attributes=attrs, immutable=True)
    bounded.dropped = int(dropped or 0)
    return bounded


def _ctx_out(ctx: SpanContext) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "flags": int(ctx.trace_flags),
        "remote": bool(ctx.is_remote),
    }
    if ctx.trace_state:
        out["state"] = ctx.trace_state.to_header()
    return out


def _ctx_in(data: dict[str, Any]) -> SpanContext:
    state = data.get("state")
    return SpanContext(
        trace_id=int(data["trace_id"], 16),
        span_id=int(data["span_id"], 16),
        is_remote=bool(data.get("remote", False)),
        trace_flags=TraceFlags(int(data.get("flags", 1))),
        trace_state=TraceState.from_header([state]) if state else None,
    )


_RESOURCE_CACHE: dict[int, tuple[Resource, dict[str, Any]]] = {}
_SCOPE_CACHE: dict[int, tuple[InstrumentationScope, dict[str, Any] | None]] = {}
_RESOURCE_IN: dict[bytes, Resource] = {}
_SCOPE_IN: dict[bytes, InstrumentationScope] = {}


def _resource_out(resource: Resource) -> dict[str, Any]:
    hit = _RESOURCE_CACHE.get(id(resource))
    if hit is not None and hit[0] is resource:
        return hit[1]
    data = {"attrs": _attrs_out(resource.attributes), "schema_url": resource.schema_url or ""}
    if len(_RESOURCE_CACHE) > 64:
        _RESOURCE_CACHE.clear()
    _RESOURCE_CACHE[id(resource)] = (resource, data)
    return data


def _scope_out(scope: InstrumentationScope | None) -> dict[str, Any] | None:
    if scope is None:
        return None
    hit = _SCOPE_CACHE.get(id(scope))
    if hit is not None and hit[0] is scope:
        return hit[1]
    data = {
        "name": scope.name,
        "version": scope.version,
        "schema_url": scope.schema_url,
        "attrs": _attrs_out(scope.attributes),
    }
    if len(_SCOPE_CACHE) > 256:
        _SCOPE_CACHE.clear()
    _SCOPE_CACHE[id(scope)] = (scope, data)
    return data


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A JSON-safe dict from which :func:`span_from_dict` rebuilds an equal span (hot path of the
    processor's spill: kept flat and cheap)."""
    ctx = span.context
    parent = span.parent
    status = span.status
    attrs = span.attributes
    data: dict[str, Any] = {
        "v": SPOOL_FORMAT,
        "name": span.name,
        "trace_id": "%032x" % ctx.trace_id,  # noqa: UP031 (faster than format)
        "span_id": "%016x" % ctx.span_id,  # noqa: UP031
        "flags": int(ctx.trace_flags),
        "kind": span.kind.value,
        "start": span.start_time,
        "end": span.end_time,
        "attrs": _attrs_out(attrs) if attrs else {},
        "status": [status.status_code.value, status.description],
        "resource": _resource_out(span.resource),
        "scope": _scope_out(span.instrumentation_scope),
    }
    if ctx.trace_state:
        data["state"] = ctx.trace_state.to_header()
    if parent is not None:
        data["parent"] = [
            "%016x" % parent.span_id,  # noqa: UP031
            bool(parent.is_remote),
            int(parent.trace_flags),
        ]
        if parent.trace_state:
            data["parent"].append(parent.trace_state.to_header())
    events = span.events
    if events:
        data["events"] = [
            {"name": e.name, "ts": e.timestamp, "attrs": _attrs_out(e.attributes)} for e in events
        ]
    links = span.links
    if links:
        data["links"] = [
            {"context": _ctx_out(link.context), "attrs": _attrs_out(link.attributes)}
            for link in links
        ]
    dropped = (span.dropped_attributes, span.dropped_events, span.dropped_links)
    if any(dropped):
        data["dropped"] = dropped
    return data


def _resource_in(data: dict[str, Any] | None) -> Resource:
    if not data:
        return Resource.get_empty()
    key = _json.dumps_line(data)
    resource = _RESOURCE_IN.get(key)
    if resource is None:
        resource = Resource(_attrs_in(data.get("attrs")), data.get("schema_url") or None)
        if len(_RESOURCE_IN) > 64:
            _RESOURCE_IN.clear()
        _RESOURCE_IN[key] = resource
    return resource


def _scope_in(data: dict[str, Any] | None) -> InstrumentationScope | None:
    if not data:
        return None
    key = _json.dumps_line(data)
    scope = _SCOPE_IN.get(key)
    if scope is None:
        scope = InstrumentationScope(
            data.get("name") or "",
            data.get("version"),
            data.get("schema_url"),
            _attrs_in(data.get("attrs")) or None,
        )
        if len(_SCOPE_IN) > 256:
            _SCOPE_IN.clear()
        _SCOPE_IN[key] = scope
    return scope


def span_from_dict(data: dict[str, Any]) -> ReadableSpan:
    """Rebuild a span written by :func:`span_to_dict`; raises ``(KeyError, ValueError, TypeError)``
    on a malformed record."""
    parent = data.get("parent")
    status = data.get("status") or [0, None]
    code = _CODES.get(int(status[0]), StatusCode.UNSET)
    state = data.get("state")
    dropped = data.get("dropped") or (0, 0, 0)
    context = SpanContext(
        trace_id=int(data["trace_id"], 16),
        span_id=int(data["span_id"], 16),
        is_remote=False,
        trace_flags=TraceFlags(int(data.get("flags", 1))),
        trace_state=TraceState.from_header([state]) if state else None,
    )
    return ReadableSpan(
        name=str(data["name"]),
        context=context,
        parent=SpanContext(
            trace_id=context.trace_id,
            span_id=int(parent[0], 16),
            is_remote=bool(parent[1]),
            trace_flags=TraceFlags(int(parent[2])),
            trace_state=TraceState.from_header([parent[3]]) if len(parent) > 3 else None,
        )
        if parent
        else None,
        resource=_resource_in(data.get("resource")),
        attributes=_bounded(_attrs_in(data.get("attrs")), dropped[0]),
        events=_BoundedList(
            [
                Event(str(e["name"]), _attrs_in(e.get("attrs")) or None, e.get("ts"))
                for e in data.get("events") or ()
            ],
            dropped[1],
        ),
        links=_BoundedList(
            [
                Link(_ctx_in(link["context"]), _attrs_in(link.get("attrs")) or None)
                for link in data.get("links") or ()
            ],
            dropped[2],
        ),
        kind=_KINDS.get(int(data.get("kind", 0)), SpanKind.INTERNAL),
        status=Status(code, status[1] if code is StatusCode.ERROR else None),
        start_time=data.get("start"),
        end_time=data.get("end"),
        instrumentation_scope=_scope_in(data.get("scope")),
    )


def _BoundedList(items: list[Any], dropped: int) -> Any:
    if not dropped:
        return items
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = int(dropped)
    return bounded


# ---------------------------------------------------------------------------------------------
# the segment directory


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class SpanSpool:
    """A directory of span segments; see the module docstring. Thread-safe."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        segment_spans: int = 512,
        max_bytes: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.segment_spans = max(1, int(segment_spans))
        self.max_bytes = max_bytes
        self.corrupt_lines = 0
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._ready = False
        self._bytes: int | None = None
        self._last_ns = 0

    # -- writing -------------------------------------------------------------------------------

    def _ensure_dir(self) -> None:
        if not self._ready:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._ready = True

    def pending_bytes(self) -> int:
        """Approximate bytes of spooled, unacknowledged segments."""
        with self._lock:
            if self._bytes is None:
                self._bytes = sum(size for _, size in self._scan_sizes())
            return self._bytes

    def _scan_sizes(self) -> Iterator[tuple[Path, int]]:
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            if _SUFFIX in entry.name and not entry.name.startswith(_TMP_PREFIX):
                with contextlib.suppress(OSError):
                    yield Path(entry.path), entry.stat().st_size

    def write(self, spans: Sequence[ReadableSpan]) -> list[Path]:
        """Spool ``spans`` as one or more complete segments (oldest name first); returns their
        paths. Raises :class:`OSError` if the directory is unwritable or ``max_bytes`` would be
        exceeded; segments written before the error stay spooled."""
        paths: list[Path] = []
        for start in range(0, len(spans), self.segment_spans):
            chunk = spans[start : start + self.segment_spans]
            paths.append(
                self._write_segment(b"".join(_json.dumps_line(span_to_dict(s)) for s in chunk))
            )
        return paths

    def _next_name(self) -> str:
        with self._lock:  # names sort in write order even if the wall clock steps back
            now = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = now
        return f"{now:020d}-{os.getpid()}-{next(self._seq):08d}{_SUFFIX}"

    def _write_segment(self, data: bytes) -> Path:
        if self.max_bytes is not None and self.pending_bytes() + len(data) > self.max_bytes:
            raise OSError(f"spool {self.directory} is full ({self.max_bytes} bytes)")
        self._ensure_dir()
        name = self._next_name()
        tmp = self.directory / (_TMP_PREFIX + name)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                done = 0
                while done < len(data):
                    done += os.write(fd, view[done:])
            finally:
                os.close(fd)
            os.replace(tmp, self.directory / name)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self._ready = False
            raise
        with self._lock:
            if self._bytes is not None:
                self._bytes += len(data)
        return self.directory / name

    # -- reading -------------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Ready (unclaimed) segments, oldest first. Releases claims of dead processes and
        removes stale temporary files."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        ready: list[str] = []
        for name in names:
            if name.startswith(_TMP_PREFIX):
                self._remove_stale_tmp(name)
            elif name.endswith(_SUFFIX):
                ready.append(name)
            elif _CLAIM in name:
                base, _, pid = name.rpartition(_CLAIM)
                if pid.isdigit() and not _pid_alive(int(pid)):
                    with contextlib.suppress(OSError):
                        os.replace(self.directory / name, self.directory / base)
                        ready.append(base)
        ready.sort()
        return [self.directory / name for name in ready]

    def _remove_stale_tmp(self, name: str) -> None:
        parts = name[len(_TMP_PREFIX) :].split("-")
        if len(parts) >= 2 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            with contextlib.suppress(OSError):
                (self.directory / name).unlink()

    def has_segments(self) -> bool:
        try:
            with os.scandir(self.directory) as it:
                return any(
                    e.name.endswith(_SUFFIX) and not e.name.startswith(_TMP_PREFIX) for e in it
                )
        except OSError:
            return False

    def claim(self, segment: Path) -> Path | None:
        """Claim ``segment`` for sending; ``None`` if someone else claimed it first."""
        claimed = segment.with_name(f"{segment.name}{_CLAIM}{os.getpid()}")
        try:
            os.replace(segment, claimed)
        except OSError:
            return None
        return claimed

    def read(self, claimed: Path) -> list[ReadableSpan]:
        """The spans of a claimed segment; malformed lines are skipped (``corrupt_lines``)."""
        spans: list[ReadableSpan] = []
        try:
            data = claimed.read_bytes()
        except OSError:
            return spans
        corrupt = 0
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                spans.append(span_from_dict(_json.loads(line)))
            except (ValueError, KeyError, TypeError, IndexError, AttributeError):
                corrupt += 1
        if corrupt:
            self.corrupt_lines += corrupt
            _logger.warning("fluxloop: skipped %d malformed line(s) in spool %s", corrupt, claimed)
        return spans

    def ack(self, claimed: Path) -> None:
        """The claimed segment was delivered: delete it."""
        try:
            size = claimed.stat().st_size
            claimed.unlink()
        except OSError:
            return
        with self._lock:
            if self._bytes is not None:
                self._bytes = max(0, self._bytes - size)

    def release(self, claimed: Path) -> None:
        """Delivery failed: put the claimed segment back (it keeps its place in the order)."""
        base = claimed.name.rpartition(_CLAIM)[0]
        with contextlib.suppress(OSError):
            os.replace(claimed, claimed.with_name(base))
