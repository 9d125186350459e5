"""The JSON Schemas of the experiment artifacts (``exporters/schemas/``) against real output.

Every experiment here is run by the real ``fluxloop`` command in a subprocess, on a real project:
a successful run, failing runs (errors, a timeout, retries), a multi-turn conversation, a replay
of a recording made by the SDK, and an interrupted run (with the summary written while it was
running) that is then resumed. Every artifact of every directory is validated against its schema
(``summary``, ``trace_summary``, ``errors``, and ``trace`` / ``observation`` for the JSONL
contract), loaded through :func:`fluxloop_exporters.load_schema`.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fluxloop_exporters import CONTRACT_VERSION, load_schema
from fluxloop_exporters._schemas import schema_dir

REPO = Path(__file__).resolve().parents[2]
ARTIFACT_SCHEMAS = ("summary", "trace_summary", "errors", "recording")
ALL_SCHEMAS = ("observation", "trace", "metric", "log", "cassette", *ARTIFACT_SCHEMAS)

# What DESIGN.md ("Experiment directory") documents; the schemas must require all of it.
DOCUMENTED_SUMMARY = (
    "total_traces",
    "successful",
    "failed",
    "avg_duration_ms",
    "started_at",
    "completed_at",
    "name",
    "date",
    "results",
    "percentiles",
    "tokens",
    "per_persona",
    "contract_version",
    "environment",
)
DOCUMENTED_RESULTS = (
    "total_runs",
    "successful",
    "failed",
    "success_rate",
    "avg_duration_ms",
    "duration_seconds",
)
DOCUMENTED_TRACE_SUMMARY = (
    "trace_id",
    "iteration",
    "persona",
    "input",
    "output",
    "duration_ms",
    "success",
    "error",
    "token_usage",
    "conversation",
)
DOCUMENTED_ERRORS = (
    "trace_id",
    "iteration",
    "persona",
    "input",
    "error_type",
    "message",
    "traceback",
)


# ---------------------------------------------------------------------------------------------
# helpers


def _env() -> dict[str, str]:
    prefixes = ("FLUXLOOP_", "OTEL_", "OPENAI_", "ANTHROPIC_", "GEMINI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        input="",
    )


def fluxloop(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(["-m", "fluxloop.cli", *args], cwd)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def only_experiment(project: Path) -> Path:
    (directory,) = [
        p for p in (project / "experiments").iterdir() if p.is_dir() and not p.is_symlink()
    ]
    return directory


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        load_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def problems(name: str, document: Any, where: str) -> list[str]:
    return [
        f"{where}: {error.json_path}: {error.message[:300]}"
        for error in validator(name).iter_errors(document)
    ]


def assert_valid(name: str, document: Any, where: str) -> None:
    found = problems(name, document, where)
    assert not found, "\n".join(found)


@dataclass
class Artifacts:
    directory: Path
    summary: dict[str, Any]
    lines: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    traces: list[dict[str, Any]]
    observations: list[dict[str, Any]]


def validate_experiment(directory: Path) -> Artifacts:
    """Validate every artifact of ``directory`` against its schema (all problems at once)."""
    names = {p.name for p in directory.iterdir()}
    assert {
        "summary.json",
        "trace_summary.jsonl",
        "traces.jsonl",
        "observations.jsonl",
        "errors.json",
        "config.yaml",
    } <= names, names
    art = Artifacts(
        directory=directory,
        summary=json.loads((directory / "summary.json").read_text(encoding="utf-8")),
        lines=jsonl(directory / "trace_summary.jsonl"),
        errors=json.loads((directory / "errors.json").read_text(encoding="utf-8")),
        traces=jsonl(directory / "traces.jsonl"),
        observations=jsonl(directory / "observations.jsonl"),
    )
    found = problems("summary", art.summary, "summary.json")
    found += problems("errors", art.errors, "errors.json")
    for files, name, records in (
        ("trace_summary.jsonl", "trace_summary", art.lines),
        ("traces.jsonl", "trace", art.traces),
        ("observations.jsonl", "observation", art.observations),
    ):
        for i, record in enumerate(records, 1):
            found += problems(name, record, f"{files}:{i}")
    assert not found, "\n".join(found)
    # the files agree with each other
    failed = [line for line in art.lines if not line["success"]]
    assert art.summary["total_traces"] == art.summary["results"]["total_runs"] == len(art.lines)
    assert art.summary["failed"] == len(failed)
    assert [e["trace_id"] for e in art.errors] == [line["trace_id"] for line in failed]
    trace_ids = {t["id"] for t in art.traces}
    assert {line["trace_id"] for line in art.lines} <= trace_ids
    assert {o["trace_id"] for o in art.observations} <= trace_ids
    return art


# ---------------------------------------------------------------------------------------------
# the experiments (each run once per module)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("schemas")


@pytest.fixture(scope="module")
def succeeded(work: Path) -> Artifacts:
    """The scaffolded project (two personas, a tool and a generation with tokens), 2 iterations."""
    done = fluxloop("init", "project", "--name", "p", "--path", str(work), cwd=work)
    assert done.returncode == 0, done.stderr
    project = work / "p"
    done = fluxloop("run", "experiment", "--iterations", "2", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    return validate_experiment(only_experiment(project))


FAILING_AGENT = """
    import time

    import fluxloop

    _calls = {"n": 0}


    @fluxloop.agent(name="Flaky")
    def run(input_text: str) -> object:
        if "boom" in input_text:
            raise ValueError(f"cannot handle {input_text!r}")
        if "slow" in input_text:
            time.sleep(2.0)
        if "flaky" in input_text:
            _calls["n"] += 1
            if _calls["n"] == 1:
                raise RuntimeError("transient")
        return {"answer": input_text.upper()}
