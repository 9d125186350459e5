"""Bounds on hostile input (issue #12, points 6-9): time and peak memory per case.

Run: ``.venv/bin/python bench/bench_bounds.py [--timeout S]``. Each case runs in a fresh
subprocess; a watchdog stops a case that passes ``--timeout`` seconds (default 20) or 2 GB of
resident memory and reports it as ``>`` the limit. Peak memory is the process's maximum resident
set size minus the size measured after imports, so it is what the case itself cost. These are
absolute numbers of pathological inputs (the point is "bounded" versus "unbounded"), not ratios:
no assertion, nothing here runs in the test suite.

Cases:
  6  ``@fluxloop.prompt`` called with ``range(10**7)``; with a sequence claiming 10**12 items
  7  ``record_call_args`` of a 5,000,000-key dict; of a mapping whose keys never end
  8  loading a 1 KB ``setting.yaml`` whose aliases expand to 9**7 nodes (billion laughs)
  9  a token count of 5,000 digits among 7 spans (lines written); a 0.2 s ``__repr__`` on
     ``@agent`` with recording on (caller seconds, repr calls); reading an 8 MB recorded line
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

PRELUDE = """
import os, resource, sys, tempfile, threading, time
os.chdir(tempfile.mkdtemp())
import fluxloop
from fluxloop.sdk import _recording
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def _watch(limit_s, limit_mb):
    import time as _t
    start = _t.monotonic()
    while True:
        _t.sleep(0.05)
        with open("/proc/self/statm") as fh:
            now_mb = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        if _t.monotonic() - start > limit_s or now_mb > limit_mb:
            print(json.dumps({"killed": True, "seconds": _t.monotonic() - start,
                              "peak_mb": max(rss_mb(), now_mb) - BASE}), flush=True)
            os._exit(0)
import json
"""

CASES: dict[str, str] = {
    "6 prompt(range(10**7))": """
fluxloop.configure(storage="file", base_path="t")
@fluxloop.prompt(model="gpt-4o")
def call(messages): return "ok"
def run(): call(range(10**7))
""",
    "6 prompt(sequence of 10**12)": """
from collections.abc import Sequence
class Huge(Sequence):
    def __len__(self): return 10**12
    def __getitem__(self, i):
        if isinstance(i, slice): return [self[j] for j in range(*i.indices(len(self)))]
        if i >= 10**12: raise IndexError(i)
        return {"role": "user", "content": "hi"}
fluxloop.configure(storage="file", base_path="t")
@fluxloop.prompt(model="gpt-4o")
def call(messages): return "ok"
def run(): call(Huge())
""",
    "7 record_call_args(5M-key dict)": """
fluxloop.configure(storage="file", base_path="t", record_args=True, recording_file="r.jsonl")
big = {f"k{i}": i for i in range(5_000_000)}
BASE = rss_mb()
def run(): fluxloop.record_call_args(target="m:f", payload=big)
""",
    "7 record_call_args(endless mapping)": """
from collections.abc import Mapping
class Endless(Mapping):
    def __getitem__(self, key): return 1
    def __len__(self): return 10  # lies: the keys never end
    def __iter__(self):
        i = 0
        while True:
            yield f"key-{i}-" + "x" * 40
            i += 1
fluxloop.configure(storage="file", base_path="t", record_args=True, recording_file="r.jsonl")
def run(): fluxloop.record_call_args(target="m:f", payload=Endless())
""",
    "8 billion laughs 9**7 (setting.yaml)": """
from pathlib import Path
from fluxloop.project.config import discover_config, load_raw_config
lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
for i in range(1, 7):
    prev = f"*a{i-1}"
    lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
lines.append("runner: {target: 'm:f', extra: *a6}")
Path("setting.yaml").write_text("\\n".join(lines) + "\\n")
def run():
    try:
        load_raw_config(discover_config(Path("setting.yaml")))
    except Exception as exc:
        print("refused:", str(exc)[:100], file=sys.stderr)
""",
    "9 token count of 5,000 digits (lines written of 7)": """
fluxloop.configure(storage="file", base_path="t")
@fluxloop.prompt(model="gpt-4o")
def call(x): return {"usage": {"prompt_tokens": 10**5000, "completion_tokens": 3}}
@fluxloop.tool
def tool(x): return x
def run():
    for i in range(3): tool(i)
    call("q")
    for i in range(3): tool(i)
    fluxloop.flush()
    import glob
    n = sum(1 for f in glob.glob("t/observations_*.jsonl") for _ in open(f))
    RESULT["lines"] = n
""",
    "9 0.2 s __repr__ on @agent with recording (repr calls)": """
fluxloop.configure(storage="file", base_path="t", record_args=True, recording_file="r.jsonl")
class Slow:
    __slots__ = ()
    def __repr__(self):
        RESULT["reprs"] = RESULT.get("reprs", 0) + 1
        time.sleep(0.2)
        return "Slow()"
@fluxloop.agent
def agent(x): return x
def run(): agent(Slow())
""",
    "9 read an 8 MB recorded line": """
line = json.dumps({"_version": "1", "iteration": 0, "target": "m:f",
                   "kwargs": {"items": ["x" * 80] * 100_000}, "timestamp": "t"})
open("r.jsonl", "w").write(line + "\\n")
from fluxloop.generation.recording import read_recording
def run():
    calls, notes = read_recording(__import__("pathlib").Path("r.jsonl"))
    RESULT["kwargs_bytes"] = len(json.dumps(calls[0].kwargs))
""",
}


def _script(body: str, timeout: float, limit_mb: int) -> str:
    return (
        PRELUDE
        + "RESULT = {}\nBASE = rss_mb()\n"
        + textwrap.dedent(body)
        + f"\nthreading.Thread(target=_watch, args=({timeout}, {limit_mb}), daemon=True).start()\n"
        + "t0 = time.perf_counter(); run(); dt = time.perf_counter() - t0\n"
        + 'print(json.dumps({"killed": False, "seconds": dt, "peak_mb": rss_mb() - BASE, **RESULT}))\n'
    )


def main() -> None:
    """Run every case; print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--limit-mb", type=int, default=2048)
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    rows = {}
    print(f"{'case':58} {'seconds':>10} {'peak MB':>9}  notes")
    for name, body in CASES.items():
        proc = subprocess.run(
            [sys.executable, "-c", _script(body, args.timeout, args.limit_mb)],
            capture_output=True,
            text=True,
            check=False,
        )
        last = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not last:
            print(f"{name:58} failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(last[-1])
        rows[name] = row
        mark = ">" if row.pop("killed") else ""
        seconds = f"{mark}{row.pop('seconds'):.3f}"
        peak = f"{row.pop('peak_mb'):.0f}"
        print(f"{name:58} {seconds:>10} {peak:>9}  {row or ''}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
