"""The SDK side: ``fluxloop.configure(storage="http", ...)`` / FLUXLOOP_* variables ship to the
collector; ``check_health`` reports it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from fluxloop.collector import check_health

from .conftest import Collector, free_port

AGENT = textwrap.dedent(
    """
    import sys
    import fluxloop

    if sys.argv[1] == "explicit":
        fluxloop.configure(
            storage="http", collector_url=sys.argv[2], api_key=sys.argv[3], base_path=sys.argv[4]
        )

    @fluxloop.tool(name="shout")
    def shout(text: str) -> str:
        return text.upper()

    @fluxloop.prompt(model="gpt-4o-mini", provider="openai")
    def chat(text: str) -> dict:
        return {"content": text, "usage": {"prompt_tokens": 5, "completion_tokens": 7}}

    @fluxloop.agent(name="support")
    def support(question: str) -> str:
        return shout(chat(question)["content"])

    print(support(sys.argv[5]))
    assert fluxloop.flush(10)
    fluxloop.shutdown()
    """
)


def _run_agent(
    tmp_path: Path, mode: str, collector: Collector, question: str, env: dict[str, str]
) -> None:
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    args = [mode, collector.url, collector.api_key or "", str(tmp_path / "sdk"), question]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXLOOP_", "OTEL_"))}
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**clean, **env},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == question.upper()


def _assert_agent_trace(collector: Collector, question: str) -> None:
    records = [r for r in collector.observations() if r["input"] == {"question": question}]
    [agent] = [r for r in records if r["type"] == "agent"]
    children = [r for r in collector.observations() if r["parent_observation_id"] == agent["id"]]
    assert {r["type"] for r in children} == {"generation", "tool"}
    [generation] = [r for r in children if r["type"] == "generation"]
    assert generation["model"] == "gpt-4o-mini" and generation["total_tokens"] == 12
    [trace] = [t for t in collector.traces() if t["id"] == agent["trace_id"]]
    assert trace["name"] == "support" and trace["status"] == "success"


def test_configure_storage_http_sends_to_the_collector(
    tmp_path: Path, collector_factory: Callable[..., Collector]
) -> None:
    collector = collector_factory(api_key="sdk-key", grpc_port=0)
    _run_agent(tmp_path, "explicit", collector, "hello there", {})
    _assert_agent_trace(collector, "hello there")
    health = collector.health()
    assert health["spans_received"] == 3


def test_environment_variables_send_to_the_collector(
    tmp_path: Path, collector_factory: Callable[..., Collector]
) -> None:
    collector = collector_factory(api_key="env-key", grpc_port=0)
    env = {
        "FLUXLOOP_STORAGE": "http",
        "FLUXLOOP_COLLECTOR_URL": collector.url,
        "FLUXLOOP_API_KEY": "env-key",
        "FLUXLOOP_BASE_PATH": str(tmp_path / "sdk"),
    }
    _run_agent(tmp_path, "env", collector, "from env", env)
    _assert_agent_trace(collector, "from env")


def test_check_health(collector_factory: Callable[..., Collector]) -> None:
    collector = collector_factory(api_key="k", grpc_port=0)
    health = check_health(collector.url, api_key="k")
    assert health["status"] == "ok" and health["url"] == collector.url
    assert health["auth_required"] is True and health["latency_ms"] >= 0
    assert "version" in health and "spans_received" in health and "uptime_seconds" in health
    assert check_health(collector.url + "/v1/traces/")["status"] == "ok"  # no key: still open
    wrong = check_health(collector.url, api_key="wrong")
    assert wrong["status"] == "unauthorized" and "401" in wrong["error"]
    down = check_health(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert down["status"] == "unreachable" and down["error"]
    assert check_health("localhost:8000")["status"] == "error"