"""


@pytest.fixture(scope="module")
def failed(work: Path) -> Artifacts:
    """An error (retried and failing again), a timeout, a retried success and a success."""
    project = work / "failing"
    write(project / "agent.py", FAILING_AGENT)
    write(
        project / "setting.yaml",
        """
        name: failing
        runner:
          target: "agent:run"
          timeout_seconds: 0.5
          max_retries: 1
          retry_delay: 0
        base_inputs:
          - input: "fine"
          - input: "boom now"
            tag: explode
          - input: "slow one"
          - input: "flaky one"
        seed: 7
        output_directory: experiments
        """,
    )
    done = fluxloop("run", "experiment", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    return validate_experiment(only_experiment(project))


MULTI_TURN_AGENT = """
    import fluxloop


    @fluxloop.prompt(model="fake-model", provider="local")
    def llm(text: str) -> dict[str, object]:
        return {"content": "reply to " + text, "usage": {"prompt_tokens": 3, "completion_tokens": 4}}


    @fluxloop.agent(name="Chat")
    def run(input_text: str, messages=None, conversation_state=None) -> str:
        if conversation_state is not None:
            conversation_state["context"]["seen"] = len(messages or [])
        return str(llm(input_text)["content"])
"""


@pytest.fixture(scope="module")
def multi_turn(work: Path) -> Artifacts:
    """A scripted simulated user: two agent turns and a closing message."""
    project = work / "multi"
    write(project / "agent.py", MULTI_TURN_AGENT)
    write(
        project / "setting.yaml",
        """
        name: multi
        runner:
          target: "agent:run"
        personas:
          - name: novice
            description: new to the product
        base_inputs:
          - input: "hello"
        multi_turn:
          enabled: true
          max_turns: 3
          supervisor:
            provider: script
            metadata:
              scripted_questions: ["and then?"]
              mock_closing: "Thanks."
        output_directory: experiments
        """,
    )
    done = fluxloop("run", "experiment", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    return validate_experiment(only_experiment(project))


HANDLER = """
    import fluxloop


    class Handler:
        @fluxloop.agent()
        async def handle(self, connection_id, data, user_connection,
                         send_message_callback, send_error_callback):
            fluxloop.record_call_args(
                target="handler:Handler.handle",
                connection_id=connection_id,
                data=data,
                user_connection=user_connection,
                send_message_callback=send_message_callback,
                send_error_callback=send_error_callback,
            )
            if "bad" in data["content"]:
                await send_error_callback({"error": "bad input"})
                return None
            await send_message_callback({"type": "reply", "content": "echo:" + data["content"]})
