"""Recording and replaying model calls at the HTTP client: ``httpx`` and ``httpx2`` transports.

The OpenAI and Anthropic Python SDKs (and the langchain packages built on them) send every
request through ``HTTPTransport.handle_request`` / ``AsyncHTTPTransport.handle_async_request``
of ``httpx`` or its fork ``httpx2``. These two methods are wrapped once per process (the same
patch points vcrpy uses); outside a run with a cassette the wrapper costs one context-variable
lookup and calls the original.

vcrpy itself is not used: it patches per cassette for the whole process (parallel runs need
one tape each, chosen by context), and it reads a streamed response to the end before handing
it over (a streamed call would lose its chunk boundaries and its time to first chunk). Here a
live response streams through unchanged while its chunks are copied with their time offsets;
the entry is kept when the stream is exhausted. A replayed response yields the recorded chunks
one by one (``--cassette-timing recorded`` also waits their recorded offsets).

While recording, the request asks for an uncompressed response (``Accept-Encoding:
identity``), so the cassette holds readable text. No request header is written; response
headers are reduced to ``content-type`` / ``content-encoding``.
"""

from __future__ import annotations

import base64
import importlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from types import ModuleType
from typing import Any

from .normalize import last_message_text, mask, mask_text, normalize_body, normalize_url
from .tape import Call, Tape, active_tape, wait_async, wait_sync

__all__ = ["HTTP_MODULES", "install"]

HTTP_MODULES = ("httpx", "httpx2")
_MARK = "__fluxloop_cassette__"
_KEPT_HEADERS = ("content-type", "content-encoding")


def _request_of(request: Any, body: bytes) -> tuple[dict[str, Any], str | None, str]:
    normalized = normalize_body(body)  # masked by Tape.begin
    req = {
        "method": request.method,
        "url": normalize_url(str(request.url)),
        "body": normalized,
    }
    model = normalized.get("model") if isinstance(normalized, dict) else None
    messages = normalized.get("messages") if isinstance(normalized, dict) else None
    preview = mask_text(last_message_text(messages))
    return req, (str(model) if model is not None else None), preview


class _Recorder:
    """Collects a live response's chunks; commits the entry when the stream is exhausted."""

    def __init__(self, tape: Tape, call: Call, response: Any, started: float) -> None:
        self.tape = tape
        self.call = call
        self.status = int(response.status_code)
        self.headers = {
            k.lower(): v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS
        }
        self.started = started
        self.chunks: list[tuple[float, bytes]] = []
        self.done = False
        self.failed = False

    def add(self, chunk: bytes) -> None:
        self.chunks.append(((time.perf_counter() - self.started) * 1000.0, bytes(chunk)))

    def finish(self) -> None:
        """Keep the entry: when the stream ends, or when the client closes it early (an SDK
        stops at ``[DONE]``; a replay stops at the same place). Not after a transfer error."""
        if self.done or self.failed:
            return
        self.done = True
        duration = (time.perf_counter() - self.started) * 1000.0
        self.tape.commit(self.call, self._response(), duration)

    def _response(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "headers": self.headers}
        ctype = self.headers.get("content-type", "")
        if "content-encoding" in self.headers and self.headers["content-encoding"] != "identity":
            out["base64"] = [[round(t, 3), base64.b64encode(c).decode()] for t, c in self.chunks]
            return out
        try:
            texts = [(t, c.decode("utf-8")) for t, c in self.chunks]
        except UnicodeDecodeError:
            out["base64"] = [[round(t, 3), base64.b64encode(c).decode()] for t, c in self.chunks]
            return out
        if "event-stream" in ctype or "ndjson" in ctype:
            out["chunks"] = [[round(t, 3), mask_text(text)] for t, text in texts]
            return out
        body = "".join(text for _, text in texts)
        if "json" in ctype:
            try:
                out["json"] = mask(json.loads(body))
            except ValueError:
                out["text"] = mask_text(body)
        else:
            out["text"] = mask_text(body)
        return out


def _replay_chunks(entry: dict[str, Any]) -> list[tuple[float, bytes]]:
    response = entry["response"]
    if "chunks" in response:
        return [(float(t), str(text).encode("utf-8")) for t, text in response["chunks"]]
    if "base64" in response:
        return [(float(t), base64.b64decode(data)) for t, data in response["base64"]]
    if "json" in response:
        body = json.dumps(response["json"], ensure_ascii=False, separators=(",", ":"))
        return [(0.0, body.encode("utf-8"))]
    return [(0.0, str(response.get("text") or "").encode("utf-8"))]


