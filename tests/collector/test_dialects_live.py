"""Live: the real OpenInference LangChain instrumentation (langchain-core fake chat models, no
network) exporting OTLP/HTTP to a `fluxloop collector serve` started here; the collector's
records carry what the dialect table maps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import start_collector
from .test_dialects import PAYLOADS

pytestmark = pytest.mark.interop

SCENARIO = PAYLOADS.parent / "scenarios" / "scenario_openinference.py"


def test_openinference_langchain_into_the_collector(tmp_path: Path) -> None:
    collector = start_collector(tmp_path / "out")
    try:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.url}/v1/traces",
            "OTEL_SERVICE_NAME": "live-openinference",
        }
        done = subprocess.run(
            [sys.executable, str(SCENARIO)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        observations = {o["name"]: o for o in collector.observations()}
        traces = {t["name"]: t for t in collector.traces()}
    finally:
        assert collector.stop() == 0
    assert observations["lookup_order"]["type"] == "tool"
    assert observations["lookup_order"]["output"] == {"order_id": 42, "status": "packed"}
    llm = observations["GenericFakeChatModel"]
    assert llm["type"] == "generation" and llm["total_tokens"] == 30
    assert llm["output"][0]["content"] == "Order 42 is packed and ships tomorrow."
    agent = traces["support_agent"]
    assert agent["session_id"] == "session-oi" and agent["user_id"] == "user-oi"
    assert agent["tags"] == ["support", "golden"]
    assert agent["resource"]["service.name"] == "live-openinference"
    assert agent["scope"]["name"] == "openinference.instrumentation.langchain"
    assert traces["cancel_agent"]["status"] == "error"
    assert observations["cancel_order"]["error"] == "order 42 already shipped"
