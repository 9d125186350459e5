"""`fluxloop status check` reports the collector's health, and a wrong key, as a user sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .conftest import Collector


def status_check(project: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FLUXLOOP_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "fluxloop.cli", "status", "check"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_check_reports_collector_health_and_key(
    tmp_path: Path, collector_factory: Callable[..., Collector]
) -> None:
    collector = collector_factory(api_key="right-key")
    (tmp_path / "setting.yaml").write_text(
        "name: s\nrunner:\n  target: agent:run\nbase_inputs:\n  - input: hi\n"
    )
    healthy = status_check(
        tmp_path, FLUXLOOP_COLLECTOR_URL=collector.url, FLUXLOOP_API_KEY="right-key"
    )
    assert healthy.returncode == 0, healthy.stderr
    assert "healthy" in healthy.stdout and "spans received" in healthy.stdout
    wrong = status_check(
        tmp_path, FLUXLOOP_COLLECTOR_URL=collector.url, FLUXLOOP_API_KEY="wrong-key"
    )
    assert "rejected the API key" in wrong.stdout
    collector.stop()
    down = status_check(tmp_path, FLUXLOOP_COLLECTOR_URL=collector.url)
    assert "not reachable" in down.stdout
