"""Bounded, never-failing JSON serialization of captured values (inputs, outputs, metadata).

:func:`to_json` runs on the caller's thread for every decorated call, so it is built as

1. **a fast path** for plain values: one bounded Python pass checks that the value is made
   of exact ``dict``/``list``/``tuple``/``str``/``int``/``float``/``bool``/``None`` with
   ``str`` keys, within ``max_items`` per container and about ``max_bytes`` of content, and
   (when masking) that no key is secret (through a cache of known keys); then one
   ``orjson.dumps`` (stdlib ``json`` when orjson is missing or disabled), a size check and
   a one-pass value-pattern pre-test on the bytes (:mod:`fluxloop.sdk.masking`); depth and
   string lengths are checked on the bytes only when the pass could not rule them out. If
   everything passes, the encoder's text is the result (≈1.5-2 µs for a 220-byte dict);
2. **a bounded walker** for everything else: iterative (no recursion, any depth), it never
   consumes iterators or generators, never awaits or calls async methods, converts known
   types structurally and anything else through a guarded ``repr``, masks secrets, and
   applies the limits below;
3. **a size fitter**: if the walked value still serializes above ``max_bytes``, every
   container shares its byte budget among its items, max-min fair: small items stay
   whole, the largest are shrunk recursively (strings cut with a marker, containers keep
   fewer items), and trailing items are dropped, counted in a marker, only when even
   their smallest useful forms do not fit; so the largest strings shrink first and the
   top-level arguments or keys stay visible as far as the budget allows. As a last
   resort the text is wrapped as
   ``{"__truncated__": true, "preview": "<first bytes>", "original_bytes": N}``. Work is
   bounded throughout: the walker stops expanding after about twice ``max_bytes`` (later
   top-level items still get a small allowance).

The result is always valid JSON (``json.loads`` accepts it), at most ``max_bytes`` UTF-8
bytes (values below 64 count as 64), with no lone surrogates. ``to_json`` never raises
(``Exception``; ``KeyboardInterrupt`` and ``SystemExit`` pass through) and never hangs on
its own; the only user code it calls is ``repr`` (guarded, for objects with a custom
``__repr__`` and no better representation), ``model_dump``/``dict`` of pydantic models
(guarded, and only when a bounded pre-scan finds no iterator and no oversized container),
``tolist``/``reshape`` of array-likes (guarded, size-checked first), dataclass field and
``__dict__`` attribute reads, and iteration of ``Mapping``/``Sequence``/set views.

Representations (the walker; the fast path produces the same text for plain values):

* ``str`` as is; ``bool``/``None``; ``int`` (outside the 64-bit range on the orjson path, or
  beyond ~3,900 digits, as a string); ``float`` (NaN and ±inf become ``null``, as orjson and
  JavaScript do);
* ``bytes``/``bytearray``/``memoryview``: the UTF-8 text when decodable, else
  ``{"__bytes__": "<base64>", "size": N}`` (plus ``"truncated": true`` when cut);
* ``dict`` and other ``Mapping``: object; non-``str`` keys become strings (``true``,
  ``null``, ``12``, ``1.5``, ISO dates, ``repr`` for the rest);
* ``list``/``tuple``/``deque``/``range``/other ``Sequence``/dict views: array; ``set`` and
  ``frozenset``: array, sorted when the items are comparable;
* dataclass instances: object of their fields; pydantic v2 models: ``model_dump(mode="json")``;
  pydantic v1-style models: ``.dict()``; both fall back to their attributes;
* ``Enum``: its value; ``datetime``/``date``/``time``: ISO-8601; ``timedelta``: seconds;
  ``UUID``, ``Decimal``, ``Path``, ``complex``: their string;
* array-likes with ``tolist()`` (numpy, torch, pandas): ``tolist()`` when they hold at most
  ``max_items`` elements, else the first ``max_items`` flattened elements and a marker;
* generators, coroutines, async generators: ``"<generator qualname>"`` (``coroutine``,
  ``async_generator``); other iterators ``"<iterator Type>"``; awaitables
  ``"<awaitable Type>"``, async iterables ``"<async_iterable Type>"``; functions and
  methods ``"<function qualname>"``; classes
  ``"<class qualname>"``; modules ``"<module name>"``; sockets, files, locks, threads,
  loggers, asyncio objects: their ``repr``; exceptions: their ``repr``;
* pydantic ``SecretStr``/``SecretBytes``: ``"***"`` (their ``repr`` without masking);
* other objects: their attributes (``__dict__`` and ``__slots__``, dunder names skipped) as
  an object; else a guarded ``repr``, ``"<Type object>"`` when it raises or is the default;
* a container already open above the current one: ``"<cycle>"``.

Limits (:class:`SerializeOptions`; the second value of :func:`to_json` is True whenever
something was cut — cycles, markers for unrepresentable objects and masking are not cuts):
nesting beyond ``max_depth`` (at most 200) becomes ``"<max depth>"``; a container keeps its first
``max_items`` items, then a list gets a last element ``"…(N more)"`` and a dict a last key
``"…": "N more"``; a string keeps ``max_string`` characters followed by
``"…(truncated N chars)"``; ``max_bytes`` bounds the whole text as described above.

Secrets (``mask_secrets=True``, the default) are masked by key and by value pattern before
any cut, see :mod:`fluxloop.sdk.masking`. ``redact``, a user hook, receives the value
before anything else; if it raises, the value becomes ``"<redaction failed>"``.
"""

from __future__ import annotations

import base64
import collections.abc
import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import io
import json
import math
import pathlib
import re
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from fluxloop.sdk.masking import (
    REDACTED,
    SAFE_KEY_CACHE,
    dict_keys_need_walk,
    is_secret_key,
    json_may_contain_secret_value,
    mask_string,
)

try:  # pragma: no cover - exercised through both implementations in the tests
    import orjson as _orjson_module
except ImportError:  # pragma: no cover
    _orjson_module = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_OPTIONS",
    "MIN_BYTES",
    "ORJSON_AVAILABLE",
    "SerializeOptions",
    "safe_repr",
    "to_json",
    "to_json_serialized",
    "to_json_serialized_many",
    "use_orjson",
]


@dataclass(frozen=True, slots=True)
class SerializeOptions:
    """Limits and hooks of :func:`to_json`.

    Attributes:
        max_bytes: upper bound of the UTF-8 size of one serialized value (one attribute);
            values below :data:`MIN_BYTES` count as ``MIN_BYTES``.
        max_depth: nesting levels kept; deeper containers become ``"<max depth>"``.
        max_items: items kept per container (list, dict, set, object attributes).
        max_string: characters kept per string (keys included).
        redact: a hook ``redact(value) -> value`` run on the value before serialization;
            if it raises the value is replaced by ``"<redaction failed>"``.
        mask_secrets: mask secrets by key and by value pattern (:mod:`fluxloop.sdk.masking`).
    """

    max_bytes: int = 32_768
    max_depth: int = 10
    max_items: int = 1_000
    max_string: int = 8_192
    redact: Callable[[object], object] | None = None
    mask_secrets: bool = True


