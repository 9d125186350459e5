"""A run's record: its ``trace_summary.jsonl`` line, observations and traces, from what it did.

Both strategies end here: a single-turn run with its last attempt, a conversation with its
first message and last reply (the conversation strategy then adds its turns). A run whose
worker never answered gets a failed record too (:meth:`RecordBuilder.lost`).
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .attempts import error_type, status_of
from .output import coerce_output
from .records import PlannedRun, RunRecord
from .replay import CallbackCollector
from .tracing import observations_and_traces

__all__ = ["MAX_TRACEBACK_CHARS", "RecordBuilder", "RunResult", "iso", "token_usage", "utcnow"]

MAX_TRACEBACK_CHARS = 8000
_MODEL_CALLS = frozenset({"generation", "embedding"})


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


@dataclass
class RunResult:
    """What one run did, ready to become its record."""

    planned: PlannedRun
    run_id: str
    input: Any  # the rendered input (the first user message of a conversation)
    value: Any
    error: BaseException | None
    started: float  # wall clock (epoch seconds)
    duration_ms: float
    attempts: int
    attempt_errors: list[dict[str, Any]] = field(default_factory=list)
    spans: Sequence[Any] = ()  # the spans captured for the run (its last attempt's)
    collector: CallbackCollector | None = None
    earlier_spans: Sequence[Any] = ()  # spans of retried attempts, each in its own trace

    @property
    def status(self) -> str:
        return status_of(self.error)

    @property
    def ended(self) -> float:
        return self.started + self.duration_ms / 1000.0


class RecordBuilder:
    """Builds the records of one experiment's runs."""

    def __init__(
        self, *, experiment_id: str, target_name: str, output_limit: int | None = None
    ) -> None:
        self.experiment_id = experiment_id
        self.target_name = target_name
        self.output_limit = output_limit

    def lost(
        self,
        planned: PlannedRun,
        text: Any,
        error: BaseException,
        attempt_errors: list[dict[str, Any]],
    ) -> RunRecord:
        """A run whose worker never answered (process or node lost): failed, with the cause,
        after ``attempt_errors`` (every lost attempt, the last one included)."""
        return self.build(
            RunResult(
                planned=planned,
                run_id=uuid.uuid4().hex,
                input=text,
                value=None,
                error=error,
                started=time.time(),
                duration_ms=0.0,
                attempts=len(attempt_errors),
                attempt_errors=attempt_errors[:-1],
            )
        )

    def build(self, run: RunResult) -> RunRecord:
        planned, item = run.planned, run.planned.item
        observations, traces = observations_and_traces(run.spans, run.earlier_spans)
        status = run.status
        success = status == "success"
        output_value = run.value
        if output_value is None and success:
            for obs in reversed(observations):
                if obs.get("type") == "agent" and obs.get("output") is not None:
                    output_value = obs["output"]
                    break
        output = coerce_output(output_value, self.output_limit) if success else None
        error_info: dict[str, Any] | None = None
        if run.error is not None:
            tb = "".join(traceback.format_exception(run.error))
            if len(tb) > MAX_TRACEBACK_CHARS:
                tb = "..." + tb[-MAX_TRACEBACK_CHARS:]
            error_info = {
                "type": error_type(run.error),
                "message": str(run.error),
                "traceback": tb if status != "timeout" else None,
            }
        trace_ids = [t["id"] for t in traces if t.get("id")]
        # the run's trace is the last attempt's; failed attempts' traces stay in the files
        current = {format(s.context.trace_id, "032x") for s in run.spans if s.context}
        own = [t for t in trace_ids if t in current] or trace_ids
        trace_id = (
            own[0] if own else (observations[-1]["trace_id"] if observations else uuid.uuid4().hex)
        )
        meta = {
            "experiment_id": self.experiment_id,
            "run_id": run.run_id,
            "iteration": planned.iteration,
            "persona": item.persona,
            "input_index": item.index,
            "attempts": run.attempts,
        }
        if not traces:
            traces = [
                {
                    "id": trace_id,
                    "trace_id": trace_id,
                    "name": self.target_name,
                    "start_time": iso(run.started),
                    "end_time": iso(run.ended),
                    "session_id": None,
                    "user_id": None,
                    "metadata": dict(meta),
                    "tags": [],
                    "status": "success" if success else "error",
                    "input": run.input,
                    "output": output,
                    "attributes": {},
                    "resource": {},
                    "scope": None,
                }
            ]
        else:
            for trace in traces:
                md = trace.get("metadata")
                if not isinstance(md, dict):
                    md = trace["metadata"] = {}
                for k, v in meta.items():
                    md.setdefault(k, v)
        actions = [f"{o.get('type')}:{o.get('name')}" for o in observations]
        conversation: list[dict[str, Any]] = [
            {
                "turn_index": 1,
                "role": "user",
                "content": run.input,
                "source": "input",
                "metadata": {"persona": item.persona},
            },
        ]
        if success:
            conversation.append(
                {
                    "turn_index": 1,
                    "role": "assistant",
                    "content": output,
                    "source": "agent",
                    "metadata": {"actions": actions},
                }
            )
        line: dict[str, Any] = {
            "trace_id": trace_id,
            "run_id": run.run_id,
            "run_key": planned.key,
            "iteration": planned.iteration,
            "persona": item.persona,
            "input_index": item.index,
            "input": item.input,
            "output": output,
            "duration_ms": round(run.duration_ms, 3),
            "success": success,
            "status": status,
            "error": error_info,
            "attempts": run.attempts,
            "token_usage": token_usage(observations),
            "observation_count": len(observations),
            "started_at": iso(run.started),
            "ended_at": iso(run.ended),
            "conversation": conversation,
            # the original wrote this for single-turn runs too; its readers expect it
            "conversation_state": {
                "turns": [{"role": c["role"], "content": c["content"]} for c in conversation]
            },
            "metadata": dict(item.metadata),
        }
        if len(trace_ids) > 1:
            line["trace_ids"] = trace_ids
        if run.input is not item.input and run.input != item.input:
            line["rendered_input"] = run.input
        if run.attempt_errors:
            line["attempt_errors"] = run.attempt_errors
        if run.collector is not None:
            line["callback_messages"] = run.collector.as_dict()
            line["replay"] = run.collector.replay
        return RunRecord(line=line, observations=observations, traces=traces)


def token_usage(observations: list[dict[str, Any]]) -> dict[str, int] | None:
    """Tokens of a run: the model calls' usage. An agent span may carry the same tokens again
    (GenAI conventions recommend usage totals on invoke_agent), so other observations count
    only when no model call reported any."""
    with_tokens = [
        o
        for o in observations
        if o.get("total_tokens") is not None
        or o.get("prompt_tokens") is not None
        or o.get("completion_tokens") is not None
    ]
    model_calls = [o for o in with_tokens if o.get("type") in _MODEL_CALLS]
    prompt = completion = total = 0
    seen = False
    for obs in model_calls or with_tokens:
        p, c, t = obs.get("prompt_tokens"), obs.get("completion_tokens"), obs.get("total_tokens")
        if p is None and c is None and t is None:
            continue
        seen = True
        prompt += int(p or 0)
        completion += int(c or 0)
        total += int(t if t is not None else (p or 0) + (c or 0))
    if not seen:
        return None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
