"""The plan of an experiment: which runs to do (inputs x personas x iterations), minus the
runs a resumed directory already holds, generated lazily; and its description for a dry run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExperimentConfig
from fluxloop.project.inputs import InputItem, InputSet, load_inputs
from fluxloop.project.targets import Target
from fluxloop.project.yaml import display_path

from .binding import Binder
from .multiturn import multi_turn_settings
from .options import RunOptions
from .records import PlannedRun
from .replay import ReplayPlan
from .resume import ResumeState, input_digest, scan_experiment

__all__ = ["ExperimentPlan", "describe_plan", "item_keys", "plan_experiment"]


@dataclass
class ExperimentPlan:
    """An experiment's runs: its inputs at every iteration, keyed for resume."""

    config: ExperimentConfig
    inputs: InputSet
    iterations: int
    parallel: int
    name: str
    output_directory: Path
    item_keys: list[str]
    resume: ResumeState | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.iterations * len(self.inputs.items)

    @property
    def done(self) -> int:
        return self.resume.completed if self.resume else 0

    def runs(self) -> Iterator[PlannedRun]:
        """The runs still to do, iteration by iteration (lazily; nothing is materialised)."""
        done = self.resume.done_keys if self.resume else frozenset()
        for iteration in range(self.iterations):
            for item, key in zip(self.inputs.items, self.item_keys, strict=True):
                run_key = f"{iteration}|{key}"
                if run_key not in done:
                    yield PlannedRun(run_key, iteration, item)

    def remaining(self) -> int:
        if not self.resume:
            return self.total
        return sum(1 for _ in self.runs())


def item_keys(items: Sequence[InputItem]) -> list[str]:
    """Stable keys of inputs: persona + digest of the input + occurrence number."""
    seen: Counter[str] = Counter()
    keys = []
    for item in items:
        base = f"{item.persona or ''}|{input_digest(item.input)}"
        keys.append(f"{base}|{seen[base]}")
        seen[base] += 1
    return keys


def plan_experiment(config: ExperimentConfig, options: RunOptions) -> ExperimentPlan:
    """The plan of ``config`` with ``options`` applied (the inputs loaded, a resumed directory
    scanned); raises ConfigError / InputError before anything runs."""
    inputs = load_inputs(config, options.inputs, personas=options.personas)
    resume = scan_experiment(options.resume, repair=not options.dry_run) if options.resume else None
    iterations = options.iterations if options.iterations is not None else config.iterations
    if iterations < 1:
        raise ConfigError.for_value("--iterations", "an integer >= 1", iterations)
    parallel = options.parallel if options.parallel is not None else config.parallel_runs
    if parallel < 1:
        raise ConfigError.for_value("--parallel", "an integer >= 1", parallel)
    name = options.name or config.name
    if resume and resume.summary and not options.name:
        name = str(resume.summary.get("name") or name)
    out_dir = options.output_dir if options.output_dir is not None else config.output_directory
    plan = ExperimentPlan(
        config=config,
        inputs=inputs,
        iterations=iterations,
        parallel=parallel,
        name=name,
        output_directory=out_dir.resolve(),
        item_keys=item_keys(inputs.items),
        resume=resume,
    )
    plan.notes.extend(inputs.notes)
    if resume:
        plan.notes.extend(resume.notes)
    return plan


def describe_plan(
    plan: ExperimentPlan,
    target: Target,
    binder: Binder,
    *,
    replay: ReplayPlan | None,
    tracing: str,
    limit: int = 10,
) -> list[str]:
    """The dry run's lines: the settings and the first ``limit`` runs still to do."""
    cfg = plan.config
    remaining = plan.remaining()
    if plan.resume:
        output = display_path(plan.resume.directory)
    else:
        output = f"{display_path(plan.output_directory)}/{plan.name}_<timestamp>/"
    lines = [
        f"Experiment:   {plan.name}",
        f"Config:       {cfg.source.describe()}",
        f"Target:       {cfg.runner.target} ({target.kind}; "
        f"{replay.binding() if replay is not None else binder.describe()})",
        f"Inputs:       {len(plan.inputs.items)} from {plan.inputs.source}",
        f"Personas:     {', '.join(p or '(none)' for p in plan.inputs.personas)}",
        f"Iterations:   {plan.iterations}",
        f"Total runs:   {plan.total}"
        + (f" ({plan.done} done, {remaining} to run)" if plan.resume else ""),
        f"Parallel:     {plan.parallel}",
        f"Timeout:      {cfg.runner.timeout_seconds:g}s"
        if cfg.runner.timeout_seconds
        else "Timeout:      none",
        f"Retries:      {cfg.runner.max_retries} (delay {cfg.runner.retry_delay:g}s, exponential)",
        f"Output:       {output}",
        f"Tracing:      {tracing}",
    ]
    if (multi_turn := multi_turn_settings(cfg)) is not None:
        lines.append(f"Multi-turn:   {multi_turn.describe()}")
    if replay is not None:
        lines.append(f"Replay:       {replay.describe()}")
    for shown, run in enumerate(plan.runs()):
        if shown == 0:
            lines.append("First runs:")
        if shown >= limit:
            lines.append(f"  ... {remaining - shown} more")
            break
        text = (
            run.item.input
            if isinstance(run.item.input, str)
            else json.dumps(run.item.input, default=str)
        )
        if len(text) > 60:
            text = text[:57] + "..."
        lines.append(f"  [iter {run.iteration}] persona={run.item.persona or '-'} input={text!r}")
    return lines
