"""Fixtures for the analysis tests: real experiment directories made by `fluxloop run experiment`
(in subprocesses, once per session) and a hand-built directory in the original FluxLoop's format."""

from __future__ import annotations

import json
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from tests.cli_process import ISOLATED_ENV_PREFIXES, clean_env, fl

__all__ = ["ISOLATED_ENV_PREFIXES", "clean_env", "fl"]

AGENT = """
import json
import time

import fluxloop


@fluxloop.tool(description="Look up an order")
def lookup_order(order_id: str) -> dict:
    if order_id == "boom" and BROKEN_LOOKUP:
        raise RuntimeError("order service down")
    return {"order_id": order_id, "status": "shipped"}


@fluxloop.tool(description="Refund an order")
def refund(order_id: str, amount: float) -> dict:
    return {"refunded": amount}


@fluxloop.prompt(model="fake-llm", provider="test")
def llm(prompt: str) -> dict:
    words = len(prompt.split())
    return {"content": REPLY_PREFIX + prompt, "usage": {"prompt_tokens": words + EXTRA_TOKENS,
                                                         "completion_tokens": words + 2}}


@fluxloop.agent(name="SupportAgent")
def run(input_text: str, iteration: int = 0) -> str:
    time.sleep(SLEEP)
    text = input_text.lower()
    if "order" in text:
        oid = "boom" if "boom" in text else "A1"
        info = lookup_order(oid)
        if "refund" in text:
            refund(oid, 10.0)
        reply = llm("your order is " + info["status"])
        return json.dumps({"answer": reply["content"], "order": oid})
    if "flaky" in text and iteration % 2 == 1:
        raise ValueError("flaky failure")
    if "hello" in text and BROKEN_HELLO:
        raise KeyError("greeting table missing")
    return llm("hi: " + input_text)["content"]
"""

VARIANTS = {
    # baseline: the lookup of order "boom" fails, hello works
    "a": {
        "BROKEN_LOOKUP": True,
        "BROKEN_HELLO": False,
        "EXTRA_TOKENS": 5,
        "SLEEP": 0.0,
        "REPLY_PREFIX": "Sure. ",
    },
    # candidate: boom fixed (improvement), hello broken (regression), more tokens, slower
    "b": {
        "BROKEN_LOOKUP": False,
        "BROKEN_HELLO": True,
        "EXTRA_TOKENS": 25,
        "SLEEP": 0.03,  # clearly slower than A even when the machine is loaded
        "REPLY_PREFIX": "Certainly! ",
    },
}

SETTING = """
name: support
runner:
  target: {module}:run
personas:
  - name: novice
    description: new user
  - name: expert
    description: power user
base_inputs:
  - input: Where is my order?
    expected: shipped
  - input: I want a refund for my order
    expected: refund
  - input: order boom please
  - input: Tell me something flaky
  - input: hello there
    expected: "Sure. hi: hello there"
iterations: 2
output_directory: experiments
"""

INPUTS_PER_ITERATION = 10  # 5 base inputs x 2 personas
RUNS = 20


