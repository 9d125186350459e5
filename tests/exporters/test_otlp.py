"""create_otlp_exporter against a real OTLP receiver (Rotel): HTTP, gRPC, outage + spool +
re-send, restart survival, API key header, poison segments, and a 100k-span tight loop."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fluxloop_exporters import FluxLoopSpanProcessor, create_otlp_exporter
from fluxloop_exporters._otlp import SpoolingSpanExporter, _http_traces_url, default_spool_dir
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from .conftest import Rotel, SpanFactory, make_spans, wait_until


def genai_spans(factory: SpanFactory, tag: str) -> list[ReadableSpan]:
    tracer = factory.tracer
    with tracer.start_as_current_span(f"invoke_agent {tag}") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", tag)
        with tracer.start_as_current_span("chat gpt-4o") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4o")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.usage.input_tokens", 12)
            chat.set_attribute("gen_ai.usage.output_tokens", 34)
    spans = factory.spans()
    factory.clear()
    return spans


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.spool.jsonl*"))


@pytest.fixture
def exporters() -> Iterator[list[SpoolingSpanExporter]]:
    made: list[SpoolingSpanExporter] = []
    yield made
    for exporter in made:
        exporter.shutdown()


def make(exporters: list[SpoolingSpanExporter], endpoint: str, **kw: Any) -> SpoolingSpanExporter:
    kw.setdefault("retry_min_interval", 0.1)
    kw.setdefault("retry_max_interval", 0.5)
    exporter = create_otlp_exporter(endpoint, **kw)
    exporters.append(exporter)
    return exporter


def test_http_url_and_spool_dir_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _http_traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert _http_traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert _http_traces_url("http://h:4318/v1/traces") == "http://h:4318/v1/traces"
    assert _http_traces_url("h:4318") == "http://h:4318/v1/traces"
    monkeypatch.setenv("FLUXLOOP_BASE_PATH", str(tmp_path / "t"))
    monkeypatch.delenv("FLUXLOOP_SPOOL_DIR", raising=False)
    assert default_spool_dir("http://a").parent == tmp_path / "t" / ".spool"
    assert default_spool_dir("http://a") != default_spool_dir("http://b")
    monkeypatch.setenv("FLUXLOOP_SPOOL_DIR", str(tmp_path / "s"))
    assert default_spool_dir("http://a").parent == tmp_path / "s"
    with pytest.raises(ValueError):
        create_otlp_exporter("http://x", protocol="thrift")


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_genai_spans_arrive(
    protocol: str,
    rotel: Rotel,
    span_factory: SpanFactory,
    tmp_path: Path,
    exporters: list[SpoolingSpanExporter],
) -> None:
    endpoint = rotel.http_endpoint if protocol == "http/protobuf" else rotel.grpc_endpoint
    exporter = make(exporters, endpoint, protocol=protocol, spool_dir=tmp_path / "spool")
    spans = genai_spans(span_factory, f"agent-{protocol}")
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    log = rotel.wait_for(
        f"gen_ai.agent.name: Str(agent-{protocol})",
        "gen_ai.operation.name: Str(invoke_agent)",
        "gen_ai.request.model: Str(gpt-4o)",
        "gen_ai.provider.name: Str(openai)",
        "gen_ai.usage.input_tokens: Int(12)",
        "gen_ai.usage.output_tokens: Int(34)",
        "Name           : chat gpt-4o",
    )
    assert f"{spans[0].context.span_id:016x}" in log  # the same ids
    assert exporter.sent_spans == 2 and exporter.spooled_spans == 0
    assert exporter.force_flush(5000) is True
    assert spool_files(tmp_path / "spool") == []


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_outage_spools_fast_and_resends_after_restart(
    protocol: str,
    rotel: Rotel,
    span_factory: SpanFactory,
    tmp_path: Path,
    exporters: list[SpoolingSpanExporter],
) -> None:
    endpoint = rotel.http_endpoint if protocol == "http/protobuf" else rotel.grpc_endpoint
    spool = tmp_path / "spool"
    # timeout bounds the official exporter's own retries of the batch in flight when the
    # endpoint dies (10 s by default); later batches never wait for it
    exporter = make(exporters, endpoint, protocol=protocol, spool_dir=spool, timeout=2.0)
    assert exporter.export(genai_spans(span_factory, "before")) is SpanExportResult.SUCCESS
    rotel.wait_for("Str(before)")

    rotel.stop()
    durations = []
    for i in range(5):
        start = time.perf_counter()
        assert exporter.export(genai_spans(span_factory, f"down{i}")) is SpanExportResult.SUCCESS
        durations.append(time.perf_counter() - start)
    # the first call waits at most wait_seconds (1 s) for the dead endpoint; the rest go
    # straight to the spool
    assert durations[0] < 1.5, durations
    assert max(durations[1:]) < 0.2, durations
    assert wait_until(lambda: exporter.circuit_open, 15)
    assert wait_until(lambda: exporter.spooled_spans == 10, 15), exporter.spooled_spans
    assert spool_files(spool)
    start = time.perf_counter()
    assert exporter.force_flush(5000) is False  # honest, and prompt while the endpoint is down
    assert time.perf_counter() - start < 0.5

    rotel.start()  # same ports
    rotel.wait_for(*(f"Str(down{i})" for i in range(5)), timeout=20)
    assert wait_until(lambda: not spool_files(spool), 10)
    assert wait_until(lambda: not exporter.circuit_open, 10)
    assert exporter.force_flush(5000) is True
    # and live export works again
    assert exporter.export(genai_spans(span_factory, "after")) is SpanExportResult.SUCCESS
    rotel.wait_for("Str(after)")
    # each span arrived once
    log = rotel.log()
    assert log.count("Str(down0)") == 1


def test_spool_survives_a_restart(
    rotel: Rotel, span_factory: SpanFactory, tmp_path: Path, exporters: list[SpoolingSpanExporter]
) -> None:
    spool = tmp_path / "spool"
    rotel.stop()
    first = create_otlp_exporter(rotel.http_endpoint, spool_dir=spool, wait_seconds=0.2)
    spans = genai_spans(span_factory, "previous-process")
    assert first.export(spans) is SpanExportResult.SUCCESS
    assert first.force_flush(200) is False  # honest: nothing was delivered
    first.shutdown()
    assert spool_files(spool)  # left for the next process

    rotel.start()
    second = make(exporters, rotel.http_endpoint, spool_dir=spool)
    rotel.wait_for("Str(previous-process)", f"{spans[0].context.span_id:016x}", timeout=20)
    assert wait_until(lambda: not spool_files(spool), 10)
    assert second.force_flush(5000) is True


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[tuple[dict[str, str], int]]
    reject_non_empty = False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.requests.append(({k.lower(): v for k, v in self.headers.items()}, length))
        status = 400 if (self.reject_non_empty and length) else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Callable[..., tuple[str, type[_Recorder]]]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(reject_non_empty: bool = False) -> tuple[str, type[_Recorder]]:
        handler = type(
            "Handler", (_Recorder,), {"requests": [], "reject_non_empty": reject_non_empty}
        )
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_api_key_and_headers(
    recorder: Callable[..., tuple[str, type[_Recorder]]],
    tmp_path: Path,
    exporters: list[SpoolingSpanExporter],
) -> None:
    url, handler = recorder()
    exporter = make(
        exporters, url, api_key="sk-test-123", headers={"X-Team": "qa"}, spool_dir=tmp_path
    )
    assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS
    (headers, length), *_ = handler.requests
    assert headers["authorization"] == "Bearer sk-test-123"
    assert headers["x-team"] == "qa"
    assert headers["content-type"] == "application/x-protobuf"
    assert length > 0


def test_poison_segment_is_moved_aside(
    recorder: Callable[..., tuple[str, type[_Recorder]]],
    tmp_path: Path,
    exporters: list[SpoolingSpanExporter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, _ = recorder(reject_non_empty=True)  # answers probes, refuses every batch
    exporter = make(exporters, url, spool_dir=tmp_path / "spool")
    with caplog.at_level("WARNING", logger="fluxloop"):
        assert exporter.export(make_spans(4)) is SpanExportResult.SUCCESS  # spooled
        assert wait_until(lambda: list((tmp_path / "spool" / "rejected").glob("*")), 15)
    assert exporter.dropped_spans == 4
    assert spool_files(tmp_path / "spool") == []
    assert "rejected 4 spooled span(s)" in caplog.text


def test_unwritable_spool_fails_loudly_once(
    tmp_path: Path, exporters: list[SpoolingSpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    from .conftest import free_port

    blocker = tmp_path / "file"
    blocker.write_text("x")
    exporter = make(
        exporters,
        f"http://127.0.0.1:{free_port()}",  # nothing listens there
        spool_dir=blocker / "spool",
        timeout=0.3,
        wait_seconds=5,
    )
    with caplog.at_level("WARNING", logger="fluxloop"):
        results = [exporter.export(make_spans(2)) for _ in range(3)]
    assert SpanExportResult.FAILURE in results
    assert exporter.dropped_spans >= 2
    assert caplog.text.count("cannot spool") == 1


def test_processor_with_otlp_100k_tight_loop_zero_drops(
    rotel_factory: Callable[..., Rotel], tmp_path: Path, exporters: list[SpoolingSpanExporter]
) -> None:
    rotel = rotel_factory("basic")
    exporter = make(exporters, rotel.http_endpoint, spool_dir=tmp_path / "otlp-spool")
    processor = FluxLoopSpanProcessor(exporter, spool_dir=tmp_path / "proc-spool")
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("loop")
    start = time.perf_counter()
    for _ in range(100_000):
        with tracer.start_as_current_span("chat m") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.usage.input_tokens", 3)
    loop = time.perf_counter() - start
    assert processor.force_flush(120_000) is True
    assert exporter.force_flush(60_000) is True
    total = time.perf_counter() - start
    assert wait_until(lambda: rotel.received_spans() >= 100_000, 30)
    print(
        f"100k spans over OTLP/HTTP to Rotel: loop {loop:.2f}s, delivered in {total:.2f}s, "
        f"processor dropped {processor.dropped_spans} spilled {processor.spilled_spans}, "
        f"exporter spooled {exporter.spooled_spans} dropped {exporter.dropped_spans}"
    )
    assert processor.dropped_spans == 0 and exporter.dropped_spans == 0
    assert rotel.received_spans() == 100_000
    processor.shutdown()


def test_probes_of_a_dead_endpoint_do_not_flood_the_log(
    tmp_path: Path, exporters: list[SpoolingSpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    from .conftest import free_port

    exporter = make(
        exporters,
        f"http://127.0.0.1:{free_port()}",  # nothing listens there
        spool_dir=tmp_path,
        timeout=0.2,
        retry_min_interval=0.02,
        retry_max_interval=0.02,
    )
    with caplog.at_level("WARNING"):
        assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS
        assert wait_until(lambda: exporter.circuit_open, 10)
        time.sleep(0.5)  # ~25 probes
    # not even the first failure's retry lines: ours replaces them
    official = [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert official == []
    ours = [r for r in caplog.records if r.name == "fluxloop"]
    assert len(ours) == 1
    message = ours[0].getMessage()
    assert "is not reachable (connection refused)" in message
    assert str(tmp_path) in message and "re-sent when it answers" in message


def test_a_refused_connection_spools_the_first_batch_without_the_official_retries(
    tmp_path: Path, exporters: list[SpoolingSpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    """The official exporter would retry a refused connection for its whole timeout (here 60 s,
    and export() waits up to 120 s for the outcome): the TCP check spools the batch at once."""
    from .conftest import free_port

    exporter = make(
        exporters,
        f"http://127.0.0.1:{free_port()}",
        spool_dir=tmp_path,
        timeout=60.0,
        wait_seconds=120.0,
    )
    with caplog.at_level("DEBUG", logger="opentelemetry"):
        assert exporter.export(make_spans(4)) is SpanExportResult.SUCCESS
    assert exporter.circuit_open and exporter.spooled_spans == 4 and exporter.sent_spans == 0
    assert len(spool_files(tmp_path)) == 1
    assert [r for r in caplog.records if r.name.startswith("opentelemetry")] == []
    # the spool is kept for the next exporter; shutdown does not wait on the dead endpoint
    assert exporter.force_flush(60_000) is False


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_forked_child_exports_with_its_own_sender(
    rotel: Rotel, span_factory: SpanFactory, tmp_path: Path, exporters: list[SpoolingSpanExporter]
) -> None:
    import os

    exporter = make(exporters, rotel.http_endpoint, spool_dir=tmp_path / "spool")
    assert exporter.export(genai_spans(span_factory, "parent")) is SpanExportResult.SUCCESS
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            ok = exporter.export(genai_spans(span_factory, "child"))
            code = 0 if ok is SpanExportResult.SUCCESS and exporter.force_flush(10_000) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    rotel.wait_for("Str(parent)", "Str(child)")


def test_env_headers_are_kept_alongside_the_api_key(
    recorder: Callable[..., tuple[str, type[_Recorder]]],
    tmp_path: Path,
    exporters: list[SpoolingSpanExporter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,x-note=a%20b")
    url, handler = recorder()
    exporter = make(exporters, url, api_key="sk-test-456", spool_dir=tmp_path)
    assert exporter.export(make_spans(2)) is SpanExportResult.SUCCESS
    (headers, _), *_ = handler.requests
    assert headers["x-tenant"] == "acme" and headers["x-note"] == "a b"
    assert headers["authorization"] == "Bearer sk-test-456"
