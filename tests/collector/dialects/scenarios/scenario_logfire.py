"""Pydantic Logfire instrumenting a pydantic-ai agent (TestModel: no network), OTLP to the server."""

import logfire
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

logfire.configure(send_to_logfire=False, service_name="logfire-capture", console=False)
logfire.instrument_pydantic_ai()

agent = Agent(
    TestModel(custom_output_text="Order 42 is packed."),
    name="support_agent",
    instructions="You are a support bot.",
)


@agent.tool_plain
def lookup_order(order_id: int) -> dict:
    """Find an order by id."""
    return {"order_id": order_id, "status": "packed"}


with logfire.span("handle request {channel}", channel="web"):
    agent.run_sync("Where is my order?")
agent.run_sync("And order 7?")  # an agent run as the root span
logfire.force_flush()
logfire.shutdown()
