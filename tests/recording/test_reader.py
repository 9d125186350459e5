"""Reading recordings: load_recording, paths, markers (used by replay and generate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluxloop.errors import ConfigError, InputError
from fluxloop.project.recording import (
    RecordingNotFoundError,
    extract_at_path,
    find_markers,
    load_recording,
    masked_paths,
    set_at_path,
    split_path,
)
from fluxloop.sdk import parse_marker

# A line exactly as the original FluxLoop SDK wrote it (naive local timestamp, substring masking).
ORIGINAL_LINE = (
    '{"_version": "1", "iteration": 0, "target": "agents.handler:Handler.handle", "kwargs": '
    '{"connection_id": "c0", "data": {"content": "original message 0", "conversationId": '
    '"conv-1"}, "user_token": "***", "send_callback": "<callable:send_message>", '
    '"error_callback": "<callable:on_error>"}, "timestamp": "2026-11-22T18:02:25.120307"}'
)


def write(path: Path, *lines: str, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


def test_reads_the_original_sdk_format(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.jsonl", ORIGINAL_LINE, "", ORIGINAL_LINE.replace("c0", "c1"))
    calls = load_recording(path)
    assert [c.kwargs["connection_id"] for c in calls] == ["c0", "c1"]
    first = calls[0]
    assert first.target == "agents.handler:Handler.handle"
    assert first.iteration == 0 and first.version == "1" and first.index == 0 and first.line == 1
    assert first.timestamp == "2026-11-22T18:02:25.120307"
    assert calls[1].index == 1 and calls[1].line == 3
    assert first.where.endswith("rec.jsonl:1")


def test_minimal_lines_and_extra_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.jsonl", json.dumps({"kwargs": {"a": 1}, "note": "x"}), end="")
    (call,) = load_recording(path)
    assert call.kwargs == {"a": 1} and call.target is None and call.iteration is None
    assert call.extra == {"note": "x"}


def test_missing_file_is_a_file_not_found_and_input_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingNotFoundError, match="Recording file not found: ") as info:
        load_recording(tmp_path / "nope.jsonl")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, InputError) and isinstance(info.value, ConfigError)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["[1, 2]"], r"rec\.jsonl:1: expected a recorded call .* found list"),
        (['{"target": "x"}'], r"rec\.jsonl:1: .* found no 'kwargs' key"),
        (['{"kwargs": [1]}'], r"rec\.jsonl:1: .* found kwargs list"),
        (['{"kwargs": {}}', '{"_version": "2", "kwargs": {}}'], r"rec\.jsonl:2: unsupported .*'2'"),
        (["", "  "], r"rec\.jsonl: no recorded calls"),
        (["not json"], r"rec\.jsonl: no recorded calls"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, lines: list[str], message: str) -> None:
    path = write(tmp_path / "rec.jsonl", *lines)
    with pytest.raises(InputError, match=message):
        load_recording(path)


def test_non_json_lines_are_skipped_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path / "rec.jsonl", ORIGINAL_LINE, "garbage{", ORIGINAL_LINE, '{"torn', end="")
    notes: list[str] = []
    assert len(load_recording(path, notes=notes)) == 2
    assert len(notes) == 2
    assert "rec.jsonl:2: not valid JSON" in notes[0]
    assert "rec.jsonl:4: incomplete last line" in notes[1]


def test_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b'{"kwargs": {"a": "\xff"}}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_recording(path)


def test_split_path() -> None:
    assert split_path("data.content") == ["data", "content"]
    assert split_path("item.content.0.text") == ["item", "content", 0, "text"]
    assert split_path("messages[1].text") == ["messages", 1, "text"]
    assert split_path("a.-1") == ["a", -1]


KWARGS = {
    "data": {"content": "hi", "conversationId": "c"},
    "item": {"content": [{"type": "input_text", "text": "hello"}]},
    "numbered": {"0": "zero"},
}


def test_extract_at_path() -> None:
    assert extract_at_path(KWARGS, "data.content") == "hi"
    assert extract_at_path(KWARGS, "item.content.0.text") == "hello"
    assert extract_at_path(KWARGS, "item.content[-1].type") == "input_text"
    assert extract_at_path(KWARGS, "numbered.0") == "zero"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "data.contnt",
            "override_param_path 'data.contnt': no key 'contnt' in 'data' "
            "(keys: content, conversationId)",
        ),
        (
            "dta.content",
            "override_param_path 'dta.content': no key 'dta' in the recorded kwargs "
            "(keys: data, item, numbered)",
        ),
        (
            "item.content.3.text",
            "override_param_path 'item.content.3.text': 'item.content' is a list of 1 item(s); "
            "index 3 is out of range",
        ),
        (
            "item.content.text",
            "override_param_path 'item.content.text': 'item.content' is a list of 1 item(s); "
            "use an index, not 'text'",
        ),
        (
            "data.content.x",
            "override_param_path 'data.content.x': 'data.content' is a string ('hi'), not a "
            "mapping or a list; cannot look up 'x'",
        ),
        ("", "override_param_path: empty path"),
    ],
)
def test_missing_paths_name_the_path_and_the_keys(path: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        extract_at_path(KWARGS, path)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_where_and_label_prefix_the_message() -> None:
    with pytest.raises(InputError, match=r"^rec.jsonl:3: content_path 'x': no key 'x'"):
        extract_at_path(KWARGS, "x", label="content_path", where="rec.jsonl:3")


def test_set_at_path() -> None:
    data = json.loads(json.dumps(KWARGS))
    set_at_path(data, "data.content", "new")
    set_at_path(data, "item.content.0.text", "other")
    set_at_path(data, "numbered.0", "cero")
    assert data["data"]["content"] == "new"
    assert data["item"]["content"][0]["text"] == "other"
    assert data["numbered"] == {"0": "cero"}
    with pytest.raises(InputError, match="no key 'nope'"):
        set_at_path(data, "data.nope", "x")


def test_markers_and_masked_paths() -> None:
    kwargs = {
        "send": "<builtin:collector.send:async>",
        "nested": {"cbs": ["<callable:on_error>", "text <callable:x> text"]},
        "user": {"token": "***", "header": "Bearer ***", "name": "ann"},
        "repr": "<repr:Foo>",
    }
    assert find_markers(kwargs) == {
        "send": "<builtin:collector.send:async>",
        "nested.cbs.0": "<callable:on_error>",
    }
    assert masked_paths(kwargs) == ["user.token", "user.header"]
    assert parse_marker("<builtin:collector.send:async>") == ("builtin", "collector.send", True)
    assert parse_marker("<callable:on_error>") == ("callable", "on_error", False)
    assert parse_marker("<repr:Foo>") is None
    assert parse_marker(3) is None
