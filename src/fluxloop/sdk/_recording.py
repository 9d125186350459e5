"""Argument recording: capture the real keyword arguments of a call, replay them later.

Writing (``fluxloop.record_call_args``)
    ``configure(record_args=True, recording_file=...)`` (or ``FLUXLOOP_RECORD_ARGS`` /
    ``FLUXLOOP_RECORDING_FILE``) turns recording on; ``record_call_args(target=..., **kwargs)``
    then appends one JSON line per call, in the original FluxLoop SDK's format (``_version``
    ``"1"``), so recordings move both ways between the two implementations::

        {"_version": "1", "iteration": 0, "target": "app.handler:Handler.handle",
         "kwargs": {...}, "timestamp": "2025-09-30T18:02:25.120307+00:00"}

    * callables become markers: ``"<builtin:collector.send>"`` for FluxLoop's own replay
      callbacks (``__fluxloop_builtin__``, or the original's ``.messages`` / ``.errors``
      convention), ``"<callable:NAME>"`` for anything else, with ``:async`` appended for
      coroutine functions (``"<callable:send_message:async>"``);
    * mappings, sequences, sets and dataclasses are walked (so callables inside them become
      markers too); pydantic models and arbitrary objects go through the SDK serializer
      (``model_dump``, attributes, guarded ``repr``), all bounded in depth, items and size;
    * secrets are masked with the SDK's rules (:mod:`fluxloop.sdk.masking`): by key segment
      (``token``, ``api_key``, ``password``… but not ``author`` or ``monkey``) and by value
      pattern (``sk-…``, ``Bearer …``); the configured ``redact`` hook runs first;
    * ``iteration``: the explicit value, else a per-target counter (an explicit 5 makes the
      next 6); with ``set_recording_options(iteration_auto_increment=False)`` it is 0 when
      not given;
    * appends are thread- and process-safe: the file is opened ``O_APPEND`` (created ``0600``),
      each line is written with one ``write`` under a thread lock and an ``flock``, and a torn
      last line left by a crash is terminated before the next line;
    * recording never raises into the caller (a failure is logged once), and calls made inside
      a ``fluxloop run experiment`` run are not recorded (a replay does not re-record itself).

Reading is :mod:`fluxloop.project.recording` (the runner's replay, ``fluxloop generate
inputs --from-recording`` and ``fluxloop record status`` read through it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextvars import ContextVar
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from fluxloop_semconv import attributes as attr

from fluxloop.sdk._pipeline import SCOPED_ATTRIBUTES
from fluxloop.sdk._recording_state import STATE
from fluxloop.sdk._runtime import configure, current_runtime
from fluxloop.sdk._serialize import SerializeOptions, to_json
from fluxloop.sdk.masking import REDACTED, is_secret_key, mask_string

try:  # pragma: no cover - always present on POSIX
    import fcntl as _fcntl
except ImportError:  # pragma: no cover - Windows
    _fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_RECORDING_FILE",
    "MASK",
    "RECORDING_VERSION",
    "callable_marker",
    "disable_recording",
    "enable_recording",
    "encode_kwargs",
    "parse_marker",
    "record_call_args",
    "set_recording_options",
]

logger = logging.getLogger("fluxloop")

RECORDING_VERSION = "1"
MASK = REDACTED
DEFAULT_RECORDING_FILE = Path("recordings") / "args_recording.jsonl"

#: Bounds of one recorded call. The recorded kwargs as a whole are bounded like a span
#: attribute (``max_attribute_bytes``, 32 KiB by default; see :func:`line_options`); these
#: are the walk's own bounds.
MAX_DEPTH = 32
MAX_ITEMS = 10_000
MAX_STRING = 1_000_000
MAX_LINE_BYTES = 4 * 1024 * 1024
_LEAF_OPTIONS = SerializeOptions(
    max_bytes=256 * 1024, max_depth=16, max_items=1_000, max_string=65_536, mask_secrets=True
)
_FINAL_OPTIONS = SerializeOptions(
    max_bytes=MAX_LINE_BYTES,
    max_depth=MAX_DEPTH + 20,
    max_items=MAX_ITEMS + 1,  # the walk already cut (and marked) longer containers
    max_string=MAX_STRING,
    mask_secrets=False,  # masked by the walk (so callable markers survive under secret keys)
)
_MARKER_PREFIXES = ("<builtin:", "<callable:")
# Characters that are line breaks to str.splitlines() but legal raw in JSON strings.
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


# ---------------------------------------------------------------------------------------------
# state


_STATE = STATE


#: Set while a decorated agent call may record its arguments automatically; an explicit
#: ``record_call_args`` inside it marks the frame so the call is not recorded twice.
_AUTO_FRAME: ContextVar[list[bool] | None] = ContextVar("fluxloop_auto_record", default=None)


@contextlib.contextmanager
def auto_record(target: str, arguments: Callable[[], Mapping[str, Any]]) -> Iterator[None]:
    """Record a decorated agent call's arguments after it ran, unless its body called
    :func:`record_call_args` itself or an enclosing agent call records already. Never raises."""
    if _AUTO_FRAME.get() is not None:
        yield
        return
    frame = [False]
    token = _AUTO_FRAME.set(frame)
    try:
        yield
    finally:
        _AUTO_FRAME.reset(token)
        if not frame[0]:
            try:
                record_arguments(target, None, arguments())
            except Exception:  # arguments() is FluxLoop code; record_call_args never raises
                logger.debug("fluxloop: automatic argument recording failed", exc_info=True)


def _reset_state() -> None:
    """Forget counters and options (tests)."""
    with _STATE.lock:
        _STATE.counters.clear()
        _STATE.auto_increment = True
        _STATE.warned.clear()


def set_recording_options(*, iteration_auto_increment: bool | None = None) -> None:
    """Recording options.

    ``iteration_auto_increment`` (default True): when ``record_call_args`` is called without
    ``iteration``, number the calls of each target 0, 1, 2…; with False the iteration is 0
    unless given.
    """
    with _STATE.lock:
        if iteration_auto_increment is not None:
            _STATE.auto_increment = bool(iteration_auto_increment)


def enable_recording(recording_file: str | os.PathLike[str] | None = None) -> None:
    """Turn argument recording on (``configure(record_args=True, recording_file=...)``).

    Without ``recording_file`` the configured file is kept (default
    ``recordings/args_recording.jsonl``, relative to the current directory).
    """
    settings: dict[str, Any] = {"record_args": True}
    if recording_file is not None:
        settings["recording_file"] = recording_file
    configure(**settings)


def disable_recording() -> None:
    """Turn argument recording off (``configure(record_args=False)``)."""
    configure(record_args=False)


# ---------------------------------------------------------------------------------------------
# encoding


def _callable_name(fn: object) -> str:
    target: Any = fn
    func = getattr(fn, "func", None)  # functools.partial
    if func is not None and callable(func) and type(fn).__name__ == "partial":
        target = func
    name: object = None
    if inspect.ismethod(target):
        name = getattr(target, "__qualname__", None)
    if not isinstance(name, str):
        name = getattr(target, "__name__", None)
    if not isinstance(name, str) or not name:
        name = type(target).__name__
    cleaned = "".join(ch for ch in name if ch not in "<>: \t\r\n")
    return (cleaned or "callable")[:200]


def _is_async_callable(fn: object) -> bool:
    try:
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            return True
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's __call__
        return call is not None and inspect.iscoroutinefunction(call)
    except Exception:
        return False


def callable_marker(fn: object) -> str:
    """The marker recorded for a callable: ``<builtin:...>`` or ``<callable:NAME[:async]>``."""
    try:
        builtin = getattr(fn, "__fluxloop_builtin__", None)
        if isinstance(builtin, str) and builtin:
            return f"<builtin:{builtin}>"
        if isinstance(getattr(fn, "messages", None), list):
            return "<builtin:collector.send>"
        if isinstance(getattr(fn, "errors", None), list):
            return "<builtin:collector.error>"
    except Exception:
        pass
    suffix = ":async" if _is_async_callable(fn) else ""
    try:
        name = _callable_name(fn)
    except Exception:  # a hostile __getattr__
        name = type(fn).__name__
    return f"<callable:{name}{suffix}>"


def parse_marker(value: object) -> tuple[str, str, bool] | None:
    """``("builtin"|"callable", name, is_async)`` for a marker string, else None."""
    if not isinstance(value, str) or not value.endswith(">"):
        return None
    for prefix in _MARKER_PREFIXES:
        if value.startswith(prefix):
            body = value[len(prefix) : -1]
            is_async = body.endswith(":async")
            if is_async:
                body = body[: -len(":async")]
            return prefix[1:-1], body, is_async
    return None


def _leaf(value: object) -> Any:
    text, _ = to_json(value, _LEAF_OPTIONS)
    return json.loads(text)


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, int | float):
        return str(key)
    try:
        return str(key)
    except Exception:
        return f"<{type(key).__name__}>"


class _Walker:
    """Turns call arguments into plain JSON data: markers for callables, secrets masked."""

    def __init__(self) -> None:
        self.active: set[int] = set()

    def walk(self, value: object, depth: int) -> Any:
        value_type = type(value)
        if value_type is str:
            return mask_string(value)  # type: ignore[arg-type]
        if value is None or value_type in (bool, int, float):
            return value
        if callable(value):
            return callable_marker(value)
        if depth >= MAX_DEPTH:
            return "<max depth>"
        if isinstance(value, str):
            return mask_string(str.__str__(value))
        try:
            return self._structured(value, depth)
        except Exception:  # a hostile container: the serializer's guarded fallback
            return _leaf(value)

    def _structured(self, value: object, depth: int) -> Any:
        if isinstance(value, Mapping):
            # one item past the limit says whether there are more: never read the whole mapping
            return self._container(value, depth, lambda: list(islice(value.items(), MAX_ITEMS + 1)))
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._container(
                value,
                depth,
                lambda: [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)],
            )
        if isinstance(value, list | tuple | Set) or (
            isinstance(value, Sequence) and not isinstance(value, bytes | bytearray)
        ):
            return self._sequence(value, depth)
        return _leaf(value)

    def _container(
        self, value: object, depth: int, items: Callable[[], list[tuple[object, object]]]
    ) -> Any:
        if id(value) in self.active:
            return "<cycle>"
        self.active.add(id(value))
        try:
            out: dict[str, Any] = {}
            pairs = items()
            for index, (key, item) in enumerate(pairs):
                if index >= MAX_ITEMS:
                    out["…"] = _more(value, MAX_ITEMS)
                    break
                text = _key_text(key)
                if (
                    is_secret_key(text)
                    and item is not None
                    and not isinstance(item, bool)
                    and not callable(item)
                ):
                    out[mask_string(text)] = MASK
                    continue
                out[mask_string(text)] = self.walk(item, depth + 1)
            return out
        finally:
            self.active.discard(id(value))

    def _sequence(self, value: Sequence[object] | Set[object], depth: int) -> Any:
        if id(value) in self.active:
            return "<cycle>"
        self.active.add(id(value))
        try:
            items = list(islice(value, MAX_ITEMS + 1))  # never the whole of a lazy sequence
            if isinstance(value, Set) and len(items) <= MAX_ITEMS:
                with contextlib.suppress(Exception):
                    items = sorted(items)  # type: ignore[type-var]
            out = [self.walk(item, depth + 1) for item in items[:MAX_ITEMS]]
            if len(items) > MAX_ITEMS:
                out.append(f"…({_more(value, MAX_ITEMS)})")
            return out
        finally:
            self.active.discard(id(value))


def _more(value: object, kept: int) -> str:
    """``"N more"`` when ``len(value)`` is believable, else ``"more"`` (it may never end)."""
    try:
        size = len(value)  # type: ignore[arg-type]
    except Exception:
        return "more"
    return f"{size - kept} more" if isinstance(size, int) and size > kept else "more"


def line_options(limits: SerializeOptions) -> SerializeOptions:
    """The final serializer options of a recorded call: the size limit of a span attribute
    (``limits``: the runtime's ``max_attribute_bytes``), which one string may fill (replay
    needs whole texts more than many short ones); the walk's depth and item bounds."""
    max_bytes = min(limits.max_bytes, MAX_LINE_BYTES)
    return dataclasses.replace(
        _FINAL_OPTIONS, max_bytes=max_bytes, max_string=min(max_bytes, MAX_STRING)
    )