"""

RECORD = """
    import asyncio
    import sys

    import fluxloop

    fluxloop.configure(record_args=True, recording_file=sys.argv[1], storage="none")

    from handler import Handler


    async def send_message(message):
        pass


    async def send_error(message):
        pass


    asyncio.run(
        Handler().handle(
            "ws-0",
            {"content": "hi", "conversationId": "c1"},
            {"user_id": "u-1", "token": "secret-token"},
            send_message,
            send_error,
        )
    )
"""


@dataclass
class Replayed:
    recording: list[dict[str, Any]]
    artifacts: Artifacts


@pytest.fixture(scope="module")
def replayed(work: Path) -> Replayed:
    """A call recorded by the SDK, replayed with two inputs (one answered through the error
    callback)."""
    project = work / "replay"
    write(project / "handler.py", HANDLER)
    write(project / "record.py", RECORD)
    done = run(["record.py", "recordings/args.jsonl"], project)
    assert done.returncode == 0, done.stderr
    write(
        project / "setting.yaml",
        """
        name: replay
        runner:
          target: "handler:Handler.handle"
        replay_args:
          enabled: true
          recording_file: recordings/args.jsonl
          callable_providers:
            send_message_callback: "builtin:collector.send"
            send_error_callback: "builtin:collector.error"
          override_param_path: data.content
        base_inputs:
          - input: "hello"
          - input: "bad one"
        output_directory: experiments
        """,
    )
    done = fluxloop("run", "experiment", cwd=project)
    assert done.returncode == 1, done.stdout + done.stderr
    return Replayed(
        recording=jsonl(project / "recordings" / "args.jsonl"),
        artifacts=validate_experiment(only_experiment(project)),
    )


INTERRUPTING_AGENT = """
    import os
    import shutil
    import signal
    from pathlib import Path


    def run(input_text: str) -> str:
        marker = Path("interrupted.marker")
        if not marker.exists():
            marker.write_text("x")
            (summary,) = Path("experiments").glob("interrupt_*/summary.json")
            shutil.copy(summary, "running-summary.json")
            os.kill(os.getpid(), signal.SIGINT)
        return "ok " + input_text
