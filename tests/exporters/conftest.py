"""Fixtures for the fluxloop-exporters tests: span factories and a real OTLP receiver (Rotel)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

VENV_BIN = Path(sys.executable).parent
T0 = 1_767_323_045_123_456_000  # 2026-01-02T03:04:05.123456Z


class SequentialIds(IdGenerator):
    """Deterministic ids: trace ids 0x0af7651916cd43dd8448eb211c80319c + n, span ids 1, 2, 3..."""

    def __init__(self) -> None:
        self._span = 0x00F067AA0BA902B0
        self._trace = 0x0AF7651916CD43DD8448EB211C80319B

    def generate_span_id(self) -> int:
        self._span += 1
        return self._span

    def generate_trace_id(self) -> int:
        self._trace += 1
        return self._trace


class SpanFactory:
    """A real SDK TracerProvider whose finished spans are collected in memory."""

    def __init__(self, *, fixed_ids: bool = True) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(
            resource=Resource({"service.name": "fluxloop-tests"}),
            id_generator=SequentialIds() if fixed_ids else None,  # type: ignore[arg-type]
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer = self.provider.get_tracer("fluxloop.tests", "1.0")

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def clear(self) -> None:
        self.memory.clear()


@pytest.fixture
def span_factory() -> Iterator[SpanFactory]:
    factory = SpanFactory()
    yield factory
    factory.provider.shutdown()


def make_spans(count: int, *, payload: int = 200) -> list[ReadableSpan]:
    """``count`` finished spans (agent roots with one generation child each), random ids."""
    factory = SpanFactory(fixed_ids=False)
    text = '"' + "x" * payload + '"'
    tracer = factory.tracer
    for _ in range(count // 2):
        with tracer.start_as_current_span("invoke_agent bench") as root:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("fluxloop.input", text)
            with tracer.start_as_current_span("chat m") as child:
                child.set_attribute("gen_ai.operation.name", "chat")
                child.set_attribute("gen_ai.request.model", "m")
                child.set_attribute("gen_ai.usage.input_tokens", 3)
                child.set_attribute("fluxloop.output", text)
    return factory.spans()


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Rotel: a real OTLP receiver (PyPI `rotel`) that logs received spans with --debug-log traces


def rotel_binary() -> Path | None:
    try:
        import rotel
    except ImportError:
        return None
    package_dir = Path(rotel.__file__).parent
    for name in ("rotel-agent", "rotel"):
        candidate = package_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("rotel-agent") or shutil.which("rotel")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RECEIVED = re.compile(r"Received traces\..*?\bspans=(\d+)")


class Rotel:
    """A Rotel process on 127.0.0.1 with fixed ports; ``stop()``/``start()`` keep the ports."""

    def __init__(self, binary: Path, workdir: Path, *, verbosity: str = "detailed") -> None:
        self.binary = binary
        self.verbosity = verbosity
        self.workdir = workdir
        self.http_port = free_port()
        self.grpc_port = free_port()
        while self.grpc_port == self.http_port:
            self.grpc_port = free_port()
        self.log_path = workdir / "rotel.log"
        self._log_offset = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self) -> None:
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._proc = subprocess.Popen(
            [
                str(self.binary),
                "start",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log-verbosity",
                self.verbosity,
                "--batch-timeout",
                "10ms",
                "--pid-file",
                str(self.workdir / "rotel.pid"),
                "--log-file",
                str(self.workdir / "rotel-agent.log"),
            ],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        ok = wait_until(
            lambda: (
                self._proc is not None
                and (
                    self._proc.poll() is not None
                    or (port_open(self.http_port) and port_open(self.grpc_port))
                )
            ),
            timeout=15,
        )
        if not ok or self._proc.poll() is not None:
            log = self.log_path.read_text(errors="replace")
            self.stop()
            pytest.fail(f"rotel did not start:\n{log}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        wait_until(lambda: not port_open(self.http_port) and not port_open(self.grpc_port), 5)

    def log(self) -> str:
        return _ANSI.sub("", self.log_path.read_text(errors="replace"))

    def received_spans(self) -> int:
        """Spans received so far, from the ``Received traces ... spans=N`` lines (basic log)."""
        return sum(int(n) for n in _RECEIVED.findall(self.log()))

    def wait_for(self, *needles: str, timeout: float = 10.0) -> str:
        """Wait until every needle appears in the log; returns the log."""

        def found() -> str:
            text = self.log()
            return text if all(n in text for n in needles) else ""

        text = wait_until(found, timeout=timeout)
        if not text:
            missing = [n for n in needles if n not in self.log()]
            pytest.fail(f"not in rotel's log after {timeout}s: {missing}\n{self.log()[-3000:]}")
        return str(text)


@pytest.fixture
def rotel_factory(tmp_path: Path) -> Iterator[Callable[..., Rotel]]:
    """Start Rotel processes (``verbosity="detailed"`` logs every attribute, ``"basic"`` only
    span counts); all are stopped at the end of the test."""
    binary = rotel_binary()
    if binary is None:
        pytest.skip("rotel is not installed (pip install rotel)")
    started: list[Rotel] = []

    def start(verbosity: str = "detailed") -> Rotel:
        workdir = tmp_path / f"rotel{len(started)}"
        workdir.mkdir()
        server = Rotel(binary, workdir, verbosity=verbosity)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def rotel(rotel_factory: Callable[..., Rotel]) -> Rotel:
    """A Rotel receiver on free 127.0.0.1 ports, logging every received span in detail."""
    return rotel_factory()