def encode_kwargs(
    kwargs: Mapping[str, Any],
    redact: Callable[[object], object] | None = None,
    limits: SerializeOptions | None = None,
) -> str:
    """The recorded JSON text of ``kwargs`` (markers, masking, bounds; see the module doc).

    ``redact`` (the configured hook) receives the kwargs first; it must return a mapping.
    ``limits``: bound the text like a span attribute with these limits (the runtime's
    serializer options); without them only the walk's own (larger) bounds apply.
    Raises on a failing hook (the caller skips the record: fail closed).
    """
    data: object = dict(kwargs)
    if redact is not None:
        data = redact(data)
        if not isinstance(data, Mapping):
            raise TypeError(f"the redact hook returned {type(data).__name__}, not a mapping")
    tree = _Walker().walk(data, 0)
    text, _ = to_json(tree, _FINAL_OPTIONS if limits is None else line_options(limits))
    return text


def _format_line(target: str, iteration: int, kwargs_json: str, timestamp: str) -> bytes:
    text = (
        f'{{"_version": "{RECORDING_VERSION}", "iteration": {iteration}, '
        f'"target": {json.dumps(target, ensure_ascii=False)}, "kwargs": {kwargs_json}, '
        f'"timestamp": "{timestamp}"}}'
    )
    for raw, escaped in _LINE_BREAKS.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return (text + "\n").encode("utf-8", "surrogatepass")


