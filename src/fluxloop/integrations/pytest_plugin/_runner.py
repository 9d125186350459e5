"""``fluxloop_runner`` / ``fluxloop_cli``: an experiment in-process, the CLI in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from fluxloop.integrations.pytest_plugin._results import CLIResult, FluxLoopTestResult
from fluxloop.project.layout import SUMMARY_FILE

__all__ = ["apply_overrides", "run_cli", "run_experiment_in_process"]

PathLike = str | os.PathLike[str]

#: Overrides handled as run options rather than config keys.
_OPTION_KEYS = {"iterations", "parallel", "parallel_runs", "output_dir", "output_directory", "name"}


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Set dotted keys in a raw config mapping: ``{"runner.timeout_seconds": 5}``.

    Path segments that are integers index lists (``"runner.python_path.0"``); a mapping value
    given for a mapping key is merged into it; anything else replaces the value.
    """
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if not isinstance(node[index], dict | list):
                        node[index] = [] if parts[i + 1].isdigit() else {}
                    node = node[index]
                continue
            if not isinstance(node, dict):
                raise ValueError(f"overrides: {dotted!r}: {'.'.join(parts[:i])} is not a mapping")
            if last:
                if isinstance(value, Mapping) and isinstance(node.get(part), dict):
                    node[part] = {**node[part], **value}
                else:
                    node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict | list):
                    child = [] if parts[i + 1].isdigit() else {}
                    node[part] = child
                node = child


@contextmanager
def _environment(env: Mapping[str, Any] | None) -> Iterator[None]:
    """Set environment variables (``PYTHONPATH`` entries also go on ``sys.path``); restore."""
    if not env:
        yield
        return
    saved = {key: os.environ.get(key) for key in env}
    saved_path = list(sys.path)
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = str(value)
        pythonpath = env.get("PYTHONPATH")
        if pythonpath:
            entries = [p for p in str(pythonpath).split(os.pathsep) if p]
            sys.path[:0] = [str(Path(p).resolve()) for p in entries]
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        sys.path[:] = saved_path


@contextmanager
def _isolated_imports(module: str) -> Iterator[None]:
    """Import the target's package afresh and forget it after the run.

    Different projects often use the same module names (``examples.simple_agent``,
    ``agent``); without this, a test session that runs two projects would run the first
    project's cached module for both.
    """
    top = module.split(".", 1)[0]
    if not top:
        yield
        return

    def ours(name: str) -> bool:
        return name == top or name.startswith(top + ".")

    saved = {name: mod for name, mod in list(sys.modules.items()) if ours(name)}
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [n for n in list(sys.modules) if ours(n)]:
            del sys.modules[name]
        sys.modules.update(saved)


@contextmanager
def _sdk_configuration_restored() -> Iterator[None]:
    """The runner configures the SDK for itself; put the previous configuration back after."""
    from fluxloop.sdk import configuration_restored

    with configuration_restored():
        yield


