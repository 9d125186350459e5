"""``fluxloop ui`` at scale: time to the first page of an experiment's run table, and the
viewer's peak RSS, for synthetic experiments of 1,000 and 100,000 runs.

Each size gets a synthetic experiment directory (``summary.json``, ``trace_summary.jsonl`` with
~600 B per run, a failed run every 10, two personas, ``evaluation/per_trace.jsonl`` with each evaluator's checks, ~800 B per run). A real
``fluxloop ui`` is started on 127.0.0.1 for it; "first page" is the wall time of the first
``/api/experiment`` + ``/api/runs`` requests (cold: the first rows are read from the file while
DuckDB builds the run table in the background), then the time until a filtered, sorted page
could be answered (the whole table built) and of another such page (warm). Peak RSS is the server's ``VmHWM``. The baseline, in
the same run, is one streaming pass over the same ``trace_summary.jsonl`` with the analysis
package's reader (what a viewer without a query engine would do per request); the ratio is
first page / that pass.

    python bench/bench_ui.py                    # 1,000 and 100,000 runs
    python bench/bench_ui.py --runs 1000,20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from fluxloop.analysis.experiment import load_experiment

PERSONAS = ("novice", "expert")
WORDS = [
    "order",
    "refund",
    "delivery",
    "invoice",
    "account",
    "password",
    "shipping",
    "address",
    "return",
    "warranty",
]


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def write_experiment(directory: Path, runs: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    directory.mkdir(parents=True)
    (directory / "evaluation").mkdir()
    failed = 0
    with (
        (directory / "trace_summary.jsonl").open("w") as ts,
        (directory / "evaluation" / "per_trace.jsonl").open("w") as ev,
    ):
        for n in range(runs):
            tid = _hex(rng, 32)
            ok = n % 10 != 9
            failed += not ok
            text = " ".join(rng.choice(WORDS) for _ in range(12)) + f" #{n % 500}"
            line = {
                "trace_id": tid,
                "iteration": n // 1000,
                "persona": PERSONAS[n % 2],
                "input": text,
                "output": ("Sure, " + text) if ok else None,
                "duration_ms": round(rng.uniform(50, 3000), 3),
                "success": ok,
                "status": "success" if ok else "error",
                "error": None if ok else {"type": "RuntimeError", "message": "service down"},
                "token_usage": {"prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65},
                "metadata": {"expected": "ok"},
            }
            ts.write(json.dumps(line) + "\n")
            # as `fluxloop evaluate` writes it: the run again, plus each evaluator's verdict
            verdict = {
                **{k: line[k] for k in ("trace_id", "iteration", "persona", "input", "output")},
                "success": ok,
                "duration_ms": line["duration_ms"],
                "total_tokens": 65.0,
                "score": 1.0 if ok else 0.0,
                "passed": ok,
                "evaluated": True,
                "evaluators": [
                    {
                        "name": "basic_checks",
                        "type": "rule_based",
                        "weight": 1.0,
                        "score": 1.0 if ok else 0.0,
                        "passed": ok,
                        "status": "pass" if ok else "fail",
                        "reason": "2/2 rules passed" if ok else "0/2 rules passed",
                        "checks": [
                            {"check": "output_not_empty", "passed": ok, "detail": "non-empty"},
                            {"check": "success", "passed": ok, "detail": "run succeeded"},
                        ],
                    }
                ],
            }
            ev.write(json.dumps(verdict) + "\n")
    summary = {
        "name": "bench",
        "status": "completed",
        "contract_version": "1",
        "total_traces": runs,
        "successful": runs - failed,
        "failed": failed,
        "results": {"total_runs": runs, "successful": runs - failed, "failed": failed},
    }
    (directory / "summary.json").write_text(json.dumps(summary))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read())


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(directory: Path) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fluxloop.cli", "ui", str(directory), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", proc.stdout.readline())
        if match is None:
            raise SystemExit(
                f"fluxloop ui did not start: {proc.stderr.read() if proc.stderr else ''}"
            )
        base = match.group(1)
        _get(base + "/api/health")
        idle = _peak_rss_mb(proc.pid)
        start = time.perf_counter()
        _get(base + "/api/experiment?x=.")
        page = _get(base + "/api/runs?x=.")
        first = time.perf_counter() - start
        assert len(page["rows"]) == 50, page
        query = "/api/runs?x=.&status=failed&persona=expert&q=refund&sort=duration&order=desc"
        start = time.perf_counter()
        _get(base + query)  # waits for the whole table when it is still being built
        ready = time.perf_counter() - start + first
        start = time.perf_counter()
        _get(base + query.replace("refund", "order"))
        warm = time.perf_counter() - start
        return {
            "first_page_s": first,
            "table_ready_s": ready,
            "filtered_page_s": warm,
            "peak_rss_mb": _peak_rss_mb(proc.pid),
            "idle_rss_mb": idle,
        }
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def baseline(directory: Path) -> float:
    start = time.perf_counter()
    count = sum(1 for _ in load_experiment(directory).iter_runs())
    assert count > 0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", default="1000,100000", help="comma-separated experiment sizes")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = []
    work = Path(tempfile.mkdtemp(prefix="fluxloop-bench-ui-"))
    try:
        for runs in (int(r) for r in args.runs.split(",")):
            directory = work / f"exp_{runs}"
            write_experiment(directory, runs)
            size_mb = (directory / "trace_summary.jsonl").stat().st_size / 1e6
            scan = baseline(directory)
            row = {
                "runs": runs,
                "trace_summary_mb": size_mb,
                "full_scan_s": scan,
                **measure(directory),
            }
            row["first_page_vs_full_scan"] = row["first_page_s"] / scan
            results.append(row)
            print(
                f"{runs:>7,} runs ({size_mb:6.1f} MB): first page {row['first_page_s']:.3f} s "
                f"(cold), whole table ready {row['table_ready_s']:.2f} s, then a filtered+sorted "
                f"page {row['filtered_page_s'] * 1000:.0f} ms, "
                f"peak RSS {row['peak_rss_mb']:.0f} MB (idle {row['idle_rss_mb']:.0f} MB); "
                f"baseline full scan {scan:.3f} s -> ratio {row['first_page_vs_full_scan']:.2f}x",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
