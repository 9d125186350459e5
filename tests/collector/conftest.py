"""Fixtures: a real ``fluxloop collector serve`` subprocess on free 127.0.0.1 ports, and helpers
to read what it wrote."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVE = [sys.executable, "-m", "fluxloop.cli", "collector", "serve"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_jsonl(directory: Path, prefix: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob(f"{prefix}_*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                assert line.endswith("\n"), f"partial line in {path}"
                records.append(json.loads(line))
    return records


@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    port: int
    grpc_port: int
    output: Path
    api_key: str | None
    args: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def observations(self) -> list[dict[str, Any]]:
        return read_jsonl(self.output, "observations")

    def traces(self) -> list[dict[str, Any]]:
        return read_jsonl(self.output, "traces")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_collector(
    output: Path,
    *,
    port: int | None = None,
    grpc_port: int | None = None,
    api_key: str | None = None,
    extra: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> Collector:
    """Start ``fluxloop collector serve`` and wait for /health; free ports are picked here, and
    picked again if another process took one in the meantime."""
    for attempt in range(3):
        try:
            return _start(output, port, grpc_port, api_key, extra, env)
        except _PortTaken:
            if attempt == 2 or (port is not None and grpc_port is not None):
                raise
    raise AssertionError("unreachable")


class _PortTaken(RuntimeError):
    pass


def _start(
    output: Path,
    port: int | None,
    grpc_port: int | None,
    api_key: str | None,
    extra: list[str] | None,
    env: dict[str, str] | None,
) -> Collector:
    port = port or free_port()
    grpc_port = free_port() if grpc_port is None else grpc_port
    args = ["--port", str(port), "--grpc-port", str(grpc_port), "--output", str(output)]
    if api_key:
        args += ["--api-key", api_key]
    args += extra or []
    child_env = {k: v for k, v in os.environ.items() if k != "FLUXLOOP_API_KEY"}
    child_env.update(env or {})
    proc = subprocess.Popen(
        [*SERVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env
    )
    collector = Collector(proc, port, grpc_port, output, api_key, args)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            out, err = proc.communicate()
            message = f"collector exited {proc.returncode}: {err.decode()}{out.decode()}"
            raise (_PortTaken if "cannot listen" in message else RuntimeError)(message)
        try:
            collector.health()
            return collector
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    started: list[Collector] = []

    def factory(**kwargs: Any) -> Collector:
        output = kwargs.pop("output", tmp_path / "out")
        collector = start_collector(output, **kwargs)
        started.append(collector)
        return collector

    yield factory
    for collector in started:
        collector.stop()
        if collector.proc.stdout:
            collector.proc.stdout.close()
        if collector.proc.stderr:
            collector.proc.stderr.close()


@pytest.fixture
def collector(collector_factory: Callable[..., Collector]) -> Collector:
    return collector_factory()