def _append(path: Path, data: bytes) -> None:
    """Append one line: O_APPEND, created 0600, one write under a thread lock and flock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    with _STATE.write_lock:
        fd = os.open(path, flags, 0o600)
        try:
            if _fcntl is not None:
                _fcntl.flock(fd, _fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size > 0 and hasattr(os, "pread") and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # terminate a torn line left by a crash
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            finally:
                if _fcntl is not None:
                    _fcntl.flock(fd, _fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _inside_experiment_run() -> bool:
    try:
        scoped = SCOPED_ATTRIBUTES.get()
        return bool(scoped) and attr.FLUXLOOP_EXPERIMENT_ID in scoped  # type: ignore[operator]
    except Exception:
        return False


def _warn_once(kind: str, message: str, *args: object) -> None:
    with _STATE.lock:
        first = kind not in _STATE.warned
        _STATE.warned.add(kind)
    logger.log(logging.WARNING if first else logging.DEBUG, message, *args)


def _resolve_file(configured: Path | None) -> Path:
    path = Path(configured) if configured is not None else DEFAULT_RECORDING_FILE
    path = path.expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def _caller_target() -> str:
    """``module:qualname`` of the function that called ``record_call_args``."""
    frame = sys._getframe(2)
    module = frame.f_globals.get("__name__", "__main__")
    name = getattr(frame.f_code, "co_qualname", frame.f_code.co_name)
    return f"{module}:{name}"


def record_call_args(
    target: str | None = None, iteration: int | None = None, **kwargs: Any
) -> None:
    """Append the keyword arguments of one call to the recording file (when recording is on).

    ``target`` names what is being called (``"module:Class.method"``, the runner's target
    syntax; default: the calling function). A no-op unless ``configure(record_args=True)`` or
    ``FLUXLOOP_RECORD_ARGS=true``; never raises (a failure is logged once). Callables are
    recorded as markers, secrets are masked; see :mod:`fluxloop.sdk._recording`.
    """
    if target is None:
        try:
            target = _caller_target()
        except Exception:
            target = "__main__:<unknown>"
    record_arguments(target, iteration, kwargs)


def record_arguments(target: str | None, iteration: int | None, kwargs: Mapping[str, Any]) -> None:
    """:func:`record_call_args` with the arguments as a mapping (any parameter names)."""
    try:
        frame = _AUTO_FRAME.get()
        if frame is not None:
            frame[0] = True
        runtime = current_runtime()
        config = runtime.config
        if not config.record_args or not config.enabled:
            return
        if target is None:
            target = "__main__:<unknown>"
        if _inside_experiment_run():
            logger.debug("fluxloop: not recording %s inside an experiment run", target)
            return
        target_name = str(target)
        auto = _STATE.auto_increment
        with _STATE.lock:
            if iteration is not None:
                number = int(iteration)
            else:
                number = _STATE.counters.get(target_name, 0) if auto else 0
            if auto:
                _STATE.counters[target_name] = number + 1
        kwargs_json = encode_kwargs(kwargs, config.redact, runtime.serialize_options)
        timestamp = datetime.now(UTC).isoformat()
        line = _format_line(target_name, number, kwargs_json, timestamp)
        _append(_resolve_file(config.recording_file), line)
    except Exception as exc:
        _warn_once(
            type(exc).__name__,
            "fluxloop: could not record the call arguments of %s: %s",
            target,
            exc,
        )
