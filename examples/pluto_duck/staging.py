"""Staging traffic for Pluto Duck, recorded for replay (the seeds' "Step 1: Record Arguments").

    python examples/pluto_duck/staging.py                      # -> /tmp/pluto_args.jsonl
    python examples/pluto_duck/staging.py --output recordings/pluto_args.jsonl

A fake WebSocket server delivers a few user messages to ``MessageHandler.handle_message`` with
recording on, so each call's real keyword arguments are appended to the recording file (the
callbacks become ``"<callable:...>"`` markers, the session token is masked). Copy the file into
the project's ``recordings/`` (the seeds: ``scp staging:/tmp/pluto_args.jsonl ./recordings/``),
then ``fluxloop generate inputs --from-recording`` and ``fluxloop run experiment``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `examples.pluto_duck` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import fluxloop
from examples.pluto_duck.message_handler import MessageHandler

MESSAGES = [
    ("conv-1", "What was our revenue in Q4?"),
    ("conv-1", "And how many orders in Q2?"),
    ("conv-2", "Which region led sales in Q3?"),
]


class FakeWebSocket:
    """One client connection: what the server would send back over the socket."""

    def __init__(self, connection_id: str) -> None:
        self.connection_id = connection_id
        self.sent: list[dict[str, Any]] = []

    async def send_message(self, payload: dict[str, Any]) -> None:
        self.sent.append(payload)

    async def send_error(self, payload: dict[str, Any]) -> None:
        self.sent.append(payload)


async def serve(count: int) -> list[str]:
    handler = MessageHandler()
    replies = []
    for i in range(count):
        conversation, content = MESSAGES[i % len(MESSAGES)]
        socket = FakeWebSocket(f"ws-{i}")
        await handler.handle_message(
            connection_id=socket.connection_id,
            data={
                "type": "message",
                "content": content,
                "conversationId": conversation,
                "messageId": str(uuid.uuid4()),
            },
            user_connection={
                "user_id": "u-42",
                "token": "pd_live_" + uuid.uuid4().hex,
                "plan": "pro",
                "locale": "en-US",
            },
            send_message_callback=socket.send_message,
            send_error_callback=socket.send_error,
        )
        replies.append("".join(str(p.get("delta", p)) for p in socket.sent))
    return replies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="/tmp/pluto_args.jsonl", help="recording file")
    parser.add_argument("--messages", type=int, default=3, help="messages to deliver")
    args = parser.parse_args(argv)

    # Reset configuration (handy in tests) and enable recording
    fluxloop.reset_config()
    fluxloop.configure(record_args=True, recording_file=args.output)
    for reply in asyncio.run(serve(args.messages)):
        print(reply)
    fluxloop.flush()
    print(f"Recorded {args.messages} call(s) to {Path(args.output).resolve()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
