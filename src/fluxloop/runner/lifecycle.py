"""The experiment lifecycle: its directory and artifacts, scheduling runs, signals, resume.

* ``parallel_runs`` workers pull runs from the lazily generated plan (memory does not grow with
  the number of runs) and hand them to the :class:`~fluxloop.runner.executors.Executor`: this
  process's loop (:class:`AsyncioExecutor`) or a Ray cluster (``--executor ray``); each record
  is written with the run's summary line as soon as it completes, ``summary.json`` at most
  every ``summary_interval`` seconds and at the end.
* SIGINT / SIGTERM stop scheduling, give in-flight runs ``grace_seconds``, cancel the rest and
  write a partial summary (a second signal cancels at once). The directory can be resumed.
* An artifact that cannot be written (a full disk) stops new runs; what was committed stays and
  the summary says ``aborted`` (resumable).
* Progress is reported as events to a :class:`~fluxloop.runner.progress.ProgressReporter`.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fluxloop.errors import StorageError
from fluxloop.project.config import ExecutorSettings
from fluxloop.project.targets import Target

from .artifacts import CONFIG_HEADER, ArtifactWriter, create_experiment_dir
from .executors import Executor
from .executors.local import AsyncioExecutor
from .executors.ray import RayExecutor
from .options import RunOptions, executor_settings
from .planning import ExperimentPlan
from .pool import DaemonThreadPool
from .progress import ProgressReporter
from .provenance import environment_info
from .records import PlannedRun, RunRecord
from .replay import ReplayPlan
from .resume import error_entry
from .run_records import utcnow
from .stats import RunStats
from .strategies import SimulatedUserFactory, StrategyFactory
from .summary import Sessions, config_snapshot, experiment_summary
from .tracing import TracingSetup
from .worker import RunExecutor, RunJob

__all__ = ["Experiment"]


class Experiment:
    """One session of an experiment: from its open directory to its final summary."""

    def __init__(
        self,
        plan: ExperimentPlan,
        options: RunOptions,
        target: Target,
        replay: ReplayPlan | None,
        reporter: ProgressReporter,
        tracing: TracingSetup,
        *,
        strategy: StrategyFactory | None = None,
        simulated_users: SimulatedUserFactory | None = None,
    ) -> None:
        self.plan = plan
        self.config = plan.config
        self.options = options
        self.reporter = reporter
        self.tracing = tracing
        prior = plan.resume.summary if plan.resume and plan.resume.summary else {}
        self.sessions = Sessions.begin(prior, uuid.uuid4().hex)
        self.experiment_id = self.sessions.experiment_id
        self.session_start = time.monotonic()
        self.stats = plan.resume.stats if plan.resume else RunStats()
        self.errors: list[dict[str, Any]] = list(plan.resume.errors) if plan.resume else []
        self.errors_dirty = True
        self.stopping = False
        self.stop_reason: str | None = None
        self.cancelled_now = False
        self.storage_error: StorageError | None = None
        self.pool = DaemonThreadPool()
        self.executor = RunExecutor(
            self.config,
            target,
            experiment_name=plan.name,
            experiment_id=self.experiment_id,
            replay=replay,
            pool=self.pool,
            is_stopping=lambda: self.stopping,
            reporter=reporter,
            strategy=strategy,
            simulated_users=simulated_users,
        )
        self.execution = self._make_execution(
            executor_settings(self.config, options), strategy, simulated_users
        )
        self.environment = environment_info(self.config.project_dir)
        self.directory: Path | None = None
        self.writer: ArtifactWriter | None = None
        self._snapshot: dict[str, Any] | None = None
        self._last_summary = 0.0
        self._workers: list[asyncio.Task[None]] = []
        self._plan_iter: Iterator[PlannedRun] | None = None
        self._next_start = 0.0

    def _make_execution(
        self,
        settings: ExecutorSettings,
        strategy: StrategyFactory | None,
        simulated_users: SimulatedUserFactory | None,
    ) -> Executor:
        """Where runs execute: this process (default) or a Ray cluster."""
        if settings.type == "ray":
            job = RunJob(
                self.config,
                self.plan.name,
                self.experiment_id,
                no_collector=not self.tracing.shipping,
                output_directory=self.plan.output_directory,
                strategy=strategy,
                simulated_users=simulated_users,
            )
            return RayExecutor(
                job,
                settings,
                lost=self.executor.lost,
                parallel=self.plan.parallel,
                max_retries=self.config.runner.max_retries,
                retry_delay=self.config.runner.retry_delay,
                info=self.reporter.info,
            )
        return AsyncioExecutor(self.executor.execute, self.plan.parallel)

    # -- files ---------------------------------------------------------------------------------

    def open_directory(self) -> Path:
        """Create (or reopen, resuming) the experiment directory and write the config."""
        if self.plan.resume is not None:
            directory = self.plan.resume.directory.resolve()
        else:
            directory = create_experiment_dir(self.plan.output_directory, self.plan.name)
        self.directory = directory
        self.writer = ArtifactWriter(directory)
        self.writer.write_config(self.snapshot(), header=self._config_header())
        self.write_summary("running")
        return directory

    def _config_header(self) -> str:
        files = ", ".join(str(f) for f in self.config.source.files)
        return f"{CONFIG_HEADER} (secrets masked)\n# source: {files}\n# written: {utcnow()}\n"

    def snapshot(self) -> dict[str, Any]:
        if self._snapshot is None:
            self._snapshot = config_snapshot(self.config, self.plan)
        return self._snapshot

    def summary(self, status: str) -> dict[str, Any]:
        sections: dict[str, Any] = dict(self.executor.strategy.summary())
        if described := self.execution.describe():
            sections["executor"] = described
        if (cassette := self.executor.cassette) is not None:
            sections["cassette"] = cassette.summary()
        return experiment_summary(
            status=status,
            plan=self.plan,
            stats=self.stats,
            sessions=self.sessions,
            elapsed=time.monotonic() - self.session_start,
            snapshot=self.snapshot(),
            collector=self.tracing.collector_url if self.tracing.shipping else None,
            invocation=self.options.invocation,
            environment=self.environment,
            sections=sections,
        )

    def write_summary(self, status: str) -> dict[str, Any]:
        summary = self.summary(status)
        if self.storage_error is not None:
            summary.update(resumable=True, error=str(self.storage_error))
        if self.writer is not None:
            self.writer.write_summary(summary)
            if self.errors_dirty and (self.errors or status != "running"):
                self.writer.write_errors(self.errors)
                self.errors_dirty = False
        self._last_summary = time.monotonic()
        return summary

    def record(self, rec: RunRecord) -> None:
        """Write a finished run and count it (an artifact that cannot be written stops)."""
        if self.storage_error is not None:
            return  # not committed: redone by --resume
        try:
            self._record(rec)
        except StorageError as exc:
            self.storage_error = exc
            self.stopping = True

    def _record(self, rec: RunRecord) -> None:
        assert self.writer is not None
        if self.config.save_traces:
            self.writer.write_run(rec.line, rec.traces, rec.observations)
        else:
            self.writer.write_run(rec.line)
        self.stats.add(rec.line)
        if self.execution.remote:  # it ran elsewhere: count it here
            self.executor.strategy.account(rec.line)
        self.sessions.current["runs"] = int(self.sessions.current["runs"]) + 1
        if not rec.success:
            self.errors.append(error_entry(rec.line))
            self.errors_dirty = True
        self.reporter.advance(rec.success)
        if time.monotonic() - self._last_summary >= self.options.summary_interval:
            self.write_summary("running")

    # -- scheduling ------------------------------------------------------------------------------

    async def _pace(self) -> None:
        delay = self.config.run_delay_seconds
        if delay <= 0:
            return
        now = time.monotonic()
        start = max(now, self._next_start)
        self._next_start = start + delay
        if start > now:
            await asyncio.sleep(start - now)

    async def _worker(self) -> None:
        assert self._plan_iter is not None
        while not self.stopping:
            try:
                planned = next(self._plan_iter)
            except StopIteration:
                return
            await self._pace()
            # let a pending SIGINT/SIGTERM callback run first: the previous run may have just
            # finished in the same loop iteration the signal arrived in
            await asyncio.sleep(0)
            if self.stopping:
                return
            rec = await self.execution.submit(planned)
            self.record(rec)

    def _on_signal(self, signame: str) -> None:
        loop = asyncio.get_running_loop()
        if self.stopping:
            self.reporter.info(f"[fluxloop] {signame} again: cancelling in-flight runs now")
            self._cancel_workers()
            return
        self.stopping = True
        self.stop_reason = signame
        grace = self.options.grace_seconds
        self.reporter.info(
            f"[fluxloop] {signame}: no new runs; waiting up to {grace:g}s for in-flight runs "
            "(press Ctrl-C again to stop now)"
        )
        loop.call_later(grace, self._cancel_workers)

    def _cancel_workers(self) -> None:
        self.cancelled_now = True
        self.execution.cancel()
        for task in self._workers:
            if not task.done():
                task.cancel()

    async def main(self) -> None:
        """Run the plan's remaining runs (with the signal handlers installed)."""
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        if (
            self.options.install_signal_handlers
            and threading.current_thread() is threading.main_thread()
        ):
            for signum, signame in ((signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signame)
                    installed.append(signum)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
        self._plan_iter = self.plan.runs()
        try:
            count = max(1, self.execution.capacity)
            self._workers = [asyncio.create_task(self._worker()) for _ in range(count)]
            results = await asyncio.gather(*self._workers, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    raise result
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
                # asyncio puts back SIG_DFL for SIGTERM: restore what the CLI had set
                signal.signal(signum, previous[signum] or signal.SIG_DFL)

    def finish(self) -> dict[str, Any]:
        """Release the executor and write the final summary (returned)."""
        self.execution.close()
        self.pool.shutdown()
        if self.executor.cassette is not None:
            self.executor.cassette.close()
        remaining = self.plan.total - self.stats.total
        interrupted = self.stopping and remaining > 0
        status = "interrupted" if interrupted else "completed"
        self.sessions.current["ended_at"] = utcnow()
        try:
            summary = self.write_summary("aborted" if self.storage_error else status)
        except StorageError as exc:
            self.storage_error = self.storage_error or exc
            summary = self.summary("aborted")
        if self.writer is not None:
            self.writer.close()
        return summary
