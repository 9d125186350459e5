"""``fluxloop run single``: one traced call of a target, its output and its span tree."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fluxloop.project.config import ConfigSource, ExperimentConfig, Persona, RunnerSettings
from fluxloop.project.envfiles import dotenv_chain
from fluxloop.project.inputs import InputItem
from fluxloop.project.targets import resolve_target, target_environment

from .cassettes import RunCassette
from .engine import PlannedRun, RunExecutor, RunRecord, item_keys
from .progress import NullProgress
from .tracing import FLUSH_TIMEOUT_SECONDS, configure_tracing

__all__ = ["SingleResult", "format_tree", "run_single"]


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


def _duration_ms(obs: Mapping[str, Any]) -> float | None:
    try:
        start = datetime.fromisoformat(str(obs["start_time"]))
        end = datetime.fromisoformat(str(obs["end_time"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).total_seconds() * 1000.0


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _label(obs: Mapping[str, Any]) -> str:
    duration = _duration_ms(obs)
    bits = [f"{obs.get('type', 'span')} {obs.get('name', '?')}"]
    if duration is not None:
        bits.append(f"{duration:.1f} ms")
    if obs.get("model"):
        bits.append(f"model={obs['model']}")
    if obs.get("total_tokens") is not None:
        bits.append(f"tokens={obs['total_tokens']}")
    if obs.get("error"):
        bits.append(f"ERROR {_short(obs['error'])}")
    elif obs.get("output") is not None:
        bits.append(f"-> {_short(obs['output'])}")
    return "  ".join(bits)


def format_tree(observations: Sequence[Mapping[str, Any]]) -> list[str]:
    """The spans of a run as an indented tree (parents before children), one line per span."""
    records = [dict(o) for o in observations]
    ids = {o.get("id") for o in records}
    children: dict[Any, list[dict[str, Any]]] = {}
    for obs in records:
        parent = obs.get("parent_observation_id")
        children.setdefault(parent if parent in ids else None, []).append(obs)
    lines: list[str] = []

    def walk(parent: Any, prefix: str, root: bool) -> None:
        kids = children.get(parent, [])
        for i, obs in enumerate(kids):
            last = i == len(kids) - 1
            if root:
                lines.append(_label(obs))
                walk(obs.get("id"), "", False)
            else:
                lines.append(prefix + ("└─ " if last else "├─ ") + _label(obs))
                walk(obs.get("id"), prefix + ("   " if last else "│  "), False)

    walk(None, "", True)
    return lines


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
