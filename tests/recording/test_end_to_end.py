"""End to end, through the real ``fluxloop`` command: record → generate → replay → parse.

The seeds' commands run verbatim in a shell (``bash -e``), in projects laid out as the seeds show.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUTO = ROOT / "examples" / "pluto_duck"


def shell(script: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``script`` with bash -e (``fluxloop`` and ``python`` from this venv); its stdout."""
    bindir = str(Path(sys.executable).parent)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXLOOP_", "OTEL_"))}
    base.pop("PYTHONPATH", None)
    base.update(
        {"PATH": bindir + os.pathsep + base.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
    )
    base.update(env or {})
    proc = subprocess.run(
        ["bash", "-e", "-c", textwrap.dedent(script)],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, (
        f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc.stdout + proc.stderr


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def only_experiment(project: Path) -> Path:
    (directory,) = [
        p for p in (project / "experiments").iterdir() if p.is_dir() and not p.is_symlink()
    ]
    return directory


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Serialise tests that use one fixed /tmp file (the seeds' paths) across processes."""
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- the seeds' "Test with Recording" --------------------------------------------------------------

SIMPLE_AGENT = """
import fluxloop


@fluxloop.agent()
def run(data: dict) -> str:
    return f"Processed: {data['content']}"
"""

SETTING_WITH_REPLAY = """
name: recording_test

runner:
  target: "examples.simple_agent:run"
  working_directory: "."

replay_args:
  enabled: true
  recording_file: "/tmp/test_recording.jsonl"
  override_param_path: "data.content"

inputs_file: "inputs/generated.yaml"
iterations: 10
output_directory: "experiments"
"""


def test_seeds_test_with_recording_verbatim(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / "examples").mkdir(parents=True)
    (project / "examples" / "__init__.py").write_text("")
    (project / "examples" / "simple_agent.py").write_text(SIMPLE_AGENT)
    (project / "setting.yaml").write_text(SETTING_WITH_REPLAY)
    recording = Path("/tmp/test_recording.jsonl")
    with exclusive(recording):
        try:
            shell(
                """
                # 1. Create mock recording
                cat > /tmp/test_recording.jsonl << EOF
                {"_version": "1", "iteration": 0, "target": "examples.simple_agent:run", "kwargs": {"data": {"content": "test"}}, "timestamp": "2025-09-30T00:00:00"}
                EOF

                # 2. Generate inputs
                fluxloop generate inputs \\
                  --config setting.yaml \\
                  --from-recording /tmp/test_recording.jsonl \\
                  --limit 3

                # 3. Run
                fluxloop run experiment --config setting.yaml --iterations 1 --no-collector
                """,
                cwd=project,
            )
        finally:
            recording.unlink(missing_ok=True)
    generated = yaml.safe_load((project / "inputs" / "generated.yaml").read_text())
    inputs = [entry["input"] for entry in generated["inputs"]]
    assert 1 <= len(inputs) <= 3
    experiment = only_experiment(project)
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["results"]["total_runs"] == len(inputs)
    assert summary["results"]["successful"] == len(inputs)
    runs = lines(experiment / "trace_summary.jsonl")
    assert sorted(run["output"] for run in runs) == sorted(f"Processed: {i}" for i in inputs)
    assert all(run["replay"]["recording_index"] == 0 for run in runs)


# -- Mode 2: the Pluto Duck example, as the seeds lay it out ---------------------------------------

SEEDS_MODE_2_SETTING = """
# setting.yaml
name: pluto_duck_simulation

runner:
  target: "examples.pluto_duck.message_handler:MessageHandler.handle_message"
  working_directory: "."

# 🎬 Argument Replay
replay_args:
  enabled: true
  recording_file: "recordings/pluto_args.jsonl"
  callable_providers:
    send_message_callback: "builtin:collector.send"
    send_error_callback: "builtin:collector.error"
  override_param_path: "data.content"

inputs_file: "inputs/generated.yaml"
iterations: 50
parallel_runs: 4
"""


def pluto_project(root: Path) -> Path:
    project = root / "pluto"
    package = project / "examples" / "pluto_duck"
    package.mkdir(parents=True)
    (project / "examples" / "__init__.py").write_text("")
    for name in ("__init__.py", "message_handler.py", "staging.py"):
        shutil.copy(PLUTO / name, package / name)
    (project / "recordings").mkdir()
    (project / "setting.yaml").write_text(SEEDS_MODE_2_SETTING)
    return project


def test_pluto_duck_record_generate_replay_parse(tmp_path: Path) -> None:
    project = pluto_project(tmp_path)
    staging = tmp_path / "staging"
    staging.mkdir()
    out = shell(
        f"""
        # Step 1: record in "staging" (its own directory), then bring the file over
        (cd {staging} && python {project}/examples/pluto_duck/staging.py --output {staging}/pluto_args.jsonl)
        cp {staging}/pluto_args.jsonl ./recordings/

        # Step 2: Generate Inputs from Recording
        fluxloop generate inputs \\
          --config setting.yaml \\
          --from-recording recordings/pluto_args.jsonl \\
          --limit 50

        # Step 4: Run Simulation
        fluxloop run experiment --config setting.yaml
        """,
        cwd=project,
    )
    recorded = lines(project / "recordings" / "pluto_args.jsonl")
    assert len(recorded) == 3
    assert recorded[0]["kwargs"]["user_connection"]["token"] == "***"
    assert recorded[0]["kwargs"]["send_message_callback"] == (
        "<callable:FakeWebSocket.send_message:async>"
    )
    assert "will be replayed as '***': user_connection.token" in out

    generated = yaml.safe_load((project / "inputs" / "generated.yaml").read_text())["inputs"]
    experiment = only_experiment(project)
    summary = json.loads((experiment / "summary.json").read_text())
    assert summary["results"]["total_runs"] == 50 * len(generated)
    assert summary["results"]["failed"] == 0
    runs = lines(experiment / "trace_summary.jsonl")
    for run in runs:
        assert "Best quarter" in run["output"], run
        sent = run["callback_messages"]["send"]
        assert sent and all(m["type"] == "stream" for m in sent)
        assert run["output"] == "".join(m["delta"] for m in sent)
        assert run["replay"]["masked"] == ["user_connection.token"]
    # the recording was not appended to by the replay
    assert len(lines(project / "recordings" / "pluto_args.jsonl")) == 3

    # 6) Parse Results (the seeds' end-to-end guide)
    name = experiment.name
    shell(
        f"fluxloop parse experiment experiments/{name} --output per_trace_analysis --overwrite",
        cwd=project,
    )
    markdown = sorted((experiment / "per_trace_analysis").glob("*.md"))
    assert len(markdown) == len(runs)
    text = markdown[0].read_text()
    for step in (
        "[agent] PlutoDuck",
        "[tool] query_sales",
        "[generation] write_answer",
        "[event] send_message_callback",
    ):
        assert step in text, step
    assert '"delta":' in text  # what the handler sent is in the timeline


# -- the seeds' end-to-end guide (004): a handler that configures recording at import -------------

HANDLER_004 = """
import fluxloop

fluxloop.configure(record_args=True, recording_file="./recordings/args.jsonl")

class MessageHandler:
    async def handle_message(self, connection_id, data, user_connection, send_callback, error_callback):
        fluxloop.record_call_args(
            target="app.handler:MessageHandler.handle_message",
            connection_id=connection_id,
            data=data,
            user_connection=user_connection,
            send_callback=send_callback,
            error_callback=error_callback,
        )
        # ... your logic ...
        if not data["content"].strip():
            await error_callback({"error": "empty"})
            return
        await send_callback({"text": f"[{user_connection['name']}] you said: {data['content']}"})
"""

SERVICE_004 = """
import asyncio
from app.handler import MessageHandler


async def main():
    async def send(message):
        print("sent", message)

    async def on_error(message):
        print("error", message)

    handler = MessageHandler()
    for text in ("How do I reset my password?", "Where is my order?"):
        await handler.handle_message(
            "conn-1", {"content": text, "conversationId": "c1"},
            {"name": "ann", "session_token": "s3cr3t-value"}, send, on_error,
        )

asyncio.run(main())
"""

SETTING_004 = """
runner:
  target: "app.handler:MessageHandler.handle_message"
  working_directory: "."

replay_args:
  enabled: true
  recording_file: "recordings/args.jsonl"
  callable_providers:
    send_callback: "builtin:collector.send"
    error_callback: "builtin:collector.error"
  override_param_path: "data.content"

inputs_file: "inputs/generated.yaml"
iterations: 50
output_directory: "experiments"
"""


def test_seeds_end_to_end_workflow(tmp_path: Path) -> None:
    project = tmp_path / "my-agent"
    (project / "app").mkdir(parents=True)
    (project / "recordings").mkdir()
    (project / "app" / "__init__.py").write_text("")
    (project / "app" / "handler.py").write_text(HANDLER_004)
    (project / "service.py").write_text(SERVICE_004)
    (project / "setting.yaml").write_text(SETTING_004)
    shell(
        """
        python service.py

        fluxloop generate inputs \\
          --config setting.yaml \\
          --from-recording recordings/args.jsonl \\
          --limit 50

        fluxloop run experiment --config setting.yaml
        """,
        cwd=project,
    )
    recorded = lines(project / "recordings" / "args.jsonl")
    assert [r["iteration"] for r in recorded] == [0, 1]
    assert recorded[0]["kwargs"]["user_connection"] == {"name": "ann", "session_token": "***"}
    assert recorded[0]["kwargs"]["send_callback"] == "<callable:send:async>"
    experiment = only_experiment(project)
    runs = lines(experiment / "trace_summary.jsonl")
    assert runs and all(run["success"] for run in runs)
    assert all(run["output"].startswith('{"text": "[ann] you said: ') for run in runs)
    # the handler configured recording at import, but replayed calls are not recorded
    assert len(lines(project / "recordings" / "args.jsonl")) == 2
    shell(
        f"fluxloop parse experiment experiments/{experiment.name} --output per_trace_analysis "
        "--overwrite",
        cwd=project,
    )
    assert len(list((experiment / "per_trace_analysis").glob("*.md"))) == len(runs)


# -- record enable / disable around a service that reads .env (the seeds' quick start) -----------

SERVICE_ENV = """
from pathlib import Path
import fluxloop

fluxloop.load_env(Path(__file__).resolve().parent / ".env")
fluxloop.configure()
print("Recording?", fluxloop.get_config().record_args, fluxloop.get_config().recording_file)


def handle(data, reply):
    fluxloop.record_call_args(target="service:handle", data=data, reply=reply)
    reply("echo " + data["content"])


for text in ("first message", "second message"):
    handle({"content": text}, print)
"""


def test_record_enable_run_service_disable_then_replay(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    shell("fluxloop init project --name my-agent", cwd=root)
    project = root / "fluxloop" / "my-agent"
    (project / "service.py").write_text(SERVICE_ENV)
    out = shell(
        """
        fluxloop record enable    # Capture arguments
        python service.py
        fluxloop record status
        fluxloop record disable
        python service.py
        fluxloop config set replay_args.override_param_path data.content
        fluxloop config set replay_args.callable_providers '{"reply": "builtin:collector.send"}'
        fluxloop config set runner.target service:handle
        fluxloop run experiment # Replay with variations
        """,
        cwd=project,
    )
    recording = project / "recordings" / "args_recording.jsonl"
    assert f"Recording? True {recording}" in out
    assert "Recording? False" in out
    assert "(2 recorded call(s)" in out
    calls = lines(recording)
    assert [c["kwargs"]["data"]["content"] for c in calls] == ["first message", "second message"]
    assert calls[0]["kwargs"]["reply"] == "<callable:print>"
    runs = lines(only_experiment(project) / "trace_summary.jsonl")
    assert runs and all(run["success"] for run in runs)
    assert {run["output"] for run in runs} == {f"echo {run['input']}" for run in runs}


@pytest.mark.parametrize("missing", ["custom_callback"])
def test_seeds_troubleshooting_missing_provider(tmp_path: Path, missing: str) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "agent.py").write_text("def handle(data, custom_callback):\n    pass\n")
    (project / "recordings").mkdir()
    (project / "recordings" / "args.jsonl").write_text(
        json.dumps(
            {
                "_version": "1",
                "target": "agent:handle",
                "kwargs": {"data": {"content": "x"}, missing: "<callable:on_custom:async>"},
            }
        )
        + "\n"
    )
    (project / "setting.yaml").write_text(
        "runner:\n  target: agent:handle\nbase_inputs:\n  - input: hi\n"
        "replay_args:\n  enabled: true\n  recording_file: recordings/args.jsonl\n"
        "  override_param_path: data.content\n"
    )
    bindir = str(Path(sys.executable).parent)
    proc = subprocess.run(
        [os.path.join(bindir, "fluxloop"), "run", "experiment", "--config", "setting.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("FLUXLOOP_")},
    )
    assert proc.returncode == 2
    assert (
        f"error: Missing callable providers for recorded parameters: {missing} "
        "(recorded as <callable:on_custom:async>) (add them under replay_args.callable_providers"
        in proc.stderr
    )
    assert "Traceback" not in proc.stderr
    # See what callables were recorded (the seeds' jq line, without jq)
    shell(
        "cat recordings/args.jsonl | python -c 'import json,sys; print(json.load(sys.stdin)"
        "[\"kwargs\"])' | grep '<callable:'",
        cwd=project,
    )
