"""``fluxloop record enable|disable|status``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from fluxloop.cli import cli

from .conftest import RECORDING_ENV


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``fluxloop init project --name demo`` in tmp_path; cwd is the project."""
    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert run("init", "project", "--name", "demo").exit_code == 0
    project = tmp_path / "fluxloop" / "demo"
    monkeypatch.chdir(project)
    yield project


def test_enable_edits_env_and_config_keeping_everything_else(proj: Path) -> None:
    env_before = (proj / ".env").read_text()
    setting_before = (proj / "setting.yaml").read_text()
    result = run("record", "enable")
    assert result.exit_code == 0, result.output
    recording = proj / "recordings" / "args_recording.jsonl"
    assert f"Recording file: {recording}" in result.output
    assert "`fluxloop run experiment` now replays this recording" in result.output

    env_after = (proj / ".env").read_text()
    # the commented-out FLUXLOOP_RECORDING_FILE line is switched on in place
    expected = env_before.replace(
        "FLUXLOOP_RECORD_ARGS=false\n# FLUXLOOP_RECORDING_FILE=recordings/args.jsonl\n",
        f"FLUXLOOP_RECORD_ARGS=true\nFLUXLOOP_RECORDING_FILE={recording}\n",
    )
    assert env_after == expected
    assert "# LLM API keys" in env_after and env_after.count("FLUXLOOP_RECORDING_FILE") == 1

    setting_after = (proj / "setting.yaml").read_text()
    for line in setting_before.splitlines():
        if line.lstrip().startswith("#"):
            assert line in setting_after  # every comment kept
    data = yaml.safe_load(setting_after)
    assert data["replay_args"] == {
        "enabled": True,
        "recording_file": "recordings/args_recording.jsonl",
    }
    assert recording.parent.is_dir()


def test_enable_uses_the_configured_file_and_custom_files(proj: Path) -> None:
    setting = proj / "setting.yaml"
    setting.write_text(
        setting.read_text()
        + "\n# replay\nreplay_args:\n  enabled: false  # off for now\n"
        + '  recording_file: "recordings/pluto_args.jsonl"\n'
        + "  override_param_path: data.content\n"
    )
    assert run("record", "enable").exit_code == 0
    env = (proj / ".env").read_text()
    assert f"FLUXLOOP_RECORDING_FILE={proj / 'recordings' / 'pluto_args.jsonl'}" in env
    text = setting.read_text()
    assert "# replay" in text
    assert yaml.safe_load(text)["replay_args"] == {
        "enabled": True,
        "recording_file": "recordings/pluto_args.jsonl",
        "override_param_path": "data.content",
    }

    result = run("record", "enable", "--file", "custom/x.jsonl", "--no-replay")
    assert result.exit_code == 0
    assert f"FLUXLOOP_RECORDING_FILE={proj / 'custom' / 'x.jsonl'}" in (proj / ".env").read_text()
    assert yaml.safe_load(setting.read_text())["replay_args"]["recording_file"] == (
        "recordings/pluto_args.jsonl"
    )
    assert (proj / "custom").is_dir()


def test_disable_keeps_the_file_and_replay(proj: Path) -> None:
    run("record", "enable")
    result = run("record", "disable")
    assert result.exit_code == 0
    env = (proj / ".env").read_text()
    assert "FLUXLOOP_RECORD_ARGS=false" in env and "FLUXLOOP_RECORD_ARGS=true" not in env
    assert "FLUXLOOP_RECORDING_FILE=" in env
    assert yaml.safe_load((proj / "setting.yaml").read_text())["replay_args"]["enabled"] is True
    assert "replay_args is unchanged" in result.output

    assert run("record", "disable", "--disable-replay").exit_code == 0
    replay = yaml.safe_load((proj / "setting.yaml").read_text())["replay_args"]
    assert replay["enabled"] is False
    assert replay["recording_file"] == "recordings/args_recording.jsonl"


def test_configs_layout_edits_simulation_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert run("init", "project", "--name", "multi", "--layout", "configs").exit_code == 0
    result = run("record", "enable", "--project", "multi")
    assert result.exit_code == 0, result.output
    project = tmp_path / "fluxloop" / "multi"
    simulation = yaml.safe_load((project / "configs" / "simulation.yaml").read_text())
    assert simulation["replay_args"]["enabled"] is True
    assert "FLUXLOOP_RECORD_ARGS=true" in (project / ".env").read_text()
    status = json.loads(run("record", "status", "--project", "multi", "--json").output)
    assert status["record_args"] is True and status["replay_enabled"] is True


def test_project_without_config_only_touches_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in RECORDING_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = run("record", "enable")
    assert result.exit_code == 0
    assert "no FluxLoop config" in result.output
    assert (tmp_path / ".env").read_text().startswith("FLUXLOOP_RECORD_ARGS=true\n")


def test_status_reports_the_recording_and_warnings(
    proj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("record", "enable")
    recording = proj / "recordings" / "args_recording.jsonl"
    recording.write_text(
        json.dumps(
            {
                "_version": "1",
                "target": "app:H.handle",
                "kwargs": {"a": 1},
                "timestamp": "2025-01-01T00:00:00+00:00",
            }
        )
        + "\n"
    )
    (proj / "service.py").write_text(
        "import fluxloop\n\nfluxloop.configure(record_args=True)\n"
        "fluxloop.record_call_args(target='app:H.handle', a=1)\n"
    )
    result = run("record", "status")
    assert result.exit_code == 0
    out = result.output
    assert "Recording:      ON  (FLUXLOOP_RECORD_ARGS=true, from .env)" in out
    assert f"Recording file: {recording}  (1 recorded call(s), " in out
    assert "Targets:        app:H.handle" in out
    assert "Replay:         enabled" in out
    assert "service.py:3 hard-codes record_args=True" in out
    assert "no call to fluxloop.record_call_args" not in out

    monkeypatch.setenv("FLUXLOOP_RECORD_ARGS", "false")
    state = json.loads(run("record", "status", "--json").output)
    assert state["record_args"] is False and state["record_args_source"] == "environment"
    assert state["recorded_calls"] == 1


def test_status_warns_when_replay_reads_another_file(proj: Path) -> None:
    run("record", "enable")
    run("record", "enable", "--file", "elsewhere.jsonl", "--no-replay")
    out = run("record", "status").output
    assert "the SDK records to" in out and "but replay_args.recording_file is" in out
    # the scaffold's @fluxloop.agent records its calls by itself: no warning about that
    assert "record_call_args(...) found" not in out
    import shutil

    shutil.rmtree(proj / "examples")
    out = run("record", "status").output
    assert "no @fluxloop.agent and no call to fluxloop.record_call_args(...) found" in out


def test_shell_environment_override_is_noted(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUXLOOP_RECORD_ARGS", "false")
    out = run("record", "enable").output
    assert "FLUXLOOP_RECORD_ARGS=false is set in this shell's environment" in out


def test_a_config_that_cannot_be_edited_leaves_env_alone(proj: Path) -> None:
    from fluxloop.errors import ConfigError

    setting = proj / "setting.yaml"
    setting.write_text(setting.read_text() + "\nreplay_args: oops\n")
    env_before = (proj / ".env").read_text()
    with pytest.raises(ConfigError, match="replay_args"):
        run("record", "enable")
    assert (proj / ".env").read_text() == env_before
    # --no-replay does not touch the config
    assert run("record", "enable", "--no-replay").exit_code == 0
    assert "FLUXLOOP_RECORD_ARGS=true" in (proj / ".env").read_text()
