"""100,000 spans from 4 concurrent clients (2 OTLP/HTTP, 2 OTLP/gRPC): every span accounted for."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)

from .conftest import Collector
from .load import SPANS_PER_TRACE, send_concurrently, synthetic_spans

CLIENTS = 4
TOTAL = 100_000
BATCH = 1000


def test_100k_spans_from_4_concurrent_clients(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory()
    per_client = TOTAL // CLIENTS
    batches = []
    for number in range(CLIENTS):
        spans = synthetic_spans(number + 1, per_client)
        batches.append([spans[i : i + BATCH] for i in range(0, per_client, BATCH)])

    def exporter(number: int) -> Any:
        if number % 2:
            return GrpcExporter(endpoint=collector.grpc_target, insecure=True, timeout=30)
        return HttpExporter(endpoint=collector.url + "/v1/traces", timeout=30)

    began = time.perf_counter()
    latencies, failures = send_concurrently(batches, exporter)
    elapsed = time.perf_counter() - began
    assert failures == []
    assert len(latencies) == TOTAL // BATCH

    health = collector.health()
    assert health["spans_received"] == TOTAL and health["spans_rejected"] == 0
    # every span exactly once, every line complete, every trace record present
    ids: Counter[str] = Counter()
    for path in collector.output.glob("observations_*.jsonl"):
        with open(path, "rb") as handle:
            for line in handle:
                ids[json.loads(line)["id"]] += 1
    assert len(ids) == TOTAL and max(ids.values()) == 1
    expected = {
        f"{((c + 1) << 48) | (i + 1):016x}" for c in range(CLIENTS) for i in range(per_client)
    }
    assert set(ids) == expected
    assert len(collector.traces()) == TOTAL // SPANS_PER_TRACE
    print(f"\n100k spans in {elapsed:.2f}s = {TOTAL / elapsed:,.0f} spans/s")
