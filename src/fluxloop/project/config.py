"""Finding, loading, merging and resolving the experiment configuration.

Two layouts (the seeds): a single ``setting.yaml`` (or any single file passed with ``--config``),
or ``configs/{project,input,simulation,evaluation}.yaml`` deep-merged in that order. Relative
paths in the config resolve against the project directory (the directory holding the single file,
or the parent of ``configs/``). Precedence: explicit argument > environment variable > ``.env``
file > config file > default.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fluxloop.errors import ConfigError
from fluxloop.sdk import resolve_config as resolve_sdk

from .envfiles import dotenv_chain
from .layout import CONFIG_FILE
from .problems import ConfigRule, Problem, ValidationReport, validate_config
from .yaml import Located, display_path, load_yaml_file

__all__ = [
    "SECTION_FILES",
    "ConfigSource",
    "ExecutorSettings",
    "ExperimentConfig",
    "Persona",
    "RawConfig",
    "ReplaySettings",
    "RunnerSettings",
    "collector_endpoint",
    "deep_merge",
    "discover_config",
    "discover_evaluation_config",
    "load_config",
    "load_raw_config",
    "relocate",
    "resolve_project_dir",
]

SECTION_FILES = ("project.yaml", "input.yaml", "simulation.yaml", "evaluation.yaml")
SINGLE_FILES = ("setting.yaml", "fluxloop.yaml")
DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_OUTPUT_CHAR_LIMIT = 200_000


@dataclass(frozen=True)
class ConfigSource:
    """Where a configuration comes from."""

    project_dir: Path
    files: tuple[Path, ...]
    layout: Literal["single", "configs"]

    @property
    def primary(self) -> Path:
        if self.layout == "single":
            return self.files[0]
        for f in self.files:
            if f.name == "simulation.yaml":
                return f
        return self.files[-1]

    def describe(self) -> str:
        if self.layout == "single":
            return display_path(self.files[0])
        return (
            display_path(self.project_dir / "configs")
            + "/{"
            + ",".join(f.name for f in self.files)
            + "}"
        )


def resolve_project_dir(
    project: str | os.PathLike[str] | None,
    root: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """The project directory for ``--project``/``--root`` (the seeds' ``fluxloop/<name>``)."""
    here = (cwd or Path.cwd()).resolve()
    if project is None:
        return here
    name = Path(project).expanduser()
    candidates: list[Path] = []
    if root is not None:
        candidates.append(Path(root).expanduser() / name)
    else:
        candidates += [here / "fluxloop" / name, here / name]
        if name.name and here.name == "fluxloop":
            candidates.append(here / name)
        if here.parent.name == "fluxloop" and here.name == str(project):
            candidates.append(here)
    if name.is_absolute():
        candidates.insert(0, name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    looked = ", ".join(display_path(c) for c in candidates)
    raise ConfigError(
        f"project {str(project)!r} not found (looked in {looked}); create it with "
        f"`fluxloop init project --name {project}` or pass --root",
        key="--project",
    )


def _configs_source(project_dir: Path) -> ConfigSource | None:
    configs = project_dir / "configs"
    if not configs.is_dir():
        return None
    files = tuple(configs / n for n in SECTION_FILES if (configs / n).is_file())
    if not files:
        return None
    return ConfigSource(project_dir=project_dir, files=files, layout="configs")


def discover_config(
    config: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
) -> ConfigSource:
    """Find the configuration files for the given CLI options."""
    here = (cwd or Path.cwd()).resolve()
    base = resolve_project_dir(project, root, here) if project is not None else here
    if config is not None:
        path = Path(config).expanduser()
        if not path.is_absolute():
            path = (
                (base / path)
                if project is not None and not (here / path).exists()
                else (here / path)
            )
        if path.is_dir():
            found = _discover_in(path)
            if found is None:
                raise ConfigError(
                    f"{display_path(path)}: no setting.yaml or configs/*.yaml in this directory",
                    key="--config",
                )
            return found
        if path.is_file():
            if path.parent.name == "configs" and path.name in SECTION_FILES:
                src = _configs_source(path.parent.parent)
                assert src is not None
                return src
            return ConfigSource(
                project_dir=path.parent.resolve(), files=(path.resolve(),), layout="single"
            )
        if path.name in SINGLE_FILES:
            src = _configs_source(path.parent)
            if src is not None:
                return src
        raise ConfigError(f"{display_path(path)}: config file not found", key="--config")
    found = _discover_in(base)
    if found is None:
        # one folder above the seeds' fluxloop/<project>/: point at the projects that exist
        projects_root = Path(root).expanduser() if root is not None else base / "fluxloop"
        projects = (
            sorted(d.name for d in projects_root.iterdir() if _discover_in(d) is not None)
            if project is None and projects_root.is_dir()
            else []
        )
        hint = (
            "pass --project " + " or --project ".join(projects[:3])
            if projects
            else "run `fluxloop init project --name NAME` or pass --config"
        )
        raise ConfigError(
            f"no FluxLoop config in {display_path(base) or '.'} (expected setting.yaml or "
            f"configs/simulation.yaml); {hint}",
            key="--config",
        )
    return found


def _discover_in(directory: Path) -> ConfigSource | None:
    directory = directory.resolve()
    setting = directory / "setting.yaml"
    if setting.is_file():
        return ConfigSource(project_dir=directory, files=(setting,), layout="single")
    src = _configs_source(directory)
    if src is not None:
        return src
    legacy = directory / "fluxloop.yaml"
    if legacy.is_file():
        return ConfigSource(project_dir=directory, files=(legacy,), layout="single")
    return None


#: where ``fluxloop evaluate`` looks for the evaluation section in a directory, in order
EVALUATION_FILES = ("configs/evaluation.yaml", "evaluation.yaml", *SINGLE_FILES)


def discover_evaluation_config(
    experiment_dir: Path, explicit: Path | None
) -> tuple[Path | None, str]:
    """The evaluation config of an experiment and how it was found.

    ``--config`` (a file, or a directory holding one of :data:`EVALUATION_FILES`) > the current
    directory > the experiment's project (``<project>/experiments/<run>``) > the run's
    ``config.yaml`` snapshot > ``None`` (the built-in evaluators).
    """
    if explicit is not None:
        if explicit.is_dir():
            for name in EVALUATION_FILES:
                if (explicit / name).is_file():
                    return explicit / name, "--config"
            raise ConfigError(
                f"{display_path(explicit)}: no configs/evaluation.yaml, evaluation.yaml or "
                "setting.yaml in this directory"
            )
        if not explicit.exists():
            raise ConfigError(f"{display_path(explicit)}: evaluation config not found")
        return explicit, "--config"
    exp = experiment_dir.resolve()
    for directory, how in (
        (Path.cwd(), "current directory"),
        (exp.parent.parent, "project"),
        (exp.parent, "project"),
    ):
        for name in EVALUATION_FILES:
            candidate = directory / name
            if candidate.is_file() and _has_evaluation(candidate):
                return candidate, how
    snapshot = exp / CONFIG_FILE
    if snapshot.is_file() and _has_evaluation(snapshot):
        return snapshot, "experiment snapshot"
    return None, "built-in defaults (output_not_empty, success)"


def _has_evaluation(path: Path) -> bool:
    try:
        data = load_yaml_file(path).data
    except ConfigError:
        return True  # let the real load report the problem
    return isinstance(data, Mapping) and ("evaluators" in data or "metrics" in data)


def collector_endpoint(
    dotenv: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> tuple[str | None, str | None]:
    """``(collector URL, API key)`` from ``FLUXLOOP_COLLECTOR_URL`` / ``FLUXLOOP_API_KEY``.

    Read by the SDK's resolver (environment > ``.env``, the URL checked and normalised), so
    the runner, ``run single`` and ``status`` agree with what the SDK itself would ship to; a
    loaded config adds its ``collector_url`` / ``collector_api_key`` below these
    (:attr:`ExperimentConfig.collector_url`)."""
    sdk = resolve_sdk(
        {}, os.environ if environ is None else environ, dotenv, on_invalid_env=lambda _: None
    )
    return sdk.collector_url, sdk.api_key


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive merge of mappings; lists and scalars in ``override`` replace those in ``base``."""
    out: dict[str, Any] = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class RawConfig:
    """The merged mapping of a config source with the line of every key."""

    source: ConfigSource
    data: dict[str, Any]
    lines: dict[str, Located]
    per_file: dict[Path, Any] = field(default_factory=dict)
    duplicates: list[tuple[str, Located, Located]] = field(default_factory=list)

    def validate(
        self, *, require_target: bool = True, rules: Sequence[ConfigRule] = ()
    ) -> ValidationReport:
        report = ValidationReport()
        for path, data in self.per_file.items():
            if data is not None and not isinstance(data, dict):
                report.problems.append(
                    Problem(
                        "",
                        f"expected a mapping at the top level, found {type(data).__name__}",
                        None,
                        display_path(path),
                    )
                )
        if report.problems:
            return report
        report = validate_config(
            self.data,
            self.lines,
            require_target=require_target,
            default_file=display_path(self.source.primary),
            rules=rules,
        )
        for key, first, again in self.duplicates:
            report.problems.append(
                Problem(
                    key,
                    f"duplicate key (first defined at line {first.line}); the later "
                    "value would silently win",
                    again,
                )
            )
        report.problems.sort(
            key=lambda p: (str(p.where.file), p.where.line) if p.where else ("~", 0)
        )
        return report


def load_raw_config(source: ConfigSource) -> RawConfig:
    merged: dict[str, Any] = {}
    lines: dict[str, Located] = {}
    per_file: dict[Path, Any] = {}
    duplicates: list[tuple[str, Located, Located]] = []
    errors: list[str] = []
    for path in source.files:
        try:
            doc = load_yaml_file(path)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        per_file[path] = doc.data
        duplicates.extend(doc.duplicates)
        if isinstance(doc.data, dict):
            merged = deep_merge(merged, doc.data)
            lines.update(doc.lines)
    if errors:
        raise ConfigError("\n".join(errors))
    return RawConfig(
        source=source, data=merged, lines=lines, per_file=per_file, duplicates=duplicates
    )


@dataclass(frozen=True)
class Persona:
    """A simulated user; injected into targets that take a ``persona`` parameter."""

    name: str
    description: str = ""
    characteristics: tuple[str, ...] = ()
    language: str = "en"
    expertise_level: str = "intermediate"
    goals: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    custom_attributes: Mapping[str, Any] = field(default_factory=dict)

    def to_prompt(self) -> str:
        parts = [f"Persona: {self.name}"]
        if self.description:
            parts.append(f"Description: {self.description}")
        if self.characteristics:
            parts.append("Characteristics: " + "; ".join(self.characteristics))
        if self.expertise_level:
            parts.append(f"Expertise: {self.expertise_level}")
        if self.language:
            parts.append(f"Language: {self.language}")
        if self.goals:
            parts.append("Goals: " + "; ".join(self.goals))
        if self.constraints:
            parts.append("Constraints: " + "; ".join(self.constraints))
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "characteristics": list(self.characteristics),
            "language": self.language,
            "expertise_level": self.expertise_level,
            "goals": list(self.goals),
            "constraints": list(self.constraints),
            "custom_attributes": dict(self.custom_attributes),
        }

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Persona:
        def strs(key: str) -> tuple[str, ...]:
            value = data.get(key)
            if value is None or value == "":
                return ()
            return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)

        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            characteristics=strs("characteristics"),
            language=str(data.get("language") or "en"),
            expertise_level=str(data.get("expertise_level") or "intermediate"),
            goals=strs("goals"),
            constraints=strs("constraints"),
            custom_attributes=dict(data.get("custom_attributes") or {}),
        )


@dataclass(frozen=True)
class ExecutorSettings:
    """``runner.executor``: where runs execute (``local``: this process; ``ray``: a Ray cluster)."""

    type: str = "local"
    address: str | None = None  # ray: auto, HOST:PORT or ray://HOST:PORT (None: Ray's default)
    num_cpus_per_run: float = 1.0
    num_gpus_per_run: float = 0.0
    resources: Mapping[str, float] = field(default_factory=dict)
    max_in_flight: int | None = None  # None: twice the cluster's run slots
    reuse_workers: bool = False  # ray: a pool of actors, the target set up once per actor
    excludes: tuple[str, ...] = ()  # ray: paths not shipped with the working directory


@dataclass(frozen=True)
class RunnerSettings:
    target: str
    working_directory: Path
    python_path: tuple[Path, ...] = ()
    environment_vars: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | None = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = 0
    retry_delay: float = DEFAULT_RETRY_DELAY
    factory: str | None = None
    factory_kwargs: Mapping[str, Any] = field(default_factory=dict)
    stream_output_path: str | None = None
    output_char_limit: int | None = DEFAULT_OUTPUT_CHAR_LIMIT
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    #: capture LangChain / LangGraph runs with no code when langchain-core is importable
    auto_instrument: bool = True
    #: fold LangChain's plumbing runnables away (``langchain.hide_internal``)
    hide_internal: bool = True


@dataclass(frozen=True)
class ReplaySettings:
    enabled: bool = False
    recording_file: Path | None = None
    override_param_path: str | None = None
    callable_providers: Mapping[str, str] = field(default_factory=dict)
    use: str | int | None = None  # which recorded call(s): last, first, all or an index
    secrets: Mapping[str, str] = field(default_factory=dict)  # masked path -> env var name
    error_callback_fails_run: bool = True  # a collector.error call fails the run


@dataclass
class ExperimentConfig:
    """The resolved configuration the engine runs."""

    name: str
    source: ConfigSource
    runner: RunnerSettings
    raw: dict[str, Any]
    lines: dict[str, Located] = field(default_factory=dict)
    description: str = ""
    iterations: int = 1
    parallel_runs: int = 1
    run_delay_seconds: float = 0.0
    seed: int | None = None
    personas: tuple[Persona, ...] = ()
    base_inputs: tuple[Mapping[str, Any], ...] = ()
    inputs_file: Path | None = None
    input_template: str | None = None
    output_directory: Path = Path("experiments")
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    collector_url: str | None = None
    collector_api_key: str | None = None
    success_threshold: float | None = None
    save_traces: bool = True
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    dotenv: dict[str, str] = field(default_factory=dict)
    dotenv_files: list[Path] = field(default_factory=list)

    @property
    def project_dir(self) -> Path:
        return self.source.project_dir

    def persona(self, name: str | None) -> Persona | None:
        if name is None:
            return None
        for p in self.personas:
            if p.name == name:
                return p
        return None


def relocate(config: ExperimentConfig, root: Path) -> ExperimentConfig:
    """``config`` with paths under ``runner.working_directory`` moved under ``root``.

    For a worker that received the working directory as a copy unpacked at ``root``; paths
    outside it stay as they are (they must exist at the same place on every machine).
    """
    old = config.runner.working_directory.resolve()

    def move(path: Path) -> Path:
        try:
            return root / path.resolve().relative_to(old)
        except ValueError:
            return path

    runner = dataclasses.replace(
        config.runner,
        working_directory=root,
        python_path=tuple(move(p) for p in config.runner.python_path),
    )
    replay = config.replay
    if replay.recording_file is not None:
        replay = dataclasses.replace(replay, recording_file=move(replay.recording_file))
    return dataclasses.replace(config, runner=runner, replay=replay)


def _resolve_path(project_dir: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    return path if path.is_absolute() else (project_dir / path)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def _parse_duration(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        return None
    number = float(match.group(1))
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def _python_path(
    project_dir: Path, value: object, warnings: list[Problem], where: Located | None
) -> tuple[Path, ...]:
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
    paths: list[Path] = []
    for item in items:
        for part in str(item).split(os.pathsep):
            if not part:
                continue
            path = _resolve_path(project_dir, part)
            if not path.exists():
                # the original ignored such entries; projects written for it carry them
                note = f"directory not found: {part}; ignored"
                warnings.append(Problem("runner.python_path", note, where))
                continue
            if path.is_file() or (path.name.startswith("python") and not path.is_dir()):
                note = (
                    f"points to a file ({part}); targets run in this interpreter "
                    f"({sys.executable}), so it is ignored"
                )
                warnings.append(Problem("runner.python_path", note, where))
                continue
            paths.append(path)
    return tuple(paths)


def _executor_settings(value: object) -> ExecutorSettings:
    """``runner.executor`` (validated already): a mapping, or just the type's name."""
    if isinstance(value, str):
        return ExecutorSettings(type=value)
    if not isinstance(value, Mapping):
        return ExecutorSettings()
    in_flight = value.get("max_in_flight")
    return ExecutorSettings(
        type=str(value.get("type") or "local"),
        address=str(value["address"]) if value.get("address") else None,
        num_cpus_per_run=float(value.get("num_cpus_per_run", 1.0)),
        num_gpus_per_run=float(value.get("num_gpus_per_run") or 0.0),
        resources={str(k): float(v) for k, v in (value.get("resources") or {}).items()},
        max_in_flight=int(in_flight) if in_flight is not None else None,
        reuse_workers=bool(value.get("reuse_workers", False)),
        excludes=tuple(str(x) for x in value.get("excludes") or ()),
    )


def build_experiment_config(
    raw: RawConfig,
    *,
    environ: Mapping[str, str] | None = None,
    require_target: bool = True,
    rules: Sequence[ConfigRule] = (),
) -> ExperimentConfig:
    """Validate ``raw`` (raising :class:`ConfigProblems` with every problem) and resolve it."""
    report = raw.validate(require_target=require_target, rules=rules)
    report.raise_for_problems()
    data = raw.data
    project_dir = raw.source.project_dir
    dotenv, dotenv_files, _ = dotenv_chain(project_dir)
    warnings = list(report.warnings)
    # the SDK's own variables, read by the one SDK resolver: an invalid value (a bad
    # FLUXLOOP_SAMPLE_RATE in .env) is said here too, as the SDK says it, instead of silently
    # falling back to the default
    invalid: list[ConfigError] = []
    sdk = resolve_sdk(
        {}, os.environ if environ is None else environ, dotenv, on_invalid_env=invalid.append
    )
    for problem in invalid:
        warnings.append(Problem("", f"{problem}; ignored (the default applies)", None, ".env"))

    runner_raw: dict[str, Any] = dict(data.get("runner") or {})
    target = runner_raw.get("target")
    if not target and runner_raw.get("module_path"):
        target = f"{runner_raw['module_path']}:{runner_raw.get('function_name') or 'run'}"
    guards = runner_raw.get("guards") or {}
    timeout = runner_raw.get("timeout_seconds")
    if timeout is None:
        timeout = _parse_duration(guards.get("max_duration")) if guards else None
    if timeout is None and "timeout_seconds" not in runner_raw:
        timeout = DEFAULT_TIMEOUT_SECONDS
    if runner_raw.get("setup_commands"):
        warnings.append(
            Problem(
                "runner.setup_commands",
                "not supported, ignored",
                raw.lines.get("runner.setup_commands"),
            )
        )
    runner = RunnerSettings(
        target=str(target or ""),
        working_directory=_resolve_path(project_dir, runner_raw.get("working_directory") or "."),
        python_path=_python_path(
            project_dir,
            runner_raw.get("python_path"),
            warnings,
            raw.lines.get("runner.python_path"),
        ),
        environment_vars={
            str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (runner_raw.get("environment_vars") or {}).items()
        },
        timeout_seconds=float(timeout) if timeout is not None else None,
        max_retries=int(runner_raw.get("max_retries") or 0),
        retry_delay=float(
            DEFAULT_RETRY_DELAY
            if runner_raw.get("retry_delay") is None
            else runner_raw["retry_delay"]
        ),
        factory=runner_raw.get("factory"),
        factory_kwargs=dict(runner_raw.get("factory_kwargs") or {}),
        stream_output_path=runner_raw.get("stream_output_path"),
        output_char_limit=(guards.get("output_char_limit") if guards else None)
        or DEFAULT_OUTPUT_CHAR_LIMIT,
        executor=_executor_settings(runner_raw.get("executor")),
        auto_instrument=runner_raw.get("auto_instrument") is not False,
        hide_internal=(data.get("langchain") or {}).get("hide_internal") is not False,
    )

    # the more specific key wins: seeds 001/002 put iterations under runner:, seed 003 at the
    # top level; a user who adds runner.iterations: 10 means it
    iterations = runner_raw.get("iterations")
    if iterations is None:
        iterations = data.get("iterations", 1)
    output = data.get("output") or {}
    out_dir = data.get("output_directory") or output.get("directory") or "experiments"
    replay_raw = data.get("replay_args") or {}
    replay = ReplaySettings(
        enabled=bool(replay_raw.get("enabled", False)),
        recording_file=_resolve_path(project_dir, replay_raw["recording_file"])
        if replay_raw.get("recording_file")
        else None,
        override_param_path=replay_raw.get("override_param_path"),
        callable_providers=dict(replay_raw.get("callable_providers") or {}),
        use=replay_raw.get("use"),
        secrets=dict(replay_raw.get("secrets") or {}),
        error_callback_fails_run=bool(replay_raw.get("error_callback_fails_run", True)),
    )
    name = data.get("name")
    if name in (None, ""):
        name = project_dir.name or "experiment"
    collector_url = sdk.collector_url or data.get("collector_url") or None
    api_key = sdk.api_key or data.get("collector_api_key") or None
    personas = tuple(Persona.from_mapping(p) for p in data.get("personas") or [])
    base_inputs = tuple(
        {"input": item} if isinstance(item, str) else dict(item)
        for item in data.get("base_inputs") or []
    )
    return ExperimentConfig(
        name=str(name),
        source=raw.source,
        runner=runner,
        raw=data,
        lines=raw.lines,
        description=str(data.get("description") or ""),
        iterations=int(iterations),
        parallel_runs=int(data.get("parallel_runs") or 1),
        run_delay_seconds=float(data.get("run_delay_seconds") or 0),
        seed=data.get("seed"),
        personas=personas,
        base_inputs=base_inputs,
        inputs_file=_resolve_path(project_dir, data["inputs_file"])
        if data.get("inputs_file")
        else None,
        input_template=data.get("input_template"),
        output_directory=_resolve_path(project_dir, out_dir),
        replay=replay,
        collector_url=str(collector_url) if collector_url else None,
        collector_api_key=str(api_key) if api_key else None,
        success_threshold=data.get("success_threshold"),
        save_traces=data.get("save_traces") is not False,
        tags=tuple(str(t) for t in data.get("tags") or ()),
        metadata=dict(data.get("metadata") or {}),
        warnings=warnings,
        dotenv=dotenv,
        dotenv_files=dotenv_files,
    )


def load_config(
    config: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    require_target: bool = True,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    rules: Sequence[ConfigRule] = (),
) -> ExperimentConfig:
    """Discover, load, merge, validate and resolve a configuration (the CLI's entry point).

    ``rules``: the calling capability's own checks, reported with the schema's problems."""
    source = discover_config(config, project, root, cwd)
    raw = load_raw_config(source)
    return build_experiment_config(raw, environ=environ, require_target=require_target, rules=rules)
