"""Synthetic span batches and concurrent senders (the load test and bench/bench_collector.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

RESOURCE = Resource({"service.name": "load"})
SCOPE = InstrumentationScope("load", "1.0")
SPANS_PER_TRACE = 10


def synthetic_spans(client: int, count: int, start_ns: int | None = None) -> list[ReadableSpan]:
    """``count`` spans of client ``client``: traces of one agent root and nine chat children,
    with gen_ai attributes and ~200 bytes of input/output; ids unique across clients."""
    start = start_ns or time.time_ns()
    spans: list[ReadableSpan] = []
    flags = TraceFlags(TraceFlags.SAMPLED)
    for index in range(count):
        trace_number = index // SPANS_PER_TRACE
        trace_id = (client << 96) | (trace_number + 1)
        span_id = (client << 48) | (index + 1)
        root_id = (client << 48) | (trace_number * SPANS_PER_TRACE + 1)
        is_root = index % SPANS_PER_TRACE == 0
        begin = start + index * 1000
        attributes: dict[str, Any] = {
            "fluxloop.input": '{"question": "%s"}' % ("what is the weather like " * 4),
            "fluxloop.output": '"%s"' % ("it is sunny and warm " * 4),
        }
        if is_root:
            attributes |= {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}
        else:
            attributes |= {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 20,
            }
        spans.append(
            ReadableSpan(
                name="invoke_agent a" if is_root else "chat gpt-4o-mini",
                context=SpanContext(trace_id, span_id, False, flags),
                parent=None if is_root else SpanContext(trace_id, root_id, False, flags),
                resource=RESOURCE,
                attributes=attributes,
                kind=SpanKind.INTERNAL if is_root else SpanKind.CLIENT,
                start_time=begin,
                end_time=begin + 500,
                instrumentation_scope=SCOPE,
            )
        )
    return spans


def send_concurrently(
    batches_per_client: Sequence[Sequence[Sequence[ReadableSpan]]],
    make_exporter: Callable[[int], Any],
) -> tuple[list[float], list[str]]:
    """One thread per client exporting its batches; returns every request's latency (s) and the
    failures."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(batches_per_client))

    def client(number: int, batches: Sequence[Sequence[ReadableSpan]]) -> None:
        exporter = make_exporter(number)
        mine: list[float] = []
        barrier.wait()
        try:
            for batch in batches:
                began = time.perf_counter()
                result = exporter.export(batch)
                mine.append(time.perf_counter() - began)
                if result.name != "SUCCESS":
                    with lock:
                        failures.append(f"client {number}: {result}")
        finally:
            exporter.shutdown()
            with lock:
                latencies.extend(mine)

    threads = [
        threading.Thread(target=client, args=(number, batches))
        for number, batches in enumerate(batches_per_client)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures
