"""The run strategy interface: how one planned run becomes a record.

A strategy gets the experiment's :class:`RunServices` (the target's caller, the one attempt
loop, the record builder) and executes planned runs with them: the single-turn strategy calls
the target once per run, the conversation strategy once per agent turn. The experiment sees
only :class:`RunStrategy`: it executes runs, adds its sections to ``summary.json`` and counts
records that ran in another process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop_semconv import attributes as attr

from fluxloop.project.config import ExperimentConfig, Persona
from fluxloop.runner.attempts import AttemptLoop
from fluxloop.runner.binding import RunContext
from fluxloop.runner.calls import TargetCaller
from fluxloop.runner.progress import NullProgress, ProgressReporter
from fluxloop.runner.records import PlannedRun, RunRecord
from fluxloop.runner.run_records import RecordBuilder

__all__ = ["RunServices", "RunStrategy", "StrategyFactory"]


@dataclass
class RunServices:
    """What every strategy runs with (one set per experiment and process)."""

    config: ExperimentConfig
    caller: TargetCaller
    attempts: AttemptLoop
    records: RecordBuilder
    experiment_name: str
    experiment_id: str
    reporter: ProgressReporter = field(default_factory=NullProgress)

    @property
    def target_name(self) -> str:
        return self.caller.target.display_name

    def attributes(
        self, run_id: str, planned: PlannedRun, persona: str | None, attempt: int
    ) -> dict[str, Any]:
        """The span attributes of a run's capture."""
        item = planned.item
        attrs: dict[str, Any] = {
            attr.FLUXLOOP_EXPERIMENT_ID: self.experiment_id,
            attr.FLUXLOOP_EXPERIMENT_NAME: self.experiment_name,
            attr.FLUXLOOP_RUN_ID: run_id,
            attr.FLUXLOOP_RUN_ITERATION: planned.iteration,
            attr.FLUXLOOP_RUN_INPUT_INDEX: item.index,
            attr.FLUXLOOP_RUN_ATTEMPT: attempt,
        }
        if persona is not None:
            attrs[attr.FLUXLOOP_RUN_PERSONA] = persona
        return attrs

    def context(
        self,
        planned: PlannedRun,
        text: Any,
        run_id: str,
        *,
        persona_name: str | None,
        persona: Persona | None,
        auto_approve: bool = True,
    ) -> RunContext:
        """The binding context of one call of the target."""
        item = planned.item
        return RunContext(
            input=text,
            iteration=planned.iteration,
            persona=persona,
            persona_name=persona_name,
            input_index=item.index,
            metadata=item.metadata,
            run_id=run_id,
            experiment=self.experiment_name,
            auto_approve=auto_approve,
        )


class RunStrategy(ABC):
    """Executes planned runs of one experiment in this process."""

    #: Short name (``single_turn``, ``conversation``).
    name: str = "strategy"

    @abstractmethod
    async def execute(self, planned: PlannedRun) -> RunRecord:
        """Run ``planned`` to its record; a failure of the target is inside the record."""

    def summary(self) -> Mapping[str, Any]:
        """Sections this strategy adds to ``summary.json`` (e.g. ``multi_turn``)."""
        return {}

    def account(self, line: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Count a record that ran in another process (another executor's worker)."""

    def describe(self) -> str | None:
        """One line for the dry run (None: nothing to say)."""
        return None


#: Builds the strategy of an experiment from its services (picklable for remote executors:
#: a class or a module-level function).
StrategyFactory = Callable[[RunServices], RunStrategy]
