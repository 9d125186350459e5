"""``fluxloop record enable|disable|status``: toggle argument recording in ``.env`` and the config.

* ``enable`` writes ``FLUXLOOP_RECORD_ARGS=true`` and ``FLUXLOOP_RECORDING_FILE=<absolute path>``
  to the project's ``.env`` and points the config at the recording (``--no-replay`` leaves
  ``replay_args`` alone);
* ``disable`` writes ``FLUXLOOP_RECORD_ARGS=false`` and keeps the file path (``--disable-replay``
  also sets ``replay_args.enabled: false``);
* ``status`` shows the effective state, the recording file and the replay settings.

The logic is :mod:`fluxloop.project.recording_toggle`; this module parses options and prints.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from ._common import config_options, echo, info, warn

if TYPE_CHECKING:
    from fluxloop.project.recording_toggle import ToggleResult

__all__ = ["record"]


@click.group()
def record() -> None:
    """Record real call arguments for replay (toggles .env and the config)."""


def _print_toggle(result: ToggleResult) -> None:
    from fluxloop.project.recording_toggle import ENV_FILE, ENV_RECORD
    from fluxloop.project.yaml import display_path

    state = "enabled" if result.enabled else "disabled"
    echo(f"Recording {state}")
    env_line = f"  {display_path(result.env_file)}: {ENV_RECORD}={str(result.enabled).lower()}"
    if result.enabled and result.recording_file is not None:
        env_line += f", {ENV_FILE}={result.recording_file}"
    echo(env_line)
    if result.config_file is not None:
        echo(f"  {display_path(result.config_file)}: " + ", ".join(result.config_changes))
    if result.recording_file is not None:
        echo(f"Recording file: {result.recording_file}")
    for note in result.notes:
        warn(note)


@record.command("enable")
@click.option(
    "--file",
    "-f",
    "file",
    default=None,
    help="Recording file (default: the configured one, else recordings/args_recording.jsonl "
    "in the project).",
)
@click.option(
    "--replay/--no-replay",
    default=True,
    show_default=True,
    help="Also set replay_args.enabled and recording_file in the config.",
)
@config_options
def enable(
    file: str | None, replay: bool, config_path: str | None, project: str | None, root: str | None
) -> None:
    """Turn recording on: FLUXLOOP_RECORD_ARGS=true in .env (and replay in the config)."""
    from fluxloop.project.recording_toggle import toggle_recording

    result = toggle_recording(
        True, file=file, config_path=config_path, project=project, root=root, replay=replay
    )
    _print_toggle(result)
    if result.config_file is not None:
        info(
            "`fluxloop run experiment` now replays this recording (record enable --no-replay "
            "leaves replay_args alone)"
        )
    info(
        "Restart your service so it reads .env (fluxloop.load_env() then fluxloop.configure()); "
        "each fluxloop.record_call_args(...) call appends one line."
    )


@record.command("disable")
@click.option(
    "--disable-replay",
    is_flag=True,
    help="Also set replay_args.enabled: false (by default replay stays as it is).",
)
@config_options
def disable(
    disable_replay: bool, config_path: str | None, project: str | None, root: str | None
) -> None:
    """Turn recording off: FLUXLOOP_RECORD_ARGS=false in .env (the file path is kept)."""
    from fluxloop.project.recording_toggle import toggle_recording

    result = toggle_recording(
        False,
        config_path=config_path,
        project=project,
        root=root,
        replay=disable_replay,
    )
    _print_toggle(result)
    if not disable_replay:
        info("replay_args is unchanged (--disable-replay also turns replay off)")


@record.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
@config_options
def status(as_json: bool, config_path: str | None, project: str | None, root: str | None) -> None:
    """Show whether recording is on, the recording file and the replay settings."""
    from fluxloop.project.recording_toggle import DEFAULT_FILE, ENV_RECORD, recording_state

    state = recording_state(config_path, project, root)
    if as_json:
        echo(json.dumps(asdict(state), indent=2, ensure_ascii=False))
        return
    on = "ON" if state.record_args else "off"
    shown = state.record_args_value if state.record_args_value is not None else "(not set)"
    echo(f"Recording:      {on}  ({ENV_RECORD}={shown}, from {state.record_args_source})")
    if state.recording_file:
        if state.recording_exists:
            detail = f"{state.recorded_calls} recorded call(s), {state.recording_bytes} bytes" + (
                f", last {state.last_timestamp}" if state.last_timestamp else ""
            )
        else:
            detail = "not created yet"
        echo(f"Recording file: {state.recording_file}  ({detail})")
        if state.targets:
            echo(f"Targets:        {', '.join(state.targets)}")
    else:
        echo(f"Recording file: (not set; the SDK default is {DEFAULT_FILE} in its working dir)")
    echo(f"Config:         {state.config or '(none)'}")
    if state.config:
        echo(f"Replay:         {'enabled' if state.replay_enabled else 'disabled'}")
        if state.replay_recording_file:
            echo(f"  recording_file:      {state.replay_recording_file}")
        if state.override_param_path:
            echo(f"  override_param_path: {state.override_param_path}")
        for key, value in state.callable_providers.items():
            echo(f"  callable_providers.{key}: {value}")
    for warning in state.warnings:
        warn(warning)
