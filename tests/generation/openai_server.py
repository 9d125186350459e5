"""A tiny OpenAI-compatible chat-completions server for tests (stdlib only, 127.0.0.1).

Replies are derived from the prompt (``Base input:``, ``Strategy:``, ``Persona:`` lines), so
concurrent requests get distinct, checkable variations. ``script`` holds behaviours consumed
in order by matching requests: ``("429", seconds)``, ``("500",)``, ``("401",)``,
``("malformed", text)``, ``("content", text)``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


@dataclass
class Request:
    at: float
    body: dict[str, Any]
    headers: dict[str, str]
    status: int

    @property
    def user(self) -> str:
        return "\n".join(
            _text(m.get("content"))
            for m in self.body.get("messages", [])
            if m.get("role") == "user"
        )


@dataclass
class Rule:
    match: Callable[[str], bool]
    actions: list[tuple[Any, ...]]


@dataclass
class FakeOpenAI:
    rules: list[Rule] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    delay: float = 0.0
    inflight: int = 0
    max_inflight: int = 0

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def on(self, match: Callable[[str], bool] | str, *actions: tuple[Any, ...]) -> None:
        test = (lambda text: match in text) if isinstance(match, str) else match
        self.rules.append(Rule(test, list(actions)))

    def next_action(self, prompt: str) -> tuple[Any, ...] | None:
        with self.lock:
            for rule in self.rules:
                if rule.actions and rule.match(prompt):
                    return rule.actions.pop(0)
        return None


def answer_for(prompt: str) -> str:
    """A valid reply for a generation prompt, or a supervisor decision."""
    base = re.search(r"Base input:\n(.*)\n", prompt)
    strategy = re.search(r"Strategy: (\S+)", prompt)
    persona = re.search(r"Persona: (\S+)", prompt)
    count = re.search(r"Write (\d+) distinct", prompt)
    if base and strategy:
        n = int(count.group(1)) if count else 1
        who = persona.group(1) if persona else "nobody"
        items = [f"{strategy.group(1)} #{i} of {base.group(1)} by {who}" for i in range(n)]
        return json.dumps({"variations": items})
    return json.dumps({"decision": "terminate", "goal_met": True, "termination_reason": "done"})


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


def _handler(state: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            anthropic = self.path.endswith("/v1/messages")
            if not self.path.endswith("/chat/completions") and not anthropic:
                self._send(404, {"error": {"message": "not found"}})
                return
            messages = body.get("messages", [])
            prompt = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
            with state.lock:
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                state.inflight -= 1
            action = state.next_action(prompt)
            status = 200
            headers: dict[str, str] = {}
            content = answer_for(prompt)
            if action is not None:
                kind = action[0]
                if kind == "429":
                    status, headers = 429, {"Retry-After": str(action[1])}
                elif kind in ("500", "401"):
                    status = int(kind)
                elif kind in ("malformed", "content"):
                    content = action[1]
            with state.lock:
                state.requests.append(
                    Request(
                        time.monotonic(),
                        body,
                        {k.lower(): v for k, v in self.headers.items()},
                        status,
                    )
                )
            if status != 200:
                error = {"message": f"status {status}", "type": "test", "code": str(status)}
                self._send(status, {"error": error}, headers)
                return
            if anthropic:
                self._send(
                    200,
                    {
                        "id": f"msg_{len(state.requests)}",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", "test-model"),
                        "content": [{"type": "text", "text": content}],
                        "stop_reason": "end_turn",
                        "stop_sequence": None,
                        "usage": {"input_tokens": 11, "output_tokens": 7},
                    },
                )
                return
            self._send(
                200,
                {
                    "id": f"chatcmpl-{len(state.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "test-model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": USAGE,
                },
            )

    return Handler


def start() -> FakeOpenAI:
    state = FakeOpenAI()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state


def stop(state: FakeOpenAI) -> None:
    if state.server is not None:
        state.server.shutdown()
        state.server.server_close()
