"""``OTEL_TRACES_EXPORTER=fluxloop_jsonl``: a plain OTel app, no FluxLoop import, writes the
contract through ``opentelemetry-instrument``."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fluxloop_exporters import JsonlFileSpanExporter

from .conftest import VENV_BIN

APP = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace

    tracer = trace.get_tracer("plain-app")
    with tracer.start_as_current_span("invoke_agent plain") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        with tracer.start_as_current_span("chat m") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "m")
            chat.set_attribute("gen_ai.usage.input_tokens", 5)
    # the app itself never imported FluxLoop's SDK
    assert "fluxloop" not in sys.modules, "fluxloop was imported"
    print(type(trace.get_tracer_provider()).__name__)
    """
)


def test_entry_point_is_registered() -> None:
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="opentelemetry_traces_exporter")
        if e.name == "fluxloop_jsonl"
    ]
    assert entry.load() is JsonlFileSpanExporter


def test_opentelemetry_instrument_writes_the_contract(tmp_path: Path) -> None:
    instrument = VENV_BIN / "opentelemetry-instrument"
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed")
    try:
        importlib.metadata.distribution("opentelemetry-distro")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("opentelemetry-distro (the SDK configurator) is not installed")
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "fluxloop_jsonl",
        "OTEL_METRICS_EXPORTER": "none",
        # the upstream distro and configurator, not FluxLoop's (fluxloop is installed too)
        "OTEL_PYTHON_DISTRO": "distro",
        "OTEL_PYTHON_CONFIGURATOR": "configurator",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fluxloop_langchain",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "plain-app",
        "FLUXLOOP_BASE_PATH": str(tmp_path / "traces"),
    }
    done = subprocess.run(
        [str(instrument), sys.executable, str(app)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "TracerProvider"
    (observations,) = (tmp_path / "traces").glob("observations_*.jsonl")
    (traces,) = (tmp_path / "traces").glob("traces_*.jsonl")
    obs = [json.loads(line) for line in observations.read_text().splitlines()]
    assert [(o["name"], o["type"]) for o in obs] == [
        ("chat m", "generation"),
        ("invoke_agent plain", "agent"),
    ]
    assert obs[0]["prompt_tokens"] == 5 and obs[0]["model"] == "m"
    assert obs[0]["parent_observation_id"] == obs[1]["id"]
    (trace,) = [json.loads(line) for line in traces.read_text().splitlines()]
    assert trace["id"] == obs[1]["trace_id"] and trace["name"] == "invoke_agent plain"
