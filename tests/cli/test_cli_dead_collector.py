"""Seed 003's ``.env`` names a collector at ``http://localhost:8000``; usually nothing listens there.

The runs must behave as without a collector except for one line saying where the spans wait (the
official exporter's retry lines are not shown), and the spans must be in that spool.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import yaml

from .conftest import clean_env, fl, fluxloop_cmd

# seed 003, "2. Configure Credentials", verbatim but for the port (8000 may be taken on this host)
SEED_ENV = """\
# FluxLoop Collector
FLUXLOOP_COLLECTOR_URL=http://localhost:8000
FLUXLOOP_API_KEY=your-collector-key

# LLM API Keys
OPENAI_API_KEY=sk-...
ANTHROPIC_API_KEY=sk-ant-...

# Recording (optional)
FLUXLOOP_RECORD_ARGS=false
FLUXLOOP_RECORDING_FILE=/tmp/fluxloop_args.jsonl
"""


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_spool_line(stderr: str, project: Path) -> None:
    assert "Transient error" not in stderr and "Failed to export" not in stderr, stderr
    assert "HTTPConnectionPool" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "not reachable" in line]
    assert len(lines) == 1, stderr
    assert "connection refused" in lines[0] and "re-sent when it answers" in lines[0]
    assert "your-collector-key" not in stderr
    spooled = list((project / "traces" / ".spool").glob("otlp-*/*.spool.jsonl*"))
    assert spooled, "the spans must wait in the spool"


def test_seed_env_with_no_collector_running(initialized: Path) -> None:
    port = dead_port()
    (initialized / ".env").write_text(SEED_ENV.replace("8000", str(port)), encoding="utf-8")
    single = fl("run", "single", "examples.simple_agent:run", "Test input", cwd=initialized)
    assert single.returncode == 0, single.stderr
    assert single.stdout.startswith("Output: ")
    assert_one_spool_line(single.stderr, initialized)

    experiment = fl("run", "experiment", "--iterations", "1", cwd=initialized)
    assert experiment.returncode == 0, experiment.stderr
    assert "4/4 runs succeeded" in experiment.stdout
    assert_one_spool_line(experiment.stderr, initialized)


def test_original_init_project_layout_with_url_only_in_env(tmp_path: Path) -> None:
    """The original's `init project`: configs/*.yaml with `collector_url: null`, the URL in .env."""
    done = fl("init", "project", "--name", "legacy", "--layout", "configs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "fluxloop" / "legacy"
    assert (
        yaml.safe_load((project / "configs" / "project.yaml").read_text())["collector_url"] is None
    )
    port = dead_port()
    (project / ".env").write_text(f"FLUXLOOP_COLLECTOR_URL=http://localhost:{port}\n")
    done = fl("run", "experiment", "--iterations", "1", cwd=project)
    assert done.returncode == 0, done.stderr
    assert_one_spool_line(done.stderr, project)


def test_sdk_script_with_http_storage_and_no_collector(tmp_path: Path) -> None:
    port = dead_port()
    (tmp_path / "app.py").write_text(
        "import fluxloop\n"
        f"fluxloop.configure(storage='http', collector_url='http://127.0.0.1:{port}')\n"
        "@fluxloop.agent()\n"
        "def run(text):\n"
        "    return text.upper()\n"
        "print(run('hello'))\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [fluxloop_cmd()[0], "app.py"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "HELLO"
    assert_one_spool_line(done.stderr, tmp_path)