DEFAULT_OPTIONS = SerializeOptions()
"""The default limits (32 KiB, depth 10, 1,000 items, 8,192 characters, masking on)."""

MIN_BYTES = 64
"""The smallest effective ``max_bytes``."""

ORJSON_AVAILABLE = _orjson_module is not None
"""Whether orjson could be imported."""

REDACTION_FAILED = "<redaction failed>"
CYCLE = "<cycle>"
MAX_DEPTH = "<max depth>"
_ELLIPSIS = "…"

# --------------------------------------------------------------------------------------
# JSON implementations
# --------------------------------------------------------------------------------------

_json_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _stdlib_dumps(value: object) -> bytes:
    return _json_encoder.encode(value).encode("utf-8")


if _orjson_module is not None:
    _ORJSON_FAST_OPTIONS = _orjson_module.OPT_PASSTHROUGH_DATACLASS | (
        _orjson_module.OPT_PASSTHROUGH_DATETIME
    )
    _orjson_dumps: Callable[..., bytes] = _orjson_module.dumps
else:  # pragma: no cover
    _ORJSON_FAST_OPTIONS = 0
    _orjson_dumps = _stdlib_dumps

_use_orjson = ORJSON_AVAILABLE


def use_orjson(enabled: bool) -> bool:
    """Select orjson (when installed) or the stdlib ``json`` module; returns the previous choice.

    The module picks orjson at import when it is available; tests use this to exercise the
    stdlib implementation too.
    """
    global _use_orjson
    previous = _use_orjson
    _use_orjson = bool(enabled) and ORJSON_AVAILABLE
    return previous


def _dumps_tree(tree: object) -> bytes:
    """Serialize a tree produced by the walker (JSON types only, finite floats)."""
    if _use_orjson:
        return _orjson_dumps(tree)
    return _stdlib_dumps(tree)


# --------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------


def to_json(value: object, options: SerializeOptions = DEFAULT_OPTIONS) -> tuple[str, bool]:
    """Serialize ``value`` to bounded, valid JSON; return ``(text, truncated)``.

    See the module docstring for the representation of every type, the limits and the
    secret masking. Never raises and never consumes iterators.
    """
    try:
        hook = options.redact
        if hook is not None:
            try:
                value = hook(value)
            except Exception:
                value = REDACTION_FAILED
        if type(value) is str and len(value) <= options.max_string:  # the commonest value
            try:
                text = _orjson_dumps(value) if _use_orjson else _stdlib_dumps(value)
            except Exception:  # lone surrogates: the walker repairs them
                text = None
            if (
                text is not None
                and len(text) <= max(options.max_bytes, MIN_BYTES)
                and not (options.mask_secrets and json_may_contain_secret_value(text))
            ):
                return text.decode("utf-8"), False
        plain = _plain_and_small(value, options)
        if plain:
            try:
                data: bytes | None = (
                    _orjson_dumps(value, option=_ORJSON_FAST_OPTIONS)
                    if _use_orjson
                    else _stdlib_dumps(value)
                )
            except Exception:
                data = None
            if (
                data is not None
                and (len(data) <= options.max_bytes or len(data) <= MIN_BYTES)
                and (plain == _PLAIN_OK or _text_within_limits(data, options))
                and not (options.mask_secrets and json_may_contain_secret_value(data))
            ):
                return data.decode("utf-8"), False
        return _slow_path(value, options)
    except Exception:
        return _last_resort(value), True


def to_json_serialized(
    data: bytes, options: SerializeOptions = DEFAULT_OPTIONS
) -> tuple[str, bool]:
    """:func:`to_json` of the plain value whose compact (orjson) serialization ``data`` is.

    The limits are checked on ``data`` itself; it is parsed only to walk dict keys for secrets,
    or when a limit or a secret calls for the full :func:`to_json`. ``options.redact`` is not
    applied. Bytes that are not JSON are taken as text. Never raises.
    """
    try:
        size = len(data)
        parsed: object = _UNPARSED
        if (
            size <= options.max_bytes
            and size <= options.max_string
            and size <= 2 * options.max_items
            and len(data.translate(None, _NON_OPENERS)) <= options.max_depth
            and not (options.mask_secrets and json_may_contain_secret_value(data))
        ):
            # every string, container and nesting level fits: unless a key must be masked,
            # the text is the result
            if not options.mask_secrets or data[:1] not in _CONTAINER_OPENERS:
                return data.decode("utf-8"), False
            parsed = _json_loads(data)
            if not _has_unsafe_key(parsed):
                return data.decode("utf-8"), False
        if options.redact is not None:
            options = replace(options, redact=None)
        if parsed is _UNPARSED:
            try:
                parsed = _json_loads(data)
            except ValueError:  # not JSON (set through the OpenTelemetry API): its text
                parsed = data.decode("utf-8", "replace")
        return to_json(parsed, options)
    except Exception:
        return _last_resort(data), True


def to_json_serialized_many(
    datas: Sequence[bytes], options: SerializeOptions = DEFAULT_OPTIONS
) -> list[tuple[str, bool]]:
    """``[to_json_serialized(data, options) for data in datas]``, for a batch at a fraction of
    the cost: the checks that clear most values (secret values, secret keys) run once per group
    of values, on their concatenation; a group that does not clear goes value by value.

    Sound because every check is a superset test without anchors: a secret in one value shows in
    a concatenation of values separated by a byte that orjson never writes (NUL: it escapes
    control characters) and that breaks every token run. Never raises.
    """
    results: list[tuple[str, bool] | None] = [None] * len(datas)
    limit = min(options.max_bytes, options.max_string, 2 * options.max_items)
    group: list[int] = []
    for index, data in enumerate(datas):
        try:
            fits = len(data) <= limit and (
                data[:1] == b'"' or data.count(b"{") + data.count(b"[") <= options.max_depth
            )
        except Exception:
            fits = False
        if not fits:
            results[index] = to_json_serialized(data, options)
            continue
        group.append(index)
        if len(group) == _GROUP_SIZE:
            _clear_group(datas, group, options, results)
            group = []
    if group:
        _clear_group(datas, group, options, results)
    return results  # type: ignore[return-value]


_GROUP_SIZE = 64


