"""What an unreachable collector costs (prints numbers; no assertions).

Run: ``.venv/bin/python bench/bench_dead_collector.py [--repeat N]``.

The seeds' ``.env`` sets ``FLUXLOOP_COLLECTOR_URL=http://localhost:8000``; most of the time nothing
listens there. Each case runs in a fresh subprocess (the cost is process exit and the first
export) and is compared with the same work without a collector, in the same process tree:

1. SDK script: one decorated call with ``configure(storage="http", collector_url=<dead>)`` versus
   ``storage="file"``: wall time until the process has exited.
2. ``fluxloop run single`` in a scaffolded project whose ``.env`` names the dead collector, versus
   the same command with ``--no-collector``.
3. ``fluxloop run experiment`` (4 runs), same comparison.

The dead endpoint is a free 127.0.0.1 port nobody listens on (connection refused at once).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """
import fluxloop
fluxloop.configure(storage={storage!r}, collector_url={url!r}, base_path={base!r})

@fluxloop.agent()
def run(text):
    return text.upper()

print(run("hello"))
"""


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXLOOP_", "OTEL_"))}
    env.pop("PYTHONPATH", None)
    return env


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        args, check=False, cwd=cwd, env=clean_env(), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stderr


def median_of(repeat: int, args: list[str], cwd: Path) -> tuple[float, str]:
    runs = [timed(args, cwd) for _ in range(repeat)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def report(label: str, dead: float, baseline: float, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    print(
        f"{label:<34} dead collector {dead:6.2f} s   without {baseline:6.2f} s   "
        f"ratio {dead / baseline:5.2f}x   extra {dead - baseline:+.2f} s   "
        f"stderr lines {len(lines)}"
    )
    for line in lines[:6]:
        print(f"    | {line[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = dead_url()
        for storage in ("file", "http"):
            (root / f"sdk_{storage}.py").write_text(
                SCRIPT.format(storage=storage, url=url, base=str(root / "traces"))
            )
        base, _ = median_of(args.repeat, [py, "sdk_file.py"], root)
        dead, err = median_of(args.repeat, [py, "sdk_http.py"], root)
        report("SDK script, storage=http", dead, base, err)

        cli = [py, "-m", "fluxloop.cli"]
        subprocess.run(
            [*cli, "init", "project", "--name", "bench"],
            cwd=root,
            env=clean_env(),
            check=True,
            capture_output=True,
        )
        project = root / "fluxloop" / "bench"
        env_file = project / ".env"
        env_file.write_text(
            env_file.read_text() + f"\nFLUXLOOP_COLLECTOR_URL={url}\n", encoding="utf-8"
        )
        single = [*cli, "run", "single", "examples.simple_agent:run", "hello"]
        base, _ = median_of(args.repeat, [*single, "--no-collector"], project)
        dead, err = median_of(args.repeat, single, project)
        report("run single", dead, base, err)
        experiment = [*cli, "run", "experiment", "--iterations", "1"]
        base, _ = median_of(args.repeat, [*experiment, "--no-collector"], project)
        dead, err = median_of(args.repeat, experiment, project)
        report("run experiment (4 runs)", dead, base, err)


if __name__ == "__main__":
    main()
