"""FluxLoop as an OpenTelemetry distro, under the real ``opentelemetry-instrument`` in subprocesses.

Every span exported exactly once: with and without FluxLoop decorators, with and without a
``fluxloop.configure()`` call in the application; LangChain captured with no code by the
``fluxloop_langchain`` instrumentor; the standard variables (``OTEL_TRACES_EXPORTER``,
samplers, resource attributes) honoured; the GenAI metrics written beside the spans at exit.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fluxloop.integrations.distro import (
    FluxLoopConfigurator,
    FluxLoopDistro,
    instrumentations,
)
from fluxloop.integrations.instrumentor import LangChainInstrumentor
from tests.cli_process import clean_env, fl

INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"

pytestmark = pytest.mark.skipif(
    not INSTRUMENT.exists(), reason="opentelemetry-instrument is not installed"
)

DECORATED = """
import fluxloop
{configure}

@fluxloop.tool
def lookup(order: int) -> dict:
    return {{"order": order, "status": "packed"}}

@fluxloop.prompt(model="gpt-4o-mini")
def answer(question: str) -> dict:
    return {{"content": "It ships tomorrow.", "usage": {{"input_tokens": 12, "output_tokens": 5}}}}

@fluxloop.agent(name="support")
def agent(message: str) -> str:
    lookup(42)
    return answer(message)["content"]

for i in range({runs}):
    with fluxloop.instrument("conversation", session_id="s-1", user_id="u-9"):
        agent(f"where is order {{i}}?")
"""

PLAIN = """
from opentelemetry import trace
tracer = trace.get_tracer("plain-app")
for i in range({runs}):
    with tracer.start_as_current_span("GET /orders"):
        with tracer.start_as_current_span("SELECT orders"):
            pass
"""


def run_instrumented(
    tmp_path: Path, code: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(code))
    env = clean_env(
        {
            "OTEL_PYTHON_DISTRO": "fluxloop",
            "FLUXLOOP_BASE_PATH": str(tmp_path / "traces"),
            **(extra_env or {}),
        }
    )
    done = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(app)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def records(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((tmp_path / "traces").glob(f"{kind}_*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text().splitlines())
    return rows


def assert_each_once(observations: list[dict[str, Any]], expected: int) -> None:
    counts = Counter(o["id"] for o in observations)
    assert [i for i, n in counts.items() if n > 1] == [], "spans exported more than once"
    assert len(observations) == expected


def test_entry_points_are_registered() -> None:
    def named(group: str, name: str) -> Any:
        (entry,) = [e for e in importlib.metadata.entry_points(group=group) if e.name == name]
        return entry.load()

    assert named("opentelemetry_distro", "fluxloop") is FluxLoopDistro
    assert named("opentelemetry_configurator", "fluxloop") is FluxLoopConfigurator
    assert named("opentelemetry_instrumentor", "fluxloop_langchain") is LangChainInstrumentor


@pytest.mark.parametrize("configure", ["", "fluxloop.configure(capture_content=True)"])
def test_decorated_app_exports_every_span_once(tmp_path: Path, configure: str) -> None:
    run_instrumented(tmp_path, DECORATED.format(configure=configure, runs=5))
    observations = records(tmp_path, "observations")
    # per run: the instrument() root, the agent, the tool, the prompt
    assert_each_once(observations, 20)
    assert len(records(tmp_path, "traces")) == 5
    assert {o["type"] for o in observations} == {"span", "agent", "tool", "generation"}


def test_plain_app_spans_go_through_fluxloop_once(tmp_path: Path) -> None:
    run_instrumented(tmp_path, PLAIN.format(runs=4))
    assert_each_once(records(tmp_path, "observations"), 8)
    assert len(records(tmp_path, "traces")) == 4


def test_configure_after_the_distro_reuses_its_provider(tmp_path: Path) -> None:
    code = DECORATED.format(configure="fluxloop.configure(sample_rate=1.0)", runs=2) + (
        "\nfrom opentelemetry import trace\n"
        "provider = trace.get_tracer_provider()\n"
        "print(type(provider).__name__, len(provider._active_span_processor._span_processors))\n"
    )
    done = run_instrumented(tmp_path, code)
    assert done.stdout.split()[-2:] == ["TracerProvider", "1"]  # FluxLoop's one router
    assert_each_once(records(tmp_path, "observations"), 8)


def test_standard_variables_choose_the_exporter(tmp_path: Path) -> None:
    done = run_instrumented(
        tmp_path,
        PLAIN.format(runs=1),
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"},
    )
    assert done.stdout.count('"name": "SELECT orders"') == 1
    assert not (tmp_path / "traces").exists()


def test_sampler_and_resource_variables_apply(tmp_path: Path) -> None:
    run_instrumented(
        tmp_path,
        PLAIN.format(runs=200),
        {
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.5",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=staging,team=agents",
            "OTEL_TRACES_EXPORTER": "fluxloop_jsonl",
        },
    )
    traces = records(tmp_path, "traces")
    assert 60 < len(traces) < 140, len(traces)  # about half of 200, not all of them


def test_langchain_is_captured_with_no_code(tmp_path: Path) -> None:
    code = """
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.prompts import ChatPromptTemplate

    model = GenericFakeChatModel(messages=iter([AIMessage(content="Paris")]))
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | model
    print(chain.invoke({"question": "Capital of France?"}).content)
    """
    done = run_instrumented(tmp_path, code)
    assert done.stdout.strip() == "Paris"
    observations = records(tmp_path, "observations")
    assert "generation" in {o["type"] for o in observations}
    assert_each_once(observations, len(observations))


def test_disabled_instrumentation_is_not_loaded(tmp_path: Path) -> None:
    code = """
    from fluxloop.integrations.langchain import is_langchain_instrumented
    print(is_langchain_instrumented())
    """
    done = run_instrumented(
        tmp_path, code, {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fluxloop_langchain"}
    )
    assert done.stdout.strip() == "False"
    done = run_instrumented(tmp_path, code)
    assert done.stdout.strip() == "True"


def test_metrics_are_written_at_exit(tmp_path: Path) -> None:
    run_instrumented(tmp_path, DECORATED.format(configure="", runs=3))
    metrics = records(tmp_path, "metrics")
    names = {m["name"] for m in metrics}
    assert {
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
        "gen_ai.invoke_agent.duration",
        "gen_ai.execute_tool.duration",
    } <= names
    tokens = {
        m["attributes"]["gen_ai.token.type"]: m["sum"]
        for m in metrics
        if m["name"] == "gen_ai.client.token.usage"
    }
    assert tokens == {"input": 36, "output": 15}
    duration = next(m for m in metrics if m["name"] == "gen_ai.client.operation.duration")
    assert duration["count"] == 3
    assert duration["attributes"]["gen_ai.operation.name"] == "chat"
    assert duration["attributes"]["gen_ai.provider.name"] == "openai"
    assert duration["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    assert duration["explicit_bounds"][:3] == [0.01, 0.02, 0.04]


OWN_METRICS = """
from opentelemetry import metrics

