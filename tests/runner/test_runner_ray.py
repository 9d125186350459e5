"""``--executor ray`` on a real local Ray cluster of two nodes (127.0.0.1), through the real CLI.

Marked ``ray`` (deselected by default): ``make test-ray`` installs the extra and runs them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cassette.agent_source import AGENT as MODEL_AGENT
from tests.cassette.servers import FakeServer
from tests.cli_process import fl, popen

from .ray_cluster import RayCluster

pytestmark = pytest.mark.ray

SECRET_TOKEN = "tok-" + "7f3a9c" * 6  # runner.environment_vars (a *_TOKEN key: masked)
SECRET_KEY = "sk-" + "Zq81LmX0" * 4  # from .env

AGENT = """
import asyncio, hashlib, os, time
import fluxloop

SETUPS = []


@fluxloop.tool
def shout(text: str) -> str:
    return text.upper()


def run(input_text: str) -> str:
    # proves the secrets reached the worker without writing them anywhere
    token = hashlib.sha256(os.environ["MY_SERVICE_TOKEN"].encode()).hexdigest()[:8]
    key = len(os.environ.get("OPENAI_API_KEY", ""))
    return f"{shout(input_text)} {token} {key}"


def slow(input_text: str) -> str:
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0.3")))
    return input_text[::-1]


async def sometimes_hangs(input_text: str) -> str:
    if input_text.startswith("hang"):
        await asyncio.sleep(30)
    return input_text


def sometimes_blocks(input_text: str) -> str:
    if input_text.startswith("hang"):
        time.sleep(5)
    return input_text


SEEN = set()


def flaky(input_text: str) -> str:
    if input_text not in SEEN:
        SEEN.add(input_text)
        raise RuntimeError(f"first attempt of {input_text} fails")
    return "ok " + input_text


def broken(input_text: str) -> str:
    raise ValueError("always broken")


class Expensive:
    def __init__(self) -> None:
        with open(os.environ["SETUP_LOG"], "a") as fh:
            fh.write(f"{os.getpid()}\\n")

    def answer(self, input_text: str) -> str:
        return "expensive " + input_text
"""

CHAT = """
import fluxloop


@fluxloop.agent(name="ChatAgent")
def chat(message: str, messages: list, conversation_state: dict) -> str:
    context = conversation_state["context"]
    context["seen"] = context.get("seen", 0) + 1
    return f"reply {context['seen']} to {message!r} after {len(messages)} message(s)"
"""

CHAIN = """
from langchain_core.runnables import RunnableLambda

CHAIN = RunnableLambda(lambda text: text.upper(), name="Upper") | RunnableLambda(
    lambda text: text + "!", name="Bang"
)


def run(input_text: str) -> str:
    return CHAIN.invoke(input_text)
"""

HANDLER = """
import asyncio


async def handle(data, send):
    await asyncio.sleep(0.01)
    send({"echo": data["content"], "user": data["user"]})
"""


#: A sitecustomize for the cluster's worker processes: while a run's environment sets
#: CASSETTE_TEST_SOCKET_LOG (only the cassette test's runs do), every TCP/UDP connection
#: attempt of the worker is logged there and refused; other runs are not affected.
WORKER_SOCKET_GUARD = """
import os
import socket

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _guard(original):
    def connect(self, address):
        log = os.environ.get("CASSETTE_TEST_SOCKET_LOG")
        if log and self.family in (socket.AF_INET, socket.AF_INET6):
            with open(log, "a") as fh:
                fh.write(f"{os.getpid()} {address!r}\\n")
            raise ConnectionRefusedError(f"socket guard: connection to {address!r}")
        return original(self, address)
    return connect


socket.socket.connect = _guard(_connect)
socket.socket.connect_ex = _guard(_connect_ex)
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    guard = tmp_path_factory.mktemp("worker_guard")
    (guard / "sitecustomize.py").write_text(WORKER_SOCKET_GUARD, encoding="utf-8")
    c = RayCluster({"PYTHONPATH": str(guard)})  # the workers inherit the nodes' environment
    try:
        c.start(nodes=2)
        yield c
    finally:
        c.stop()


