"""A WebSocket-style message handler (the seeds' "Mode 2": complex methods with argument replay).

The entry point is not ``f(text) -> text``: a WebSocket server calls

    await MessageHandler().handle_message(
        connection_id, data, user_connection, send_message_callback, send_error_callback
    )

for every incoming message, and the handler answers through the callbacks. FluxLoop cannot
invent such arguments, so they are *recorded* once in staging (``staging.py`` turns recording
on; ``fluxloop.record_call_args`` below appends the real kwargs, callbacks as markers, secrets
masked) and *replayed* by ``fluxloop run experiment`` with generated content at
``data.content`` (see ``setting.yaml``): the callbacks are replaced by collectors and what they
receive becomes each run's output.

``record_call_args`` is a no-op unless recording is on (``configure(record_args=True)`` or
``FLUXLOOP_RECORD_ARGS=true``), and it never records the calls an experiment replays.

Pluto Duck answers questions about a small sales dataset (an offline stand-in for DuckDB and
an LLM), streaming its reply in chunks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import fluxloop

TARGET = "examples.pluto_duck.message_handler:MessageHandler.handle_message"

SALES = {
    "2024-Q1": {"revenue": 1_240_000, "orders": 8_210, "top_region": "EMEA"},
    "2024-Q2": {"revenue": 1_410_000, "orders": 9_005, "top_region": "APAC"},
    "2024-Q3": {"revenue": 1_385_000, "orders": 8_870, "top_region": "NA"},
    "2024-Q4": {"revenue": 1_690_000, "orders": 10_420, "top_region": "NA"},
}


@fluxloop.tool(description="Query the sales dataset (a stand-in for DuckDB)")
def query_sales(question: str) -> dict[str, Any]:
    wanted = [q for q in SALES if q.split("-")[1].lower() in question.lower()]
    rows = {q: SALES[q] for q in (wanted or list(SALES))}
    return {"sql": f"SELECT * FROM sales WHERE quarter IN ({', '.join(rows)})", "rows": rows}


@fluxloop.prompt(model="pluto-duck-1", provider="fluxloop-example")
def write_answer(question: str, rows: dict[str, Any], locale: str) -> dict[str, Any]:
    """Stands in for an LLM call; returns an OpenAI-style dict with token usage."""
    if re.search(r"\b(hi|hello|hey)\b", question.lower()) and len(question.split()) < 4:
        text = "Quack! Ask me about revenue, orders or regions."
    else:
        parts = [
            f"{quarter}: revenue ${row['revenue']:,}, {row['orders']:,} orders, top region "
            f"{row['top_region']}."
            for quarter, row in rows.items()
        ]
        best = max(rows, key=lambda q: rows[q]["revenue"])
        text = " ".join(parts) + f" Best quarter: {best}."
    if locale.startswith("ko"):
        text = "요약: " + text
    return {
        "content": text,
        "usage": {
            "prompt_tokens": 40 + len(question.split()),
            "completion_tokens": len(text.split()),
        },
    }


class MessageHandler:
    """Handles one WebSocket message; replies through the callbacks."""

    @fluxloop.agent(name="PlutoDuck")
    async def handle_message(
        self,
        connection_id: str,
        data: dict[str, Any],
        user_connection: dict[str, Any],
        send_message_callback: Callable[..., Any],
        send_error_callback: Callable[..., Any],
    ) -> None:
        # Record all arguments (a no-op unless recording is on; see staging.py)
        fluxloop.record_call_args(
            target=TARGET,
            connection_id=connection_id,
            data=data,
            user_connection=user_connection,
            send_message_callback=send_message_callback,
            send_error_callback=send_error_callback,
        )
        conversation = data.get("conversationId")
        content = str(data.get("content") or "").strip()
        if not user_connection.get("user_id") or not user_connection.get("token"):
            await send_error_callback(
                {"type": "error", "code": "unauthenticated", "conversationId": conversation}
            )
            return
        if not content:
            await send_error_callback(
                {"type": "error", "code": "empty_message", "conversationId": conversation}
            )
            return
        result = query_sales(content)
        answer = write_answer(content, result["rows"], str(user_connection.get("locale", "en")))
        # stream the reply sentence by sentence, as a WebSocket server would
        for chunk in re.findall(r"[^.!?]+[.!?]?\s*", str(answer["content"])):
            await send_message_callback(
                {"type": "stream", "conversationId": conversation, "delta": chunk}
            )
