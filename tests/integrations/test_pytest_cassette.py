"""``@pytest.mark.fluxloop_cassette`` and the ``fluxloop_cassette`` fixture, in a real pytest
subprocess: record, replay without calling the model, a changed prompt fails with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.cli_process import clean_env

TESTS = """
import os
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

COUNT = Path(os.environ["MODEL_CALLS"])


class Counted(FakeListChatModel):
    def _call(self, *args, **kwargs):
        COUNT.write_text(str(int(COUNT.read_text() or 0) + 1) if COUNT.exists() else "1")
        return super()._call(*args, **kwargs)


PROMPT = os.environ.get("PROMPT", "hello")


@pytest.mark.fluxloop_cassette
def test_marked():
    model = Counted(responses=["the answer"])
    try:
        answer = model.invoke(PROMPT).content
    except Exception:  # an agent that swallows errors: the cassette still fails the test
        answer = "fallback"
    Path(os.environ["ANSWERS"]).open("a").write(answer + "\\n")


def test_fixture(fluxloop_cassette):
    assert fluxloop_cassette is not None and fluxloop_cassette.mode in ("record", "replay")
    model = Counted(responses=["fixture answer"])
    assert model.invoke("from the fixture").content == "fixture answer"
"""


def _pytest(project: Path, mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(
            {
                "FLUXLOOP_CASSETTE": mode,
                "MODEL_CALLS": str(project / "calls.txt"),
                "ANSWERS": str(project / "answers.txt"),
                **env,
            }
        ),
    )


def test_marker_and_fixture_record_then_replay(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_agent.py").write_text(textwrap.dedent(TESTS), encoding="utf-8")
    done = _pytest(tmp_path, "record")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "calls.txt").read_text() == "2"
    cassette = tmp_path / "tests" / "cassettes" / "test_agent.jsonl"
    header, *entries = [json.loads(x) for x in cassette.read_text().splitlines()]
    assert header["target"] == "test_agent.py"
    assert sorted(e["run"] for e in entries) == ["pytest:test_fixture", "pytest:test_marked"]
    (tmp_path / "calls.txt").unlink()
    again = _pytest(tmp_path, "replay")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / "calls.txt").exists()  # the model was not called
    assert (tmp_path / "answers.txt").read_text().splitlines() == ["the answer"] * 2
    changed = _pytest(tmp_path, "replay", PROMPT="a different prompt")
    assert changed.returncode == 1
    assert "2 passed, 1 error" in changed.stdout  # the body swallowed the miss
    assert "no recording for run pytest:test_marked, call 0" in changed.stdout
    assert "'a different prompt'; re-record with --cassette auto" in changed.stdout
