"""The SDK side of recording: ``record_call_args`` and friends."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import stat
import threading
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pydantic
import pytest

import fluxloop
from fluxloop.project.recording import load_recording
from fluxloop.sdk import _recording
from fluxloop.sdk._recording import callable_marker, encode_kwargs

from .conftest import read_lines


async def send_message(payload: Any) -> None:
    return None


def on_error(payload: Any) -> None:
    return None


def record_file(root: Path) -> Path:
    return root / "recordings" / "args.jsonl"


def enable(root: Path, **kw: Any) -> Path:
    path = record_file(root)
    fluxloop.configure(record_args=True, recording_file=str(path), **kw)
    return path


# -- on / off ------------------------------------------------------------------------------------


def test_off_by_default_writes_nothing(clean_sdk: Path) -> None:
    fluxloop.record_call_args(target="m:f", x=1)
    assert not (clean_sdk / "recordings").exists()
    assert not list(clean_sdk.rglob("*.jsonl"))


def test_configure_record_args_writes_the_original_line_format(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    fluxloop.record_call_args(
        target="agents.handler:Handler.handle",
        connection_id="c0",
        data={"content": "original message 0", "conversationId": "conv-1"},
        user_token="abc",
        send_callback=send_message,
        error_callback=on_error,
    )
    raw = path.read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 1
    (line,) = read_lines(path)
    assert list(line) == ["_version", "iteration", "target", "kwargs", "timestamp"]
    assert line["_version"] == "1"
    assert line["iteration"] == 0
    assert line["target"] == "agents.handler:Handler.handle"
    assert line["kwargs"] == {
        "connection_id": "c0",
        "data": {"content": "original message 0", "conversationId": "conv-1"},
        "user_token": "***",
        "send_callback": "<callable:send_message:async>",
        "error_callback": "<callable:on_error>",
    }
    stamp = datetime.fromisoformat(line["timestamp"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0


def test_environment_variables_turn_recording_on(
    clean_sdk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUXLOOP_RECORD_ARGS", "true")
    monkeypatch.setenv("FLUXLOOP_RECORDING_FILE", "env/rec.jsonl")
    fluxloop.reset_config()  # the seeds' pattern; the next use re-reads the environment
    fluxloop.record_call_args(target="m:f", data={"content": "hi"})
    (line,) = read_lines(clean_sdk / "env" / "rec.jsonl")
    assert line["kwargs"] == {"data": {"content": "hi"}}
    config = fluxloop.get_config()
    assert config.record_args is True
    assert str(config.recording_file) == "env/rec.jsonl"


def test_dotenv_in_the_working_directory_turns_recording_on(clean_sdk: Path) -> None:
    (clean_sdk / ".env").write_text(
        "# staging\nFLUXLOOP_RECORD_ARGS=true\nFLUXLOOP_RECORDING_FILE=dot/rec.jsonl\n"
    )
    fluxloop.reset_config()
    fluxloop.record_call_args(target="m:f", x=1)
    assert read_lines(clean_sdk / "dot" / "rec.jsonl")[0]["kwargs"] == {"x": 1}


def test_default_file_and_enable_disable(clean_sdk: Path) -> None:
    fluxloop.enable_recording()
    assert fluxloop.get_config().record_args is True
    fluxloop.record_call_args(target="m:f", x=1)
    default = clean_sdk / "recordings" / "args_recording.jsonl"
    assert len(read_lines(default)) == 1
    fluxloop.disable_recording()
    assert fluxloop.get_config().record_args is False
    fluxloop.record_call_args(target="m:f", x=2)
    assert len(read_lines(default)) == 1
    fluxloop.enable_recording(clean_sdk / "other.jsonl")
    fluxloop.record_call_args(target="m:f", x=3)
    assert read_lines(clean_sdk / "other.jsonl")[0]["kwargs"] == {"x": 3}


def test_kill_switch_disables_recording(clean_sdk: Path) -> None:
    path = enable(clean_sdk, enabled=False)
    fluxloop.record_call_args(target="m:f", x=1)
    assert not path.exists()


# -- iterations ----------------------------------------------------------------------------------


def test_iteration_counts_per_target_and_follows_explicit_values(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    for _ in range(2):
        fluxloop.record_call_args(target="a:f", x=1)
    fluxloop.record_call_args(target="b:g", x=1)
    fluxloop.record_call_args(target="a:f", iteration=5, x=1)
    fluxloop.record_call_args(target="a:f", x=1)
    got = [(line["target"], line["iteration"]) for line in read_lines(path)]
    assert got == [("a:f", 0), ("a:f", 1), ("b:g", 0), ("a:f", 5), ("a:f", 6)]


def test_iteration_auto_increment_off(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    fluxloop.set_recording_options(iteration_auto_increment=False)
    fluxloop.record_call_args(target="a:f", x=1)
    fluxloop.record_call_args(target="a:f", x=1)
    fluxloop.record_call_args(target="a:f", iteration=3, x=1)
    fluxloop.record_call_args(target="a:f", x=1)
    assert [line["iteration"] for line in read_lines(path)] == [0, 0, 3, 0]
    fluxloop.set_recording_options(iteration_auto_increment=True)
    fluxloop.record_call_args(target="a:f", x=1)
    assert read_lines(path)[-1]["iteration"] == 0


# -- callables -----------------------------------------------------------------------------------


class Connection:
    def send(self, payload: Any) -> None:
        pass

    async def asend(self, payload: Any) -> None:
        pass


class AsyncCallable:
    async def __call__(self, payload: Any) -> None:
        pass


def test_callable_markers() -> None:
    def builtin(payload: Any) -> None:
        pass

    builtin.__fluxloop_builtin__ = "collector.send:async"  # type: ignore[attr-defined]

    class OriginalSendCollector:
        def __init__(self) -> None:
            self.messages: list[Any] = []

        def __call__(self, payload: Any) -> None:
            self.messages.append(payload)

    class OriginalErrorCollector:
        def __init__(self) -> None:
            self.errors: list[Any] = []

        def __call__(self, payload: Any) -> None:
            self.errors.append(payload)

    conn = Connection()
    assert callable_marker(builtin) == "<builtin:collector.send:async>"
    assert callable_marker(OriginalSendCollector()) == "<builtin:collector.send>"
    assert callable_marker(OriginalErrorCollector()) == "<builtin:collector.error>"
    assert callable_marker(on_error) == "<callable:on_error>"
    assert callable_marker(send_message) == "<callable:send_message:async>"
    assert callable_marker(conn.send) == "<callable:Connection.send>"
    assert callable_marker(conn.asend) == "<callable:Connection.asend:async>"
    assert callable_marker(AsyncCallable()) == "<callable:AsyncCallable:async>"
    assert callable_marker(functools.partial(send_message)) == "<callable:send_message:async>"
    assert callable_marker(lambda x: x) == "<callable:lambda>"
    assert callable_marker(print) == "<callable:print>"
    # a Mock has every attribute, but no list of messages: a plain callable
    assert callable_marker(mock.MagicMock()).startswith("<callable:")
    assert callable_marker(mock.AsyncMock()).endswith(":async>")


def test_callables_inside_containers_and_dataclasses_become_markers() -> None:
    @dataclasses.dataclass
    class Hooks:
        on_token: Any
        label: str = "x"

    text = encode_kwargs(
        {
            "callbacks": [on_error, {"send": send_message}],
            "hooks": Hooks(on_token=on_error),
            "auth_handler": on_error,  # a secret-looking key keeps its callable marker
        }
    )
    assert json.loads(text) == {
        "callbacks": ["<callable:on_error>", {"send": "<callable:send_message:async>"}],
        "hooks": {"on_token": "<callable:on_error>", "label": "x"},
        "auth_handler": "<callable:on_error>",
    }


# -- objects and bounds --------------------------------------------------------------------------


class Session(pydantic.BaseModel):
    user_id: str
    api_key: str
    tags: list[str] = []


class Plain:
    def __init__(self) -> None:
        self.author = "ann"
        self.password = "hunter2"
        self.count = 3


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = 1
        self.b = "two"


class Hostile:
    def __getattribute__(self, name: str) -> Any:
        if name in ("__class__", "__dict__"):
            return object.__getattribute__(self, name)
        raise RuntimeError("no attributes for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


def test_objects_serialise_with_bounded_fallbacks() -> None:
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    deep: Any = "bottom"
    for _ in range(100):
        deep = {"d": deep}
    data = json.loads(
        encode_kwargs(
            {
                "session": Session(user_id="u1", api_key="k-123", tags=["a"]),
                "plain": Plain(),
                "slotted": Slotted(),
                "hostile": Hostile(),
                "cyclic": cyclic,
                "deep": deep,
                "big": list(range(20_000)),
                "raw": b"bytes",
                "when": datetime(2025, 1, 2, 3, 4, 5),
                "tags": {"b", "a"},
                "pair": (1, 2),
                "gen": (i for i in range(3)),
            }
        )
    )
    assert data["session"] == {"user_id": "u1", "api_key": "***", "tags": ["a"]}
    assert data["plain"] == {"author": "ann", "password": "***", "count": 3}
    assert data["slotted"] == {"a": 1, "b": "two"}
    assert isinstance(data["hostile"], str) and "Hostile" in data["hostile"]
    assert data["cyclic"] == {"name": "loop", "self": "<cycle>"}
    depth, node = 0, data["deep"]
    while isinstance(node, dict):
        node, depth = node["d"], depth + 1
    assert node == "<max depth>" and depth < 100
    assert len(data["big"]) == 10_001 and data["big"][-1] == "…(10000 more)"
    assert data["raw"] == "bytes"
    assert data["when"] == "2025-01-02T03:04:05"
    assert data["tags"] == ["a", "b"]
    assert data["pair"] == [1, 2]
    assert data["gen"].startswith("<generator")


def test_a_huge_call_is_bounded(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    fluxloop.record_call_args(target="m:f", blobs=["x" * 900_000 for _ in range(10)])
    raw = path.read_bytes()
    assert len(raw) <= _recording.MAX_LINE_BYTES + 1_000
    (line,) = read_lines(path)
    assert line["target"] == "m:f" and "blobs" in json.dumps(line["kwargs"])


# -- secrets -------------------------------------------------------------------------------------


def test_secrets_masked_by_key_segment_and_value_pattern() -> None:
    data = json.loads(
        encode_kwargs(
            {
                "user_connection": {
                    "token": "tok-1",
                    "userId": "u1",
                    "author": "bob",
                    "monkey": "george",
                    "keyboard": "qwerty",
                    "token_count": 12,
                    "apiKey": "k",
                    "headers": {"Authorization": "Bearer abc", "X-Trace": "t"},
                    "credentials": {"user": "x", "pass": "y"},
                },
                "note": "my key is sk-abcdefghijklmnopqrstuv123456 ok",
                "header": "Bearer abcdefghijklmnopqrstuvwxyz012345",
            }
        )
    )
    conn = data["user_connection"]
    assert conn["token"] == "***"
    assert conn["apiKey"] == "***"
    assert conn["headers"] == {"Authorization": "***", "X-Trace": "t"}
    assert conn["credentials"] == "***"
    assert conn["author"] == "bob" and conn["monkey"] == "george"
    assert conn["keyboard"] == "qwerty" and conn["token_count"] == 12 and conn["userId"] == "u1"
    assert data["note"] == "my key is sk-*** ok"
    assert data["header"] == "Bearer ***"


def test_redact_hook_runs_first_and_fails_closed(clean_sdk: Path) -> None:
    def hook(value: object) -> object:
        assert isinstance(value, dict)
        return {**value, "email": "<hidden>"}

    path = enable(clean_sdk, redact=hook)
    fluxloop.record_call_args(target="m:f", email="a@b.c", x=1)
    assert read_lines(path)[0]["kwargs"] == {"email": "<hidden>", "x": 1}

    def broken(value: object) -> object:
        raise RuntimeError("boom")

    fluxloop.configure(redact=broken)
    fluxloop.record_call_args(target="m:f", email="a@b.c")  # never raises, writes nothing
    assert len(read_lines(path)) == 1


# -- never raises --------------------------------------------------------------------------------


def test_recording_never_raises_and_warns_once(
    clean_sdk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (clean_sdk / "blocked").write_text("a file, not a directory")
    fluxloop.configure(record_args=True, recording_file=str(clean_sdk / "blocked" / "r.jsonl"))
    with caplog.at_level(logging.DEBUG, logger="fluxloop"):
        for _ in range(3):
            fluxloop.record_call_args(target="m:f", x=1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "could not record the call arguments of m:f" in warnings[0].getMessage()


def test_unserialisable_and_hostile_values_still_record(clean_sdk: Path) -> None:
    path = enable(clean_sdk)

    class BadMapping(dict[str, Any]):
        def items(self) -> Any:
            raise RuntimeError("no items")

    fluxloop.record_call_args(target="m:f", weird=BadMapping(a=1), ok="fine")
    (line,) = read_lines(path)
    assert line["kwargs"]["ok"] == "fine"
    assert isinstance(line["kwargs"]["weird"], str | dict)


# -- files ---------------------------------------------------------------------------------------


def test_file_is_created_private_with_its_directories(clean_sdk: Path) -> None:
    path = clean_sdk / "a" / "b" / "rec.jsonl"
    fluxloop.configure(record_args=True, recording_file=str(path))
    fluxloop.record_call_args(target="m:f", x=1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_relative_file_resolves_against_the_current_directory(
    clean_sdk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fluxloop.configure(record_args=True, recording_file="rel/rec.jsonl")
    sub = clean_sdk / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    fluxloop.record_call_args(target="m:f", x=1)
    assert (sub / "rel" / "rec.jsonl").is_file()


def test_torn_last_line_is_terminated_before_appending(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    fluxloop.record_call_args(target="m:f", x=1)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"_version": "1", "iteration": 1, "tar')  # a crash mid-write
    fluxloop.record_call_args(target="m:f", x=2)
    notes: list[str] = []
    calls = load_recording(path, notes=notes)
    assert [c.kwargs for c in calls] == [{"x": 1}, {"x": 2}]
    assert len(notes) == 1 and ":2: not valid JSON" in notes[0]


def test_unicode_line_separators_stay_on_one_line(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    text = "a\u2028b\u2029c\x85d 한국어"
    fluxloop.record_call_args(target="m:f", data={"content": text})
    raw = path.read_text(encoding="utf-8")
    assert len(raw.splitlines()) == 1
    assert "한국어" in raw  # not \u-escaped
    assert read_lines(path)[0]["kwargs"]["data"]["content"] == text


def test_not_recorded_inside_an_experiment_run(clean_sdk: Path) -> None:
    from fluxloop.sdk import capture_run

    path = enable(clean_sdk)
    with capture_run({"fluxloop.experiment.id": "e1", "fluxloop.run.id": "r1"}):
        fluxloop.record_call_args(target="m:f", x=1)
    assert not path.exists()
    with capture_run({"other": 1}):
        fluxloop.record_call_args(target="m:f", x=2)
    assert read_lines(path)[0]["kwargs"] == {"x": 2}


def test_record_call_args_from_async_code(clean_sdk: Path) -> None:
    path = enable(clean_sdk)

    async def handler(connection_id: str, send_message_callback: Any) -> None:
        fluxloop.record_call_args(
            target="m:H.handle",
            connection_id=connection_id,
            send_message_callback=send_message_callback,
        )
        await send_message_callback({"ok": True})

    asyncio.run(handler("c1", send_message))
    assert read_lines(path)[0]["kwargs"]["send_message_callback"] == (
        "<callable:send_message:async>"
    )


# -- concurrency ---------------------------------------------------------------------------------


def test_appends_are_thread_safe(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    per_thread, threads = 150, 8
    payload = "y" * 5_000

    def work(n: int) -> None:
        for i in range(per_thread):
            fluxloop.record_call_args(target="m:f", data={"thread": n, "i": i, "pad": payload})

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    lines = read_lines(path)
    assert len(lines) == per_thread * threads
    assert sorted(line["iteration"] for line in lines) == list(range(per_thread * threads))
    seen = {(line["kwargs"]["data"]["thread"], line["kwargs"]["data"]["i"]) for line in lines}
    assert len(seen) == per_thread * threads


_CHILD = """
import sys
import fluxloop
fluxloop.configure(
    storage="none", record_args=True, recording_file=sys.argv[1], max_attribute_bytes=100_000
)
pad = sys.argv[2] * 70_000
for i in range(int(sys.argv[3])):
    fluxloop.record_call_args(target="m:f", data={"who": sys.argv[2], "i": i, "pad": pad})
