"""parse and evaluate on a collector directory: time and peak memory at two sizes.

Writes a collector-style directory (``traces_*.jsonl`` / ``observations_*.jsonl`` through the
SDK's JSONL exporter, as ``collector serve`` does) of ``--spans`` spans in traces of
``--per-trace`` spans (an agent, a tool, chat calls), and a baseline directory ten times smaller.
Then runs ``fluxloop parse experiment`` and ``fluxloop evaluate experiment`` (rule-based checks,
no LLM) on each as subprocesses and reports wall time, spans/s and peak RSS. Streaming means the
large directory's peak RSS stays close to the baseline's: the ratio is the number to watch.

    .venv/bin/python bench/bench_traces_dir.py [--spans 1000000] [--per-trace 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fluxloop_exporters import JsonlFileSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

RESOURCE = Resource({"service.name": "bench-agent", "service.version": "1.0"})
SCOPE = InstrumentationScope("bench", "1.0")
FLAGS = TraceFlags(TraceFlags.SAMPLED)
QUESTION = json.dumps("Where is my order #42? It was due yesterday.")
ANSWER = json.dumps("Your order ships tomorrow; tracking number 1Z999AA10123456784.")
CONFIG = """
evaluators:
  - name: rules
    type: rule_based
    rules:
      - check: tool_called
        tool: lookup_order
      - check: token_usage_under
        max_total_tokens: 100000
      - check: no_error_spans
thresholds:
  pass_rate: 0
"""


def write_directory(directory: Path, spans: int, per_trace: int) -> None:
    exporter = JsonlFileSpanExporter(directory)
    start = time.time_ns() - spans * 1000
    batch: list[ReadableSpan] = []
    for index in range(spans):
        trace = index // per_trace + 1
        position = index % per_trace
        root_id = trace * 1000 + 1
        span_id = trace * 1000 + position + 1
        if position == 0:
            name, kind, parent = "invoke_agent support", SpanKind.INTERNAL, None
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "support",
                "fluxloop.input": QUESTION,
                "fluxloop.output": ANSWER,
                "fluxloop.session.id": f"session-{trace % 5000}",
            }
        elif position == 1:
            name, kind = "execute_tool lookup_order", SpanKind.INTERNAL
            attributes = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
                "gen_ai.tool.call.arguments": '{"order_id": 42}',
                "gen_ai.tool.call.result": '{"status": "packed"}',
            }
        else:
            name, kind = "chat gpt-4o-mini", SpanKind.CLIENT
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
                "fluxloop.input": QUESTION,
                "fluxloop.output": ANSWER,
            }
        if position:
            parent = SpanContext(trace, root_id, False, FLAGS)
        at = start + index * 1000
        batch.append(
            ReadableSpan(
                name=name,
                context=SpanContext(trace, span_id, False, FLAGS),
                parent=parent,
                resource=RESOURCE,
                attributes=attributes,
                kind=kind,
                start_time=at,
                end_time=at + (per_trace * 1000 if position == 0 else 500),
                instrumentation_scope=SCOPE,
            )
        )
        if len(batch) == 2000:
            exporter.export(batch)
            batch = []
    exporter.export(batch)
    exporter.shutdown()


def measure(command: list[str]) -> dict[str, float]:
    """Wall time and the child's own peak RSS (wait4)."""
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(command[3:6])} exited {code}: {stderr[-500:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def run(directory: Path, spans: int, per_trace: int, work: Path) -> dict[str, Any]:
    began = time.perf_counter()
    write_directory(directory, spans, per_trace)
    written = time.perf_counter() - began
    size = sum(p.stat().st_size for p in directory.glob("*.jsonl"))
    cli = [sys.executable, "-m", "fluxloop.cli"]
    parse = measure(
        [*cli, "parse", "experiment", str(directory), "-o", str(work / "parsed"), "-f", "json"]
    )
    config = work / "evaluation.yaml"
    config.write_text(CONFIG)
    evaluate = measure(
        [
            *cli,
            "evaluate",
            "experiment",
            str(directory),
            "-c",
            str(config),
            "-o",
            str(work / "evaluation"),
        ]
    )
    return {
        "spans": spans,
        "traces": spans // per_trace,
        "directory_mb": round(size / 1e6, 1),
        "write_seconds": round(written, 1),
        "parse": parse | {"spans_per_s": round(spans / parse["seconds"])},
        "evaluate": evaluate | {"spans_per_s": round(spans / evaluate["seconds"])},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--per-trace", type=int, default=20)
    parser.add_argument("--json", dest="json_path", help="write the numbers to this file")
    args = parser.parse_args()
    results = []
    for spans in (args.spans // 10, args.spans):
        work = Path(tempfile.mkdtemp(prefix="fluxloop-bench-dir-"))
        try:
            results.append(run(work / "collector", spans, args.per_trace, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        r = results[-1]
        print(
            f"{r['spans']:>9,} spans ({r['traces']:,} traces, {r['directory_mb']} MB): "
            f"parse {r['parse']['seconds']} s ({r['parse']['spans_per_s']:,} spans/s, "
            f"peak RSS {r['parse']['peak_rss_mb']} MB); evaluate {r['evaluate']['seconds']} s "
            f"({r['evaluate']['spans_per_s']:,} spans/s, peak RSS {r['evaluate']['peak_rss_mb']} MB)",
            flush=True,
        )
    small, large = results
    for step in ("parse", "evaluate"):
        ratio = large[step]["peak_rss_mb"] / small[step]["peak_rss_mb"]
        print(f"{step}: peak RSS at 10x the spans = {ratio:.2f}x the baseline's")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
