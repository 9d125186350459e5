"""OpenAI- and Anthropic-compatible chat servers on 127.0.0.1 (stdlib only), for the cassette
demo and tests: ``FakeServer("openai").start()`` ... ``.stop()``.

Both answer deterministically from the request *and* a per-server call counter (``#n`` in
every reply), so a replayed answer can be told from a fresh one. With ``tools`` in the request
and a user message last, they ask for the first tool with ``{"city": <last word>}``; after a
tool result they answer with it. ``stream: true`` gets server-sent events written (and flushed)
chunk by chunk, tool-call arguments split across chunks, usage in the last chunk.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict)
        )
    return ""


@dataclass
class FakeServer:
    """One fake provider; ``kind`` is ``openai`` or ``anthropic``."""

    kind: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    chunk_delay: float = 0.002
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}" + ("/v1" if self.kind == "openai" else "")

    def start(self) -> FakeServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner.lock:
                    owner.requests.append(
                        {"path": self.path, "body": body, "headers": dict(self.headers)}
                    )
                    n = len(owner.requests)
                if owner.kind == "openai":
                    owner._openai(self, body, n)
                else:
                    owner._anthropic(self, body, n)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> Any:
                got = super().get_request()
                with owner.lock:
                    owner.connections += 1
                return got

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(5)

    # -- shared ---------------------------------------------------------------------------

    @staticmethod
    def _decide(messages: list[dict[str, Any]], tools: list[Any], n: int) -> tuple[str, Any]:
        last = messages[-1] if messages else {}
        role = last.get("role")
        content = last.get("content")
        tool_result = role == "tool" or (
            isinstance(content, list)
            and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
        )
        if tools and not tool_result:
            words = _text(content).split() or ["nowhere"]
            return "tool", {"city": words[-1].strip("?.!,")}
        if tool_result:
            return "text", f"Answer #{n}: {_text(content)}"
        system = " ".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
        return "text", f"Reply #{n} to {_text(content)!r}{' (' + system + ')' if system else ''}"

    def _sse(self, handler: BaseHTTPRequestHandler, events: list[tuple[str | None, Any]]) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("cache-control", "no-cache")
        handler.end_headers()
        for event, data in events:
            line = (f"event: {event}\n" if event else "") + (
                f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"
            )
            handler.wfile.write(line.encode())
            handler.wfile.flush()
            time.sleep(self.chunk_delay)

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, data: Any) -> None:
        payload = json.dumps(data).encode()
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    # -- OpenAI chat completions ---------------------------------------------------------------

    def _openai(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], n: int) -> None:
        model = body.get("model", "gpt-test")
        kind, value = self._decide(body.get("messages") or [], body.get("tools") or [], n)
        usage = {"prompt_tokens": 10 + n % 7, "completion_tokens": 5 + n % 3}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        tool_name = (body.get("tools") or [{}])[0].get("function", {}).get("name", "tool")
        call_id = f"call_{n}"
        if not body.get("stream"):
            if kind == "tool":
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": tool_name, "arguments": json.dumps(value)},
                        }
                    ],
                }
                finish = "tool_calls"
            else:
                message, finish = {"role": "assistant", "content": value}, "stop"
            self._json(
                handler,
                {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "created": 1_700_000_000 + n,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
            return
        base = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
        if kind == "tool":
            args = json.dumps(value)
            half = len(args) // 2
            events.append(
                (
                    None,
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call_id,
                                    "type": "function",
                                    "function": {"name": tool_name, "arguments": args[:half]},
                                }
                            ]
                        }
                    ),
                )
            )
            events.append(
                (
                    None,
                    chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[half:]}}]}),
                )
            )
            events.append((None, chunk({}, "tool_calls")))
        else:
            for word in str(value).split(" "):
                events.append((None, chunk({"content": word + " "})))
            events.append((None, chunk({}, "stop")))
        events.append((None, {**base, "choices": [], "usage": usage}))
        events.append((None, "[DONE]"))
        self._sse(handler, events)

    # -- Anthropic messages --------------------------------------------------------------------

    def _anthropic(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], n: int) -> None:
        model = body.get("model", "claude-test")
        messages = list(body.get("messages") or [])
        if body.get("system"):
            messages.insert(0, {"role": "system", "content": body["system"]})
        kind, value = self._decide(messages, body.get("tools") or [], n)
        usage = {"input_tokens": 20 + n % 5, "output_tokens": 8 + n % 4}
        tool_name = (body.get("tools") or [{}])[0].get("name", "tool")
        if kind == "tool":
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{n}",
                "name": tool_name,
                "input": value,
            }
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": value}, "end_turn"
        message = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            self._json(handler, message)
            return
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        if kind == "tool":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {**block, "input": {}},
                    },
                )
            )
            args = json.dumps(value)
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                )
        else:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            for word in str(value).split(" "):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": word + " "},
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        self._sse(handler, events)
