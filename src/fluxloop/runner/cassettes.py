"""The experiment's model-call cassette: one tape per run, a run with a missing call fails.

The engine asks :meth:`RunCassette.open` before the first run (a bad cassette file is a
ConfigError, exit 2, before anything runs) and runs each planned run through
:meth:`RunCassette.execute`, which makes the run's tape current (keyed by the run's input,
persona and iteration) around the whole run, multi-turn conversations and their simulated
user included. A run that asked for a call the cassette does not hold (``replay``) fails with
the miss line, even when the agent caught the exception and carried on.

When runs execute in other processes (``--executor ray``), the executor asks :meth:`ship`
for what a run takes along (its recorded entries) and hands :meth:`receive` what the run
brought back; the cassette file stays here and is written here, as for a local run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fluxloop.cassette import CassetteSession, ReturnedTape, ShippedTape, resolve_settings
from fluxloop.project.config import ExperimentConfig

from .progress import ProgressReporter
from .records import PlannedRun, RunRecord

__all__ = ["RunCassette"]


class RunCassette:
    """An experiment's cassette session and what its runs did with it."""

    def __init__(self, session: CassetteSession, reporter: ProgressReporter) -> None:
        self.session = session
        self.reporter = reporter

    @classmethod
    def open(
        cls,
        config: ExperimentConfig,
        *,
        name: str,
        mode: str | None,
        timing: str | None,
        reporter: ProgressReporter,
    ) -> RunCassette | None:
        """The cassette of experiment ``name`` (None when cassettes are off)."""
        section = config.raw.get("cassette")
        settings = resolve_settings(
            mode=mode,
            timing=timing,
            config=section if isinstance(section, dict) else None,
            base_dir=config.project_dir,
        )
        session = CassetteSession.open(
            settings, name=name, target=config.runner.target, scope="run"
        )
        if session is None:
            return None
        reporter.info(
            f"[fluxloop] cassette {session.cassette.path} ({settings.mode}, "
            f"{len(session.cassette)} recorded call(s))"
        )
        return cls(session, reporter)

    async def execute(
        self, planned: PlannedRun, execute: Callable[[PlannedRun], Awaitable[RunRecord]]
    ) -> RunRecord:
        """Run ``planned`` with its tape current; fail it on a missing recording."""
        with self.session.tape(planned.key) as tape:
            record = await execute(planned)
        self._settle(record, tape.misses)
        return record

    def ship(self, planned: PlannedRun) -> ShippedTape:
        """What ``planned`` takes to the process that executes it."""
        return self.session.ship(planned.key)

    def receive(self, shipped: ShippedTape, returned: ReturnedTape, record: RunRecord) -> None:
        """Fold in what a run executed elsewhere did with its tape; fail it on a miss."""
        self.session.finish(returned.resolve(shipped))
        self._settle(record, returned.misses)

    def _settle(self, record: RunRecord, misses: list[str]) -> None:
        if misses:
            _fail(record, misses[0])
            self.reporter.info(f"[fluxloop] {misses[0]}")

    def summary(self) -> dict[str, Any]:
        return self.session.summary()

    def close(self) -> None:
        """Save the cassette and print what it did."""
        self.session.close()
        self.reporter.info(f"[fluxloop] {self.session.describe()}")


def _fail(record: RunRecord, line: str) -> None:
    record.line["success"] = False
    record.line["status"] = "error"
    record.line["output"] = None
    record.line["error"] = {"type": "CassetteMiss", "message": line, "traceback": None}
