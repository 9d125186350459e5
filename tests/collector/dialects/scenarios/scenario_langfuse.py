"""Langfuse's OpenTelemetry-based SDK: @observe, typed observations, propagated trace attributes."""

import os

from langfuse import Langfuse, observe, propagate_attributes

langfuse = Langfuse(
    public_key="pk-lf-capture", secret_key="sk-lf-capture", base_url=os.environ["CAPTURE_URL"]
)


@observe(as_type="tool", name="lookup_order")
def lookup_order(order_id: int) -> dict:
    return {"order_id": order_id, "status": "packed"}


@observe(as_type="agent", name="support_agent")
def support_agent(question: str) -> str:
    order = lookup_order(42)
    with langfuse.start_as_current_observation(
        name="chat gpt-4o-mini",
        as_type="generation",
        model="gpt-4o-mini",
        input=[{"role": "user", "content": f"{question} {order}"}],
        model_parameters={"temperature": 0.2},
    ) as generation:
        generation.update(
            output={"role": "assistant", "content": "Order 42 is packed."},
            usage_details={"input": 21, "output": 9},
        )
    return "Order 42 is packed."


@observe(as_type="tool", name="cancel_order")
def cancel_order(order_id: int) -> str:
    raise ValueError(f"order {order_id} already shipped")


with propagate_attributes(
    session_id="session-lf",
    user_id="user-lf",
    tags=["support", "golden"],
    metadata={"channel": "web"},
    trace_name="support-trace",
):
    support_agent("Where is my order?")

try:
    cancel_order(42)
except ValueError:
    pass

with langfuse.start_as_current_observation(name="degraded", as_type="span") as span:
    span.update(level="ERROR", status_message="fallback answer used", output="sorry")

langfuse.flush()
langfuse.shutdown()
