"""``FluxLoopSpanProcessor``: a batching span processor that does not drop spans under load.

Why not the SDK's ``BatchSpanProcessor``: its queue (2048) drops about half the spans of a tight
loop exporting over OTLP/HTTP. Simply making the queue unbounded would trade loss for unbounded
memory; blocking the caller whenever the queue is full would make the user's code as slow as a
slow collector. The policy here:

* ``on_end`` is O(1): a ``deque.append`` plus, once per batch, an ``Event.set`` to wake the worker.
* One daemon **worker** thread does all export work (``exporter.export`` is never called on the
  caller's thread), in batches of ``max_export_batch_size``, every ``schedule_delay_millis`` or as
  soon as a batch is full.
* **Overflow spills to disk when that helps.** When the in-memory queue passes half of
  ``max_queue_size`` (8192 by default: ~23 MB of spans carrying ~400 B of input/output, a burst of
  ~100 ms of a tight loop) and the exporter is slow -- its measured cost per span is well above the
  cost of spilling one, or the export in progress has been running for over 250 ms (a network
  exporter, a slow or dead collector) -- a second daemon thread, the **spiller**, moves the oldest
  spans to an on-disk spool (:mod:`._spool`: JSONL segments written atomically) until the queue is
  back to a quarter. The worker keeps exporting from memory while producers overflow and drains the
  spool when the queue is low (or a flush/shutdown waits for it), so reading spans back does not
  compete with the producers. Memory stays bounded by ``max_queue_size`` spans; disk by
  ``max_spool_bytes``.
* **Bounded backpressure otherwise.** Spilling moves work, it does not remove it: serializing a
  span and reading it back cost CPU and the GIL the producers share. With an exporter as fast as
  the spill (the JSONL file exporter, which says so with ``spill_pays_off = False``), or when the
  spool is unwritable or full, a producer that finds the queue full waits -- at most
  ``max_block_millis`` -- for the worker to make room. That
  costs a tight loop the same as the SDK's ``BatchSpanProcessor`` but loses nothing. A span is
  dropped only after that wait, counted in :attr:`dropped_spans` with a one-line warning on the
  ``fluxloop`` logger (rate-limited). Spans ended on the processor's own threads never wait.

An optional ``prepare`` hook maps each batch to the spans actually exported or spilled, on the
worker or spiller thread (FluxLoop's SDK uses it to finish the checks of deferred content off
the caller's path).

``force_flush`` returns ``True`` only when every span queued before the call (in memory or spooled)
was handed to the exporter and every export since the call succeeded. ``shutdown`` drains memory
and spool, then shuts the exporter down. After ``os.fork`` the child gets a fresh queue and worker
(the parent keeps exporting what it queued).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._spool import SpanSpool

__all__ = ["FluxLoopSpanProcessor"]

_logger = logging.getLogger("fluxloop")

DEFAULT_MAX_QUEUE_SIZE = 8192
DEFAULT_MAX_EXPORT_BATCH_SIZE = 512
DEFAULT_SCHEDULE_DELAY_MILLIS = 1000
DEFAULT_MAX_BLOCK_MILLIS = 2000
DEFAULT_MAX_SPOOL_BYTES = 1 << 30
_WARN_INTERVAL_S = 10.0
_STUCK_EXPORT_S = 0.25  # an export running this long is waiting on I/O: spill
_SPILL_ADVANTAGE = 1.5  # spill only if exporting a span costs this many times more
_DEFAULT_SPILL_COST_S = 10e-6  # until measured
_SPOOL_RETRY_S = 5.0


class _Flush:
    """A flush request travelling through the queue (everything before it is 'queued before')."""

    __slots__ = ("barrier", "done", "failures", "ok")

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.barrier = -1
        self.ok = False
        self.done = threading.Event()


_Item = ReadableSpan | _Flush


class FluxLoopSpanProcessor(SpanProcessor):
    """Batching span processor with disk spill; see the module docstring for the policy."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_export_batch_size: int = DEFAULT_MAX_EXPORT_BATCH_SIZE,
        schedule_delay_millis: float = DEFAULT_SCHEDULE_DELAY_MILLIS,
        spool_dir: str | os.PathLike[str] | None = None,
        max_block_millis: float = DEFAULT_MAX_BLOCK_MILLIS,
        max_spool_bytes: int | None = DEFAULT_MAX_SPOOL_BYTES,
        spill: bool = True,
        prepare: Callable[[Sequence[ReadableSpan]], Sequence[ReadableSpan]] | None = None,
    ) -> None:
        if max_export_batch_size <= 0:
            raise ValueError("max_export_batch_size must be positive")
        if max_queue_size < max_export_batch_size:
            raise ValueError("max_queue_size must be at least max_export_batch_size")
        self.exporter = exporter
        self._prepare = prepare
        self.max_queue_size = int(max_queue_size)
        self.max_export_batch_size = int(max_export_batch_size)
        self.schedule_delay_s = max(0.0, schedule_delay_millis / 1000.0)
        self.max_block_s = max(0.0, max_block_millis / 1000.0)
        self._high_water = max(self.max_export_batch_size, self.max_queue_size // 2)
        self._low_water = self.max_queue_size // 4
        self._spill_enabled = spill
        self._spool_dir_arg = Path(spool_dir) if spool_dir is not None else None
        self._max_spool_bytes = max_spool_bytes
        #: spans lost for good (queue overflow after backpressure, failed or raising exports)
        self.dropped_spans = 0
        #: spans handed to the exporter that it accepted
        self.exported_spans = 0
        #: spans that went through the disk spool
        self.spilled_spans = 0
        self._init_state()
        if self._spool_dir_arg is not None:
            self._adopt_leftovers()
        self._start_worker()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) is not None and m())

    # -- state ---------------------------------------------------------------------------------

    def _init_state(self) -> None:
        self._queue: deque[_Item] = deque()
        self._wake = threading.Event()
        self._spill_wake = threading.Event()
        self._room = threading.Event()
        self._spill_lock = threading.Lock()
        self._lock = threading.Lock()
        self._segments: deque[Path] = deque()
        self._segments_written = 0
        self._segments_done = 0
        self._pending_flushes: deque[_Flush] = deque()
        self._failures = 0
        self._shutdown = False
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._spiller: threading.Thread | None = None
        self._spool: SpanSpool | None = None
        self._owns_spool_dir = False
        self._spool_broken_until = 0.0
        self._export_started = 0.0  # time.monotonic() of the export in progress, 0 if none
        self._export_cost = 0.0  # seconds per span, moving average
        self._spill_cost = 0.0
        self._last_warning = 0.0
        self._dropped_at_warning = 0
        self._pid = os.getpid()

    def _start_worker(self) -> None:
        self._worker = threading.Thread(
            target=self._work, name="fluxloop-span-exporter", daemon=True
        )
        self._worker.start()

    def _after_fork_in_child(self) -> None:
        # the parent exports what it queued; the child starts empty with its own threads
        self._init_state()
        self._start_worker()

    # -- SpanProcessor (``on_start`` is the base class's no-op) -----------------------------------

    def on_end(self, span: ReadableSpan) -> None:
        if not span.context.trace_flags.sampled:
            return
        queue = self._queue
        if self._shutdown:
            self._drop(1, "the processor is shut down")
            return
        size = len(queue)
        if size >= self._high_water and not self._make_room(size):
            self._drop(1, f"the span queue is full ({self.max_queue_size} spans)")
            return
        queue.append(span)
        if size + 1 >= self.max_export_batch_size and not self._wake.is_set():
            self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued before the call; ``True`` only if all of it was exported
        and the exporter's own ``force_flush`` (given the time left) succeeds too."""
        if self._worker is None or not self._worker.is_alive():
            return not self._queue and not self._segments
        deadline = time.monotonic() + max(0.0, timeout_millis / 1000.0)
        marker = _Flush(self._failures)
        self._queue.append(marker)
        self._wake.set()
        if not marker.done.wait(max(0.0, deadline - time.monotonic())) or not marker.ok:
            return False
        remaining_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
        try:
            # the base SpanExporter.force_flush returns None: only an explicit False fails
            return self.exporter.force_flush(remaining_ms) is not False
        except Exception as exc:
            _logger.warning("fluxloop: exporter force_flush failed: %s", exc)
            return False

    def shutdown(self) -> None:
        if self._shutdown:
            return
        marker = _Flush(self._failures)
        self._queue.append(marker)
        self._shutdown = True
        self._wake.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            marker.done.wait(30.0)
        self._stopping = True
        self._wake.set()
        self._spill_wake.set()
        if worker is not None and worker is not threading.current_thread():
            worker.join(5.0)
        spiller = self._spiller
        if spiller is not None and spiller is not threading.current_thread():
            spiller.join(5.0)
        try:
            self.exporter.shutdown()
        except Exception as exc:
            _logger.warning("fluxloop: exporter shutdown failed: %s", exc)
        if self.dropped_spans:
            _logger.warning(
                "fluxloop: %d span(s) were dropped by the span processor", self.dropped_spans
            )
        if self._owns_spool_dir and self._spool is not None and not self._segments:
            shutil.rmtree(self._spool.directory, ignore_errors=True)

    # -- overflow ------------------------------------------------------------------------------

    def _make_room(self, size: int) -> bool:
        """Called when the queue is above the high-water mark: wake the spiller; if the queue is
        full, wait (bounded) for room. False if there is still no room."""
        self._spill_if_it_pays_off()
        if size < self.max_queue_size:
            return True
        current = threading.current_thread()
        if current is self._worker or current is self._spiller:
            return True  # never block our own threads (e.g. spans created by the exporter)
        self._wake.set()
        deadline = time.monotonic() + self.max_block_s
        while len(self._queue) >= self.max_queue_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                return False
            self._room.clear()
            if len(self._queue) < self.max_queue_size:
                break
            self._room.wait(min(remaining, 0.01))
            # an export that was young when the wait began may be stuck by now (a hanging
            # collector): from then on the spill, not this producer's wait, makes the room
            self._spill_if_it_pays_off()
        return True

    def _spill_if_it_pays_off(self) -> None:
        if self._spill_enabled and self._spill_pays_off():
            if self._spiller is None:
                self._start_spiller()
            self._spill_wake.set()

    def _spill_pays_off(self) -> bool:
        """Spilling moves work, it does not remove it: writing a span to disk (and reading it
        back later) costs CPU and the GIL that the producers share. It pays off when the
        exporter costs clearly more per span than the spill (a network exporter, a slow
        collector), or when the current export is stuck; not for a CPU-bound exporter as fast as
        the spill (the JSONL file exporter), where bounded backpressure costs the producers less.
        """
        now = time.monotonic()
        if now < self._spool_broken_until:
            return False
        if not getattr(self.exporter, "spill_pays_off", True):
            # the exporter knows it is as cheap as the spill; neither its measured cost nor a
            # long export can tell: on a busy machine both include waiting for the GIL
            return False
        started = self._export_started
        if started and now - started > _STUCK_EXPORT_S:
            return True
        return self._export_cost > _SPILL_ADVANTAGE * (self._spill_cost or _DEFAULT_SPILL_COST_S)

    def _start_spiller(self) -> None:
        with self._lock:
            if self._spiller is not None:
                return
            self._spiller = threading.Thread(
                target=self._spill_loop, name="fluxloop-span-spill", daemon=True
            )
            self._spiller.start()

    def _get_spool(self) -> SpanSpool:
        if self._spool is None:
            directory = self._spool_dir_arg
            if directory is None:
                directory = Path(tempfile.mkdtemp(prefix="fluxloop-spool-"))
                self._owns_spool_dir = True
            self._spool = SpanSpool(
                directory,
                segment_spans=self.max_export_batch_size,
                max_bytes=self._max_spool_bytes,
            )
        return self._spool

    def _adopt_leftovers(self) -> None:
        """Segments a previous process left in ``spool_dir`` are exported first."""
        spool = self._get_spool()
        leftovers = spool.segments()
        if leftovers:
            self._segments.extend(leftovers)
            self._segments_written += len(leftovers)

    def _spill_loop(self) -> None:
        queue = self._queue
        while not self._stopping:
            self._spill_wake.wait(0.5)
            self._spill_wake.clear()
            while len(queue) > self._low_water and not self._stopping:
                if not self._spill_once():
                    break
                self._room.set()

    def _spill_once(self) -> bool:
        queue = self._queue
        with self._spill_lock:
            batch: list[ReadableSpan] = []
            marker: _Flush | None = None
            limit = self.max_export_batch_size
            while len(batch) < limit and len(queue) > self._low_water:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if type(item) is _Flush:
                    marker = item
                    break
                batch.append(item)  # type: ignore[arg-type]
            if batch:
                try:
                    prepared = self._prepared(batch)
                    started = time.perf_counter()
                    paths = self._get_spool().write(prepared)
                    cost = (time.perf_counter() - started) / len(batch)
                    self._spill_cost = (
                        cost if not self._spill_cost else 0.8 * self._spill_cost + 0.2 * cost
                    )
                except (OSError, ValueError) as exc:
                    if marker is not None:
                        queue.appendleft(marker)
                    queue.extendleft(reversed(batch))
                    self._spool_broken_until = time.monotonic() + _SPOOL_RETRY_S
                    _logger.warning(
                        "fluxloop: cannot spill spans to disk (%s); the span queue will block "
                        "for up to %.1fs and then drop",
                        exc,
                        self.max_block_s,
                    )
                    return False
                self._segments.extend(paths)
                self._segments_written += len(paths)
                self.spilled_spans += len(batch)
            if marker is not None:
                marker.barrier = self._segments_written
                self._pending_flushes.append(marker)
                self._wake.set()
            return bool(batch) or marker is not None

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            self._wake.wait(self.schedule_delay_s)
            self._wake.clear()
            try:
                self._drain()
            except Exception as exc:  # pragma: no cover - _drain guards every call out
                _logger.warning("fluxloop: span export worker error: %s", exc)
            if self._stopping and not self._queue and not self._segments:
                self._complete_flushes()
                return

    def _drain(self) -> None:
        """Export everything available: spooled segments first (oldest), then memory."""
        queue = self._queue
        while True:
            # spooled segments are the oldest spans, but reading them back costs CPU (and the
            # GIL) that the producers need while they are overflowing: drain the spool when the
            # memory queue is low, or when a flush or the shutdown waits for it
            if self._segments and (
                len(queue) < self._low_water or self._pending_flushes or self._shutdown
            ):
                self._export_segment(self._segments.popleft())
                self._complete_flushes()
                continue
            batch: list[ReadableSpan] = []
            marker: _Flush | None = None
            limit = self.max_export_batch_size
            while len(batch) < limit:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if type(item) is _Flush:
                    marker = item
                    break
                batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._room.set()
                self._export(batch)
            if marker is not None:
                with self._spill_lock:  # any spill in flight has reached the disk
                    marker.barrier = self._segments_written
                self._pending_flushes.append(marker)
            self._complete_flushes()
            if not batch and marker is None and not self._segments:
                return

    def _complete_flushes(self) -> None:
        pending = self._pending_flushes
        while pending and pending[0].barrier <= self._segments_done:
            marker = pending.popleft()
            marker.ok = self._failures == marker.failures
            marker.done.set()

    def _export_segment(self, segment: Path) -> None:
        spool = self._get_spool()
        claimed = spool.claim(segment)
        if claimed is None:  # another process took it
            self._segments_done += 1
            return
        spans = spool.read(claimed)
        for start in range(0, len(spans), self.max_export_batch_size):
            self._export(spans[start : start + self.max_export_batch_size])
        spool.ack(claimed)
        self._segments_done += 1

    def _export(self, batch: list[ReadableSpan]) -> None:
        prepared = self._prepared(batch)  # not timed: a spilled span is prepared too
        started = time.perf_counter()
        self._export_started = time.monotonic()
        try:
            result = self.exporter.export(prepared)
        except Exception as exc:
            result = SpanExportResult.FAILURE
            _logger.warning("fluxloop: span exporter raised %s: %s", type(exc).__name__, exc)
        finally:
            self._export_started = 0.0
        cost = (time.perf_counter() - started) / len(batch)
        self._export_cost = cost if not self._export_cost else 0.8 * self._export_cost + 0.2 * cost
        if result is SpanExportResult.SUCCESS:
            self.exported_spans += len(batch)
        else:
            self._failures += 1
            self._drop(len(batch), f"{type(self.exporter).__name__}.export failed")

    def _prepared(self, batch: list[ReadableSpan]) -> Sequence[ReadableSpan]:
        prepare = self._prepare
        if prepare is None:
            return batch
        try:
            return prepare(batch)
        except Exception as exc:  # a broken hook must not lose the batch
            _logger.warning("fluxloop: the span prepare hook failed: %s", exc)
            return batch

    def _drop(self, count: int, reason: str) -> None:
        with self._lock:
            self.dropped_spans += count
            now = time.monotonic()
            if now - self._last_warning >= _WARN_INTERVAL_S:
                self._last_warning = now
                _logger.warning(
                    "fluxloop: dropped %d span(s) (%d in total): %s",
                    self.dropped_spans - self._dropped_at_warning,
                    self.dropped_spans,
                    reason,
                )
                self._dropped_at_warning = self.dropped_spans
