"""Log rotation: the collector's output files moved or deleted while it runs, and SIGHUP.

A client streams spans over OTLP/HTTP to a real `fluxloop collector serve`; the test moves the
files away mid-stream (as logrotate does) and counts every span id across the old and new files.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .conftest import start_collector
from .helpers import post

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def batch(first: int, size: int, when_ns: int) -> bytes:
    """``size`` root spans with span ids ``first..first+size-1`` (one trace each)."""
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for number in range(first, first + size):
        span = scope_spans.spans.add()
        span.trace_id = number.to_bytes(16, "big")
        span.span_id = number.to_bytes(8, "big")
        span.name = f"span {number}"
        span.start_time_unix_nano = when_ns
        span.end_time_unix_nano = when_ns + 1000
    return request.SerializeToString()


def span_ids(directory: Path) -> list[int]:
    """Every observation id in every observations file, rotated ones included."""
    ids: list[int] = []
    for path in directory.iterdir():
        if path.name.startswith("observations_"):
            with open(path, encoding="utf-8") as handle:
                ids.extend(int(json.loads(line)["id"], 16) for line in handle)
    return ids


def test_files_moved_mid_stream_lose_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    collector = start_collector(out)
    when = time.time_ns()
    size = 40
    sent = threading.Event()
    rotated = threading.Event()
    errors: list[str] = []
    batches = 0

    def send() -> None:
        # keeps sending until every rotation is done, then 20 batches more, so spans arrive
        # before, between and after the moves however fast or slow the machine is
        nonlocal batches
        after_rotations = 0
        while after_rotations < 20:
            status, _, body = post(
                f"{collector.url}/v1/traces", batch(1 + batches * size, size, when), PROTOBUF
            )
            if status != 200:
                errors.append(f"{status} {body[:200]!r}")
            batches += 1
            if rotated.is_set():
                after_rotations += 1
            time.sleep(0.002)
        sent.set()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        rotations = 0
        for suffix, hangup in (("1", False), ("2", True), ("3", False)):
            time.sleep(0.3)
            for path in list(out.glob("*.jsonl")):
                os.replace(path, path.with_name(f"{path.name}.{suffix}"))
            if hangup:
                collector.proc.send_signal(signal.SIGHUP)
            rotations += 1
        rotated.set()
        sender.join(timeout=120)
        assert sent.is_set() and not errors, errors
        ids = span_ids(out)
    finally:
        assert collector.stop() == 0
    assert rotations == 3 and len(list(out.glob("observations_*.jsonl.*"))) == 3
    assert sorted(ids) == list(range(1, batches * size + 1))  # every span exactly once
    assert (out / f"observations_{time.strftime('%Y%m%d', time.gmtime(when / 1e9))}.jsonl").exists()


def test_a_deleted_file_is_recreated(tmp_path: Path) -> None:
    out = tmp_path / "out"
    collector = start_collector(out)
    when = time.time_ns()
    try:
        assert post(f"{collector.url}/v1/traces", batch(1, 10, when), PROTOBUF)[0] == 200
        for path in out.glob("*.jsonl"):
            path.unlink()
        assert post(f"{collector.url}/v1/traces", batch(11, 10, when), PROTOBUF)[0] == 200
        ids = span_ids(out)
        health = collector.health()
    finally:
        assert collector.stop() == 0
    assert sorted(ids) == list(range(11, 21))
    assert health["spans_received"] == 20
    traces = [json.loads(x) for p in out.glob("traces_*.jsonl") for x in p.open()]
    assert len(traces) == 10