def run_experiment_in_process(
    project_root: PathLike | None = None,
    simulation_config: PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    *,
    config_path: PathLike | None = None,
    iterations: int | None = None,
    output_dir: PathLike | None = None,
    personas: Sequence[str] | None = None,
    parallel: int | None = None,
    name: str | None = None,
) -> FluxLoopTestResult:
    """Run an experiment with the runner's library API and return its result.

    ``simulation_config`` (or ``config_path``) is a ``setting.yaml``, a ``configs/*.yaml`` file
    or a project directory, relative to ``project_root`` (default: the current directory);
    without it the configuration is discovered in ``project_root``. ``overrides`` sets config
    keys by dotted path; ``iterations`` / ``parallel`` / ``output_dir`` / ``name`` and a
    ``personas`` list of names (a filter) are run options. Configuration and input errors
    raise the runner's :class:`fluxloop.ConfigError`; failed runs do not raise (use
    :meth:`FluxLoopTestResult.require_success`).
    """
    from fluxloop.project.config import build_experiment_config, discover_config, load_raw_config
    from fluxloop.runner.engine import RunOptions, run_experiment

    root = Path(project_root).expanduser().resolve() if project_root is not None else Path.cwd()
    config_arg = simulation_config if simulation_config is not None else config_path
    options: dict[str, Any] = {}
    config_overrides: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in _OPTION_KEYS:
            options[key] = value
        elif (
            key == "personas"
            and isinstance(value, list | tuple)
            and all(isinstance(v, str) for v in value)
        ):
            personas = list(value)
        else:
            config_overrides[key] = value
    run_options = RunOptions(
        iterations=iterations if iterations is not None else options.get("iterations"),
        parallel=parallel
        if parallel is not None
        else options.get("parallel", options.get("parallel_runs")),
        output_dir=_path(
            output_dir
            if output_dir is not None
            else options.get("output_dir", options.get("output_directory")),
            root,
        ),
        name=name if name is not None else options.get("name"),
        personas=personas,
        install_signal_handlers=False,
        invocation={"pytest": True},
    )
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with _environment(env), _sdk_configuration_restored():
                source = discover_config(config_arg, cwd=root)
                raw = load_raw_config(source)
                if config_overrides:
                    apply_overrides(raw.data, config_overrides)
                config = build_experiment_config(raw)
                with _isolated_imports(config.runner.target.partition(":")[0]):
                    outcome["value"] = run_experiment(config, run_options)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    # a worker thread: the runner uses asyncio.run (fine inside an async test) and the
    # fixture can give up after ``timeout`` seconds
    worker = threading.Thread(target=work, name="fluxloop-runner", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(
            f"fluxloop_runner: the experiment did not finish within {timeout} s "
            "(raise `timeout=` or lower iterations / runner.timeout_seconds)"
        )
    if "error" in outcome:
        raise outcome["error"]
    result = outcome["value"]
    if result.directory is None:
        raise RuntimeError("fluxloop_runner: the experiment produced no directory (dry run?)")
    return FluxLoopTestResult.from_directory(Path(result.directory))


def _path(value: Any, root: Path) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


_EXPERIMENT_DIR = re.compile(r"(?:Starting experiment \S+ -> |results: )(.+?)\s*$", re.MULTILINE)


def _experiment_from_output(text: str, cwd: Path) -> FluxLoopTestResult | None:
    for match in reversed(list(_EXPERIMENT_DIR.finditer(text))):
        candidate = Path(match.group(1).strip())
        candidate = candidate if candidate.is_absolute() else cwd / candidate
        if (candidate / SUMMARY_FILE).is_file():
            return FluxLoopTestResult.from_directory(candidate.resolve())
    return None


def run_cli(
    *args: PathLike,
    cwd: PathLike | None = None,
    env: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    log_dir: Path | None = None,
    project_root: PathLike | None = None,
    simulation_config: PathLike | None = None,
    cli_args: Sequence[PathLike] = (),
    overrides: Mapping[str, Any] | None = None,
) -> CLIResult:
    """Run ``fluxloop ARGS`` in a subprocess with this interpreter; never raises on exit codes.

    With ``simulation_config`` or ``overrides`` (and no ``args``) it runs ``fluxloop run
    experiment --config CONFIG *cli_args`` in ``project_root``; the experiment's numbers are
    then on the result. ``overrides`` are those of ``fluxloop_runner`` (the original plugin's
    ``fluxloop_cli(overrides=...)``): run options become command-line options, config keys go
    into a temporary copy of the merged config beside it (removed afterwards).
    """
    workdir = Path(cwd or project_root or Path.cwd()).expanduser().resolve()
    argv = [os.fspath(a) for a in args]
    temporary: Path | None = None
    if not argv and (simulation_config is not None or overrides):
        config_arg = os.fspath(simulation_config) if simulation_config is not None else None
        options, config_overrides = _split_overrides(overrides or {})
        if config_overrides:
            temporary = _config_with_overrides(config_arg, workdir, config_overrides)
            config_arg = str(temporary)
        argv = ["run", "experiment"] + (["--config", config_arg] if config_arg else [])
        argv += _option_args(options)
    argv += [os.fspath(a) for a in cli_args]
    try:
        return _run_cli(argv, workdir, env, timeout, log_dir)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def _split_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    options: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _OPTION_KEYS or (
            key == "personas"
            and isinstance(value, list | tuple)
            and value
            and all(isinstance(v, str) for v in value)
        ):
            options[key] = value
        else:
            config[key] = value
    return options, config


def _option_args(options: Mapping[str, Any]) -> list[str]:
    flags = {
        "iterations": "--iterations",
        "parallel": "--parallel",
        "parallel_runs": "--parallel",
        "output_dir": "--output-dir",
        "output_directory": "--output-dir",
        "name": "--name",
    }
    out: list[str] = []
    for key, value in options.items():
        if key == "personas":
            out += ["--personas", ",".join(value)]
        else:
            out += [flags[key], os.fspath(value) if isinstance(value, Path) else str(value)]
    return out


def _config_with_overrides(
    config_arg: str | None, root: Path, overrides: Mapping[str, Any]
) -> Path:
    """The merged config with ``overrides`` applied, written beside the project's config so
    relative paths keep resolving against the project directory."""
    from fluxloop.project.config import discover_config, load_raw_config

    source = discover_config(config_arg, cwd=root)
    raw = load_raw_config(source)
    data = dict(raw.data)
    apply_overrides(data, overrides)
    path = source.project_dir / f".fluxloop_overrides_{os.getpid()}_{threading.get_ident()}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _run_cli(
    argv: list[str],
    workdir: Path,
    env: Mapping[str, Any] | None,
    timeout: float | None,
    log_dir: Path | None,
) -> CLIResult:
    environ = dict(os.environ)
    environ.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        elif key == "PYTHONPATH" and environ.get("PYTHONPATH"):
            environ[key] = f"{value}{os.pathsep}{environ['PYTHONPATH']}"
        else:
            environ[key] = str(value)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "fluxloop.cli", *argv],
            cwd=workdir,
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        code, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(
            f"fluxloop_cli: `fluxloop {' '.join(argv)}` did not finish within {timeout} s"
        ) from exc
    result = CLIResult(args=argv, exit_code=code, stdout=stdout, stderr=stderr, cwd=workdir)
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        result.stdout_path = log_dir / "stdout.txt"
        result.stderr_path = log_dir / "stderr.txt"
        result.stdout_path.write_text(stdout, encoding="utf-8")
        result.stderr_path.write_text(stderr, encoding="utf-8")
    experiment = _experiment_from_output(stdout + "\n" + stderr, workdir)
    if experiment is not None:
        experiment.cli_command = result.command
        experiment.stdout_path, experiment.stderr_path = result.stdout_path, result.stderr_path
        result.experiment = experiment
    return result