def _clear_group(
    datas: Sequence[bytes],
    group: list[int],
    options: SerializeOptions,
    results: list[tuple[str, bool] | None],
) -> None:
    """Fill ``results`` for ``group`` (values within every limit): a value's own text when it
    clears the secret checks with its group, else its :func:`to_json_serialized`."""
    try:
        cleared = _cleared_together(datas, group, options)
    except Exception:  # not JSON, say: the value-by-value path decides
        cleared = set()
    for index in group:
        if index in cleared:
            try:
                results[index] = (datas[index].decode("utf-8"), False)
                continue
            except Exception:
                pass
        results[index] = to_json_serialized(datas[index], options)


def _cleared_together(
    datas: Sequence[bytes], group: list[int], options: SerializeOptions
) -> set[int]:
    """The values of ``group`` that certainly have nothing to mask: all of them when their
    concatenation shows no secret value and no secret key, the scalars when only a key may be
    one, none when a value may be."""
    if not options.mask_secrets:
        return set(group)
    if json_may_contain_secret_value(b"\0".join(datas[i] for i in group)):
        return set()
    containers = [i for i in group if datas[i][:1] in _CONTAINER_OPENERS]
    if containers:
        joined = b"[" + b",".join(datas[i] for i in containers) + b"]"
        if _has_unsafe_key(_json_loads(joined)):
            return set(group).difference(containers)
    return set(group)


_UNPARSED = object()
_CONTAINER_OPENERS = (b"{", b"[")
_json_loads: Callable[[bytes], object] = (
    _orjson_module.loads if _orjson_module is not None else json.loads
)


def _has_unsafe_key(value: object) -> bool:
    """Whether a dict in decoded JSON ``value`` has a key the fast path cannot pass."""
    if type(value) is not dict and type(value) is not list:
        return False
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    while stack:
        node = pop()
        if type(node) is dict:
            if not SAFE_KEY_CACHE.issuperset(node) and dict_keys_need_walk(
                node, _SAFE_KEY_MAX, True
            ):
                return True
            children: Iterable[object] = node.values()
        else:
            children = node
        for child in children:
            if type(child) is dict or type(child) is list:
                push(child)
    return False


_SAFE_KEY_MAX = sys.maxsize


def _last_resort(value: object) -> str:
    try:
        name = _type_name(type(value))
        return json.dumps(f"<unserializable {name}>", ensure_ascii=True)
    except Exception:
        return '"<unserializable>"'


# --------------------------------------------------------------------------------------
# Fast path
# --------------------------------------------------------------------------------------

_STRING_LITERAL = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NON_BRACKETS = bytes(c for c in range(256) if c not in b"{}[]")
_PARENS = bytes.maketrans(b"{[}]", b"(())")
_NON_OPENERS = bytes(c for c in range(256) if c not in b"{[")


_NUMERIC_SCALARS = frozenset({int, float, bool, type(None)})
_PLAIN_NO = 0
_PLAIN_OK = 1  # plain, and small enough that no limit can be reached
_PLAIN_CHECK_TEXT = 2  # plain; depth or string lengths must still be checked on the text


def _plain_and_small(value: object, options: SerializeOptions) -> int:
    """Whether ``value`` can take the fast path (one JSON encoder call, no walk).

    ``_PLAIN_NO`` unless ``value`` is made of exact ``dict list tuple str int float bool
    None`` with ``str`` keys, no container above ``max_items``, no secret key (when
    masking), and about ``max_bytes`` of content at most: the encoder is never handed
    anything large. ``_PLAIN_OK`` when, besides, there are at most ``max_depth`` containers
    and at most ``max_string`` characters of strings (so no depth or string limit can be
    hit); ``_PLAIN_CHECK_TEXT`` when those two limits must still be checked on the text.
    """
    max_items = options.max_items
    max_string = options.max_string
    secrets = options.mask_secrets
    budget = max(options.max_bytes, MIN_BYTES)
    remaining = budget
    safe_keys = SAFE_KEY_CACHE if max_string >= 128 else None
    scalars = _NUMERIC_SCALARS
    containers = 0
    stack: list[object] = [value]
    pop = stack.pop
    push = stack.append
    # local names: this loop runs for every decorated call
    _type, _len, _str, _dict, _list, _tuple = type, len, str, dict, list, tuple
    try:
        while stack:
            node: Any = pop()
            node_type = _type(node)
            if node_type is _dict:
                count = _len(node)
                if count > max_items:
                    return _PLAIN_NO
                if (safe_keys is None or not safe_keys.issuperset(node)) and dict_keys_need_walk(
                    node, max_string, secrets
                ):
                    return _PLAIN_NO
                items: Iterable[object] = node.values()
            elif node_type is _list or node_type is _tuple:
                count = _len(node)
                if count > max_items:
                    return _PLAIN_NO
                items = node
            elif node_type is _str:
                remaining -= _len(node)
                continue
            elif node_type in scalars:
                continue
            else:
                return _PLAIN_NO
            containers += 1
            remaining -= 2 + count  # bounds the walk, cycles included
            for item in items:
                item_type = _type(item)
                if item_type is _str:
                    remaining -= _len(item)  # type: ignore[arg-type]
                elif item_type in scalars:
                    pass
                elif item_type is _dict or item_type is _list or item_type is _tuple:
                    push(item)
                else:
                    return _PLAIN_NO
            if remaining < 0:
                return _PLAIN_NO
        if remaining < 0:
            return _PLAIN_NO
        if containers > options.max_depth or budget - remaining > max_string:
            return _PLAIN_CHECK_TEXT
        return _PLAIN_OK
    except Exception:
        return _PLAIN_NO


def _text_within_limits(data: bytes, options: SerializeOptions) -> bool:
    """Exact depth, and conservative string-length, checks on serialized plain JSON.

    Item counts need no check: :func:`_plain_and_small` verified them on the value.
    """
    max_string = max(options.max_string, 0)
    if len(data) > max_string + 2:
        if b'\\"' in data:
            return False  # an escaped quote: splitting on quotes would be wrong, walk instead
        # bytes >= characters, so this is conservative for escaped and non-ASCII text
        longest = max(map(len, data.split(b'"')[1::2]), default=0)
        if longest > max_string:
            return False
    if len(data.translate(None, _NON_OPENERS)) <= options.max_depth:
        return True
    return _depth_fits(data, options.max_depth)


def _depth_fits(data: bytes, max_depth: int) -> bool:
    """Exact check that serialized JSON nests at most ``max_depth`` containers deep.

    Strings are removed, brackets reduced to ``()``; each ``replace`` pass removes the
    innermost level (at C speed), so the depth is the number of passes to empty.
    """
    structure = _STRING_LITERAL.sub(b"", data).translate(_PARENS, _NON_BRACKETS)
    for _ in range(max(max_depth, 0)):
        if not structure:
            return True
        structure = structure.replace(b"()", b"")
    return not structure