def _stream_classes(module: ModuleType) -> dict[str, type]:
    """Byte streams deriving from ``module``'s own base classes (the clients check them)."""

    class RecordingSync(module.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, recorder: _Recorder) -> None:
            self.inner = inner
            self.recorder = recorder

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in self.inner:
                    self.recorder.add(chunk)
                    yield chunk
            except GeneratorExit:  # the client stopped reading: not a failure
                raise
            except BaseException:
                self.recorder.failed = True
                raise
            self.recorder.finish()

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                self.recorder.finish()

    class RecordingAsync(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, inner: Any, recorder: _Recorder) -> None:
            self.inner = inner
            self.recorder = recorder

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self.inner:
                    self.recorder.add(chunk)
                    yield chunk
            except GeneratorExit:
                raise
            except BaseException:
                self.recorder.failed = True
                raise
            self.recorder.finish()

        async def aclose(self) -> None:
            try:
                await self.inner.aclose()
            finally:
                self.recorder.finish()

    class ReplaySync(module.SyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, tape: Tape, entry: dict[str, Any], started: float) -> None:
            self.tape, self.entry, self.started = tape, entry, started

        def __iter__(self) -> Iterator[bytes]:
            for offset, chunk in _replay_chunks(self.entry):
                wait_sync(self.tape, self.entry, self.started, offset)
                yield chunk

    class ReplayAsync(module.AsyncByteStream):  # type: ignore[name-defined,misc]
        def __init__(self, tape: Tape, entry: dict[str, Any], started: float) -> None:
            self.tape, self.entry, self.started = tape, entry, started

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for offset, chunk in _replay_chunks(self.entry):
                await wait_async(self.tape, self.entry, self.started, offset)
                yield chunk

    return {
        "RecordingSync": RecordingSync,
        "RecordingAsync": RecordingAsync,
        "ReplaySync": ReplaySync,
        "ReplayAsync": ReplayAsync,
    }


def _replayed(module: ModuleType, stream: Any, entry: dict[str, Any], request: Any) -> Any:
    response = entry["response"]
    headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
    return module.Response(
        int(response.get("status") or 200), headers=headers, stream=stream, request=request
    )


def _patch(module: ModuleType) -> None:
    transport, async_transport = module.HTTPTransport, module.AsyncHTTPTransport
    if getattr(transport.handle_request, _MARK, False):
        return
    original: Callable[..., Any] = transport.handle_request
    original_async: Callable[..., Any] = async_transport.handle_async_request
    streams = _stream_classes(module)

    def handle_request(self: Any, request: Any) -> Any:
        tape = active_tape()
        if tape is None:
            return original(self, request)
        req, model, preview = _request_of(request, request.read())
        call = tape.begin("http", req, model=model, preview=preview)
        started = time.perf_counter()
        if call.entry is not None:
            stream = streams["ReplaySync"](tape, call.entry, started)
            return _replayed(module, stream, call.entry, request)
        request.headers["accept-encoding"] = "identity"
        response = original(self, request)
        recorder = _Recorder(tape, call, response, started)
        response.stream = streams["RecordingSync"](response.stream, recorder)
        return response

    async def handle_async_request(self: Any, request: Any) -> Any:
        tape = active_tape()
        if tape is None:
            return await original_async(self, request)
        req, model, preview = _request_of(request, await request.aread())
        call = tape.begin("http", req, model=model, preview=preview)
        started = time.perf_counter()
        if call.entry is not None:
            stream = streams["ReplayAsync"](tape, call.entry, started)
            return _replayed(module, stream, call.entry, request)
        request.headers["accept-encoding"] = "identity"
        response = await original_async(self, request)
        recorder = _Recorder(tape, call, response, started)
        response.stream = streams["RecordingAsync"](response.stream, recorder)
        return response

    setattr(handle_request, _MARK, True)
    setattr(handle_async_request, _MARK, True)
    transport.handle_request = handle_request
    async_transport.handle_async_request = handle_async_request


def install() -> list[str]:
    """Wrap the transports of every installed HTTP client module (idempotent); returns the
    names of the modules wrapped."""
    done = []
    for name in HTTP_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _patch(module)
        done.append(name)
    return done
