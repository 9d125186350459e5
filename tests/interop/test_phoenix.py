"""FluxLoop's spans in a real Arize Phoenix: kinds, inputs, outputs, models, tokens, sessions.

``arize-phoenix`` is installed in its own virtual environment (``.venv-phoenix`` at the
repository root, made on first use: several minutes), ``phoenix serve`` runs bound to 127.0.0.1
on free ports with telemetry off and a temporary working directory, FluxLoop exports to it over
OTLP/HTTP, and the spans are read back over Phoenix's REST API (``/v1/projects/{name}/spans``).

Run with ``make test-interop`` (or ``pytest -m interop tests/interop``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import clean_env
from tests.support_app import SESSION_ID, SUPPORT_APP, USER_ID

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parents[2]
PHOENIX_VENV = Path(os.environ.get("FLUXLOOP_PHOENIX_VENV", REPO / ".venv-phoenix"))
PHOENIX_REQUIREMENT = "arize-phoenix==20.26.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def phoenix_executable() -> Path:
    """``phoenix`` in its own venv, installed with pip on first use."""
    executable = PHOENIX_VENV / "bin" / "phoenix"
    if executable.exists():
        return executable
    subprocess.run([sys.executable, "-m", "venv", str(PHOENIX_VENV)], check=True, timeout=300)
    pip = [str(PHOENIX_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, PHOENIX_REQUIREMENT], check=True, timeout=1800)
    return executable


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = phoenix_executable()
    work = tmp_path_factory.mktemp("phoenix")
    port = free_port()
    env = {
        **clean_env(),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(free_port()),
        "PHOENIX_WORKING_DIR": str(work),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [str(executable), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"phoenix serve exited: {(work / 'serve.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("phoenix serve did not answer within 300 s")
                time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def export_to(phoenix: str, project: str, tmp_path: Path, extra: dict[str, str]) -> None:
    app = tmp_path / "app.py"
    app.write_text(SUPPORT_APP)
    env = clean_env(
        {
            "FLUXLOOP_STORAGE": "otlp",
            "FLUXLOOP_COLLECTOR_URL": phoenix,
            "FLUXLOOP_BASE_PATH": str(tmp_path / "traces"),
            "OTEL_METRICS_EXPORTER": "none",  # Phoenix takes traces only
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
            **extra,
        }
    )
    done = subprocess.run(
        [sys.executable, str(app)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def spans_of(phoenix: str, project: str, count: int) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        try:
            data = get_json(f"{phoenix}/v1/projects/{project}/spans?limit=100")["data"]
        except OSError:
            data = []
        if len(data) >= count or time.monotonic() > deadline:
            return {span["name"]: span for span in data}
        time.sleep(0.5)


def test_default_export_shows_kinds_models_tokens_and_sessions(
    phoenix: str, tmp_path: Path
) -> None:
    export_to(phoenix, "fluxloop-default", tmp_path, {})
    spans = spans_of(phoenix, "fluxloop-default", 5)
    kinds = {name: span["span_kind"] for name, span in spans.items()}
    assert kinds == {
        "conversation": "CHAIN",
        "invoke_agent support": "AGENT",
        "execute_tool lookup": "TOOL",
        "retrieval kb": "RETRIEVER",
        "chat gpt-4o-mini": "LLM",
    }
    chat = spans["chat gpt-4o-mini"]["attributes"]
    assert chat["llm.model_name"] == "gpt-4o-mini"
    assert (chat["llm.token_count.prompt"], chat["llm.token_count.completion"]) == (12, 5)
    assert chat["llm.output_messages.0.message.content"] == "It ships tomorrow."
    retriever = spans["retrieval kb"]["attributes"]
    assert retriever["input.value"] == "where is my order?"
    assert retriever["retrieval.documents.0.document.content"] == "Orders ship in 2 days"
    tool = spans["execute_tool lookup"]["attributes"]
    assert json.loads(tool["output.value"]) == {"order": 42, "status": "packed"}
    agent = spans["invoke_agent support"]["attributes"]
    assert agent["llm.input_messages.0.message.content"] == "where is my order?"
    root = spans["conversation"]["attributes"]
    assert (root["session.id"], root["user.id"]) == (SESSION_ID, USER_ID)


def test_openinference_extras_show_input_and_output_on_every_span(
    phoenix: str, tmp_path: Path
) -> None:
    export_to(phoenix, "fluxloop-oi", tmp_path, {"FLUXLOOP_EXTRA_ATTRIBUTES": "openinference"})
    spans = spans_of(phoenix, "fluxloop-oi", 5)
    assert len(spans) == 5
    for name, span in spans.items():
        if name == "conversation":  # fluxloop.instrument() records no input or output
            continue
        attributes = span["attributes"]
        assert attributes.get("input.value"), f"{name}: no input"
        assert attributes.get("output.value"), f"{name}: no output"
    agent = spans["invoke_agent support"]
    assert agent["span_kind"] == "AGENT"
    assert json.loads(agent["attributes"]["input.value"]) == {"message": "where is my order?"}
    assert agent["attributes"]["output.value"] == '"It ships tomorrow."'
    chat = spans["chat gpt-4o-mini"]["attributes"]
    assert chat["llm.token_count.total"] == 17
    assert spans["conversation"]["span_kind"] == "CHAIN"
