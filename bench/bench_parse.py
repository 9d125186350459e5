"""Streaming benchmark of ``fluxloop parse experiment`` (and ``evaluate``) on big experiments.

Writes synthetic experiment directories in the FluxLoop contract (``trace_summary.jsonl`` +
``observations.jsonl``, ~1 KB per observation, 6 observations per run, a failed run every 10)
of a small and a large size, then runs parse and evaluate on each in a fresh child process and
reports wall time, the child's peak RSS (``ru_maxrss``) and, in a second child, the peak of
Python allocations (``tracemalloc``). The baseline, in the same run, is what a naive reader
holds: every observation of the small file loaded at once (``tracemalloc`` peak).

    python bench/bench_parse.py                 # 30 MB and 300 MB
    python bench/bench_parse.py --sizes 10,100 --keep /tmp/bench-parse
    python bench/bench_parse.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

OBS_PER_RUN = 6
TEXT = (
    "The customer asked about the status of their order and whether the refund for the damaged "
    "item has been processed; the agent looked up the order, checked the refund policy and "
    "replied with the expected delivery date and the refund reference. "
)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def make_experiment(
    directory: Path, megabytes: int, scale: int = 1, seed: int = 1
) -> dict[str, int]:
    """A synthetic experiment whose observations.jsonl is about ``megabytes`` MB; ``scale``
    multiplies the size of each observation's input and output (fewer, bigger runs)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    target = megabytes * 1024 * 1024
    written = runs = observations = 0
    with (
        open(directory / "observations.jsonl", "w", encoding="utf-8") as obs,
        open(directory / "trace_summary.jsonl", "w", encoding="utf-8") as summary,
    ):
        while written < target:
            tid = _hex(rng, 32)
            root = _hex(rng, 16)
            failed = runs % 10 == 9
            base = f"2026-01-02T03:{(runs // 60) % 60:02d}:{runs % 60:02d}"
            lines = []
            for k in range(OBS_PER_RUN):
                kind = "agent" if k == 0 else ("tool" if k % 2 else "generation")
                record = {
                    "id": root if k == 0 else _hex(rng, 16),
                    "trace_id": tid,
                    "parent_observation_id": None if k == 0 else root,
                    "type": kind,
                    "name": "SupportAgent" if k == 0 else f"{kind}_{k}",
                    "start_time": f"{base}.{k * 1000:06d}+00:00",
                    "end_time": f"{base}.{(k + 1) * 1000 + (9000 if k == 0 else 0):06d}+00:00",
                    "input": {"text": TEXT[: 200 + k * 20] * scale, "step": k},
                    "output": None
                    if failed and k == 0
                    else {"text": TEXT[k * 10 :] * scale, "ok": True},
                    "error": "tool exploded" if failed and k == 0 else None,
                    "level": "error" if failed and k == 0 else "info",
                    "metadata": {"iteration": runs % 3},
                    "model": "fake-llm" if kind == "generation" else None,
                    "prompt_tokens": 50 if kind == "generation" else None,
                    "completion_tokens": 20 if kind == "generation" else None,
                    "total_tokens": 70 if kind == "generation" else None,
                    "attributes": {"fluxloop.run.iteration": runs % 3},
                }
                lines.append(json.dumps(record, separators=(",", ":")))
            payload = "\n".join(lines) + "\n"
            obs.write(payload)
            written += len(payload)
            observations += OBS_PER_RUN
            summary.write(
                json.dumps(
                    {
                        "trace_id": tid,
                        "iteration": runs % 3,
                        "persona": ["novice", "expert"][runs % 2],
                        "input": f"question {runs // 3}",
                        "output": None if failed else "the answer",
                        "duration_ms": 10.0 + runs % 7,
                        "success": not failed,
                        "status": "error" if failed else "success",
                        "error": {"type": "RuntimeError", "message": "tool exploded"}
                        if failed
                        else None,
                        "token_usage": {
                            "prompt_tokens": 100,
                            "completion_tokens": 40,
                            "total_tokens": 140,
                        },
                        "observation_count": OBS_PER_RUN,
                    }
                )
                + "\n"
            )
            runs += 1
    (directory / "summary.json").write_text(json.dumps({"name": "bench", "contract_version": "1"}))
    return {"runs": runs, "observations": observations, "bytes": written}


