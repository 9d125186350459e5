"""The collector's HTTP side: an ASGI (Starlette) application.

Routes:

* ``POST /v1/traces`` -- OTLP/HTTP: ``application/x-protobuf`` or ``application/json`` bodies,
  optionally ``Content-Encoding: gzip`` (or ``deflate``); answers an ``ExportTraceServiceResponse``
  in the request's encoding, with ``partial_success`` when some spans were rejected. Errors carry
  a ``google.rpc.Status`` (protobuf or JSON) with the reason, as the OTLP spec asks.
* ``POST /v1/metrics`` and ``POST /v1/logs`` -- the same for OTLP metrics and logs, written to
  ``metrics_*.jsonl`` / ``logs_*.jsonl`` (:mod:`fluxloop.collector._signals`).
* ``POST /api/traces`` and ``POST /api/traces/{trace_id}/observations`` -- the original FluxLoop
  SDK's JSON API (:mod:`fluxloop.collector._legacy`).
* ``GET /health`` -- status, version, counters, uptime, output directory.

Status codes: 400 malformed body (with the reason), 401 missing or wrong ``Authorization: Bearer``
when an API key is set, 413 body (or its decompressed form) over the size limit, 415 unsupported
content type or encoding, 503 the output directory cannot be written (clients retry). Decoding and
writing run in a worker thread, so the event loop keeps accepting while a batch is written.
"""

from __future__ import annotations

import hmac
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.rpc.status_pb2 import Status as RpcStatus  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fluxloop.collector._convert import (
    Converted,
    PayloadError,
    convert_json,
    convert_request,
    parse_protobuf_request,
)
from fluxloop.collector._legacy import (
    RecordError,
    observation_record,
    parse_json_object,
    trace_record,
)
from fluxloop.collector._signals import LOGS, METRICS, Signal, ingest, parse
from fluxloop.collector._sink import Sink, SinkError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
"""The default request size limit (compressed and decompressed), as the OTel Collector's."""

