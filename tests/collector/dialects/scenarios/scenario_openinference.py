"""OpenInference (openinference-instrumentation-langchain) on langchain-core fake models."""

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from openinference.instrumentation import using_attributes
from openinference.instrumentation.langchain import LangChainInstrumentor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
LangChainInstrumentor().instrument(tracer_provider=provider)


@tool
def lookup_order(order_id: int) -> dict:
    """Find an order by id."""
    return {"order_id": order_id, "status": "packed"}


@tool
def cancel_order(order_id: int) -> str:
    """Cancel an order."""
    raise ValueError(f"order {order_id} already shipped")


model = GenericFakeChatModel(
    messages=iter(
        [
            AIMessage(
                content="Order 42 is packed and ships tomorrow.",
                usage_metadata={"input_tokens": 21, "output_tokens": 9, "total_tokens": 30},
            )
        ]
    )
)
prompt = ChatPromptTemplate.from_messages(
    [("system", "You are a support bot."), ("human", "{question} (order: {order})")]
)


def support_agent(question: str) -> str:
    order = lookup_order.invoke({"order_id": 42})
    answer = (prompt | model).invoke({"question": question, "order": order})
    return answer.content


def cancel_agent(question: str) -> str:
    return cancel_order.invoke({"order_id": 42})


with using_attributes(
    session_id="session-oi",
    user_id="user-oi",
    tags=["support", "golden"],
    metadata={"channel": "web"},
):
    RunnableLambda(support_agent).with_config(run_name="support_agent").invoke("Where is my order?")
try:
    RunnableLambda(cancel_agent).with_config(run_name="cancel_agent").invoke("Cancel it")
except ValueError:
    pass
provider.shutdown()
