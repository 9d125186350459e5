"""``fluxloop record enable|disable|status``: toggle argument recording in ``.env`` and the config.

* ``enable`` writes ``FLUXLOOP_RECORD_ARGS=true`` and ``FLUXLOOP_RECORDING_FILE=<absolute path>``
  to the project's ``.env`` (every other line and comment kept; a commented-out
  ``# FLUXLOOP_RECORDING_FILE=...`` line is switched on in place), creates the recording's
  directory, and points the config at the recording (``replay_args.enabled: true``,
  ``replay_args.recording_file``), saying so (``--no-replay`` leaves ``replay_args`` alone);
* ``disable`` writes ``FLUXLOOP_RECORD_ARGS=false`` and keeps the file path; replay stays as it
  is, so ``fluxloop run experiment`` replays what was recorded (``--disable-replay`` also sets
  ``replay_args.enabled: false``);
* ``status`` shows the effective state (the shell environment wins over ``.env``), the
  recording file (calls, targets, last timestamp), the replay settings, and warns about code
  that cannot follow the toggle (a hard-coded ``record_args=True``, no ``record_call_args``).

Services pick the toggle up at startup: ``fluxloop.load_env(".env")`` (or run from the project
directory) then ``fluxloop.configure()``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from ._common import config_options, echo, info, warn

__all__ = ["RecordState", "record", "recording_state", "set_env_value", "toggle_recording"]

ENV_RECORD = "FLUXLOOP_RECORD_ARGS"
ENV_FILE = "FLUXLOOP_RECORDING_FILE"
DEFAULT_FILE = Path("recordings") / "args_recording.jsonl"
_TRUE = ("1", "true", "yes", "on", "y", "t")
_SCAN_LIMIT = 3000
_SKIP_DIRS = frozenset(
    {"node_modules", "experiments", "recordings", "inputs", "__pycache__", "site-packages"}
)
_HARDCODED = re.compile(r"record_args\s*=\s*True\b")
_RECORD_CALL = re.compile(r"\brecord_call_args\s*\(")
#: an ``@fluxloop.agent`` records its calls by itself when recording is on
_AGENT_DECORATOR = re.compile(r"^\s*@\s*(?:fluxloop\.)?agent\b", re.MULTILINE)


# ---------------------------------------------------------------------------------------------
# the logic (callable from Python)


def set_env_value(path: Path, key: str, value: str) -> None:
    """Set ``key=value`` in a ``.env`` file keeping every other line; a commented-out
    ``# KEY=...`` line is switched on in place rather than appending a second one."""
    from fluxloop._files import atomic_write
    from fluxloop.project.envfiles import DOTENV_MODE, set_dotenv_value
    from fluxloop.sdk.envfile import parse_dotenv

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if key not in parse_dotenv(text):
        commented = re.compile(rf"^[ \t]*#[ \t]*(?:export[ \t]+)?{re.escape(key)}[ \t]*=.*$", re.M)
        match = commented.search(text)
        if match:
            atomic_write(
                path, text[: match.start()] + f"{key}=" + text[match.end() :], mode=DOTENV_MODE
            )
    set_dotenv_value(path, key, value)


def _project(
    config_path: str | None, project: str | None, root: str | None
) -> tuple[Path, Any | None]:
    """The project directory and its config source (None when the project has no config)."""
    from fluxloop.errors import ConfigError
    from fluxloop.project.config import discover_config, resolve_project_dir

    if config_path is not None:
        source = discover_config(config_path, project, root)
        return source.project_dir, source
    project_dir = resolve_project_dir(project, root)
    try:
        return project_dir, discover_config(None, str(project_dir), None)
    except ConfigError:
        return project_dir, None


