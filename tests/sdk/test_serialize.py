"""Tests of fluxloop.sdk._serialize.to_json: every type, limits, cycles, both JSON implementations."""

from __future__ import annotations

import array
import asyncio
import collections
import dataclasses
import datetime
import decimal
import enum
import functools
import io
import json
import logging
import math
import pathlib
import socket
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxloop.sdk import _serialize
from fluxloop.sdk._serialize import (
    DEFAULT_OPTIONS,
    MIN_BYTES,
    SerializeOptions,
    safe_repr,
    to_json,
    use_orjson,
)

IMPLEMENTATIONS = ["orjson", "json"] if _serialize.ORJSON_AVAILABLE else ["json"]


@pytest.fixture(params=IMPLEMENTATIONS, autouse=True)
def implementation(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test with orjson and with the stdlib fallback."""
    previous = use_orjson(request.param == "orjson")
    try:
        yield request.param
    finally:
        use_orjson(previous)


def dumps(value: object, **options: Any) -> tuple[Any, bool, str]:
    """to_json + checks every result must pass; returns (parsed, truncated, text)."""
    opts = SerializeOptions(**options) if options else DEFAULT_OPTIONS
    text, truncated = to_json(value, opts)
    assert isinstance(text, str)
    assert isinstance(truncated, bool)
    limit = max(opts.max_bytes, MIN_BYTES)
    encoded = text.encode("utf-8")  # no lone surrogates
    assert len(encoded) <= limit, (len(encoded), limit)
    return json.loads(text), truncated, text


def parsed(value: object, **options: Any) -> Any:
    return dumps(value, **options)[0]


# --------------------------------------------------------------------------------------
# primitives and plain containers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.5,
        -0.0,
        "",
        "héllo wörld ✓ 🎉",
        [],
        {},
        [1, "a", None, True, 2.5],
        {"a": {"b": [1, 2, {"c": "d"}]}},
    ],
)
def test_plain_values_round_trip(value: object) -> None:
    result, truncated, _ = dumps(value)
    assert result == value
    assert truncated is False


def test_tuple_is_array() -> None:
    assert parsed((1, (2, 3))) == [1, [2, 3]]


def test_output_is_compact() -> None:
    assert to_json({"a": [1, 2]})[0] == '{"a":[1,2]}'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_become_null(value: float) -> None:
    assert parsed(value) is None
    assert parsed({"x": [value]}) == {"x": [None]}


def test_big_ints() -> None:
    big = 2**100
    result = parsed(big)
    assert int(result) == big  # a string on the orjson path, a number on the json path
    huge = parsed(10**5000)
    assert isinstance(huge, str) and huge.startswith("<int with")


def test_non_str_keys() -> None:
    result = parsed({1: "a", None: "b", 2.5: "d", (1, 2): "e"})
    assert result == {"1": "a", "null": "b", "2.5": "d", "(1, 2)": "e"}
    assert parsed({True: 1, False: 0}) == {"true": 1, "false": 0}


def test_key_types_datetime_uuid_enum() -> None:
    class Color(enum.Enum):
        RED = "red"

    key_uuid = uuid.UUID(int=1)
    result = parsed({datetime.date(2024, 1, 2): 1, key_uuid: 2, Color.RED: 3})
    assert result == {"2024-01-02": 1, str(key_uuid): 2, "red": 3}


def test_subclasses_of_builtins() -> None:
    class MyStr(str):
        def __str__(self) -> str:
            raise RuntimeError

    class MyInt(int):
        pass

    class MyDict(dict[str, int]):
        def items(self) -> Any:
            raise RuntimeError

    class MyList(list[int]):
        def __iter__(self) -> Any:
            raise RuntimeError

    assert parsed(MyStr("s")) == "s"
    assert parsed(MyInt(5)) == 5
    assert parsed(MyDict(a=1)) == {"a": 1}
    assert parsed(MyList([1, 2])) == [1, 2]
    assert parsed(collections.OrderedDict(b=1, a=2)) == {"b": 1, "a": 2}
    assert parsed(collections.defaultdict(list, a=[1])) == {"a": [1]}


def test_namedtuple_and_deque_and_range() -> None:
    Point = collections.namedtuple("Point", "x y")
    assert parsed(Point(1, 2)) == [1, 2]
    assert parsed(collections.deque([1, 2])) == [1, 2]
    assert parsed(range(3)) == [0, 1, 2]
    assert parsed({"a": 1}.keys()) == ["a"]
    assert parsed(array.array("i", [1, 2])) == [1, 2]


def test_sets_sorted_when_sortable() -> None:
    assert parsed({3, 1, 2}) == [1, 2, 3]
    assert parsed(frozenset({"b", "a"})) == ["a", "b"]
    mixed = parsed({1, "a"})
    assert sorted(map(str, mixed)) == ["1", "a"]


def test_sets_are_deterministic() -> None:
    values = {f"item-{i}" for i in range(50)}
    other: set[str] = set()
    for item in sorted(values, reverse=True):
        other.add(item)
    assert to_json(values) == to_json(other)


# --------------------------------------------------------------------------------------
# bytes
# --------------------------------------------------------------------------------------


def test_bytes_utf8_text() -> None:
    assert parsed(b"hello") == "hello"
    assert parsed(bytearray("héllo", "utf-8")) == "héllo"
    assert parsed(memoryview(b"abc")) == "abc"


def test_bytes_binary_base64() -> None:
    result = parsed(b"\xff\x00\xfe")
    assert result == {"__bytes__": "/wD+", "size": 3}


def test_bytes_large_binary_is_cut() -> None:
    data = bytes(range(256)) * 1000
    result, truncated, _ = dumps(data, max_string=100)
    assert result["size"] == len(data)
    assert result["truncated"] is True
    assert truncated is True
    assert len(result["__bytes__"]) <= 100


def test_bytes_large_text_is_cut() -> None:
    result, truncated, _ = dumps(b"a" * 50_000, max_string=100)
    assert truncated is True
    assert result.startswith("a" * 100)
    assert "truncated" in result


def test_memoryview_multidimensional() -> None:
    view = memoryview(bytes(range(12))).cast("B", shape=[3, 4])
    result = parsed(view)
    assert result["size"] == 12 if isinstance(result, dict) else isinstance(result, str)


# --------------------------------------------------------------------------------------
# structured objects
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Inner:
    x: int
    tags: list[str]


@dataclasses.dataclass
class Outer:
    name: str
    inner: Inner
    when: datetime.datetime


def test_dataclass() -> None:
    value = Outer("n", Inner(1, ["a"]), datetime.datetime(2024, 1, 2, 3, 4, 5))
    assert parsed(value) == {
        "name": "n",
        "inner": {"x": 1, "tags": ["a"]},
        "when": "2024-01-02T03:04:05",
    }


def test_dataclass_with_failing_property_field() -> None:
    @dataclasses.dataclass
    class Weird:
        a: int

    w = Weird(1)
    del w.a
    assert parsed(w) == {"a": "<unavailable>"}


def test_pydantic_v2_model() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Address(pydantic.BaseModel):
        city: str

    class User(pydantic.BaseModel):
        name: str
        address: Address
        created: datetime.datetime
        password: pydantic.SecretStr
        api_key: str

    user = User(
        name="ann",
        address=Address(city="Paris"),
        created=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
        password=pydantic.SecretStr("hunter2"),
        api_key="abc-secret-value",
    )
    result, _, text = dumps(user)
    assert result["name"] == "ann"
    assert result["address"] == {"city": "Paris"}
    assert result["created"].startswith("2024-01-01T00:00:00")
    assert result["api_key"] == "***"
    assert result["password"] == "***"
    assert "hunter2" not in text and "abc-secret-value" not in text


def test_pydantic_model_with_generator_field_is_not_consumed() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        items: Any

    consumed = []

    def produce() -> Iterator[int]:
        consumed.append(True)
        yield 1

    holder = Holder(items=produce())
    result = parsed(holder)
    assert consumed == []
    assert result["items"].startswith("<generator")


def test_pydantic_model_dump_failure_falls_back() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Broken(pydantic.BaseModel):
        a: int

        def model_dump(self, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("boom")

    assert parsed(Broken(a=1)) == {"a": 1}


def test_pydantic_secret_str_alone() -> None:
    pydantic = pytest.importorskip("pydantic")
    _, _, text = dumps(pydantic.SecretStr("hunter2"))
    assert "hunter2" not in text


def test_pydantic_v1_style_dict() -> None:
    class V1Like:
        __fields__: dict[str, Any] = {"a": None}

        def __init__(self) -> None:
            self.a = 1

        def dict(self) -> dict[str, Any]:
            return {"a": self.a, "via": "dict"}

    assert parsed(V1Like()) == {"a": 1, "via": "dict"}

    class V1Broken(V1Like):
        def dict(self) -> dict[str, Any]:
            raise RuntimeError

    assert parsed(V1Broken()) == {"a": 1}


def test_enums() -> None:
    class Color(enum.Enum):
        RED = "red"
        TUPLE = (1, 2)

    class Level(enum.IntEnum):
        HIGH = 3

    class Mode(enum.StrEnum):
        FAST = "fast"

    assert parsed(Color.RED) == "red"
    assert parsed(Color.TUPLE) == [1, 2]
    assert parsed(Level.HIGH) == 3
    assert parsed(Mode.FAST) == "fast"
    assert parsed({"c": Color.RED, "l": [Level.HIGH]}) == {"c": "red", "l": [3]}


def test_dates_uuid_decimal_path_complex() -> None:
    tz = datetime.timezone(datetime.timedelta(hours=2))
    value = {
        "dt": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=tz),
        "d": datetime.date(2024, 5, 6),
        "t": datetime.time(7, 8, 9),
        "td": datetime.timedelta(seconds=90),
        "u": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "dec": decimal.Decimal("3.14159265358979323846"),
        "nan_dec": decimal.Decimal("NaN"),
        "p": pathlib.PurePosixPath("/tmp/x"),
        "c": complex(1, 2),
    }
    assert parsed(value) == {
        "dt": "2024-05-06T07:08:09.123456+02:00",
        "d": "2024-05-06",
        "t": "07:08:09",
        "td": 90.0,
        "u": "12345678-1234-5678-1234-567812345678",
        "dec": "3.14159265358979323846",
        "nan_dec": "NaN",
        "p": "/tmp/x",
        "c": "(1+2j)",
    }


class FakeArray:
    """A numpy-like object: tolist(), size, reshape()."""

    def __init__(self, data: list[float]) -> None:
        self.data = data
        self.size = len(data)
        self.calls: list[str] = []

    def tolist(self) -> list[float]:
        self.calls.append("tolist")
        return list(self.data)

    def reshape(self, *shape: int) -> FakeArray:
        self.calls.append("reshape")
        return self

    def __getitem__(self, item: slice) -> FakeArray:
        return FakeArray(self.data[item])


def test_numpy_like_small() -> None:
    assert parsed(FakeArray([1.0, 2.0])) == [1.0, 2.0]


def test_numpy_like_large_is_bounded() -> None:
    big = FakeArray([float(i) for i in range(5000)])
    result, truncated, _ = dumps(big, max_items=10)
    assert result[:10] == [float(i) for i in range(10)]
    assert result[10] == "…(4990 more)"
    assert truncated is True
    assert big.calls == ["reshape"]  # never tolist() on the whole array


def test_numpy_like_tolist_raises() -> None:
    class Bad(FakeArray):
        def tolist(self) -> list[float]:
            raise RuntimeError

    result = parsed(Bad([1.0]))
    assert isinstance(result, dict)  # falls back to the attributes


def test_numpy_real_if_installed() -> None:
    numpy = pytest.importorskip("numpy")
    assert parsed(numpy.arange(3)) == [0, 1, 2]
    assert parsed(numpy.float32(1.5)) == 1.5
    assert parsed({"a": numpy.int64(7)}) == {"a": 7}
    result = parsed(numpy.zeros((100, 100)), max_items=5)
    assert result[-1] == "…(9995 more)"


class Plain:
    def __init__(self) -> None:
        self.a = 1
        self.nested = {"b": [1, 2]}
        self._private = "p"
        self.__mangled = "m"


class Slotted:
    __slots__ = ("x", "y")

    def __init__(self) -> None:
        self.x = 1


def test_object_with_dict_and_slots() -> None:
    assert parsed(Plain()) == {
        "a": 1,
        "nested": {"b": [1, 2]},
        "_private": "p",
        "_Plain__mangled": "m",
    }
    assert parsed(Slotted()) == {"x": 1}


def test_object_with_many_attributes_is_bounded() -> None:
    obj = types.SimpleNamespace(**{f"a{i}": i for i in range(50)})
    result, truncated, _ = dumps(obj, max_items=5)
    assert len(result) == 6 and result["…"] == "45 more"
    assert truncated is True


def test_plain_object_without_state_uses_repr() -> None:
    assert parsed(object()) == "<object object>"

    class WithRepr:
        def __repr__(self) -> str:
            return "WithRepr(1)"

    assert parsed(WithRepr()) == "WithRepr(1)"


def test_repr_raising() -> None:
    class BadRepr:
        __slots__ = ()

        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    assert parsed(BadRepr()) == "<BadRepr object>"
    assert safe_repr(BadRepr()) == "<BadRepr object>"


def test_repr_returning_non_string() -> None:
    class Odd:
        __slots__ = ()

        def __repr__(self) -> Any:
            return 42

    assert parsed(Odd()) == "<Odd object>"


def test_huge_repr_is_cut() -> None:
    class Loud:
        __slots__ = ()

        def __repr__(self) -> str:
            return "x" * 100_000

    result, truncated, _ = dumps(Loud(), max_string=50)
    assert result.startswith("x" * 50) and "truncated" in result
    assert truncated is True


def test_exception() -> None:
    assert parsed(ValueError("bad")) == "ValueError('bad')"


def test_mock_object_is_bounded() -> None:
    from unittest import mock

    result, _, _ = dumps(mock.MagicMock())
    assert result is not None


# --------------------------------------------------------------------------------------
# things that must not be consumed, awaited or walked
# --------------------------------------------------------------------------------------


def test_generator_is_not_consumed() -> None:
    def explode() -> Iterator[int]:
        raise AssertionError("consumed!")
        yield 1

    gen = explode()
    assert parsed(gen) == "<generator test_generator_is_not_consumed.<locals>.explode>"
    assert parsed({"g": gen}) == {
        "g": "<generator test_generator_is_not_consumed.<locals>.explode>"
    }


def test_iterators_are_not_consumed() -> None:
    it = iter([1, 2, 3])
    assert parsed(it) == "<iterator list_iterator>"
    assert next(it) == 1
    mapped = map(str, [1])
    assert parsed(mapped) == "<iterator map>"
    assert list(mapped) == ["1"]


def test_coroutine_and_async_generator() -> None:
    async def coro() -> int:
        raise AssertionError("awaited!")

    async def agen() -> Any:
        raise AssertionError("iterated!")
        yield 1

    c = coro()
    try:
        assert parsed(c).startswith("<coroutine ")
    finally:
        c.close()
    assert parsed(agen()).startswith("<async_generator ")


def test_object_with_async_json_method_is_not_called() -> None:
    class Response:
        def __init__(self) -> None:
            self.status = 200

        async def json(self) -> dict[str, Any]:
            raise AssertionError("called")

        def __aiter__(self) -> Any:
            raise AssertionError("iterated")

    assert parsed(Response()) == "<async_iterable Response>"

    class Task:
        def __await__(self) -> Any:
            raise AssertionError("awaited")

    assert parsed(Task()) == "<awaitable Task>"


def test_asyncio_future() -> None:
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()
        assert isinstance(parsed(fut), str)
    finally:
        loop.close()


def test_functions_classes_modules() -> None:
    def local() -> None:
        pass

    class Klass:
        def method(self) -> None:
            pass

    assert parsed(local) == "<function test_functions_classes_modules.<locals>.local>"
    assert parsed(len) == "<function len>"
    assert (
        parsed(Klass().method) == "<function test_functions_classes_modules.<locals>.Klass.method>"
    )
    assert parsed(functools.partial(local)) == (
        "<function test_functions_classes_modules.<locals>.local>"
    )
    assert parsed(lambda: None).startswith("<function ")
    assert parsed(Klass) == "<class test_functions_classes_modules.<locals>.Klass>"
    assert parsed(int) == "<class int>"
    assert parsed(sys) == "<module sys>"
    assert parsed(json) == "<module json>"
    assert parsed({"mod": types}) == {"mod": "<module types>"}


def test_socket_file_lock_logger() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        assert parsed(sock).startswith("<socket.socket")
    finally:
        sock.close()
    assert parsed(io.StringIO("abc")) == "<StringIO object>"
    assert "lock" in parsed(threading.Lock())
    assert "RLock" in parsed(threading.RLock())
    assert parsed(threading.Event()).startswith("<threading.Event")
    assert parsed(logging.getLogger("x")).startswith("<Logger")
    with open(__file__, encoding="utf-8") as handle:
        assert parsed(handle).startswith("<_io.TextIOWrapper")
        assert handle.tell() == 0


# --------------------------------------------------------------------------------------
# cycles and depth
# --------------------------------------------------------------------------------------


def test_self_referential_dict() -> None:
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    assert parsed(d) == {"a": 1, "self": "<cycle>"}


def test_self_referential_list() -> None:
    lst: list[Any] = [1]
    lst.append(lst)
    assert parsed(lst) == [1, "<cycle>"]


def test_indirect_cycle_and_shared_reference() -> None:
    a: dict[str, Any] = {}
    b = {"a": a}
    a["b"] = b
    shared = [1, 2]
    assert parsed({"root": a, "x": shared, "y": shared}) == {
        "root": {"b": {"a": "<cycle>"}},
        "x": [1, 2],
        "y": [1, 2],
    }


def test_object_cycle() -> None:
    node = Plain()
    node.nested = {"back": node}  # type: ignore[assignment]
    assert parsed(node)["nested"] == {"back": "<cycle>"}


def test_max_depth() -> None:
    value: Any = "leaf"
    for _ in range(20):
        value = {"k": value}
    result, truncated, _ = dumps(value, max_depth=3)
    assert result == {"k": {"k": {"k": "<max depth>"}}}
    assert truncated is True


def test_depth_exactly_at_limit_is_kept() -> None:
    value = [[["x"]]]
    result, truncated, _ = dumps(value, max_depth=3)
    assert result == [[["x"]]]
    assert truncated is False


def test_deep_nesting_10000_levels_no_recursion_error() -> None:
    deep: list[Any] = []
    current = deep
    for _ in range(10_000):
        child: list[Any] = []
        current.append(child)
        current = child
    result, truncated, _ = dumps(deep)
    assert truncated is True
    depth = 0
    node = result
    while isinstance(node, list):
        node = node[0]
        depth += 1
    assert node == "<max depth>"
    assert depth == DEFAULT_OPTIONS.max_depth

    deep_dict: dict[str, Any] = {}
    current_dict = deep_dict
    for _ in range(10_000):
        current_dict["k"] = {}
        current_dict = current_dict["k"]
    result, truncated, _ = dumps(deep_dict, max_depth=100_000)  # clamped to 200 levels
    assert truncated is True
    for _ in range(199):
        result = result["k"]
    assert result == {"k": "<max depth>"}


# --------------------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------------------


def test_long_string_is_cut_with_marker() -> None:
    result, truncated, _ = dumps("a" * 10_000, max_string=100)
    assert result == "a" * 100 + "…(truncated 9900 chars)"
    assert truncated is True


def test_string_at_limit_is_kept() -> None:
    result, truncated, _ = dumps({"s": "a" * 100}, max_string=100)
    assert result == {"s": "a" * 100}
    assert truncated is False


def test_long_key_is_cut() -> None:
    result, truncated, _ = dumps({"k" * 500: 1}, max_string=10)
    (key,) = result
    assert key.startswith("k" * 10) and "truncated" in key
    assert truncated is True


def test_list_items_limit() -> None:
    result, truncated, _ = dumps(list(range(100)), max_items=10)
    assert result == [*range(10), "…(90 more)"]
    assert truncated is True


def test_dict_items_limit() -> None:
    result, truncated, _ = dumps({f"k{i}": i for i in range(100)}, max_items=3)
    assert result == {"k0": 0, "k1": 1, "k2": 2, "…": "97 more"}
    assert truncated is True


def test_nested_items_limit_in_fast_path_shape() -> None:
    value = {"a": list(range(20)), "b": 1}
    result, truncated, _ = dumps(value, max_items=5)
    assert result == {"a": [0, 1, 2, 3, 4, "…(15 more)"], "b": 1}
    assert truncated is True


def test_huge_list_is_bounded_and_fast() -> None:
    value = list(range(1_000_000))
    result, truncated, _ = dumps(value)
    assert truncated is True
    assert result[-1] == "…(999000 more)"


def test_huge_set_and_dict() -> None:
    result, truncated, _ = dumps(set(range(200_000)), max_items=5)
    assert truncated is True
    assert result == [0, 1, 2, 3, 4, "…(199995 more)"]
    big = {i: i for i in range(200_000)}
    result, _truncated, _ = dumps(big, max_items=2)
    assert result == {"0": 0, "1": 1, "…": "199998 more"}


def test_max_bytes_shrinks_largest_strings_first() -> None:
    value = {"small": "keep me", "n": 42, "big": "x" * 30_000, "big2": "y" * 20_000}
    result, truncated, text = dumps(value, max_bytes=2_000, max_string=100_000)
    assert truncated is True
    assert result["small"] == "keep me"
    assert result["n"] == 42
    assert result["big"].startswith("xxx") and "truncated" in result["big"]
    assert result["big2"].startswith("yyy") and "truncated" in result["big2"]
    assert len(text.encode()) <= 2_000


def test_max_bytes_drops_trailing_items() -> None:
    value = {"items": [{"id": i, "name": f"item {i}"} for i in range(1000)], "status": "ok"}
    result, truncated, text = dumps(value, max_bytes=1_000)
    assert truncated is True
    assert isinstance(result["items"], list)
    assert result["items"][0] == {"id": 0, "name": "item 0"}
    assert result["items"][-1].startswith("…(")
    assert len(text.encode()) <= 1_000


def test_max_bytes_preserves_structure_of_many_small_strings() -> None:
    value = [f"word{i}" * 3 for i in range(5000)]
    result, truncated, _text = dumps(value, max_bytes=500)
    assert isinstance(result, list)
    assert truncated is True


def test_max_bytes_multibyte_strings() -> None:
    value = {"a": "é" * 20_000, "b": "🎉" * 20_000}
    result, truncated, _text = dumps(value, max_bytes=3_000)
    assert truncated is True
    assert set(result) == {"a", "b"}


def test_max_bytes_escaped_strings() -> None:
    value = {"a": '"\\' * 20_000, "b": "\x01" * 10_000}
    result, truncated, _ = dumps(value, max_bytes=2_000, max_string=100_000)
    assert truncated is True
    assert set(result) == {"a", "b"}


def test_tiny_max_bytes_is_clamped() -> None:
    _result, truncated, text = dumps({"a": "x" * 1000}, max_bytes=1)
    assert len(text.encode()) <= MIN_BYTES
    assert truncated is True


def test_wrapper_last_resort() -> None:
    # many keys that are each long: strings cannot be cut below the floor, so the fitter
    # must drop items; either way the result is valid and bounded
    value = {("k" * 60) + str(i): i for i in range(200)}
    result, truncated, text = dumps(value, max_bytes=200)
    assert truncated is True
    assert len(text.encode()) <= 200
    assert isinstance(result, dict)


def test_emit_and_wrap_helpers() -> None:
    tree = {"a": ["x" * 50] * 50, "b": {"c": list(range(100))}, "d": 1}
    data = json.dumps(tree).encode()
    fitted = json.loads(_serialize._fit(tree, data, 300))
    assert len(json.dumps(fitted, ensure_ascii=False, separators=(",", ":")).encode()) <= 300
    assert fitted["a"][-1].startswith("…(") and fitted["d"] == 1
    assert fitted["b"]["c"][-1].startswith("…(")
    wrapped = _serialize._wrap(json.dumps(tree).encode(), 200, 12345)
    assert len(wrapped.encode()) <= 200
    loaded = json.loads(wrapped)
    assert loaded["__truncated__"] is True and loaded["original_bytes"] == 12345
    assert _serialize._wrap(b"x" * 1000, 50, 1000) == '{"__truncated__":true,"original_bytes":1000}'
    assert _serialize._wrap(b"x" * 1000, 10, 1000) == "null"


def test_surrogates_are_replaced() -> None:
    result = parsed({"s": "a\ud800b", "\udfff": 1})
    assert result == {"s": "a?b", "?": 1}


def test_negative_options_are_clamped() -> None:
    result, truncated, _ = dumps({"a": [1, 2]}, max_items=-1, max_depth=-5, max_string=-3)
    assert result == "<max depth>"
    assert truncated is True


def test_truncated_flag_false_for_markers() -> None:
    d: dict[str, Any] = {}
    d["d"] = d
    assert dumps({"cycle": d, "gen": (i for i in [])})[1] is False


# --------------------------------------------------------------------------------------
# fast path vs slow path
# --------------------------------------------------------------------------------------


def test_fast_path_taken_for_plain_values(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = _serialize._slow_path

    def spy(value: object, options: SerializeOptions) -> tuple[str, bool]:
        calls.append(value)
        return original(value, options)

    monkeypatch.setattr(_serialize, "_slow_path", spy)
    to_json({"query": "hello", "max_tokens": 5, "history": ["a", "b"]})
    assert calls == []
    to_json({"api_key": "x"})
    assert len(calls) == 1


@pytest.mark.parametrize(
    "value",
    [
        {"a": list(range(2000))},
        {"a": "x" * 9000},
        [[[[[[[[[[[["deep"]]]]]]]]]]]],
        [{"a": i} for i in range(30)],
        {"s": 'quote " inside ' * 700},
        {"d": {i: i for i in range(3)}},
    ],
)
def test_fast_and_slow_paths_agree(value: object) -> None:
    fast = to_json(value)
    walker = _serialize._slow_path(value, DEFAULT_OPTIONS)
    assert json.loads(fast[0]) == json.loads(walker[0])
    assert fast[1] == walker[1]


def test_depth_fits_helper() -> None:
    assert _serialize._depth_fits(b'[{"a":"{[[[[\\\\"},[1,2]]', 2)
    assert not _serialize._depth_fits(b"[[[1]]]", 2)
    assert _serialize._depth_fits(b"[[[1]]]", 3)
    assert _serialize._depth_fits(b"[[],{},[{}]]", 3)
    assert not _serialize._depth_fits(b"[[],{},[{}]]", 2)
    assert _serialize._depth_fits(b"1", 0)
    assert not _serialize._depth_fits(b"[]", 0)


# --------------------------------------------------------------------------------------
# redact hook and secrets (integration; the rules are tested in test_masking.py)
# --------------------------------------------------------------------------------------


def test_redact_hook_is_called_before_serialization() -> None:
    seen: list[object] = []

    def hook(value: object) -> object:
        seen.append(value)
        return {"replaced": True}

    text, truncated = to_json({"a": 1}, SerializeOptions(redact=hook))
    assert seen == [{"a": 1}]
    assert json.loads(text) == {"replaced": True}
    assert truncated is False


def test_redact_hook_failure_fails_closed() -> None:
    def hook(value: object) -> object:
        raise RuntimeError("hook broke")

    text, _ = to_json({"password": "hunter2", "x": "secret stuff"}, SerializeOptions(redact=hook))
    assert json.loads(text) == "<redaction failed>"
    assert "hunter2" not in text


def test_redact_hook_output_is_still_masked() -> None:
    text, _ = to_json({"a": 1}, SerializeOptions(redact=lambda v: {"token": "abc"}))
    assert json.loads(text) == {"token": "***"}


def test_mask_secrets_off() -> None:
    text, _ = to_json({"password": "hunter2"}, SerializeOptions(mask_secrets=False))
    assert json.loads(text) == {"password": "hunter2"}


def test_secrets_masked_in_objects_and_before_cuts() -> None:
    @dataclasses.dataclass
    class Config:
        db_password: str
        url: str

    key = "sk-proj-" + "a1b2c3d4" * 10
    value = {
        "cfg": Config("hunter2", "https://x"),
        "note": "x" * 95 + key,
        "obj": types.SimpleNamespace(apiKey="zzz", ok=1),
    }
    result, _, text = dumps(value, max_string=100)
    assert result["cfg"] == {"db_password": "***", "url": "https://x"}
    assert result["obj"] == {"apiKey": "***", "ok": 1}
    assert "a1b2c3d4" not in text
    assert "hunter2" not in text


def test_secret_straddling_the_cut_of_a_huge_string() -> None:
    jwt = "eyJ" + "a" * 5000 + ".eyJ" + "b" * 20 + ".sig"
    value = "x" * 90 + jwt
    result, truncated, text = dumps(value, max_string=100)
    assert truncated is True
    assert "aaaa" not in text
    assert result.startswith("x" * 90)


def test_unserializable_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(value: object, options: SerializeOptions) -> tuple[str, bool]:
        raise RuntimeError

    monkeypatch.setattr(_serialize, "_slow_path", broken)
    text, truncated = to_json(object())
    assert json.loads(text) == "<unserializable object>"
    assert truncated is True


def test_hostile_object_everything_raises() -> None:
    class Hostile:
        def __getattribute__(self, name: str) -> Any:
            raise RuntimeError(name)

        def __repr__(self) -> str:
            raise RuntimeError

    text, _ = to_json({"h": Hostile(), "ok": 1})
    assert json.loads(text)["ok"] == 1


def test_hostile_isinstance() -> None:
    class Meta(type):
        def __instancecheck__(cls, instance: object) -> bool:
            raise RuntimeError

    class Weird(metaclass=Meta):
        pass

    text, _ = to_json([Weird(), 1])
    assert json.loads(text)[1] == 1


# --------------------------------------------------------------------------------------
# property-based
# --------------------------------------------------------------------------------------

json_keys = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=200),
    st.binary(max_size=50),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=12),
        st.tuples(children, children),
        st.dictionaries(json_keys, children, max_size=12),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=5)), max_size=5),
    ),
    max_leaves=60,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    value=json_values,
    max_bytes=st.integers(min_value=1, max_value=3_000),
    max_depth=st.integers(min_value=0, max_value=6),
    max_items=st.integers(min_value=0, max_value=8),
    max_string=st.integers(min_value=0, max_value=300),
)
def test_output_always_parses_and_fits(
    value: object, max_bytes: int, max_depth: int, max_items: int, max_string: int
) -> None:
    options = SerializeOptions(
        max_bytes=max_bytes, max_depth=max_depth, max_items=max_items, max_string=max_string
    )
    text, truncated = to_json(value, options)
    json.loads(text)
    assert len(text.encode("utf-8")) <= max(max_bytes, MIN_BYTES)
    assert isinstance(truncated, bool)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(value=json_values)
def test_default_options_round_trip_small_plain_values(value: object) -> None:
    text, _truncated = to_json(value)
    json.loads(text)
    assert len(text.encode("utf-8")) <= DEFAULT_OPTIONS.max_bytes


SECRETISH_KEYS = [
    "api_key",
    "apiKey",
    "max_tokens",
    "token",
    "tokens",
    "TokenS",
    "author",
    "Authorization",
    "password",
    "monkey",
    "secret_name",
    "x" * 130 + "_password",
    "k",
]
SECRETISH_TEXT = [
    "hello",
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "Bearer abcdefghijklmnop1234",
    "bearer\tabcdefghijklmnop1234",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
    "task-1234567890abcdefghijklmnop",
    "123e4567-e89b-12d3-a456-426614174000",
    'é\n\t"\\',
]
plain_keys = st.one_of(st.sampled_from(SECRETISH_KEYS), st.text(max_size=20))
plain_text = st.one_of(
    st.sampled_from(SECRETISH_TEXT),
    st.text(max_size=40),
    st.builds(
        lambda a, b, c: a + b + c,
        st.text(max_size=5),
        st.sampled_from(SECRETISH_TEXT),
        st.text(max_size=5),
    ),
)
plain_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        plain_text,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(plain_keys, children, max_size=6),
    ),
    max_leaves=30,
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    value=plain_values,
    max_depth=st.integers(1, 6),
    max_items=st.integers(1, 8),
    max_string=st.integers(1, 200),
)
def test_fast_path_agrees_with_walker(
    value: object, max_depth: int, max_items: int, max_string: int
) -> None:
    """The fast path is only an optimisation: same JSON, same flag, same masking."""
    options = SerializeOptions(max_depth=max_depth, max_items=max_items, max_string=max_string)
    text, truncated = to_json(value, options)
    walked, walked_truncated = _serialize._slow_path(value, options)
    assert json.loads(text) == json.loads(walked)
    assert truncated == walked_truncated


def test_encoder_is_never_handed_large_values(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    for name in ("_orjson_dumps", "_stdlib_dumps"):
        original = getattr(_serialize, name)

        def spy(value: object, *args: Any, _original: Any = original, **kwargs: Any) -> bytes:
            data: bytes = _original(value, *args, **kwargs)
            sizes.append(len(data))
            return data

        monkeypatch.setattr(_serialize, name, spy)
    to_json({"image": {"data": "A" * 50_000_000}})
    to_json([[i] * 900 for i in range(900)])
    to_json({"deep": [[[["x" * 1000] * 900] * 3]]})
    to_json({"k": list(range(10_000_000))})
    assert sizes
    assert all(size <= 4 * DEFAULT_OPTIONS.max_bytes for size in sizes)


def test_module_falls_back_to_stdlib_json_without_orjson() -> None:
    import subprocess

    code = (
        "import sys, json; sys.modules['orjson'] = None\n"
        "from fluxloop.sdk import _serialize as s\n"
        "assert not s.ORJSON_AVAILABLE and not s._use_orjson\n"
        "assert s.use_orjson(True) is False and not s._use_orjson\n"
        "text, cut = s.to_json({'a': {2, 1}, 'api_key': 'k', 'f': float('nan'), 'b': b'x'})\n"
        "assert json.loads(text) == {'a': [1, 2], 'api_key': '***', 'f': None, 'b': 'x'}, text\n"
        "assert s.to_json({'q': 'hi', 'n': [1, 2.5]}) == ('{\"q\":\"hi\",\"n\":[1,2.5]}', False)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_number_vectors() -> None:
    vector = [i / 7 for i in range(1536)]
    result, truncated, _ = dumps({"embedding": vector})
    assert result["embedding"][:1000] == vector[:1000]
    assert result["embedding"][1000] == "…(536 more)"
    assert truncated is True
    walked = _serialize._slow_path([1.5, math.nan, 2, math.inf] * 4, DEFAULT_OPTIONS)
    assert json.loads(walked[0]) == [1.5, None, 2, None] * 4
    walked = _serialize._slow_path([1, 2, 3, 4, 5, 6, 7, 2**70], DEFAULT_OPTIONS)
    assert [int(x) for x in json.loads(walked[0])] == [1, 2, 3, 4, 5, 6, 7, 2**70]
    walked = _serialize._slow_path([True, 1, 2, 3, 4, 5, 6, 7.5], DEFAULT_OPTIONS)
    assert json.loads(walked[0]) == [True, 1, 2, 3, 4, 5, 6, 7.5]


def test_large_object_graph_is_bounded() -> None:
    class Client:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.cache = {i: list(range(50)) for i in range(300)}
            self.peers: list[Client] = []

    root = Client()
    root.peers = [Client() for _ in range(5)]
    root.peers[0].peers = [root]
    result, truncated, _text = dumps({"self": root, "query": "q"})
    assert truncated is True
    assert result["query"] == "q"
