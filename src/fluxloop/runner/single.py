"""``fluxloop run single``: one traced call of a target; its record holds the output and spans."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fluxloop.project.config import (
    ConfigSource,
    ExperimentConfig,
    Persona,
    RunnerSettings,
    collector_endpoint,
)
from fluxloop.project.envfiles import dotenv_chain
from fluxloop.project.inputs import InputItem
from fluxloop.project.targets import resolve_target, target_environment

from .cassettes import RunCassette
from .engine import PlannedRun, RunExecutor, RunRecord, item_keys
from .progress import NullProgress
from .tracing import FLUSH_TIMEOUT_SECONDS, configure_tracing

__all__ = ["SingleResult", "run_single"]


@dataclass
class SingleResult:
    record: RunRecord

    @property
    def success(self) -> bool:
        return self.record.success

    @property
    def output(self) -> str | None:
        value = self.record.line.get("output")
        return value if isinstance(value, str) else None


def run_single(
    target_spec: str,
    input_value: Any,
    *,
    working_directory: Path | None = None,
    python_path: Sequence[Path] = (),
    environment_vars: Mapping[str, str] | None = None,
    persona: str | None = None,
    iteration: int = 0,
    timeout_seconds: float | None = None,
    collector_url: str | None = None,
    api_key: str | None = None,
    no_collector: bool = False,
    base: ExperimentConfig | None = None,
    cassette: str | None = None,
    cassette_timing: str | None = None,
) -> SingleResult:
    """Run ``target_spec`` once with ``input_value`` and capture its trace.

    With a cassette mode, the call uses the cassette of the config's experiment name (or
    ``single``) under the same run key an experiment run with this input, persona and
    iteration has, so ``run single --config ... --cassette replay`` replays that run."""
    if base is not None:
        runner = base.runner
        wd = working_directory or runner.working_directory
        paths = tuple(python_path) or runner.python_path
        env = {**runner.environment_vars, **(environment_vars or {})}
        dotenv = base.dotenv
        personas: tuple[Persona, ...] = base.personas
        project_dir = base.project_dir
    else:
        wd = (working_directory or Path.cwd()).resolve()
        paths = tuple(python_path)
        env = dict(environment_vars or {})
        dotenv, _, _ = dotenv_chain(wd)
        personas = ()
        project_dir = wd
    if collector_url is None:
        if base is not None:
            collector_url, api_key = base.collector_url, api_key or base.collector_api_key
        else:
            collector_url, found_key = collector_endpoint(dotenv)
            api_key = api_key or found_key
    settings = RunnerSettings(
        target=target_spec,
        working_directory=wd,
        python_path=paths,
        environment_vars=env,
        timeout_seconds=timeout_seconds,
        max_retries=0,
    )
    config = ExperimentConfig(
        name="single",
        source=ConfigSource(project_dir=project_dir, files=(), layout="single"),
        runner=settings,
        raw={"cassette": base.raw.get("cassette")} if base else {},
        personas=personas,
    )
    with target_environment(wd, paths, env, dotenv):
        target = resolve_target(
            target_spec,
            factory=base.runner.factory if base else None,
            factory_kwargs=base.runner.factory_kwargs if base else None,
            search=[wd, *paths],
        )
        configure_tracing(
            collector_url,
            api_key,
            no_collector=no_collector,
            auto_instrument=base.runner.auto_instrument if base else True,
            hide_internal=base.runner.hide_internal if base else True,
        )
        executor = RunExecutor(config, target, experiment_name="single", experiment_id="single")
        item = InputItem(index=0, input=input_value, persona=persona, source="argument")
        tape = RunCassette.open(
            config,
            name=base.name if base else "single",
            mode=cassette,
            timing=cassette_timing,
            reporter=NullProgress(),
        )
        executor.cassette = tape
        key = "single" if tape is None else f"{iteration}|{item_keys([item])[0]}"
        record = asyncio.run(executor.execute(PlannedRun(key, iteration, item)))
        if tape is not None:
            tape.close()
        executor.pool.shutdown()
        if collector_url and not no_collector:
            import fluxloop

            fluxloop.flush(timeout_seconds=FLUSH_TIMEOUT_SECONDS)
    return SingleResult(record)