def _relative_to(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def _resolve(value: str, base: Path) -> Path:
    path = Path(os.path.expandvars(value)).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _configured_file(project_dir: Path, source: Any | None) -> Path | None:
    """The recording file the config or ``.env`` already names."""
    from fluxloop.project.config import load_raw_config
    from fluxloop.sdk.envfile import read_dotenv

    if source is not None:
        try:
            replay = load_raw_config(source).data.get("replay_args") or {}
        except Exception:
            replay = {}
        if isinstance(replay, dict) and replay.get("recording_file"):
            return _resolve(str(replay["recording_file"]), project_dir)
    value = read_dotenv(project_dir / ".env").get(ENV_FILE)
    return _resolve(value, project_dir) if value else None


@dataclass
class ToggleResult:
    enabled: bool
    project_dir: Path
    env_file: Path
    recording_file: Path | None
    config_file: Path | None = None
    config_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def toggle_recording(
    enable: bool,
    *,
    file: str | None = None,
    config_path: str | None = None,
    project: str | None = None,
    root: str | None = None,
    replay: bool | None = None,
) -> ToggleResult:
    """Turn recording on or off in the project's ``.env`` and (``replay``) its config.

    ``replay``: None = the command's default (on for enable, untouched for disable), True =
    set ``replay_args.enabled`` to ``enable``, False = leave ``replay_args`` alone.
    """
    from fluxloop.runner.configtools import set_config_value

    project_dir, source = _project(config_path, project, root)
    env_file = project_dir / ".env"
    result = ToggleResult(enable, project_dir, env_file, None)
    if enable:
        if file is not None:
            result.recording_file = _resolve(file, Path.cwd())
        else:
            result.recording_file = _configured_file(project_dir, source) or (
                project_dir / DEFAULT_FILE
            )
    else:
        result.recording_file = _configured_file(project_dir, source)
    # the config first: it is validated, and a refusal leaves .env untouched
    touch_replay = replay if replay is not None else enable
    if touch_replay:
        if source is None:
            result.notes.append(
                f"no FluxLoop config in {project_dir}; replay_args not set (only .env changed)"
            )
        else:
            path, _ = set_config_value(
                "replay_args.enabled", "true" if enable else "false", source=source
            )
            result.config_file = path
            result.config_changes.append(f"replay_args.enabled: {str(enable).lower()}")
            if enable and result.recording_file is not None:
                relative = _relative_to(result.recording_file, project_dir)
                set_config_value("replay_args.recording_file", relative, source=source)
                result.config_changes.append(f"replay_args.recording_file: {relative}")
    if enable and result.recording_file is not None:
        result.recording_file.parent.mkdir(parents=True, exist_ok=True)
        set_env_value(env_file, ENV_RECORD, "true")
        set_env_value(env_file, ENV_FILE, str(result.recording_file))
    else:
        set_env_value(env_file, ENV_RECORD, "false")
    shell = os.environ.get(ENV_RECORD)
    if shell is not None and (shell.strip().lower() in _TRUE) != enable:
        result.notes.append(
            f"{ENV_RECORD}={shell} is set in this shell's environment; it wins over .env for "
            "processes started from here"
        )
    return result


@dataclass
class RecordState:
    project_dir: str
    env_file: str
    env_file_exists: bool
    record_args: bool
    record_args_value: str | None
    record_args_source: str
    recording_file: str | None
    recording_file_source: str
    recording_exists: bool = False
    recorded_calls: int = 0
    recording_bytes: int = 0
    targets: list[str] = field(default_factory=list)
    last_timestamp: str | None = None
    config: str | None = None
    replay_enabled: bool = False
    replay_recording_file: str | None = None
    override_param_path: str | None = None
    callable_providers: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _python_files(project_dir: Path) -> Iterator[Path]:
    count = 0
    for dirpath, dirnames, filenames in os.walk(project_dir):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in _SKIP_DIRS and not d.endswith("venv")
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                count += 1
                if count > _SCAN_LIMIT:
                    return
                yield Path(dirpath) / name


def _scan_code(project_dir: Path) -> tuple[list[str], bool]:
    """``file:line`` of hard-coded ``record_args=True`` and whether any code records calls."""
    hardcoded: list[str] = []
    records = False
    for path in _python_files(project_dir):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _RECORD_CALL.search(text) or _AGENT_DECORATOR.search(text):
            records = True
        for match in _HARDCODED.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            hardcoded.append(f"{_relative_to(path, project_dir)}:{line}")
    return hardcoded, records


def _summarise_recording(state: RecordState, path: Path) -> None:
    from fluxloop.errors import FluxLoopError
    from fluxloop.project.recording import load_recording

    state.recording_exists = path.is_file()
    if not state.recording_exists:
        return
    state.recording_bytes = path.stat().st_size
    if state.recording_bytes == 0:
        return
    notes: list[str] = []
    try:
        calls = load_recording(path, notes=notes)
    except FluxLoopError as exc:
        state.warnings.append(str(exc))
        return
    state.warnings.extend(notes)
    state.recorded_calls = len(calls)
    state.targets = sorted({c.target for c in calls if c.target})
    state.last_timestamp = calls[-1].timestamp


def recording_state(
    config_path: str | None = None, project: str | None = None, root: str | None = None
) -> RecordState:
    """The effective recording and replay settings of a project (read-only)."""
    from fluxloop.project.config import load_raw_config
    from fluxloop.project.envfiles import dotenv_chain

    project_dir, source = _project(config_path, project, root)
    env_file = project_dir / ".env"
    dotenv, _files, origin = dotenv_chain(project_dir)

    def lookup(key: str) -> tuple[str | None, str]:
        if key in os.environ:
            return os.environ[key], "environment"
        if key in dotenv:
            return dotenv[key], _relative_to(origin[key], Path.cwd())
        return None, "default"

    value, where = lookup(ENV_RECORD)
    file_value, file_where = lookup(ENV_FILE)
    state = RecordState(
        project_dir=str(project_dir),
        env_file=str(env_file),
        env_file_exists=env_file.is_file(),
        record_args=bool(value) and str(value).strip().lower() in _TRUE,
        record_args_value=value,
        record_args_source=where,
        recording_file=str(_resolve(file_value, project_dir)) if file_value else None,
        recording_file_source=file_where,
    )
    if state.recording_file:
        _summarise_recording(state, Path(state.recording_file))
    if source is not None:
        state.config = ", ".join(_relative_to(f, Path.cwd()) for f in source.files)
        try:
            replay = load_raw_config(source).data.get("replay_args") or {}
        except Exception as exc:
            state.warnings.append(f"cannot read the config: {exc}")
            replay = {}
        if isinstance(replay, dict):
            state.replay_enabled = bool(replay.get("enabled"))
            if replay.get("recording_file"):
                state.replay_recording_file = str(
                    _resolve(str(replay["recording_file"]), project_dir)
                )
            state.override_param_path = replay.get("override_param_path")
            providers = replay.get("callable_providers") or {}
            if isinstance(providers, dict):
                state.callable_providers = {str(k): str(v) for k, v in providers.items()}
    if (
        state.replay_enabled
        and state.replay_recording_file
        and state.recording_file
        and state.replay_recording_file != state.recording_file
    ):
        state.warnings.append(
            f"the SDK records to {state.recording_file} but replay_args.recording_file is "
            f"{state.replay_recording_file}"
        )
    if (
        state.replay_enabled
        and state.replay_recording_file
        and not Path(state.replay_recording_file).is_file()
    ):
        state.warnings.append(
            f"replay is on but {state.replay_recording_file} does not exist yet: "
            "`fluxloop run experiment` fails until calls are recorded"
        )
    hardcoded, records = _scan_code(project_dir)
    for where_line in hardcoded:
        state.warnings.append(
            f"{where_line} hard-codes record_args=True: the .env toggle cannot turn it off "
            '(use record_args=os.getenv("FLUXLOOP_RECORD_ARGS") or leave it out)'
        )
    if not records:
        state.warnings.append(
            f"no @fluxloop.agent and no call to fluxloop.record_call_args(...) found in the "
            f"Python files under "
            f"{_relative_to(project_dir, Path.cwd()) or '.'}: nothing will be recorded unless "
            "your service calls it (and loads .env before fluxloop.configure())"
        )
    return state


# ---------------------------------------------------------------------------------------------
# the commands


@click.group()
def record() -> None:
    """Record real call arguments for replay (toggles .env and the config)."""


def _print_toggle(result: ToggleResult) -> None:
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
