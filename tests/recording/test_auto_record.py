"""Seed 001: with record_args on, a decorated agent's arguments are captured automatically, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import fluxloop
from fluxloop.sdk._recording import _reset_state


@dataclass
class ComplexRequest:
    user: str
    text: str
    api_key: str


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "recordings" / "args.jsonl"
    fluxloop.reset_config()
    _reset_state()
    fluxloop.configure(storage="none", record_args=True, recording_file=str(path))
    yield path
    fluxloop.reset_config()
    _reset_state()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@fluxloop.agent()
def my_handler(request: ComplexRequest, send=print) -> str:  # type: ignore[no-untyped-def]
    return request.text.upper()


class Handler:
    @fluxloop.agent()
    async def handle(self, connection_id: str, data: dict[str, str]) -> str:
        return data["content"]

    @fluxloop.agent()
    async def explicit(self, connection_id: str, data: dict[str, str]) -> None:
        fluxloop.record_call_args(
            target="app:Handler.explicit", connection_id=connection_id, data=data
        )


def test_arguments_of_a_decorated_agent_are_recorded(recording: Path) -> None:
    assert my_handler(ComplexRequest("ann", "hi", "sk-abcdefghijklmnop1234")) == "HI"
    (line,) = lines(recording)
    assert line["_version"] == "1" and line["iteration"] == 0
    assert line["target"] == f"{__name__}:my_handler"
    kwargs = line["kwargs"]
    assert kwargs["request"]["text"] == "hi" and kwargs["request"]["api_key"] == "***"  # type: ignore[index]
    assert kwargs["send"] == "<callable:print>"  # type: ignore[index]


def test_methods_async_and_no_double_recording(recording: Path) -> None:
    handler = Handler()
    assert asyncio.run(handler.handle("c1", {"content": "x"})) == "x"
    asyncio.run(handler.explicit("c2", {"content": "y"}))
    first, second = lines(recording)
    assert first["target"] == f"{__name__}:Handler.handle"
    assert first["kwargs"] == {"connection_id": "c1", "data": {"content": "x"}}
    assert second["target"] == "app:Handler.explicit"  # the explicit call wins; no auto line


def test_nothing_is_recorded_when_recording_is_off(tmp_path: Path) -> None:
    fluxloop.reset_config()
    fluxloop.configure(storage="none", recording_file=str(tmp_path / "r.jsonl"))
    try:
        my_handler(ComplexRequest("ann", "hi", "k"))
    finally:
        fluxloop.reset_config()
    assert not (tmp_path / "r.jsonl").exists()
