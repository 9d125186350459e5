"""GenAI metrics from FluxLoop's spans, in real subprocesses (the SDK's global state is the
process's): what each decorator records, with the conventions' names, buckets and attributes;
delta lines per flush; an application's own SDK MeterProvider used when there is one; OTLP
metrics to a real receiver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fluxloop_semconv.metrics import METRIC_DEFINITIONS
from opentelemetry.sdk.resources import Resource

from tests.cli_process import python

APP = """
import fluxloop
fluxloop.configure(base_path="traces")

@fluxloop.prompt(model="gpt-4o-mini")
def answer(question: str) -> dict:
    return {"content": "ok", "usage": {"input_tokens": 10, "output_tokens": 4}}

@fluxloop.prompt(model="claude-3-5-haiku")
def broken(question: str) -> str:
    raise TimeoutError("slow")

@fluxloop.embedding(model="text-embedding-3-small")
def embed(text: str) -> list:
    return [0.1, 0.2, 0.3]

@fluxloop.tool
def lookup(order: int) -> dict:
    return {"order": order}

@fluxloop.agent(name="support")
def agent(message: str) -> str:
    lookup(1)
    embed(message)
    try:
        broken(message)
    except TimeoutError:
        pass
    return answer(message)["content"]

for _ in range(3):
    agent("hi")
assert fluxloop.flush()
agent("again")
"""


def run(tmp_path: Path, code: str, env: dict[str, str] | None = None) -> str:
    done = python(code, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def metric_lines(tmp_path: Path) -> list[dict[str, Any]]:
    (path,) = (tmp_path / "traces").glob("metrics_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_decorators_record_the_genai_metrics(tmp_path: Path) -> None:
    run(tmp_path, APP)
    lines = metric_lines(tmp_path)
    assert {m["type"] for m in lines} == {"histogram"}
    assert {m["temporality"] for m in lines} == {"delta"}

    def total(name: str, **attrs: Any) -> tuple[int, float]:
        found = [
            m
            for m in lines
            if m["name"] == name and all(m["attributes"].get(k) == v for k, v in attrs.items())
        ]
        return sum(m["count"] for m in found), sum(m["sum"] for m in found)

    # 3 calls before the flush, 1 after: two lines per series, 4 points in all
    assert (
        total("gen_ai.client.operation.duration", **{"gen_ai.request.model": "gpt-4o-mini"})[0] == 4
    )
    assert total("gen_ai.client.token.usage", **{"gen_ai.token.type": "input"}) == (4, 40)
    assert total("gen_ai.client.token.usage", **{"gen_ai.token.type": "output"}) == (4, 16)
    errors = [m for m in lines if m["attributes"].get("error.type") == "TimeoutError"]
    assert errors and errors[0]["attributes"]["gen_ai.provider.name"] == "anthropic"
    assert errors[0]["name"] == "gen_ai.client.operation.duration"
    embeddings = total(
        "gen_ai.client.operation.duration", **{"gen_ai.operation.name": "embeddings"}
    )
    assert embeddings[0] == 4
    assert total("gen_ai.invoke_agent.duration", **{"gen_ai.agent.name": "support"})[0] == 4
    assert total("gen_ai.execute_tool.duration", **{"gen_ai.tool.name": "lookup"})[0] == 4
    duration = next(m for m in lines if m["name"] == "gen_ai.client.operation.duration")
    assert duration["unit"] == "s"
    assert duration["explicit_bounds"] == [
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
    ]  # fmt: skip
    tokens = next(m for m in lines if m["name"] == "gen_ai.client.token.usage")
    assert tokens["unit"] == "{token}" and tokens["explicit_bounds"][-1] == 67108864
    assert sum(tokens["bucket_counts"]) == tokens["count"]
    assert tokens["scope"]["name"] == "fluxloop"
    assert tokens["resource"]["deployment.environment.name"] == "development"
    # no attribute the conventions do not define for these metrics
    allowed = {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.token.type",
        "gen_ai.agent.name",
        "gen_ai.tool.name",
        "gen_ai.tool.type",
        "error.type",
    }
    assert set().union(*(m["attributes"] for m in lines)) <= allowed
    # and each metric is the registry's (semconv/registry/gen-ai-metrics.yaml): name, unit, buckets,
    # and only the attributes its definition lists
    for line in lines:
        definition = METRIC_DEFINITIONS[line["name"]]
        assert line["unit"] == definition.unit
        assert line["explicit_bounds"] == list(definition.bucket_boundaries)
        assert set(line["attributes"]) <= {name for name, _ in definition.attributes}


def test_metrics_off_and_the_applications_meter_provider(tmp_path: Path) -> None:
    run(tmp_path, APP, {"OTEL_METRICS_EXPORTER": "none"})
    assert not list((tmp_path / "traces").glob("metrics_*.jsonl"))
    code = """
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    import fluxloop

    @fluxloop.prompt(model="gpt-4o-mini")
    def answer(q: str) -> dict:
        return {"content": "ok", "usage": {"input_tokens": 7, "output_tokens": 2}}

    answer("x")
    fluxloop.flush()
    data = reader.get_metrics_data()
    names = sorted(m.name for rm in data.resource_metrics for sm in rm.scope_metrics
                   for m in sm.metrics)
    print(",".join(names))
    """
    second = tmp_path / "app2"
    second.mkdir()
    out = run(second, code)
    assert out.strip() == "gen_ai.client.operation.duration,gen_ai.client.token.usage"


def test_series_stay_bounded_under_many_models_and_every_point_is_kept() -> None:
    """A span of a combination never seen before makes its series once; past the per-instrument
    limit new combinations are not recorded (memory stays bounded), every known one still is,
    and the per-span lookup cache is recycled without losing points."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from fluxloop.sdk import _metrics

    histograms = _metrics.Histograms()
    metrics = _metrics.GenAIMetrics()
    metrics.bind(histograms, histograms.lock)

    def chat(model: str, tokens: int = 3) -> ReadableSpan:
        return ReadableSpan(
            name=f"chat {model}",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens,
                "gen_ai.usage.output_tokens": True,  # not a count: never recorded
            },
            start_time=0,
            end_time=250_000_000,
            instrumentation_scope=InstrumentationScope("fluxloop"),
        )

    models = _metrics._MAX_SERIES + 50
    for index in range(models):
        metrics.on_end(chat(f"model-{index}"))
    for _ in range(_metrics._MAX_PLANS + 10):  # more distinct lookups than the cache keeps
        metrics.on_end(chat("model-0", tokens=5))
    metrics.drain()
    data = histograms.snapshot("reader", Resource.get_empty(), delta=False)
    assert data is not None
    by_name = {
        m.name: m.data.data_points for m in data.resource_metrics[0].scope_metrics[0].metrics
    }
    durations = by_name["gen_ai.client.operation.duration"]
    assert len(durations) == _metrics._MAX_SERIES
    first = next(p for p in durations if p.attributes["gen_ai.request.model"] == "model-0")
    assert first.count == 1 + _metrics._MAX_PLANS + 10
    assert first.sum == pytest.approx(0.25 * first.count)
    tokens = by_name["gen_ai.client.token.usage"]
    assert {p.attributes["gen_ai.token.type"] for p in tokens} == {"input"}
    model_0 = next(p for p in tokens if p.attributes["gen_ai.request.model"] == "model-0")
    assert model_0.sum == 3 + 5 * (_metrics._MAX_PLANS + 10)