import fluxloop

# an instrumentation's (or the app's) own metrics, through the global MeterProvider
orders = metrics.get_meter("shop").create_counter("shop.orders", unit="{order}")

@fluxloop.prompt(model="gpt-4o-mini")
def answer(question: str) -> dict:
    return {"content": "ok", "usage": {"input_tokens": 3, "output_tokens": 2}}

for _ in range(4):
    orders.add(1, {"region": "eu"})
    answer("hi")
"""


def test_instrumentations_metrics_go_where_fluxloops_go(tmp_path: Path) -> None:
    run_instrumented(tmp_path, OWN_METRICS)
    metrics = records(tmp_path, "metrics")
    orders = [m for m in metrics if m["name"] == "shop.orders"]
    assert sum(m["value"] for m in orders) == 4
    assert orders[0]["attributes"] == {"region": "eu"}
    assert orders[0]["resource"]["service.name"]
    durations = [m for m in metrics if m["name"] == "gen_ai.client.operation.duration"]
    assert sum(m["count"] for m in durations) == 4  # once each: not also by FluxLoop's own path
    tokens = [m for m in metrics if m["name"] == "gen_ai.client.token.usage"]
    assert sum(m["sum"] for m in tokens) == 20


def test_no_meter_provider_when_metrics_are_off(tmp_path: Path) -> None:
    run_instrumented(tmp_path, OWN_METRICS, {"OTEL_METRICS_EXPORTER": "none"})
    assert records(tmp_path, "metrics") == []
    assert records(tmp_path, "observations")  # the spans still go


def test_instrumentations_lists_the_installed_instrumentors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = {i.name: i for i in instrumentations()}
    assert found["fluxloop_langchain"].status == "active"
    assert found["fluxloop_langchain"].distribution == "fluxloop"
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "x, fluxloop_langchain")
    assert {i.name: i for i in instrumentations()}["fluxloop_langchain"].status == "disabled"


def test_config_env_lists_instrumentations(tmp_path: Path) -> None:
    done = fl("config", "env", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("OpenTelemetry instrumentations", 1)[1].split("FluxLoop env")[0]
    row = next(line for line in section.splitlines() if "fluxloop_langchain" in line)
    assert "fluxloop" in row and "active" in row
    assert "OTEL_TRACES_EXPORTER" in done.stdout
    env = clean_env({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fluxloop_langchain"})
    done = fl("config", "env", cwd=tmp_path, env=env)
    row = next(line for line in done.stdout.splitlines() if "fluxloop_langchain" in line)
    assert "disabled" in row


def test_under_the_upstream_configurator_decorated_spans_are_written_once(
    tmp_path: Path,
) -> None:
    """opentelemetry-distro's configurator set up the provider with OTEL_TRACES_EXPORTER: it
    exports the spans; FluxLoop's decorators must not add a second exporter (they did: every
    span twice)."""
    run_instrumented(
        tmp_path,
        DECORATED.format(configure="", runs=5),
        {
            "OTEL_PYTHON_DISTRO": "distro",
            "OTEL_PYTHON_CONFIGURATOR": "configurator",
            "OTEL_TRACES_EXPORTER": "fluxloop_jsonl",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        },
    )
    assert_each_once(records(tmp_path, "observations"), 20)
