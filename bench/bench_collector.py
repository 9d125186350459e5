"""Collector benchmark: spans/s and request latency (p50/p99) of ``fluxloop collector serve``.

Starts the collector as a subprocess on free 127.0.0.1 ports, pre-encodes OTLP requests (so the
clients' encoding cost is not measured), and has ``--clients`` threads send them concurrently
over OTLP/HTTP protobuf (keep-alive), OTLP/gRPC, and OTLP/HTTP JSON. Then checks every span
landed. Also measures, in this process, the collector's ingest cost per span (decode, rebuild,
encode, write) next to the SDK's bare JSONL ``export()`` of the same spans, as a ratio.

The dialect run sends the same traces written in OpenInference's attributes (``input.value``,
``llm.input_messages.N.message.*``, ``llm.token_count.*``, ...), so every span goes through the
dialect table; its in-process cost is reported as a ratio to the GenAI spans' ingest.

    .venv/bin/python bench/bench_collector.py [--spans 100000] [--clients 4] [--batch 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
from fluxloop_exporters import JsonlFileSpanExporter
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from fluxloop.collector._convert import convert_request, parse_protobuf_request
from fluxloop.collector._sink import Sink

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
RESOURCE = Resource({"service.name": "bench"})
SCOPE = InstrumentationScope("bench", "1.0")
FLAGS = TraceFlags(TraceFlags.SAMPLED)
INPUT = json.dumps({"question": "What is the weather going to be like in Paris tomorrow?"})
OUTPUT = json.dumps("Light rain, 14-17°C, wind 12 km/h from the west. Bring an umbrella.")


def make_spans(client: int, count: int) -> list[ReadableSpan]:
    """Traces of one agent span and nine chat spans, ~220 B of input/output each."""
    start = time.time_ns()
    spans = []
    for index in range(count):
        trace_id = (client << 96) | (index // 10 + 1)
        root = index % 10 == 0
        attributes: dict[str, Any] = {"fluxloop.input": INPUT, "fluxloop.output": OUTPUT}
        if root:
            attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}
        else:
            attributes |= {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 20,
            }
        parent_id = (client << 48) | (index // 10 * 10 + 1)
        spans.append(
            ReadableSpan(
                name="invoke_agent a" if root else "chat gpt-4o-mini",
                context=SpanContext(trace_id, (client << 48) | (index + 1), False, FLAGS),
                parent=None if root else SpanContext(trace_id, parent_id, False, FLAGS),
                resource=RESOURCE,
                attributes=attributes,
                kind=SpanKind.INTERNAL if root else SpanKind.CLIENT,
                start_time=start + index * 1000,
                end_time=start + index * 1000 + 500,
                instrumentation_scope=SCOPE,
            )
        )
    return spans


_OI_MESSAGES = {
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "You are a weather assistant.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "What is the weather in Paris tomorrow?",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Light rain, 14-17°C. Bring an umbrella.",
}


def make_dialect_spans(client: int, count: int) -> list[ReadableSpan]:
    """The traces of :func:`make_spans` in OpenInference's attributes (as
    openinference-instrumentation-langchain writes them)."""
    spans = make_spans(client, count)
    out = []
    for span in spans:
        root = span.parent is None
        attributes: dict[str, Any] = {
            "openinference.span.kind": "AGENT" if root else "LLM",
            "input.value": INPUT,
            "input.mime_type": "application/json",
            "output.value": OUTPUT,
            "output.mime_type": "application/json",
            "session.id": f"session-{client}",
            "user.id": "user-1",
            "metadata": '{"channel": "web"}',
        }
        if not root:
            attributes |= _OI_MESSAGES | {
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.token_count.prompt": 10,
                "llm.token_count.completion": 20,
                "llm.token_count.total": 30,
            }
        out.append(
            ReadableSpan(
                name="support_agent" if root else "ChatOpenAI",
                context=span.context,
                parent=span.parent,
                resource=RESOURCE,
                attributes=attributes,
                kind=span.kind,
                start_time=span.start_time,
                end_time=span.end_time,
                instrumentation_scope=SCOPE,
            )
        )
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def count_lines(directory: Path, prefix: str) -> int:
    total = 0
    for path in directory.glob(f"{prefix}_*.jsonl"):
        with open(path, "rb") as handle:
            total += sum(1 for _ in handle)
    return total


class Server:
    def __init__(self, output: Path) -> None:
        self.port, self.grpc_port, self.output = free_port(), free_port(), output
        command = [sys.executable, "-m", "fluxloop.cli", "collector", "serve"]
        command += ["--port", str(self.port), "--grpc-port", str(self.grpc_port)]
        command += ["--output", str(output)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("the collector did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def run_clients(bodies: list[list[bytes]], send: Any) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(bodies) + 1)

    def client(mine: list[bytes]) -> None:
        own: list[float] = []
        session = send()
        barrier.wait()
        for body in mine:
            began = time.perf_counter()
            session(body)
            own.append(time.perf_counter() - began)
        with lock:
            latencies.extend(own)

    threads = [threading.Thread(target=client, args=(mine,)) for mine in bodies]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies


def http_sender(port: int, content_type: str) -> Any:
    def make() -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def send(body: bytes) -> None:
            connection.request("POST", "/v1/traces", body, {"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}")

        return send

    return make


def grpc_sender(port: int) -> Any:
    def make() -> Any:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        call = channel.unary_unary(EXPORT)

        def send(body: bytes) -> None:
            call(body, timeout=60)

        return send

    return make


def bench_protocol(
    name: str, spans_per_client: list[list[ReadableSpan]], batch: int, as_json: bool, grpc_: bool
) -> dict[str, Any]:
    bodies = []
    for spans in spans_per_client:
        mine = []
        for i in range(0, len(spans), batch):
            request = encode_spans(spans[i : i + batch])
            mine.append(
                json_format.MessageToJson(request, indent=None).encode()
                if as_json
                else request.SerializeToString()
            )
        bodies.append(mine)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp))
        try:
            if grpc_:
                sender = grpc_sender(server.grpc_port)
            else:
                media = "application/json" if as_json else "application/x-protobuf"
                sender = http_sender(server.port, media)
            seconds, latencies = run_clients(bodies, sender)
        finally:
            server.stop()
        total = sum(len(s) for s in spans_per_client)
        landed = count_lines(Path(tmp), "observations")
    return {
        "protocol": name,
        "clients": len(spans_per_client),
        "batch": batch,
        "spans": total,
        "landed": landed,
        "seconds": round(seconds, 3),
        "spans_per_s": round(total / seconds),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def ingest_us(spans: list[ReadableSpan], batch: int, directory: Path) -> float:
    """The collector's in-process cost per span: decode, rebuild, encode, write."""
    bodies = [
        encode_spans(spans[i : i + batch]).SerializeToString() for i in range(0, len(spans), batch)
    ]
    sink = Sink(directory)
    began = time.perf_counter()
    for body in bodies:
        converted = convert_request(parse_protobuf_request(body))
        sink.write_spans(converted.spans)
    cost = (time.perf_counter() - began) / len(spans) * 1e6
    sink.close()
    return cost


