"""OTLP export that never loses spans: the official OTLP exporters behind a durable local spool.

``create_otlp_exporter`` returns a :class:`SpoolingSpanExporter` wrapping the official
``OTLPSpanExporter`` (HTTP/protobuf or gRPC). How it behaves:

* **Healthy collector**: a batch is handed to a background *sender* thread, which calls the official
  exporter; ``export`` waits for the outcome at most ``wait_seconds`` (1 s by default).
* **Dead endpoint**: until the endpoint has answered once (and again after every failure), the
  sender first opens a TCP connection to it (:mod:`._reach`); a refused connection answers in
  about a millisecond, so the batch goes to the spool at once instead of after the official
  exporter's retries, and the official exporters' retry log lines are replaced by one line of
  ours saying where the spans wait and how they will be re-sent.
* **Failure**: the sender writes the batch to the spool (:mod:`._spool`, JSONL segments under
  ``spool_dir``) and opens the **circuit**: from then on ``export`` writes batches straight to the
  spool (a fast local append) and returns, never waiting on the dead endpoint. The sender probes the
  endpoint in the background (an empty export, with backoff from ``retry_min_interval`` to
  ``retry_max_interval``); when it answers, the circuit closes and the sender re-sends the spool
  oldest first, deleting a segment only once the collector acknowledged it. While the spool drains,
  new batches queue behind it on disk, so the order stays oldest first.
* **Slow collector**: while a batch is in flight longer than ``wait_seconds``, ``export`` returns
  (the sender owns the batch and spools it if it fails) and the next batches go to the spool.
* **Poison batches**: a segment that fails while an empty probe succeeds is retried, and after three
  such failures moved to ``spool_dir/rejected/`` with a warning, so it cannot block the spool.
* **Restarts**: the spool is a directory of complete files; a new exporter on the same
  ``spool_dir`` re-sends what an earlier process left (segments are claimed by atomic rename, so
  processes sharing a spool never send a segment twice).

``export`` returns ``SUCCESS`` once the batch is delivered *or durably spooled*; ``FAILURE`` (with
:attr:`dropped_spans` and one warning) only if it could be neither. ``force_flush`` returns ``True``
only when nothing is in flight and the spool is empty.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ._jsonl import resolve_base_path
from ._reach import reachability_check
from ._spool import SpanSpool

__all__ = ["SpoolingSpanExporter", "create_otlp_exporter", "default_spool_dir"]

_logger = logging.getLogger("fluxloop")

SPOOL_DIR_ENV = "FLUXLOOP_SPOOL_DIR"
_MAX_SEGMENT_FAILURES = 3

# The official exporters log every failed attempt (a refused connection: three "Transient error
# HTTPConnectionPool(...)" lines, then "Failed to export spans batch..."), and our sender probes a
# dead endpoint again and again. On the sender thread those records are not shown: the last one
# is kept as the reason, and our own logger says it once, in one line, when the circuit opens
# (and once when it closes). ``debug=True`` (the ``fluxloop`` logger at DEBUG) shows them.
_OFFICIAL_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)
_sender_state = threading.local()


class _QuietOnSender(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_sender_state, "exporter", None) is None:
            return True
        _sender_state.last_error = record.getMessage().splitlines()[0][:200]
        return _logger.isEnabledFor(logging.DEBUG)


_QUIET = _QuietOnSender()
for _name in _OFFICIAL_LOGGERS:
    logging.getLogger(_name).addFilter(_QUIET)


#: How long ``shutdown()`` keeps delivering to a reachable endpoint before leaving the rest in
#: the spool.
SHUTDOWN_GRACE_SECONDS = 5.0


def default_spool_dir(endpoint: str, root: str | os.PathLike[str] | None = None) -> Path:
    """``root`` (default ``$FLUXLOOP_SPOOL_DIR`` or ``{base_path}/.spool``)
    ``/otlp-<hash of the endpoint>``: one spool per destination, so spans never go elsewhere."""
    root = root or os.environ.get(SPOOL_DIR_ENV)
    base = Path(root) if root else resolve_base_path() / ".spool"
    digest = hashlib.sha1(endpoint.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    return base / f"otlp-{digest}"


def _env_headers() -> dict[str, str]:
    from opentelemetry.util.re import parse_env_headers

    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _http_traces_url(endpoint: str) -> str:
    url = endpoint.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/v1/traces") else url + "/v1/traces"


def _official_exporter(
    protocol: str, endpoint: str, headers: Mapping[str, str], timeout: float
) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        target = endpoint if "://" in endpoint else "http://" + endpoint
        # gRPC metadata keys must be lowercase
        metadata = {k.lower(): v for k, v in headers.items()}
        return GrpcExporter(endpoint=target, headers=metadata or None, timeout=timeout)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter(
        endpoint=_http_traces_url(endpoint), headers=dict(headers) or None, timeout=timeout
    )


def create_otlp_exporter(
    endpoint: str,
    *,
    protocol: str = "http/protobuf",
    headers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    spool_root: str | os.PathLike[str] | None = None,
    timeout: float = 10.0,
    wait_seconds: float = 1.0,
    retry_min_interval: float = 0.5,
    retry_max_interval: float = 15.0,
    max_spool_bytes: int | None = 1 << 30,
) -> SpoolingSpanExporter:
    """An OTLP span exporter (``protocol`` ``"http/protobuf"`` or ``"grpc"``) that spools to
    ``spool_dir`` whenever ``endpoint`` cannot take the spans and re-sends them once it can.

    For HTTP, ``endpoint`` is the collector's base URL (``/v1/traces`` is appended unless present);
    for gRPC, ``host:port`` or ``http(s)://host:port``. ``api_key`` adds
    ``Authorization: Bearer <api_key>``. ``spool_dir`` defaults to :func:`default_spool_dir`
    (one folder per endpoint under ``spool_root``).
    """
    if protocol in ("http", "http/protobuf"):
        protocol = "http/protobuf"
    elif protocol != "grpc":
        raise ValueError(
            f"unsupported OTLP protocol {protocol!r}; expected 'http/protobuf' or 'grpc'"
        )
    if not endpoint:
        raise ValueError("an OTLP endpoint is required")
    # explicit headers replace OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, as in the official exporters;
    # an api_key is added to either
    all_headers = dict(headers) if headers is not None else _env_headers()
    if api_key:
        all_headers["Authorization"] = f"Bearer {api_key}"
    delegate = _official_exporter(protocol, endpoint, all_headers, timeout)
    # the probe (an empty export) must answer fast when the endpoint is down
    probe = _official_exporter(protocol, endpoint, all_headers, min(timeout, 1.0))
    directory = (
        Path(spool_dir) if spool_dir is not None else default_spool_dir(endpoint, spool_root)
    )

    def rebuild() -> tuple[SpanExporter, SpanExporter | None]:
        return (
            _official_exporter(protocol, endpoint, all_headers, timeout),
            _official_exporter(protocol, endpoint, all_headers, min(timeout, 1.0)),
        )

    return SpoolingSpanExporter(
        delegate,
        SpanSpool(directory, max_bytes=max_spool_bytes),
        probe=probe,
        reachable=reachability_check(endpoint, protocol, min(timeout, 1.0)),
        wait_seconds=wait_seconds,
        retry_min_interval=retry_min_interval,
        retry_max_interval=retry_max_interval,
        description=f"{endpoint} ({protocol})",
        rebuild=rebuild,
    )


class _Job:
    __slots__ = ("done", "result", "spans")

    def __init__(self, spans: Sequence[ReadableSpan]) -> None:
        self.spans = spans
        self.done = threading.Event()
        self.result = SpanExportResult.FAILURE


class SpoolingSpanExporter(SpanExporter):
    """Wraps ``delegate`` with a durable spool and a circuit breaker (see the module docstring)."""

    def __init__(
        self,
        delegate: SpanExporter,
        spool: SpanSpool,
        *,
        probe: SpanExporter | None = None,
        wait_seconds: float = 1.0,
        retry_min_interval: float = 0.5,
        retry_max_interval: float = 15.0,
        description: str = "",
        rebuild: Callable[[], tuple[SpanExporter, SpanExporter | None]] | None = None,
        reachable: Callable[[], str | None] | None = None,
    ) -> None:
        self.delegate = delegate
        self._reachable = reachable
        self._rebuild = rebuild
        self.spool = spool
        self.probe = probe
        self.description = description or type(delegate).__name__
        self.wait_seconds = wait_seconds
        self.retry_min_interval = retry_min_interval
        self.retry_max_interval = max(retry_min_interval, retry_max_interval)
        #: spans delivered to the collector
        self.sent_spans = 0
        #: spans written to the spool (each delivery failure counts again)
        self.spooled_spans = 0
        #: spans neither delivered nor spooled (the spool was unwritable), or rejected as poison
        self.dropped_spans = 0
        self._init_state()
        if hasattr(os, "register_at_fork"):
            ref = weakref.WeakMethod(self._after_fork_in_child)
            os.register_at_fork(after_in_child=lambda: (m := ref()) is not None and m())

    def _init_state(self) -> None:
        self._cv = threading.Condition()
        self._job: _Job | None = None
        self._busy = False
        self._open = False
        self._stopping = False
        self._shutdown = False
        self._interval = self.retry_min_interval
        self._next_attempt = 0.0
        self._segment_failures: dict[str, int] = {}
        self._spool_failing = False
        # the endpoint answered since the circuit last opened: no connect check before a batch
        self._verified = False
        # leftovers of an earlier process (segments() also releases claims of dead processes)
        self._spool_pending = bool(self.spool.segments())
        self._sender = threading.Thread(target=self._run, name="fluxloop-otlp-sender", daemon=True)
        self._sender.start()

    def _after_fork_in_child(self) -> None:
        # the sender thread did not survive the fork, and gRPC channels / HTTP connections must
        # not be shared with the parent: fresh official exporters and a fresh sender
        if self._rebuild is not None:
            try:
                self.delegate, self.probe = self._rebuild()
            except Exception as exc:  # pragma: no cover - defensive
                _logger.warning("fluxloop: could not rebuild the OTLP exporter after fork: %s", exc)
        self._init_state()

    @property
    def spool_dir(self) -> Path:
        return self.spool.directory

    @property
    def circuit_open(self) -> bool:
        return self._open

    # -- SpanExporter --------------------------------------------------------------------------

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        with self._cv:
            direct = not (
                self._open
                or self._busy
                or self._job is not None
                or self._spool_pending
                or self._stopping
            )
            if direct:
                job = _Job(spans)
                self._job = job
                self._cv.notify_all()
        if not direct:
            return self._to_spool(spans)
        if job.done.wait(self.wait_seconds):
            return job.result
        return SpanExportResult.SUCCESS  # in flight; the sender spools it if it fails

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until the batch in flight and the spool are delivered. ``False`` at the timeout,
        and at once while the endpoint is down (the spans are safe in the spool; the background
        probing goes on at its own pace)."""
        deadline = time.monotonic() + timeout_millis / 1000.0
        with self._cv:
            while self._job is not None or self._busy or self._spool_pending:
                if self._open or self._stopping:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.05))
            return True

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._shutdown = True
        # while the endpoint answers, deliver what is in flight and in the spool (bounded: an
        # exiting process never waits long); with the circuit open this returns at once.
        # Whatever is left stays in the spool for the next exporter using it.
        self.force_flush(int(SHUTDOWN_GRACE_SECONDS * 1000))
        job = self._job
        if job is not None:
            job.done.wait(self.wait_seconds)
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for exporter in (self.delegate, self.probe):
            if exporter is not None:
                try:
                    exporter.shutdown()  # interrupts the official exporters' retry backoff
                except Exception as exc:
                    _logger.debug("fluxloop: OTLP exporter shutdown failed: %s", exc)
        if self._sender is not threading.current_thread():
            self._sender.join(10.0)
        if self.spool.has_segments():
            _logger.info(
                "fluxloop: unsent spans stay in %s and will be sent by the next exporter using it",
                self.spool.directory,
            )

    # -- the spool -----------------------------------------------------------------------------

    def _to_spool(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self.spool.write(spans)
        except (OSError, ValueError) as exc:
            with self._cv:
                self.dropped_spans += len(spans)
                first = not self._spool_failing
                self._spool_failing = True
            if first:
                _logger.warning(
                    "fluxloop: cannot spool %d span(s) for %s to %s (%s); they are dropped, "
                    "further losses are counted in dropped_spans",
                    len(spans),
                    self.description,
                    self.spool.directory,
                    exc,
                )
            return SpanExportResult.FAILURE
        with self._cv:
            self.spooled_spans += len(spans)
            self._spool_failing = False
            self._spool_pending = True
            self._cv.notify_all()
        return SpanExportResult.SUCCESS

    # -- the sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        _sender_state.exporter = self
        while True:
            with self._cv:
                while True:
                    if self._job is not None:
                        job: _Job | None = self._job
                        break
                    if self._stopping:
                        return
                    now = time.monotonic()
                    if self._spool_pending and now >= self._next_attempt:
                        job = None
                        break
                    timeout = (self._next_attempt - now) if self._spool_pending else None
                    self._cv.wait(timeout)
                self._busy = True
            try:
                if job is not None:
                    self._send_job(job)
                else:
                    self._drain()
            except Exception as exc:  # pragma: no cover - every call out is guarded
                _logger.warning("fluxloop: OTLP sender error: %s", exc)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _deliver(self, spans: Sequence[ReadableSpan]) -> bool:
        try:
            return self.delegate.export(spans) is SpanExportResult.SUCCESS
        except Exception as exc:
            _logger.debug("fluxloop: OTLP export raised %s", exc)
            return False

    def _unreachable(self) -> str | None:
        """Why the endpoint cannot be reached (a quick TCP connect), or None when it can."""
        if self._reachable is None:
            return None
        try:
            return self._reachable()
        except Exception as exc:  # pragma: no cover - the check catches OSError itself
            return str(exc) or type(exc).__name__

    def _send_job(self, job: _Job) -> None:
        # an endpoint not yet known to be up is checked first: a dead collector is detected in
        # milliseconds instead of after the official exporter's retries (its whole timeout)
        reason = None if self._verified else self._unreachable()
        ok = reason is None and self._deliver(job.spans)
        if ok:
            self._verified = True
            with self._cv:
                self.sent_spans += len(job.spans)
            job.result = SpanExportResult.SUCCESS
        else:
            self._trip(reason)
            job.result = self._to_spool(job.spans)
        with self._cv:
            self._job = None
            job.done.set()
            self._cv.notify_all()

    def _trip(self, reason: str | None = None) -> None:
        reason = reason or getattr(_sender_state, "last_error", None) or "export failed"
        with self._cv:
            self._verified = False
            if not self._open:
                self._open = True
                self._interval = self.retry_min_interval
                _logger.warning(
                    "fluxloop: collector %s is not reachable (%s); spans wait in %s and are "
                    "re-sent when it answers (retried in the background, and by the next "
                    "FluxLoop process exporting there)",
                    self.description,
                    reason,
                    self.spool.directory,
                )
            else:
                self._interval = min(self._interval * 2, self.retry_max_interval)
            self._next_attempt = time.monotonic() + self._interval

    def _endpoint_down(self) -> str | None:
        """None when the endpoint takes an empty export, else why not."""
        reason = self._unreachable()
        if reason is not None:
            return reason
        exporter = self.probe or self.delegate
        try:
            if exporter.export([]) is SpanExportResult.SUCCESS:
                return None
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return getattr(_sender_state, "last_error", None) or "export failed"

    def _drain(self) -> None:
        """Re-send spooled segments, oldest first, while the endpoint takes them."""
        if self._open or not self._verified:
            reason = self._endpoint_down()
            if reason is not None:
                self._trip(reason)
                return
        sent = 0
        while not self._stopping:
            with self._cv:
                if self._job is not None:  # a live batch arrived while the spool was empty
                    return
            segments = self.spool.segments()
            if not segments:
                with self._cv:
                    # new batches may have been spooled meanwhile: re-check under the lock
                    if not self.spool.has_segments():
                        self._spool_pending = False
                        self._verified = True
                        if self._open:
                            self._open = False
                            _logger.warning(
                                "fluxloop: OTLP endpoint %s is back; re-sent %d spooled span(s)",
                                self.description,
                                sent,
                            )
                        self._interval = self.retry_min_interval
                        return
                continue
            claimed = self.spool.claim(segments[0])
            if claimed is None:
                continue  # another process took it
            spans = self.spool.read(claimed)
            if not spans or self._deliver(spans):
                self.spool.ack(claimed)
                self._segment_failures.pop(segments[0].name, None)
                sent += len(spans)
                with self._cv:
                    self.sent_spans += len(spans)
                continue
            self.spool.release(claimed)
            # the endpoint answers an empty export but refused this segment: retry it later
            # (with backoff); after a few such failures it is moved aside as poison
            if self._endpoint_down() is None and self._poisoned(segments[0], len(spans)):
                continue
            self._trip()
            return

    def _poisoned(self, segment: Path, count: int) -> bool:
        """Count a refusal of ``segment``; True if it was moved aside."""
        failures = self._segment_failures.get(segment.name, 0) + 1
        self._segment_failures[segment.name] = failures
        if failures < _MAX_SEGMENT_FAILURES:
            return False
        self._segment_failures.pop(segment.name, None)
        rejected = segment.parent / "rejected"
        try:
            rejected.mkdir(exist_ok=True)
            os.replace(segment, rejected / segment.name)
        except OSError:
            return False
        with self._cv:
            self.dropped_spans += count
        _logger.warning(
            "fluxloop: %s rejected %d spooled span(s) %d times while accepting others; moved "
            "them to %s",
            self.description,
            count,
            failures,
            rejected,
        )
        return True