# --------------------------------------------------------------------------------------
# Slow path: the walker
# --------------------------------------------------------------------------------------


def _slow_path(value: object, options: SerializeOptions) -> tuple[str, bool]:
    walker = _Walker(options)
    tree = walker.build(value)
    data = _dumps_tree(tree)
    limit = max(options.max_bytes, MIN_BYTES)
    if len(data) <= limit:
        return data.decode("utf-8"), walker.truncated
    return _fit(tree, data, limit), True


class _Frame:
    """One open container of the walker."""

    __slots__ = ("depth", "ident", "is_dict", "items", "out_dict", "out_list", "position", "total")

    def __init__(
        self,
        ident: int,
        items: list[Any],
        total: int,
        is_dict: bool,
        depth: int,
    ) -> None:
        self.ident = ident
        self.items = items
        self.total = total
        self.is_dict = is_dict
        self.depth = depth
        self.position = 0
        self.out_dict: dict[str, object] = {}
        self.out_list: list[object] = []


_OPAQUE_MODULE_ROOTS = frozenset(
    {
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "threading",
        "_thread",
        "selectors",
        "queue",
        "_queue",
        "subprocess",
        "sqlite3",
        "_sqlite3",
        "multiprocessing",
        "asyncio",
        "_asyncio",
        "concurrent",
        "logging",
        "weakref",
        "_weakref",
        "io",
        "_io",
        "mmap",
        "ctypes",
        "_ctypes",
        "contextvars",
        "_contextvars",
    }
)
_FUNCTION_TYPES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.BuiltinMethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    functools.partial,
    staticmethod,
    classmethod,
    property,
)
_BULK_KINDS = frozenset({int, float})
_ROOT_ALLOWANCE = 16  # least estimated bytes for a top-level item after the budget is spent
_DEPTH_CEILING = 200  # orjson refuses to nest deeper than 255 levels
_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1
_MAX_INT_BITS = 13_000  # ~3,900 decimal digits, below CPython's default str() limit
_SET_SORT_LIMIT = 100_000
_PRESCAN_NODES = 512
_MORE_MARKER_RE = re.compile(r"…\((\d+) more\)")
_CUT_MARKER_RE = re.compile(r"…\(truncated (\d+) chars\)\Z")


def _type_name(value_type: type) -> str:
    try:
        name = value_type.__name__
        if isinstance(name, str):
            return name
    except Exception:
        pass
    return "object"


#: A ``repr`` slower than this is remembered, so one decorated call pays for it once even
#: though its input, its output and its recording may all show the same object.
SLOW_REPR_NS = 2_000_000
_MEMO_SIZE = 32
_MEMO_TTL_NS = 30 * 1_000_000_000  # outside decorated calls nothing clears it: a time bound


