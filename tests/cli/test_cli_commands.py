"""status, config, exit codes, dry run and collector shipping through the real CLI."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from .conftest import fl

FLAKY_AGENT = """\
import fluxloop


@fluxloop.agent()
def run(input_text):
    if "bad" in input_text:
        raise ValueError("cannot handle " + input_text)
    return "ok:" + input_text
"""


def flaky_project(root: Path, extra: str = "") -> None:
    (root / "agent.py").write_text(FLAKY_AGENT)
    (root / "setting.yaml").write_text(
        '# my experiment\nname: mixed  # keep this comment\nrunner:\n  target: "agent:run"\n'
        "base_inputs:\n  - input: good one\n  - input: bad one\n  - input: good two\n"
        "  - input: good three\noutput_directory: out\n" + extra
    )


def test_failed_runs_exit_1_and_threshold_passes(tmp_path: Path) -> None:
    flaky_project(tmp_path)
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 1
    assert "3/4 runs succeeded (75.0%)" in done.stdout
    assert "failed: 1 (ValueError: 1)" in done.stdout
    assert done.stderr.rstrip().splitlines()[-1] == (
        "error: 1/4 runs failed (set success_threshold to tolerate failures)"
    )
    flaky_project(tmp_path, "success_threshold: 0.7\n")
    done = fl("run", "experiment", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # status reads the real numbers back
    done = fl("status", "experiments", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.count("75.0%") == 2 and "completed" in done.stdout
    done = fl("status", "traces", "--failed", cwd=tmp_path)
    assert "4 run(s), 1 failed (showing 1)" in done.stdout
    assert "ValueError: cannot handle bad one" in done.stdout
    done = fl("status", "check", cwd=tmp_path)
    assert "2 in out; latest mixed_" in done.stdout
    assert "4 from base_inputs" in done.stdout


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    flaky_project(tmp_path)
    done = fl(
        "run", "experiment", "--dry-run", "--iterations", "3", "--parallel", "4", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Total runs:   12" in done.stdout
    assert "Parallel:     4" in done.stdout
    assert "Dry run: nothing was executed or written." in done.stdout
    assert not (tmp_path / "out").exists()


def test_config_set_keeps_comments_and_validates(tmp_path: Path) -> None:
    flaky_project(tmp_path)
    done = fl("config", "set", "runner.timeout_seconds", "30", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = fl("config", "set", "name", "renamed", cwd=tmp_path)
    assert done.returncode == 0
    text = (tmp_path / "setting.yaml").read_text()
    assert text.startswith("# my experiment\nname: renamed  # keep this comment\n")
    assert "  timeout_seconds: 30\n" in text
    bad = fl("config", "set", "iterations", "-3", cwd=tmp_path)
    assert bad.returncode == 2
    assert "iterations: expected an integer >= 1" in bad.stderr
    assert "iterations" not in (tmp_path / "setting.yaml").read_text()
    shown = fl("config", "show", "--format", "json", cwd=tmp_path)
    assert json.loads(shown.stdout)["runner"]["timeout_seconds"] == 30


def test_config_set_llm_and_env(tmp_path: Path) -> None:
    flaky_project(tmp_path)
    (tmp_path / ".env").write_text("# keys\nOTHER=1\n")
    done = fl(
        "config",
        "set-llm",
        "openai",
        "sk-test-abcdefghijklmnop",
        "--model",
        "gpt-4o-mini",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    env_text = (tmp_path / ".env").read_text()
    assert env_text == "# keys\nOTHER=1\nOPENAI_API_KEY=sk-test-abcdefghijklmnop\n"
    assert "provider: openai" in (tmp_path / "setting.yaml").read_text()
    kept = fl("config", "set-llm", "openai", "sk-other-key-123456789", "--keep-env", cwd=tmp_path)
    assert "kept it (--keep-env)" in kept.stderr
    shown = fl("config", "env", cwd=tmp_path)
    assert "OPENAI_API_KEY" in shown.stdout and "****mnop" in shown.stdout
    assert "sk-test-abcdefghijklmnop" not in shown.stdout
    assert ".env" in shown.stdout.splitlines()[-1]
    unmasked = fl("config", "env", "--show-values", cwd=tmp_path)
    assert "sk-test-abcdefghijklmnop" in unmasked.stdout
    valid = fl("config", "validate", "--config", "setting.yaml", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert "Total runs  4" in valid.stdout


class _Collector(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_are_shipped_to_a_collector_unless_no_collector(tmp_path: Path) -> None:
    flaky_project(tmp_path, "success_threshold: 0.5\n")
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _Collector.paths = []
        done = fl(
            "run", "experiment", "--no-collector", cwd=tmp_path, env={"FLUXLOOP_COLLECTOR_URL": url}
        )
        assert done.returncode == 0, done.stderr
        assert _Collector.paths == []
        done = fl("run", "experiment", cwd=tmp_path, env={"FLUXLOOP_COLLECTOR_URL": url})
        assert done.returncode == 0, done.stderr
        assert _Collector.paths and all(p.endswith("/v1/traces") for p in _Collector.paths)
    finally:
        server.shutdown()
