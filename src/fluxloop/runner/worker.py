"""Executing runs in one process: the target, its strategy and the model-call cassette.

:class:`RunExecutor` is what an executor runs (:mod:`fluxloop.runner.executors`): the asyncio
executor calls it on this process's loop; the Ray executor sends a :class:`RunJob` to each
worker process once, which builds the same :class:`RunExecutor` there.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

from fluxloop.errors import ConfigError
from fluxloop.project.config import ExperimentConfig, relocate
from fluxloop.project.targets import Target, resolve_target, target_environment

from .attempts import AttemptLoop, RetryPolicy
from .binding import apply_template
from .calls import TargetCaller
from .cassettes import RunCassette
from .multiturn import multi_turn_settings
from .pool import DaemonThreadPool
from .progress import NullProgress, ProgressReporter
from .records import PlannedRun, RunRecord
from .replay import ReplayPlan, load_replay
from .run_records import RecordBuilder
from .strategies import (
    Conversation,
    RunServices,
    RunStrategy,
    SimulatedUserFactory,
    SingleTurn,
    StrategyFactory,
    make_simulated_user,
)
from .tracing import configure_tracing

__all__ = ["RunExecutor", "RunJob", "default_strategy", "prepare_target"]


def default_strategy(
    services: RunServices, simulated_users: SimulatedUserFactory | None = None
) -> RunStrategy:
    """Conversations when ``multi_turn.enabled``, else single-turn runs."""
    settings = multi_turn_settings(services.config)
    if settings is None:
        return SingleTurn(services)
    user = make_simulated_user(settings, services.config, simulated_users)
    return Conversation(services, settings, user)


class RunExecutor:
    """Executes runs of one target in this process: its strategy, with the cassette around."""

    def __init__(
        self,
        config: ExperimentConfig,
        target: Target,
        *,
        experiment_name: str,
        experiment_id: str,
        replay: ReplayPlan | None = None,
        pool: DaemonThreadPool | None = None,
        is_stopping: Callable[[], bool] = lambda: False,
        reporter: ProgressReporter | None = None,
        strategy: StrategyFactory | None = None,
        simulated_users: SimulatedUserFactory | None = None,
    ) -> None:
        runner = config.runner
        self.config = config
        self.caller = TargetCaller(
            target,
            replay=replay,
            pool=pool,
            timeout=runner.timeout_seconds,
            stream_path=runner.stream_output_path,
        )
        self.services = RunServices(
            config=config,
            caller=self.caller,
            attempts=AttemptLoop(RetryPolicy(runner.max_retries, runner.retry_delay), is_stopping),
            records=RecordBuilder(
                experiment_id=experiment_id,
                target_name=target.display_name,
                output_limit=runner.output_char_limit,
            ),
            experiment_name=experiment_name,
            experiment_id=experiment_id,
            reporter=reporter or NullProgress(),
        )
        self.strategy = (
            strategy(self.services)
            if strategy is not None
            else default_strategy(self.services, simulated_users)
        )
        self.cassette: RunCassette | None = None  # model calls recorded / replayed per run

    @property
    def pool(self) -> DaemonThreadPool:
        return self.caller.pool

    async def execute(self, planned: PlannedRun) -> RunRecord:
        """Run ``planned`` (with its cassette tape current, when there is a cassette)."""
        if self.cassette is not None:  # the run's tape is current for the whole run
            return await self.cassette.execute(planned, self.strategy.execute)
        return await self.strategy.execute(planned)

    def lost(
        self, planned: PlannedRun, error: BaseException, attempt_errors: list[dict[str, Any]]
    ) -> RunRecord:
        """The record of a run whose worker never answered (process or node lost)."""
        item = planned.item
        persona = self.config.persona(item.persona)
        text = apply_template(self.config.input_template, item.input, persona)
        return self.services.records.lost(planned, text, error, attempt_errors)


def prepare_target(config: ExperimentConfig) -> tuple[Target, ReplayPlan | None]:
    """The configured target, resolved, and the replay plan (``replay_args``), checked."""
    runner = config.runner
    target = resolve_target(
        runner.target,
        factory=runner.factory,
        factory_kwargs=runner.factory_kwargs,
        search=[runner.working_directory, *runner.python_path],
    )
    replay = load_replay(config.replay, runner.target) if config.replay.enabled else None
    if replay is not None:
        _check_replay_signature(target, replay)
    return target, replay


def _check_replay_signature(target: Target, replay: ReplayPlan) -> None:
    """Recorded kwargs the target cannot accept are a config error, not N failed runs."""
    try:
        params = inspect.signature(target.func).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    accepted = {n for n, p in params.items() if p.kind is not p.POSITIONAL_ONLY}
    recorded = {name for record in replay.records for name in record["kwargs"]}
    unknown = sorted(recorded - accepted)
    if unknown:
        raise ConfigError(
            f"replay_args: the recording passes {', '.join(map(repr, unknown))} but "
            f"{target.spec} takes ({', '.join(params)}); record the right target or fix "
            "runner.target",
            key="replay_args.recording_file",
        )


@dataclass
class RunJob:
    """What a worker process needs to execute this experiment's runs (picklable, sent once).

    The config carries ``runner.environment_vars`` and ``.env`` values, secrets included: the
    Ray executor sends the job as task data, never in Ray's runtime environment.
    """

    config: ExperimentConfig
    experiment_name: str
    experiment_id: str
    no_collector: bool
    output_directory: Path
    key: str = field(default_factory=lambda: uuid4().hex)
    strategy: StrategyFactory | None = None
    simulated_users: SimulatedUserFactory | None = None

    @property
    def code_dir(self) -> Path:
        return self.config.runner.working_directory

    @property
    def private_paths(self) -> list[str]:
        """Paths under ``code_dir`` no worker gets: the config files (they may hold secrets;
        the job carries the resolved config) and the experiments directory."""
        root = self.code_dir.resolve()
        paths = []
        for path in [*self.config.source.files, *self.config.dotenv_files, self.output_directory]:
            with contextlib.suppress(ValueError):
                paths.append("/" + path.resolve().relative_to(root).as_posix())
        return [p for p in paths if p != "/."]

    def build(self, stack: contextlib.ExitStack, root: Path | None) -> RunExecutor:
        config = self.config if root is None else relocate(self.config, root)
        runner = config.runner
        stack.enter_context(
            target_environment(
                runner.working_directory, runner.python_path, runner.environment_vars, config.dotenv
            )
        )
        configure_tracing(
            config.collector_url,
            config.collector_api_key,
            no_collector=self.no_collector,
            auto_instrument=runner.auto_instrument,
            hide_internal=runner.hide_internal,
        )
        target, replay = prepare_target(config)
        if replay is not None and self.config.replay.recording_file is not None:
            # read from the copy; the records name the file the user configured
            replay.recording_file = self.config.replay.recording_file
        return RunExecutor(
            config,
            target,
            experiment_name=self.experiment_name,
            experiment_id=self.experiment_id,
            replay=replay,
            strategy=self.strategy,
            simulated_users=self.simulated_users,
        )
