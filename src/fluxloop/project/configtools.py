"""``fluxloop config show|validate|env|set|set-llm``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop._files import atomic_write
from fluxloop.errors import ConfigError
from fluxloop.project.config import (
    ConfigSource,
    ExperimentConfig,
    build_experiment_config,
    deep_merge,
    discover_config,
    load_raw_config,
)
from fluxloop.project.envfiles import dotenv_chain, set_dotenv_value
from fluxloop.project.inputs import load_inputs
from fluxloop.project.problems import ConfigProblems, ConfigRule, Problem, validate_config
from fluxloop.project.targets import Target, resolve_target, target_environment
from fluxloop.project.yaml import display_path, load_yaml_text, parse_cli_value, set_yaml_value
from fluxloop.sdk.masking import display_mask, is_secret_key, mask_secrets

__all__ = [
    "ENV_VARS",
    "LLM_PROVIDERS",
    "EnvRow",
    "ValidationSummary",
    "choose_file",
    "env_rows",
    "resolve_configured_target",
    "set_config_value",
    "set_config_value_in",
    "set_llm",
    "shown_config",
    "validate_project",
]

INPUT_KEYS = {
    "personas",
    "base_inputs",
    "inputs_file",
    "input_template",
    "variation_strategies",
    "variation_count",
    "variation_temperature",
    "variation_model",
    "custom_variation_prompt",
    "input_generation",
}
EVALUATION_KEYS = {
    "evaluation_goal",
    "evaluators",
    "aggregate",
    "limits",
    "success_criteria",
    "additional_analysis",
    "report",
    "advanced",
    "metrics",
    "efficiency",
    "evaluation",
}
PROJECT_KEYS = {
    "description",
    "version",
    "tags",
    "metadata",
    "source_root",
    "collector_url",
    "collector_api_key",
}

LLM_PROVIDERS: dict[str, tuple[str, str]] = {
    "openai": ("OPENAI_API_KEY", "gpt-4o-mini"),
    "anthropic": ("ANTHROPIC_API_KEY", "claude-3-5-haiku-latest"),
    "gemini": ("GEMINI_API_KEY", "gemini-2.5-flash"),
}

ENV_VARS: list[tuple[str, str, str]] = [
    ("FLUXLOOP_COLLECTOR_URL", "Collector URL (spans also shipped over OTLP)", "not set"),
    ("FLUXLOOP_API_KEY", "Collector API key", "not set"),
    ("FLUXLOOP_ENABLED", "Enable/disable tracing", "true"),
    ("FLUXLOOP_DEBUG", "SDK debug logging", "false"),
    ("FLUXLOOP_STORAGE", "SDK storage: file, http, otlp, none", "file"),
    ("FLUXLOOP_BASE_PATH", "SDK trace files directory", "./traces"),
    ("FLUXLOOP_CAPTURE_CONTENT", "Record inputs/outputs on spans", "true"),
    ("FLUXLOOP_SAMPLE_RATE", "Trace sampling rate (0-1)", "1.0"),
    ("FLUXLOOP_BATCH_SIZE", "Export batch size", "512"),
    ("FLUXLOOP_FLUSH_INTERVAL", "Export interval (s)", "1.0"),
    ("FLUXLOOP_SERVICE_NAME", "Service name for traces", "not set"),
    ("FLUXLOOP_ENVIRONMENT", "Environment (dev/staging/prod)", "development"),
    ("FLUXLOOP_RECORD_ARGS", "Record call arguments for replay", "false"),
    ("FLUXLOOP_RECORDING_FILE", "Recording file", "not set"),
    ("FLUXLOOP_LLM_API_KEY", "LLM API key fallback", "not set"),
    ("FLUXLOOP_CASSETTE", "Model-call cassette mode: record, replay, auto, off", "off"),
    ("FLUXLOOP_CASSETTE_DIR", "Cassette directory", "./cassettes"),
    ("FLUXLOOP_CASSETTE_TIMING", "Replay timing: instant, recorded", "instant"),
    ("OPENAI_API_KEY", "OpenAI API key", "not set"),
    ("ANTHROPIC_API_KEY", "Anthropic API key", "not set"),
    ("GEMINI_API_KEY", "Gemini API key", "not set"),
    ("OTEL_SERVICE_NAME", "OpenTelemetry service name", "not set"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP endpoint", "not set"),
    ("OTEL_SDK_DISABLED", "Disable OpenTelemetry", "false"),
    ("OTEL_TRACES_EXPORTER", "Span exporters (otlp, console, none, fluxloop_jsonl)", "not set"),
    ("OTEL_METRICS_EXPORTER", "GenAI metrics exporters", "as the storage"),
    ("OTEL_TRACES_SAMPLER", "Sampler (with OTEL_TRACES_SAMPLER_ARG)", "always_on"),
    ("OTEL_RESOURCE_ATTRIBUTES", "Resource attributes (never overwritten)", "not set"),
    ("FLUXLOOP_EXTRA_ATTRIBUTES", "Extra attribute dialects on OTLP (openinference)", "not set"),
]


@dataclass
class EnvRow:
    name: str
    description: str
    value: str
    source: str


def env_rows(
    project_dir: Path, *, show_values: bool = False, environ: Mapping[str, str] | None = None
) -> tuple[list[EnvRow], list[Path]]:
    """Each known variable, its (masked) value and where it comes from."""
    env = os.environ if environ is None else environ
    dotenv, files, origin = dotenv_chain(project_dir)
    names = [n for n, _, _ in ENV_VARS]
    extra = sorted(k for k in {*dotenv, *env} if k.startswith("FLUXLOOP_") and k not in names)
    rows = []
    for name, description, default in [*ENV_VARS, *((n, "", "not set") for n in extra)]:
        if name in env:
            value, source = env[name], "environment"
        elif name in dotenv:
            value, source = dotenv[name], display_path(origin[name])
        else:
            rows.append(EnvRow(name, description, f"({default})", "default"))
            continue
        if not show_values and (is_secret_key(name) or name.endswith("_KEY")):
            value = display_mask(value)
        rows.append(EnvRow(name, description, value, source))
    return rows, files


def choose_file(source: ConfigSource, key: str) -> Path:
    """The file ``config set`` edits: the one already defining ``key``, else its section file."""
    if source.layout == "single":
        return source.files[0]
    top = key.split(".", 1)[0]
    configs = source.project_dir / "configs"
    for path in reversed(source.files):  # the last file wins in the merge
        try:
            data = load_yaml_text(path.read_text(encoding="utf-8"), path).data
        except (ConfigError, OSError):
            continue
        if isinstance(data, dict) and top in data:
            return path
    if top in INPUT_KEYS:
        return configs / "input.yaml"
    if top in EVALUATION_KEYS:
        return configs / "evaluation.yaml"
    if top in PROJECT_KEYS:
        return configs / "project.yaml"
    return configs / "simulation.yaml"


def _resolve_file(file: str | None, source: ConfigSource) -> Path:
    if file is None:
        raise AssertionError
    path = Path(file).expanduser()
    if path.is_absolute():
        return path
    cwd_candidate = Path.cwd() / path
    if cwd_candidate.exists():
        return cwd_candidate
    return source.project_dir / path


def set_config_value(
    key: str,
    raw_value: str,
    *,
    source: ConfigSource,
    file: str | None = None,
) -> tuple[Path, Any]:
    """Set ``key`` to the typed ``raw_value`` in the right file, keeping comments; validates the
    result and refuses (writing nothing) when it would make the config invalid."""
    value = parse_cli_value(raw_value)
    path = _resolve_file(file, source) if file else choose_file(source, key)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    edited = set_yaml_value(text, key, value, label=display_path(path))
    doc = load_yaml_text(edited, path)
    merged: dict[str, Any] = {}
    for f in source.files if path in source.files else (path,):
        data = doc.data if f == path else load_yaml_text(f.read_text(encoding="utf-8"), f).data
        if isinstance(data, dict):
            merged = deep_merge(merged, data)
    report = validate_config(
        merged, doc.lines, require_target=False, default_file=display_path(path)
    )
    top = key.split(".", maxsplit=1)[0]

    def about_key(p: Problem) -> bool:
        return (
            p.key == key
            or p.key.startswith(key + ".")
            or key.startswith(p.key + ".")
            or p.key == top
        )

    relevant = [p for p in report.problems if about_key(p)]
    # an unknown key only warns when a file is loaded (other tools' keys), but setting one on
    # purpose is a mistake: FluxLoop would never read it
    relevant += [
        Problem(p.key, "unknown key; not set (FluxLoop does not read it)", p.where, p.file_hint)
        for p in report.warnings
        if about_key(p) and p.message.startswith("unknown key")
    ]
    if relevant:
        raise ConfigProblems(relevant)
    atomic_write(path, edited)
    return path, value


def set_config_value_in(
    key: str,
    raw_value: str,
    config_path: str | None,
    project: str | None = None,
    root: str | None = None,
) -> tuple[Path, Any]:
    """:func:`set_config_value` where ``config set --config`` points: a ``.yaml`` path is the
    file to edit (created when missing), anything else finds the project's config."""
    target_file: str | None = None
    source_path = config_path
    if config_path is not None:
        candidate = Path(config_path).expanduser()
        if candidate.suffix in (".yaml", ".yml"):
            target_file = config_path
            if not candidate.exists():
                source_path = None
    source = discover_config(source_path, project, root)
    return set_config_value(key, raw_value, source=source, file=target_file)