def bench_in_process(
    spans: list[ReadableSpan], dialect_spans: list[ReadableSpan], batch: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ingest = ingest_us(spans, batch, Path(tmp) / "collector")
        dialect = ingest_us(dialect_spans, batch, Path(tmp) / "dialect")
        bare = JsonlFileSpanExporter(Path(tmp) / "bare")
        began = time.perf_counter()
        for i in range(0, len(spans), batch):
            bare.export(spans[i : i + batch])
        export = (time.perf_counter() - began) / len(spans) * 1e6
        bare.shutdown()
    return {
        "ingest_us_per_span": round(ingest, 2),
        "bare_export_us_per_span": round(export, 2),
        "ratio": round(ingest / export, 2),
        "dialect_ingest_us_per_span": round(dialect, 2),
        "dialect_ratio_to_genai_ingest": round(dialect / ingest, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json-spans", type=int, default=20_000, help="spans for the JSON run")
    parser.add_argument("--json", dest="json_path", help="write the numbers to this file")
    args = parser.parse_args()
    per_client = args.spans // args.clients
    spans = [make_spans(c + 1, per_client) for c in range(args.clients)]
    json_spans = [s[: args.json_spans // args.clients] for s in spans]
    dialect_spans = [make_dialect_spans(c + 1, per_client) for c in range(args.clients)]
    print(f"collector benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    results = [
        bench_protocol("otlp/http protobuf", spans, args.batch, as_json=False, grpc_=False),
        bench_protocol(
            "otlp/http openinference", dialect_spans, args.batch, as_json=False, grpc_=False
        ),
        bench_protocol("otlp/grpc", spans, args.batch, as_json=False, grpc_=True),
        bench_protocol("otlp/http json", json_spans, args.batch, as_json=True, grpc_=False),
    ]
    header = f"{'protocol':<20}{'clients':>8}{'batch':>7}{'spans':>9}{'landed':>9}"
    header += f"{'spans/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    for r in results:
        print(
            f"{r['protocol']:<20}{r['clients']:>8}{r['batch']:>7}{r['spans']:>9}{r['landed']:>9}"
            f"{r['spans_per_s']:>10,}{r['p50_ms']:>9}{r['p99_ms']:>9}"
        )
    local = bench_in_process(spans[0], dialect_spans[0], args.batch)
    print(
        f"in-process ingest (decode+rebuild+encode+write): {local['ingest_us_per_span']} µs/span; "
        f"bare JSONL export(): {local['bare_export_us_per_span']} µs/span; "
        f"ratio {local['ratio']}x"
    )
    print(
        f"in-process ingest of OpenInference spans (dialect table): "
        f"{local['dialect_ingest_us_per_span']} µs/span, "
        f"{local['dialect_ratio_to_genai_ingest']}x the GenAI spans' ingest"
    )
    lost = [r["protocol"] for r in results if r["landed"] != r["spans"]]
    if lost:
        print(f"WARNING: spans missing for {', '.join(lost)}")
    if args.json_path:
        Path(args.json_path).write_text(
            json.dumps({"runs": results, "in_process": local}, indent=2)
        )


if __name__ == "__main__":
    main()