"""


@dataclass
class Interrupted:
    running: dict[str, Any]
    interrupted: Artifacts
    resumed: Artifacts


@pytest.fixture(scope="module")
def interrupted(work: Path) -> Interrupted:
    """The target snapshots summary.json (status "running") and sends SIGINT to its own
    process: the runner stops with a partial summary (exit 130); --resume completes it."""
    project = work / "interrupt"
    write(project / "agent.py", INTERRUPTING_AGENT)
    write(
        project / "setting.yaml",
        """
        name: interrupt
        runner:
          target: "agent:run"
        base_inputs:
          - input: "a"
          - input: "b"
          - input: "c"
        iterations: 2
        output_directory: experiments
        """,
    )
    done = fluxloop("run", "experiment", cwd=project)
    assert done.returncode == 130, done.stdout + done.stderr
    directory = only_experiment(project)
    first = validate_experiment(directory)
    running = json.loads((project / "running-summary.json").read_text(encoding="utf-8"))
    done = fluxloop("run", "experiment", "--resume", str(directory), cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    return Interrupted(running=running, interrupted=first, resumed=validate_experiment(directory))


# ---------------------------------------------------------------------------------------------
# the schemas themselves


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_schema_is_valid_draft_2020_12_and_loads_by_name(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    version = CONTRACT_VERSION if name in ("observation", "trace") else "1"
    assert schema["$id"] == f"https://fluxloop.dev/schemas/v{version}/{name}.schema.json"
    assert schema["title"] and schema["description"]
    assert load_schema(f"{name}.schema.json") == schema
    assert (schema_dir() / f"{name}.schema.json").is_file()


def test_the_schema_directory_holds_exactly_the_documented_schemas() -> None:
    assert schema_dir().resolve() == (REPO / "exporters" / "schemas").resolve()
    found = sorted(p.name.removesuffix(".schema.json") for p in schema_dir().glob("*.json"))
    assert found == sorted(ALL_SCHEMAS)
    assert not (REPO / "tests" / "recording" / "recording.schema.json").exists()


def test_schemas_require_what_design_documents() -> None:
    summary = load_schema("summary")
    assert set(DOCUMENTED_SUMMARY) <= set(summary["required"])
    assert set(DOCUMENTED_RESULTS) <= set(summary["properties"]["results"]["required"])
    assert set(DOCUMENTED_TRACE_SUMMARY) <= set(load_schema("trace_summary")["required"])
    errors = load_schema("errors")
    assert errors["type"] == "array"
    assert set(DOCUMENTED_ERRORS) <= set(errors["$defs"]["entry"]["required"])
    recording = load_schema("recording")
    assert set(recording["required"]) == {"_version", "iteration", "target", "kwargs", "timestamp"}


def test_schemas_are_packaged_in_the_wheel(tmp_path: Path) -> None:
    """pyproject force-includes ``exporters/schemas`` as ``fluxloop_exporters/schemas``; with
    hatchling at hand (no network needed) a built wheel is checked too."""
    pyproject = tomllib.loads((REPO / "exporters" / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include["schemas"] == "fluxloop_exporters/schemas"
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling is not installed: the wheel itself was not built")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    done = subprocess.run(
        [*pip, "-w", str(tmp_path), str(REPO / "exporters")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("fluxloop_exporters-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        packaged = {n for n in zf.namelist() if n.startswith("fluxloop_exporters/schemas/")}
    assert packaged == {f"fluxloop_exporters/schemas/{n}.schema.json" for n in ALL_SCHEMAS} | {
        f"fluxloop_exporters/schemas/v1/{n}.schema.json" for n in ("observation", "trace")
    }


# ---------------------------------------------------------------------------------------------
# real experiments


def test_a_successful_experiment_matches_the_schemas(succeeded: Artifacts) -> None:
    summary = succeeded.summary
    assert summary["status"] == "completed"
    assert summary["results"]["total_runs"] == 8
    assert summary["results"]["success_rate"] == 1.0
    assert succeeded.errors == []
    assert set(summary["per_persona"]) == {"novice_user", "expert_user"}
    assert summary["tokens"]["total_tokens"] > 0
    assert all(line["token_usage"]["total_tokens"] > 0 for line in succeeded.lines)
    assert all(len(line["conversation"]) == 2 for line in succeeded.lines)
    assert "multi_turn" not in summary


def test_failed_runs_match_the_schemas(failed: Artifacts) -> None:
    by_input = {line["input"]: line for line in failed.lines}
    assert by_input["boom now"]["status"] == "error"
    assert by_input["boom now"]["error"]["type"] == "ValueError"
    assert by_input["boom now"]["attempts"] == 2
    assert by_input["slow one"]["status"] == "timeout"
    assert by_input["flaky one"]["success"] and by_input["flaky one"]["attempt_errors"]
    assert by_input["fine"]["token_usage"] is None
    assert [e["status"] for e in failed.errors] == ["error", "timeout"]
    assert failed.errors[0]["traceback"].startswith("Traceback")
    assert failed.errors[1]["traceback"] is None
    assert failed.summary["threshold"]["passed"] is False
    assert failed.summary["seed"] == 7
    assert failed.summary["per_persona"].keys() == {"(none)"}
    assert failed.summary["errors"]["by_type"] == {"ValueError": 1, "TimeoutError": 1}


def test_a_multi_turn_experiment_matches_the_schemas(multi_turn: Artifacts) -> None:
    (line,) = multi_turn.lines
    assert line["termination_reason"] == "script_complete"
    assert line["turn_count"] == 2
    assert [t["source"] for t in line["conversation"]] == [
        "input",
        "agent",
        "supervisor",
        "agent",
        "supervisor",
    ]
    assert multi_turn.summary["multi_turn"]["conversations"] == 1


def test_a_recording_and_its_replay_match_the_schemas(replayed: Replayed) -> None:
    (call,) = replayed.recording
    assert_valid("recording", call, "recordings/args.jsonl:1")
    assert call["kwargs"]["user_connection"]["token"] == "***"
    art = replayed.artifacts
    ok, bad = art.lines
    assert ok["replay"]["masked"] == ["user_connection.token"]
    assert ok["callback_messages"]["send"] == [{"type": "reply", "content": "echo:hello"}]
    assert bad["callback_messages"]["error"] == [{"error": "bad input"}]
    assert not bad["success"]
    (error,) = art.errors
    assert "bad input" in error["message"]


def test_an_interrupted_and_resumed_experiment_matches_the_schemas(
    interrupted: Interrupted,
) -> None:
    running = interrupted.running
    assert_valid("summary", running, "summary.json while running")
    assert running["status"] == "running"
    assert running["completed_at"] is None
    first = interrupted.interrupted.summary
    assert first["status"] == "interrupted"
    assert 0 < first["results"]["total_runs"] < first["results"]["planned_runs"] == 6
    assert first["results"]["remaining_runs"] > 0
    resumed = interrupted.resumed.summary
    assert resumed["status"] == "completed"
    assert resumed["results"]["total_runs"] == 6
    assert [s["status"] for s in resumed["sessions"]] == ["interrupted", "completed"]
    assert resumed["experiment_id"] == first["experiment_id"] == running["experiment_id"]


# ---------------------------------------------------------------------------------------------
# the schemas reject what the runner must not write


def _broken(document: dict[str, Any], *edits: tuple[str, Any]) -> Iterator[dict[str, Any]]:
    """One copy of ``document`` per edit: ``path`` (dot path) set to ``value``, or deleted when
    ``value`` is ``...``."""
    for path, value in edits:
        doc = copy.deepcopy(document)
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is ...:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        yield doc


def test_the_schemas_reject_malformed_artifacts(failed: Artifacts, succeeded: Artifacts) -> None:
    summary = succeeded.summary
    for doc in _broken(
        summary,
        *((key, ...) for key in DOCUMENTED_SUMMARY),
        *((f"results.{key}", ...) for key in DOCUMENTED_RESULTS),
        ("status", "done"),
        ("completed_at", None),
        ("results.success_rate", 1.5),
        ("started_at", "2025-01-01 10:00:00"),
        ("contract_version", 1),
        ("tokens.total_tokens", -1),
        ("per_persona.novice_user.total_runs", "4"),
    ):
        assert problems("summary", doc, "summary"), doc
    ok = succeeded.lines[0]
    failure = next(line for line in failed.lines if not line["success"])
    for doc in [
        *_broken(ok, *((key, ...) for key in DOCUMENTED_TRACE_SUMMARY)),
        *_broken(
            ok,
            ("trace_id", "trace_001"),
            ("error", {"type": "X", "message": "m", "traceback": None}),
            ("status", "error"),
            ("output", {"answer": 1}),
            ("conversation.0.role", "system"),
            ("token_usage.total_tokens", 1.5),
        ),
        *_broken(failure, ("output", "partial"), ("error", None), ("status", "success")),
    ]:
        assert problems("trace_summary", doc, "trace_summary"), doc
    entry = failed.errors[0]
    for bad_entry in _broken(
        entry,
        *((key, ...) for key in DOCUMENTED_ERRORS),
        ("status", "success"),
        ("attempts", 0),
    ):
        assert problems("errors", [bad_entry], "errors.json"), bad_entry
    assert problems("errors", {"errors": [entry]}, "errors.json")
