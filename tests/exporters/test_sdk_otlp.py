"""The SDK end to end over OTLP: decorated code → official OTLP exporters → a real Rotel receiver,
over HTTP and gRPC, and across an outage that spans two processes (the spool is re-sent)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Rotel

APP = """
import sys, time
import fluxloop

fluxloop.configure(storage="otlp", collector_url=sys.argv[1], otlp_protocol=sys.argv[2],
                   base_path=sys.argv[3], api_key="sk-test-0123456789abcdef")

@fluxloop.tool(description="Look up an order")
def lookup(order_id: int) -> dict:
    return {"order": order_id, "status": "packed"}

@fluxloop.prompt(model="gpt-4o-mini")
def complete(question: str) -> dict:
    return {"content": "packed", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}

@fluxloop.agent(name=sys.argv[4])
def run(question: str) -> str:
    lookup(42)
    return complete(question)["content"]

started = time.perf_counter()
run("where is my order? my key is sk-abcdefghijklmnopqrstuvwxyz123456")
print(f"{time.perf_counter() - started:.3f}")
"""


def run_app(
    tmp_path: Path, endpoint: str, protocol: str, agent: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXLOOP_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, str(script), endpoint, protocol, str(tmp_path / "traces"), agent],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_decorated_spans_arrive_with_genai_attributes(
    protocol: str, rotel: Rotel, tmp_path: Path
) -> None:
    endpoint = rotel.http_endpoint if protocol == "http/protobuf" else rotel.grpc_endpoint
    result = run_app(tmp_path, endpoint, protocol, f"Support-{protocol}")
    assert result.returncode == 0, result.stderr
    log = rotel.wait_for(
        "Name           : invoke_agent Support-",
        f"gen_ai.agent.name: Str(Support-{protocol})",
        "gen_ai.operation.name: Str(execute_tool)",
        "gen_ai.tool.name: Str(lookup)",
        "Name           : chat gpt-4o-mini",
        "gen_ai.provider.name: Str(openai)",
        "gen_ai.usage.input_tokens: Int(12)",
        "gen_ai.usage.output_tokens: Int(3)",
        # content is checked (masked, bounded) before it leaves: text, never raw bytes
        'gen_ai.tool.call.arguments: Str({"order_id":42})',
        'gen_ai.tool.call.result: Str({"order":42,"status":"packed"})',
        'fluxloop.input: Str({"question":"where is my order? my key is sk-***"})',
    )
    assert "sk-test-0123456789abcdef" not in log
    assert "sk-abcdefghijklmnopqrstuvwxyz123456" not in log
    assert "Bytes(" not in log


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_spans_emitted_while_the_receiver_is_down_arrive_after_restart(
    protocol: str, rotel_factory: Callable[..., Rotel], tmp_path: Path
) -> None:
    rotel = rotel_factory()
    endpoint = rotel.http_endpoint if protocol == "http/protobuf" else rotel.grpc_endpoint
    rotel.stop()
    started = time.perf_counter()
    down = run_app(tmp_path, endpoint, protocol, "WhileDown")
    assert down.returncode == 0, down.stderr
    assert float(down.stdout.strip()) < 0.5  # the traced call never waited on the network
    assert time.perf_counter() - started < 30
    assert any((tmp_path / "traces" / ".spool").rglob("*.jsonl")), "nothing spooled"
    rotel.start()  # same ports
    up = run_app(tmp_path, endpoint, protocol, "AfterRestart")  # a new process re-sends the spool
    assert up.returncode == 0, up.stderr
    log = rotel.wait_for("Str(WhileDown)", "Str(AfterRestart)", timeout=30)
    assert log.count("gen_ai.agent.name: Str(WhileDown)") == 1


def test_standard_otel_variables_alone_configure_otlp_export(rotel: Rotel, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(
        "import fluxloop\n"
        "@fluxloop.agent(name='EnvOnly')\n"
        "def run(q: str) -> str:\n"
        "    return q\n"
        "run('hi')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXLOOP_", "OTEL_"))}
    env.update(
        FLUXLOOP_STORAGE="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=rotel.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_SERVICE_NAME="env-only-service",
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rotel.wait_for("gen_ai.agent.name: Str(EnvOnly)", "env-only-service")