def shown_config(
    config_path: str | None, project: str | None = None, root: str | None = None
) -> tuple[Any, str]:
    """The configuration ``config show`` prints, secrets masked, and where it comes from: the
    merged configuration, or one ``configs/*.yaml`` file when ``config_path`` names it."""
    single_file: Path | None = None
    if config_path is not None:
        candidate = Path(config_path).expanduser()
        if candidate.is_file() and candidate.parent.name == "configs":
            single_file = candidate
    source = discover_config(config_path, project, root)
    raw = load_raw_config(source)
    if single_file is not None:
        data = raw.per_file.get(single_file.resolve()) or raw.per_file.get(single_file) or {}
        return mask_secrets(data), display_path(single_file)
    return mask_secrets(raw.data), source.describe()


@dataclass
class ValidationSummary:
    config: ExperimentConfig
    rows: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


TargetCheck = Callable[[ExperimentConfig], object]
"""A check that needs the target's environment (e.g. the runner's replay plan, whose
``module:attr`` providers import from the working directory); it raises :class:`ConfigError`."""


def resolve_configured_target(
    config: ExperimentConfig, *, checks: Sequence[TargetCheck] = ()
) -> Target:
    """Import ``runner.target`` inside the configured environment, as ``fluxloop run`` would,
    then run ``checks`` in that environment too.

    Raises :class:`ConfigError` (``TargetError``) when the target cannot be resolved, or what a
    check raises.
    """
    runner = config.runner
    with target_environment(
        runner.working_directory, runner.python_path, runner.environment_vars, config.dotenv
    ):
        target = resolve_target(
            runner.target,
            factory=runner.factory,
            factory_kwargs=runner.factory_kwargs,
            search=[runner.working_directory, *runner.python_path],
        )
        for check in checks:
            check(config)
    return target