def child(command: str, directory: Path, trace: bool) -> dict[str, Any]:
    """Run one command in this (fresh) process and measure it."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    if command == "parse":
        from fluxloop.analysis.parse import parse_experiment

        parse_experiment(directory, overwrite=True)
    elif command == "evaluate":
        from fluxloop.analysis.evaluate import evaluate_experiment

        evaluate_experiment(directory, overwrite=True, fail_under=0.0)
    else:  # the naive baseline: every observation in memory
        with open(directory / "observations.jsonl", "rb") as fh:
            records = [json.loads(line) for line in fh]
        assert records
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": round(seconds, 2),
        "rss_mb": round(rss_kb / 1024, 1),
        "tracemalloc_mb": round(peak / 2**20, 1) if peak is not None else None,
    }


def measure(command: str, directory: Path) -> dict[str, Any]:
    def run(trace: bool) -> dict[str, Any]:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                command,
                str(directory),
                *(["--trace"] if trace else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{command} failed:\n{proc.stderr}")
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))

    timed = run(False)
    traced = run(True)
    return {**timed, "tracemalloc_mb": traced["tracemalloc_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="30,300,300:10",
        help="observations.jsonl sizes in MB; MB:N makes each observation N times bigger",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the directories here")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--child", nargs=2, metavar=("COMMAND", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.trace)))
        return
    sizes = [
        (int(mb), int(scale or 1))
        for mb, _, scale in (s.partition(":") for s in args.sizes.split(","))
    ]
    base = args.keep or Path(tempfile.mkdtemp(prefix="fluxloop-bench-parse-"))
    results: list[dict[str, Any]] = []
    try:
        for size, scale in sizes:
            directory = base / f"exp_{size}mb_x{scale}"
            shape = make_experiment(directory, size, scale)
            row: dict[str, Any] = {
                "size_mb": round(shape["bytes"] / 2**20, 1),
                "scale": scale,
                **shape,
            }
            for command in ("parse", "evaluate"):
                row[command] = measure(command, directory)
            if (size, scale) == sizes[0]:
                row["naive_load_all"] = measure("naive", directory)
            results.append(row)
            out = directory / "per_trace_analysis"
            if out.exists() and not args.keep:
                shutil.rmtree(out)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    naive = results[0].get("naive_load_all", {})
    print(
        f"{'observations.jsonl':>20} {'KB/obs':>7} {'runs':>8} {'command':>9} {'seconds':>8} {'MB/s':>7} "
        f"{'peak RSS MB':>12} {'tracemalloc MB':>15} {'vs naive':>9}"
    )
    for row in results:
        for command in ("parse", "evaluate"):
            m = row[command]
            ratio = (m["tracemalloc_mb"] / naive["tracemalloc_mb"]) if naive else None
            kb = row["bytes"] / row["observations"] / 1024
            print(
                f"{row['size_mb']:>17} MB {kb:>7.1f} {row['runs']:>8} {command:>9} {m['seconds']:>8} "
                f"{row['size_mb'] / m['seconds']:>7.1f} {m['rss_mb']:>12} "
                f"{m['tracemalloc_mb']:>15} {ratio:>8.3f}x"
            )
    if naive:
        print(
            f"naive baseline (all observations of the {results[0]['size_mb']} MB file in memory):"
            f" tracemalloc {naive['tracemalloc_mb']} MB, RSS {naive['rss_mb']} MB"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    os.sys.stdout.flush()


if __name__ == "__main__":
    main()
