"""The experiment engine's entry point: :func:`run_experiment` (what ``fluxloop run experiment``,
the pytest plugin and the Python API call).

The engine is a facade over the runner's seams:

* :mod:`.planning` - the runs to do (inputs x personas x iterations, minus resumed ones);
* :mod:`.attempts` - the one attempt loop (timeouts, retries, classification by type);
* :mod:`.calls` - calling the target (sync, async, streams, replayed callbacks);
* :mod:`.strategies` - single-turn runs and conversations with a simulated user;
* :mod:`.worker` - executing runs in a process (:class:`RunExecutor`, :class:`RunJob`);
* :mod:`.executors` - where runs execute (this loop, or a Ray cluster);
* :mod:`.lifecycle` - the directory, artifacts, signals and resume of an experiment;
* :mod:`.progress` - progress reported as events, never printed by the runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import fluxloop
from fluxloop.project.config import ExperimentConfig
from fluxloop.project.targets import target_environment
from fluxloop.project.yaml import display_path

from .binding import Binder
from .cassettes import RunCassette
from .interrupts import deferred_interrupts
from .lifecycle import Experiment
from .options import RunOptions
from .outcome import ExperimentOutcome
from .output import aggregate_chunks, coerce_output
from .planning import ExperimentPlan, describe_plan, plan_experiment
from .progress import NullProgress, ProgressReporter
from .records import PlannedRun, RunRecord
from .strategies import SimulatedUserFactory, StrategyFactory
from .tracing import FLUSH_TIMEOUT_SECONDS, configure_tracing
from .worker import RunExecutor, prepare_target

__all__ = [
    "ExperimentOutcome",
    "ExperimentPlan",
    "PlannedRun",
    "RunExecutor",
    "RunOptions",
    "RunRecord",
    "aggregate_chunks",
    "coerce_output",
    "plan_experiment",
    "run_experiment",
]


def run_experiment(
    config: ExperimentConfig,
    options: RunOptions | None = None,
    *,
    reporter: ProgressReporter | None = None,
    simulated_users: SimulatedUserFactory | None = None,
    strategy: StrategyFactory | None = None,
) -> ExperimentOutcome:
    """Run (or, with ``dry_run``, describe) an experiment; returns its outcome.

    ``simulated_users`` makes the simulated user of multi-turn runs played by a model
    (:class:`fluxloop.generation.simulated_user.LLMSimulatedUser`; scripted users need none);
    ``strategy`` replaces how a planned run becomes a record (default: single-turn, or
    conversations when ``multi_turn.enabled``).

    Raises :class:`ConfigError` / :class:`InputError` / :class:`TargetError` before anything
    is written. Call :meth:`ExperimentOutcome.raise_for_status` for exit-code semantics.
    """
    options = options or RunOptions()
    reporter = reporter or NullProgress()
    plan = plan_experiment(config, options)
    runner = config.runner
    with target_environment(
        runner.working_directory, runner.python_path, runner.environment_vars, config.dotenv
    ):
        target, replay = prepare_target(config)
        cassette = RunCassette.open(
            config,
            name=plan.name,
            mode=options.cassette,
            timing=options.cassette_timing,
            reporter=reporter,
        )
        for note in [*plan.notes, *(replay.notes if replay else [])]:
            reporter.info(f"[fluxloop] note: {note}")
        for warning in replay.warnings if replay else []:
            reporter.info(f"[fluxloop] warning: {warning}")
        shipping = bool(config.collector_url) and not options.no_collector
        tracing_label = f"in memory + OTLP to {config.collector_url}" if shipping else "in memory"
        if options.dry_run:
            lines = [
                f"Note:         {note}" for note in [*plan.notes, *(replay.notes if replay else [])]
            ]
            lines += [f"Warning:      {warning}" for warning in (replay.warnings if replay else [])]
            lines += describe_plan(
                plan, target, Binder(target.func), replay=replay, tracing=tracing_label
            )
            return ExperimentOutcome(
                plan=plan, directory=None, summary={}, dry_run=True, dry_run_lines=lines
            )
        tracing = configure_tracing(
            config.collector_url,
            config.collector_api_key,
            no_collector=options.no_collector,
            auto_instrument=config.runner.auto_instrument,
            hide_internal=config.runner.hide_internal,
        )
        experiment = Experiment(
            plan,
            options,
            target,
            replay,
            reporter,
            tracing,
            strategy=strategy,
            simulated_users=simulated_users,
        )
        experiment.executor.cassette = cassette
        if experiment.execution.remote:  # each run takes its tape to its worker and back
            experiment.execution.tapes = cassette
        experiment.execution.prepare()  # a bad executor setup fails before anything is written
        with deferred_interrupts(reraise=False) as held:  # a directory is whole or absent
            directory = experiment.open_directory()
        experiment.stopping = bool(held)
        remaining = plan.remaining()
        reporter.info(f"[fluxloop] Starting experiment {plan.name} -> {display_path(directory)}")
        reporter.info(
            f"[fluxloop] Loaded {len(plan.inputs.items)} inputs ({plan.inputs.source}); "
            f"{plan.iterations} iteration(s) per input ({plan.total} total runs"
            + (f", {plan.done} already done" if plan.resume else "")
            + f"), parallel {plan.parallel}"
        )
        if config.seed is not None:
            random.seed(config.seed)
        try:
            reporter.start(plan.total, done=plan.done, failed=experiment.stats.failed)
            if remaining and not experiment.stopping:
                asyncio.run(experiment.main())
        except KeyboardInterrupt:  # a signal outside the loop's own handlers
            experiment.stopping = True
        finally:
            with deferred_interrupts(reraise=False):  # the final summary is always written
                reporter.finish()
                summary = experiment.finish()
                if tracing.shipping:
                    with contextlib.suppress(Exception):
                        fluxloop.flush(timeout_seconds=FLUSH_TIMEOUT_SECONDS)
    interrupted = summary["status"] == "interrupted"
    return ExperimentOutcome(
        plan=plan,
        directory=directory,
        summary=summary,
        interrupted=interrupted,
        error=experiment.storage_error,
    )