class _ReprMemo(threading.local):
    """Per thread: ``id -> (object, text, expiry)`` of the slow reprs of the current call."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[object, str, int]] = {}


_REPR_MEMO = _ReprMemo()
slow_reprs_seen = False
"""Whether any slow repr was remembered in this process: until then the decorators need not
call :func:`forget_slow_reprs` (a flag check is all a call costs)."""


def forget_slow_reprs() -> None:
    """Forget this thread's remembered slow reprs: called when an outermost decorated call
    starts, so a remembered text never outlives the call it was made for (a mutated object
    is shown as it is now in the next call)."""
    _REPR_MEMO.entries.clear()


def safe_repr(value: object) -> str:
    """``repr(value)`` that never raises: ``"<Type object>"`` when repr fails or is the default.

    A repr that takes longer than :data:`SLOW_REPR_NS` is remembered until the next outermost
    decorated call on this thread starts (see :func:`forget_slow_reprs`), 30 s at most."""
    global slow_reprs_seen
    value_type = type(value)
    fallback = f"<{_type_name(value_type)} object>"
    memo = _REPR_MEMO.entries
    started = time.perf_counter_ns()
    if memo:
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value and hit[2] > started:
            return hit[1]
    try:
        if value_type.__repr__ is object.__repr__:
            return fallback
        text = repr(value)
    except Exception:
        text = fallback
    if type(text) is not str:
        try:
            text = str.__str__(text) if isinstance(text, str) else fallback
        except Exception:
            text = fallback
    ended = time.perf_counter_ns()
    if ended - started >= SLOW_REPR_NS and len(memo) < _MEMO_SIZE:
        memo[id(value)] = (value, text, ended + _MEMO_TTL_NS)
        slow_reprs_seen = True
    return text


def _qualname(value: object, default: str) -> str:
    try:
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        if isinstance(name, str):
            return name
    except Exception:
        pass
    return default


class _Walker:
    """Iterative conversion of an arbitrary value into a bounded tree of JSON types."""

    def __init__(self, options: SerializeOptions) -> None:
        self.max_depth = min(max(options.max_depth, 0), _DEPTH_CEILING)
        self.max_items = max(options.max_items, 0)
        self.max_string = max(options.max_string, 0)
        self.short_string = min(self.max_string, 15)  # value patterns need >= 16 characters
        self.mask = options.mask_secrets
        limit = max(options.max_bytes, MIN_BYTES)
        self.budget = max(2 * limit, 2 * self.max_string + 1024)
        self.pool = limit // 2  # reserve for the top-level items left when the budget is spent
        self.estimate = 0
        self.truncated = False
        self.active: set[int] = set()
        self.frames: list[_Frame] = []

    # ---- driver -------------------------------------------------------------------

    def build(self, value: object) -> object:
        root = self._convert_guarded(value, 1)
        frames = self.frames
        budget = self.budget
        mask = self.mask
        short = self.short_string
        while frames:
            frame = frames[-1]
            items = frame.items
            count = len(items)
            position = frame.position
            depth = frame.depth + 1
            opened = False
            if frame.is_dict:
                out_dict = frame.out_dict
                while position < count and self.estimate <= budget:
                    key_object, item = items[position]
                    position += 1
                    if (
                        type(key_object) is str
                        and len(key_object) <= short
                        and key_object.isascii()
                    ):
                        key: str = key_object
                    else:
                        key = self._key(key_object)
                    self.estimate += len(key) + 4
                    item_type = type(item)
                    if mask and item is not None and item_type is not bool and is_secret_key(key):
                        out_dict[key] = REDACTED
                        self.estimate += 5
                    elif item_type is str:
                        out_dict[key] = self._string(item)
                    elif item is None or item_type is bool:
                        out_dict[key] = item
                        self.estimate += 5
                    elif item_type is int and _INT64_MIN <= item <= _UINT64_MAX:
                        out_dict[key] = item
                        self.estimate += 4
                    elif item_type is float:
                        out_dict[key] = item if item - item == 0.0 else None  # NaN/inf: null
                        self.estimate += 8
                    else:
                        before = len(frames)
                        out_dict[key] = self._convert_guarded(item, depth)
                        if len(frames) > before:
                            opened = True
                            break
            else:
                out_list = frame.out_list
                if position == 0 and count >= 8 and self._bulk_numbers(items, out_list):
                    position = count
                while position < count and self.estimate <= budget:
                    item = items[position]
                    position += 1
                    item_type = type(item)
                    if item_type is str:
                        out_list.append(self._string(item))
                    elif item is None or item_type is bool:
                        out_list.append(item)
                        self.estimate += 5
                    elif item_type is int and _INT64_MIN <= item <= _UINT64_MAX:
                        out_list.append(item)
                        self.estimate += 4
                    elif item_type is float:
                        out_list.append(item if item - item == 0.0 else None)
                        self.estimate += 8
                    else:
                        before = len(frames)
                        out_list.append(self._convert_guarded(item, depth))
                        if len(frames) > before:
                            opened = True
                            break
            frame.position = position
            if opened:
                continue
            if position < count and len(frames) == 1 and self.pool > 0:
                # Over budget at the top level: the later top-level items (arguments, keys
                # of the output) share a reserve instead of vanishing.
                allowance = max(_ROOT_ALLOWANCE, self.pool // (count - position))
                self.pool -= allowance
                budget = self.estimate + allowance
                continue
            self._close(frame)
            frames.pop()
        return root

    def _bulk_numbers(self, items: list[Any], out: list[object]) -> bool:
        """Copy a list of only exact ints/finite floats at C speed (vectors, id lists)."""
        kinds = set(map(type, items))
        if not kinds <= _BULK_KINDS:
            return False
        added = 8 * len(items)
        if self.estimate + added > self.budget:
            return False
        try:
            if float in kinds and not all(map(math.isfinite, items)):
                return False
            if int in kinds and not (min(items) >= _INT64_MIN and max(items) <= _UINT64_MAX):
                return False
        except (OverflowError, TypeError, ValueError):
            return False
        out.extend(items)
        self.estimate += added
        return True

    def _close(self, frame: _Frame) -> None:
        self.active.discard(frame.ident)
        kept = frame.position
        more = frame.total - kept
        if more > 0:
            self.truncated = True
            if frame.is_dict:
                frame.out_dict[_ELLIPSIS] = f"{more} more"
            else:
                frame.out_list.append(f"{_ELLIPSIS}({more} more)")
        frame.position = len(frame.items)

    def _open(
        self, source: object, items: list[Any], total: int, is_dict: bool, depth: int
    ) -> object:
        if depth > self.max_depth:
            self.truncated = True
            self.estimate += 13
            return MAX_DEPTH
        ident = id(source)
        if ident in self.active:
            self.estimate += 9
            return CYCLE
        self.active.add(ident)
        frame = _Frame(ident, items, total, is_dict, depth)
        self.frames.append(frame)
        self.estimate += 2
        return frame.out_dict if is_dict else frame.out_list

    # ---- scalars ------------------------------------------------------------------

    def _string(self, text: str) -> str:
        length = len(text)
        if length <= self.short_string and text.isascii():
            self.estimate += length + 3
            return text
        limit = self.max_string
        partial = length > limit + 1024
        window = text[: limit + 1024] if partial else text
        if not window.isascii():
            try:
                window.encode("utf-8")
            except UnicodeEncodeError:
                window = window.encode("utf-8", "replace").decode("utf-8")
        if self.mask:
            window = mask_string(window)
        if partial or len(window) > limit:
            kept = window[:limit]
            if self.mask and partial:
                kept = _mask_tail(kept)
            dropped = (length if partial else len(window)) - limit
            window = f"{kept}{_ELLIPSIS}(truncated {dropped} chars)"
            self.truncated = True
        self.estimate += len(window) + 3
        return window

    def _int(self, number: int) -> object:
        self.estimate += 8
        if _use_orjson and not (_INT64_MIN <= number <= _UINT64_MAX):
            if number.bit_length() > _MAX_INT_BITS:
                return f"<int with {number.bit_length()} bits>"
            try:
                return str(number)
            except ValueError:
                return f"<int with {number.bit_length()} bits>"
        if number.bit_length() > _MAX_INT_BITS:
            return f"<int with {number.bit_length()} bits>"
        return number

    def _float(self, number: float) -> object:
        self.estimate += 8
        return number if math.isfinite(number) else None

    def _key(self, key: object) -> str:
        key_type = type(key)
        if key_type is str:
            text: str = key  # type: ignore[assignment]
        elif key_type is bool:
            text = "true" if key else "false"
        elif key is None:
            text = "null"
        elif isinstance(key, str):
            text = str.__str__(key)
        elif isinstance(key, enum.Enum):
            text = self._key_scalar(getattr(key, "_value_", None))
        else:
            text = self._key_scalar(key)
        if len(text) > self.max_string or not text.isascii() or self.mask:
            before = self.estimate
            text = self._string(text)
            self.estimate = before
        return text

    def _key_scalar(self, key: object) -> str:
        try:
            if isinstance(key, bool):
                return "true" if key else "false"
            if key is None:
                return "null"
            if isinstance(key, int):
                value = int.__int__(key)
                return (
                    str(value)
                    if value.bit_length() <= _MAX_INT_BITS
                    else f"<int {value.bit_length()} bits>"
                )
            if isinstance(key, float):
                return float.__repr__(key)
            if isinstance(key, str):
                return str.__str__(key)
            if isinstance(key, (datetime.datetime, datetime.date, datetime.time)):
                return key.isoformat()
            if isinstance(key, (uuid.UUID, decimal.Decimal, pathlib.PurePath)):
                return str(key)
            if isinstance(key, (bytes, bytearray)):
                return bytes(key[: self.max_string * 4 + 4]).decode("utf-8", "replace")
        except Exception:
            pass
        return safe_repr(key)

    def _bytes(self, data: bytes | bytearray | memoryview) -> object:
        limit = self.max_string * 4 + 4
        try:
            if isinstance(data, memoryview):
                size = data.nbytes
                raw = data.tobytes() if size <= limit else data.cast("B")[:limit].tobytes()
            else:
                size = len(data)
                raw = bytes(data[:limit])
        except Exception:
            return self._string(safe_repr(data))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            text = ""
            if size > len(raw) and error.start >= len(raw) - 3 and error.start > 0:
                try:
                    text = raw[: error.start].decode("utf-8")
                except UnicodeDecodeError:
                    text = ""
            if not text:
                keep = max(self.max_string * 3 // 4, 3)
                chunk = raw[:keep]
                if self.mask:  # ASCII secrets embedded in binary data: mask them too
                    chunk = mask_string(chunk.decode("latin-1")).encode("latin-1", "replace")
                encoded = base64.b64encode(chunk).decode("ascii")
                self.estimate += len(encoded) + 40
                result: dict[str, object] = {"__bytes__": encoded, "size": size}
                if size > len(chunk):
                    result["truncated"] = True
                    self.truncated = True
                return result
            raw = raw[: error.start]
        if size > len(raw):
            self.truncated = True
            kept = self._string(text)
            if kept.endswith(" chars)") and _CUT_MARKER_RE.search(kept):
                return kept
            return f"{kept}{_ELLIPSIS}(truncated {size - len(raw)} bytes)"
        return self._string(text)

    # ---- dispatch -----------------------------------------------------------------

    def _convert_guarded(self, value: object, depth: int) -> object:
        try:
            return self._convert(value, depth)
        except Exception:
            return self._string(f"<unserializable {_type_name(type(value))}>")

    def _convert(self, value: object, depth: int) -> object:
        value_type = type(value)
        if value_type is str:
            return self._string(value)  # type: ignore[arg-type]
        if value_type is int:
            return self._int(value)  # type: ignore[arg-type]
        if value_type is bool or value is None:
            self.estimate += 5
            return value
        if value_type is float:
            return self._float(value)  # type: ignore[arg-type]
        if value_type is dict:
            return self._open(
                value,
                list(islice(dict.items(value), self.max_items)),  # type: ignore[arg-type]
                len(value),  # type: ignore[arg-type]
                True,
                depth,
            )
        if value_type is list or value_type is tuple:
            return self._open(
                value,
                list(value[: self.max_items]),  # type: ignore[index]
                len(value),  # type: ignore[arg-type]
                False,
                depth,
            )
        return self._convert_other(value, value_type, depth)

    def _convert_other(self, value: object, value_type: type, depth: int) -> object:
        if isinstance(value, enum.Enum):
            inner = getattr(value, "_value_", None)
            if isinstance(inner, enum.Enum):
                return self._string(safe_repr(value))
            return self._convert(inner, depth)
        if isinstance(value, str):
            return self._string(str.__str__(value))
        if isinstance(value, int):  # bool is handled above; IntFlag etc. are enums
            return self._int(int.__int__(value))
        if isinstance(value, float):
            return self._float(float.__float__(value))
        if isinstance(value, dict):
            return self._open(
                value, list(islice(dict.items(value), self.max_items)), len(value), True, depth
            )
        if isinstance(value, list):
            return self._open(
                value, list(islice(list.__iter__(value), self.max_items)), len(value), False, depth
            )
        if isinstance(value, tuple):
            return self._open(
                value,
                list(islice(tuple.__iter__(value), self.max_items)),
                len(value),
                False,
                depth,
            )
        if isinstance(value, (set, frozenset)):
            return self._open(value, self._set_items(value), len(value), False, depth)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._bytes(value)
        if isinstance(value, datetime.datetime | datetime.date | datetime.time):
            return self._string(value.isoformat())
        if isinstance(value, datetime.timedelta):
            return self._float(value.total_seconds())
        if isinstance(value, uuid.UUID | decimal.Decimal | pathlib.PurePath):
            return self._string(str(value))
        if isinstance(value, complex):
            return self._string(complex.__repr__(value))
        if isinstance(value, type):
            return self._string(f"<class {_qualname(value, 'type')}>")
        if isinstance(value, types.ModuleType):
            return self._string(f"<module {_qualname(value, 'module')}>")
        if isinstance(value, _FUNCTION_TYPES):
            target = value.func if isinstance(value, functools.partial) else value
            return self._string(f"<function {_qualname(target, _type_name(value_type))}>")
        if isinstance(value, types.GeneratorType):
            return self._string(f"<generator {_qualname(value, 'generator')}>")
        if isinstance(value, types.CoroutineType):
            return self._string(f"<coroutine {_qualname(value, 'coroutine')}>")
        if isinstance(value, types.AsyncGeneratorType):
            return self._string(f"<async_generator {_qualname(value, 'async_generator')}>")
        module = getattr(value_type, "__module__", "")
        if isinstance(module, str) and module.partition(".")[0] in _OPAQUE_MODULE_ROOTS:
            return self._string(safe_repr(value))
        if isinstance(value, io.IOBase | BaseException):
            return self._string(safe_repr(value))
        if _is_secret_type(value_type):
            return REDACTED if self.mask else self._string(safe_repr(value))
        if isinstance(value, collections.abc.Iterator):
            return self._string(f"<iterator {_type_name(value_type)}>")
        if isinstance(value, collections.abc.AsyncIterator):
            return self._string(f"<async_iterator {_type_name(value_type)}>")
        if isinstance(value, collections.abc.Awaitable):
            return self._string(f"<awaitable {_type_name(value_type)}>")
        if isinstance(value, collections.abc.AsyncIterable):
            return self._string(f"<async_iterable {_type_name(value_type)}>")
        dumped = self._model_dump(value, value_type)
        if dumped is not None:
            return self._open(
                value, list(islice(dumped.items(), self.max_items)), len(dumped), True, depth
            )
        if dataclasses.is_dataclass(value):
            return self._open(value, *self._dataclass_items(value), True, depth)
        if isinstance(value, collections.abc.Mapping):
            return self._open(
                value,
                list(islice(value.items(), self.max_items)),
                _safe_len(value, self.max_items),
                True,
                depth,
            )
        if isinstance(
            value,
            collections.abc.Sequence | collections.abc.Set | collections.abc.MappingView,
        ):
            if isinstance(value, collections.abc.Set):
                items = self._set_items(value)
            else:
                items = list(islice(iter(value), self.max_items))  # type: ignore[arg-type]
            return self._open(value, items, _safe_len(value, len(items)), False, depth)
        array = self._array(value, value_type, depth)
        if array is not _NOTHING:
            return array
        attributes = _attribute_items(value, self.max_items)
        if attributes is not None:
            return self._open(value, attributes[0], attributes[1], True, depth)
        return self._string(safe_repr(value))

    # ---- helpers for specific kinds -----------------------------------------------

    def _set_items(self, value: collections.abc.Set[Any]) -> list[Any]:
        size = _safe_len(value, 0)
        if size <= _SET_SORT_LIMIT:
            try:
                return sorted(value)[: self.max_items]
            except Exception:
                pass
        return list(islice(iter(value), self.max_items))

    def _dataclass_items(self, value: object) -> tuple[list[Any], int]:
        fields = dataclasses.fields(value)  # type: ignore[arg-type]
        items: list[Any] = []
        for field in fields[: self.max_items]:
            try:
                items.append((field.name, getattr(value, field.name)))
            except Exception:
                items.append((field.name, "<unavailable>"))
        return items, len(fields)

    def _model_dump(self, value: object, value_type: type) -> dict[str, Any] | None:
        pydantic = sys.modules.get("pydantic")
        base = getattr(pydantic, "BaseModel", None) if pydantic is not None else None
        if isinstance(base, type) and isinstance(value, base):
            version = 2
        elif isinstance(getattr(value_type, "__fields__", None), dict) and callable(
            getattr(value_type, "dict", None)
        ):
            version = 1
        else:
            return None
        if not _prescan_ok(value, self.max_items):
            return None
        try:
            dump = value.model_dump if version == 2 else value.dict  # type: ignore[attr-defined]
            result = dump(mode="json", warnings=False) if version == 2 else dump()
        except Exception:
            return None
        return result if isinstance(result, dict) else None

    def _array(self, value: object, value_type: type, depth: int) -> object:
        tolist = getattr(value_type, "tolist", None)
        if not callable(tolist):
            return _NOTHING
        try:
            size: object = getattr(value, "size", None)
            if callable(size):
                numel = getattr(value, "numel", None)
                size = numel() if callable(numel) else None
            if not isinstance(size, int) or isinstance(size, bool):
                return _NOTHING
            if size <= self.max_items:
                return self._convert(value.tolist(), depth)  # type: ignore[attr-defined]
            flat = value.reshape(-1)[: self.max_items].tolist()  # type: ignore[attr-defined]
            if not isinstance(flat, list):
                return _NOTHING
            return self._open(value, flat[: self.max_items], size, False, depth)
        except Exception:
            return _NOTHING


_NOTHING = object()


def _safe_len(value: object, default: int) -> int:
    try:
        size = len(value)  # type: ignore[arg-type]
        return size if isinstance(size, int) and size >= 0 else default
    except Exception:
        return default


def _is_secret_type(value_type: type) -> bool:
    name = _type_name(value_type)
    if not name.startswith("Secret"):
        return False
    module = getattr(value_type, "__module__", "")
    return isinstance(module, str) and module.partition(".")[0] == "pydantic"


def _attribute_items(value: object, max_items: int) -> tuple[list[Any], int] | None:
    items: list[Any] = []
    total = 0
    try:
        namespace = vars(value)
    except Exception:
        namespace = None
    if isinstance(namespace, dict):
        for name, item in dict.items(namespace):
            if isinstance(name, str) and name.startswith("__"):
                continue
            total += 1
            if len(items) < max_items:
                items.append((name, item))
    try:
        slot_names = []
        for klass in type(value).__mro__:
            slots = klass.__dict__.get("__slots__", ())
            if isinstance(slots, str):
                slots = (slots,)
            for slot in slots:
                if isinstance(slot, str) and not slot.startswith("__"):
                    slot_names.append(slot)
    except Exception:
        slot_names = []
    for slot in slot_names[: max_items * 4 + 16]:
        try:
            item = getattr(value, slot)
        except Exception:
            continue
        total += 1
        if len(items) < max_items:
            items.append((slot, item))
    if not items:
        return None
    return items, total


def _prescan_ok(model: object, max_items: int) -> bool:
    """Whether ``model_dump``/``dict()`` is safe: no iterators/awaitables, no huge containers."""
    budget = _PRESCAN_NODES
    stack: list[object] = [model]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            return False
        if id(node) in seen:
            continue
        seen.add(id(node))
        node_type = type(node)
        if node_type in (str, int, float, bool, type(None), bytes):
            continue
        if isinstance(
            node,
            collections.abc.Iterator
            | collections.abc.AsyncIterator
            | collections.abc.Awaitable
            | collections.abc.AsyncIterable,
        ) or inspect.isgenerator(node):
            return False
        if isinstance(node, dict):
            if len(node) > max_items:
                return False
            stack.extend(node.values())
        elif isinstance(node, list | tuple | set | frozenset):
            if len(node) > max_items:
                return False
            stack.extend(node)
        else:
            namespace = getattr(node, "__dict__", None)
            if isinstance(namespace, dict):
                if len(namespace) > max_items:
                    return False
                stack.extend(namespace.values())
            extra = getattr(node, "__pydantic_extra__", None)
            if isinstance(extra, dict):
                stack.extend(extra.values())
    return True


_TAIL_TABLE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-"
_TAIL_SECRET_RE = re.compile(
    r"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza|eyJ|-----BEGIN", re.ASCII
)
_TAIL_BEARER_RE = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr]\s{1,8}\Z", re.ASCII)


def _mask_tail(text: str) -> str:
    """Mask a token-like run at the end of a cut string that may be the start of a secret."""
    head = text.rstrip(_TAIL_TABLE)
    run = text[len(head) :]
    if not run:
        if "PRIVATE KEY" in text[-64:] or "-----BEGIN" in text[-64:]:
            return head + REDACTED
        return text
    if _TAIL_BEARER_RE.search(head[-16:]):
        return head + REDACTED
    match = _TAIL_SECRET_RE.search(run)
    if match is not None:
        return head + run[: match.start()] + REDACTED
    return text


# --------------------------------------------------------------------------------------
# Size fitting
# --------------------------------------------------------------------------------------

_MARKER_ROOM = 24  # bytes kept for a container's "N more" marker (and its comma)
_MIN_CONTAINER = 2 + _MARKER_ROOM  # smallest cut container: ["…(N more)"] / {"…":"N more"}
_MIN_STRING = 30  # smallest form of a cut string: "…(truncated N chars)"
_STRING_FLOOR = 64 + _MIN_STRING  # a cut string keeps at least ~64 bytes of text
_FLOOR_KEYS = 8  # a cut dict tries to keep at least its first 8 keys


def _fit(tree: object, data: bytes, limit: int) -> str:
    """Shrink a walked tree that serializes above ``limit`` bytes; always returns valid JSON."""
    original = len(data)
    budget = limit
    for _ in range(3):
        try:
            fitted = _Fitter().fit(tree, budget)
            if fitted is _DROPPED:
                break
            data = _dumps_tree(fitted)
        except Exception:
            break
        if len(data) <= limit:
            return data.decode("utf-8")
        budget -= len(data) - limit + 8  # estimate was off (should not happen): retry
    return _wrap(data, limit, original)


_DROPPED = object()


class _Fitter:
    """Max-min fair shrinking: every container shares its byte budget among its items.

    Small items are kept whole, the largest ones get equal shares and are shrunk
    recursively (strings are cut with a marker, containers keep fewer items); items are
    dropped, from the end, only when even their smallest forms do not fit, and counted
    in a ``"…(N more)"`` / ``"…": "N more"`` marker. Sizes are exact encoded byte counts.
    """

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.floors: dict[int, int] = {}

    # ---- sizes --------------------------------------------------------------------

    def size(self, node: object) -> int:
        """Exact encoded size in bytes (containers encoded once each, memoized)."""
        node_type = type(node)
        if node_type is dict or node_type is list:
            cached = self.sizes.get(id(node))
            if cached is None:
                cached = self.sizes[id(node)] = len(_dumps_tree(node))
            return cached
        if node_type is int:
            return len(int.__repr__(node))
        if node is None or node_type is bool:
            return 4 if node is None or node else 5
        return len(_dumps_tree(node))

    def floor(self, node: object) -> int:
        """The smallest budget worth giving ``node`` (below it, drop trailing items instead).

        A string keeps ~64 bytes; a list its first item; a dict its first keys (each at
        their floor); other scalars are whole.
        """
        full = self.size(node)
        node_type = type(node)
        if node_type is str:
            return min(full, _STRING_FLOOR)
        if node_type is not dict and node_type is not list:
            return full
        cached = self.floors.get(id(node))
        if cached is not None:
            return cached
        need = 2 + _MARKER_ROOM
        if isinstance(node, dict):
            for key, value in islice(node.items(), _FLOOR_KEYS):
                need += self.size(key) + 2 + self.floor(value)
        elif isinstance(node, list) and node:
            need += 1 + self.floor(node[0])
        result = min(full, need)
        self.floors[id(node)] = result
        return result

    def minimum(self, node: object) -> int:
        node_type = type(node)
        if node_type is str:
            return min(self.size(node), _MIN_STRING)
        if node_type is dict or node_type is list:
            return min(self.size(node), _MIN_CONTAINER)
        return self.size(node)

    # ---- fitting ------------------------------------------------------------------

    def fit(self, node: object, budget: int) -> object:
        """``node`` or a smaller copy whose encoding is at most ``budget`` bytes, or _DROPPED."""
        if self.size(node) <= budget:
            return node
        node_type = type(node)
        if node_type is str:
            return self.fit_string(node, budget)  # type: ignore[arg-type]
        if node_type is dict or node_type is list:
            return self.fit_container(node, budget)
        return _DROPPED

    def fit_string(self, text: str, budget: int) -> object:
        base, dropped = text, 0
        marker = _CUT_MARKER_RE.search(text)
        if marker is not None:
            base, dropped = text[: marker.start()], int(marker.group(1))
        total = len(base) + dropped
        ratio = self.size(base) / max(len(base), 1)  # encoded bytes per character
        keep = int((budget - 2 - len(f"{_ELLIPSIS}(truncated {total} chars)".encode())) / ratio)
        for _ in range(8):
            if keep < 0:
                return _DROPPED
            candidate = f"{base[:keep]}{_ELLIPSIS}(truncated {total - keep} chars)"
            size = self.size(candidate)
            if size <= budget:
                return candidate
            keep -= max(1, int((size - budget) / ratio))
        return _DROPPED

    def fit_container(self, node: object, budget: int) -> object:
        is_dict = type(node) is dict
        items: list[Any] = list(node.items()) if is_dict else list(node)  # type: ignore[attr-defined, call-overload]
        dropped = _marker_count(items, is_dict)
        if dropped:
            items.pop()
        available = budget - 2 - _MARKER_ROOM
        if available < 0:
            return _DROPPED
        values = [item[1] for item in items] if is_dict else items
        overheads: list[int] = []  # key, colon, comma
        full: list[int] = []
        floor: list[int] = []
        used = 0
        for index, value in enumerate(values):  # the longest prefix whose floors fit
            overhead = (self.size(items[index][0]) + 2) if is_dict else 1
            smallest = overhead + self.floor(value)
            if used + smallest > available:
                if index == 0:  # at least the first item, in its smallest form
                    smallest = overhead + self.minimum(value)
                    if smallest > available:
                        break
                else:
                    break
            used += smallest
            overheads.append(overhead)
            full.append(overhead + self.size(value))
            floor.append(smallest)
        kept = len(floor)
        dropped += len(items) - kept

        def allotted(cap: int) -> int:
            return sum(max(floor[i], min(full[i], overheads[i] + cap)) for i in range(kept))

        low, high = 0, max((full[i] for i in range(kept)), default=0)
        while low < high:  # the largest share that fits
            middle = (low + high + 1) // 2
            if allotted(middle) <= available:
                low = middle
            else:
                high = middle - 1
        cap = low
        out_dict: dict[str, object] = {}
        out_list: list[object] = []
        for i in range(kept):
            share = max(floor[i], min(full[i], overheads[i] + cap))
            value = values[i]
            if full[i] > share:
                value = self.fit(value, share - overheads[i])
                if value is _DROPPED:  # cannot happen with exact minimums; stay safe
                    dropped += 1
                    continue
            if is_dict:
                out_dict[items[i][0]] = value
            else:
                out_list.append(value)
        if is_dict:
            if dropped:
                out_dict[_ELLIPSIS] = f"{dropped} more"
            return out_dict
        if dropped:
            out_list.append(f"{_ELLIPSIS}({dropped} more)")
        return out_list


def _marker_count(items: list[Any], is_dict: bool) -> int:
    """The N of a trailing "N more" marker item, else 0."""
    if not items:
        return 0
    last = items[-1]
    if is_dict:
        key, value = last
        if key == _ELLIPSIS and isinstance(value, str) and value.endswith(" more"):
            number = value[: -len(" more")]
            return int(number) if number.isdigit() else 0
        return 0
    if isinstance(last, str):
        match = _MORE_MARKER_RE.fullmatch(last)
        if match is not None:
            return int(match.group(1))
    return 0


def _wrap(data: bytes, limit: int, original: int) -> str:
    """Last resort: a small object with a preview of the text."""
    keep = max(limit - 80, 0)
    for _ in range(12):
        preview = data[:keep].decode("utf-8", "ignore")
        wrapped = _dumps_tree(
            {"__truncated__": True, "preview": preview, "original_bytes": original}
        )
        if len(wrapped) <= limit:
            return wrapped.decode("utf-8")
        keep = max(0, keep - (len(wrapped) - limit) - 8)
    minimal = _dumps_tree({"__truncated__": True, "original_bytes": original})
    if len(minimal) <= limit:
        return minimal.decode("utf-8")
    return "null"
