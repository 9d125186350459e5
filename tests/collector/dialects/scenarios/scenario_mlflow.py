"""MLflow tracing (mlflow-tracing) exporting over OTLP: @mlflow.trace with span types."""

import mlflow
from mlflow.entities import SpanType


@mlflow.trace(span_type=SpanType.TOOL)
def lookup_order(order_id: int) -> dict:
    return {"order_id": order_id, "status": "packed"}


def chat(messages: list) -> dict:
    with mlflow.start_span(name="chat gpt-4o-mini", span_type=SpanType.CHAT_MODEL) as span:
        span.set_inputs({"messages": messages, "model": "gpt-4o-mini"})
        answer = {"role": "assistant", "content": "Order 42 is packed."}
        span.set_attribute(
            "mlflow.chat.tokenUsage", {"input_tokens": 21, "output_tokens": 9, "total_tokens": 30}
        )
        span.set_outputs(answer)
    return answer


@mlflow.trace(span_type=SpanType.AGENT)
def support_agent(question: str) -> str:
    order = lookup_order(42)
    return chat([{"role": "user", "content": f"{question} {order}"}])["content"]


@mlflow.trace(span_type=SpanType.TOOL)
def cancel_order(order_id: int) -> str:
    raise ValueError(f"order {order_id} already shipped")


support_agent("Where is my order?")
try:
    cancel_order(42)
except ValueError:
    pass

# MLflow's OTLP processor batches; flush its isolated provider before exiting
from mlflow.tracing.provider import provider  # noqa: E402

provider.get().force_flush()
