"""OpenLLMetry / Traceloop SDK: @workflow, @task, @agent, @tool and its OpenAI instrumentation (the
OpenAI client talks to the capture server's canned /v1/chat/completions: no network), exported over
OTLP/HTTP to the capture server."""

import os

os.environ.setdefault("TRACELOOP_TELEMETRY", "false")

from openai import OpenAI
from traceloop.sdk import Traceloop
from traceloop.sdk.decorators import agent, task, tool, workflow

Traceloop.init(
    app_name="traceloop-capture",
    api_endpoint=os.environ["CAPTURE_URL"],
    disable_batch=True,
    telemetry_enabled=False,
)

client = OpenAI(api_key="sk-capture-not-a-key", base_url=os.environ["CAPTURE_URL"] + "/v1")


@tool(name="lookup_order")
def lookup_order(order_id: int) -> dict:
    return {"order_id": order_id, "status": "packed"}


@task(name="answer")
def answer(question: str, order: dict) -> str:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are a support bot."},
            {"role": "user", "content": f"{question} {order}"},
        ],
    )
    return reply.choices[0].message.content or ""


@agent(name="support_agent")
def support_agent(question: str) -> str:
    return answer(question, lookup_order(42))


@workflow(name="support_workflow")
def support_workflow(question: str) -> str:
    Traceloop.set_association_properties({"session_id": "session-tl", "user_id": "user-tl"})
    return support_agent(question)


support_workflow("Where is my order?")
