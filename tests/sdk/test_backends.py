"""Content where OTLP backends look: what the export-thread hook adds to FluxLoop's spans, read
back from real SDK spans written by FluxLoop's decorators and exported through the console
exporter (a non-JSONL exporter, so the hook runs) into a file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fluxloop.sdk._backends import backend_attributes
from tests.cli_process import clean_env
from tests.support_app import SESSION_ID, SUPPORT_APP, USER_ID


def exported_spans(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run SUPPORT_APP with OTEL_TRACES_EXPORTER=console; the spans it printed, by name."""
    app = tmp_path / "app.py"
    app.write_text(SUPPORT_APP)
    env = clean_env({"OTEL_TRACES_EXPORTER": "console", **(extra or {})})
    done = subprocess.run(
        [sys.executable, str(app)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    decoder = json.JSONDecoder()
    spans: dict[str, Any] = {}
    text, index = done.stdout, 0
    while (start := text.find("{", index)) != -1:
        span, index = decoder.raw_decode(text, start)
        spans[span["name"]] = span["attributes"]
    return spans


def test_genai_content_session_and_root_kind_reach_the_exported_spans(tmp_path: Path) -> None:
    spans = exported_spans(tmp_path)
    agent = spans["invoke_agent support"]
    assert json.loads(agent["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "where is my order?"}]}
    ]
    assert json.loads(agent["gen_ai.output.messages"])[0]["parts"][0]["content"] == (
        "It ships tomorrow."
    )
    chat = spans["chat gpt-4o-mini"]
    output = json.loads(chat["gen_ai.output.messages"])  # the README's {"content", "usage"} @prompt
    assert output[0]["role"] == "assistant"
    assert output[0]["parts"] == [{"type": "text", "content": "It ships tomorrow."}]
    assert chat["gen_ai.usage.input_tokens"] == 12
    tool = spans["execute_tool lookup"]
    assert json.loads(tool["gen_ai.tool.call.arguments"]) == {"order": 42}
    retrieval = spans["retrieval kb"]
    assert retrieval["gen_ai.retrieval.query.text"] == "where is my order?"
    documents = json.loads(retrieval["gen_ai.retrieval.documents"])
    assert documents == [{"id": "doc-1", "content": "Orders ship in 2 days", "score": 0.9}]
    root = spans["conversation"]
    assert (root["session.id"], root["user.id"]) == (SESSION_ID, USER_ID)
    assert root["gen_ai.operation.name"] == "invoke_workflow"
    assert root["gen_ai.workflow.name"] == "conversation"
    assert root["openinference.span.kind"] == "CHAIN"  # the one kind backends lack for it
    assert not any(k.startswith(("llm.", "input.value")) for k in root)
    assert not any(k.startswith("openinference.") for k in agent)


def test_openinference_extras_on_request(tmp_path: Path) -> None:
    spans = exported_spans(tmp_path, {"FLUXLOOP_EXTRA_ATTRIBUTES": "openinference"})
    kinds = {name: attrs["openinference.span.kind"] for name, attrs in spans.items()}
    assert kinds == {
        "execute_tool lookup": "TOOL",
        "retrieval kb": "RETRIEVER",
        "chat gpt-4o-mini": "LLM",
        "invoke_agent support": "AGENT",
        "conversation": "CHAIN",
    }
    chat = spans["chat gpt-4o-mini"]
    assert chat["llm.model_name"] == "gpt-4o-mini"
    assert chat["llm.provider"] == "openai"
    assert (chat["llm.token_count.prompt"], chat["llm.token_count.completion"]) == (12, 5)
    assert chat["llm.token_count.total"] == 17
    assert chat["llm.output_messages.0.message.role"] == "assistant"
    assert chat["llm.output_messages.0.message.content"] == "It ships tomorrow."
    assert chat["input.mime_type"] == "application/json"
    tool = spans["execute_tool lookup"]
    assert json.loads(tool["input.value"]) == {"order": 42}
    assert tool["tool.name"] == "lookup" and tool["tool.description"] == "Find an order"
    retrieval = spans["retrieval kb"]
    assert retrieval["retrieval.documents.0.document.content"] == "Orders ship in 2 days"
    assert retrieval["retrieval.documents.0.document.id"] == "doc-1"
    agent = spans["invoke_agent support"]
    assert agent["output.value"] == '"It ships tomorrow."'


def test_secrets_stay_masked_in_derived_attributes() -> None:
    masked = json.dumps({"message": "hi", "api_key": "***"})  # as the SDK recorded the input
    extra = backend_attributes(
        {"gen_ai.operation.name": "invoke_agent", "fluxloop.input": masked}, openinference=True
    )
    assert "sk-" not in json.dumps(extra)
    assert extra["input.value"] == masked


def test_the_span_own_attributes_win_and_foreign_spans_are_left_alone() -> None:
    attrs = {
        "gen_ai.operation.name": "chat",
        "fluxloop.output": '"x"',
        "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
    }
    assert "gen_ai.output.messages" not in backend_attributes(attrs)
    assert backend_attributes({"http.request.method": "GET"}) == {}
