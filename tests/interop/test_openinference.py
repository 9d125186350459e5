"""Live: the real OpenInference LangChain instrumentation (langchain-core fake chat models, no
network) exporting OTLP/HTTP to a `fluxloop collector serve` started here; the collector's
records carry what the dialect table maps (type, input, output, tokens, session, user, tags,
resource, scope, errors).

``openinference-instrumentation-langchain`` is installed in its own virtual environment
(``.venv-openinference`` at the repository root, made on first use) so that its
``opentelemetry_instrumentor`` entry point never reaches the project's environment. The
instrumented program is the golden-payload scenario ``tests/collector/dialects/scenarios/
scenario_openinference.py``. Run with ``make test-interop``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import clean_env
from tests.collector.conftest import start_collector

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("FLUXLOOP_OPENINFERENCE_VENV", REPO / ".venv-openinference"))
REQUIREMENTS = [
    "openinference-instrumentation-langchain",
    "langchain-core",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
]
SCENARIO = REPO / "tests" / "collector" / "dialects" / "scenarios" / "scenario_openinference.py"


def venv_python() -> Path:
    """Python of the OpenInference venv, installed with pip on first use."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *REQUIREMENTS], check=True, timeout=1800)
    return python


def test_openinference_langchain_into_the_collector(tmp_path: Path) -> None:
    python = venv_python()
    collector = start_collector(tmp_path / "out")
    try:
        env = clean_env(
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.url}/v1/traces",
                "OTEL_SERVICE_NAME": "live-openinference",
            }
        )
        done = subprocess.run(
            [str(python), str(SCENARIO)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
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
