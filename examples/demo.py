"""The end-to-end demo behind ``make demo``.

1. Example agents traced to JSONL files; the files are read back and each trace printed as a tree.
2. The experiment loop on a scaffolded project, through the real CLI: ``init project``,
   ``generate inputs``, ``run experiment``, ``parse experiment``, ``evaluate experiment``; the
   result paths are printed.
3. Model-call cassettes: an agent on the raw OpenAI SDK (streaming, a tool call) runs 20 times
   at --parallel 4 against a local OpenAI-compatible server on 127.0.0.1 with ``--cassette
   record``; the server is stopped and the same experiment replays offline with ``--cassette
   replay`` (same outputs and tokens); ``fluxloop cassette ls`` shows the file.

No API key, no network: the agents use stub models or the local server, and everything is
written under ``demo-output/``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fluxloop  # noqa: E402
from examples import simple_agent, streaming_agent  # noqa: E402
from examples.local_llm_server import FakeServer  # noqa: E402
from fluxloop.cli.render import span_tree_lines  # noqa: E402

DEMO = ROOT / "demo-output"
OUTPUT = DEMO / "traces"


def fluxloop_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run the ``fluxloop`` CLI like a user would; stop the demo on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "fluxloop.cli", "--quiet", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        sys.exit(f"fluxloop {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def experiment_loop() -> None:
    project = DEMO / "project" / "demo"
    shutil.rmtree(DEMO / "project", ignore_errors=True)
    fluxloop_cli("init", "project", "--name", "demo", "--path", str(DEMO / "project"), cwd=ROOT)
    print("\n$ fluxloop generate inputs --limit 6")
    print(fluxloop_cli("generate", "inputs", "--limit", "6", cwd=project))
    print("$ fluxloop run experiment --iterations 2 --parallel 4")
    run_dir = Path(
        fluxloop_cli(
            "run", "experiment", "--iterations", "2", "--parallel", "4", cwd=project
        ).splitlines()[-1]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    results = summary["results"]
    print(
        f"{results['successful']}/{results['total_runs']} runs succeeded, "
        f"p50 {results['p50_duration_ms']:.2f} ms"
    )
    print(f"$ fluxloop parse experiment {run_dir.name}")
    print(fluxloop_cli("parse", "experiment", str(run_dir), cwd=project))
    print(f"$ fluxloop evaluate experiment {run_dir.name}")
    fluxloop_cli("evaluate", "experiment", str(run_dir), cwd=project)
    evaluation = json.loads((run_dir / "evaluation" / "summary.json").read_text())
    print(f"evaluation passed: {evaluation.get('passed')}")
    print("\nExperiment results:")
    for name in (
        "summary.json",
        "trace_summary.jsonl",
        "observations.jsonl",
        "per_trace_analysis",
        "evaluation/report.html",
        "evaluation/junit.xml",
    ):
        print(f"  {(run_dir / name).relative_to(ROOT)}")


def cassette_loop() -> None:
    project = DEMO / "cassette"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    config = {
        "name": "travel",
        "runner": {"target": "examples.cassette_agent:run", "working_directory": str(ROOT)},
        "base_inputs": [{"input": f"Weather in {c}"} for c in ("Paris", "Rome", "Oslo", "Lima")],
        "iterations": 5,
        "output_directory": "experiments",
    }
    (project / "setting.yaml").write_text(json.dumps(config, indent=1))
    server = FakeServer("openai").start()
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-demo-not-a-real-key-0000"}
    try:
        print("\n$ fluxloop run experiment --parallel 4 --cassette record   # live, local server")
        recorded = Path(
            fluxloop_cli(
                "run", "experiment", "--parallel", "4", "--cassette", "record", cwd=project, env=env
            ).splitlines()[-1]
        )
    finally:
        server.stop()
    print(f"{len(server.requests)} live model calls; the server is now stopped")
    print("$ fluxloop run experiment --parallel 4 --cassette replay   # offline")
    replayed = Path(
        fluxloop_cli(
            "run", "experiment", "--parallel", "4", "--cassette", "replay", cwd=project, env=env
        ).splitlines()[-1]
    )
    rows = [
        {line["run_key"]: (line["output"], line["token_usage"]) for line in map(json.loads, f)}
        for f in (
            (d / "trace_summary.jsonl").read_text().splitlines() for d in (recorded, replayed)
        )
    ]
    cassette = json.loads((replayed / "summary.json").read_text())["cassette"]
    print(
        f"{cassette['replayed']} calls replayed, {cassette['missing']} missing; outputs and "
        f"tokens identical in all {len(rows[0])} runs: {rows[0] == rows[1]}"
    )
    print("$ fluxloop cassette ls")
    print(fluxloop_cli("cassette", "ls", cwd=project))


def main() -> None:
    shutil.rmtree(OUTPUT, ignore_errors=True)
    fluxloop.configure(storage="file", base_path=OUTPUT)
    for question in ("What is the weather in Paris?", "Will it rain in Seoul?"):
        print(f"Q: {question}\nA: {simple_agent.run(question)}\n")
    print("Q: Tell me about Seoul (streamed)\nA: ", end="")
    asyncio.run(streaming_agent.main("Tell me about Seoul"))
    fluxloop.flush()

    observation_files = sorted(OUTPUT.glob("observations_*.jsonl"))
    trace_files = sorted(OUTPUT.glob("traces_*.jsonl"))
    records = [
        json.loads(line) for path in observation_files for line in path.read_text().splitlines()
    ]
    for trace_id in dict.fromkeys(str(r.get("trace_id")) for r in records):
        print(f"\ntrace {trace_id}")
        for line in span_tree_lines(r for r in records if str(r.get("trace_id")) == trace_id):
            print("  " + line)
    print(f"\n{len(records)} observations in {len(trace_files)} trace file(s):")
    for path in trace_files + observation_files:
        print(f"  {path.relative_to(ROOT)}")
    experiment_loop()
    cassette_loop()


if __name__ == "__main__":
    main()
