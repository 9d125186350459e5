"""The small support agent (agent, tool, retrieval, model call in one conversation) whose spans
the backend tests read: as OpenTelemetry's console exporter prints them, and as Arize Phoenix
stores them (tests/interop)."""

from __future__ import annotations

SESSION_ID = "session-7"
USER_ID = "user-3"

SUPPORT_APP = f"""
import fluxloop

@fluxloop.tool(description="Find an order")
def lookup(order: int) -> dict:
    return {{"order": order, "status": "packed"}}

@fluxloop.retrieval(data_source="kb")
def search(query: str) -> list:
    return [{{"page_content": "Orders ship in 2 days", "metadata": {{"id": "doc-1"}}, "score": 0.9}}]

@fluxloop.prompt(model="gpt-4o-mini")
def answer(question: str) -> dict:
    return {{"content": "It ships tomorrow.", "usage": {{"input_tokens": 12, "output_tokens": 5}}}}

@fluxloop.agent(name="support")
def agent(message: str) -> str:
    lookup(42)
    search(message)
    return answer(message)["content"]

with fluxloop.instrument("conversation", session_id={SESSION_ID!r}, user_id={USER_ID!r}):
    agent("where is my order?")
assert fluxloop.flush()
"""
