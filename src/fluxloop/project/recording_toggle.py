"""Turning argument recording on and off for a project, and reading its state
(``fluxloop record enable|disable|status`` print what these return).

* :func:`toggle_recording` writes ``FLUXLOOP_RECORD_ARGS=true|false`` and (on)
  ``FLUXLOOP_RECORDING_FILE=<absolute path>`` to the project's ``.env`` (every other line kept;
  a commented-out ``# FLUXLOOP_RECORDING_FILE=...`` line is switched on in place), creates the
  recording's directory, and (``replay``) points the config at the recording
  (``replay_args.enabled``, ``replay_args.recording_file``). The config is edited first: it is
  validated, and a refusal leaves ``.env`` untouched.
* :func:`recording_state` reports the effective state (the shell environment wins over
  ``.env``), the recording file (calls, targets, last timestamp), the replay settings, and
  warnings about code that cannot follow the toggle (a hard-coded ``record_args=True``, nothing
  that records calls), found by scanning the project's Python files (at most
  :data:`_SCAN_LIMIT`).

Services pick the toggle up at startup: ``fluxloop.load_env(".env")`` (or run from the project
directory) then ``fluxloop.configure()``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fluxloop.errors import ConfigError, FluxLoopError
from fluxloop.sdk import DEFAULT_RECORDING_FILE, is_true
from fluxloop.sdk.envfile import read_dotenv

from .config import ConfigSource, discover_config, load_raw_config, resolve_project_dir
from .configtools import set_config_value
from .envfiles import dotenv_chain, set_dotenv_value
from .recording import load_recording

__all__ = [
    "DEFAULT_FILE",
    "ENV_FILE",
    "ENV_RECORD",
    "RecordState",
    "ToggleResult",
    "recording_state",
    "toggle_recording",
]

ENV_RECORD = "FLUXLOOP_RECORD_ARGS"
ENV_FILE = "FLUXLOOP_RECORDING_FILE"
DEFAULT_FILE = DEFAULT_RECORDING_FILE
"""Where the SDK records when ``FLUXLOOP_RECORDING_FILE`` is not set (relative to a project)."""
_SCAN_LIMIT = 3000
_SKIP_DIRS = frozenset(
    {"node_modules", "experiments", "recordings", "inputs", "__pycache__", "site-packages"}
)
_HARDCODED = re.compile(r"record_args\s*=\s*True\b")
_RECORD_CALL = re.compile(r"\brecord_call_args\s*\(")
#: an ``@fluxloop.agent`` records its calls by itself when recording is on
_AGENT_DECORATOR = re.compile(r"^\s*@\s*(?:fluxloop\.)?agent\b", re.MULTILINE)


def _project(
    config_path: str | None, project: str | None, root: str | None
) -> tuple[Path, ConfigSource | None]:
    """The project directory and its config source (None when the project has no config)."""
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


def _configured_file(project_dir: Path, source: ConfigSource | None) -> Path | None:
    """The recording file the config or ``.env`` already names."""
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
    """What :func:`toggle_recording` changed: the ``.env`` file, the recording file, and the
    config file and keys it set (``notes``: what the user should know, e.g. a shell override)."""

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
        set_dotenv_value(env_file, ENV_RECORD, "true", revive_commented=True)
        set_dotenv_value(env_file, ENV_FILE, str(result.recording_file), revive_commented=True)
    else:
        set_dotenv_value(env_file, ENV_RECORD, "false", revive_commented=True)
    shell = os.environ.get(ENV_RECORD)
    if shell is not None and is_true(shell) != enable:
        result.notes.append(
            f"{ENV_RECORD}={shell} is set in this shell's environment; it wins over .env for "
            "processes started from here"
        )
    return result


@dataclass
class RecordState:
    """A project's effective recording and replay settings, where each came from, what the
    recording holds, and warnings (``fluxloop record status``; ``--json`` prints it as is)."""

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
        record_args=is_true(value),
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
