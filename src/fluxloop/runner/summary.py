"""What an experiment directory records about the experiment: ``summary.json`` and the
``config.yaml`` snapshot (secrets are masked by the artifact writer)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop.project.config import ExperimentConfig

from .planning import ExperimentPlan
from .run_records import utcnow
from .stats import RunStats
from .tracing import CONTRACT_VERSION

__all__ = ["Sessions", "config_snapshot", "experiment_summary", "threshold"]


@dataclass
class Sessions:
    """The experiment's identity and its sessions (a resumed directory adds one)."""

    experiment_id: str
    started_at: str
    earlier: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] = field(default_factory=dict)
    active_seconds: float = 0.0  # run time of the earlier sessions

    @classmethod
    def begin(cls, prior: Mapping[str, Any], new_id: str) -> Sessions:
        """This session, continuing ``prior`` (a resumed directory's summary) when given."""
        return cls(
            experiment_id=str(prior.get("experiment_id") or new_id),
            started_at=str(prior.get("started_at") or utcnow()),
            earlier=list(prior.get("sessions") or []),
            current={
                "started_at": utcnow(),
                "ended_at": None,
                "pid": os.getpid(),
                "runs": 0,
                "status": "running",
            },
            active_seconds=float(prior.get("results", {}).get("duration_seconds") or 0.0),
        )


def config_snapshot(config: ExperimentConfig, plan: ExperimentPlan) -> dict[str, Any]:
    """The configuration as this experiment ran it (``config.yaml``; reloadable)."""
    data: dict[str, Any] = dict(config.raw)  # masked by ArtifactWriter.write_config
    runner = dict(data.get("runner") or {})
    runner["target"] = config.runner.target
    runner["working_directory"] = str(config.runner.working_directory)
    if config.runner.python_path:
        runner["python_path"] = [str(p) for p in config.runner.python_path]
    runner["timeout_seconds"] = config.runner.timeout_seconds
    runner["max_retries"] = config.runner.max_retries
    runner["retry_delay"] = config.runner.retry_delay
    if "iterations" in runner:  # the more specific key wins when the snapshot is reloaded
        runner["iterations"] = plan.iterations
    data["runner"] = runner
    data["name"] = plan.name
    data["iterations"] = plan.iterations
    data["parallel_runs"] = plan.parallel
    data["output_directory"] = str(plan.output_directory)
    if plan.inputs.path is not None:
        data["inputs_file"] = str(plan.inputs.path)
    if config.replay.recording_file is not None:
        replay = dict(data.get("replay_args") or {})
        replay["recording_file"] = str(config.replay.recording_file)
        data["replay_args"] = replay
    return data


def threshold(stats: RunStats, configured: float | None) -> dict[str, Any]:
    """Whether the experiment passed its ``success_threshold`` (none: every run succeeded)."""
    total, failed = stats.total, stats.failed
    rate = stats.successful / total if total else 0.0
    if total == 0:
        return {
            "success_threshold": configured,
            "passed": False,
            "reason": "no runs were recorded",
        }
    if configured is None:
        passed = failed == 0
        reason = (
            "all runs succeeded"
            if passed
            else f"{failed}/{total} runs failed (set success_threshold to tolerate failures)"
        )
    else:
        passed = rate >= configured
        reason = (
            f"success rate {rate:.1%} {'>=' if passed else '<'} success_threshold "
            f"{configured:.1%} ({failed}/{total} runs failed)"
        )
    return {"success_threshold": configured, "passed": passed, "reason": reason}


def experiment_summary(
    *,
    status: str,
    plan: ExperimentPlan,
    stats: RunStats,
    sessions: Sessions,
    elapsed: float,
    snapshot: Mapping[str, Any],
    collector: str | None,
    invocation: Mapping[str, Any],
    environment: Mapping[str, Any],
    sections: Mapping[str, Any],
) -> dict[str, Any]:
    """``summary.json``: ``elapsed`` seconds of this session; ``sections`` are the strategy's,
    the executor's and the cassette's."""
    config = plan.config
    st = stats
    latency = st.latency()
    total = st.total
    planned = plan.total
    completed_at = utcnow() if status != "running" else None
    session = dict(sessions.current)
    session["status"] = status
    if completed_at:
        session["ended_at"] = completed_at
    results = {
        "total_runs": total,
        "successful": st.successful,
        "failed": st.failed,
        "timed_out": st.overall.timed_out,
        "success_rate": round(st.successful / total, 6) if total else 0.0,
        "avg_duration_ms": latency["mean"],
        "duration_seconds": round(sessions.active_seconds + elapsed, 3),
        "planned_runs": planned,
        "remaining_runs": max(planned - total, 0),
        "p50_duration_ms": latency["p50"],
        "p90_duration_ms": latency["p90"],
        "p95_duration_ms": latency["p95"],
        "p99_duration_ms": latency["p99"],
    }
    return {
        "name": plan.name,
        "date": sessions.started_at,
        "experiment_id": sessions.experiment_id,
        "status": status,
        "contract_version": CONTRACT_VERSION,
        # the run.md shape
        "total_traces": total,
        "successful": st.successful,
        "failed": st.failed,
        "avg_duration_ms": latency["mean"],
        "started_at": sessions.started_at,
        "completed_at": completed_at,
        "updated_at": utcnow(),
        # the README shape
        "results": results,
        "duration_ms": latency,
        "percentiles": {k: latency[k] for k in ("p50", "p90", "p95", "p99")},
        "tokens": st.tokens(),
        "per_persona": st.per_persona(),
        "errors": {
            "by_type": dict(st.error_types),
            "retried_runs": st.retried_runs,
            "total_attempts": st.total_attempts,
        },
        "threshold": threshold(st, config.success_threshold),
        "target": config.runner.target,
        "iterations": plan.iterations,
        "parallel_runs": plan.parallel,
        "timeout_seconds": config.runner.timeout_seconds,
        "max_retries": config.runner.max_retries,
        "inputs": {"source": plan.inputs.source, "count": len(plan.inputs.items)},
        "personas": [p for p in plan.inputs.personas if p is not None],
        "seed": config.seed,
        "collector": collector,
        # the original's readers find the configuration here (as config.yaml: secrets masked)
        "config": snapshot,
        "environment": environment,
        "invocation": invocation,
        "sessions": [*sessions.earlier, session],
        "pid": os.getpid(),
        **sections,
    }
