"""The collector's OTLP/gRPC side: ``opentelemetry.proto.collector.trace.v1.TraceService/Export``
on a ``grpcio`` server, and the ``MetricsService`` and ``LogsService`` exports beside it.

The method is registered with a raw-bytes deserializer so a malformed message is answered with
``INVALID_ARGUMENT`` and a reason (grpcio's own deserializer would answer ``INTERNAL``). With an
API key set, calls without the metadata ``authorization: Bearer <key>`` get ``UNAUTHENTICATED``;
a message over the size limit gets ``RESOURCE_EXHAUSTED`` (grpcio); an unwritable output directory
``UNAVAILABLE`` (the OTLP exporters retry). gzip-compressed calls are handled by grpcio.
"""

from __future__ import annotations

import hmac
import socket
from concurrent import futures
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from fluxloop.collector._convert import PayloadError, convert_request, parse_protobuf_request
from fluxloop.collector._signals import LOGS, METRICS, Signal, ingest, parse
from fluxloop.collector._sink import Sink, SinkError

__all__ = ["SERVICE", "start_grpc_server"]

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


class _Export:
    def __init__(self, sink: Sink, api_key: str | None) -> None:
        self.sink = sink
        self.api_key = api_key.encode() if api_key else None

    def _authorized(self, context: grpc.ServicerContext) -> bool:
        if self.api_key is None:
            return True
        for key, value in context.invocation_metadata() or ():
            if key.lower() == "authorization":
                text = value.decode(errors="replace") if isinstance(value, bytes) else value
                scheme, _, token = text.partition(" ")
                return scheme.lower() == "bearer" and hmac.compare_digest(
                    token.strip().encode(), self.api_key
                )
        return False

    def __call__(self, body: bytes, context: grpc.ServicerContext) -> ExportTraceServiceResponse:
        if not self._authorized(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid authorization")
        try:
            request = parse_protobuf_request(body)
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        converted = convert_request(request)
        try:
            self.sink.write_spans(converted.spans, converted.rejected)
        except SinkError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        response = ExportTraceServiceResponse()
        if converted.rejected:
            response.partial_success.rejected_spans = converted.rejected
            response.partial_success.error_message = converted.error_message
        return response


class _ExportSignal(_Export):
    """``Export`` of the metrics or logs service (same auth and errors as traces)."""

    def __init__(self, sink: Sink, api_key: str | None, signal: Signal) -> None:
        super().__init__(sink, api_key)
        self.signal = signal

    def __call__(self, body: bytes, context: grpc.ServicerContext) -> Any:
        if not self._authorized(context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid authorization")
        try:
            request = parse(self.signal, body, as_json=False)
        except PayloadError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            return ingest(self.signal, self.sink, request)
        except SinkError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))


def _family(host: str) -> socket.AddressFamily:
    infos = socket.getaddrinfo(host.strip("[]"), None, type=socket.SOCK_STREAM)
    return infos[0][0] if infos else socket.AF_INET


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def start_grpc_server(
    sink: Sink,
    host: str,
    port: int,
    *,
    api_key: str | None = None,
    max_message_bytes: int,
    workers: int = 8,
) -> tuple[grpc.Server, int]:
    """Start a gRPC TraceService on ``host:port``; returns the server and the bound port.
    Raises :class:`OSError` if the address cannot be bound."""
    server: Any = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fluxloop-grpc"),
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(
        _Export(sink, api_key),
        request_deserializer=None,
        response_serializer=ExportTraceServiceResponse.SerializeToString,
    )
    handlers = [grpc.method_handlers_generic_handler(SERVICE, {"Export": handler})]
    for signal in (METRICS, LOGS):
        signal_handler = grpc.unary_unary_rpc_method_handler(
            _ExportSignal(sink, api_key, signal),
            request_deserializer=None,
            response_serializer=signal.response.SerializeToString,
        )
        handlers.append(
            grpc.method_handlers_generic_handler(signal.service, {"Export": signal_handler})
        )
    server.add_generic_rpc_handlers(tuple(handlers))
    # bind once ourselves first: a clear OSError instead of gRPC core's multi-line log
    try:
        socket.create_server((host.strip("[]"), port), family=_family(host)).close()
    except OSError as exc:
        raise OSError(f"cannot listen on {_address(host, port)}: {exc.strerror or exc}") from None
    try:
        bound = server.add_insecure_port(_address(host, port))
    except RuntimeError:
        raise OSError(f"cannot listen on {_address(host, port)}") from None
    if not bound:
        raise OSError(f"cannot listen on {_address(host, port)}")
    server.start()
    return server, int(bound)
