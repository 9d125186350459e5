"""The single-turn strategy: one call of the target per run, retried as one unit.

Each attempt is captured in its own trace (the failed attempts' spans stay in the files); the
last attempt decides the record.
"""

from __future__ import annotations

import uuid
from typing import Any

from fluxloop.runner.attempts import Attempt
from fluxloop.runner.binding import apply_template
from fluxloop.runner.calls import BoundCall
from fluxloop.runner.records import PlannedRun, RunRecord
from fluxloop.runner.run_records import RunResult
from fluxloop.runner.tracing import start_capture

from .base import RunServices, RunStrategy

__all__ = ["SingleTurn"]


class SingleTurn(RunStrategy):
    """Calls the target once with the run's input."""

    name = "single_turn"

    def __init__(self, services: RunServices) -> None:
        self.services = services

    async def execute(self, planned: PlannedRun) -> RunRecord:
        s = self.services
        item = planned.item
        persona = s.config.persona(item.persona)
        text = apply_template(s.config.input_template, item.input, persona)
        run_id = uuid.uuid4().hex
        ctx = s.context(planned, text, run_id, persona_name=item.persona, persona=persona)
        bound: list[BoundCall] = []  # each attempt's arguments (its replay collector)

        async def attempt(number: int) -> Any:
            bound.append(s.caller.bind(ctx, planned))
            return await s.caller.call(bound[-1])

        def capture(number: int) -> Any:
            return start_capture(s.attributes(run_id, planned, item.persona, number))

        tried = await s.attempts.run(attempt, scope=capture)
        last: Attempt[Any] = tried.last
        return s.records.build(
            RunResult(
                planned=planned,
                run_id=run_id,
                input=text,
                value=last.value,
                error=last.error,
                started=last.started,
                duration_ms=last.duration_ms,
                attempts=tried.count,
                attempt_errors=tried.errors(),
                spans=last.scope.spans,
                collector=bound[-1].collector if bound else None,
                earlier_spans=[span for a in tried.earlier for span in a.scope.spans],
            )
        )