def write_project(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, constants in VARIANTS.items():
        header = "\n".join(f"{k} = {v!r}" for k, v in constants.items())
        (root / f"agent_{name}.py").write_text(header + "\n" + AGENT, encoding="utf-8")
        (root / f"setting_{name}.yaml").write_text(
            SETTING.format(module=f"agent_{name}"), encoding="utf-8"
        )


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A project with two experiments of the same inputs: baseline A and candidate B."""
    root = tmp_path_factory.mktemp("project")
    write_project(root)
    dirs: dict[str, Path] = {"root": root}
    for name in VARIANTS:
        before = (
            set((root / "experiments").glob("[!l]*")) if (root / "experiments").exists() else set()
        )
        proc = fl("run", "experiment", "--config", f"setting_{name}.yaml", cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        (created,) = set((root / "experiments").glob("[!l]*")) - before
        dirs[name] = created
    return dirs


@pytest.fixture
def exp_a(project: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of experiment A (tests write into it)."""
    target = tmp_path / "proj" / "experiments" / project["a"].name
    shutil.copytree(project["a"], target)
    return target


@pytest.fixture
def exp_b(project: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "proj" / "experiments" / project["b"].name
    shutil.copytree(project["b"], target)
    return target


# ---------------------------------------------------------------------------------------------
# the original FluxLoop's experiment directory (hand-built from reference/original-fluxloop.md §3)


def _uuid(n: int) -> str:
    return str(uuid.UUID(int=0x1A7D02B5B381480BAD1B25FBE1777700 + n))


def build_original(directory: Path) -> dict[str, object]:
    """An exp dir of the original CLI 0.2/0.3: UUID ids, naive and `Z` timestamps, observation
    lines in completion order (children first), trace_summary with successful runs only, the
    failed run only in errors.json (no trace id)."""
    directory.mkdir(parents=True, exist_ok=True)
    traces = []
    observations = []
    for i, (persona, text, stamp_style) in enumerate(
        [
            ("novice_user", "Show me an example please", "aware"),
            (None, "What can you do?", "naive"),
            ("expert_user", "Use the tool", "zulu"),
        ]
    ):
        tid = _uuid(i * 10)
        agent_id, tool_id, gen_id = _uuid(i * 10 + 1), _uuid(i * 10 + 2), _uuid(i * 10 + 3)

        def ts(ms: int) -> str:
            base = f"2025-11-22T18:00:3{i}.{ms:06d}"
            return {"aware": base + "+00:00", "naive": base, "zulu": base + "Z"}[stamp_style]

        output = f"Here's an answer to: {text}"
        # completion order: tool, generation, then the agent (the parent) last
        observations += [
            {
                "id": tool_id,
                "type": "tool",
                "name": "process_input",
                "start_time": ts(1000),
                "end_time": ts(1056),
                "input": {"text": text},
                "output": {"intent": "help"},
                "level": "info",
                "metadata": {"description": "Process input"},
                "parent_observation_id": agent_id,
                "trace_id": tid,
            },
            {
                "id": gen_id,
                "type": "generation",
                "name": "generate_response",
                "start_time": ts(2000),
                "end_time": ts(300000),
                "input": {"processed": {"intent": "help"}},
                "output": output,
                "level": "info",
                "metadata": {},
                "model": "fake-llm",
                "prompt_tokens": 5,
                "completion_tokens": 7,
                "total_tokens": 12,
                "parent_observation_id": agent_id,
                "trace_id": tid,
            },
            {
                "id": agent_id,
                "type": "agent",
                "name": "SimpleAgent",
                "start_time": ts(500),
                "end_time": ts(359000),
                "input": {"input_text": text},
                "output": output,
                "level": "info",
                "metadata": {},
                "trace_id": tid,
            },
        ]
        line: dict[str, object] = {
            "trace_id": tid,
            "iteration": i % 2,
            "persona": persona,
            "input": text,
            "output": output,
            "duration_ms": 359.94 + i,
            "success": True,
            "token_usage": {"prompt_tokens": 5.0, "completion_tokens": 7.0, "total_tokens": 12.0},
            "conversation": [
                {
                    "turn_index": 1,
                    "role": "user",
                    "content": text,
                    "source": "input",
                    "metadata": {"persona": persona},
                },
                {
                    "turn_index": 1,
                    "role": "assistant",
                    "content": output,
                    "source": "agent",
                    "metadata": {
                        "actions": [
                            "agent:SimpleAgent",
                            "tool:process_input",
                            "generation:generate_response",
                        ]
                    },
                },
            ],
        }
        traces.append(line)
    errors = [
        {
            "iteration": 1,
            "persona": "novice_user",
            "input": "please fail now",
            "error": "agent failed on purpose",
        }
    ]
    summary = {
        "name": "my-first-agent_experiment",
        "date": "2025-11-22T18:00:38.154386",
        "config": {"name": "my-first-agent_experiment", "iterations": 2},
        "results": {
            "total_runs": 4,
            "successful": 3,
            "failed": 1,
            "success_rate": 0.75,
            "avg_duration_ms": 360.94,
            "duration_seconds": 2.68,
        },
    }
    (directory / "summary.json").write_text(json.dumps(summary, indent=2))
    (directory / "trace_summary.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traces))
    (directory / "traces.jsonl").write_text(
        "".join(json.dumps({**t, "observation_count": 3}) + "\n" for t in traces)
    )
    (directory / "observations.jsonl").write_text(
        "".join(json.dumps(o) + "\n" for o in observations)
    )
    (directory / "errors.json").write_text(json.dumps(errors, indent=2))
    return {"traces": traces, "observations": observations, "errors": errors}


@pytest.fixture
def original_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "orig" / "experiments" / "exp_20251122_180035"
    build_original(directory)
    return directory


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")
