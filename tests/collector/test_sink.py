"""The writer: 503 when the output cannot be written, fsync, shutdown; the missing-extra error."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from fluxloop.collector import create_app
from fluxloop.collector._sink import Sink, SinkError

from .helpers import asgi_call as _call
from .helpers import otlp_request
from .spans import make_spans


def _day(spans: list[ReadableSpan]) -> str:
    assert spans[0].end_time is not None
    return datetime.fromtimestamp(spans[0].end_time // 10**9, UTC).strftime("%Y%m%d")


def test_unwritable_output_is_503_and_retryable(tmp_path: Path) -> None:
    spans = make_spans(1)
    (tmp_path / f"observations_{_day(spans)}.jsonl").mkdir()  # cannot be opened for writing
    sink = Sink(tmp_path)
    app = create_app(sink)
    body = otlp_request(spans).SerializeToString()
    status, answer = asyncio.run(
        _call(app, "POST", "/v1/traces", {"Content-Type": "application/x-protobuf"}, body)
    )
    assert status == 503 and b"cannot write" in answer
    record = {"id": str(uuid.uuid4()), "name": "t", "start_time": "2026-01-01T00:00:00"}
    (tmp_path / "traces_20260101.jsonl").mkdir()
    status, answer = asyncio.run(_call(app, "POST", "/api/traces", {}, json.dumps(record).encode()))
    assert status == 503 and "cannot write" in json.loads(answer)["error"]
    assert sink.health()["failed_writes"] == 2


def test_fsync_before_acknowledging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    sink = Sink(tmp_path, fsync=True)
    sink.write_spans(make_spans(1))
    assert len(synced) == 2  # the day's observations and traces files
    sink.write_records("traces", [{"id": "x", "start_time": "2026-01-01T00:00:00+00:00"}])
    assert len(synced) == 3
    assert sink.health()["fsync"] is True and sink.health()["spans_received"] == 3
    sink.close()
    with pytest.raises(SinkError, match="shutting down"):
        sink.write_spans(make_spans(1))


def test_missing_extra_is_a_one_line_error_with_the_pip_command(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['uvicorn'] = None; from fluxloop.cli import main; "
        f"main(['collector', 'serve', '--output', {str(tmp_path)!r}])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: the collector needs the optional 'collector' extra (uvicorn is not installed): "
        "pip install 'fluxloop[collector]'"
    ]
