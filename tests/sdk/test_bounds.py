"""Hostile arguments cannot hang or exhaust the caller (issue #12, points 6, 7 and 9).

Every test counts the work done (items read, reprs made, lines written) rather than timing it:
speed lives in bench/bench_bounds.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fluxloop_semconv import attributes as attr

import fluxloop
from fluxloop.project.recording import load_recording
from fluxloop.sdk import _recording, _serialize
from fluxloop.sdk._genai import MAX_MESSAGES, to_genai_messages
from tests.sdk.conftest import Exported


class CountingSequence(Sequence[Any]):
    """A sequence claiming 10**12 items (a message each) that counts every access."""

    def __init__(self) -> None:
        self.reads = 0

    def __len__(self) -> int:
        return 10**12

    def __getitem__(self, index: Any) -> Any:
        self.reads += 1
        if isinstance(index, int) and index >= 10**12:
            raise IndexError(index)
        return {"role": "user", "content": "hi"}

    def __iter__(self) -> Iterator[Any]:
        while True:
            self.reads += 1
            yield {"role": "user", "content": "hi"}


class Probe:
    """Not a message; counts the attribute look-ups made on it."""

    looked = 0

    def __getattr__(self, name: str) -> Any:
        type(self).looked += 1
        raise AttributeError(name)


# -- 6: message detection ------------------------------------------------------------------------


def test_prompt_never_iterates_a_lazy_sequence(exported: Exported) -> None:
    seq = CountingSequence()

    @fluxloop.prompt(model="gpt-4o")
    def call(messages: Any) -> str:
        return "ok"

    assert call(seq) == "ok"
    assert call(range(10**12)) == "ok"  # would take hours to walk
    assert seq.reads <= 1_000  # the serializer's item bound; detection reads nothing
    for span in exported.spans:
        assert attr.GEN_AI_INPUT_MESSAGES not in (span.attributes or {})


def test_message_detection_looks_at_a_bounded_prefix() -> None:
    Probe.looked = 0
    assert to_genai_messages([Probe() for _ in range(100_000)]) is None
    assert Probe.looked <= 4  # role and type of the first item: the first non-message ends it
    many = [{"role": "user", "content": f"m{i}"} for i in range(MAX_MESSAGES * 5)]
    converted = to_genai_messages(many)
    assert converted is not None and len(converted) == MAX_MESSAGES
    assert to_genai_messages(({"role": "user", "content": range(10**12)},)) == [
        {"role": "user", "parts": []}
    ]


def test_prompt_still_reads_real_messages(exported: Exported) -> None:
    @fluxloop.prompt(model="gpt-4o")
    def call(messages: Any) -> str:
        return "ok"

    call([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    (span,) = exported.spans
    messages = json.loads(str((span.attributes or {})[attr.GEN_AI_INPUT_MESSAGES]))
    assert [m["role"] for m in messages] == ["system", "user"]


# -- 7: record_call_args stops at its item limit -------------------------------------------------


class EndlessMapping(Mapping[str, int]):
    """Keys that never end (and a length that lies); counts the keys handed out."""

    def __init__(self) -> None:
        self.handed_out = 0

    def __getitem__(self, key: str) -> int:
        return 1

    def __len__(self) -> int:
        return 10

    def __iter__(self) -> Iterator[str]:
        while True:
            self.handed_out += 1
            yield f"key-{self.handed_out}"


@pytest.fixture
def recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("FLUXLOOP_RECORD_ARGS", "FLUXLOOP_RECORDING_FILE", "FLUXLOOP_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    fluxloop.reset_config()
    _recording._reset_state()
    path = tmp_path / "rec.jsonl"
    fluxloop.configure(storage="none", record_args=True, recording_file=path)
    yield path
    fluxloop.reset_config()
    _recording._reset_state()


def test_record_call_args_stops_reading_a_mapping_at_its_limit(recording: Path) -> None:
    endless = EndlessMapping()
    fluxloop.record_call_args(target="m:f", payload=endless, items=CountingSequence())
    assert endless.handed_out <= _recording.MAX_ITEMS + 1
    (line,) = [json.loads(raw) for raw in recording.read_text().splitlines()]
    assert "key-1" in line["kwargs"]["payload"]  # cut (and marked) like a span attribute
    assert any("more" in str(value) for value in line["kwargs"]["payload"].values())


def test_a_big_dict_is_cut_with_its_true_count() -> None:
    text = _recording.encode_kwargs({"d": {f"k{i}": i for i in range(_recording.MAX_ITEMS + 7)}})
    assert json.loads(text)["d"]["…"] == "7 more"


# -- 9: one bad value costs nothing else -------------------------------------------------------


def test_a_huge_token_count_does_not_lose_the_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fluxloop.reset_config()
    fluxloop.configure(storage="file", base_path=tmp_path)
    try:

        @fluxloop.prompt(model="gpt-4o")
        def call(question: str) -> dict[str, Any]:
            return {"usage": {"prompt_tokens": 10**5000, "completion_tokens": 3}}

        @fluxloop.tool
        def tool(i: int) -> int:
            return i

        with caplog.at_level(logging.WARNING, logger="fluxloop"):
            for i in range(3):
                tool(i)
            call("q")
            for i in range(3):
                tool(i)
            fluxloop.flush()
    finally:
        fluxloop.reset_config()
    records = [
        json.loads(line)
        for path in tmp_path.glob("observations_*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(records) == 7
    (generation,) = [r for r in records if r["type"] == "generation"]
    assert generation["prompt_tokens"] is None and generation["completion_tokens"] == 3
    assert "outside the 64-bit range was dropped" in caplog.text


class SlowRepr:
    __slots__ = ()
    calls = 0

    def __repr__(self) -> str:
        type(self).calls += 1
        # slower than the threshold without sleeping: spin on the clock
        import time

        end = time.perf_counter_ns() + _serialize.SLOW_REPR_NS * 2
        while time.perf_counter_ns() < end:
            pass
        return "SlowRepr()"


@pytest.mark.parametrize("kind", ["agent", "prompt", "tool", "trace"])
def test_a_slow_repr_runs_once_per_call(recording: Path, kind: str) -> None:
    decorator = getattr(fluxloop, kind)

    @decorator
    def echo(value: Any) -> Any:
        return value

    @decorator
    def stream(value: Any) -> Iterator[Any]:
        yield value

    value = SlowRepr()
    SlowRepr.calls = 0
    echo(value)  # input, output and (for an agent) the recording show it
    assert SlowRepr.calls == 1
    list(stream(value))
    assert SlowRepr.calls == 2  # a new call: shown as it is now, once


def test_a_fast_repr_is_never_remembered() -> None:
    class Counter:
        __slots__ = ("n",)

        def __init__(self) -> None:
            self.n = 0

        def __repr__(self) -> str:
            return f"Counter({self.n})"

    counter = Counter()
    assert _serialize.safe_repr(counter) == "Counter(0)"
    counter.n = 1
    assert _serialize.safe_repr(counter) == "Counter(1)"


def test_recorded_lines_are_bounded_like_span_attributes(recording: Path) -> None:
    fluxloop.record_call_args(target="m:f", blobs=["x" * 900_000 for _ in range(10)])
    raw = recording.read_bytes()
    limit = fluxloop.get_config().max_attribute_bytes
    assert len(raw) <= limit + 1_000
    (line,) = [json.loads(x) for x in raw.splitlines()]
    assert "truncated" in json.dumps(line["kwargs"]) or "more" in json.dumps(line["kwargs"])


def test_an_oversized_recorded_line_is_bounded_when_read(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    big = {"_version": "1", "target": "m:f", "kwargs": {"data": {"content": "y" * 8_000_000}}}
    path.write_text(json.dumps(big) + "\n")
    notes: list[str] = []
    (call,) = load_recording(path, notes=notes)
    assert len(json.dumps(call.kwargs)) <= _serialize.DEFAULT_OPTIONS.max_bytes
    assert call.kwargs["data"]["content"].startswith("yyyy")
    assert notes and "bounded" in notes[0]


# -- 16: instrument() arguments of the wrong type warn and are dropped ---------------------------


@pytest.mark.parametrize(
    "kwargs",
    [{"metadata": "str"}, {"metadata": [1, 2]}, {"tags": 5}, {"tags": [1, "a"]}],
    ids=["metadata-str", "metadata-list", "tags-int", "tags-mixed"],
)
def test_instrument_drops_bad_values_with_a_warning(
    exported: Exported, caplog: pytest.LogCaptureFixture, kwargs: dict[str, Any]
) -> None:
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        with fluxloop.instrument("scope", **kwargs) as ctx:
            ctx.add_tag("kept")

        @fluxloop.instrument("decorated", **kwargs)
        def work() -> int:
            return 1

        assert work() == 1
    assert "fluxloop: instrument(" in caplog.text and "ignored" in caplog.text
    assert {s.name for s in exported.spans} >= {"scope", "decorated"}


def test_instrument_takes_a_lone_string_as_one_tag(exported: Exported) -> None:
    with fluxloop.instrument("scope", tags="nightly") as ctx:
        assert ctx.trace.tags == ["nightly"]