"""


def test_appends_are_process_safe(clean_sdk: Path) -> None:
    import subprocess
    import sys

    path = record_file(clean_sdk)
    script = clean_sdk / "child.py"
    script.write_text(_CHILD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXLOOP_")}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(path), who, "40"], env=env)
        for who in "abcd"
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    raw = path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in raw.splitlines()]  # every line is whole
    assert len(lines) == 160
    for who in "abcd":
        mine = [line for line in lines if line["kwargs"]["data"]["who"] == who]
        assert [line["kwargs"]["data"]["i"] for line in mine] == list(range(40))
        assert all(line["kwargs"]["data"]["pad"] == who * 70_000 for line in mine)


def test_written_lines_match_the_recording_schema(clean_sdk: Path) -> None:
    import jsonschema
    from fluxloop_exporters import load_schema

    schema = load_schema("recording")
    jsonschema.Draft202012Validator.check_schema(schema)
    path = enable(clean_sdk)
    fluxloop.record_call_args(
        target="app:H.handle",
        data={"content": "x", "items": [1, 2.5, None, True]},
        send=send_message,
        token="t",
    )
    (line,) = read_lines(path)
    jsonschema.validate(line, schema)
    marker = {"$ref": "#/$defs/marker", "$defs": schema["$defs"]}
    jsonschema.validate(line["kwargs"]["send"], marker)


class Handler:
    async def handle(self, connection_id: str) -> None:
        fluxloop.record_call_args(connection_id=connection_id)


def test_target_defaults_to_the_calling_function(clean_sdk: Path) -> None:
    path = enable(clean_sdk)
    asyncio.run(Handler().handle("c1"))
    (line,) = read_lines(path)
    assert line["target"] == f"{__name__}:Handler.handle"
    assert line["kwargs"] == {"connection_id": "c1"}


def test_hostile_callables_still_get_a_marker() -> None:
    class Weird:
        def __call__(self) -> None:
            pass

        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(name)

    assert callable_marker(Weird()) == "<callable:Weird>"
    assert json.loads(encode_kwargs({"cb": Weird()})) == {"cb": "<callable:Weird>"}
