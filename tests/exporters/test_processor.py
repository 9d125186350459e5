"""FluxLoopSpanProcessor: zero drops under a tight loop, honest force_flush, shutdown, fork."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from fluxloop_exporters import FluxLoopSpanProcessor, JsonlFileSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .conftest import make_spans, wait_until


class RecordingExporter(SpanExporter):
    """Counts exported spans; optionally slow, failing or raising; records the export threads."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        fail: bool = False,
        raises: bool = False,
        gate: threading.Event | None = None,
    ) -> None:
        self.delay = delay
        self.gate = gate
        self.fail = fail
        self.raises = raises
        self.span_ids: list[int] = []
        self.threads: set[str] = set()
        self.shut_down = False
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.current_thread().name)
        if self.gate is not None:
            self.gate.wait()
        if self.delay:
            time.sleep(self.delay)
        if self.raises:
            raise RuntimeError("exporter exploded")
        if self.fail:
            return SpanExportResult.FAILURE
        with self.lock:
            self.span_ids.extend(s.context.span_id for s in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut_down = True


def tight_loop(processor: FluxLoopSpanProcessor, count: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("loop")
    start = time.perf_counter()
    for i in range(count):
        with tracer.start_as_current_span("invoke_agent loop") as span:
            span.set_attribute("fluxloop.input", '{"i": 1}')
    return time.perf_counter() - start


def count_lines(directory: Path, pattern: str) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in directory.glob(pattern))


def test_zero_drops_100k_tight_loop_jsonl(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter(tmp_path / "traces")
    processor = FluxLoopSpanProcessor(exporter)
    elapsed = tight_loop(processor, 100_000)
    assert processor.force_flush(60_000) is True
    processor.shutdown()
    print(
        f"100k spans, JSONL: loop {elapsed:.2f}s, dropped {processor.dropped_spans}, "
        f"spilled {processor.spilled_spans}"
    )
    assert processor.dropped_spans == 0
    assert processor.spilled_spans == 0  # spilling would only move the same work to disk
    assert exporter.dropped_spans == 0
    assert count_lines(tmp_path / "traces", "observations_*.jsonl") == 100_000
    assert count_lines(tmp_path / "traces", "traces_*.jsonl") == 100_000


def test_zero_drops_100k_tight_loop_slow_exporter() -> None:
    # a collector that takes no span until the loop is over: the queue must overflow whatever
    # the machine's speed, so the overflow going to the spool is asserted, not timed
    gate = threading.Event()
    exporter = RecordingExporter(delay=0.02, gate=gate)
    processor = FluxLoopSpanProcessor(exporter)
    elapsed = tight_loop(processor, 100_000)
    gate.set()
    assert processor.force_flush(120_000) is True
    processor.shutdown()
    print(
        f"100k spans, slow exporter: loop {elapsed:.2f}s, dropped {processor.dropped_spans}, "
        f"spilled {processor.spilled_spans}"
    )
    assert processor.dropped_spans == 0
    assert len(exporter.span_ids) == 100_000
    assert len(set(exporter.span_ids)) == 100_000  # no duplicates either
    assert processor.spilled_spans > 0  # the overflow went through the disk spool


def test_export_never_on_the_callers_thread() -> None:
    exporter = RecordingExporter()
    processor = FluxLoopSpanProcessor(exporter, schedule_delay_millis=10)
    tight_loop(processor, 2000)
    assert processor.force_flush() is True
    processor.shutdown()
    assert exporter.threads == {"fluxloop-span-exporter"}


def test_schedule_delay_exports_a_partial_batch() -> None:
    exporter = RecordingExporter()
    processor = FluxLoopSpanProcessor(exporter, schedule_delay_millis=20)
    tight_loop(processor, 3)
    assert wait_until(lambda: len(exporter.span_ids) == 3, timeout=5)
    processor.shutdown()


def test_force_flush_is_honest_about_failures(caplog: pytest.LogCaptureFixture) -> None:
    exporter = RecordingExporter(fail=True)
    processor = FluxLoopSpanProcessor(exporter, schedule_delay_millis=10_000)
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        tight_loop(processor, 10)
        assert processor.force_flush() is False
    assert processor.dropped_spans == 10
    assert "dropped 10 span(s)" in caplog.text
    exporter.fail = False
    tight_loop(processor, 10)
    assert processor.force_flush() is True  # only failures since the call count
    processor.shutdown()


def test_force_flush_asks_the_exporter_too() -> None:
    class NotDelivered(RecordingExporter):
        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return False  # e.g. spans safe in a spool, not yet at the collector

    processor = FluxLoopSpanProcessor(NotDelivered())
    tight_loop(processor, 3)
    assert processor.force_flush() is False
    assert processor.dropped_spans == 0
    processor.shutdown()


def test_force_flush_with_a_raising_exporter() -> None:
    exporter = RecordingExporter(raises=True)
    processor = FluxLoopSpanProcessor(exporter)
    tight_loop(processor, 5)
    assert processor.force_flush() is False
    assert processor.dropped_spans == 5
    processor.shutdown()


def test_force_flush_times_out_honestly() -> None:
    exporter = RecordingExporter(delay=0.5)
    processor = FluxLoopSpanProcessor(exporter)
    tight_loop(processor, 5)
    assert processor.force_flush(timeout_millis=50) is False
    assert processor.force_flush(timeout_millis=5000) is True
    processor.shutdown()


def test_force_flush_covers_spilled_spans(tmp_path: Path) -> None:
    exporter = RecordingExporter(delay=0.02)
    processor = FluxLoopSpanProcessor(
        exporter, max_queue_size=1024, max_export_batch_size=128, spool_dir=tmp_path / "spool"
    )
    elapsed = tight_loop(processor, 5000)
    assert processor.force_flush(60_000) is True
    assert len(exporter.span_ids) == 5000, elapsed
    assert processor.spilled_spans > 0
    assert list((tmp_path / "spool").glob("*.spool.jsonl")) == []  # drained
    processor.shutdown()


def test_shutdown_drains_and_shuts_the_exporter_down(tmp_path: Path) -> None:
    exporter = RecordingExporter(delay=0.01)
    processor = FluxLoopSpanProcessor(exporter, schedule_delay_millis=60_000)
    tight_loop(processor, 1500)
    processor.shutdown()
    assert len(exporter.span_ids) == 1500
    assert exporter.shut_down
    tight_loop(processor, 3)  # after shutdown: dropped and counted
    assert processor.dropped_spans == 3
    processor.shutdown()  # idempotent


def test_spans_exported_keep_their_data(tmp_path: Path) -> None:
    """Spans that went through the spill come back with the same ids and attributes."""
    seen: dict[int, ReadableSpan] = {}

    class Keep(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            time.sleep(0.01)
            for s in spans:
                seen[s.context.span_id] = s
            return SpanExportResult.SUCCESS

    originals = make_spans(3000)
    processor = FluxLoopSpanProcessor(Keep(), max_queue_size=512, max_export_batch_size=64)
    for span in originals:
        processor.on_end(span)
    assert processor.force_flush(60_000) is True
    processor.shutdown()
    assert processor.spilled_spans > 0
    assert set(seen) == {s.context.span_id for s in originals}
    for original in originals:
        copy = seen[original.context.span_id]
        assert copy.name == original.name
        assert dict(copy.attributes or {}) == dict(original.attributes or {})
        assert copy.parent == original.parent
        assert (copy.start_time, copy.end_time) == (original.start_time, original.end_time)


def test_unsampled_spans_are_ignored() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = RecordingExporter()
    processor = FluxLoopSpanProcessor(exporter)
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("x"):
        pass
    assert processor.force_flush() is True
    assert exporter.span_ids == []
    processor.shutdown()


def test_drops_when_no_room_and_no_spool(caplog: pytest.LogCaptureFixture) -> None:
    """The truly-lost case: no spill, a stuck exporter, a short block: counted and warned once."""
    gate = threading.Event()

    class Stuck(RecordingExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            gate.wait(10)
            return super().export(spans)

    exporter = Stuck()
    processor = FluxLoopSpanProcessor(
        exporter, max_queue_size=64, max_export_batch_size=8, spill=False, max_block_millis=1
    )
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        for span in make_spans(400):
            processor.on_end(span)
    gate.set()
    assert processor.force_flush() is True  # everything still queued was exported
    processor.shutdown()
    assert processor.dropped_spans > 0
    assert len(exporter.span_ids) + processor.dropped_spans == 400
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert 1 <= len(drops) <= 2  # one line while dropping (+ the shutdown summary)


def test_backpressure_without_spool_loses_nothing() -> None:
    exporter = RecordingExporter(delay=0.002)
    # the default bound on a producer's wait (then one span is dropped) can pass on a loaded
    # machine; what this test is about is that waiting, not the bound
    processor = FluxLoopSpanProcessor(
        exporter, max_queue_size=256, max_export_batch_size=64, spill=False, max_block_millis=60_000
    )
    tight_loop(processor, 5000)
    assert processor.force_flush() is True
    processor.shutdown()
    assert processor.dropped_spans == 0 and len(exporter.span_ids) == 5000


def test_leftover_spool_from_a_previous_process_is_exported(tmp_path: Path) -> None:
    from fluxloop_exporters._spool import SpanSpool

    spans = make_spans(100)
    SpanSpool(tmp_path).write(spans)
    exporter = RecordingExporter()
    processor = FluxLoopSpanProcessor(exporter, spool_dir=tmp_path)
    assert processor.force_flush() is True
    processor.shutdown()
    assert sorted(exporter.span_ids) == sorted(s.context.span_id for s in spans)
    assert list(tmp_path.glob("*.spool.jsonl")) == []


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        FluxLoopSpanProcessor(RecordingExporter(), max_export_batch_size=0)
    with pytest.raises(ValueError):
        FluxLoopSpanProcessor(RecordingExporter(), max_queue_size=10, max_export_batch_size=20)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_gets_a_fresh_worker(tmp_path: Path) -> None:
    exporter = JsonlFileSpanExporter(tmp_path)
    processor = FluxLoopSpanProcessor(exporter, schedule_delay_millis=10)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("fork")
    with tracer.start_as_current_span("parent-before-fork"):
        pass
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            with tracer.start_as_current_span("child-span"):
                pass
            code = 0 if processor.force_flush(10_000) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert processor.force_flush() is True
    processor.shutdown()
    names = [line for p in tmp_path.glob("observations_*") for line in p.read_text().splitlines()]
    assert sum('"child-span"' in n for n in names) == 1
    assert sum('"parent-before-fork"' in n for n in names) == 1  # not exported twice


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX only")


def test_prepare_hook_runs_off_the_callers_thread_before_export_and_spill(tmp_path: Path) -> None:
    prepared: list[tuple[str, int]] = []
    seen_inputs: set[str] = set()

    def prepare(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        prepared.append((threading.current_thread().name, len(spans)))
        return [
            ReadableSpan(
                name=span.name,
                context=span.context,
                attributes={**(span.attributes or {}), "fluxloop.input": '"prepared"'},
                start_time=span.start_time,
                end_time=span.end_time,
            )
            for span in spans
        ]

    class InputExporter(RecordingExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            seen_inputs.update(str((s.attributes or {}).get("fluxloop.input")) for s in spans)
            return super().export(spans)

    exporter = InputExporter(delay=0.02)
    processor = FluxLoopSpanProcessor(
        exporter,
        max_queue_size=1024,
        max_export_batch_size=128,
        spool_dir=tmp_path / "spool",
        prepare=prepare,
    )
    tight_loop(processor, 5000)
    assert processor.force_flush(60_000) is True
    assert processor.spilled_spans > 0  # some went through the spool: prepared before it
    assert len(exporter.span_ids) == 5000
    assert seen_inputs == {'"prepared"'}
    assert threading.current_thread().name not in {name for name, _ in prepared}
    processor.shutdown()


def test_a_raising_prepare_hook_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def prepare(spans: Sequence[ReadableSpan]) -> Sequence[ReadableSpan]:
        raise RuntimeError("hook exploded")

    exporter = RecordingExporter()
    processor = FluxLoopSpanProcessor(exporter, prepare=prepare)
    with caplog.at_level(logging.WARNING, logger="fluxloop"):
        tight_loop(processor, 10)
        assert processor.force_flush(10_000) is True
    assert len(exporter.span_ids) == 10
    assert "prepare hook failed: hook exploded" in caplog.text
    processor.shutdown()