_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_PROTOBUF_TYPES = frozenset({_PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"})
# google.rpc.Code values
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14
_UNAUTHENTICATED = 16
_HTTP_TO_RPC = {400: _INVALID_ARGUMENT, 401: _UNAUTHENTICATED, 413: _RESOURCE_EXHAUSTED}
_HTTP_TO_RPC |= {415: _INVALID_ARGUMENT, 503: _UNAVAILABLE}


class HTTPProblem(Exception):
    """An error answer: status code and a one-line reason."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise HTTPProblem(415, f"unsupported Content-Encoding {encoding!r}; use gzip or identity")
    out: list[bytes] = []
    size = 0
    data = body
    try:
        while data:
            inflater = zlib.decompressobj(wbits)
            chunk = inflater.decompress(data, limit + 1 - size)
            size += len(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise HTTPProblem(413, f"decompressed body exceeds the limit of {limit} bytes")
            if not inflater.eof:
                raise HTTPProblem(400, f"truncated {encoding} body")
            out.append(chunk)
            data = inflater.unused_data  # a following gzip member, if any
    except zlib.error as exc:
        raise HTTPProblem(400, f"invalid {encoding} body: {exc}") from None
    return b"".join(out)


class _Handlers:
    def __init__(
        self,
        sink: Sink,
        *,
        api_key: str | None,
        max_body_bytes: int,
        info: Mapping[str, Any],
    ) -> None:
        self.sink = sink
        self.api_key = api_key.encode() if api_key else None
        self.max_body_bytes = max_body_bytes
        self.info = dict(info)

    # -- helpers -------------------------------------------------------------------------------

    def _check_auth(self, request: Request) -> None:
        if self.api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key
        ):
            reason = "missing Authorization: Bearer header" if not header else "invalid API key"
            raise HTTPProblem(401, reason, {"WWW-Authenticate": "Bearer"})

    async def _body(self, request: Request) -> bytes:
        limit = self.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise HTTPProblem(400, f"invalid Content-Length {length!r}") from None
            if declared > limit:
                raise HTTPProblem(413, f"body of {declared} bytes exceeds the limit of {limit}")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HTTPProblem(413, f"body exceeds the limit of {limit} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise HTTPProblem(
                400, "the client disconnected before sending the whole body"
            ) from None
        return _decompress(b"".join(chunks), request.headers.get("content-encoding", ""), limit)

    # -- OTLP/HTTP -----------------------------------------------------------------------------

    async def otlp_traces(self, request: Request) -> Response:
        media = _media_type(request)
        as_json = media == _JSON
        try:
            self._check_auth(request)
            if not as_json and media not in _PROTOBUF_TYPES:
                raise HTTPProblem(
                    415,
                    f"unsupported Content-Type {media or '(none)'!r}; use {_PROTOBUF} or {_JSON}",
                )
            body = await self._body(request)
            converted = await run_in_threadpool(self._ingest, body, as_json)
        except HTTPProblem as problem:
            return self._otlp_error(problem, as_json=as_json or media not in _PROTOBUF_TYPES)
        response = ExportTraceServiceResponse()
        if converted.rejected:
            response.partial_success.rejected_spans = converted.rejected
            response.partial_success.error_message = converted.error_message
        if as_json:
            return JSONResponse(json_format.MessageToDict(response))
        return Response(response.SerializeToString(), media_type=_PROTOBUF)

    def _ingest(self, body: bytes, as_json: bool) -> Converted:
        try:
            if as_json:
                converted = convert_json(body)
            else:
                converted = convert_request(parse_protobuf_request(body))
        except PayloadError as exc:
            raise HTTPProblem(400, str(exc)) from None
        try:
            self.sink.write_spans(converted.spans, converted.rejected)
        except SinkError as exc:
            raise HTTPProblem(503, str(exc), {"Retry-After": "1"}) from None
        return converted

    def otlp_signal(self, signal: Signal) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint of ``/v1/metrics`` or ``/v1/logs``: the same auth, limits, encodings,
        errors and durability as ``/v1/traces``."""

        async def endpoint(request: Request) -> Response:
            media = _media_type(request)
            as_json = media == _JSON
            try:
                self._check_auth(request)
                if not as_json and media not in _PROTOBUF_TYPES:
                    raise HTTPProblem(
                        415,
                        f"unsupported Content-Type {media or '(none)'!r}; "
                        f"use {_PROTOBUF} or {_JSON}",
                    )
                body = await self._body(request)
                response = await run_in_threadpool(self._ingest_signal, signal, body, as_json)
            except HTTPProblem as problem:
                return self._otlp_error(problem, as_json=as_json or media not in _PROTOBUF_TYPES)
            if as_json:
                return JSONResponse(json_format.MessageToDict(response))
            return Response(response.SerializeToString(), media_type=_PROTOBUF)

        return endpoint

    def _ingest_signal(self, signal: Signal, body: bytes, as_json: bool) -> Any:
        try:
            request = parse(signal, body, as_json)
        except PayloadError as exc:
            raise HTTPProblem(400, str(exc)) from None
        try:
            return ingest(signal, self.sink, request)
        except SinkError as exc:
            raise HTTPProblem(503, str(exc), {"Retry-After": "1"}) from None

    @staticmethod
    def _otlp_error(problem: HTTPProblem, *, as_json: bool) -> Response:
        code = _HTTP_TO_RPC.get(problem.status, _INVALID_ARGUMENT)
        if as_json:
            return JSONResponse(
                {"code": code, "message": problem.reason},
                status_code=problem.status,
                headers=problem.headers,
            )
        status = RpcStatus(code=code, message=problem.reason)
        return Response(
            status.SerializeToString(),
            status_code=problem.status,
            media_type=_PROTOBUF,
            headers=problem.headers,
        )

    # -- the original SDK's JSON API -----------------------------------------------------------

    async def api_trace(self, request: Request) -> Response:
        return await self._api(request, lambda data: ("traces", trace_record(data)))

    async def api_observation(self, request: Request) -> Response:
        trace_id = str(request.path_params["trace_id"])
        return await self._api(
            request, lambda data: ("observations", observation_record(data, trace_id))
        )

    async def _api(
        self,
        request: Request,
        build: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]],
    ) -> Response:
        try:
            self._check_auth(request)
            body = await self._body(request)
            kind, record = await run_in_threadpool(self._ingest_record, body, build)
        except HTTPProblem as problem:
            return JSONResponse(
                {"error": problem.reason}, status_code=problem.status, headers=problem.headers
            )
        return JSONResponse({"status": "ok", "kind": kind[:-1], "id": record["id"]}, 201)

    def _ingest_record(
        self, body: bytes, build: Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]
    ) -> tuple[str, dict[str, Any]]:
        try:
            kind, record = build(parse_json_object(body))
        except RecordError as exc:
            raise HTTPProblem(400, str(exc)) from None
        try:
            self.sink.write_records(kind, [record])
        except SinkError as exc:
            raise HTTPProblem(503, str(exc), {"Retry-After": "1"}) from None
        return kind, record

    # -- health --------------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        # open to probes; a request that presents a wrong key is told so (``status check``)
        if request.headers.get("authorization"):
            try:
                self._check_auth(request)
            except HTTPProblem as problem:
                return JSONResponse(
                    {"status": "unauthorized", "error": problem.reason},
                    status_code=401,
                    headers=problem.headers,
                )
        body: dict[str, Any] = {"status": "ok", **self.info, **self.sink.health()}
        body["auth_required"] = self.api_key is not None
        return JSONResponse(body)


def create_app(
    sink: Sink,
    *,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    info: Mapping[str, Any] | None = None,
) -> Starlette:
    """The collector's ASGI application writing to ``sink``.

    Args:
        sink: where accepted spans and records are written.
        api_key: when set, every route but ``/health`` needs ``Authorization: Bearer <api_key>``.
        max_body_bytes: the limit of a request body, compressed and decompressed (413 beyond).
        info: extra keys reported by ``/health`` (version, listening addresses).
    """
    handlers = _Handlers(sink, api_key=api_key, max_body_bytes=max_body_bytes, info=info or {})
    endpoint = Callable[[Request], Awaitable[Response]]
    routes: list[tuple[str, endpoint, list[str]]] = [
        ("/v1/traces", handlers.otlp_traces, ["POST"]),
        ("/v1/metrics", handlers.otlp_signal(METRICS), ["POST"]),
        ("/v1/logs", handlers.otlp_signal(LOGS), ["POST"]),
        ("/api/traces", handlers.api_trace, ["POST"]),
        ("/api/traces/{trace_id}/observations", handlers.api_observation, ["POST"]),
        ("/health", handlers.health, ["GET"]),
    ]
    return Starlette(routes=[Route(path, fn, methods=methods) for path, fn, methods in routes])
