"""report.html in a real browser: Debian's chromium, headless, installed by
scripts/install-chromium.sh. Checks that the numbers are there and that the page's script drew
the charts (SVG). With FLUXLOOP_UPDATE_SCREENSHOT=1 it also refreshes docs/report.png."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from .conftest import dedent, fl

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
INSTALL = REPO / "scripts" / "install-chromium.sh"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed by the project's script when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    # one installer at a time (pytest -n runs this fixture once per worker)
    lock_path = Path(tempfile.gettempdir()) / "fluxloop-install-chromium.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(["sh", str(INSTALL)], capture_output=True, text=True, timeout=900)
    found = shutil.which("chromium")
    if proc.returncode != 0 or not found:
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["unknown reason"]
        message = f"chromium cannot be installed: {reason[0]}"
        print(message)
        pytest.skip(message)
    return found


def browse(binary: str, tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def report(exp_a: Path) -> Path:
    root = exp_a.parent.parent
    for name in ("judges.py", "custom_evals.py"):
        shutil.copy(HERE / name, root / name)
    (root / "evaluation.yaml").write_text(
        dedent(
            """
        evaluation_goal: Support answers are correct, grounded and quick
        evaluators:
          - name: basics
            type: rule_based
            weight: 2
            rules:
              - check: success
              - check: output_not_empty
              - check: latency_under
                budget_ms: 1000
          - name: tools
            type: rule_based
            rules:
              - check: no_error_spans
              - check: max_steps
                max: 5
          - name: judge
            type: llm_judge
            chat_model: judges:make_rubric
            criteria:
              - The answer talks about the user's order
              - Claims are backed by the trace
          - name: concise
            type: custom
            function: custom_evals:short_enough
            params: {limit: 80}
        aggregate: {method: weighted_sum, threshold: 0.7}
        thresholds: {pass_rate: 0.6}
        """
        )
    )
    assert fl("parse", "experiment", str(exp_a), cwd=root).returncode == 0
    proc = fl("evaluate", "experiment", str(exp_a), "-c", "evaluation.yaml", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    return exp_a / "evaluation" / "report.html"


def test_report_renders_numbers_and_charts(chromium: str, report: Path, tmp_path: Path) -> None:
    proc = browse(chromium, tmp_path, report.as_uri(), "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-charts="rendered"' in dom  # the script ran to the end
    card = re.search(r'id="card-pass-rate">.*?class="v">([^<]+)<', dom)
    assert card is not None
    summary = json.loads((report.parent / "summary.json").read_text())
    overall = summary["overall"]
    assert card.group(1) == f"{overall['pass_rate'] * 100:.1f}%"
    assert f"{overall['passed']}/{overall['evaluated']} traces" in dom
    # SVG drawn by the page: 2 bar charts, 2 histograms, a Gantt chart per sampled trace
    assert dom.count('class="fl-chart fl-bars"') == 2
    assert dom.count('class="fl-chart fl-hist"') == 2
    timelines = dom.count("data-timeline=")
    assert timelines >= 10 and dom.count('class="fl-chart fl-gantt"') == timelines
    bars = re.findall(r'class="fl-bar" data-value="([^"]*)"', dom)
    assert len(bars) == len(summary["evaluators"]) + len(summary["per_persona"])
    rates = [e["pass_rate"] for e in summary["evaluators"]]
    assert [float(b) for b in bars[: len(rates)]] == pytest.approx(rates)
    data = json.loads(dom.split('id="fluxloop-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["timelines"]) == timelines
    assert dom.count('class="fl-span"') == sum(len(t["spans"]) for t in data["timelines"]) > 0
    assert dom.count('class="fl-bin"') >= 2
    assert "order service down" in dom  # an error span's tooltip in a failing timeline
    for name in ("basics", "tools", "judge", "concise", "novice", "expert"):
        assert f">{name}<" in dom


def test_report_screenshot(chromium: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = browse(
        chromium,
        tmp_path,
        report.as_uri(),
        "--hide-scrollbars",
        "--window-size=1400,2200",
        f"--screenshot={shot}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 2200) and len(data) > 50_000
    if os.environ.get("FLUXLOOP_UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, REPO / "docs" / "report.png")
