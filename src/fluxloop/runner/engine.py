"""The experiment engine: an asyncio loop running the target over the plan, bounded and resumable.

* ``parallel_runs`` workers pull runs from a lazily generated plan (memory does not grow with the
  number of runs); synchronous targets run in daemon worker threads with the caller's context
  copied (so spans nest and carry the run's attributes); ``async def`` targets and async
  generators run on the loop.
* ``timeout_seconds`` bounds each attempt (``asyncio.timeout``): an async target is cancelled; a
  synchronous one cannot be killed, so the run is marked ``timeout`` and its thread is left to
  finish in the background (a daemon thread, never blocking exit).
* ``max_retries`` / ``retry_delay``: a failed or timed-out attempt is retried after
  ``retry_delay * 2**(attempt-1)`` seconds (capped at 60 s); every attempt is recorded.
* Each run's spans are captured in memory (``fluxloop.sdk.capture_run``) with the experiment and
  run attributes, and written with the run's summary line as soon as it completes.
* SIGINT / SIGTERM stop scheduling, give in-flight runs ``grace_seconds``, cancel the rest and
  write a partial summary (a second signal cancels at once). The directory can be resumed.
* Where runs execute is an :class:`~fluxloop.runner.executors.Executor`: this loop by default
  (:class:`AsyncioExecutor`), or a Ray cluster (``--executor ray``), where each worker process
  builds a :class:`RunJob` once and runs the same :class:`RunExecutor`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import json
import os
import random
import signal
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fluxloop_semconv import attributes as attr

from fluxloop.errors import ConfigError, InterruptedRunError, StorageError, ThresholdError
from fluxloop.project.config import ExecutorSettings, ExperimentConfig, relocate
from fluxloop.project.inputs import InputItem, InputSet, load_inputs
from fluxloop.project.targets import Target, resolve_target, target_environment
from fluxloop.project.yaml import display_path

from .aborts import aborted_error
from .artifacts import CONFIG_HEADER, ArtifactWriter, create_experiment_dir
from .binding import Binder, RunContext, apply_template
from .cassettes import RunCassette
from .executors import Executor
from .executors.local import AsyncioExecutor
from .executors.ray import RayExecutor
from .interrupts import deferred_interrupts
from .multiturn import conversation_driver, multi_turn_settings
from .pool import DaemonThreadPool
from .progress import NullProgress, ProgressReporter
from .provenance import environment_info
from .records import PlannedRun, RunRecord
from .replay import CallbackCollector, ReplayPlan, load_replay
from .resume import ResumeState, error_entry, input_digest, scan_experiment
from .stats import RunStats
from .tracing import (
    CONTRACT_VERSION,
    FLUSH_TIMEOUT_SECONDS,
    TracingSetup,
    configure_tracing,
    observations_and_traces,
    start_capture,
    traced,
)

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

MAX_BACKOFF_SECONDS = 60.0
MAX_TRACEBACK_CHARS = 8000
MAX_STREAM_CHUNKS = 10_000


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------------------------
# options, plan, records


@dataclass
class RunOptions:
    """Overrides from the command line (``None`` = use the config)."""

    iterations: int | None = None
    inputs: Path | None = None
    output_dir: Path | None = None
    name: str | None = None
    parallel: int | None = None
    no_collector: bool = False
    resume: Path | None = None
    dry_run: bool = False
    personas: Sequence[str] | None = None
    grace_seconds: float = 10.0
    summary_interval: float = 1.0
    install_signal_handlers: bool = True
    invocation: dict[str, Any] = field(default_factory=dict)
    executor: str | None = None  # local | ray (None: runner.executor.type)
    ray_address: str | None = None  # overrides runner.executor.address
    cassette: str | None = None  # record | replay | auto | off (None: env, config)
    cassette_timing: str | None = None  # instant | recorded


@dataclass
class ExperimentPlan:
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


# --------------------------------------------------------------------------------------------
# output handling


def _chunk_text(chunk: Any, path: str | None) -> str | None:
    if isinstance(chunk, str):
        return chunk
    if path:
        node: Any = chunk
        for part in path.split("."):
            if isinstance(node, Mapping):
                node = node.get(part)
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, str):
            return node
    for key in ("content", "text", "delta"):
        value = chunk.get(key) if isinstance(chunk, Mapping) else getattr(chunk, key, None)
        if isinstance(value, str):
            return value
        if key == "delta" and value is not None:
            inner = _chunk_text(value, None)
            if inner is not None:
                return inner
    choices = (
        chunk.get("choices") if isinstance(chunk, Mapping) else getattr(chunk, "choices", None)
    )
    if isinstance(choices, (list, tuple)) and choices:
        delta = (
            choices[0].get("delta")
            if isinstance(choices[0], Mapping)
            else getattr(choices[0], "delta", None)
        )
        if delta is not None:
            content = (
                delta.get("content")
                if isinstance(delta, Mapping)
                else getattr(delta, "content", None)
            )
            return content if isinstance(content, str) else ""
    return None


class Streamed:
    """The chunks of a streaming target, aggregated."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.texts: list[str] | None = []
        self.chunks: list[Any] = []
        self.count = 0

    def add(self, chunk: Any) -> None:
        self.count += 1
        if self.texts is not None:
            text = _chunk_text(chunk, self.path)
            if text is not None:
                self.texts.append(text)
            else:
                self.texts = None
        if len(self.chunks) < MAX_STREAM_CHUNKS:
            self.chunks.append(chunk)

    def value(self) -> Any:
        if self.texts is not None:
            return "".join(self.texts)
        return self.chunks


