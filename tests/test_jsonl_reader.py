"""The one JSON Lines reader (fluxloop._files.read_jsonl) and the one JSON codec with the orjson
fallback (fluxloop_exporters.jsoncodec), which every reader and writer goes through."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluxloop_exporters import _json, jsoncodec

from fluxloop._files import JsonLine, read_jsonl


@pytest.fixture(params=["orjson", "stdlib"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = _json.backend()
    _json.set_backend(request.param)
    try:
        yield jsoncodec.backend()
    finally:
        _json.set_backend(previous)


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    return path


def test_lines_come_with_number_offset_and_value(tmp_path: Path, backend: str) -> None:
    path = _write(tmp_path, b'{"a": 1}\n\n[2]\nnot json\n{"b": 2}')
    lines = list(read_jsonl(path))
    assert [(x.number, x.offset, x.value) for x in lines] == [
        (1, 0, {"a": 1}),
        (3, 10, [2]),
        (4, 14, None),
        (5, 23, {"b": 2}),
    ]
    bad = lines[2]
    assert bad.error and bad.complete and not bad.blank
    # the last line has no newline: a write cut short (or one in progress), still parsed
    assert lines[3].error is None and not lines[3].complete


def test_a_torn_last_line_and_blank_lines(tmp_path: Path, backend: str) -> None:
    path = _write(tmp_path, b'{"a": 1}\n   \n{"b": ')
    lines = list(read_jsonl(path, blank=True))
    assert [x.number for x in lines] == [1, 2, 3]
    assert lines[1].blank and lines[1].error == "blank line"
    torn = lines[2]
    assert torn.error and not torn.complete and torn.value is None


def test_a_byte_range_and_deep_nesting(tmp_path: Path, backend: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    path = _write(tmp_path, b'{"a": 1}\n{"b": 2}\n' + deep + b"\n{}\n")
    (second,) = read_jsonl(path, start=9, end=18)
    assert second == JsonLine(1, 9, b'{"b": 2}\n', {"b": 2}, None)
    nested = list(read_jsonl(path))[2]
    assert nested.value is None and nested.error  # reported, never a RecursionError


def test_a_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        next(read_jsonl(tmp_path / "nope.jsonl"))


def test_the_codec_never_raises_and_both_backends_agree(backend: str) -> None:
    class Model:
        def model_dump(self) -> dict[str, int]:
            return {"x": 1}

    value = {"set": {1}, "tuple": (1, 2), "bytes": b"hi", "model": Model(), 3: "int key"}
    line = jsoncodec.dumps_line(value)
    assert line.endswith(b"\n") and jsoncodec.dumps(value) == line[:-1]
    assert json.loads(line) == {
        "set": [1],
        "tuple": [1, 2],
        "bytes": "hi",
        "model": {"x": 1},
        "3": "int key",
    }
    # values JSON cannot hold are written, not raised: the line stays valid JSON
    odd = jsoncodec.dumps({"big": 2**70, "nan": math.nan, "obj": object()})
    assert set(json.loads(odd)) == {"big", "nan", "obj"}
    assert json.loads(jsoncodec.dumps_pretty({"a": [1, {"b": math.inf}]}))["a"][0] == 1
    assert jsoncodec.dumps_pretty({"a": 1}) == '{\n  "a": 1\n}'
    assert jsoncodec.loads(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(ValueError):
        jsoncodec.loads(b'{"a": ')
