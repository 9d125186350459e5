"""The project services the CLI prints (recording toggle, status, config validation) called as
library functions, on a project written by the scaffold; none needs the runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluxloop.errors import ConfigError
from fluxloop.project.configtools import validate_project
from fluxloop.project.layout import SUMMARY_FILE, TRACE_SUMMARY_FILE
from fluxloop.project.recording_toggle import (
    ENV_FILE,
    ENV_RECORD,
    recording_state,
    toggle_recording,
)
from fluxloop.project.scaffold import create_project
from fluxloop.project.status import check_project, list_experiments
from fluxloop.sdk.envfile import read_dotenv


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (ENV_RECORD, ENV_FILE, "FLUXLOOP_COLLECTOR_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return create_project("demo", tmp_path).project_dir


def test_toggle_and_state(project: Path) -> None:
    on = toggle_recording(True, project=str(project))
    recording = project / "recordings" / "args_recording.jsonl"
    assert (on.recording_file, on.config_changes) == (
        recording,
        [
            "replay_args.enabled: true",
            "replay_args.recording_file: recordings/args_recording.jsonl",
        ],
    )
    env_text = (project / ".env").read_text(encoding="utf-8")
    # the scaffold's commented-out line is the one switched on
    assert env_text.count(ENV_FILE) == 1 and f"\n{ENV_FILE}={recording}\n" in env_text
    assert read_dotenv(project / ".env")[ENV_RECORD] == "true"

    recording.write_text(
        json.dumps({"_version": "1", "target": "app:run", "kwargs": {"data": {"content": "hi"}}})
        + "\n",
        encoding="utf-8",
    )
    state = recording_state(project=str(project))
    assert state.record_args and state.replay_enabled
    assert (state.recorded_calls, state.targets) == (1, ["app:run"])
    assert state.replay_recording_file == state.recording_file == str(recording)

    off = toggle_recording(False, project=str(project))
    assert off.recording_file == recording and off.config_changes == []
    assert not recording_state(project=str(project)).record_args


def test_status_reads_the_experiments_by_the_layout_names(project: Path) -> None:
    report = check_project(None, str(project), None, cwd=project)
    rows = {row.component: row.symbol for row in report.rows}
    assert rows["Config"] == "✓" and rows["Experiments"] != "✓"

    experiment = project / "experiments" / "demo_20250101_000000"
    experiment.mkdir(parents=True)
    (experiment / SUMMARY_FILE).write_text(
        json.dumps({"written_by": "fluxloop", "status": "completed", "results": {"total": 1}}),
        encoding="utf-8",
    )
    (experiment / TRACE_SUMMARY_FILE).write_text('{"success": true}\n', encoding="utf-8")
    (info,) = list_experiments(project / "experiments")
    assert info.path == experiment


def test_validation_runs_the_callers_checks_in_the_target_environment(project: Path) -> None:
    seen: list[str] = []

    def check(config: object) -> None:
        seen.append(str(Path.cwd()))
        raise ConfigError("replay_args.recording_file: not found (from a check above)")

    with pytest.raises(ConfigError, match="from a check above"):
        validate_project(None, str(project), None, target_checks=[check])
    assert seen
    summary = validate_project(None, str(project), None)
    assert dict(summary.rows)