def aggregate_chunks(chunks: Sequence[Any], path: str | None = None) -> Any:
    s = Streamed(path)
    for chunk in chunks:
        s.add(chunk)
    return s.value()


def coerce_output(value: Any, limit: int | None = None) -> str | None:
    """The output as text: strings as they are, messages by content, anything else as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        content = None if isinstance(value, Mapping) else getattr(value, "content", None)
        if isinstance(content, str):
            text = content
        else:
            dump = getattr(value, "model_dump", None)
            if callable(dump):
                with contextlib.suppress(Exception):
                    value = dump()
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                text = str(value)
    if limit is not None and len(text) > limit:
        text = text[:limit] + f"...[truncated {len(text) - limit} chars]"
    return text


def _is_async_iterable(value: Any) -> bool:
    return hasattr(value, "__aiter__") and not isinstance(value, (str, bytes))


def _is_sync_stream(value: Any) -> bool:
    return inspect.isgenerator(value) or (
        hasattr(value, "__next__")
        and hasattr(value, "__iter__")
        and not isinstance(value, (str, bytes, bytearray, Mapping, list, tuple))
    )


# --------------------------------------------------------------------------------------------
# one run


class _Timeout(Exception):
    pass


class RunExecutor:
    """Executes runs of one target: binding, timeout, retries, capture, the run's records."""

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
    ) -> None:
        self.config = config
        self.target = target
        self.func = traced(target.func, target.display_name)
        self.kind = target.kind
        self.binder = Binder(target.func)
        self.replay = replay
        self.pool = pool or DaemonThreadPool()
        self.timeout = config.runner.timeout_seconds
        self.max_retries = config.runner.max_retries
        self.retry_delay = config.runner.retry_delay
        self.stream_path = config.runner.stream_output_path
        self.output_limit = config.runner.output_char_limit
        self.experiment_name = experiment_name
        self.experiment_id = experiment_id
        self.is_stopping = is_stopping
        self._base_attrs = {
            attr.FLUXLOOP_EXPERIMENT_ID: experiment_id,
            attr.FLUXLOOP_EXPERIMENT_NAME: experiment_name,
        }
        self.conversation = conversation_driver(self)  # multi_turn.enabled: whole conversations
        self.cassette: RunCassette | None = None  # model calls recorded / replayed per run

    # -- calling the target ------------------------------------------------------------------

    def _call_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = self.func(*args, **kwargs)
        if _is_sync_stream(result):
            stream = Streamed(self.stream_path)
            for chunk in result:
                stream.add(chunk)
            return stream
        return result

    async def _drain(self, agen: Any) -> Streamed:
        stream = Streamed(self.stream_path)
        async for chunk in agen:
            stream.add(chunk)
        return stream

    async def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.kind == "async":
            result = await self.func(*args, **kwargs)
        elif self.kind == "asyncgen":
            result = await self._drain(self.func(*args, **kwargs))
        else:
            result = await self.pool.submit(
                self._call_sync, args, kwargs, context=contextvars.copy_context()
            )
        if inspect.isawaitable(result):
            result = await result
        if _is_async_iterable(result):
            result = await self._drain(result)
        if isinstance(result, Streamed):
            return result.value()
        return result

    async def _invoke(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self.timeout is None:
            return await self._call(args, kwargs)
        try:
            async with asyncio.timeout(self.timeout) as scope:
                return await self._call(args, kwargs)
        except TimeoutError:
            if scope.expired():
                raise _Timeout(f"run exceeded timeout_seconds={self.timeout:g}") from None
            raise

    # -- one run -----------------------------------------------------------------------------

    async def execute(self, planned: PlannedRun) -> RunRecord:
        if self.cassette is not None:  # the run's tape is current for the whole run
            return await self.cassette.execute(planned, self._execute)
        return await self._execute(planned)

    async def _execute(self, planned: PlannedRun) -> RunRecord:
        if self.conversation is not None:
            return await self.conversation.execute(planned)
        item = planned.item
        persona = self.config.persona(item.persona)
        text = apply_template(self.config.input_template, item.input, persona)
        run_id = uuid.uuid4().hex
        ctx = RunContext(
            input=text,
            iteration=planned.iteration,
            persona=persona,
            persona_name=item.persona,
            input_index=item.index,
            metadata=item.metadata,
            run_id=run_id,
            experiment=self.experiment_name,
        )
        attempt_errors: list[dict[str, Any]] = []
        earlier_spans: list[Any] = []  # spans of failed attempts: kept, each in its own trace
        attempt = 0
        while True:
            attempt += 1
            attrs: dict[str, Any] = dict(self._base_attrs)
            attrs[attr.FLUXLOOP_RUN_ID] = run_id
            attrs[attr.FLUXLOOP_RUN_ITERATION] = planned.iteration
            attrs[attr.FLUXLOOP_RUN_INPUT_INDEX] = item.index
            attrs[attr.FLUXLOOP_RUN_ATTEMPT] = attempt
            if item.persona is not None:
                attrs[attr.FLUXLOOP_RUN_PERSONA] = item.persona
            collector: CallbackCollector | None = None
            if self.replay is not None:
                kwargs, collector = self.replay.build(
                    text, item.metadata, iteration=planned.iteration, input_index=item.index
                )
                args: tuple[Any, ...] = ()
                args, kwargs = self.binder.bind(ctx, base_kwargs=kwargs)
            else:
                args, kwargs = self.binder.bind(ctx)
            status = "success"
            value: Any = None
            error: BaseException | None = None
            started = time.time()
            with start_capture(attrs) as cap:
                t0 = time.perf_counter()
                try:
                    value = await self._invoke(args, kwargs)
                    if collector is not None and not collector.send and not collector.error:
                        for _ in range(3):  # let callbacks scheduled by the target run
                            await asyncio.sleep(0)
                except _Timeout as exc:
                    status, error = "timeout", exc
                except (Exception, SystemExit) as exc:
                    status, error = "error", exc
                duration_ms = (time.perf_counter() - t0) * 1000.0
            ended = started + duration_ms / 1000.0
            if (
                collector is not None
                and status == "success"
                and collector.error
                and self.replay is not None
                and self.replay.error_callback_fails_run
            ):
                status = "error"
                error = CallbackReportedError(collector.error[0])
            if status != "success" and attempt <= self.max_retries and not self.is_stopping():
                attempt_errors.append(_attempt_error(attempt, status, error, duration_ms))
                earlier_spans.extend(cap.spans)
                delay = min(self.retry_delay * (2 ** (attempt - 1)), MAX_BACKOFF_SECONDS)
                if delay > 0:
                    await asyncio.sleep(delay)
                continue
            break
        return self._record(
            planned,
            run_id,
            text,
            status,
            value,
            error,
            duration_ms,
            started,
            ended,
            attempt,
            attempt_errors,
            cap,
            collector,
            earlier_spans,
        )

    def _record(
        self,
        planned: PlannedRun,
        run_id: str,
        text: Any,
        status: str,
        value: Any,
        error: BaseException | None,
        duration_ms: float,
        started: float,
        ended: float,
        attempt: int,
        attempt_errors: list[dict[str, Any]],
        cap: Any,
        collector: CallbackCollector | None,
        earlier_spans: Sequence[Any] = (),
    ) -> RunRecord:
        item = planned.item
        observations, traces = observations_and_traces(cap, earlier_spans)
        success = status == "success"
        output_value = value
        if output_value is None and collector is not None and collector.messages():
            sent = collector.messages()  # what the callbacks received: one message or chunks
            output_value = sent[0] if len(sent) == 1 else aggregate_chunks(sent, self.stream_path)
        if output_value is None and success:
            for obs in reversed(observations):
                if obs.get("type") == "agent" and obs.get("output") is not None:
                    output_value = obs["output"]
                    break
        output = coerce_output(output_value, self.output_limit) if success else None
        error_info: dict[str, Any] | None = None
        if error is not None:
            tb = "".join(traceback.format_exception(error))
            if len(tb) > MAX_TRACEBACK_CHARS:
                tb = "..." + tb[-MAX_TRACEBACK_CHARS:]
            error_info = {
                "type": "TimeoutError" if status == "timeout" else type(error).__name__,
                "message": str(error),
                "traceback": tb if status != "timeout" else None,
            }
        trace_ids = [t["id"] for t in traces if t.get("id")]
        # the run's trace is the last attempt's; failed attempts' traces stay in the files
        current = {format(s.context.trace_id, "032x") for s in cap.spans if s.context}
        own = [t for t in trace_ids if t in current] or trace_ids
        trace_id = (
            own[0] if own else (observations[-1]["trace_id"] if observations else uuid.uuid4().hex)
        )
        meta = {
            "experiment_id": self.experiment_id,
            "run_id": run_id,
            "iteration": planned.iteration,
            "persona": item.persona,
            "input_index": item.index,
            "attempts": attempt,
        }
        if not traces:
            traces = [
                {
                    "id": trace_id,
                    "trace_id": trace_id,
                    "name": self.target.display_name,
                    "start_time": _iso(started),
                    "end_time": _iso(ended),
                    "session_id": None,
                    "user_id": None,
                    "metadata": dict(meta),
                    "tags": [],
                    "status": "success" if success else "error",
                    "input": text,
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
        usage = _token_usage(observations)
        actions = [f"{o.get('type')}:{o.get('name')}" for o in observations]
        conversation: list[dict[str, Any]] = [
            {
                "turn_index": 1,
                "role": "user",
                "content": text,
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
            "run_id": run_id,
            "run_key": planned.key,
            "iteration": planned.iteration,
            "persona": item.persona,
            "input_index": item.index,
            "input": item.input,
            "output": output,
            "duration_ms": round(duration_ms, 3),
            "success": success,
            "status": status,
            "error": error_info,
            "attempts": attempt,
            "token_usage": usage,
            "observation_count": len(observations),
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "conversation": conversation,
            # the original wrote this for single-turn runs too; its readers expect it
            "conversation_state": {
                "turns": [{"role": c["role"], "content": c["content"]} for c in conversation]
            },
            "metadata": dict(item.metadata),
        }
        if len(trace_ids) > 1:
            line["trace_ids"] = trace_ids
        if text is not item.input and text != item.input:
            line["rendered_input"] = text
        if attempt_errors:
            line["attempt_errors"] = attempt_errors
        if collector is not None:
            line["callback_messages"] = collector.as_dict()
            line["replay"] = collector.replay
        return RunRecord(line=line, observations=observations, traces=traces)


class _NoCapture:
    spans: Sequence[Any] = ()


def lost_run_record(
    executor: RunExecutor,
    planned: PlannedRun,
    error: BaseException,
    attempt_errors: list[dict[str, Any]],
) -> RunRecord:
    """The record of a run whose worker never answered (process or node lost): failed, with
    the cause, after ``attempt_errors`` (every lost attempt, the last one included)."""
    item = planned.item
    persona = executor.config.persona(item.persona)
    text = apply_template(executor.config.input_template, item.input, persona)
    now = time.time()
    return executor._record(
        planned,
        uuid.uuid4().hex,
        text,
        "error",
        None,
        error,
        0.0,
        now,
        now,
        len(attempt_errors),
        attempt_errors[:-1],
        _NoCapture(),
        None,
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
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

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
        target, replay = _prepare_target(config)
        if replay is not None and self.config.replay.recording_file is not None:
            # read from the copy; the records name the file the user configured
            replay.recording_file = self.config.replay.recording_file
        return RunExecutor(
            config,
            target,
            experiment_name=self.experiment_name,
            experiment_id=self.experiment_id,
            replay=replay,
        )


def executor_settings(config: ExperimentConfig, options: RunOptions) -> ExecutorSettings:
    """``runner.executor`` with the command line's ``--executor`` / ``--ray-address`` applied."""
    settings = config.runner.executor
    if options.executor is not None:
        settings = dataclasses.replace(settings, type=options.executor)
    if options.ray_address is not None:
        settings = dataclasses.replace(settings, address=options.ray_address)
    if settings.type not in ("local", "ray"):
        raise ConfigError.for_value("--executor", "local or ray", settings.type)
    return settings


class CallbackReportedError(Exception):
    """The target reported a failure through its replayed error callback."""

    def __init__(self, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        super().__init__(f"the target reported an error through its error callback: {text}")


def _attempt_error(
    attempt: int, status: str, error: BaseException | None, duration_ms: float
) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "status": status,
        "type": "TimeoutError" if status == "timeout" else type(error).__name__,
        "message": str(error) if error is not None else "",
        "duration_ms": round(duration_ms, 3),
    }


_MODEL_CALLS = frozenset({"generation", "embedding"})


def _token_usage(observations: list[dict[str, Any]]) -> dict[str, int] | None:
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


# --------------------------------------------------------------------------------------------
# the experiment


@dataclass
class ExperimentOutcome:
    plan: ExperimentPlan
    directory: Path | None
    summary: dict[str, Any]
    interrupted: bool = False
    dry_run: bool = False
    error: StorageError | None = None
    """Set when an artifact could not be written (the experiment was aborted, resumable)."""
    dry_run_lines: list[str] = field(default_factory=list)
    """With ``dry_run``: the plan (notes, target, inputs, runs), for the caller to show."""

    @property
    def passed(self) -> bool:
        threshold = self.summary.get("threshold") or {}
        return bool(threshold.get("passed"))

    def raise_for_status(self) -> None:
        """Exit-code semantics: :class:`InterruptedRunError` (130), :class:`ThresholdError` (1)."""
        if self.dry_run:
            return
        results = self.summary.get("results", {})
        if self.error is not None:
            raise aborted_error(self.error, self.summary, self.directory)
        if self.interrupted:
            where = display_path(self.directory) if self.directory else "?"
            raise InterruptedRunError(
                f"interrupted after {results.get('total_runs', 0)}/"
                f"{results.get('planned_runs', 0)} runs; partial results in {where}; "
                f"resume with: fluxloop run experiment --resume {where}"
            )
        if not self.passed:
            threshold = self.summary.get("threshold") or {}
            raise ThresholdError(str(threshold.get("reason") or "experiment failed"))


class _Experiment:
    def __init__(
        self,
        plan: ExperimentPlan,
        options: RunOptions,
        target: Target,
        replay: ReplayPlan | None,
        reporter: ProgressReporter,
        tracing: TracingSetup,
    ) -> None:
        self.plan = plan
        self.config = plan.config
        self.options = options
        self.reporter = reporter
        self.tracing = tracing
        prior = plan.resume.summary if plan.resume and plan.resume.summary else {}
        self.experiment_id = str(prior.get("experiment_id") or uuid.uuid4().hex)
        self.started_at = str(prior.get("started_at") or _utcnow())
        self.sessions: list[dict[str, Any]] = list(prior.get("sessions") or [])
        self.active_seconds = float(prior.get("results", {}).get("duration_seconds") or 0.0)
        self.session_start = time.monotonic()
        self.session: dict[str, Any] = {
            "started_at": _utcnow(),
            "ended_at": None,
            "pid": os.getpid(),
            "runs": 0,
            "status": "running",
        }
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
        )
        if self.executor.conversation is not None:
            self.executor.conversation.reporter = reporter
        self.execution = self._make_execution(executor_settings(self.config, options))
        self.environment = environment_info(self.config.project_dir)
        self.directory: Path | None = None
        self.writer: ArtifactWriter | None = None
        self._last_summary = 0.0
        self._workers: list[asyncio.Task[None]] = []
        self._plan_iter: Iterator[PlannedRun] | None = None
        self._next_start = 0.0

    def _make_execution(self, settings: ExecutorSettings) -> Executor:
        """Where runs execute: this process (default) or a Ray cluster."""
        if settings.type == "ray":
            job = RunJob(
                self.config,
                self.plan.name,
                self.experiment_id,
                no_collector=not self.tracing.shipping,
                output_directory=self.plan.output_directory,
            )
            return RayExecutor(
                job,
                settings,
                lost=functools.partial(lost_run_record, self.executor),
                parallel=self.plan.parallel,
                max_retries=self.config.runner.max_retries,
                retry_delay=self.config.runner.retry_delay,
                info=self.reporter.info,
            )
        return AsyncioExecutor(self.executor.execute, self.plan.parallel)

    # -- files ---------------------------------------------------------------------------------

    def open_directory(self) -> Path:
        if self.plan.resume is not None:
            directory = self.plan.resume.directory.resolve()
        else:
            directory = create_experiment_dir(self.plan.output_directory, self.plan.name)
        self.directory = directory
        self.writer = ArtifactWriter(directory)
        self._snapshot = self.config_snapshot()
        self.writer.write_config(self._snapshot, header=self._config_header())
        self.write_summary("running")
        return directory

    def _config_header(self) -> str:
        files = ", ".join(str(f) for f in self.config.source.files)
        return f"{CONFIG_HEADER} (secrets masked)\n# source: {files}\n# written: {_utcnow()}\n"

    def config_snapshot(self) -> dict[str, Any]:
        cfg = self.config
        data: dict[str, Any] = dict(cfg.raw)  # masked by ArtifactWriter.write_config
        runner = dict(data.get("runner") or {})
        runner["target"] = cfg.runner.target
        runner["working_directory"] = str(cfg.runner.working_directory)
        if cfg.runner.python_path:
            runner["python_path"] = [str(p) for p in cfg.runner.python_path]
        runner["timeout_seconds"] = cfg.runner.timeout_seconds
        runner["max_retries"] = cfg.runner.max_retries
        runner["retry_delay"] = cfg.runner.retry_delay
        if "iterations" in runner:  # the more specific key wins when the snapshot is reloaded
            runner["iterations"] = self.plan.iterations
        data["runner"] = runner
        data["name"] = self.plan.name
        data["iterations"] = self.plan.iterations
        data["parallel_runs"] = self.plan.parallel
        data["output_directory"] = str(self.plan.output_directory)
        if self.plan.inputs.path is not None:
            data["inputs_file"] = str(self.plan.inputs.path)
        if cfg.replay.recording_file is not None:
            replay = dict(data.get("replay_args") or {})
            replay["recording_file"] = str(cfg.replay.recording_file)
            data["replay_args"] = replay
        return data

    def threshold(self) -> dict[str, Any]:
        total, failed = self.stats.total, self.stats.failed
        rate = self.stats.successful / total if total else 0.0
        configured = self.config.success_threshold
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

    def summary(self, status: str) -> dict[str, Any]:
        st = self.stats
        elapsed = self.active_seconds + (time.monotonic() - self.session_start)
        latency = st.latency()
        total = st.total
        planned = self.plan.total
        completed_at = _utcnow() if status != "running" else None
        session = dict(self.session)
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
            "duration_seconds": round(elapsed, 3),
            "planned_runs": planned,
            "remaining_runs": max(planned - total, 0),
            "p50_duration_ms": latency["p50"],
            "p90_duration_ms": latency["p90"],
            "p95_duration_ms": latency["p95"],
            "p99_duration_ms": latency["p99"],
        }
        return {
            "name": self.plan.name,
            "date": self.started_at,
            "experiment_id": self.experiment_id,
            "status": status,
            "contract_version": CONTRACT_VERSION,
            # the run.md shape
            "total_traces": total,
            "successful": st.successful,
            "failed": st.failed,
            "avg_duration_ms": latency["mean"],
            "started_at": self.started_at,
            "completed_at": completed_at,
            "updated_at": _utcnow(),
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
            "threshold": self.threshold(),
            "target": self.config.runner.target,
            "iterations": self.plan.iterations,
            "parallel_runs": self.plan.parallel,
            "timeout_seconds": self.config.runner.timeout_seconds,
            "max_retries": self.config.runner.max_retries,
            "inputs": {"source": self.plan.inputs.source, "count": len(self.plan.inputs.items)},
            "personas": [p for p in self.plan.inputs.personas if p is not None],
            "seed": self.config.seed,
            "collector": self.tracing.collector_url if self.tracing.shipping else None,
            # the original's readers find the configuration here (as config.yaml: secrets masked)
            "config": getattr(self, "_snapshot", None) or self.config_snapshot(),
            "environment": self.environment,
            "invocation": self.options.invocation,
            "sessions": [*self.sessions, session],
            "pid": os.getpid(),
            **({"multi_turn": conv.summary()} if (conv := self.executor.conversation) else {}),
            **({"executor": described} if (described := self.execution.describe()) else {}),
            **({"cassette": cas.summary()} if (cas := self.executor.cassette) else {}),
        }

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
        if self.execution.remote and (conv := self.executor.conversation) is not None:
            conv.account(rec.line, remote=True)  # it ran elsewhere: count it here
        self.session["runs"] = int(self.session["runs"]) + 1
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
        self.execution.close()
        self.pool.shutdown()
        if self.executor.cassette is not None:
            self.executor.cassette.close()
        remaining = self.plan.total - self.stats.total
        interrupted = self.stopping and remaining > 0
        status = "interrupted" if interrupted else "completed"
        self.session["ended_at"] = _utcnow()
        try:
            summary = self.write_summary("aborted" if self.storage_error else status)
        except StorageError as exc:
            self.storage_error = self.storage_error or exc
            summary = self.summary("aborted")
        if self.writer is not None:
            self.writer.close()
        return summary


def _prepare_target(config: ExperimentConfig) -> tuple[Target, ReplayPlan | None]:
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


def describe_plan(
    plan: ExperimentPlan,
    target: Target,
    binder: Binder,
    *,
    replay: ReplayPlan | None,
    tracing: str,
    limit: int = 10,
) -> list[str]:
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


def run_experiment(
    config: ExperimentConfig,
    options: RunOptions | None = None,
    *,
    reporter: ProgressReporter | None = None,
) -> ExperimentOutcome:
    """Run (or, with ``dry_run``, describe) an experiment; returns its outcome.

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
        target, replay = _prepare_target(config)
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
        experiment = _Experiment(plan, options, target, replay, reporter, tracing)
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
                        import fluxloop

                        fluxloop.flush(timeout_seconds=FLUSH_TIMEOUT_SECONDS)
    interrupted = summary["status"] == "interrupted"
    return ExperimentOutcome(
        plan=plan,
        directory=directory,
        summary=summary,
        interrupted=interrupted,
        error=experiment.storage_error,
    )
