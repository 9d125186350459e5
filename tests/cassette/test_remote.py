"""A run's tape in another process (what ``--executor ray`` does on each worker), with a real
spawned interpreter: the driver's session ships one run's entries, the child plays them
through the OpenAI SDK, and what comes back is folded into the cassette by the driver.

The same flow on a real two-node Ray cluster is in tests/runner/test_runner_ray.py.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import openai

from fluxloop.cassette import (
    CassetteSession,
    CassetteSettings,
    ReturnedTape,
    ShippedTape,
    read_cassette,
)

from .servers import FakeServer

KEY = "sk-live0123456789abcdefghijklmnopq"


def play(shipped: ShippedTape, base_url: str) -> tuple[ReturnedTape | None, str]:
    """In the child: one model call with the shipped tape current."""
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    with shipped.play() as player:
        try:
            reply = client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "Weather in Oslo"}]
            )
            out = str(reply.choices[0].message.content)
        except Exception as exc:  # the agent swallows the miss; the tape remembers it
            out = type(exc).__name__
    return player.returned, out


def in_child(shipped: ShippedTape, base_url: str) -> tuple[ReturnedTape, str]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        returned, out = pool.submit(play, shipped, base_url).result(timeout=120)
    assert returned is not None
    return returned, out


def open_session(directory: Path, mode: str) -> CassetteSession:
    opened = CassetteSession.open(
        CassetteSettings(mode, directory),  # type: ignore[arg-type]
        name="remote",
        target="agent:run",
        scope="run",
    )
    assert opened is not None
    return opened


def test_a_shipped_tape_records_replays_and_misses_in_another_process(tmp_path: Path) -> None:
    server = FakeServer("openai").start()
    try:
        recording = open_session(tmp_path, "record")
        shipped = recording.ship("0|k")
        assert shipped.entries == () and shipped.run_key == "run:0|k"
        returned, recorded_out = in_child(shipped, server.base_url)
        assert len(server.requests) == 1
    finally:
        server.stop()
    # the new entry comes back whole (masked in the child); the driver writes the file
    (only,) = returned.calls
    assert only[0] == 0 and isinstance(only[1], dict) and returned.new == 1
    recording.finish(returned.resolve(shipped))
    recording.close()
    cassette = tmp_path / "remote.jsonl"
    text = cassette.read_text(encoding="utf-8")
    assert KEY not in text and "authorization" not in text.lower()
    _, entries = read_cassette(cassette)
    assert [(e["run"], e["call"]) for e in entries] == [("run:0|k", 0)]
    before = cassette.read_bytes()

    # replay, the server gone: the child answers from the shipped entry and sends back only
    # its position
    replaying = open_session(tmp_path, "replay")
    shipped = replaying.ship("0|k")
    assert len(shipped.entries) == 1
    returned, replayed_out = in_child(shipped, server.base_url)
    assert replayed_out == recorded_out
    assert returned.calls == [(0, 0)] and returned.hits == 1 and returned.new == 0
    replaying.finish(returned.resolve(shipped))
    assert replaying.stats.replayed == 1

    # a run with nothing recorded misses, with the local miss line naming the driver's file
    shipped = replaying.ship("1|k")
    returned, missed_out = in_child(shipped, server.base_url)
    assert missed_out == "CassetteMiss"
    (line,) = returned.misses
    assert line == replaying.miss_line("run:1|k", 0, "gpt-test", "Weather in Oslo")
    assert line.startswith(f"cassette {cassette}: no recording for run run:1|k, call 0")
    replaying.finish(returned.resolve(shipped))
    replaying.close()
    assert replaying.stats.missing == 1
    assert cassette.read_bytes() == before  # replay never rewrites the cassette
