"""``serve()``: run the collector (OTLP/HTTP on uvicorn, OTLP/gRPC on grpcio) until SIGTERM/SIGINT.

Shutdown is graceful: the first SIGTERM or SIGINT stops accepting HTTP connections and waits for
in-flight requests (up to ``drain_seconds``), then stops the gRPC server with the same grace, then
closes the output files; every acknowledged batch is in the files. A second signal forces exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.collector._ingest import DEFAULT_POLICY, IngestPolicy
from fluxloop.errors import ConfigError

__all__ = ["CollectorSettings", "require_server_extra", "serve"]

_logger = logging.getLogger("fluxloop.collector")

INSTALL_HINT = "pip install 'fluxloop[collector]'"


def require_server_extra() -> None:
    """Raise a one-line :class:`ConfigError` naming the pip command if uvicorn/starlette are
    missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the collector needs the optional 'collector' extra ({exc.name} is not installed): "
            f"{INSTALL_HINT}"
        ) from None


@dataclass(frozen=True)
class CollectorSettings:
    """What ``fluxloop collector serve`` runs with."""

    host: str = "127.0.0.1"
    """Interface to bind (both servers); ``0.0.0.0`` exposes the collector to the network."""
    port: int = 8000
    """OTLP/HTTP and original-API port (0: any free port)."""
    grpc_port: int = 4317
    """OTLP/gRPC port (0: no gRPC server)."""
    output_dir: Path = Path("traces")
    """Directory of the contract files (``traces_*.jsonl``, ``observations_*.jsonl``)."""
    api_key: str | None = None
    """When set, requests must carry ``Authorization: Bearer <api_key>``."""
    max_body_bytes: int = 20 * 1024 * 1024
    """Request size limit, compressed and decompressed."""
    fsync: bool = False
    """``os.fsync`` the files before acknowledging (survives power loss; slower)."""
    drain_seconds: float = 30.0
    """How long shutdown waits for in-flight requests."""
    ingest: IngestPolicy = DEFAULT_POLICY
    """Masking and attribute limits applied to everything received (``--no-mask``, …)."""


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigError(
            f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}",
            key="port",
        ) from None


def serve(
    settings: CollectorSettings,
    *,
    on_ready: Callable[[Mapping[str, Any]], None] | None = None,
) -> None:
    """Run the collector in this process until SIGTERM/SIGINT (see the module docstring).

    Args:
        settings: addresses, output directory, key and limits.
        on_ready: called once both servers listen, with ``http_url``, ``grpc_address`` (or
            ``None``) and ``output_dir``.

    Raises:
        ConfigError: the extra is missing, a port cannot be bound, or the output directory
            cannot be created.
    """
    require_server_extra()
    import uvicorn

    from fluxloop import __version__
    from fluxloop.collector._grpc import start_grpc_server
    from fluxloop.collector._http import create_app
    from fluxloop.collector._sink import Sink, repair_partial_lines

    if settings.max_body_bytes <= 0:
        raise ConfigError.for_value(
            "--max-body-bytes", "a positive integer", settings.max_body_bytes
        )
    output_dir = Path(os.path.abspath(settings.output_dir))
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--output: cannot create {output_dir}: {exc.strerror or exc}", key="output"
        ) from None
    if not os.access(output_dir, os.W_OK):
        raise ConfigError(f"--output: {output_dir} is not writable", key="output")

    _ensure_log_handler()
    for path, size in repair_partial_lines(output_dir):
        _logger.warning(
            "fluxloop collector: removed a partial last line (%d bytes, never acknowledged) "
            "from %s",
            size,
            path,
        )
    sink = Sink(output_dir, fsync=settings.fsync, policy=settings.ingest)
    sock = _bind(settings.host, settings.port)
    http_port = int(sock.getsockname()[1])
    display_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    http_url = f"http://{display_host}:{http_port}"
    grpc_server: Any = None
    grpc_address: str | None = None
    if settings.grpc_port:
        try:
            grpc_server, grpc_port = start_grpc_server(
                sink,
                settings.host,
                settings.grpc_port,
                api_key=settings.api_key,
                max_message_bytes=settings.max_body_bytes,
            )
        except OSError as exc:
            sock.close()
            raise ConfigError(f"--grpc-port: {exc}", key="grpc_port") from None
        grpc_address = f"{display_host}:{grpc_port}"

    info = {
        "version": __version__,
        "http_url": http_url,
        "grpc_address": grpc_address,
    }
    app = create_app(
        sink, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes, info=info
    )
    config = uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=max(1, int(settings.drain_seconds)),
        timeout_keep_alive=30,
    )
    server = _make_server_class()(config)
    hangup: signal.Signals | None = getattr(signal, "SIGHUP", None)
    previous_hangup: Any = None
    if hangup is not None and threading.current_thread() is threading.main_thread():
        # log rotation: reopen the output files by name (moved or deleted files are also
        # noticed on their own at the next write)
        previous_hangup = signal.signal(hangup, lambda signum, frame: sink.request_reopen())
    try:
        if on_ready is not None:
            on_ready({**info, "output_dir": str(output_dir)})
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
        if grpc_server is not None:
            grace = 0 if server.force_exit else settings.drain_seconds
            grpc_server.stop(grace=grace).wait()
        sink.close()
        if hangup is not None and previous_hangup is not None:
            signal.signal(hangup, previous_hangup)


def _ensure_log_handler() -> None:
    logger = logging.getLogger("fluxloop")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s fluxloop %(levelname)s %(message)s"))
        logger.addHandler(handler)


def _make_server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server with our signal handling: the first SIGTERM/SIGINT drains, a
        second forces exit, and the signal is not re-raised afterwards (uvicorn would), so the
        gRPC server and the files are closed and the process exits 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return

            def handle(signum: int, frame: object) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)

    return Server