def make_project(root: Path, target: str, inputs: list[Any], **extra: Any) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(AGENT, encoding="utf-8")
    (root / "chat.py").write_text(CHAT, encoding="utf-8")
    (root / "handler.py").write_text(HANDLER, encoding="utf-8")
    (root / "chain.py").write_text(CHAIN, encoding="utf-8")
    (root / ".env").write_text(f"OPENAI_API_KEY={SECRET_KEY}\n", encoding="utf-8")
    runner: dict[str, Any] = {
        "target": target,
        "environment_vars": {"MY_SERVICE_TOKEN": SECRET_TOKEN},
        "retry_delay": 0,
    }
    runner.update(extra.pop("runner", {}))
    config: dict[str, Any] = {"name": "exp", "base_inputs": inputs, "runner": runner, **extra}
    (root / "setting.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def run_cli(root: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return fl("run", "experiment", *args, cwd=root, timeout=timeout)


def experiment_dir(root: Path) -> Path:
    (exp,) = sorted(p for p in (root / "experiments").iterdir() if not p.is_symlink())
    return exp


def lines(exp: Path) -> list[dict[str, Any]]:
    text = (exp / "trace_summary.jsonl").read_text(encoding="utf-8")
    return [json.loads(x) for x in text.splitlines() if x]


VARYING = {"trace_id", "run_id", "duration_ms", "started_at", "ended_at", "executor", "trace_ids"}


def comparable(line: dict[str, Any]) -> dict[str, Any]:
    """A line without what differs between any two runs (ids, times, where it ran)."""
    out = {k: v for k, v in line.items() if k not in VARYING}
    if out.get("error"):
        out["error"] = {"type": out["error"]["type"], "message": out["error"]["message"]}
    for entry in out.get("attempt_errors") or []:
        entry.pop("duration_ms", None)
    state_metadata = (out.get("conversation_state") or {}).get("metadata") or {}
    for key in ("run_id", "conversation_id"):  # fresh ids per run
        state_metadata.pop(key, None)
    if isinstance(out.get("replay"), dict):  # each side has its own project directory
        out["replay"]["recording_file"] = Path(out["replay"]["recording_file"]).name
    return out


def by_key(exp: Path) -> dict[str, dict[str, Any]]:
    rows = lines(exp)
    keys = [r["run_key"] for r in rows]
    assert len(keys) == len(set(keys)), "duplicate runs"
    return {r["run_key"]: comparable(r) for r in rows}


def same_as_local(
    tmp_path: Path, cluster: RayCluster, target: str, inputs: list[Any], **extra: Any
) -> tuple[Path, Path]:
    """Run the same project with both executors; assert the records agree; both directories."""
    local_root = make_project(tmp_path / "local", target, inputs, **extra)
    ray_root = make_project(tmp_path / "ray", target, inputs, **extra)
    local = run_cli(local_root)
    remote = run_cli(ray_root, "--executor", "ray", "--ray-address", cluster.address)
    assert local.returncode == remote.returncode, (local.stderr, remote.stderr)
    local_exp, ray_exp = experiment_dir(local_root), experiment_dir(ray_root)
    local_rows, ray_rows = by_key(local_exp), by_key(ray_exp)
    assert ray_rows.keys() == local_rows.keys()
    differing = {
        (key, field): (ray_rows[key].get(field), local_rows[key].get(field))
        for key in local_rows
        for field in set(local_rows[key]) | set(ray_rows[key])
        if ray_rows[key].get(field) != local_rows[key].get(field)
    }
    assert not differing
    return local_exp, ray_exp


def test_200_runs_over_two_nodes_same_artifacts_as_local_and_no_secret_in_ray(
    tmp_path: Path, cluster: RayCluster
) -> None:
    inputs = [f"question {i}" for i in range(50)]
    local_exp, ray_exp = same_as_local(
        tmp_path, cluster, "agent:run", inputs, iterations=4, parallel_runs=2
    )
    rows = lines(ray_exp)
    assert len(rows) == 200 and all(r["success"] for r in rows)
    nodes = Counter(r["executor"]["node_id"] for r in rows)
    assert len(nodes) == 2, nodes  # both nodes ran runs
    assert all(r["executor"]["type"] == "ray" for r in rows)
    # the secrets reached the workers (hash and length in the output)
    assert rows[0]["output"].endswith(f" {len(SECRET_KEY)}")
    # every artifact has the same files and, record for record, the same keys
    assert sorted(p.name for p in ray_exp.iterdir()) == sorted(p.name for p in local_exp.iterdir())
    for name in ("observations.jsonl", "traces.jsonl"):
        a = [json.loads(x) for x in (local_exp / name).read_text().splitlines()]
        b = [json.loads(x) for x in (ray_exp / name).read_text().splitlines()]
        assert len(a) == len(b) and {tuple(sorted(r)) for r in a} == {tuple(sorted(r)) for r in b}
        assert Counter(r["name"] for r in a) == Counter(r["name"] for r in b)
    local_summary = json.loads((local_exp / "summary.json").read_text())
    summary = json.loads((ray_exp / "summary.json").read_text())
    assert set(summary) - set(local_summary) == {"executor"}
    assert summary["executor"]["type"] == "ray" and summary["executor"]["nodes"] == 2
    assert summary["results"]["total_runs"] == 200 and summary["status"] == "completed"
    # nothing secret in Ray's session directory: logs, runtime_env, the shipped code
    session = cluster.session_dir()
    assert (session / "logs").is_dir()
    leaked = subprocess.run(
        ["grep", "-rlaF", "-e", SECRET_TOKEN, "-e", SECRET_KEY, str(session)],
        capture_output=True,
        text=True,
    )
    assert leaked.stdout == "", leaked.stdout
    shipped = list((session / "runtime_resources").rglob("agent.py"))
    assert shipped, "the code was shipped through the runtime environment"
    for pkg in {p.parent for p in shipped}:
        assert not (pkg / ".env").exists() and not (pkg / "setting.yaml").exists()
        assert not (pkg / "experiments").exists()


def test_timeouts_and_retries_behave_as_locally(tmp_path: Path, cluster: RayCluster) -> None:
    inputs = ["a", "hang 1", "b", "hang 2"]
    for target in ("agent:sometimes_hangs", "agent:sometimes_blocks"):
        _, ray_exp = same_as_local(
            tmp_path / target.split(":")[1],
            cluster,
            target,
            inputs,
            runner={"timeout_seconds": 0.5, "max_retries": 1},
        )
        status = {r["input"]: (r["status"], r["attempts"]) for r in lines(ray_exp)}
        assert status == {
            "a": ("success", 1),
            "b": ("success", 1),
            "hang 1": ("timeout", 2),
            "hang 2": ("timeout", 2),
        }
    _, ray_exp = same_as_local(
        tmp_path / "flaky", cluster, "agent:flaky", ["x", "y", "z"], runner={"max_retries": 2}
    )
    assert {(r["output"], r["attempts"]) for r in lines(ray_exp)} == {
        ("ok x", 2),
        ("ok y", 2),
        ("ok z", 2),
    }
    _, ray_exp = same_as_local(tmp_path / "broken", cluster, "agent:broken", ["x"])
    (row,) = lines(ray_exp)
    assert row["error"]["type"] == "ValueError" and "always broken" in row["error"]["traceback"]


def test_multi_turn_behaves_as_locally(tmp_path: Path, cluster: RayCluster) -> None:
    multi_turn = {
        "enabled": True,
        "max_turns": 4,
        "supervisor": {
            "provider": "mock",
            "metadata": {"scripted_questions": ["and then?", "thanks"]},
        },
    }
    local_exp, ray_exp = same_as_local(
        tmp_path, cluster, "chat:chat", ["hello", "help me"], iterations=2, multi_turn=multi_turn
    )
    rows = lines(ray_exp)
    assert {r["turn_count"] for r in rows} == {3}
    local_mt = json.loads((local_exp / "summary.json").read_text())["multi_turn"]
    ray_mt = json.loads((ray_exp / "summary.json").read_text())["multi_turn"]
    assert ray_mt == local_mt and ray_mt["conversations"] == 4 and ray_mt["turns"] == 12


def observation_names(exp: Path) -> Counter[str]:
    text = (exp / "observations.jsonl").read_text(encoding="utf-8")
    return Counter(json.loads(x)["name"] for x in text.splitlines())


def test_langchain_auto_instrumentation_follows_the_config_as_locally(
    tmp_path: Path, cluster: RayCluster
) -> None:
    """The workers capture LangChain runs unless ``runner.auto_instrument: false``."""
    names = {}
    for auto in (True, False):
        local_exp, ray_exp = same_as_local(
            tmp_path / str(auto), cluster, "chain:run", ["a", "b"], runner={"auto_instrument": auto}
        )
        names[auto] = observation_names(ray_exp)
        assert names[auto] == observation_names(local_exp)
        assert {r["output"] for r in lines(ray_exp)} == {"A!", "B!"}
    assert names[True]["Upper"] == names[True]["Bang"] == 2
    assert set(names[False]) == {"run"}  # the runner's own agent span only


def test_replay_behaves_as_locally(tmp_path: Path, cluster: RayCluster) -> None:
    recording = json.dumps(
        {
            "_version": "1",
            "iteration": 0,
            "target": "handler:handle",
            "kwargs": {"data": {"content": "recorded", "user": "u1"}, "send": "<callable:s>"},
            "timestamp": "2025-09-30T00:00:00",
        }
    )
    replay = {
        "enabled": True,
        "recording_file": "recordings/args.jsonl",
        "override_param_path": "data.content",
        "callable_providers": {"send": "builtin:collector.send"},
    }
    for side in ("local", "ray"):
        (tmp_path / side / "recordings").mkdir(parents=True)
        (tmp_path / side / "recordings" / "args.jsonl").write_text(recording + "\n")
    _, ray_exp = same_as_local(tmp_path, cluster, "handler:handle", ["p", "q"], replay_args=replay)
    rows = lines(ray_exp)
    assert sorted(json.loads(r["output"])["echo"] for r in rows) == ["p", "q"]
    # the records name the recording the user configured, not the workers' copy
    recording = tmp_path / "ray" / "recordings" / "args.jsonl"
    assert {r["replay"]["recording_file"] for r in rows} == {str(recording)}


def test_reuse_workers_sets_the_target_up_once_per_worker(
    tmp_path: Path, cluster: RayCluster
) -> None:
    log = tmp_path / "setups.log"
    root = make_project(
        tmp_path / "p",
        "agent:Expensive.answer",
        [f"q{i}" for i in range(30)],
        runner={
            "environment_vars": {"MY_SERVICE_TOKEN": SECRET_TOKEN, "SETUP_LOG": str(log)},
            "executor": {"type": "ray", "address": cluster.address, "reuse_workers": True},
        },
    )
    done = run_cli(root)
    assert done.returncode == 0, done.stderr
    rows = lines(experiment_dir(root))
    assert len(rows) == 30 and all(r["output"] == "expensive " + r["input"] for r in rows)
    setups = [int(pid) for pid in log.read_text().split()]
    # one actor per run slot (one CPU on each node), each set up once; the driver sets the
    # target up once too, when it checks the config
    workers = {r["executor"]["pid"] for r in rows}
    assert len(workers) == 2 and len(set(setups)) == len(setups) == 3
    assert workers < set(setups)
    summary = json.loads((experiment_dir(root) / "summary.json").read_text())
    assert summary["executor"]["reuse_workers"] is True


def test_ray_client_address(tmp_path: Path, cluster: RayCluster) -> None:
    root = make_project(tmp_path / "p", "agent:run", [f"q{i}" for i in range(10)])
    address = f"ray://127.0.0.1:{cluster.client_port}"
    done = run_cli(root, "--executor", "ray", "--ray-address", address)
    assert done.returncode == 0, done.stderr
    rows = lines(experiment_dir(root))
    assert len(rows) == 10 and all(r["success"] and r["executor"]["type"] == "ray" for r in rows)


def test_bad_input_is_one_line_and_exit_2_before_any_run(
    tmp_path: Path, cluster: RayCluster
) -> None:
    root = make_project(tmp_path / "p", "agent:run", ["a"])
    dead = run_cli(root, "--executor", "ray", "--ray-address", "127.0.0.1:1", timeout=60)
    assert dead.returncode == 2
    assert dead.stderr.strip().splitlines() == [
        "error: --ray-address 127.0.0.1:1: no Ray cluster reachable (Connection refused); "
        "start one with `ray start --head` or fix runner.executor.address"
    ]
    bogus = run_cli(root, "--executor", "ray", "--ray-address", "nowhere", timeout=60)
    assert bogus.returncode == 2 and "expected auto, HOST:PORT or ray://HOST:PORT" in bogus.stderr
    # importable here, not on the workers (the module is not shipped)
    root = make_project(
        tmp_path / "q",
        "agent:run",
        ["a"],
        runner={"executor": {"type": "ray", "address": cluster.address, "excludes": ["agent.py"]}},
    )
    missing = run_cli(root, timeout=120)
    assert missing.returncode == 2, missing.stderr
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith("error: on Ray node ") and "cannot import module 'agent'" in line
    assert not (root / "experiments").exists()  # nothing written, nothing submitted


def _wait_for_lines(root: Path, count: int, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        exps = list((root / "experiments").glob("*/trace_summary.jsonl"))
        if exps and len(exps[0].read_text().splitlines()) >= count:
            return exps[0].parent
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} runs recorded in {timeout}s")


def _resume_completes(root: Path, exp: Path, total: int) -> None:
    done = run_cli(root, "--resume", str(exp))
    assert done.returncode == 0, done.stderr
    rows = lines(exp)
    keys = [r["run_key"] for r in rows]
    assert len(keys) == total and len(set(keys)) == total  # complete, no duplicates
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["results"]["total_runs"] == total
    assert len(summary["sessions"]) == 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_exit_130_partial_then_resume(
    tmp_path: Path, cluster: RayCluster, signum: signal.Signals
) -> None:
    root = make_project(
        tmp_path / "p",
        "agent:slow",
        [f"in {i}" for i in range(40)],
        runner={"executor": {"type": "ray", "address": cluster.address}},
    )
    proc = popen(["run", "experiment", "--grace-period", "5"], cwd=root)
    exp = _wait_for_lines(root, 4)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads((exp / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = lines(exp)
    assert 4 <= len(done) < 40 and summary["results"]["total_runs"] == len(done)
    assert "resume with: fluxloop run experiment --resume" in stderr
    _resume_completes(root, exp, 40)


def test_kill_9_of_the_driver_then_resume_without_duplicates(
    tmp_path: Path, cluster: RayCluster
) -> None:
    root = make_project(
        tmp_path / "p",
        "agent:slow",
        [f"in {i}" for i in range(40)],
        runner={"executor": {"type": "ray", "address": cluster.address}},
    )
    proc = popen(["run", "experiment"], cwd=root)
    exp = _wait_for_lines(root, 6)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert 6 <= len(lines(exp)) < 40
    _resume_completes(root, exp, 40)


def test_a_node_killed_mid_run_the_experiment_still_completes(
    tmp_path: Path, cluster: RayCluster
) -> None:
    """Runs lost with the node are retried (max_retries) elsewhere or recorded failed."""
    extra_node = cluster.add_node()  # a third node, the one to lose
    try:
        root = make_project(
            tmp_path / "p",
            "agent:slow",
            [f"in {i}" for i in range(40)],
            runner={
                "max_retries": 1,
                "environment_vars": {"MY_SERVICE_TOKEN": SECRET_TOKEN, "SLOW_SECONDS": "1.0"},
                "executor": {"type": "ray", "address": cluster.address},
            },
        )
        proc = popen(["run", "experiment"], cwd=root)
        exp = _wait_for_lines(root, 1, timeout=120)
        deadline = time.monotonic() + 60
        doomed = None
        while doomed is None and time.monotonic() < deadline:
            # wait until the extra node has run something, so it surely holds runs in flight
            nodes = {r["executor"]["node_id"] for r in lines(exp)}
            if len(nodes) == 3:
                doomed = extra_node
            time.sleep(0.2)
        assert doomed is not None, "the third node never ran a run"
        assert cluster.kill_node(doomed) > 0
        _, stderr = proc.communicate(timeout=240)
        rows = lines(exp)
        keys = [r["run_key"] for r in rows]
        assert len(keys) == 40 and len(set(keys)) == 40, stderr
        summary = json.loads((exp / "summary.json").read_text())
        assert summary["status"] == "completed"
        lost = [
            r
            for r in rows
            if r["status"] == "error"
            or any(e["type"] not in ("RuntimeError",) for e in r.get("attempt_errors") or [])
        ]
        assert lost, "no run was in flight on the killed node"
        for r in lost:
            if r["success"]:  # retried on a live node
                assert r["attempts"] == 2 and r["attempt_errors"][0]["type"].endswith("Error")
            else:  # recorded failed, with the cause
                assert r["error"]["type"] == "WorkerLostError"
                assert r["error"]["message"].split(":")[0].endswith("Error")
        assert proc.returncode in (0, 1), stderr
    finally:
        if extra_node in cluster.node_ports:
            cluster.kill_node(extra_node)


# --------------------------------------------------------------------------------------------
# cassettes: the tape goes to the workers and the new recordings come back

OPENAI_KEY = "sk-test0123456789abcdefghijklmnop"
ANTHROPIC_KEY = "sk-ant-api03-test0123456789abcdefghij"
CITIES = ["Paris", "Rome", "Oslo", "Lima", "Kyiv"]


def cassette_project(root: Path) -> Path:
    """The cassette proof's agent (raw OpenAI and Anthropic SDKs, tool calls, streaming):
    5 inputs x 2 personas x 2 iterations = 20 runs of 4 model calls."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(MODEL_AGENT, encoding="utf-8")
    config = {
        "name": "trips",
        "runner": {"target": "agent:run", "timeout_seconds": 60},
        "personas": [{"name": "alice", "description": "a"}, {"name": "bob", "description": "b"}],
        "base_inputs": [{"input": f"Weather in {city}"} for city in CITIES],
        "iterations": 2,
        "parallel_runs": 4,
    }
    (root / "setting.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def point_at(root: Path, openai: str, claude: str, **extra: str) -> None:
    """The runs' environment, in the project's .env (a worker gets it with the job, not from
    the driver's environment)."""
    values = {
        "OPENAI_BASE_URL": openai,
        "ANTHROPIC_BASE_URL": claude,
        "OPENAI_API_KEY": OPENAI_KEY,
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        **extra,
    }
    text = "".join(f"{k}={v}\n" for k, v in values.items())
    (root / ".env").write_text(text, encoding="utf-8")


def cassette_run(
    root: Path, step: str, mode: str, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    done = fl(
        "run",
        "experiment",
        "--no-collector",
        "--output-dir",
        f"out/{step}",
        "--cassette",
        mode,
        *args,
        cwd=root,
        env=env,
        timeout=300,
    )
    dirs = sorted((root / "out" / step).glob("trips_*"))
    assert dirs, done.stdout + done.stderr
    return done, dirs[-1]


def span_shapes(exp: Path) -> dict[str, list[str]]:
    """Per run: its observations without ids and times (type, name, model, tokens, I/O)."""
    run_of = {row["trace_id"]: row["run_key"] for row in lines(exp)}
    shapes: dict[str, list[str]] = {key: [] for key in run_of.values()}
    fields = ("type", "name", "model", "prompt_tokens", "completion_tokens", "total_tokens")
    for text in (exp / "observations.jsonl").read_text(encoding="utf-8").splitlines():
        obs = json.loads(text)
        shape = {k: obs.get(k) for k in (*fields, "input", "output", "error")}
        shapes[run_of[obs["trace_id"]]].append(json.dumps(shape, sort_keys=True))
    return {key: sorted(value) for key, value in shapes.items()}


def test_cassettes_record_replay_and_auto_on_ray_as_locally(
    tmp_path: Path, cluster: RayCluster
) -> None:
    root = cassette_project(tmp_path / "p")
    ray_args = ("--executor", "ray", "--ray-address", cluster.address)
    cassette = root / "cassettes" / "trips.jsonl"
    socket_log = tmp_path / "connections.log"
    openai, claude = FakeServer("openai").start(), FakeServer("anthropic").start()
    try:
        # 1. record on the cluster: every call live, from workers on both nodes
        point_at(root, openai.base_url, claude.base_url)
        done, recorded = cassette_run(root, "record", "record", *ray_args)
        assert done.returncode == 0, done.stderr
        assert len(openai.requests) == 40 and len(claude.requests) == 40
    finally:
        openai.stop()
        claude.stop()
    rec_rows = {r["run_key"]: r for r in lines(recorded)}
    assert len(rec_rows) == 20 and all(r["success"] for r in rec_rows.values())
    assert len({r["executor"]["node_id"] for r in rec_rows.values()}) == 2
    text = cassette.read_text(encoding="utf-8")
    entries = [json.loads(x) for x in text.splitlines()[1:]]
    assert len(entries) == 80 and {e["run"] for e in entries} == {f"run:{k}" for k in rec_rows}
    assert OPENAI_KEY not in text and ANTHROPIC_KEY not in text  # masked in the workers
    assert "authorization" not in text.lower() and "x-api-key" not in text.lower()
    assert json.loads((recorded / "summary.json").read_text())["cassette"]["recorded"] == 80
    before = cassette.read_bytes()

    # 2. replay on the cluster with the servers gone: zero connection attempts in the workers
    dead = {"openai": openai.base_url, "claude": claude.base_url}
    point_at(root, dead["openai"], dead["claude"], CASSETTE_TEST_SOCKET_LOG=str(socket_log))
    done, replayed = cassette_run(root, "replay", "replay", *ray_args)
    assert done.returncode == 0, done.stderr
    assert not socket_log.exists()
    rep_rows = {r["run_key"]: r for r in lines(replayed)}
    assert len({r["executor"]["node_id"] for r in rep_rows.values()}) == 2
    for key, row in rec_rows.items():
        assert rep_rows[key]["output"] == row["output"]
        assert rep_rows[key]["token_usage"] == row["token_usage"]
    assert span_shapes(replayed) == span_shapes(recorded)
    assert cassette.read_bytes() == before  # replay never rewrites the cassette
    ray_summary = json.loads((replayed / "summary.json").read_text())
    assert ray_summary["cassette"]["replayed"] == 80 and ray_summary["cassette"]["missing"] == 0

    # 3. the same replay on the local executor gives the same artifacts
    done, local = cassette_run(
        root, "local", "replay", env={"PYTHONPATH": cluster.env["PYTHONPATH"]}
    )
    assert done.returncode == 0, done.stderr
    assert by_key(local) == by_key(replayed)
    assert span_shapes(local) == span_shapes(replayed)
    local_summary = json.loads((local / "summary.json").read_text())
    assert local_summary["cassette"] == ray_summary["cassette"]
    assert not socket_log.exists()  # the local run's process had the guard too

    # 4. one run's prompt changes: in replay on the cluster only that run fails, with the line
    point_at(
        root,
        dead["openai"],
        dead["claude"],
        CASSETTE_TEST_SOCKET_LOG=str(socket_log),
        CHANGE_RUN="Weather in Rome|bob|1",
    )
    done, changed = cassette_run(root, "changed", "replay", *ray_args)
    assert done.returncode == 1, done.stderr
    assert not socket_log.exists()
    failed = [r for r in lines(changed) if not r["success"]]
    assert len(failed) == 1
    (bad,) = failed
    assert (bad["input"], bad["persona"], bad["iteration"]) == ("Weather in Rome", "bob", 1)
    assert bad["error"]["type"] == "CassetteMiss"
    message = bad["error"]["message"]
    assert message.startswith(f"cassette {cassette}: no recording for run run:{bad['run_key']}")
    assert message.endswith("re-record with --cassette auto") and message in done.stderr
    for row in lines(changed):
        if row["run_key"] != bad["run_key"]:
            assert row["output"] == rec_rows[row["run_key"]]["output"]
    assert cassette.read_bytes() == before

    # 5. auto on the cluster re-records that run alone (servers back, on other ports)
    again = (FakeServer("openai").start(), FakeServer("anthropic").start())
    try:
        point_at(root, again[0].base_url, again[1].base_url, CHANGE_RUN="Weather in Rome|bob|1")
        done, _ = cassette_run(root, "auto", "auto", *ray_args)
        assert done.returncode == 0, done.stderr
        # the prompt change touches the two OpenAI calls; the Anthropic ones still match
        assert len(again[0].requests) == 2 and len(again[1].requests) == 0
    finally:
        for server in again:
            server.stop()
    old, new = set(before.decode().splitlines()[1:]), set(text_entries(cassette))
    assert len(new) == 80 and len(old - new) == 2 and len(new - old) == 2
    assert {json.loads(x)["run"] for x in old ^ new} == {f"run:{bad['run_key']}"}
    assert OPENAI_KEY not in cassette.read_text(encoding="utf-8")


def text_entries(cassette: Path) -> list[str]:
    return cassette.read_text(encoding="utf-8").splitlines()[1:]