def validate_project(
    config_path: str | None,
    project: str | None,
    root: str | None,
    *,
    check_target: bool = True,
    section_checks: Sequence[tuple[str, Callable[[ExperimentConfig], str]]] = (),
    target_checks: Sequence[TargetCheck] = (),
    rules: Sequence[ConfigRule] = (),
) -> ValidationSummary:
    """Every problem of the configuration at once (config, inputs, target) or a summary.

    ``rules``: the capabilities' own checks of the mapping, reported with the schema's.

    ``section_checks`` are ``(row label, check)`` pairs from the capabilities above the runner
    (e.g. input generation): each returns a one-line description for the summary or raises
    :class:`ConfigError` with its problems, which are reported with the others.
    ``target_checks`` run in the target's environment once it imports (see
    :func:`resolve_configured_target`).
    """

    source = discover_config(config_path, project, root)
    raw = load_raw_config(source)
    report = raw.validate(require_target=True, rules=rules)
    problems = list(report.problems)
    if problems:
        raise ConfigProblems(problems)
    config = build_experiment_config(raw)
    summary = ValidationSummary(config=config, warnings=list(config.warnings))
    target_kind = "not imported"
    input_count = 0
    input_source = "-"
    try:
        inputs = load_inputs(config)
        input_count, input_source = len(inputs.items), inputs.source
        for note in inputs.notes:
            summary.warnings.append(Problem("inputs_file", note))
    except ConfigError as exc:
        problems.extend(Problem("", line) for line in str(exc).splitlines())
    if check_target:
        try:
            target_kind = resolve_configured_target(config, checks=target_checks).kind
        except ConfigError as exc:
            where = config.lines.get("runner.target")
            prefix = f"{where}: " if where else ""
            problems.extend(Problem("", prefix + line) for line in str(exc).splitlines())
    extra_rows: list[tuple[str, str]] = []
    for label, check in section_checks:
        try:
            extra_rows.append((label, check(config)))
        except ConfigError as exc:
            problems.extend(Problem("", line) for line in str(exc).splitlines())
    if problems:
        raise ConfigProblems(problems)
    evaluators = config.raw.get("evaluators")
    summary.rows = [
        ("Config", source.describe()),
        ("Experiment", config.name),
        ("Target", f"{config.runner.target} ({target_kind})"),
        ("Inputs", f"{input_count} ({input_source})"),
        ("Personas", str(len(config.personas))),
        ("Iterations", str(config.iterations)),
        ("Total runs", str(input_count * config.iterations)),
        ("Parallel", str(config.parallel_runs)),
        (
            "Timeout",
            f"{config.runner.timeout_seconds:g}s" if config.runner.timeout_seconds else "none",
        ),
        ("Retries", str(config.runner.max_retries)),
        ("Output", display_path(config.output_directory)),
        ("Evaluators", str(len(evaluators)) if isinstance(evaluators, list) else "0"),
        *extra_rows,
    ]
    return summary


