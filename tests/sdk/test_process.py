"""Whole-process behaviour, in real subprocesses: defaults, exit flush, provider coexistence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import python


def run_script(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    return python(source, tmp_path, env)


def records(directory: Path, kind: str) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for p in sorted(directory.glob(f"{kind}_*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def test_unconfigured_defaults_write_traces_dir_and_flush_at_exit(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
        import fluxloop

        @fluxloop.tool
        def lookup(q: str) -> str:
            return q[::-1]

        @fluxloop.agent(name="ChatAgent")
        def my_agent(prompt: str) -> str:
            return lookup(prompt)

        print(my_agent("Hello, world!"))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "!dlrow ,olleH"
    assert result.stderr == ""
    observations = records(tmp_path / "traces", "observations")
    traces = records(tmp_path / "traces", "traces")
    assert sorted(o["name"] for o in observations) == ["ChatAgent", "lookup"]
    assert (
        len(traces) == 1 and traces[0]["name"] == "ChatAgent" and traces[0]["status"] == "success"
    )
    assert traces[0]["input"] == {"prompt": "Hello, world!"}


def test_env_vars_choose_storage_and_kill_switch(tmp_path: Path) -> None:
    source = """
        import fluxloop

        @fluxloop.agent
        def run() -> int:
            return 42

        assert run() == 42
        """
    result = run_script(tmp_path, source, FLUXLOOP_BASE_PATH=str(tmp_path / "elsewhere"))
    assert result.returncode == 0, result.stderr
    assert records(tmp_path / "elsewhere", "observations")
    result = run_script(
        tmp_path, source, FLUXLOOP_ENABLED="false", FLUXLOOP_BASE_PATH=str(tmp_path / "off")
    )
    assert result.returncode == 0 and not (tmp_path / "off").exists()
    (tmp_path / ".env").write_text(f"FLUXLOOP_BASE_PATH={tmp_path / 'from-dotenv'}\n")
    result = run_script(tmp_path, source)
    assert result.returncode == 0 and records(tmp_path / "from-dotenv", "observations")


def test_app_provider_is_kept_and_fluxloop_adds_its_processor(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        app_exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(provider)

        import fluxloop
        fluxloop.configure(base_path="out")
        fluxloop.configure(base_path="out")  # idempotent: no second processor
        assert trace.get_tracer_provider() is provider

        http = trace.get_tracer("app.http")

        @fluxloop.agent
        def run() -> str:
            with http.start_as_current_span("GET /weather"):
                return "ok"

        run()
        fluxloop.flush()
        print(sorted(s.name for s in app_exporter.get_finished_spans()))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['GET /weather', 'invoke_agent run']"
    observations = records(tmp_path / "out", "observations")
    by_name = {o["name"]: o for o in observations}
    assert set(by_name) == {"run", "GET /weather"}
    assert by_name["GET /weather"]["type"] == "span"  # foreign spans are kept
    assert by_name["GET /weather"]["parent_observation_id"] == by_name["run"]["id"]


def test_non_sdk_global_provider_gets_a_private_provider_and_one_warning(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
        from opentelemetry import trace

        class VendorProvider(trace.NoOpTracerProvider):
            pass

        trace.set_tracer_provider(VendorProvider())
        import fluxloop

        @fluxloop.agent
        def run() -> str:
            return "ok"

        run(); run()
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("not an OpenTelemetry SDK provider") == 1
    assert len(records(tmp_path / "traces", "observations")) == 2


def test_unwritable_base_path_warns_and_never_raises(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    result = run_script(
        tmp_path,
        f"""
        import fluxloop
        fluxloop.configure(base_path={str(blocker / "traces")!r})

        @fluxloop.agent
        def run(i: int) -> int:
            return i

        print(sum(run(i) for i in range(50)))
        fluxloop.flush()
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1225"
    assert "Traceback" not in result.stderr
    # spans: at most three lines; the GenAI metrics file beside them: one more
    assert 1 <= result.stderr.count("fluxloop") <= 4, result.stderr
    assert result.stderr.count("metric export failed") <= 1, result.stderr


def test_private_client_does_not_touch_the_global_setup(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
        import fluxloop
        from opentelemetry import trace

        client = fluxloop.FluxLoopClient(storage="file", base_path="private")

        @fluxloop.agent
        def run() -> str:
            return "ok"

        with client.use():
            run()
        client.flush()
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        """,
    )
    assert result.returncode == 0, result.stderr
    assert len(records(tmp_path / "private", "observations")) == 1
    assert not (tmp_path / "traces").exists()


@pytest.mark.parametrize("example", ["simple_agent.py", "streaming_agent.py"])
def test_examples_run_and_write_traces(tmp_path: Path, example: str) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "examples" / example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("FLUXLOOP_")},
            "FLUXLOOP_BASE_PATH": str(tmp_path / "t"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    kinds = {o["type"] for o in records(tmp_path / "t", "observations")}
    assert {"agent", "tool", "generation"} <= kinds


def test_make_demo_script_prints_tree_and_paths(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard: the demo takes ~25 s alone, over 60 s on a loaded machine
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "  agent WeatherAgent" in result.stdout and "├─ tool get_weather" in result.stdout
    assert "demo-output/traces/observations_" in result.stdout
    assert "12/12 runs succeeded" in result.stdout and "evaluation passed: True" in result.stdout
    assert "evaluation/report.html" in result.stdout


def test_a_bad_sampler_variable_costs_one_line(tmp_path: Path) -> None:
    """An unknown OTEL_TRACES_SAMPLER gets FluxLoop's one warning (variable, expected, found);
    the OpenTelemetry SDK does not read it again and print a second."""
    done = run_script(
        tmp_path,
        """
        import fluxloop

        @fluxloop.agent
        def run(q):
            return q

        run(1)
        fluxloop.FluxLoopClient(storage="none")
        print("ran")
        """,
        OTEL_TRACES_SAMPLER="nope",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"
    lines = [line for line in done.stderr.splitlines() if "nope" in line]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("fluxloop:") and "OTEL_TRACES_SAMPLER" in lines[0]
