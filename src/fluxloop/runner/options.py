"""What the caller of an experiment may override (the command line's options)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExecutorSettings, ExperimentConfig

__all__ = ["RunOptions", "executor_settings"]


@dataclass
class RunOptions:
    """Overrides from the command line (``None`` = use the config)."""

    iterations: int | None = None
    inputs: Path | None = None
    output_dir: Path | None = None
    name: str | None = None
    parallel: int | None = None
    no_collector: bool = False
    resume: Path | None = None
    dry_run: bool = False
    personas: Sequence[str] | None = None
    grace_seconds: float = 10.0
    summary_interval: float = 1.0
    install_signal_handlers: bool = True
    invocation: dict[str, Any] = field(default_factory=dict)
    executor: str | None = None  # local | ray (None: runner.executor.type)
    ray_address: str | None = None  # overrides runner.executor.address
    cassette: str | None = None  # record | replay | auto | off (None: env, config)
    cassette_timing: str | None = None  # instant | recorded


def executor_settings(config: ExperimentConfig, options: RunOptions) -> ExecutorSettings:
    """``runner.executor`` with the command line's ``--executor`` / ``--ray-address`` applied."""
    settings = config.runner.executor
    if options.executor is not None:
        settings = dataclasses.replace(settings, type=options.executor)
    if options.ray_address is not None:
        settings = dataclasses.replace(settings, address=options.ray_address)
    if settings.type not in ("local", "ray"):
        raise ConfigError.for_value("--executor", "local or ray", settings.type)
    return settings