def set_llm(
    provider: str,
    api_key: str,
    *,
    source: ConfigSource,
    model: str | None = None,
    overwrite_env: bool = True,
    file: str | None = None,
    env_file: str | None = None,
) -> tuple[Path, bool, Path, str]:
    """Store the key in .env and select the provider/model for LLM input generation.

    The key given here replaces one already in .env (the seeds' ``set-llm openai sk-xxxx`` on
    a placeholder must not switch generation to LLM mode with the stale key); only
    ``overwrite_env=False`` keeps an existing one.

    Returns (env file, whether the key was written, config file, model).
    """
    name = provider.strip().lower()
    if name not in LLM_PROVIDERS:
        raise ConfigError.for_value("PROVIDER", "one of " + ", ".join(LLM_PROVIDERS), provider)
    env_var, default_model = LLM_PROVIDERS[name]
    chosen_model = model or default_model
    env_path = Path(env_file).expanduser() if env_file else source.project_dir / ".env"
    if not env_path.is_absolute():
        env_path = Path.cwd() / env_path
    written = set_dotenv_value(env_path, env_var, api_key, overwrite=overwrite_env)
    if file:
        config_path = _resolve_file(file, source)
    elif source.layout == "single":
        config_path = source.files[0]
    else:
        config_path = source.project_dir / "configs" / "input.yaml"
    text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
    for key, value in (
        ("input_generation.mode", "llm"),
        ("input_generation.llm.enabled", True),
        ("input_generation.llm.provider", name),
        ("input_generation.llm.model", chosen_model),
    ):
        text = set_yaml_value(text, key, value, label=display_path(config_path))
    atomic_write(config_path, text)
    return env_path, written, config_path, chosen_model
